// Package client is a WAMP v2 client for Go: it joins a realm on any WAMP
// router (wampd or another) over WebSocket or RawSocket with JSON,
// MessagePack or CBOR, and registers, calls, subscribes and publishes.
//
//	s, err := client.Connect(ctx, "ws://127.0.0.1:8080/ws", "realm1", client.Options{})
//	if err != nil { ... }
//	defer s.Close()
//
//	s.Register(ctx, "com.example.add", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
//		a, _ := client.AsInt64(inv.Args[0])
//		b, _ := client.AsInt64(inv.Args[1])
//		return &client.Result{Args: []any{a + b}}, nil
//	}, client.RegisterOptions{})
//
//	res, err := s.Call(ctx, "com.example.add", []any{2, 3}, nil, client.CallOptions{})
//
//	s.Subscribe(ctx, "com.example.tick", func(ev *client.Event) { fmt.Println(ev.Args) }, client.SubscribeOptions{})
//	s.Publish(ctx, "com.example.tick", []any{1}, nil, client.PublishOptions{})
//
// # Payloads
//
// Handlers get the payload both decoded (Args []any, Kwargs map[string]any;
// non-negative integers decode as uint64, negative ones as int64, see
// AsInt64) and raw (ArgsRaw, KwRaw: the bytes as received). Set Raw in the
// options to skip decoding. PublishRaw and CallRaw send pre-encoded payloads,
// and an event subscription with Inline and Raw receives events without any
// copy or decode: the cheapest path for load generators.
//
// # Concurrency
//
// A Session is safe for concurrent use. Writes from many goroutines are
// coalesced: the last writer of a burst flushes for all. Each connection has
// one receive goroutine; event handlers run in order on a dispatch goroutine
// (or Inline on the receive goroutine), invocation handlers each on their own
// goroutine, so handlers may call the Session (Inline ones may not wait for
// replies).
//
// # Errors
//
// A WAMP ERROR or ABORT reply is an *Error carrying its URI; a context that
// ends first yields the context's error (and a CANCEL for calls); a lost
// connection yields ErrDisconnected, a closed session ErrClosed.
//
// # Reconnect
//
// With Options.Reconnect the session survives lost connections: it redials
// with exponential backoff, rejoins and restores its registrations and
// subscriptions (Subscription and Registration values stay valid; their
// router IDs change). Requests made while disconnected fail with ErrNotConnected.
package client
