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
// ids are senderIdentities. A batch's look-up (cl, nil for a message
// alone) answers when it still holds.
func (p *Pipeline) findContact(ctx context.Context, tx *store.Tx, cl *contactLookup, ids []message.Party) (store.Contact, error) {
	if c, ok := cl.lookup(ids); ok {
		return c, nil
	}
	for _, id := range ids {
		c, ok, err := tx.ContactByIdentity(ctx, id)
		if err != nil || ok {
			return c, err
		}
	}
	return store.Contact{}, nil
}

// contactLookup is a batch's senders' contacts, looked up in one statement
// before the first message (batchContacts), and what the batch's messages
// have written since. The look-up answers for a message only while no
// earlier message of the batch wrote one of its identities or the contact
// found: then it is what the message's own look-up would read. Otherwise
// the message looks up its own, after those writes.
type contactLookup struct {
	found    map[store.IdentityKey]store.Contact
	touched  map[store.IdentityKey]bool
	contacts map[int64]bool // written by the batch
}

// batchContacts looks up the contacts of a batch's senders at once (one
// round trip on PostgreSQL instead of one a message); nil for a single
// message. Messages already stored (dds) are left out.
func batchContacts(ctx context.Context, tx *store.Tx, ins []message.Inbound, dds []dedupe) (*contactLookup, error) {
	if len(ins) < 2 {
		return nil, nil
	}
	var keys []store.IdentityKey
	seen := make(map[store.IdentityKey]bool)
	for i, in := range ins {
		if dds[i].found {
			continue
		}
		for _, id := range senderIdentities(in) {
			if k := identityKey(id); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	found, err := tx.ContactsByIdentity(ctx, keys)
	if err != nil {
		return nil, err
	}
	return &contactLookup{found: found, touched: make(map[store.IdentityKey]bool), contacts: make(map[int64]bool)}, nil
}

// senderIdentities are the sender's main identity, then the others the
// message gave.
func senderIdentities(in message.Inbound) []message.Party {
	return append([]message.Party{sender(in)}, in.Identities...)
}

func identityKey(p message.Party) store.IdentityKey {
	return store.IdentityKey{Kind: p.Kind, Value: p.Value}
}

// lookup is findContact's answer from the batch's look-up, if it holds.
func (cl *contactLookup) lookup(ids []message.Party) (store.Contact, bool) {
	if cl == nil {
		return store.Contact{}, false
	}
	for _, id := range ids {
		if cl.touched[identityKey(id)] {
			return store.Contact{}, false
		}
	}
	for _, id := range ids {
		if c, ok := cl.found[identityKey(id)]; ok {
			return c, !cl.contacts[c.ID]
		}
	}
	return store.Contact{}, true // nobody's: someone new
}

// wrote records that a message of the batch wrote contact c with the
// identities ids.
func (cl *contactLookup) wrote(ids []message.Party, c int64) {
	if cl == nil {
		return
	}
	for _, id := range ids {
		cl.touched[identityKey(id)] = true
	}
	cl.contacts[c] = true
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
