package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/wasl-dev/wasl/inbox"
)

// act runs a conversation action from a form post: back to the
// conversation on success; on a refusal the page again with the error (and
// the reply draft, so nothing typed is lost).
func (h *Handler) act(w http.ResponseWriter, r *http.Request, fn func(id int64) error) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	err := fn(id)
	var inv *inbox.InvalidError
	switch {
	case errors.Is(err, errHandled):
	case err == nil:
		http.Redirect(w, r, fmt.Sprintf("/conversations/%d", id), http.StatusSeeOther)
	case errors.As(err, &inv):
		h.renderConversation(w, r, id, http.StatusBadRequest, err.Error(), r.PostForm.Get("body"))
	case errors.Is(err, inbox.ErrConflict):
		h.renderConversation(w, r, id, http.StatusConflict, err.Error(), r.PostForm.Get("body"))
	default:
		h.fail(w, r, err)
	}
}

// errHandled: the action answered the request itself.
var errHandled = errors.New("handled")

func invalidForm(field string) error { return inbox.Invalid("bad value for " + field) }
