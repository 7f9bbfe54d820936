package main

import (
	"strings"
	"testing"
	"time"
)

func TestKeepaliveFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.pingInterval != 30*time.Second || o.pingTimeout != 10*time.Second {
		t.Errorf("defaults: interval %v timeout %v, want 30s 10s", o.pingInterval, o.pingTimeout)
	}
	o, err = parseFlags([]string{"-ping-interval", "5s", "-ping-timeout", "2s"})
	if err != nil || o.pingInterval != 5*time.Second || o.pingTimeout != 2*time.Second {
		t.Errorf("flags: %v %v %v", o.pingInterval, o.pingTimeout, err)
	}
	if o, err = parseFlags([]string{"-ping-interval", "0"}); err != nil || keepaliveInterval(o.pingInterval) >= 0 {
		t.Errorf("-ping-interval 0 must disable keepalive: %v %v", keepaliveInterval(o.pingInterval), err)
	}
	for _, args := range [][]string{{"-ping-interval", "-1s"}, {"-ping-timeout", "0s"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestKeepaliveConfigFile(t *testing.T) {
	const realms = `"realms": [{"name": "r", "anonymous": true}]`
	p := writeConfig(t, `{"listen": {"ping_interval": "1m", "ping_timeout": "3s"}, `+realms+`}`)
	o, err := parseFlags([]string{"-config", p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyConfigFile(&o); err != nil {
		t.Fatal(err)
	}
	if o.pingInterval != time.Minute || o.pingTimeout != 3*time.Second {
		t.Errorf("from file: %v %v", o.pingInterval, o.pingTimeout)
	}
	// A flag overrides the file.
	o, _ = parseFlags([]string{"-config", p, "-ping-interval", "0"})
	if _, err := applyConfigFile(&o); err != nil || o.pingInterval != 0 || o.pingTimeout != 3*time.Second {
		t.Errorf("flag over file: %v %v %v", o.pingInterval, o.pingTimeout, err)
	}
	for _, tc := range []struct{ listen, want string }{
		{`{"ping_interval": "often"}`, "listen.ping_interval: want a duration"},
		{`{"ping_interval": "-1s"}`, "listen.ping_interval: want a duration"},
		{`{"ping_timeout": "0s"}`, "listen.ping_timeout: want a duration"},
	} {
		o, _ := parseFlags([]string{"-config", writeConfig(t, `{"listen": `+tc.listen+`, `+realms+`}`)})
		if _, err := applyConfigFile(&o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.listen, err, tc.want)
		}
	}
}
