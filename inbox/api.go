// Package inbox is Wasl's HTTP face: health, the JSON API staff tools read,
// and (in later work) the web inbox and operator pages. Every route except
// the health checks is authenticated.
package inbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// Store is what the API reads.
type Store interface {
	Ping(ctx context.Context) error
	ConversationPage(ctx context.Context, id int64, p store.MessagePage) (store.ConversationDetail, error)
	ListTickets(ctx context.Context, f store.TicketFilter) ([]store.Ticket, error)
	Ticket(ctx context.Context, id int64) (store.Ticket, []store.TicketEvent, error)
}

// API serves /api/v1 and the health checks.
type API struct {
	store Store
	authn *Auth
	svc   *Service
	log   *slog.Logger
}

// NewAPI builds the API; auth decides who may call it.
func NewAPI(st Store, auth *Auth, svc *Service, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{store: st, authn: auth, svc: svc, log: log}
}

// Routes is where handlers are mounted: an inbox.Mux, or an
// http.ServeMux in tests.
type Routes interface {
	Handle(pattern string, h http.Handler)
}

// Register mounts the routes on mux.
func (a *API) Register(mux Routes) {
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("GET /readyz", http.HandlerFunc(a.ready))
	mux.Handle("GET /api/v1/conversations", a.auth(a.inboxList))
	mux.Handle("GET /api/v1/conversations/{id}", a.auth(a.visibleConversation(a.conversation)))
	mux.Handle("GET /api/v1/tickets", a.auth(a.scopedTickets(a.tickets)))
	mux.Handle("GET /api/v1/tickets/{id}", a.auth(a.visibleTicket(a.ticket)))
	a.registerActions(mux)
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.WarnContext(ctx, "not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) auth(h http.HandlerFunc) http.Handler { return a.authn.RequireAPI(h) }

// Authorized reports whether r carries the bearer token. An empty token
// authorizes nothing.
func Authorized(r *http.Request, token string) bool {
	h := r.Header.Get("Authorization")
	// The scheme name is case-insensitive (RFC 9110).
	if token == "" || len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[7:]), []byte(token)) == 1
}

// conversation serves one page of a conversation: its newest messages
// (?limit=, default 50) or those before ?before=<message id>, oldest first
// within the page; next_before, when set, is the ?before= of the older page.
// Message HTML is served as stored: the channel sanitized and capped it at
// ingest, once, instead of on every read.
func (a *API) conversation(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "conversation id must be a positive integer")
		return
	}
	limit, before, ok := page(w, r.URL.Query())
	if !ok {
		return
	}
	c, err := a.store.ConversationPage(r.Context(), id, store.MessagePage{Limit: int(limit), BeforeID: before})
	if errors.Is(err, store.ErrNotFound) {
		msg := "no such conversation"
		if before != 0 {
			msg = "no such conversation, or no message " + strconv.FormatInt(before, 10) + " in it (before)"
		}
		writeError(w, http.StatusNotFound, "not_found", msg)
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (a *API) tickets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, before, ok := page(w, q)
	if !ok {
		return
	}
	if s := q.Get("status"); s != "" {
		if _, err := tickets.ParseStatus(s); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	}
	list, err := a.store.ListTickets(r.Context(), store.TicketFilter{Status: q.Get("status"), Department: q.Get("department"), Limit: int(limit), BeforeID: before})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tickets": nonNil(list)})
}

func (a *API) ticket(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "ticket id must be a positive integer")
		return
	}
	t, events, err := a.store.Ticket(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such ticket")
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ticket": t, "events": nonNil(events)})
}

func (a *API) serverError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "api", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

// page reads ?limit= (default 50, at most 500) and ?before= (an id), or
// answers 400 and reports false.
func page(w http.ResponseWriter, q url.Values) (limit, before int64, ok bool) {
	limit, err := intParam(q.Get("limit"), 50, 1, 500)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "limit: "+err.Error())
		return 0, 0, false
	}
	if before, err = intParam(q.Get("before"), 0, 0, 1<<62); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "before: "+err.Error())
		return 0, 0, false
	}
	return limit, before, true
}

func intParam(s string, def, min, max int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, errors.New("want an integer between " + strconv.FormatInt(min, 10) + " and " + strconv.FormatInt(max, 10))
	}
	return v, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// writeError answers {"error": {"code": …, "message": …}}; code is a
// stable word for programs, message a sentence for people.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
