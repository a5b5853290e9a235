package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// A form and a logged call come with more than one identity of the sender
// (email and mobile) and answer through channels other than their own
// (message.Route). This file is the pipeline's part of that.

// findContact finds the sender's contact by their main identity, else by
// any other they gave: a form from a number that wrote by SMS joins that
// history. The zero Contact is someone new.
func (p *Pipeline) findContact(ctx context.Context, tx *store.Tx, from message.Party, others []message.Party) (store.Contact, error) {
	for _, id := range append([]message.Party{from}, others...) {
		c, ok, err := tx.ContactByIdentity(ctx, id)
		if err != nil || ok {
			return c, err
		}
	}
	return store.Contact{}, nil
}

// keepContact writes the contact: the one found (or a new one) gets every
// identity of the message that nobody else has. An identity that belongs
// to someone else stays theirs (two people may share an office phone);
// the decision says so, for staff to merge if they are one person.
func (p *Pipeline) keepContact(ctx context.Context, tx *store.Tx, c store.Contact, from message.Party, others []message.Party, d *Decision) (store.Contact, error) {
	switch {
	case c.ID == 0:
		created, err := tx.CreateContact(ctx, from, contactLanguage(d.Language))
		if err != nil || len(others) == 0 {
			return created, err
		}
		c = created
	case len(others) == 0:
		// The common case, one identity: findContact's look-up stands, in
		// this transaction; no second one.
		if c.DisplayName == "" && from.Name != "" {
			if err := tx.SetContactName(ctx, c.ID, from.Name); err != nil {
				return c, err
			}
			c.DisplayName = from.Name
		}
		return c, nil
	}
	for _, id := range append([]message.Party{from}, others...) {
		switch err := tx.AddIdentity(ctx, c.ID, id); {
		case errors.Is(err, store.ErrDuplicate):
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s %s belongs to another contact: not merged (staff can merge them)", id.Kind, id.Value))
		case err != nil:
			return c, err
		}
	}
	// Found by another identity: named now if it had no name.
	return tx.FindOrCreateContact(ctx, from)
}

// contactLanguage is the language a contact is remembered in, for replies
// staff write later: Arabic or English, else none yet.
func contactLanguage(l classify.Language) string {
	if l == classify.Arabic || l == classify.English {
		return string(l)
	}
	return ""
}

// routeDraft is one outbound message a route gets, rendered before the
// writes: the automatic reply for its channel, or the route's own text.
type routeDraft struct {
	route message.Route
	auto  bool
	req   replies.Request // auto: what was rendered
	reply replies.Reply
}

func hasRouteText(rs []message.Route) bool {
	for _, r := range rs {
		if r.Text != "" {
			return true
		}
	}
	return false
}

// renderRoutes renders what each route gets: the automatic reply when auto
// (a form's acknowledgement by email and SMS), its own text when it has
// one (a caller's links).
func (p *Pipeline) renderRoutes(rs []message.Route, auto bool, req replies.Request) ([]routeDraft, error) {
	var out []routeDraft
	if auto {
		for _, r := range rs {
			rd := routeDraft{route: r, auto: true, req: req}
			var err error
			if rd.reply, err = p.renderRoute(r, req); err != nil {
				return nil, err
			}
			out = append(out, rd)
		}
	}
	return append(out, textRoutes(rs)...), nil
}

func (p *Pipeline) renderRoute(r message.Route, req replies.Request) (replies.Reply, error) {
	req.Channel = r.Channel
	return p.render(r.ChannelID, req)
}

// textRoutes are the routes' own texts, which need no rendering.
func textRoutes(rs []message.Route) []routeDraft {
	var out []routeDraft
	for _, r := range rs {
		if r.Text != "" {
			out = append(out, routeDraft{route: r, reply: replies.Reply{Text: r.Text}})
		}
	}
	return out
}

func routeReasons(rs []routeDraft) []string {
	var out []string
	for _, r := range rs {
		what := "the automatic reply"
		if !r.auto {
			what = "the representative's message"
		}
		out = append(out, fmt.Sprintf("%s goes to %s by channel %d (%s)", what, r.route.To.Value, r.route.ChannelID, r.route.Channel))
	}
	return out
}

// enqueueRoute writes one route's outbound row and queues its send job. Nothing
// threads it to an earlier mail: the customer wrote no mail.
func (p *Pipeline) enqueueRoute(ctx context.Context, tx *store.Tx, jobs *jobQueue, r *routeDraft, contactID, conv, msgID int64, ticket store.Ticket, now time.Time) (int64, error) {
	o := store.Outbound{
		ChannelID:          r.route.ChannelID,
		ConversationID:     conv,
		InReplyToMessageID: msgID,
		TicketID:           ticket.ID,
		ContactID:          contactID,
		To:                 r.route.To,
		Text:               r.reply.Text,
		Auto:               r.auto,
		State:              message.StateQueued,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	if r.route.Channel == message.Email {
		o.HTML = r.reply.HTML
		o.Subject = replySubject("", r.reply.Subject, ticket.Ref)
		o.HeaderMessageID = p.chans.NewMessageID(r.route.ChannelID)
	}
	if err := tx.InsertOutbound(ctx, &o); err != nil {
		return 0, fmt.Errorf("outbound by route: %w", err)
	}
	jobs.add(SendArgs{OutboundID: o.ID})
	return o.ID, nil
}
