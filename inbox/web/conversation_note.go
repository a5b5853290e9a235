package web

import "net/http"

// note adds an internal note.
func (h *Handler) note(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error { return h.svc.Note(r.Context(), principal(r), id, r.PostForm.Get("note")) })
}
