package fuzz

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/wampd/wampd/codec"
	"github.com/wampd/wampd/engine"
)

// memConn is an in-memory engine.Conn. It records every frame the router
// sends, including the ones it refuses while in "slow consumer" mode: the
// harness's model of the session state needs to see a WELCOME or an ABORT
// even when the client would not have received it.
type memConn struct {
	kind codec.Kind
	name string

	mu     sync.Mutex
	frames []frame
	read   int // frames already handed out by take
	closed bool
	refuse bool // Send reports false (over its bound)
}

// frame is one message the router sent; dropped marks a refused Send.
type frame struct {
	b       []byte
	dropped bool
}

func newMemConn(kind codec.Kind, name string) *memConn {
	return &memConn{kind: kind, name: name}
}

func (c *memConn) Serializer() codec.Kind { return c.kind }

func (c *memConn) Send(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.frames = append(c.frames, frame{b: bytes.Clone(b), dropped: c.refuse})
	return !c.refuse
}

func (c *memConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func (c *memConn) Transport() engine.TransportInfo {
	return engine.TransportInfo{Type: "memory", Peer: "mem:" + c.name}
}

func (c *memConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *memConn) setRefuse(v bool) {
	c.mu.Lock()
	c.refuse = v
	c.mu.Unlock()
}

// take returns the frames sent since the last take.
func (c *memConn) take() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.frames[c.read:]
	c.read = len(c.frames)
	if len(c.frames) > 256 { // keep memory flat over long sequences
		c.frames, c.read = nil, 0
	}
	return f
}

// routerSends lists the message types a router may send to a client.
var routerSends = map[codec.Type]bool{
	codec.Welcome: true, codec.Abort: true, codec.Challenge: true, codec.Goodbye: true,
	codec.Error: true, codec.Published: true, codec.Subscribed: true, codec.Unsubscribed: true,
	codec.Event: true, codec.Result: true, codec.Registered: true, codec.Unregistered: true,
	codec.Invocation: true, codec.Interrupt: true,
}

// decodeOut decodes a frame the router sent in kind k and checks that it is
// a message a router may send: the client on the other side uses the same
// codec, so an undecodable frame is a router bug.
func decodeOut(k codec.Kind, b []byte, m *codec.Message) error {
	if err := codec.Decode(k, b, m); err != nil {
		return fmt.Errorf("router sent an undecodable %s frame %q: %w", k, b, err)
	}
	if !routerSends[m.Type] {
		return fmt.Errorf("router sent message type %d, which only clients send: %q", m.Type, b)
	}
	return nil
}
