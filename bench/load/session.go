package load

import (
	"context"
	"fmt"
	"time"
)

// Session is a joined WAMP session. Its request helpers are for the setup
// phase (one goroutine, synchronous); scenarios drive the hot path on the
// embedded Conn themselves.
type Session struct {
	*Conn
	ID  uint64
	req uint64
	msg Msg
}

// setupTimeout bounds each synchronous setup exchange.
const setupTimeout = 15 * time.Second

// Join dials ep and joins realm. index picks the source address; bufSize is
// the read buffer (0: default; idle sessions use a small one).
func Join(ctx context.Context, ep Endpoint, realm string, index, bufSize int) (*Session, error) {
	c, err := Dial(ctx, ep, index, bufSize)
	if err != nil {
		return nil, err
	}
	s := &Session{Conn: c}
	dst := c.Begin()
	dst = ep.Serializer.AppendHello(dst, realm)
	c.Commit(dst)
	if err := c.Flush(); err != nil {
		c.Close()
		return nil, fmt.Errorf("load: send HELLO: %w", err)
	}
	deadline := time.Now().Add(setupTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	for {
		b, err := c.Next()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("load: waiting for WELCOME: %w", err)
		}
		if err := ep.Serializer.Parse(b, &s.msg); err != nil {
			c.Close()
			return nil, fmt.Errorf("load: waiting for WELCOME: %w", err)
		}
		switch s.msg.Type {
		case mWelcome:
			s.ID = s.msg.ID1
			return s, nil
		case mAbort:
			c.Close()
			return nil, fmt.Errorf("load: router refused to join %q: %s", realm, s.msg.Text)
		case 4:
			c.Close()
			return nil, fmt.Errorf("load: router demands authentication (CHALLENGE); the harness joins anonymously")
		}
	}
}

// nextReq returns a fresh request ID.
func (s *Session) nextReq() uint64 {
	s.req++
	return s.req
}

// await reads until the reply of type want to request req arrives.
func (s *Session) await(want int, req uint64, what string) (uint64, error) {
	s.SetReadDeadline(time.Now().Add(setupTimeout))
	defer s.SetReadDeadline(time.Time{})
	for {
		b, err := s.Next()
		if err != nil {
			return 0, fmt.Errorf("load: %s: %w", what, err)
		}
		if err := s.ser.Parse(b, &s.msg); err != nil {
			return 0, fmt.Errorf("load: %s: %w", what, err)
		}
		switch {
		case s.msg.Type == want && s.msg.ID1 == req:
			return s.msg.ID2, nil
		case s.msg.Type == mError && s.msg.ID2 == req:
			return 0, fmt.Errorf("load: %s: router error %s", what, s.msg.Text)
		case s.msg.Type == mAbort || s.msg.Type == mGoodbye:
			return 0, fmt.Errorf("load: %s: session closed: %s", what, s.msg.Text)
		}
	}
}

// Subscribe subscribes to topic and returns the subscription ID.
func (s *Session) Subscribe(topic string) (uint64, error) {
	req := s.nextReq()
	dst := s.Begin()
	dst = s.ser.AppendSubscribe(dst, req, topic)
	s.Commit(dst)
	if err := s.Flush(); err != nil {
		return 0, fmt.Errorf("load: subscribe %s: %w", topic, err)
	}
	return s.await(mSubscribed, req, "subscribe "+topic)
}

// Register registers proc and returns the registration ID.
func (s *Session) Register(proc string) (uint64, error) {
	req := s.nextReq()
	dst := s.Begin()
	dst = s.ser.AppendRegister(dst, req, proc)
	s.Commit(dst)
	if err := s.Flush(); err != nil {
		return 0, fmt.Errorf("load: register %s: %w", proc, err)
	}
	return s.await(mRegistered, req, "register "+proc)
}

// Leave says GOODBYE and closes without waiting for the reply: a benchmark
// tearing down thousands of sessions should not wait on each.
func (s *Session) Leave() {
	dst := s.Begin()
	dst = s.ser.AppendGoodbye(dst)
	s.Commit(dst)
	s.Flush()
	s.Close()
}
