package web

import "net/http"

// transfer moves the ticket to another department, with a note.
func (h *Handler) transfer(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		return h.svc.Transfer(r.Context(), principal(r), id, r.PostForm.Get("department"), r.PostForm.Get("note"))
	})
}
