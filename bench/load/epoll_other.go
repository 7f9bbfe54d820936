//go:build !linux

package load

import (
	"errors"
	"time"
)

const epollSupported = false

type sink struct {
	ser      Serializer
	every    uint64
	rec      *Recorder
	errs     *errTally
	stopping func() bool
	progress func()
	delay    time.Duration
}

func startKeepalive(ss []*Session) (func() int, func(), error) {
	return nil, nil, errors.New("load: keepalive needs Linux")
}

func startEpollReaders(subs []*fanSub, transport int, groups int, bufSize int, sk *sink) (func(), error) {
	return nil, errors.New("load: epoll readers need Linux")
}
