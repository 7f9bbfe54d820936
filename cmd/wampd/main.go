// Command wampd runs the wampd WAMP v2 router.
//
// With no arguments it serves WAMP over WebSocket at ws://localhost:8080/ws
// and over RawSocket at tcp://localhost:8081, with one realm "realm1" open to
// anonymous clients: what the WAMP programming guide's examples connect to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wampd/wampd/engine"
	"github.com/wampd/wampd/netpoll"
)

// options are the command line settings.
type options struct {
	ws, wsPath, rawsocket, realm, logLevel string
	anonymous                              bool
	tickets                                ticketFlag
	maxMessage, maxPending                 int
	compression                            bool
	shutdownGrace                          time.Duration
	pingInterval, pingTimeout              time.Duration   // keepalive; interval 0 disables
	config                                 string          // -config file (config.go)
	pprofAddr                              string          // -pprof: net/http/pprof listen address
	set                                    map[string]bool // flags given on the command line
}

// ticketFlag collects repeated -ticket authid:ticket[:role] flags.
type ticketFlag map[string]engine.TicketUser

func (t ticketFlag) String() string { return fmt.Sprintf("%d users", len(t)) }

func (t ticketFlag) Set(v string) error {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return errors.New("want authid:ticket[:role]")
	}
	role := "user"
	if len(parts) == 3 && parts[2] != "" {
		role = parts[2]
	}
	t[parts[0]] = engine.TicketUser{Ticket: parts[1], Role: role}
	return nil
}

func parseFlags(args []string) (options, error) {
	o := options{tickets: ticketFlag{}, set: map[string]bool{}}
	fs := flag.NewFlagSet("wampd", flag.ContinueOnError)
	fs.StringVar(&o.ws, "ws", "localhost:8080", "WebSocket listen address ('' disables)")
	fs.StringVar(&o.wsPath, "ws-path", "/ws", "WebSocket URL path")
	fs.StringVar(&o.rawsocket, "rawsocket", "localhost:8081", "RawSocket listen address ('' disables)")
	fs.StringVar(&o.realm, "realm", "realm1", "the realm clients join")
	fs.BoolVar(&o.anonymous, "anonymous", true, "allow anonymous authentication")
	fs.Var(o.tickets, "ticket", "ticket user authid:ticket[:role] (repeatable)")
	fs.IntVar(&o.maxMessage, "max-message", 16<<20, "largest WAMP message accepted, in bytes")
	fs.IntVar(&o.maxPending, "max-pending", 8<<20, "outbound bytes queued per connection before the slow-consumer policy applies")
	fs.BoolVar(&o.compression, "compression", true, "offer WebSocket permessage-deflate")
	fs.DurationVar(&o.pingInterval, "ping-interval", 30*time.Second, "ping a connection after this long without input (0 disables keepalive)")
	fs.DurationVar(&o.pingTimeout, "ping-timeout", 10*time.Second, "close a pinged connection that sends nothing for this long")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 3*time.Second, "how long shutdown waits for clients to say GOODBYE")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve Go's net/http/pprof profiles on this address (e.g. 127.0.0.1:6060; off by default)")
	fs.StringVar(&o.config, "config", "", "JSON file with realms, users, roles and listener settings (see example-config.json); listener flags override it")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.ws == "" && o.rawsocket == "" {
		return o, errors.New("both -ws and -rawsocket are disabled: nothing to serve")
	}
	if err := checkKeepalive(o.pingInterval, o.pingTimeout); err != nil {
		return o, err
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "wampd:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "wampd:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	realms := []engine.RealmConfig{{
		Name:      o.realm,
		Anonymous: o.anonymous,
		Tickets:   o.tickets,
	}}
	if o.config != "" {
		var err error
		if realms, err = applyConfigFile(&o); err != nil {
			return err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if o.pprofAddr != "" {
		if err := servePprof(o.pprofAddr, log); err != nil {
			return err
		}
	}

	router, err := engine.NewRouter(engine.Config{
		Logger: log,
		Realms: realms,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := netpoll.Listen(ctx, netpoll.Config{
		WebSocketAddr:      o.ws,
		WebSocketPath:      o.wsPath,
		RawSocketAddr:      o.rawsocket,
		MaxMessageSize:     o.maxMessage,
		MaxPendingBytes:    o.maxPending,
		DisableCompression: !o.compression,
		PingInterval:       keepaliveInterval(o.pingInterval),
		PingTimeout:        o.pingTimeout,
		Logger:             log,
	}, router)
	if err != nil {
		return err
	}
	addrs := srv.Addrs()
	if o.ws != "" && len(addrs) > 0 {
		log.Info("listening", "transport", "websocket", "addr", addrs[0].String(), "url", "ws://"+addrs[0].String()+o.wsPath)
		addrs = addrs[1:]
	}
	if o.rawsocket != "" && len(addrs) > 0 {
		log.Info("listening", "transport", "rawsocket", "addr", addrs[0].String(), "url", "tcp://"+addrs[0].String())
	}
	if o.config != "" {
		log.Info("wampd ready", "config", o.config, "realms", realmSummary(realms))
	} else {
		log.Info("wampd ready", "realm", o.realm, "anonymous", o.anonymous, "ticket_users", len(o.tickets))
	}

	select {
	case <-ctx.Done():
	case <-srv.Done():
		// The network engine stopped by itself: the router can no longer
		// serve. Exit non-zero so a supervisor restarts it, rather than
		// linger with no listener.
		log.Error("network engine stopped", "err", srv.Err())
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
		defer cancel()
		router.Shutdown(sctx)
		return fmt.Errorf("network engine stopped: %v", srv.Err())
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
	defer cancel()
	router.Shutdown(sctx)
	return srv.Stop(sctx)
}

// checkKeepalive validates -ping-interval and -ping-timeout.
func checkKeepalive(interval, timeout time.Duration) error {
	if interval < 0 {
		return fmt.Errorf("-ping-interval %v: want a positive duration, or 0 to disable keepalive", interval)
	}
	if timeout <= 0 {
		return fmt.Errorf("-ping-timeout %v: want a positive duration", timeout)
	}
	return nil
}

// keepaliveInterval maps the flag's "0 disables" onto netpoll.Config, where
// zero means the default and a negative interval disables.
func keepaliveInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// servePprof serves the runtime profiles (CPU, heap, goroutines, ...) for
// diagnosing a running router: `go tool pprof http://ADDR/debug/pprof/profile`.
// Its own mux, so nothing else is exposed; bind it to loopback.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("pprof listening", "addr", ln.Addr().String())
	go func() {
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.Serve(ln); err != nil {
			log.Error("pprof server stopped", "err", err)
		}
	}()
	return nil
}
