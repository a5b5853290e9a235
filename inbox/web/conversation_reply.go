package web

import (
	"fmt"
	"net/http"
)

// reply sends a staff reply; the page comes back with ?sent=1 so the
// composer's saved draft is dropped.
func (h *Handler) reply(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		_, err := h.svc.Reply(r.Context(), principal(r), id, r.PostForm.Get("body"))
		if err == nil {
			http.Redirect(w, r, fmt.Sprintf("/conversations/%d?sent=1#composer", id), http.StatusSeeOther)
			return errHandled
		}
		return err
	})
}
