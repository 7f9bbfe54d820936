package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wampd/wampd/engine"
)

// fileConfig is the -config file. wampd -config wampd.json reads realms, their users and permissions, and
// listener settings from a JSON file (example: example-config.json beside
// this file). Listener flags given on the command line (-ws, -ws-path,
// -rawsocket, -max-message, -max-pending, -compression, -ping-interval,
// -ping-timeout, -log-level, -shutdown-grace) override the file; the realm flags (-realm, -anonymous,
// -ticket) cannot be combined with -config, whose realms replace them.
//
//	{
//	  "listen": {                      // all optional; defaults as the flags
//	    "websocket": "127.0.0.1:8080", // "" disables
//	    "websocket_path": "/ws",
//	    "rawsocket": "127.0.0.1:8081", // "" disables
//	    "max_message": 16777216,       // bytes
//	    "max_pending": 8388608,        // bytes queued per connection
//	    "compression": true,           // WebSocket permessage-deflate
//	    "ping_interval": "30s",        // keepalive: ping after this long without input; "0s" disables
//	    "ping_timeout": "10s"          // close a pinged connection silent for this long
//	  },
//	  "log_level": "info",             // debug, info, warn, error
//	  "shutdown_grace": "3s",          // a Go duration
//	  "realms": [{                     // at least one
//	    "name": "realm1",
//	    "anonymous": true,             // default false: authmethod anonymous, authrole "anonymous"
//	    "ticket":  {"joe":   {"ticket": "secret", "role": "user"}},
//	    "wampcra": {"peter": {"secret": "secret", "role": "backend"},
//	                "salty": {"secret": "password", "role": "user",
//	                          "salt": "salt123", "iterations": 1000, "keylen": 32}},
//	    "cryptosign": {"device1": {"pubkeys": ["<64 hex digits>"], "role": "device"}},
//	    "event_history": [             // optional: which topics keep a history (wamp.subscription.get_events)
//	      {"topic": "com.example.", "match": "prefix", "limit": 100, "max_age": "1h"}
//	    ],
//	    "max_history_topics": 1024,    // topics with a history at most (default 1024)
//	    "max_retained_topics": 10000,  // topics with a retained event at most (default 10000; -1: no retention)
//	    "roles": {                     // optional: without it every session may do everything
//	      "anonymous": [{"uri": "com.example.public.", "allow": ["subscribe", "call"]}],
//	      "backend":   [{"uri": "", "allow": ["all"]}]
//	    }
//	  }]
//	}
//
// Users are keyed by authid. A user's role defaults to "user". A wampcra
// user with a salt has a password as its secret: the key is derived with
// PBKDF2-HMAC-SHA256 (iterations default 1000, keylen 32) once at start-up
// (the CHALLENGE tells the client salt, iterations and keylen). A cryptosign principal may have several Ed25519 public keys (hex);
// clients may omit authid and are then found by their key.
//
// roles maps an authrole to its permissions for engine.StaticAuthorizer: each
// grants the listed actions (publish, subscribe, call, register, or all) on
// every URI starting with uri ("" matches every URI; the match is a plain
// string prefix, so "com.example." is usually meant rather than
// "com.example"). When roles is present, a role it does not list may do
// nothing, so every role a user (or anonymous) gets must be listed, with []
// to grant nothing on purpose.
//
// Comments as above are not JSON: the file itself must not have them.
//
// Pointers tell "absent" (keep the flag's default) from a zero value.
type fileConfig struct {
	Listen        *listenConfig `json:"listen"`
	LogLevel      *string       `json:"log_level"`
	ShutdownGrace *string       `json:"shutdown_grace"`
	Realms        []realmFile   `json:"realms"`
}

type listenConfig struct {
	WebSocket     *string `json:"websocket"`
	WebSocketPath *string `json:"websocket_path"`
	RawSocket     *string `json:"rawsocket"`
	MaxMessage    *int    `json:"max_message"`
	MaxPending    *int    `json:"max_pending"`
	Compression   *bool   `json:"compression"`
	PingInterval  *string `json:"ping_interval"`
	PingTimeout   *string `json:"ping_timeout"`
}

