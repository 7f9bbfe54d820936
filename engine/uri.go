package engine

import "github.com/wampd/wampd/codec"

// WAMP URIs the router sends. Byte slices are package-level so that building
// an error message does not allocate.
var (
	uriNoSuchRealm          = []byte("wamp.error.no_such_realm")
	uriAuthenticationFailed = []byte("wamp.error.authentication_failed")
	uriNoAuthMethod         = []byte("wamp.error.no_auth_method")
	uriProtocolViolation    = []byte("wamp.error.protocol_violation")
	uriNotAuthorized        = []byte("wamp.error.not_authorized")
	uriInvalidURI           = []byte("wamp.error.invalid_uri")
	uriInvalidArgument      = []byte("wamp.error.invalid_argument")
	uriNoSuchProcedure      = []byte("wamp.error.no_such_procedure")
	uriProcedureExists      = []byte("wamp.error.procedure_already_exists")
	uriNoSuchRegistration   = []byte("wamp.error.no_such_registration")
	uriNoSuchSubscription   = []byte("wamp.error.no_such_subscription")
	uriCanceled             = []byte("wamp.error.canceled")
	uriGoodbyeAndOut        = []byte("wamp.close.goodbye_and_out")
	uriSystemShutdown       = []byte("wamp.close.system_shutdown")
)

// validURI checks the spec's loose URI rule for a concrete (exact-match)
// URI: non-empty components separated by '.', no whitespace, no '#'.
func validURI(u []byte) bool { return codec.ValidURI(u, false, false) }

// validPatternURI checks a prefix or wildcard pattern: like validURI, but
// components may be empty (a wildcard component, or a prefix ending in '.').
func validPatternURI(u []byte) bool { return codec.ValidURI(u, false, true) }
