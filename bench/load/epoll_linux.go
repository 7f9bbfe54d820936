//go:build linux

package load

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Subscribers' EVENT frames are counted by a few goroutines that each own an
// epoll set of subscriber sockets, not by one goroutine per subscriber: with
// 1000 subscribers the goroutine-per-socket reader spends most of its CPU in
// scheduler wake-ups, which on a 2-core machine is CPU the router under test
// does not get. Frames are parsed in place in a per-socket buffer.

const epollSupported = true

// sink is what the readers report to.
type sink struct {
	ser      Serializer
	every    uint64
	rec      *Recorder
	errs     *errTally
	stopping func() bool
	progress func() // called after each batch of readiness events
	delay    time.Duration
	dead     atomic.Int64 // sockets the router closed
}

type rawSub struct {
	st   *fanSub
	idx  int
	fd   int
	buf  []byte
	n    int
	dead bool
}

// startEpollReaders starts groups readers for subs; wait returns when they
// have stopped (after sink.stopping reports true).
func startEpollReaders(subs []*fanSub, transport int, groups int, bufSize int, sk *sink) (wait func(), err error) {
	groups = max(1, min(groups, len(subs)))
	type group struct {
		epfd int
		subs []*rawSub
	}
	gs := make([]*group, groups)
	cleanup := func() {
		for _, g := range gs {
			if g != nil {
				unix.Close(g.epfd)
			}
		}
	}
	for i := range gs {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("load: epoll_create: %w", err)
		}
		gs[i] = &group{epfd: fd}
	}
	for i, st := range subs {
		sc, ok := st.s.nc.(syscall.Conn)
		if !ok {
			cleanup()
			return nil, errors.New("load: connection has no file descriptor")
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			cleanup()
			return nil, err
		}
		// Take the socket away from the Go runtime: a duplicate descriptor for
		// our epoll set, then close the original so that the runtime's poller
		// (which deregisters it on close) stops waking up for every frame.
		fd, derr := -1, error(nil)
		rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) })
		if derr != nil {
			cleanup()
			return nil, fmt.Errorf("load: dup subscriber socket: %w", derr)
		}
		r := &rawSub{st: st, idx: i, fd: fd, buf: make([]byte, bufSize)}
		// Bytes the setup phase already buffered belong to this stream.
		if st.s.pending > 0 {
			st.s.br.Discard(st.s.pending)
			st.s.pending = 0
		}
		if k := st.s.br.Buffered(); k > 0 {
			p, _ := st.s.br.Peek(k)
			if k > len(r.buf) {
				r.buf = make([]byte, k)
			}
			r.n = copy(r.buf, p)
			st.s.br.Discard(k)
		}
		st.s.nc.Close() // the session is now only the raw fd (Leave becomes a no-op)
		g := gs[i%groups]
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(len(g.subs))}
		if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			cleanup()
			return nil, fmt.Errorf("load: epoll_ctl: %w", err)
		}
		g.subs = append(g.subs, r)
		if r.n > 0 {
			r.consume(transport, sk)
		}
	}
	var wg sync.WaitGroup
	for _, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				for _, r := range g.subs {
					unix.Close(r.fd)
				}
				unix.Close(g.epfd)
			}()
			events := make([]unix.EpollEvent, 256)
			for !sk.stopping() {
				n, err := unix.EpollWait(g.epfd, events, 20)
				if err != nil {
					if errors.Is(err, unix.EINTR) {
						continue
					}
					sk.errs.add("epoll_wait", err)
					return
				}
				for _, ev := range events[:n] {
					r := g.subs[ev.Fd]
					if r.dead {
						continue
					}
					if r.n == len(r.buf) {
						r.buf = append(r.buf, make([]byte, len(r.buf))...)
					}
					m, err := unix.Read(r.fd, r.buf[r.n:])
					if m > 0 {
						r.n += m
						r.consume(transport, sk)
						continue
					}
					if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
						continue
					}
					r.dead = true
					sk.dead.Add(1)
					unix.EpollCtl(g.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
					if !sk.stopping() {
						if err == nil {
							err = errClosed
						}
						sk.errs.add("subscriber read", err)
					}
				}
				if n > 0 {
					sk.progress()
					if sk.delay > 0 {
						// Let frames accumulate: fewer, fuller reads.
						unix.Nanosleep(&unix.Timespec{Nsec: int64(sk.delay)}, nil)
					}
				}
			}
		}()
	}
	return wg.Wait, nil
}

