package client_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/codec"
)

// TestKeepAliveAnswered: a router that answers pings keeps an idle session.
func TestKeepAliveAnswered(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	for _, url := range []string{"ws://" + w.ws + "/ws", "rs://" + w.rs} {
		s, err := client.Connect(context.Background(), url, "realm1", client.Options{KeepAlive: 30 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
		if !s.Connected() {
			t.Fatalf("%s: idle session with keep-alive was dropped: %v", url, s.Err())
		}
		s.Close()
	}
}

// TestKeepAliveSilentPeer: a peer that stops answering is detected and the
// session ends (or would reconnect).
func TestKeepAliveSilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go silentRouter(t, ln)
	s, err := client.Connect(context.Background(), "rs://"+ln.Addr().String(), "realm1", client.Options{KeepAlive: 30 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("silent peer not detected")
	}
}

// silentRouter accepts one RawSocket JSON session, welcomes it, then reads
// and never answers anything (a hung router).
func silentRouter(t *testing.T, ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	var hs [4]byte
	if _, err := io.ReadFull(c, hs[:]); err != nil {
		return
	}
	if _, err := c.Write([]byte{0x7F, 0xF1, 0, 0}); err != nil {
		return
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:])&0xFFFFFF)); err != nil {
		return
	}
	welcome, err := codec.Append(codec.JSON, nil, &codec.Message{Type: codec.Welcome, Session: 1})
	if err != nil {
		t.Error(err)
		return
	}
	frame := append([]byte{0, 0, 0, byte(len(welcome))}, welcome...)
	if _, err := c.Write(frame); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, c)
}
