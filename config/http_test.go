package config

import (
	"strings"
	"testing"
	"time"
)

func TestHTTPDefaults(t *testing.T) {
	cfg, err := Parse([]byte("knowledge_bank: b\n"), "w.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP
	for _, d := range []struct {
		name      string
		got, want time.Duration
	}{
		{"read_header_timeout", time.Duration(h.ReadHeaderTimeout), DefaultReadHeaderTimeout},
		{"read_timeout", time.Duration(h.ReadTimeout), DefaultReadTimeout},
		{"write_timeout", time.Duration(h.WriteTimeout), DefaultWriteTimeout},
		{"idle_timeout", time.Duration(h.IdleTimeout), DefaultIdleTimeout},
		{"webhook_wait", time.Duration(h.WebhookWait), DefaultWebhookWait},
	} {
		if d.got != d.want || d.got <= 0 {
			t.Errorf("%s = %s, want %s", d.name, d.got, d.want)
		}
	}
	if h.MaxConnections != DefaultMaxConnections || h.MaxWebhooks != 0 || h.AdminAddr != "" {
		t.Errorf("max_connections %d, max_webhooks %d, admin_addr %q", h.MaxConnections, h.MaxWebhooks, h.AdminAddr)
	}
}

func TestHTTPValidation(t *testing.T) {
	tests := []struct {
		name, http, want string
	}{
		{"negative timeout", "read_timeout: -1s", `w.yaml:3: read_timeout: invalid duration "-1s"`},
		{"header longer than request", "read_header_timeout: 1m\n  read_timeout: 10s", "must not exceed http.read_timeout"},
		{"no connections", "max_connections: -1", "http.max_connections must be at least 1"},
		{"negative webhooks", "max_webhooks: -2", "http.max_webhooks must not be negative"},
		{"webhooks above connections", "max_connections: 10\n  max_webhooks: 10", "must be below http.max_connections"},
		{"bad admin addr", "admin_addr: localhost", `http.admin_addr "localhost"`},
		{"admin on the public addr", "addr: 127.0.0.1:8080\n  admin_addr: 127.0.0.1:8080", "must differ from http.addr"},
		{"bad duration", "idle_timeout: forever", `invalid duration "forever"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("knowledge_bank: b\nhttp:\n  "+tt.http+"\n"), "w.yaml", env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// Both on port 0 (tests) is two free ports, not one address.
	if _, err := Parse([]byte("knowledge_bank: b\nhttp: {addr: '127.0.0.1:0', admin_addr: '127.0.0.1:0'}\n"), "w.yaml", env(nil)); err != nil {
		t.Errorf("addr and admin_addr on port 0: %v", err)
	}
}

func TestDrainTimeout(t *testing.T) {
	cfg, err := Parse([]byte("knowledge_bank: b\njobs: {drain_timeout: 45s}\n"), "w.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Jobs.DrainTimeout) != 45*time.Second {
		t.Errorf("drain_timeout = %s", time.Duration(cfg.Jobs.DrainTimeout))
	}
	if _, err := Parse([]byte("knowledge_bank: b\njobs: {drain_timeout: -1s}\n"), "w.yaml", env(nil)); err == nil || !strings.Contains(err.Error(), "drain_timeout") {
		t.Errorf("negative drain_timeout: %v", err)
	}
}