// consume counts the complete frames in r.buf and keeps the partial rest.
func (r *rawSub) consume(transport int, sk *sink) {
	off, events := 0, uint64(0)
	base := r.st.recv.Load()
	for {
		rem := r.buf[off:r.n]
		var hlen, plen int
		var data, closing, ping bool
		if transport == transportRawSocket {
			if len(rem) < 4 {
				break
			}
			hlen, plen = 4, int(rem[1])<<16|int(rem[2])<<8|int(rem[3])
			data = rem[0]&0x07 == 0
			ping = rem[0]&0x07 == 1
		} else {
			if len(rem) < 2 {
				break
			}
			hlen, plen = 2, int(rem[1]&0x7F)
			switch plen {
			case 126:
				hlen = 4
			case 127:
				hlen = 10
			}
			if len(rem) < hlen {
				break
			}
			switch plen {
			case 126:
				plen = int(binary.BigEndian.Uint16(rem[2:4]))
			case 127:
				plen = int(binary.BigEndian.Uint64(rem[2:10]))
			}
			op := rem[0] & 0x0F
			data = op == 1 || op == 2
			closing = op == 8
			ping = op == 9
		}
		if plen > maxFrameSize {
			r.dead = true
			sk.errs.add("subscriber read", fmt.Errorf("%d-byte frame exceeds the harness limit", plen))
			return
		}
		if hlen+plen > len(rem) {
			if hlen+plen > len(r.buf) {
				nb := make([]byte, hlen+plen+readBufferSize)
				copy(nb, r.buf[off:r.n])
				r.buf, r.n, off = nb, r.n-off, 0
			}
			break
		}
		frame := rem[hlen : hlen+plen]
		off += hlen + plen
		switch {
		case ping:
			// Keepalive: the router closes connections that do not answer.
			r.pong(transport, frame)
		case closing:
			if !sk.stopping() {
				sk.errs.add("subscriber", errClosed)
			}
		case data:
			switch sk.ser.FastType(frame) {
			case mEvent:
				events++
				if (base+events)%sk.every == 0 {
					if ts, ok := Timestamp(frame); ok {
						sk.rec.Record(r.idx, now()-ts)
					}
				}
			case mGoodbye, mAbort:
				if !sk.stopping() {
					sk.errs.add("subscriber session closed by the router", nil)
				}
			}
		}
	}
	if events > 0 {
		r.st.recv.Add(events)
	}
	r.n = copy(r.buf, r.buf[off:r.n])
}

// pong answers a ping on the raw socket: a masked WebSocket pong (zero mask:
// the bytes need no transformation) or a RawSocket PONG, with the ping's payload.
func (r *rawSub) pong(transport int, payload []byte) {
	var f []byte
	if transport == transportRawSocket {
		f = appendRawSocketHeader(make([]byte, 0, 4+len(payload)), 2, len(payload))
	} else {
		if len(payload) > 125 {
			return // control frames carry at most 125 bytes
		}
		f = append(make([]byte, 0, 6+len(payload)), 0x80|0xA, 0x80|byte(len(payload)), 0, 0, 0, 0)
	}
	f = append(f, payload...)
	unix.Write(r.fd, f)
}

// startKeepalive watches held idle sessions with one epoll goroutine and a
// small buffer each: it answers the router's pings (so long holds are not
// closed for silence) and counts sessions the router closes. The sessions'
// sockets belong to it from now on; stop closes them.
func startKeepalive(ss []*Session) (alive func() int, stop func(), err error) {
	var subs []*fanSub
	for _, s := range ss {
		if s != nil {
			subs = append(subs, &fanSub{s: s})
		}
	}
	if len(subs) == 0 {
		return func() int { return 0 }, func() {}, nil
	}
	var stopping atomic.Bool
	sk := &sink{ser: subs[0].s.ser, every: 1 << 62, rec: NewRecorder(), errs: &errTally{},
		stopping: stopping.Load, progress: func() {}}
	wait, err := startEpollReaders(subs, subs[0].s.transport, 1, 256, sk)
	if err != nil {
		return nil, nil, err
	}
	return func() int { return len(subs) - int(sk.dead.Load()) }, func() { stopping.Store(true); wait() }, nil
}
