package client

import (
	"errors"
	"fmt"
)

// Error is a WAMP ERROR (or ABORT) reply from the router or a callee. A
// handler that returns an *Error sends it to the caller as is.
type Error struct {
	URI     string
	Args    []any
	Kwargs  map[string]any
	Details map[string]any
}

func (e *Error) Error() string {
	if len(e.Args) > 0 {
		return fmt.Sprintf("wamp error %s: %v", e.URI, e.Args)
	}
	if len(e.Kwargs) > 0 {
		return fmt.Sprintf("wamp error %s: %v", e.URI, e.Kwargs)
	}
	return "wamp error " + e.URI
}

// Is lets errors.Is match two *Error by URI.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.URI == e.URI
}

// Errors of the session itself.
var (
	// ErrNotConnected: no connection at the moment (closed, or reconnecting).
	ErrNotConnected = errors.New("client: not connected")
	// ErrDisconnected: the connection was lost while a request was pending.
	ErrDisconnected = errors.New("client: connection lost")
	// ErrClosed: the session was closed by Leave or Close.
	ErrClosed = errors.New("client: session closed")
	// ErrProtocol: the router sent something the client cannot accept.
	ErrProtocol = errors.New("client: protocol violation")
)

// Well-known error URIs.
const (
	ErrURICanceled        = "wamp.error.canceled"
	ErrURIRuntime         = "wamp.error.runtime_error"
	ErrURIInvalidArgument = "wamp.error.invalid_argument"
	ErrURINoSuchProcedure = "wamp.error.no_such_procedure"
	ErrURINoSuchReg       = "wamp.error.no_such_registration"
)
