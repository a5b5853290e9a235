// Package forms is the channel of the public service-request forms: one
// page per service of the knowledge bank that has a form (GET
// /forms/{topic}), in Arabic (right to left) and English, plain
// server-rendered HTML that works on a phone and without JavaScript, and
// may be embedded in the university's site from the origins the operator
// lists. A submission is checked field by field and becomes a
// message.Inbound — its answers kept as fields, its topic declared, its
// acknowledgement routed by email (and SMS or WhatsApp when asked) — that
// the pipeline stores in one transaction like any other message.
//
// Abuse is bounded without a third party: a honeypot field, a minimum fill
// time measured from a signed issue time, a per-address and a per-contact
// rate limit, a body limit, and upload limits (images and PDF, by
// content). Every refusal is counted in /metrics and creates nothing.
package forms

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/form.css
var formCSS []byte

// Ingester stores a submission and everything it causes in one
// transaction (the pipeline).
type Ingester interface {
	Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error)
}

// Store is what the pages read (the store).
type Store interface {
	// SubmissionTicket is what the submission stored as externalID on the
	// channel became: its ticket's reference, and whether it is stored.
	SubmissionTicket(ctx context.Context, channelID int64, externalID string) (ref, topic string, found bool, err error)
	// CountFromIdentities counts the channel's messages since a time from
	// the contacts with any of the identities.
	CountFromIdentities(ctx context.Context, channelID int64, ids []message.Party, since time.Time) (int, error)
}

// Limit is at most Max in Within.
type Limit struct {
	Max    int
	Within time.Duration
}

// Route is a channel an acknowledgement can go out by.
type Route struct {
	ChannelID int64
	Kind      message.Kind
}

// Config is the form channel.
type Config struct {
	ChannelID int64
	Bank      *replies.Bank
	// Key signs each page's issue time (32 bytes, the same on every
	// replica).
	Key []byte
	// Region reads local phone numbers ("SA").
	Region string
	// Email sends the acknowledgement; SMS and WhatsApp are offered to a
	// customer who gives a mobile number. A zero Route is not offered.
	Email, SMS, WhatsApp Route
	// FrameAncestors may embed the pages (checked origins).
	FrameAncestors []string
	MinFillTime    time.Duration // default 3s
	MaxAge         time.Duration // default 24h
	PerIP          Limit         // default 20 per hour
	PerContact     Limit         // default 5 per 24h
	MaxUploadBytes int64         // default 5 MiB, each file
	// TrustForwarded takes the client's address from the last
	// X-Forwarded-For entry (the reverse proxy's).
	TrustForwarded bool
	// Counter counts submissions by outcome (NewCounter); nil makes one.
	Counter *prometheus.CounterVec
	Now     func() time.Time
	Log     *slog.Logger
}

// Outcomes of a submission, as /metrics counts them.
const (
	outcomeAccepted    = "accepted"
	outcomeDuplicate   = "duplicate"
	outcomeInvalid     = "invalid"
	outcomeHoneypot    = "honeypot"
	outcomeTooFast     = "too_fast"
	outcomeExpired     = "expired"
	outcomeBadToken    = "bad_token"
	outcomeRateIP      = "rate_ip"
	outcomeRateContact = "rate_contact"
	outcomeTooLarge    = "too_large"
	outcomeFailed      = "failed" // the store could not take it
)

var outcomes = []string{outcomeAccepted, outcomeDuplicate, outcomeInvalid, outcomeHoneypot, outcomeTooFast, outcomeExpired,
	outcomeBadToken, outcomeRateIP, outcomeRateContact, outcomeTooLarge, outcomeFailed}

// Handler serves the forms.
type Handler struct {
	cfg     Config
	store   Store
	ingest  Ingester
	pages   map[string]*template.Template
	zone    *time.Location
	perIP   *limiter
	counted *prometheus.CounterVec
	csp     string
	log     *slog.Logger
}

