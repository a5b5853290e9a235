package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/wasl-dev/wasl/store"
)

type contactData struct {
	Contact store.ContactDetail
	Convs   []store.InboxRow
	Error   string
}

func (h *Handler) showContact(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.renderContact(w, r, id, http.StatusOK, "")
}

func (h *Handler) renderContact(w http.ResponseWriter, r *http.Request, id int64, status int, errText string) {
	d, convs, err := h.svc.Contact(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(r, "")
	p.Title = d.DisplayName
	if p.Title == "" {
		p.Title = p.T("contact.title")
	}
	p.Data = contactData{Contact: d, Convs: convs, Error: errText}
	h.render(w, r, status, "contact", p)
}

// mergeContact merges the contact numbered in the form into this one.
func (h *Handler) mergeContact(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	other, err := strconv.ParseInt(r.FormValue("other"), 10, 64)
	if err != nil || other <= 0 {
		h.renderContact(w, r, id, http.StatusBadRequest, "bad value for other")
		return
	}
	if _, err := h.svc.Merge(r.Context(), principal(r), id, other); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", id), http.StatusSeeOther)
}

// contactNote adds a note about the person.
func (h *Handler) contactNote(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := h.svc.ContactNote(r.Context(), principal(r), id, r.FormValue("note")); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", id), http.StatusSeeOther)
}

// undoMerge undoes a merge.
func (h *Handler) undoMerge(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	m, err := h.svc.UndoMerge(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", m.KeptID), http.StatusSeeOther)
}
