package inbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// registerActions mounts what staff do, the same actions the web inbox
// offers, each as JSON.
func (a *API) registerActions(mux Routes) {
	mux.Handle("GET /api/v1/openapi.json", a.auth(a.openAPI))
	mux.Handle("GET /api/v1/me", a.auth(a.me))
	mux.Handle("GET /api/v1/me/tokens", a.auth(a.myTokens))
	mux.Handle("POST /api/v1/me/tokens", a.auth(a.newToken))
	mux.Handle("DELETE /api/v1/me/tokens/{id}", a.auth(a.revokeToken))
	mux.Handle("GET /api/v1/users", a.auth(a.users))
	mux.Handle("GET /api/v1/conversations/{id}/history", a.auth(a.history))
	mux.Handle("POST /api/v1/conversations/{id}/messages", a.auth(a.reply))
	mux.Handle("POST /api/v1/conversations/{id}/notes", a.auth(a.note))
	mux.Handle("POST /api/v1/conversations/{id}/assign", a.auth(a.assign))
	mux.Handle("POST /api/v1/conversations/{id}/transfer", a.auth(a.transfer))
	mux.Handle("POST /api/v1/conversations/{id}/status", a.auth(a.status))
	mux.Handle("POST /api/v1/conversations/{id}/close", a.auth(a.close))
	mux.Handle("POST /api/v1/conversations/{id}/handback", a.auth(a.handback))
	mux.Handle("POST /api/v1/conversations/{id}/snooze", a.auth(a.snooze))
	mux.Handle("POST /api/v1/outbound/{id}/retry", a.auth(a.retry))
	mux.Handle("GET /api/v1/contacts/{id}", a.auth(a.contact))
	mux.Handle("POST /api/v1/contacts/{id}/notes", a.auth(a.contactNote))
	mux.Handle("POST /api/v1/contacts/{id}/merge", a.auth(a.merge))
	mux.Handle("POST /api/v1/merges/{id}/undo", a.auth(a.undoMerge))
}

func principalOf(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

// fail answers an error with the status its kind calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", "you may not see or change this")
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such thing")
	case errors.As(err, &inv):
		writeError(w, http.StatusBadRequest, "invalid", inv.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	default:
		a.serverError(w, r, err)
	}
}

func idParam(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("id must be a positive integer")
	}
	return id, nil
}

// decode reads a JSON body of at most 256 KiB into v, refusing unknown
// fields so a typo is an error, not a silent no-op.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("body: %v", err)
	}
	return nil
}

// withID parses the path id and the JSON body, then runs fn.
func (a *API) withID(w http.ResponseWriter, r *http.Request, body any, fn func(id int64) error) {
	id, err := idParam(r)
	if err == nil && body != nil {
		err = decode(r, body)
	}
	if err == nil {
		err = fn(id)
	}
	if err != nil {
		a.fail(w, r, err)
	}
}

func (a *API) inboxList(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.svc.store.InboxList(r.Context(), a.svc.Scope(principalOf(r), f))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": list})
}

