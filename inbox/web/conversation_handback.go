package web

import (
	"net/http"

	"github.com/wasl-dev/wasl/inbox"
)

// handBack records the department's outcome and reply and hands the
// ticket back to the front desk.
func (h *Handler) handBack(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		return h.svc.HandBack(r.Context(), principal(r), id, inbox.Handback{
			Outcome: r.PostForm.Get("outcome"), Reason: r.PostForm.Get("reason"),
			Date: r.PostForm.Get("date"), Reply: r.PostForm.Get("reply"),
		})
	})
}