type realmFile struct {
	Name       string                      `json:"name"`
	Anonymous  bool                        `json:"anonymous"`
	Ticket     map[string]ticketFile       `json:"ticket"`
	WampCRA    map[string]wampCRAFile      `json:"wampcra"`
	Cryptosign map[string]cryptosignFile   `json:"cryptosign"`
	Roles      map[string][]permissionFile `json:"roles"`

	EventHistory      []historyFile `json:"event_history"`
	MaxHistoryTopics  int           `json:"max_history_topics"`
	MaxRetainedTopics int           `json:"max_retained_topics"`
}

type ticketFile struct {
	Ticket string `json:"ticket"`
	Role   string `json:"role"`
}

type wampCRAFile struct {
	Secret     string `json:"secret"`
	Role       string `json:"role"`
	Salt       string `json:"salt"`
	Iterations int    `json:"iterations"`
	KeyLen     int    `json:"keylen"`
}

type cryptosignFile struct {
	PubKeys []string `json:"pubkeys"`
	Role    string   `json:"role"`
}

type permissionFile struct {
	URI   *string  `json:"uri"`
	Allow []string `json:"allow"`
}

// configError is a problem at one place of the file: "path: field: message".
type configError struct {
	path, field, msg string
}

func (e *configError) Error() string {
	if e.field == "" {
		return e.path + ": " + e.msg
	}
	return e.path + ": " + e.field + ": " + e.msg
}

// loadConfig reads and validates the file at path and returns its realms
// ready for the engine (salted wampcra keys are derived here).
func loadConfig(path string) (*fileConfig, []engine.RealmConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	fc, err := parseConfig(path, data)
	if err != nil {
		return nil, nil, err
	}
	realms, err := fc.engineRealms(path)
	if err != nil {
		return nil, nil, err
	}
	return fc, realms, nil
}