// visibleConversation answers 403 for a conversation the principal may
// not see, before h reads it.
func (a *API) visibleConversation(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r)
		if err == nil {
			_, err = a.svc.Conversation(r.Context(), principalOf(r), id)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

// visibleTicket answers 403 for a ticket of a conversation the principal
// may not see.
func (a *API) visibleTicket(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if p.Operator() {
			h(w, r)
			return
		}
		id, err := idParam(r)
		var t store.Ticket
		if err == nil {
			t, _, err = a.store.Ticket(r.Context(), id)
		}
		switch {
		case err != nil:
		case t.ConversationID != 0:
			_, err = a.svc.Conversation(r.Context(), p, t.ConversationID)
		case !p.User.InDepartment(t.Department):
			err = ErrForbidden
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

// scopedTickets lets an agent list only the tickets of a department of
// theirs (?department= is then required).
func (a *API) scopedTickets(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if d := r.URL.Query().Get("department"); !p.Operator() && (d == "" || !p.User.InDepartment(d)) {
			writeError(w, http.StatusForbidden, "forbidden", "agents list the tickets of one of their departments: ?department=")
			return
		}
		h(w, r)
	}
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if p.System {
		writeJSON(w, http.StatusOK, map[string]any{"system": true, "role": store.RoleOperator})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": p.User})
}

func (a *API) users(w http.ResponseWriter, r *http.Request) {
	if !principalOf(r).Operator() {
		writeError(w, http.StatusForbidden, "forbidden", "operators only")
		return
	}
	list, err := a.svc.store.Users(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": nonNil(list)})
}

func (a *API) myTokens(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if p.System {
		writeError(w, http.StatusBadRequest, "invalid", "the deployment token has no personal tokens")
		return
	}
	list, err := a.svc.store.APITokens(r.Context(), p.User.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": nonNil(list)})
}

func (a *API) newToken(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	var body struct {
		Name string `json:"name"`
	}
	if err := decode(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if p.System {
		writeError(w, http.StatusBadRequest, "invalid", "the deployment token has no personal tokens")
		return
	}
	tok, t, err := a.authn.NewAPIToken(r.Context(), p.User.ID, body.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "api_token": t})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	a.withID(w, r, nil, func(id int64) error {
		if p.System {
			return invalid("the deployment token has no personal tokens")
		}
		if err := a.svc.store.RevokeAPIToken(r.Context(), p.User.ID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (a *API) history(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, nil, func(id int64) error {
		c, err := a.svc.Conversation(r.Context(), principalOf(r), id)
		if err != nil {
			return err
		}
		items, err := a.svc.History(r.Context(), principalOf(r), c.ContactID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"conversation": c, "history": nonNil(items)})
		return nil
	})
}

type bodyRequest struct {
	Body string `json:"body"`
}

func (a *API) reply(w http.ResponseWriter, r *http.Request) {
	var b bodyRequest
	a.withID(w, r, &b, func(id int64) error {
		o, err := a.svc.Reply(r.Context(), principalOf(r), id, b.Body)
		if err == nil {
			w.Header().Set("Location", fmt.Sprintf("/api/v1/conversations/%d", id))
			writeJSON(w, http.StatusCreated, map[string]any{"outbound": o})
		}
		return err
	})
}

func (a *API) note(w http.ResponseWriter, r *http.Request) {
	var b bodyRequest
	a.withID(w, r, &b, func(id int64) error {
		err := a.svc.Note(r.Context(), principalOf(r), id, b.Body)
		if err == nil {
			writeJSON(w, http.StatusCreated, map[string]any{"status": "ok"})
		}
		return err
	})
}

func (a *API) assign(w http.ResponseWriter, r *http.Request) {
	var b struct {
		UserID int64  `json:"user_id"`
		Note   string `json:"note"`
	}
	a.withID(w, r, &b, func(id int64) error { return a.ok(w, a.svc.Assign(r.Context(), principalOf(r), id, b.UserID, b.Note)) })
}

func (a *API) transfer(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Department string `json:"department"`
		Note       string `json:"note"`
	}
	a.withID(w, r, &b, func(id int64) error {
		return a.ok(w, a.svc.Transfer(r.Context(), principalOf(r), id, b.Department, b.Note))
	})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Status    string `json:"status"`
		WaitingOn string `json:"waiting_on"`
	}
	a.withID(w, r, &b, func(id int64) error {
		return a.ok(w, a.svc.SetStatus(r.Context(), principalOf(r), id, b.Status, b.WaitingOn))
	})
}

func (a *API) close(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
		Reply   string `json:"reply"`
	}
	a.withID(w, r, &b, func(id int64) error {
		o, err := a.svc.Close(r.Context(), principalOf(r), id, b.Outcome, b.Reason, b.Reply)
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"status": "closed", "outbound": o})
		}
		return err
	})
}

func (a *API) handback(w http.ResponseWriter, r *http.Request) {
	var b Handback
	a.withID(w, r, &b, func(id int64) error { return a.ok(w, a.svc.HandBack(r.Context(), principalOf(r), id, b)) })
}

func (a *API) snooze(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Until time.Time `json:"until"`
	}
	a.withID(w, r, &b, func(id int64) error { return a.ok(w, a.svc.Snooze(r.Context(), principalOf(r), id, b.Until)) })
}

func (a *API) retry(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, nil, func(id int64) error {
		o, err := a.svc.Retry(r.Context(), principalOf(r), id)
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"outbound": o})
		}
		return err
	})
}

func (a *API) contact(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, nil, func(id int64) error {
		d, convs, err := a.svc.Contact(r.Context(), principalOf(r), id)
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"contact": d, "conversations": convs})
		}
		return err
	})
}

func (a *API) contactNote(w http.ResponseWriter, r *http.Request) {
	var b bodyRequest
	a.withID(w, r, &b, func(id int64) error {
		err := a.svc.ContactNote(r.Context(), principalOf(r), id, b.Body)
		if err == nil {
			writeJSON(w, http.StatusCreated, map[string]any{"status": "ok"})
		}
		return err
	})
}

func (a *API) merge(w http.ResponseWriter, r *http.Request) {
	var b struct {
		OtherID int64 `json:"other_id"`
	}
	a.withID(w, r, &b, func(id int64) error {
		m, err := a.svc.Merge(r.Context(), principalOf(r), id, b.OtherID)
		if err == nil {
			writeJSON(w, http.StatusCreated, map[string]any{"merge": m})
		}
		return err
	})
}

func (a *API) undoMerge(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, nil, func(id int64) error {
		m, err := a.svc.UndoMerge(r.Context(), principalOf(r), id)
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"merge": m})
		}
		return err
	})
}

func (a *API) ok(w http.ResponseWriter, err error) error {
	if err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	}
	return err
}
