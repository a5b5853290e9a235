package store

import (
	"errors"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// A new customer's first message and its conversation go in together (one
// statement on PostgreSQL): the conversation as CreateConversation makes
// it, the message in it and searchable; the same message again is a
// duplicate, and its transaction, rolled back, leaves no conversation.
func TestInsertMessageInNewConversation(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		ctx := t.Context()
		at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
		newMessage := func() (*Conversation, *Message) {
			return &Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID, Subject: "Projector", CitesForeignTicket: "EDU-2026-000009", LastMessageAt: at, CreatedAt: at},
				&Message{ChannelID: f.ch.ID, ExternalID: "first@x", ContactID: f.contact.ID,
					From: message.Party{Kind: message.IdentityEmail, Value: "sara@example.com"}, Text: "the projector is broken", CreatedAt: at, ReceivedAt: at}
		}
		c, m := newMessage()
		mustTx(t, s, func(tx *Tx) error { return tx.InsertMessageInNewConversation(ctx, c, m) })
		if c.ID == 0 || m.ID == 0 || m.ConversationID != c.ID || c.Status != ConversationOpen {
			t.Fatalf("conversation %d (%s), message %d in %d", c.ID, c.Status, m.ID, m.ConversationID)
		}
		var got Conversation
		mustTx(t, s, func(tx *Tx) error {
			var err error
			got, err = tx.Conversation(ctx, c.ID)
			return err
		})
		if got.ContactID != f.contact.ID || got.ChannelID != f.ch.ID || got.Subject != "Projector" || got.CitesForeignTicket != "EDU-2026-000009" || !got.LastMessageAt.Equal(at) {
			t.Errorf("conversation stored as %+v", got)
		}
		if stored, err := s.Message(ctx, m.ID); err != nil || stored.ConversationID != c.ID || stored.Text != m.Text {
			t.Errorf("message stored as %+v (%v), want it in conversation %d", stored, err, c.ID)
		}
		before := count(t, s, "SELECT count(*) FROM conversations")
		c2, m2 := newMessage()
		err := s.InTx(ctx, func(tx *Tx) error { return tx.InsertMessageInNewConversation(ctx, c2, m2) })
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("the same message again: %v, want ErrDuplicate", err)
		}
		if n := count(t, s, "SELECT count(*) FROM conversations"); n != before {
			t.Errorf("%d conversations after the duplicate's rollback, want %d", n, before)
		}
		if err := s.InTx(ctx, func(tx *Tx) error {
			return tx.InsertMessageInNewConversation(ctx, &Conversation{ChannelID: f.ch.ID}, &Message{ChannelID: f.ch.ID, ExternalID: "x"})
		}); err == nil {
			t.Error("a conversation without a contact was stored")
		}
	})
}
