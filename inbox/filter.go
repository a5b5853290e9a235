package inbox

import (
	"net/url"
	"strconv"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// ParseFilter reads the inbox list's filters from a query string; the web
// list and GET /api/v1/conversations take the same parameters: status
// (open, closed, snoozed), channel, department, assignee (me, unassigned),
// scope, topic, language, q (search), before (a conversation id: the next
// page), limit.
func ParseFilter(q url.Values) (store.InboxFilter, error) {
	f := store.InboxFilter{
		Status: q.Get("status"), Channel: message.Kind(q.Get("channel")), Department: q.Get("department"),
		Assignee: q.Get("assignee"), Scope: q.Get("scope"), Topic: q.Get("topic"), Language: q.Get("language"), Query: q.Get("q"),
	}
	var err error
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil || f.BeforeID < 0 {
			return f, invalid("before: want a conversation id")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 500 {
			return f, invalid("limit: want an integer between 1 and 500")
		}
	}
	switch f.Status {
	case "", "open", "closed", "snoozed":
	default:
		return f, invalid("status: want open, closed or snoozed")
	}
	switch f.Assignee {
	case "", "me", "unassigned":
	default:
		return f, invalid("assignee: want me or unassigned")
	}
	if f.Channel != "" && !f.Channel.Valid() {
		return f, invalid("channel: want email, sms or whatsapp")
	}
	switch f.Scope {
	case "", "in", "out", "smalltalk", "spam":
	default:
		return f, invalid("scope: want in, out, smalltalk or spam")
	}
	return f, nil
}
