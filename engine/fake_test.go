package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wampd/wampd/codec"
)

// fakeConn is an in-memory Conn: it records the frames sent to it.
type fakeConn struct {
	kind    codec.Kind
	mu      sync.Mutex
	frames  [][]byte
	closed  bool
	refuse  atomic.Bool // Send reports false (over its bound)
	discard bool        // count frames without keeping them (benchmarks)
	count   atomic.Int64
}

func (c *fakeConn) Serializer() codec.Kind { return c.kind }
func (c *fakeConn) Send(frame []byte) bool {
	if c.refuse.Load() {
		return false
	}
	c.count.Add(1)
	if c.discard {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.frames = append(c.frames, append([]byte(nil), frame...))
	return true
}
func (c *fakeConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}
func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
func (c *fakeConn) Transport() TransportInfo {
	return TransportInfo{Type: "test", Peer: "mem"}
}

// client drives one fake connection.
type client struct {
	t    testing.TB
	conn *fakeConn
	peer Peer
	read int // frames consumed
	id   codec.ID
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestRouter(t testing.TB, realms ...RealmConfig) *Router {
	t.Helper()
	if len(realms) == 0 {
		realms = []RealmConfig{{Name: "realm1", Anonymous: true}}
	}
	r, err := NewRouter(Config{Realms: realms, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func connect(t testing.TB, r *Router, k codec.Kind) *client {
	c := &fakeConn{kind: k}
	return &client{t: t, conn: c, peer: r.Attach(c)}
}

// join connects and joins realm anonymously, failing the test otherwise.
func join(t testing.TB, r *Router, k codec.Kind, realm string) *client {
	t.Helper()
	c := connect(t, r, k)
	c.send(hello(realm))
	w := c.expect(codec.Welcome)
	c.id = w.Session
	return c
}

func hello(realm string, fields ...codec.Field) *codec.Message {
	m := &codec.Message{Type: codec.Hello, URI: []byte(realm)}
	m.Details.Fields = append([]codec.Field{{Key: "roles", Value: codec.AnyValue(map[string]any{
		"publisher": map[string]any{}, "subscriber": map[string]any{},
		"caller": map[string]any{}, "callee": map[string]any{},
	})}}, fields...)
	return m
}

func (c *client) send(m *codec.Message) {
	c.t.Helper()
	b, err := codec.Append(c.conn.kind, nil, m)
	if err != nil {
		c.t.Fatalf("encode %v: %v", m.Type, err)
	}
	c.peer.Handle(b)
}

func (c *client) sendRaw(b []byte) { c.peer.Handle(b) }

// pending returns the number of unread frames.
func (c *client) pending() int {
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	return len(c.conn.frames) - c.read
}

// next decodes the next unread frame, or returns nil.
func (c *client) next() *codec.Message {
	c.t.Helper()
	c.conn.mu.Lock()
	if c.read >= len(c.conn.frames) {
		c.conn.mu.Unlock()
		return nil
	}
	f := c.conn.frames[c.read]
	c.read++
	c.conn.mu.Unlock()
	m := new(codec.Message)
	if err := codec.Decode(c.conn.kind, f, m); err != nil {
		c.t.Fatalf("router sent an undecodable %v frame %q: %v", c.conn.kind, f, err)
	}
	m.Retain()
	return m
}

func (c *client) expect(typ codec.Type) *codec.Message {
	c.t.Helper()
	m := c.next()
	if m == nil {
		c.t.Fatalf("expected %v, got nothing", typ)
	}
	if m.Type != typ {
		c.t.Fatalf("expected message type %d, got %d (uri %q, details %s)", typ, m.Type, m.URI, detailsString(m))
	}
	return m
}

func (c *client) expectNothing() {
	c.t.Helper()
	if m := c.next(); m != nil {
		c.t.Fatalf("expected no message, got type %d (uri %q)", m.Type, m.URI)
	}
}

// expectError reads an ERROR and checks its request type, request and URI.
func (c *client) expectError(reqType codec.Type, req codec.ID, uri string) *codec.Message {
	c.t.Helper()
	m := c.expect(codec.Error)
	if m.ErrorType != reqType || m.Request != req || string(m.URI) != uri {
		c.t.Fatalf("got ERROR %d/%d %q, want %d/%d %q", m.ErrorType, m.Request, m.URI, reqType, req, uri)
	}
	return m
}

func (c *client) expectAbort(uri string) *codec.Message {
	c.t.Helper()
	m := c.expect(codec.Abort)
	if string(m.URI) != uri {
		c.t.Fatalf("ABORT %q (%s), want %q", m.URI, detailsString(m), uri)
	}
	return m
}

func detailsString(m *codec.Message) string {
	if len(m.Details.Raw.Bytes) == 0 {
		return "{}"
	}
	v, err := codec.DecodeAny(m.Details.Raw)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return fmt.Sprint(v)
}

func details(t testing.TB, m *codec.Message) map[string]any {
	t.Helper()
	if len(m.Details.Raw.Bytes) == 0 {
		return map[string]any{}
	}
	v, err := codec.DecodeAny(m.Details.Raw)
	if err != nil {
		t.Fatalf("details: %v", err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("details is %T", v)
	}
	return d
}

// payload decodes a message's Args and Kw into Go values.
func payload(t testing.TB, m *codec.Message) (args []any, kw map[string]any) {
	t.Helper()
	if m.Args != nil {
		v, err := codec.DecodeAny(codec.Raw{Kind: m.PayloadKind, Bytes: m.Args})
		if err != nil {
			t.Fatalf("args: %v", err)
		}
		args, _ = v.([]any)
	}
	if m.Kw != nil {
		v, err := codec.DecodeAny(codec.Raw{Kind: m.PayloadKind, Bytes: m.Kw})
		if err != nil {
			t.Fatalf("kw: %v", err)
		}
		kw, _ = v.(map[string]any)
	}
	return args, kw
}

func (c *client) subscribe(req codec.ID, topic string) codec.ID {
	c.t.Helper()
	c.send(&codec.Message{Type: codec.Subscribe, Request: req, URI: []byte(topic)})
	m := c.expect(codec.Subscribed)
	if m.Request != req {
		c.t.Fatalf("SUBSCRIBED for %d, want %d", m.Request, req)
	}
	return m.Subscription
}

func (c *client) register(req codec.ID, proc string) codec.ID {
	c.t.Helper()
	c.send(&codec.Message{Type: codec.Register, Request: req, URI: []byte(proc)})
	m := c.expect(codec.Registered)
	if m.Request != req {
		c.t.Fatalf("REGISTERED for %d, want %d", m.Request, req)
	}
	return m.Registration
}

func publishMsg(req codec.ID, topic string, args []any, kw map[string]any, opts ...codec.Field) *codec.Message {
	m := &codec.Message{Type: codec.Publish, Request: req, URI: []byte(topic), ArgsAny: args, KwAny: kw}
	m.Details.Fields = opts
	return m
}

func opt(k string, v any) codec.Field { return codec.Field{Key: k, Value: codec.AnyValue(v)} }

func equalJSONish(a, b any) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

// normalize maps every integer type to int64 and float64 with integral values
// to int64, so payloads decoded from different serializers compare equal.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case uint64:
		return int64(x)
	case int:
		return int64(x)
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

func shutdownNow(r *Router) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Shutdown(ctx)
}