// parseConfig decodes the JSON strictly: unknown fields are errors (a
// misspelt "anonymus" must not silently mean false).
func parseConfig(path string, data []byte) (*fileConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var fc fileConfig
	if err := dec.Decode(&fc); err != nil {
		return nil, jsonError(path, data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &configError{path: path, msg: "unexpected data after the JSON object"}
	}
	return &fc, nil
}

// jsonError names the line and column (and field, when known) of a decode error.
func jsonError(path string, data []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		line, col := lineCol(data, off)
		return &configError{path: fmt.Sprintf("%s:%d:%d", path, line, col), field: typ.Field,
			msg: fmt.Sprintf("want %v, got JSON %s", typ.Type, typ.Value)}
	case errors.Is(err, io.EOF):
		return &configError{path: path, msg: "empty file"}
	}
	line, col := lineCol(data, off)
	return &configError{path: fmt.Sprintf("%s:%d:%d", path, line, col), msg: strings.TrimPrefix(err.Error(), "json: ")}
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

var actionNames = map[string]engine.Action{
	"publish":   engine.ActionPublish,
	"subscribe": engine.ActionSubscribe,
	"call":      engine.ActionCall,
	"register":  engine.ActionRegister,
	"all":       engine.ActionAll,
}

// engineRealms validates the realms and converts them for the engine.
func (fc *fileConfig) engineRealms(path string) ([]engine.RealmConfig, error) {
	bad := func(field, format string, args ...any) error {
		return &configError{path: path, field: field, msg: fmt.Sprintf(format, args...)}
	}
	if len(fc.Realms) == 0 {
		return nil, bad("realms", "at least one realm is needed")
	}
	seen := map[string]int{}
	out := make([]engine.RealmConfig, 0, len(fc.Realms))
	for i, rf := range fc.Realms {
		at := fmt.Sprintf("realms[%d]", i)
		if rf.Name == "" {
			return nil, bad(at+".name", "missing")
		}
		if !plausibleURI(rf.Name) {
			return nil, bad(at+".name", "%q is not a WAMP URI (like com.example.realm1)", rf.Name)
		}
		if j, dup := seen[rf.Name]; dup {
			return nil, bad(at+".name", "realm %q is already realms[%d]", rf.Name, j)
		}
		seen[rf.Name] = i
		rc := engine.RealmConfig{Name: rf.Name, Anonymous: rf.Anonymous}
		if !rf.Anonymous && len(rf.Ticket)+len(rf.WampCRA)+len(rf.Cryptosign) == 0 {
			return nil, bad(at, "nobody can join realm %q: set anonymous or add ticket, wampcra or cryptosign users", rf.Name)
		}
		// uses records where each role is given, to check it against roles.
		type use struct{ field, role string }
		var uses []use
		if rf.Anonymous {
			uses = append(uses, use{at + ".anonymous", "anonymous"})
		}
		roleOf := func(field, role string) string {
			if role == "" {
				role = "user"
			}
			uses = append(uses, use{field, role})
			return role
		}

		if len(rf.Ticket) > 0 {
			rc.Tickets = make(map[string]engine.TicketUser, len(rf.Ticket))
		}
		for _, id := range slices.Sorted(maps.Keys(rf.Ticket)) {
			u, f := rf.Ticket[id], fmt.Sprintf("%s.ticket.%s", at, id)
			if id == "" {
				return nil, bad(at+".ticket", "empty authid")
			}
			if u.Ticket == "" {
				return nil, bad(f+".ticket", "missing")
			}
			rc.Tickets[id] = engine.TicketUser{Ticket: u.Ticket, Role: roleOf(f+".role", u.Role)}
		}

		if len(rf.WampCRA) > 0 {
			rc.WampCRA = make(map[string]engine.WampCRAUser, len(rf.WampCRA))
		}
		for _, id := range slices.Sorted(maps.Keys(rf.WampCRA)) {
			u, f := rf.WampCRA[id], fmt.Sprintf("%s.wampcra.%s", at, id)
			switch {
			case id == "":
				return nil, bad(at+".wampcra", "empty authid")
			case u.Secret == "":
				return nil, bad(f+".secret", "missing")
			case u.Salt == "" && (u.Iterations != 0 || u.KeyLen != 0):
				return nil, bad(f, "iterations and keylen need a salt")
			case u.Iterations < 0:
				return nil, bad(f+".iterations", "%d is negative", u.Iterations)
			case u.KeyLen < 0 || u.KeyLen > 1024:
				return nil, bad(f+".keylen", "%d is not in 1..1024", u.KeyLen)
			}
			rc.WampCRA[id] = engine.WampCRAUser{Secret: u.Secret, Role: roleOf(f+".role", u.Role),
				Salt: u.Salt, Iterations: u.Iterations, KeyLen: u.KeyLen}
		}

		if len(rf.Cryptosign) > 0 {
			rc.Cryptosign = make(map[string]engine.CryptosignPrincipal, len(rf.Cryptosign))
		}
		keyOwner := map[string]string{}
		for _, id := range slices.Sorted(maps.Keys(rf.Cryptosign)) {
			p, f := rf.Cryptosign[id], fmt.Sprintf("%s.cryptosign.%s", at, id)
			if id == "" {
				return nil, bad(at+".cryptosign", "empty authid")
			}
			if len(p.PubKeys) == 0 {
				return nil, bad(f+".pubkeys", "at least one public key is needed")
			}
			for k, key := range p.PubKeys {
				kf := fmt.Sprintf("%s.pubkeys[%d]", f, k)
				if !isHex(key, 64) {
					return nil, bad(kf, "want an Ed25519 public key as 64 hex digits, got %q", key)
				}
				norm := strings.ToLower(key)
				if other, dup := keyOwner[norm]; dup {
					return nil, bad(kf, "the same key is also given for %s", other)
				}
				keyOwner[norm] = kf
			}
			rc.Cryptosign[id] = engine.CryptosignPrincipal{PublicKeys: p.PubKeys, Role: roleOf(f+".role", p.Role)}
		}

		rc.MaxHistoryTopics, rc.MaxRetainedTopics = rf.MaxHistoryTopics, rf.MaxRetainedTopics
		for k, hf := range rf.EventHistory {
			rule, err := historyRule(hf)
			if err != nil {
				return nil, bad(fmt.Sprintf("%s.event_history[%d]", at, k), "%v", err)
			}
			rc.EventHistory = append(rc.EventHistory, rule)
		}
		if rf.Roles != nil {
			authz, err := rolesAuthorizer(path, at, rf.Roles)
			if err != nil {
				return nil, err
			}
			for _, u := range uses {
				if _, ok := authz[u.role]; !ok {
					return nil, bad(u.field, "role %q is not in %s.roles (add it, with [] to allow nothing)", u.role, at)
				}
			}
			rc.Authorizer = authz
		}
		out = append(out, rc)
	}
	return out, nil
}

// rolesAuthorizer converts a realm's "roles" (at is the realm's field path).
func rolesAuthorizer(path, at string, roles map[string][]permissionFile) (engine.StaticAuthorizer, error) {
	bad := func(field, format string, args ...any) error {
		return &configError{path: path, field: field, msg: fmt.Sprintf(format, args...)}
	}
	authz := make(engine.StaticAuthorizer, len(roles))
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		perms := make([]engine.Permission, 0, len(roles[role]))
		for k, pf := range roles[role] {
			f := fmt.Sprintf("%s.roles.%s[%d]", at, role, k)
			if pf.URI == nil {
				return nil, bad(f+".uri", `missing (use "" for every URI)`)
			}
			if len(pf.Allow) == 0 {
				return nil, bad(f+".allow", "no actions (want some of publish, subscribe, call, register, all)")
			}
			var acts engine.Action
			for _, name := range pf.Allow {
				a, ok := actionNames[name]
				if !ok {
					return nil, bad(f+".allow", "unknown action %q (want publish, subscribe, call, register or all)", name)
				}
				acts |= a
			}
			perms = append(perms, engine.Permission{Prefix: *pf.URI, Actions: acts})
		}
		authz[role] = perms
	}
	return authz, nil
}

