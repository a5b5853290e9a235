package web

import (
	"net/http"
	"time"
)

// snooze hides the conversation until a time in the viewer's zone.
func (h *Handler) snooze(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		p := h.newPage(r, "")
		until, err := time.ParseInLocation("2006-01-02T15:04", r.PostForm.Get("until"), p.loc)
		if err != nil {
			return invalidForm("until")
		}
		return h.svc.Snooze(r.Context(), principal(r), id, until)
	})
}
