package store

import (
	"errors"
	"fmt"
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

// Someone new's first message makes its contact, the identity, the
// conversation and the message together (one statement on PostgreSQL),
// as CreateContact and InsertMessageInNewConversation would: each row
// linked to the others, the contact in the language given. The same
// message again is a duplicate and, rolled back, leaves no contact; on
// PostgreSQL an identity someone else owns by then is ErrDuplicate too,
// for the caller to roll back and look it up again.
func TestInsertMessageFromNewContact(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		ctx := t.Context()
		at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
		from := message.Party{Kind: message.IdentityEmail, Value: "noura@example.com", Name: "Noura"}
		newMessage := func(id string, from message.Party) (*Conversation, *Message) {
			return &Conversation{ChannelID: f.ch.ID, Subject: "Transcript", LastMessageAt: at, CreatedAt: at},
				&Message{ChannelID: f.ch.ID, ExternalID: id, From: from, Text: "I need my transcript", CreatedAt: at, ReceivedAt: at}
		}
		contacts := count(t, s, "SELECT count(*) FROM contacts")
		c, m := newMessage("noura-1@x", from)
		var k Contact
		mustTx(t, s, func(tx *Tx) error {
			var err error
			k, err = tx.InsertMessageFromNewContact(ctx, "ar", c, m)
			return err
		})
		if k.ID == 0 || c.ContactID != k.ID || m.ContactID != k.ID || c.ID == 0 || m.ConversationID != c.ID || m.ID == 0 {
			t.Fatalf("contact %d, conversation %d of contact %d, message %d of contact %d in %d", k.ID, c.ID, c.ContactID, m.ID, m.ContactID, m.ConversationID)
		}
		if k.Language != "ar" || k.DisplayName != "Noura" || len(k.Identities) != 1 || k.Identities[0] != from {
			t.Errorf("contact returned as %+v", k)
		}
		var owner Contact
		var found bool
		var conv Conversation
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if owner, found, err = tx.ContactByIdentity(ctx, from); err != nil {
				return err
			}
			conv, err = tx.Conversation(ctx, c.ID)
			return err
		})
		if !found || owner.ID != k.ID || owner.Language != "ar" || owner.DisplayName != "Noura" {
			t.Errorf("the identity's owner is %+v (found %v), want contact %d in Arabic", owner, found, k.ID)
		}
		if conv.ContactID != k.ID || conv.ChannelID != f.ch.ID || conv.Subject != "Transcript" || conv.Status != ConversationOpen {
			t.Errorf("conversation stored as %+v", conv)
		}
		if stored, err := s.Message(ctx, m.ID); err != nil || stored.ContactID != k.ID || stored.ConversationID != c.ID || stored.Text != m.Text {
			t.Errorf("message stored as %+v (%v)", stored, err)
		}
		if n := count(t, s, "SELECT count(*) FROM contacts"); n != contacts+1 {
			t.Errorf("%d contacts, want %d", n, contacts+1)
		}

		// The same message again, from someone else new: a duplicate.
		c2, m2 := newMessage("noura-1@x", message.Party{Kind: message.IdentityEmail, Value: "huda@example.com"})
		err := s.InTx(ctx, func(tx *Tx) error {
			_, err := tx.InsertMessageFromNewContact(ctx, "", c2, m2)
			return err
		})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("the same message again: %v, want ErrDuplicate", err)
		}
		if n := count(t, s, "SELECT count(*) FROM contacts"); n != contacts+1 {
			t.Errorf("%d contacts after the duplicate's rollback, want %d", n, contacts+1)
		}
		if err := s.InTx(ctx, func(tx *Tx) error {
			_, err := tx.InsertMessageFromNewContact(ctx, "", &Conversation{ChannelID: f.ch.ID}, &Message{ChannelID: f.ch.ID, ExternalID: "y"})
			return err
		}); err == nil {
			t.Error("a message without a sender made a contact")
		}

		if s.Dialect() != Postgres {
			return
		}
		// Noura's address is hers by now: another new contact cannot have it.
		c3, m3 := newMessage("noura-2@x", from)
		err = s.InTx(ctx, func(tx *Tx) error {
			_, err := tx.InsertMessageFromNewContact(ctx, "", c3, m3)
			return err
		})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("an identity someone owns: %v, want ErrDuplicate", err)
		}
		if n := count(t, s, "SELECT count(*) FROM contacts"); n != contacts+1 {
			t.Errorf("%d contacts after the lost race's rollback, want %d", n, contacts+1)
		}
	})
}

