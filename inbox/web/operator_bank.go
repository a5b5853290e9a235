package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

type bankData struct {
	Topics []*replies.Topic
	File   string
	// Calendar is the bank's working hours, special hours and holidays.
	Calendar *replies.Calendar
	Channels []inbox.ChannelView
	// Try is what was typed in "try a message", and Preview what Wasl
	// would do with it.
	TryChannel      int64
	TrySubject, Try string
	Preview         *router.Preview
	PreviewChannel  store.Channel
	Error, Reloaded string
	ReloadProblems  []string
}

// showBank shows the knowledge bank as it is in use (each topic's scope,
// department, SLA, examples, answers and links in both languages; the
// hours and holidays) with "try a message" and "reload".
func (h *Handler) showBank(w http.ResponseWriter, r *http.Request) {
	h.renderBank(w, r, http.StatusOK, bankData{})
}

func (h *Handler) renderBank(w http.ResponseWriter, r *http.Request, status int, d bankData) {
	if b := h.op.Bank(); b != nil {
		d.Topics, d.File, d.Calendar = b.Topics(), b.File(), b.Calendar()
	}
	chans, err := h.op.Channels(r.Context(), principal(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Channels = chans
	p := h.newPage(r, "")
	p.Title, p.Nav, p.Data = p.T("op.bank"), "bank", d
	h.render(w, r, status, "op_bank", p)
}

// tryMessage shows what Wasl would do with a first message: nothing is
// stored or sent.
func (h *Handler) tryMessage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	d := bankData{TrySubject: r.PostForm.Get("subject"), Try: r.PostForm.Get("text")}
	d.TryChannel, _ = strconv.ParseInt(r.PostForm.Get("channel"), 10, 64)
	pv, ch, err := h.op.TryMessage(r.Context(), principal(r), d.TryChannel, d.TrySubject, d.Try)
	var inv *inbox.InvalidError
	switch {
	case errors.As(err, &inv):
		d.Error = inv.Error()
		h.renderBank(w, r, http.StatusBadRequest, d)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	d.Preview, d.PreviewChannel = &pv, ch
	h.renderBank(w, r, http.StatusOK, d)
}

// reloadBank reads the bank file again; when it is invalid the old bank
// stays and every problem shows with its line.
func (h *Handler) reloadBank(w http.ResponseWriter, r *http.Request) {
	b, err := h.op.ReloadBank(r.Context(), principal(r))
	if errors.Is(err, inbox.ErrForbidden) {
		h.fail(w, r, err)
		return
	}
	d := bankData{}
	if err != nil {
		d.ReloadProblems = strings.Split(err.Error(), "\n")
		h.renderBank(w, r, http.StatusBadRequest, d)
		return
	}
	d.Reloaded = strconv.Itoa(len(b.Topics()))
	h.renderBank(w, r, http.StatusOK, d)
}
