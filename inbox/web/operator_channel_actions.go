package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/wasl-dev/wasl/inbox"
)

// channelAction runs a channel action from a form post and goes back to
// where the form said (the list or the channel's page).
func (h *Handler) channelAction(w http.ResponseWriter, r *http.Request, fn func(id int64) error) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if err := fn(id); err != nil {
		var inv *inbox.InvalidError
		if errors.As(err, &inv) {
			h.fail(w, r, err)
			return
		}
		h.fail(w, r, err)
		return
	}
	back := fmt.Sprintf("/operator/channels/%d", id)
	if r.PostForm.Get("back") == "list" {
		back = "/operator/channels"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (h *Handler) enableChannel(w http.ResponseWriter, r *http.Request) {
	h.channelAction(w, r, func(id int64) error { return h.op.SetChannelEnabled(r.Context(), principal(r), id, true) })
}

func (h *Handler) disableChannel(w http.ResponseWriter, r *http.Request) {
	h.channelAction(w, r, func(id int64) error { return h.op.SetChannelEnabled(r.Context(), principal(r), id, false) })
}

func (h *Handler) pairChannel(w http.ResponseWriter, r *http.Request) {
	h.channelAction(w, r, func(id int64) error { return h.op.ChannelAction(r.Context(), principal(r), id, inbox.ActionPair) })
}

func (h *Handler) logoutChannel(w http.ResponseWriter, r *http.Request) {
	h.channelAction(w, r, func(id int64) error { return h.op.ChannelAction(r.Context(), principal(r), id, inbox.ActionLogout) })
}

// confirmDeleteChannel asks before a channel is deleted.
func (h *Handler) confirmDeleteChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	v, err := h.op.Channel(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(r, "")
	p.Title, p.Nav, p.Data = p.T("op.channel.delete"), "channels", v
	h.render(w, r, http.StatusOK, "op_confirm", p)
}

// deleteChannel deletes a channel, keeping its history.
func (h *Handler) deleteChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := h.op.DeleteChannel(r.Context(), principal(r), id); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/operator/channels", http.StatusSeeOther)
}
