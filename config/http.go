package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// The HTTP defaults. Twilio's webhooks and API calls are a few KiB, so 30
// seconds for a whole request is generous; a keep-alive connection that
// idles for a minute is closed; 512 connections is far more than a
// customer-service unit's staff and Twilio's bursts need, and far below
// the file descriptors a process gets.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = time.Minute
	DefaultMaxConnections    = 512
	DefaultWebhookWait       = 2 * time.Second
)

func (h *HTTP) defaults() {
	set := func(d *Duration, def time.Duration) {
		if *d == 0 {
			*d = Duration(def)
		}
	}
	set(&h.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&h.ReadTimeout, DefaultReadTimeout)
	set(&h.WriteTimeout, DefaultWriteTimeout)
	set(&h.IdleTimeout, DefaultIdleTimeout)
	set(&h.WebhookWait, DefaultWebhookWait)
	if h.MaxConnections == 0 {
		h.MaxConnections = DefaultMaxConnections
	}
}

func (h HTTP) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	// Negative durations are refused when the file is read
	// (message.ParseDuration), with their line and key.
	if h.ReadHeaderTimeout > h.ReadTimeout {
		bad("http.read_header_timeout (%s) must not exceed http.read_timeout (%s)", time.Duration(h.ReadHeaderTimeout), time.Duration(h.ReadTimeout))
	}
	if h.MaxConnections < 1 {
		bad("http.max_connections must be at least 1")
	}
	if h.MaxWebhooks < 0 {
		bad("http.max_webhooks must not be negative (0 means half the database pool)")
	} else if h.MaxWebhooks >= h.MaxConnections {
		bad("http.max_webhooks (%d) must be below http.max_connections (%d)", h.MaxWebhooks, h.MaxConnections)
	}
	if h.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(h.AdminAddr); err != nil {
			bad("http.admin_addr %q: want host:port", h.AdminAddr)
		} else if h.AdminAddr == h.Addr && !strings.HasSuffix(h.Addr, ":0") {
			bad("http.admin_addr must differ from http.addr")
		}
	}
	return errs
}