// plausibleURI catches the realm names the engine would refuse, so that the
// error can name the file: non-empty dot-separated components without
// whitespace or '#'.
func plausibleURI(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if part == "" || strings.ContainsAny(part, " \t\n\r\f\v#") {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// realmFlags are the flags -config replaces.
var realmFlags = []string{"realm", "anonymous", "ticket"}

// applyConfigFile loads o.config, fills every listener setting of o that was
// not given as a flag from the file, and returns the file's realms.
func applyConfigFile(o *options) ([]engine.RealmConfig, error) {
	for _, f := range realmFlags {
		if o.set[f] {
			return nil, fmt.Errorf("-%s cannot be combined with -config: configure realms in %s", f, o.config)
		}
	}
	fc, realms, err := loadConfig(o.config)
	if err != nil {
		return nil, err
	}
	str := func(flag string, dst *string, v *string) {
		if v != nil && !o.set[flag] {
			*dst = *v
		}
	}
	num := func(flag string, dst *int, v *int) {
		if v != nil && !o.set[flag] {
			*dst = *v
		}
	}
	if l := fc.Listen; l != nil {
		str("ws", &o.ws, l.WebSocket)
		str("ws-path", &o.wsPath, l.WebSocketPath)
		str("rawsocket", &o.rawsocket, l.RawSocket)
		num("max-message", &o.maxMessage, l.MaxMessage)
		num("max-pending", &o.maxPending, l.MaxPending)
		if l.Compression != nil && !o.set["compression"] {
			o.compression = *l.Compression
		}
		if l.MaxMessage != nil && *l.MaxMessage <= 0 {
			return nil, &configError{path: o.config, field: "listen.max_message", msg: "must be positive"}
		}
		if l.MaxPending != nil && *l.MaxPending <= 0 {
			return nil, &configError{path: o.config, field: "listen.max_pending", msg: "must be positive"}
		}
		dur := func(flag, field string, dst *time.Duration, v *string, zeroOK bool) error {
			if v == nil {
				return nil
			}
			d, err := time.ParseDuration(*v)
			if err != nil || d < 0 || d == 0 && !zeroOK {
				return &configError{path: o.config, field: field, msg: fmt.Sprintf("want a duration like \"30s\", got %q", *v)}
			}
			if !o.set[flag] {
				*dst = d
			}
			return nil
		}
		if err := dur("ping-interval", "listen.ping_interval", &o.pingInterval, l.PingInterval, true); err != nil {
			return nil, err
		}
		if err := dur("ping-timeout", "listen.ping_timeout", &o.pingTimeout, l.PingTimeout, false); err != nil {
			return nil, err
		}
	}
	if fc.LogLevel != nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(*fc.LogLevel)); err != nil {
			return nil, &configError{path: o.config, field: "log_level", msg: fmt.Sprintf("want debug, info, warn or error, got %q", *fc.LogLevel)}
		}
	}
	str("log-level", &o.logLevel, fc.LogLevel)
	if fc.ShutdownGrace != nil {
		d, err := time.ParseDuration(*fc.ShutdownGrace)
		if err != nil || d < 0 {
			return nil, &configError{path: o.config, field: "shutdown_grace", msg: fmt.Sprintf("want a duration like \"3s\", got %q", *fc.ShutdownGrace)}
		}
		if !o.set["shutdown-grace"] {
			o.shutdownGrace = d
		}
	}
	if o.ws == "" && o.rawsocket == "" {
		return nil, fmt.Errorf("%s: both the WebSocket and the RawSocket listener are disabled: nothing to serve", o.config)
	}
	return realms, nil
}

