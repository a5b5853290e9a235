package web

import "net/http"

// closeConversation closes with an outcome and sends the closing message.
func (h *Handler) closeConversation(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		_, err := h.svc.Close(r.Context(), principal(r), id, r.PostForm.Get("outcome"), r.PostForm.Get("reason"), r.PostForm.Get("reply"))
		return err
	})
}
