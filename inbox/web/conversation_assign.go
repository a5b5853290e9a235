package web

import (
	"net/http"
	"strconv"
)

// assign gives the conversation to someone ("" or 0: to nobody).
func (h *Handler) assign(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(id int64) error {
		var user int64
		if v := r.PostForm.Get("user"); v != "" {
			var err error
			if user, err = strconv.ParseInt(v, 10, 64); err != nil {
				return invalidForm("user")
			}
		}
		return h.svc.Assign(r.Context(), principal(r), id, user, r.PostForm.Get("note"))
	})
}
