package web

import "net/http"

// setStatus moves the ticket to open, transferred, pending or in progress.
func (h *Handler) setStatus(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error { return h.svc.SetStatus(r.Context(), principal(r), id, r.PostForm.Get("status")) })
}