// A new conversation written with its first message's topic, scope and
// language and its ticket's department is not rewritten by the triggers in
// the same transaction (PostgreSQL counts the transaction's updates), and
// keeps those values; a later message or ticket that differs still moves
// them, as before.
func TestNewConversationNotRewritten(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		ctx := t.Context()
		at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
		sara := message.Party{Kind: message.IdentityEmail, Value: "sara@example.com"}
		ways := []struct {
			name  string
			write func(tx *Tx, c *Conversation, m *Message) error
		}{
			{"CreateConversation, then InsertMessage", func(tx *Tx, c *Conversation, m *Message) error {
				if err := tx.CreateConversation(ctx, c); err != nil {
					return err
				}
				m.ConversationID = c.ID
				return tx.InsertMessage(ctx, m)
			}},
			{"InsertMessageInNewConversation", func(tx *Tx, c *Conversation, m *Message) error {
				return tx.InsertMessageInNewConversation(ctx, c, m)
			}},
			{"InsertMessageFromNewContact", func(tx *Tx, c *Conversation, m *Message) error {
				m.From = message.Party{Kind: message.IdentityPhone, Value: "+966500000123"}
				c.ContactID, m.ContactID = 0, 0
				k, err := tx.InsertMessageFromNewContact(ctx, "ar", c, m)
				c.ContactID = k.ID
				return err
			}},
		}
		for i, w := range ways {
			t.Run(w.name, func(t *testing.T) {
				c := &Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID, Subject: "Projector", Topic: "equipment_maintenance",
					Scope: "in_scope", Language: "ar", Department: "maintenance_center", LastMessageAt: at, CreatedAt: at}
				m := &Message{ChannelID: f.ch.ID, ExternalID: fmt.Sprintf("quiet-%d@x", i), ContactID: f.contact.ID, From: sara,
					Text: "البروجكتر معطل", Topic: "equipment_maintenance", Scope: "in_scope", Language: "ar", CreatedAt: at, ReceivedAt: at}
				// Since PostgreSQL 15 the "transaction's" counts also hold
				// earlier transactions' not yet reported: the difference.
				var before, updates int64
				updated := func(tx *Tx, n *int64) error {
					if s.dialect != Postgres {
						return nil
					}
					return tx.tx.QueryRowContext(ctx, `SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'conversations'`).Scan(n)
				}
				mustTx(t, s, func(tx *Tx) error {
					if err := updated(tx, &before); err != nil {
						return err
					}
					if err := w.write(tx, c, m); err != nil {
						return err
					}
					tk := &Ticket{Prefix: "EDU", Year: 2026, Number: int64(100 + i), ConversationID: c.ID, ContactID: c.ContactID,
						Topic: "equipment_maintenance", Department: "maintenance_center", CreatedAt: at, UpdatedAt: at}
					if err := tx.CreateTicket(ctx, tk); err != nil {
						return err
					}
					return updated(tx, &updates)
				})
				if updates != before {
					t.Errorf("the new conversation was rewritten %d times in its own transaction, want 0", updates-before)
				}
				got := readConversation(t, s, c.ID)
				if got.Topic != "equipment_maintenance" || got.Scope != "in_scope" || got.Language != "ar" || got.Department != "maintenance_center" {
					t.Errorf("new conversation stored as %+v", got)
				}

				// A later message on another topic, in English, and a
				// ticket of another department move the conversation.
				later := at.Add(time.Hour)
				mustTx(t, s, func(tx *Tx) error {
					if err := tx.InsertMessage(ctx, &Message{ChannelID: f.ch.ID, ExternalID: fmt.Sprintf("quiet-%d-2@x", i), ConversationID: c.ID,
						ContactID: c.ContactID, From: sara, Text: "and my transcript", Topic: "transcripts", Language: "en", CreatedAt: later, ReceivedAt: later}); err != nil {
						return err
					}
					return tx.CreateTicket(ctx, &Ticket{Prefix: "EDU", Year: 2026, Number: int64(200 + i), ConversationID: c.ID, ContactID: c.ContactID,
						Topic: "transcripts", Department: "registrar", CreatedAt: later, UpdatedAt: later})
				})
				got = readConversation(t, s, c.ID)
				if got.Topic != "transcripts" || got.Scope != "in_scope" || got.Language != "en" || got.Department != "registrar" {
					t.Errorf("after a message on another topic and a ticket of another department: %+v", got)
				}
			})
		}
	})
}

func readConversation(t *testing.T, s *Store, id int64) Conversation {
	t.Helper()
	var c Conversation
	mustTx(t, s, func(tx *Tx) error {
		var err error
		c, err = tx.Conversation(t.Context(), id)
		return err
	})
	return c
}
