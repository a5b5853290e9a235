package web

import (
	"net/http"

	"github.com/wasl-dev/wasl/inbox"
)

type channelsData struct {
	Channels []inbox.ChannelView
	HasKey   bool
}

// showChannels lists every channel with its live status.
func (h *Handler) showChannels(w http.ResponseWriter, r *http.Request) {
	list, err := h.op.Channels(r.Context(), principal(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(r, "")
	p.Title, p.Nav = p.T("op.channels"), "channels"
	p.Data = channelsData{Channels: list, HasKey: h.op.HasKey()}
	h.render(w, r, http.StatusOK, "op_channels", p)
}
