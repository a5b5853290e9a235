package web

import "net/http"

// setStatus moves the ticket to open, pending (on the customer or on
// supply) or in progress.
func (h *Handler) setStatus(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		status, waiting := r.PostForm.Get("status"), ""
		if status == "pending_supply" {
			status, waiting = "pending", "supply"
		}
		return h.svc.SetStatus(r.Context(), principal(r), id, status, waiting)
	})
}
