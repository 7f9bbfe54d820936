package netpoll

import "syscall"

// Why a connection limit by default: when accept(2) fails with EMFILE (the
// process is out of file descriptors), gnet's acceptor returns an error that
// stops its main reactor for good: the sessions already joined keep working,
// but the router never accepts another connection, even after they leave.
// Keeping the number of connections below the open-file limit means accept
// always has a descriptor to return, and the connections over the limit get
// a clean refusal instead.
const (
	// fdReserve is kept free for everything that is not a client
	// connection (listeners, epoll and event fds, the pprof listener, logs)
	// and for the acceptSlack connections past the limit.
	fdReserve = 256
	// acceptSlack connections past MaxConnections are still accepted (and
	// refused at their handshake with RawSocket error 4 or HTTP 503);
	// beyond that, OnOpen closes them at once.
	acceptSlack = 64
)

// connectionLimit derives Config.MaxConnections from the open-file limit
// (Go raises the soft limit to the hard one at start-up). It returns -1
// (unlimited) when the limit cannot be read.
func connectionLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return -1
	}
	return limitFromFiles(rl.Cur)
}

// limitFromFiles is connectionLimit's arithmetic, separate for tests.
func limitFromFiles(files uint64) int {
	const maxInt = int(^uint(0) >> 1)
	if files > uint64(maxInt) {
		return -1 // RLIM_INFINITY or close to it
	}
	// With a tiny open-file limit the reserve would leave nothing: keep a
	// quarter of the limit for connections then.
	n := int(files) - fdReserve
	if q := int(files) / 4; n < q {
		n = q
	}
	return n
}