// realmSummary describes the configured realms for the start-up log line.
func realmSummary(realms []engine.RealmConfig) string {
	parts := make([]string, 0, len(realms))
	for _, r := range realms {
		var m []string
		if r.Anonymous {
			m = append(m, "anonymous")
		}
		if len(r.Tickets) > 0 {
			m = append(m, fmt.Sprintf("ticket:%d", len(r.Tickets)))
		}
		if len(r.WampCRA) > 0 {
			m = append(m, fmt.Sprintf("wampcra:%d", len(r.WampCRA)))
		}
		if len(r.Cryptosign) > 0 {
			m = append(m, fmt.Sprintf("cryptosign:%d", len(r.Cryptosign)))
		}
		if r.Authorizer != nil {
			m = append(m, "roles")
		}
		parts = append(parts, r.Name+"("+strings.Join(m, ",")+")")
	}
	return strings.Join(parts, " ")
}

// historyFile is one entry of a realm's "event_history".
type historyFile struct {
	Topic  string `json:"topic"`
	Match  string `json:"match"`   // exact (default), prefix or wildcard
	Limit  int    `json:"limit"`   // events kept per topic; 0: engine default; negative: none
	MaxAge string `json:"max_age"` // a Go duration; "" keeps events until overwritten
}

// historyRule converts and checks one event_history entry.
func historyRule(hf historyFile) (engine.HistoryRule, error) {
	rule := engine.HistoryRule{Topic: hf.Topic, Limit: hf.Limit}
	switch hf.Match {
	case "", "exact":
		rule.Match = engine.MatchExact
	case "prefix":
		rule.Match = engine.MatchPrefix
	case "wildcard":
		rule.Match = engine.MatchWildcard
	default:
		return rule, fmt.Errorf("match %q: want exact, prefix or wildcard", hf.Match)
	}
	if hf.Topic == "" && rule.Match == engine.MatchExact {
		return rule, errors.New("topic: missing")
	}
	if hf.MaxAge != "" {
		d, err := time.ParseDuration(hf.MaxAge)
		if err != nil || d <= 0 {
			return rule, fmt.Errorf("max_age %q: want a positive Go duration such as 1h", hf.MaxAge)
		}
		rule.MaxAge = d
	}
	return rule, nil
}
