package store

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// One key per name for every replica, made once.
func TestInstanceKey(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		var wg sync.WaitGroup
		keys := make([][]byte, 6)
		errs := make([]error, 6)
		for i := range keys {
			wg.Go(func() { keys[i], errs[i] = s.InstanceKey(t.Context(), "forms", 32) })
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("key %d = %x, want the same 32 bytes as key 0 (%x)", i, keys[i], keys[0])
			}
		}
		other, err := s.InstanceKey(t.Context(), "other", 32)
		if err != nil || bytes.Equal(other, keys[0]) {
			t.Errorf("another name's key = %x, %v: want a different key", other, err)
		}
		if _, err := s.InstanceKey(t.Context(), "forms", 16); err == nil {
			t.Error("a key asked for at another size was returned")
		}
	})
}

// What a form submission became, the per-contact count, the route a
// form's conversation is answered by, and messages by channel kind.
func TestFormReads(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		form := Channel{Name: "forms", Kind: message.Form, Enabled: true}
		mail := Channel{Name: "mail", Kind: message.Email, Enabled: true}
		for _, c := range []*Channel{&form, &mail} {
			if err := s.UpsertChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		email := message.Party{Kind: message.IdentityEmail, Value: "noura@example.edu.sa", Name: "Noura"}
		phone := message.Party{Kind: message.IdentityPhone, Value: "+966551112233"}
		at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
		var conv Conversation
		var contact Contact
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if contact, err = tx.FindOrCreateContact(ctx, email); err != nil {
				return err
			}
			if err := tx.AddIdentity(ctx, contact.ID, phone); err != nil {
				return err
			}
			conv = Conversation{ContactID: contact.ID, ChannelID: form.ID}
			if err := tx.CreateConversation(ctx, &conv); err != nil {
				return err
			}
			for i, ext := range []string{"k1", "k2"} {
				m := Message{ChannelID: form.ID, ExternalID: ext, ConversationID: conv.ID, ContactID: contact.ID, From: email,
					Topic: "equipment_maintenance", CreatedAt: at.Add(time.Duration(i) * time.Hour)}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
			}
			tk := Ticket{Prefix: "EDU", Year: 2026, Number: 7, ConversationID: conv.ID, ContactID: contact.ID, Status: TicketOpen}
			tk.Ref = TicketRef("EDU", 2026, 7)
			return tx.CreateTicket(ctx, &tk)
		})

		ref, topic, found, err := s.SubmissionTicket(ctx, form.ID, "k1")
		if err != nil || !found || ref != "EDU-2026-000007" || topic != "equipment_maintenance" {
			t.Errorf("SubmissionTicket(k1) = %q, %q, %v, %v", ref, topic, found, err)
		}
		if _, _, found, err := s.SubmissionTicket(ctx, form.ID, "never"); err != nil || found {
			t.Errorf("SubmissionTicket(never) = found %v, %v", found, err)
		}

		for _, tt := range []struct {
			ids   []message.Party
			since time.Time
			want  int
		}{
			{[]message.Party{email}, at, 2},
			{[]message.Party{phone}, at.Add(30 * time.Minute), 1},
			{[]message.Party{{Kind: message.IdentityEmail, Value: "someone@else.sa"}, phone}, at, 2},
			{[]message.Party{{Kind: message.IdentityPhone, Value: "+966500000009"}}, at, 0},
			{nil, at, 0},
		} {
			if n, err := s.CountFromIdentities(ctx, form.ID, tt.ids, tt.since); err != nil || n != tt.want {
				t.Errorf("CountFromIdentities(%v, %s) = %d, %v; want %d", tt.ids, tt.since, n, err, tt.want)
			}
		}
		if n, err := s.CountFromIdentities(ctx, mail.ID, []message.Party{email}, at); err != nil || n != 0 {
			t.Errorf("another channel's count = %d, %v", n, err)
		}

		mustTx(t, s, func(tx *Tx) error {
			if _, ok, err := tx.LastOutboundRoute(ctx, conv.ID); err != nil || ok {
				t.Errorf("route before any outbound: %v, %v", ok, err)
			}
			for _, to := range []message.Party{email, phone} {
				o := Outbound{ChannelID: mail.ID, ConversationID: conv.ID, ContactID: contact.ID, To: to, Text: "ack", State: message.StateQueued}
				if err := tx.InsertOutbound(ctx, &o); err != nil {
					return err
				}
			}
			r, ok, err := tx.LastOutboundRoute(ctx, conv.ID)
			if err != nil || !ok || r.ChannelID != mail.ID || r.Channel != message.Email || r.To != phone {
				t.Errorf("LastOutboundRoute = %+v, %v, %v; want the newest, to %v by mail", r, ok, err, phone)
			}
			return nil
		})

		st, err := s.Stats(ctx)
		if err != nil || st.MessagesByChannel[message.Form] != 2 || st.MessagesByChannel[message.Email] != 0 {
			t.Errorf("messages by channel %v, %v", st.MessagesByChannel, err)
		}
	})
}
