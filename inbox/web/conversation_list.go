package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// listData is the conversation list page.
type listData struct {
	Rows     []store.InboxRow
	Filter   store.InboxFilter
	Query    url.Values
	Next     string // the next page's URL, empty on the last
	Channels []message.Kind
	Statuses []string
	Depts    []replies.Department
	Topics   []*replies.Topic
}

func (h *Handler) showConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := inbox.ParseFilter(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	f.Now = h.now()
	p := h.newPage(r, "")
	rows, err := h.store.InboxList(r.Context(), h.svc.Scope(principal(r), f))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Title = p.T("list.title")
	p.Nav = "inbox"
	switch {
	case f.Assignee == "me":
		p.Nav = "mine"
	case f.Assignee == "unassigned":
		p.Nav = "unassigned"
	case f.Status == "snoozed":
		p.Nav = "snoozed"
	}
	d := listData{Rows: rows, Filter: f, Query: q, Channels: []message.Kind{message.Email, message.SMS, message.WhatsApp},
		Statuses: []string{"open", "closed", "snoozed"}}
	if b := h.knowledge(); b != nil {
		d.Depts, d.Topics = b.Departments(), b.Topics()
	}
	if len(rows) == f.Limit {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
		d.Next = "/?" + next.Encode()
	}
	p.Data = d
	h.render(w, r, http.StatusOK, "list", p)
}
