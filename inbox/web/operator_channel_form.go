package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// channelForm is the add / edit form of a channel, as typed: secrets are
// never sent back, only whether one is stored (Set).
type channelForm struct {
	ID      int64
	Kind    message.Kind
	Name    string
	Enabled bool

	IMAPHost, IMAPPort, IMAPSecurity, IMAPUser, Mailboxes, Poll, FirstSync, FirstSyncDate string
	SMTPHost, SMTPPort, SMTPSecurity, SMTPUser, SMTPFrom                                  string
	AccountSID, From, MessagingSID, SegmentBudget                                         string
	AllowGroups                                                                           bool

	Set    map[string]bool
	HasKey bool
	Error  string
	Tests  []inbox.TestStep
	// View is the stored channel's status (edit form only).
	View *inbox.ChannelView
}

// TestsOK reports whether every step of a test connection passed.
func (f channelForm) TestsOK() bool {
	for _, t := range f.Tests {
		if !t.OK {
			return false
		}
	}
	return len(f.Tests) > 0
}

func splitHostPort(addr string) (string, string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	return host, port
}

// shortDuration writes d as the config does ("1h", "90m", "45s").
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}

func formOf(ch config.Channel) channelForm {
	f := channelForm{Kind: ch.Kind, Name: ch.Name, Enabled: !ch.Disabled, FirstSync: config.FirstSyncNow,
		IMAPSecurity: "tls", IMAPPort: "993", SMTPSecurity: "starttls", SMTPPort: "587", Mailboxes: "INBOX"}
	if i := ch.IMAP; i != nil {
		f.IMAPHost, f.IMAPPort = splitHostPort(i.Addr)
		f.IMAPSecurity, f.IMAPUser, f.Mailboxes = i.Security, i.Username, strings.Join(i.Mailboxes, ", ")
		if i.PollInterval != 0 {
			f.Poll = shortDuration(i.PollInterval.D(0))
		}
		f.FirstSync = i.FirstSync.Mode
		if f.FirstSync == "" {
			f.FirstSync = config.FirstSyncNow
		}
		if i.FirstSync.Mode == config.FirstSyncSince {
			f.FirstSyncDate = i.FirstSync.Since.Format("2006-01-02")
		}
	}
	if s := ch.SMTP; s != nil {
		f.SMTPHost, f.SMTPPort = splitHostPort(s.Addr)
		f.SMTPSecurity, f.SMTPUser, f.SMTPFrom = s.Security, s.Username, s.From
	}
	if t := ch.Twilio; t != nil {
		f.AccountSID, f.From, f.MessagingSID = t.AccountSID, t.From, t.MessagingServiceSID
		if t.SegmentBudget != 0 {
			f.SegmentBudget = strconv.Itoa(t.SegmentBudget)
		}
	}
	if ch.WhatsApp != nil {
		f.AllowGroups = ch.WhatsApp.AllowGroups
	}
	return f
}

// newChannel shows the empty form for a kind of channel.
func (h *Handler) newChannel(w http.ResponseWriter, r *http.Request) {
	kind := message.Kind(r.URL.Query().Get("kind"))
	if kind != message.SMS && kind != message.WhatsApp {
		kind = message.Email // forms and calls are set in the config file
	}
	f := formOf(config.Channel{Kind: kind})
	h.renderChannelForm(w, r, http.StatusOK, f)
}

// showChannel is a channel's page: its status, and its form unless it
// comes from the config file.
func (h *Handler) showChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	view, err := h.op.Channel(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := channelForm{ID: id, Kind: view.Kind, Name: view.Name, Enabled: view.Enabled}
	if !view.ReadOnly {
		s, err := h.op.ChannelSettings(r.Context(), principal(r), id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		f = formOf(s.Settings)
		f.ID, f.Enabled, f.Set = id, view.Enabled, s.SecretsSet
	}
	f.View = &view
	h.renderChannelForm(w, r, http.StatusOK, f)
}

func (h *Handler) renderChannelForm(w http.ResponseWriter, r *http.Request, status int, f channelForm) {
	f.HasKey = h.op.HasKey()
	p := h.newPage(r, "")
	p.Nav = "channels"
	switch {
	case f.ID == 0:
		p.Title = p.T("op.channel.add") + " — " + p.T("channel."+string(f.Kind))
	default:
		p.Title = f.Name
	}
	p.Data = f
	h.render(w, r, status, "op_channel", p)
}

// saveChannel adds or changes a channel from its form, or, for the "test
// connection" button, tries the typed settings and shows the outcome.
func (h *Handler) saveChannel(w http.ResponseWriter, r *http.Request) {
	var id int64
	if r.PathValue("id") != "" {
		var ok bool
		if id, ok = pathID(r); !ok {
			http.NotFound(w, r)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	kind := message.Kind(r.PostForm.Get("kind"))
	var view *inbox.ChannelView
	if id != 0 {
		v, err := h.op.Channel(r.Context(), principal(r), id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		kind, view = v.Kind, &v
	}
	ch, err := channelFromForm(r, kind)
	enabled := r.PostForm.Get("enabled") != ""
	form := formOf(ch)
	form.ID, form.Enabled, form.View = id, enabled, view
	if id != 0 {
		if s, serr := h.op.ChannelSettings(r.Context(), principal(r), id); serr == nil {
			form.Set = s.SecretsSet
		}
	}
	if err == nil {
		if r.PostForm.Get("op") == "test" {
			form.Tests, err = h.op.TestChannel(r.Context(), principal(r), id, ch)
			if err == nil {
				h.renderChannelForm(w, r, http.StatusOK, form)
				return
			}
		} else {
			var row store.Channel
			row, err = h.op.SaveChannel(r.Context(), principal(r), id, ch, enabled)
			if err == nil {
				http.Redirect(w, r, fmt.Sprintf("/operator/channels/%d", row.ID), http.StatusSeeOther)
				return
			}
		}
	}
	var inv *inbox.InvalidError
	if errors.As(err, &inv) {
		form.Error = inv.Error()
		h.renderChannelForm(w, r, http.StatusBadRequest, form)
		return
	}
	h.fail(w, r, err)
}
