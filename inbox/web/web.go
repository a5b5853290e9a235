// Package web is the staff inbox: server-rendered pages (html/template) with
// their stylesheet and a little JavaScript embedded, in Arabic (RTL) and
// English. Following miniflux's ui package, each page or action is one
// small file with a method on Handler; templates sit in templates/.
//
// Every route but /login and /static/ needs a session; every state change
// is a POST, which the gateway's inbox.Mux refuses from other origins.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Registrar is where routes go (an inbox.Mux or an http.ServeMux).
type Registrar interface {
	Handle(pattern string, h http.Handler)
}

// Config is what the inbox needs.
type Config struct {
	Store   *store.Store
	Auth    *inbox.Auth
	Service *inbox.Service
	// Operator serves the operator pages; nil leaves them out.
	Operator *inbox.Operator
	Bank     *replies.Bank
	// Live feeds the server-sent events; nil disables live updates.
	Live *inbox.Hub
	// Calls is whether a phone channel is configured, and with it the
	// "log a call" page (package calls), which the navigation then links.
	Calls bool
	Log   *slog.Logger
	Now   func() time.Time
}

// Handler serves the inbox.
type Handler struct {
	store   *store.Store
	auth    *inbox.Auth
	svc     *inbox.Service
	op      *inbox.Operator
	bank    *replies.Bank
	live    *inbox.Hub
	calls   bool
	log     *slog.Logger
	now     func() time.Time
	pages   map[string]*template.Template
	static  fs.FS
	display *bluemonday.Policy // email HTML as shown, remote images dropped
	images  *bluemonday.Policy // the same, remote images kept ("show images")
	zone    *time.Location     // the bank's, for users without their own
}

// New builds the inbox and parses its templates.
func New(cfg Config) (*Handler, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{store: cfg.Store, auth: cfg.Auth, svc: cfg.Service, op: cfg.Operator, bank: cfg.Bank, live: cfg.Live, calls: cfg.Calls, log: cfg.Log, now: cfg.Now,
		pages: map[string]*template.Template{}, zone: time.UTC}
	if b := h.knowledge(); b != nil && b.Calendar() != nil {
		h.zone = b.Calendar().Location()
	}
	var err error
	if h.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, err
	}
	h.display, h.images = emailPolicy(false), emailPolicy(true)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := n[len("templates/") : len(n)-len(".html")]
		if base == "layout" || base[0] == '_' {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		h.pages[base] = t
	}
	return h, nil
}

// knowledge is the bank in use: the service's, which an operator's reload
// replaces.
func (h *Handler) knowledge() *replies.Bank {
	if h.svc != nil && h.svc.Bank() != nil {
		return h.svc.Bank()
	}
	return h.bank
}

// Register mounts the inbox's routes.
func (h *Handler) Register(mux Registrar) {
	pub := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, secure(f)) }
	auth := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, secure(h.auth.RequireSession(f))) }

	mux.Handle("GET /static/", secure(http.StripPrefix("/static/", staticHandler(h.static))))
	pub("GET /login", h.showLogin)
	// The satisfaction survey: public, the signed link is the credential.
	pub("GET /survey/{token}", h.showSurvey)
	pub("POST /survey/{token}", h.answerSurvey)
	pub("POST /login", h.checkLogin)
	auth("POST /logout", h.logout)
	auth("POST /language", h.switchLanguage)

	auth("GET /{$}", h.showConversations)
	auth("GET /conversations/{id}", h.showConversation)
	auth("GET /conversations/{id}/timeline", h.showTimeline)
	auth("GET /conversations/{id}/answer", h.bankAnswer)
	auth("POST /conversations/{id}/reply", h.reply)
	auth("POST /conversations/{id}/note", h.note)
	auth("POST /conversations/{id}/assign", h.assign)
	auth("POST /conversations/{id}/transfer", h.transfer)
	auth("POST /conversations/{id}/status", h.setStatus)
	auth("POST /conversations/{id}/close", h.closeConversation)
	auth("POST /conversations/{id}/handback", h.handBack)
	auth("POST /conversations/{id}/snooze", h.snooze)
	auth("POST /outbound/{id}/retry", h.retry)
	auth("GET /attachments/{id}", h.attachment)
	auth("GET /contacts/{id}", h.showContact)
	auth("POST /contacts/{id}/merge", h.mergeContact)
	auth("POST /contacts/{id}/note", h.contactNote)
	auth("POST /merges/{id}/undo", h.undoMerge)
	auth("GET /reports", h.showReports)
	auth("GET /reports/weekly.csv", h.weeklyCSV)
	auth("GET /reports/channels.csv", h.channelsCSV)
	auth("POST /reports/supply/{department}/send", h.sendSupplyList)
	auth("POST /reports/supply/{department}/arrived", h.supplyArrived)
	auth("GET /events", h.events)
	h.registerOperator(mux)
}

// secure sets the headers every inbox response carries. The policy allows
// nothing from elsewhere: no script but ours, no remote images (an email's
// tracking pixel never loads), no framing of our pages.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		if hd.Get("Content-Security-Policy") == "" {
			hd.Set("Content-Security-Policy", csp(false))
		}
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// csp is the page's Content-Security-Policy. An iframe srcdoc inherits it,
// so it also governs the email bodies shown in them; remoteImages is the
// "show images" toggle.
func csp(remoteImages bool) string {
	img := "img-src 'self' data:"
	if remoteImages {
		img = "img-src 'self' data: https: http:"
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " + img +
		"; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets change with the binary; a day is long enough and short
		// enough.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