// New builds the forms of cfg.Bank.
func New(cfg Config, st Store, in Ingester) (*Handler, error) {
	if cfg.Bank == nil || cfg.ChannelID == 0 || len(cfg.Key) < 16 {
		return nil, fmt.Errorf("forms: a bank, a channel id and a key are needed")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinFillTime, 3*time.Second)
	def(&cfg.MaxAge, 24*time.Hour)
	if cfg.PerIP.Max <= 0 {
		cfg.PerIP.Max = 20
	}
	def(&cfg.PerIP.Within, time.Hour)
	if cfg.PerContact.Max <= 0 {
		cfg.PerContact.Max = 5
	}
	def(&cfg.PerContact.Within, 24*time.Hour)
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 5 << 20
	}
	if cfg.Region == "" {
		cfg.Region = "SA"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	h := &Handler{cfg: cfg, store: st, ingest: in, pages: map[string]*template.Template{}, zone: time.UTC,
		perIP: newLimiter(cfg.PerIP.Max, cfg.PerIP.Within), log: cfg.Log, counted: cfg.Counter}
	if h.counted == nil {
		h.counted = NewCounter()
	}
	if c := cfg.Bank.Calendar(); c != nil && c.Location() != nil {
		h.zone = c.Location()
	}
	h.csp = policy(cfg.FrameAncestors)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(template.FuncMap{"add": func(a, b int) int { return a + b }}).
			ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("forms: template %s: %w", n, err)
		}
		h.pages[base] = t
	}
	return h, nil
}

// NewCounter is the submissions counter, for /metrics; the metrics
// handler is made before the channels are, so the caller makes it first.
func NewCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wasl_form_submissions_total",
		Help: "Form submissions by outcome: accepted, duplicate (a second click), and every refusal (invalid, honeypot, too_fast, expired, bad_token, rate_ip, rate_contact, too_large, failed); this replica's count since it started.",
	}, []string{"outcome"})
	for _, o := range outcomes {
		c.WithLabelValues(o) // every series exists from the start
	}
	return c
}

// Registrar is where routes go (an inbox.Mux or an http.ServeMux).
type Registrar interface {
	Handle(pattern string, h http.Handler)
}

// Paths serve without credentials; they are the gateway's only public
// pages besides sign-in and the health checks.
func (h *Handler) Register(mux Registrar) {
	mux.Handle("GET /forms/{$}", h.secure(http.HandlerFunc(h.showIndex)))
	mux.Handle("GET /forms/form.css", h.secure(http.HandlerFunc(h.stylesheet)))
	mux.Handle("GET /forms/{topic}", h.secure(http.HandlerFunc(h.showForm)))
	mux.Handle("POST /forms/{topic}", h.secure(http.HandlerFunc(h.submit)))
	mux.Handle("GET /forms/{topic}/sent/{key}", h.secure(http.HandlerFunc(h.showSent)))
}

// policy is the pages' Content-Security-Policy: nothing but our stylesheet
// and our own form target, no script at all, and framing only by the
// listed origins.
func policy(ancestors []string) string {
	fa := "'none'"
	if len(ancestors) > 0 {
		fa = strings.Join(ancestors, " ")
	}
	return "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors " + fa
}

func (h *Handler) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", h.csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		// The sent page's address holds the submission key.
		hd.Set("Referrer-Policy", "no-referrer")
		if len(h.cfg.FrameAncestors) == 0 {
			hd.Set("X-Frame-Options", "DENY")
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(formCSS)
}

// clientIP is the address a submission came from: the TCP peer, or behind
// a trusted reverse proxy the address it appended to X-Forwarded-For.
func (h *Handler) clientIP(r *http.Request) string {
	if h.cfg.TrustForwarded {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// lang is the page's language: the form's own field on a post, ?lang= on
// a link, else the browser's preference; Arabic by default.
func lang(r *http.Request) string {
	l := r.URL.Query().Get("lang")
	if r.Method == http.MethodPost {
		l = r.PostFormValue("lang")
	}
	switch {
	case l == "en" || l == "ar":
		return l
	case l == "" && strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en"):
		return "en"
	}
	return "ar"
}
