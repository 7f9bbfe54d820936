// Command nexus runs a gammazero/nexus v3 router with the same endpoints and
// realm defaults as wampd, so benchmarks and interop tests can point the same
// clients at either router. It lives in its own module so that wampd's module
// does not depend on nexus.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// userList collects repeatable authid:secret:role flags.
type userList []user

type user struct{ authid, secret, role string }

func (u *userList) String() string { return fmt.Sprint(len(*u), " users") }

func (u *userList) Set(s string) error {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 || parts[0] == "" {
		return fmt.Errorf("want authid:secret[:role], got %q", s)
	}
	usr := user{authid: parts[0], secret: parts[1], role: "user"}
	if len(parts) == 3 && parts[2] != "" {
		usr.role = parts[2]
	}
	*u = append(*u, usr)
	return nil
}

// keyStore serves both ticket and wampcra secrets (unsalted) to nexus.
type keyStore map[string]user

func (k keyStore) AuthKey(authid, _ string) ([]byte, error) {
	u, ok := k[authid]
	if !ok {
		return nil, errors.New("no such user")
	}
	return []byte(u.secret), nil
}

func (k keyStore) PasswordInfo(string) (string, int, int) { return "", 0, 0 }

func (k keyStore) AuthRole(authid string) (string, error) {
	u, ok := k[authid]
	if !ok {
		return "", errors.New("no such user")
	}
	return u.role, nil
}

func (k keyStore) Provider() string { return "static" }

func main() {
	if err := run(); err != nil {
		slog.Error("nexus", "err", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg     config
		tickets userList
		crUsers userList
	)
	flag.StringVar(&cfg.wsAddr, "ws", "127.0.0.1:8080", "WebSocket listen address ('' disables)")
	flag.StringVar(&cfg.wsPath, "ws-path", "/ws", "WebSocket URL path")
	flag.StringVar(&cfg.rsAddr, "rawsocket", "127.0.0.1:8081", "RawSocket listen address ('' disables)")
	flag.StringVar(&cfg.realm, "realm", "realm1", "realm URI")
	flag.BoolVar(&cfg.anonymous, "anonymous", true, "allow anonymous authentication")
	flag.BoolVar(&cfg.debug, "debug", false, "nexus debug logging")
	flag.Var(&tickets, "ticket", "ticket user authid:ticket[:role] (repeatable)")
	flag.Var(&crUsers, "wampcra", "wampcra user authid:secret[:role] (repeatable)")
	flag.Parse()
	cfg.tickets, cfg.crUsers = tickets, crUsers

	srv, err := start(cfg)
	if err != nil {
		return err
	}
	defer srv.close()
	if srv.wsAddr != "" {
		slog.Info("websocket listening", "addr", srv.wsAddr, "path", cfg.wsPath, "realm", cfg.realm)
	}
	if srv.rsAddr != "" {
		slog.Info("rawsocket listening", "addr", srv.rsAddr, "realm", cfg.realm)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	slog.Info("shutting down")
	return nil
}

// config is what the flags set.
type config struct {
	wsAddr, wsPath, rsAddr, realm string
	anonymous, debug              bool
	tickets, crUsers              []user
}

// server is a running nexus router and its listeners.
type server struct {
	wsAddr, rsAddr string // bound addresses ("" when disabled)
	close          func()
}

// start builds the router and opens its listeners.
func start(cfg config) (*server, error) {
	rc := &router.RealmConfig{
		URI:           wamp.URI(cfg.realm),
		AnonymousAuth: cfg.anonymous,
		AllowDisclose: true,
	}
	if len(cfg.tickets) > 0 {
		rc.Authenticators = append(rc.Authenticators, auth.NewTicketAuthenticator(newKeyStore(cfg.tickets), 5*time.Second))
	}
	if len(cfg.crUsers) > 0 {
		rc.Authenticators = append(rc.Authenticators, auth.NewCRAuthenticator(newKeyStore(cfg.crUsers), 5*time.Second))
	}
	rcfg := &router.Config{RealmConfigs: []*router.RealmConfig{rc}, Debug: cfg.debug}
	r, err := router.NewRouter(rcfg, log.New(os.Stderr, "nexus ", log.LstdFlags))
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	srv := &server{}
	var closers []func()
	srv.close = func() {
		for _, c := range closers {
			c()
		}
		r.Close()
	}
	if cfg.wsAddr != "" {
		wss := router.NewWebsocketServer(r)
		// Benchmark clients do not send browser Origin headers; accept any.
		wss.Upgrader.CheckOrigin = func(*http.Request) bool { return true }
		mux := http.NewServeMux()
		mux.Handle(cfg.wsPath, wss)
		ln, err := net.Listen("tcp", cfg.wsAddr)
		if err != nil {
			srv.close()
			return nil, fmt.Errorf("websocket listen: %w", err)
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		closers = append(closers, func() { _ = hs.Close() })
		srv.wsAddr = ln.Addr().String()
	}
	if cfg.rsAddr != "" {
		rss := router.NewRawSocketServer(r)
		c, err := rss.ListenAndServe("tcp", cfg.rsAddr)
		if err != nil {
			srv.close()
			return nil, fmt.Errorf("rawsocket listen: %w", err)
		}
		closers = append(closers, func() { _ = c.Close() })
		srv.rsAddr = cfg.rsAddr
		if l, ok := c.(net.Listener); ok {
			srv.rsAddr = l.Addr().String()
		}
	}
	return srv, nil
}

func newKeyStore(users []user) keyStore {
	ks := keyStore{}
	for _, u := range users {
		ks[u.authid] = u
	}
	return ks
}
