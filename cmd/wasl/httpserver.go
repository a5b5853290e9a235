package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/wasl-dev/wasl/config"
)

const (
	// adminMaxConnections caps the admin listener: probes and scrapes.
	adminMaxConnections = 16
	// maxWebhookBody is read before a webhook takes a slot, so a slow body
	// holds a connection, never a database connection. Twilio's are a few
	// KiB (channels/sms allows 256 KiB).
	maxWebhookBody = 256 << 10
	// httpShutdownTimeout bounds the wait for requests in flight at shutdown.
	httpShutdownTimeout = 10 * time.Second
	// webhookRetryAfter is what a webhook refused for lack of a slot is told.
	webhookRetryAfter = "5"
)

// errShuttingDown ends the requests of streaming routes at shutdown.
var errShuttingDown = errors.New("server shutting down")

// newHTTPServer is one listener's server: every timeout from the config,
// and the server's own errors (accept failures such as "too many open
// files", panics in handlers) logged at error level, not dropped to the
// standard logger.
func newHTTPServer(h config.HTTP, handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: time.Duration(h.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(h.ReadTimeout),
		WriteTimeout:      time.Duration(h.WriteTimeout),
		IdleTimeout:       time.Duration(h.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
	}
}

// connLimit caps a listener's open connections: Accept waits for a free
// slot, so a flood queues in the kernel's backlog instead of taking file
// descriptors the database and the connectors need.
type connLimit struct {
	net.Listener
	name string
	max  int64
	log  *slog.Logger

	open     atomic.Int64
	peak     atomic.Int64
	lastWarn atomic.Int64 // unix nanoseconds of the last "cap reached" warning
}

func newConnLimit(ln net.Listener, name string, max int, log *slog.Logger) *connLimit {
	return &connLimit{Listener: netutil.LimitListener(ln, max), name: name, max: int64(max), log: log}
}

func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	if n >= l.max {
		// Once a minute at most: under a flood this would be every accept.
		now, last := time.Now().UnixNano(), l.lastWarn.Load()
		if now-last > int64(time.Minute) && l.lastWarn.CompareAndSwap(last, now) {
			l.log.Warn("http connection cap reached; new connections wait", "listener", l.name, "max_connections", l.max)
		}
	}
	return &countedConn{Conn: c, l: l}, nil
}

// Open is the number of connections open now; Peak the most ever open.
func (l *connLimit) Open() int64 { return l.open.Load() }
func (l *connLimit) Peak() int64 { return l.peak.Load() }

type countedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

// Close counts the connection out before the limit frees its slot, so the
// count never exceeds the cap.
func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// webhookLimit caps the webhooks processed at once below the database
// pool: each holds a connection for its transaction, and a flood must not
// starve the jobs, the connectors and the API. A webhook is read whole
// first, so only database work holds a slot. One that finds no slot within
// wait goes to its route's overflow handler (an inbound SMS: the channel's
// spool, answered 200, since Twilio does not retry a 5xx by default), or
// is answered 503 with Retry-After when the route has none.
type webhookLimit struct {
	slots chan struct{}
	wait  time.Duration
	log   *slog.Logger
}

func newWebhookLimit(n int, wait time.Duration, log *slog.Logger) *webhookLimit {
	return &webhookLimit{slots: make(chan struct{}, n), wait: wait, log: log}
}

// InUse is the number of webhooks being processed.
func (l *webhookLimit) InUse() int { return len(l.slots) }

// Limit applies the limit to next; overflow, if not nil, takes the
// requests that find no slot.
func (l *webhookLimit) Limit(next, overflow http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			// Most often the read timeout: a client too slow to send its body.
			http.Error(w, "cannot read request body", http.StatusRequestTimeout)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		t := time.NewTimer(l.wait)
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
		case <-t.C:
			if overflow != nil {
				overflow.ServeHTTP(w, r)
				return
			}
			l.log.Warn("webhook refused: every slot busy", "path", r.URL.Path, "max_webhooks", cap(l.slots), "remote", r.RemoteAddr)
			w.Header().Set("Retry-After", webhookRetryAfter)
			http.Error(w, "busy, retry later", http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
		defer func() { <-l.slots }()
		next.ServeHTTP(w, r)
	})
}

// streaming marks a route whose response outlives the write timeout (the
// inbox's server-sent events): it lifts this request's write deadline (the
// read deadline is lifted by net/http itself once a bodiless request is
// read), and ends the request's context when shutdown begins, because
// Shutdown waits for every handler and a stream never ends by itself.
// Mount a stream as mux.Handle("GET /events", a.streaming(h)); h returns
// when r.Context() ends.
func (a *app) streaming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
			a.log.Error("streaming route: cannot lift the write deadline", "path", r.URL.Path, "err", err)
			http.Error(w, "streaming not supported here", http.StatusInternalServerError)
			return
		}
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		stop := context.AfterFunc(a.stopping, func() { cancel(errShuttingDown) })
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// listeners are the open sockets serve serves on: the public one and,
// when configured, the admin one; both capped.
type listeners struct {
	public *connLimit
	admin  *connLimit // nil without http.admin_addr
}

// listen opens the configured listeners.
func (a *app) listen() (*listeners, error) {
	h := a.cfg.HTTP
	ln, err := net.Listen("tcp", h.Addr)
	if err != nil {
		return nil, err
	}
	ls := &listeners{public: newConnLimit(ln, "public", h.MaxConnections, a.log)}
	if h.AdminAddr != "" {
		aln, err := net.Listen("tcp", h.AdminAddr)
		if err != nil {
			ln.Close()
			return nil, err
		}
		ls.admin = newConnLimit(aln, "admin", adminMaxConnections, a.log)
	}
	return ls, nil
}

func (ls *listeners) close() {
	ls.public.Close()
	if ls.admin != nil {
		ls.admin.Close()
	}
}

// adminHandler serves the probes and the metrics from the public mux.
func (a *app) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", a.mux)
	mux.Handle("GET /readyz", a.mux)
	mux.Handle("GET /metrics", a.metrics)
	return mux
}
