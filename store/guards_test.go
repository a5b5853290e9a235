package store

import (
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// A conversation kept apart from another contact's ticket says which one,
// in the detail and in the inbox list.
func TestConversationCitesForeignTicket(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		c := Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID, Subject: "Re: [#EDU-2026-000001]", CitesForeignTicket: "EDU-2026-000001"}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateConversation(ctx, &c) })
		d, err := s.Conversation(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Conversation.CitesForeignTicket != "EDU-2026-000001" {
			t.Errorf("detail: cites %q", d.Conversation.CitesForeignTicket)
		}
		list, err := s.ListConversations(ctx, ConversationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for _, x := range list {
			got[x.ID] = x.CitesForeignTicket
		}
		if got[c.ID] != "EDU-2026-000001" || got[f.conv.ID] != "" {
			t.Errorf("list: cites %v", got)
		}
	})
}

// The mute is kept on the contact and read back wherever the contact is.
func TestContactAutoReplyMute(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		until := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		sara := message.Party{Kind: message.IdentityEmail, Value: "sara@example.com"}
		mustTx(t, s, func(tx *Tx) error { return tx.SetContactAutoReplyMute(ctx, f.contact.ID, &until) })
		read := func() map[string]*time.Time {
			out := map[string]*time.Time{}
			c, err := s.Contact(ctx, f.contact.ID)
			if err != nil {
				t.Fatal(err)
			}
			out["Contact"] = c.AutoReplyMutedUntil
			mustTx(t, s, func(tx *Tx) error {
				c, found, err := tx.ContactByIdentity(ctx, sara)
				if err != nil || !found || c.ID != f.contact.ID {
					t.Errorf("ContactByIdentity = %d, %v, %v", c.ID, found, err)
				}
				out["ContactByIdentity"] = c.AutoReplyMutedUntil
				c, err = tx.FindOrCreateContact(ctx, sara)
				out["FindOrCreateContact"] = c.AutoReplyMutedUntil
				return err
			})
			d, err := s.Conversation(ctx, f.conv.ID)
			if err != nil {
				t.Fatal(err)
			}
			out["Conversation"] = d.Contact.AutoReplyMutedUntil
			return out
		}
		for where, got := range read() {
			if got == nil || !got.Equal(until) {
				t.Errorf("%s: muted until %v, want %v", where, got, until)
			}
		}
		mustTx(t, s, func(tx *Tx) error { return tx.SetContactAutoReplyMute(ctx, f.contact.ID, nil) })
		for where, got := range read() {
			if got != nil {
				t.Errorf("%s after unmute: muted until %v", where, got)
			}
		}
		mustTx(t, s, func(tx *Tx) error {
			if _, found, err := tx.ContactByIdentity(ctx, message.Party{Kind: message.IdentityEmail, Value: "nobody@example.com"}); found || err != nil {
				t.Errorf("unknown identity: found %v, err %v", found, err)
			}
			if n := count(t, s, `SELECT count(*) FROM contacts`); n != 1 {
				t.Errorf("ContactByIdentity created a contact: %d contacts", n)
			}
			return nil
		})
	})
}

// The cap counts a contact's automatic replies across conversations and
// channels since a time, as LastAutoReply does: failed ones and staff
// replies do not count.
func TestCountAutoReplies(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		var other Conversation
		var stranger Contact
		mustTx(t, s, func(tx *Tx) error {
			other = Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID, Subject: "Another"}
			if err := tx.CreateConversation(ctx, &other); err != nil {
				return err
			}
			var err error
			stranger, err = tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: "x@example.com"})
			return err
		})
		add := func(conv, contact int64, at time.Time, auto bool, state message.DeliveryState) {
			o := f.outbound("", auto)
			o.ConversationID, o.ContactID, o.CreatedAt, o.State = conv, contact, at, state
			insertOutbound(t, s, o)
		}
		add(f.conv.ID, f.contact.ID, base, true, message.StateSent)
		add(other.ID, f.contact.ID, base.Add(time.Hour), true, message.StateQueued)
		add(other.ID, f.contact.ID, base.Add(2*time.Hour), true, message.StateFailed)  // never reached them
		add(f.conv.ID, f.contact.ID, base.Add(3*time.Hour), false, message.StateSent)  // staff
		add(f.conv.ID, f.contact.ID, base.Add(-time.Minute), true, message.StateSent)  // before since
		add(f.conv.ID, stranger.ID, base.Add(time.Hour), true, message.StateDelivered) // someone else
		tests := []struct {
			contact int64
			since   time.Time
			want    int
		}{
			{f.contact.ID, base, 2},
			{f.contact.ID, base.Add(-time.Hour), 3},
			{f.contact.ID, base.Add(90 * time.Minute), 0},
			{stranger.ID, base, 1},
		}
		for _, tt := range tests {
			mustTx(t, s, func(tx *Tx) error {
				n, err := tx.CountAutoReplies(ctx, tt.contact, tt.since)
				if n != tt.want {
					t.Errorf("CountAutoReplies(%d, %v) = %d, want %d", tt.contact, tt.since, n, tt.want)
				}
				return err
			})
		}
	})
}

// Peeking says the number NextTicketNumber gives next, and takes none.
func TestPeekTicketNumber(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		mustTx(t, s, func(tx *Tx) error {
			for want := int64(1); want <= 3; want++ {
				for range 2 {
					if n, err := tx.PeekTicketNumber(ctx, "EDU", 2026); err != nil || n != want {
						t.Errorf("peek = %d, %v; want %d", n, err, want)
					}
				}
				if n, err := tx.NextTicketNumber(ctx, "EDU", 2026); err != nil || n != want {
					t.Errorf("next = %d, %v; want %d", n, err, want)
				}
			}
			if n, err := tx.PeekTicketNumber(ctx, "EDU", 2027); err != nil || n != 1 {
				t.Errorf("peek of a new year = %d, %v; want 1", n, err)
			}
			return nil
		})
	})
}
