package web

import (
	"fmt"
	"net/http"
)

// retry queues a failed reply again.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	o, err := h.svc.Retry(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/conversations/%d", o.ConversationID), http.StatusSeeOther)
}
