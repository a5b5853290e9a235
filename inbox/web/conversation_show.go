package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// convData is the conversation page.
type convData struct {
	Conv     store.InboxRow
	Items    []item
	Users    []store.User
	Depts    []replies.Department
	Topics   []*replies.Topic
	Statuses []string
	Images   bool
	HasHTML  bool
	Draft    string
	Error    string
	Sent     bool
	Plain    bool // SMS or WhatsApp: plain text with a segment count
	Outcome  string
	Ticket   store.Ticket // the conversation's newest ticket (ID 0: none)
	// FrontDesk is the customer-service unit's department; HandBack says
	// the ticket is with another department, which can hand it back.
	FrontDesk string
	HandBack  bool
	Survey    *store.SurveyResponse
}

// item is one history entry as the page shows it.
type item struct {
	store.HistoryItem
	This     bool   // in the conversation being viewed
	Srcdoc   string // email HTML, as the iframe's document
	Decision *decision
}

type decision struct {
	Action     string   `json:"action"`
	Topic      string   `json:"topic"`
	Scope      string   `json:"scope"`
	Department string   `json:"department"`
	Confidence float64  `json:"confidence"`
	Reasons    []string `json:"reasons"`
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (h *Handler) conversationData(r *http.Request, id int64, p *page) (*convData, error) {
	pr := principal(r)
	c, err := h.svc.Conversation(r.Context(), pr, id)
	if err != nil {
		return nil, err
	}
	hist, err := h.svc.History(r.Context(), pr, c.ContactID)
	if err != nil {
		return nil, err
	}
	d := &convData{Conv: c, Images: r.URL.Query().Get("images") == "1", Sent: r.URL.Query().Get("sent") == "1",
		Statuses: []string{store.TicketOpen, store.TicketInProgress, store.TicketPending, "pending_supply"},
		Plain:    c.ChannelKind != message.Email}
	d.FrontDesk = h.svc.FrontDesk()
	if c.TicketID != 0 {
		t, _, err := h.store.Ticket(r.Context(), c.TicketID)
		if err != nil {
			return nil, err
		}
		d.Ticket, d.Outcome = t, t.Outcome
		d.HandBack = t.Department != d.FrontDesk && (t.Status == store.TicketTransferred || t.Status == store.TicketInProgress || t.Status == store.TicketPending)
		if sr, ok, err := h.store.TicketSurvey(r.Context(), t.ID); err != nil {
			return nil, err
		} else if ok {
			d.Survey = &sr
		}
	}
	for _, it := range hist {
		v := item{HistoryItem: it, This: it.ConversationID == c.ID}
		if m := it.Message; m != nil {
			if m.HTML != "" {
				v.Srcdoc = h.srcdoc(m.HTML, m.Language, d.Images)
				d.HasHTML = true
			}
			if len(m.Decision) > 0 {
				var dec decision
				if json.Unmarshal(m.Decision, &dec) == nil {
					v.Decision = &dec
				}
			}
		}
		d.Items = append(d.Items, v)
	}
	if d.Users, err = h.svc.Users(r.Context()); err != nil {
		return nil, err
	}
	if b := h.knowledge(); b != nil {
		d.Depts, d.Topics = b.Departments(), b.Topics()
	}
	return d, nil
}

func (h *Handler) showConversation(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.renderConversation(w, r, id, http.StatusOK, "", "")
}

// renderConversation shows the page, with an error and the draft kept
// when an action failed.
func (h *Handler) renderConversation(w http.ResponseWriter, r *http.Request, id int64, status int, errText, draft string) {
	p := h.newPage(r, "")
	d, err := h.conversationData(r, id, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Error, d.Draft = errText, draft
	if status == http.StatusOK {
		if err := h.store.MarkRead(r.Context(), principal(r).User.ID, id); err != nil {
			h.log.WarnContext(r.Context(), "mark read", "err", err)
		}
	}
	p.Title = d.Conv.ContactName
	if d.Conv.Subject != "" {
		p.Title = d.Conv.Subject
	}
	p.Data = d
	if d.Images {
		w.Header().Set("Content-Security-Policy", csp(true))
	}
	h.render(w, r, status, "conversation", p)
}

// showTimeline is the history alone, for the live page to swap in.
func (h *Handler) showTimeline(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	p := h.newPage(r, "")
	d, err := h.conversationData(r, id, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Data = d
	if d.Images {
		w.Header().Set("Content-Security-Policy", csp(true))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.pages["conversation"].ExecuteTemplate(w, "timeline", p); err != nil {
		h.log.ErrorContext(r.Context(), "render timeline", "err", err)
	}
	_ = h.store.MarkRead(r.Context(), principal(r).User.ID, id)
}

// bankAnswer is a knowledge-bank answer as plain text, for the composer.
func (h *Handler) bankAnswer(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	text, err := h.svc.Answer(r.Context(), principal(r), id, r.URL.Query().Get("topic"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(text))
}
