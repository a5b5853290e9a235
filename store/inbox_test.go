package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// arabicFold stands in for the classifier's normalization (the store must
// not import classify): hamza forms of alef to bare alef, taa marbuta to
// haa, case folded.
func arabicFold(s string) string {
	return strings.NewReplacer("أ", "ا", "إ", "ا", "آ", "ا", "ة", "ه").Replace(strings.ToLower(s))
}

// inboxWorld is two channels, three contacts and their conversations.
type inboxWorld struct {
	email, sms         Channel
	sara, omar, lina   Contact
	convs              map[string]int64 // by name
	agent, other, boss User
}

func buildInbox(t *testing.T, s *Store) *inboxWorld {
	t.Helper()
	ctx := t.Context()
	s.SetSearchNormalizer(arabicFold)
	w := &inboxWorld{convs: map[string]int64{}}
	w.email = Channel{Name: "email", Kind: message.Email, Enabled: true}
	w.sms = Channel{Name: "sms", Kind: message.SMS, Enabled: true}
	for _, c := range []*Channel{&w.email, &w.sms} {
		if err := s.UpsertChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	w.agent = newUser(t, s, "agent@uni.example", RoleAgent, "classrooms")
	w.other = newUser(t, s, "other@uni.example", RoleAgent, "maintenance_center")
	w.boss = newUser(t, s, "boss@uni.example", RoleOperator)
	t0 := now().Add(-time.Hour)
	n := 0
	add := func(name string, ch Channel, from message.Party, subject, text, topic, scope, lang, dept string) {
		n++
		mustTx(t, s, func(tx *Tx) error {
			c, err := tx.FindOrCreateContact(ctx, from)
			if err != nil {
				return err
			}
			at := t0.Add(time.Duration(n) * time.Minute)
			conv := Conversation{ContactID: c.ID, ChannelID: ch.ID, Subject: subject, LastMessageAt: at, CreatedAt: at}
			if err := tx.CreateConversation(ctx, &conv); err != nil {
				return err
			}
			w.convs[name] = conv.ID
			m := Message{ChannelID: ch.ID, ExternalID: name, ConversationID: conv.ID, ContactID: c.ID, From: from,
				Subject: subject, Text: text, Topic: topic, Scope: scope, Language: lang, CreatedAt: at}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			if dept != "" {
				tn, err := tx.NextTicketNumber(ctx, "EDU", 2026)
				if err != nil {
					return err
				}
				tk := Ticket{Prefix: "EDU", Year: 2026, Number: tn, ConversationID: conv.ID, ContactID: c.ID, Topic: topic, Department: dept}
				return tx.CreateTicket(ctx, &tk)
			}
			return nil
		})
	}
	sara := message.Party{Kind: message.IdentityEmail, Value: "sara@example.com", Name: "Sara"}
	omar := message.Party{Kind: message.IdentityPhone, Value: "+966551234567", Name: "عمر"}
	lina := message.Party{Kind: message.IdentityEmail, Value: "lina@example.com", Name: "Lina"}
	add("projector", w.email, sara, "Projector broken", "Good morning, I am writing because the projector in room 12 does not turn on since Sunday", "equipment_maintenance", "in", "en", "maintenance_center")
	add("arabic", w.sms, omar, "", "نحتاج اجهزه عرض في القاعه الكبيره", "equipment_loan", "in", "ar", "classrooms")
	add("grades", w.email, lina, "Grades", "When are grades published?", "grades", "out", "en", "")
	add("smsfollow", w.sms, omar, "", "شكرا لكم", "", "", "ar", "")
	add("prize", w.email, message.Party{Kind: message.IdentityEmail, Value: "winner@promo.example"}, "You won!", "Claim your prize now", "spam", "spam", "en", "")
	for _, c := range []struct {
		p  message.Party
		to *Contact
	}{{sara, &w.sara}, {omar, &w.omar}, {lina, &w.lina}} {
		mustTx(t, s, func(tx *Tx) error {
			var err error
			*c.to, err = tx.FindOrCreateContact(ctx, c.p)
			return err
		})
	}
	return w
}

func names(w *inboxWorld, rows []InboxRow) []string {
	by := map[int64]string{}
	for k, v := range w.convs {
		by[v] = k
	}
	var out []string
	for _, r := range rows {
		out = append(out, by[r.ID])
	}
	return out
}

func TestInboxList(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		w := buildInbox(t, s)
		ctx := t.Context()
		op := InboxFilter{All: true, ViewerID: w.boss.ID}
		tests := []struct {
			name string
			f    func(f InboxFilter) InboxFilter
			want []string
		}{
			{"everything, newest first", func(f InboxFilter) InboxFilter { return f }, []string{"smsfollow", "grades", "arabic", "projector"}},
			{"channel sms", func(f InboxFilter) InboxFilter { f.Channel = message.SMS; return f }, []string{"smsfollow", "arabic"}},
			{"department", func(f InboxFilter) InboxFilter { f.Department = "classrooms"; return f }, []string{"arabic"}},
			{"scope out", func(f InboxFilter) InboxFilter { f.Scope = "out"; return f }, []string{"grades"}},
			{"spam only under its filter", func(f InboxFilter) InboxFilter { f.Scope = "spam"; return f }, []string{"prize"}},
			{"topic", func(f InboxFilter) InboxFilter { f.Topic = "equipment_maintenance"; return f }, []string{"projector"}},
			{"language", func(f InboxFilter) InboxFilter { f.Language = "ar"; return f }, []string{"smsfollow", "arabic"}},
			{"unassigned", func(f InboxFilter) InboxFilter { f.Assignee = "unassigned"; return f }, []string{"smsfollow", "grades", "arabic", "projector"}},
			{"mine", func(f InboxFilter) InboxFilter { f.Assignee = "me"; return f }, nil},
			{"search English, any case", func(f InboxFilter) InboxFilter { f.Query = "PROJECTOR room"; return f }, []string{"projector"}},
			{"search a word far into the text", func(f InboxFilter) InboxFilter { f.Query = "sunday"; return f }, []string{"projector"}},
			{"search English prefix", func(f InboxFilter) InboxFilter { f.Query = "publish"; return f }, []string{"grades"}},
			// Written with hamza and taa marbuta; the text has neither.
			{"search Arabic, normalized", func(f InboxFilter) InboxFilter { f.Query = "أجهزة القاعة"; return f }, []string{"arabic"}},
			{"search with punctuation", func(f InboxFilter) InboxFilter { f.Query = `"projector" -- * (`; return f }, []string{"projector"}},
			{"search no match", func(f InboxFilter) InboxFilter { f.Query = "elephant"; return f }, nil},
			{"contact", func(f InboxFilter) InboxFilter { f.ContactID = w.omar.ID; return f }, []string{"smsfollow", "arabic"}},
			{"page after arabic", func(f InboxFilter) InboxFilter { f.BeforeID = w.convs["arabic"]; return f }, []string{"projector"}},
			{"page of two", func(f InboxFilter) InboxFilter { f.Limit = 2; return f }, []string{"smsfollow", "grades"}},
		}
		for _, tt := range tests {
			rows, err := s.InboxList(ctx, tt.f(op))
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := names(w, rows); !slices.Equal(got, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
		rows, _ := s.InboxList(ctx, InboxFilter{All: true, Topic: "equipment_maintenance"})
		r := rows[0]
		if r.ContactName != "Sara" || r.ChannelKind != message.Email || r.TicketRef == "" || r.TicketStatus != TicketOpen ||
			r.Department != "maintenance_center" || r.Scope != "in" || r.Language != "en" || !r.Unread || len(r.Identities) != 1 {
			t.Errorf("row %+v", r)
		}
		// An agent sees their department, conversations without one, and
		// what is assigned to them.
		agent := InboxFilter{ViewerID: w.agent.ID, Departments: w.agent.Departments}
		rows, _ = s.InboxList(ctx, agent)
		if got := names(w, rows); !slices.Equal(got, []string{"smsfollow", "grades", "arabic"}) {
			t.Errorf("agent sees %v", got)
		}
		mustTx(t, s, func(tx *Tx) error { return tx.SetAssignee(ctx, w.convs["projector"], w.agent.ID) })
		rows, _ = s.InboxList(ctx, agent)
		if got := names(w, rows); !slices.Equal(got, []string{"smsfollow", "grades", "arabic", "projector"}) {
			t.Errorf("agent with an assignment sees %v", got)
		}
		agent.Assignee = "me"
		rows, _ = s.InboxList(ctx, agent)
		if got := names(w, rows); !slices.Equal(got, []string{"projector"}) || rows[0].AssigneeName != w.agent.Name {
			t.Errorf("mine: %v %+v", got, rows)
		}
		// Read marks are per user.
		if err := s.MarkRead(ctx, w.agent.ID, w.convs["projector"]); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.InboxConversation(ctx, w.convs["projector"], w.agent.ID); r.Unread {
			t.Error("still unread for the agent who read it")
		}
		if r, _ := s.InboxConversation(ctx, w.convs["projector"], w.boss.ID); !r.Unread {
			t.Error("read for someone who never opened it")
		}
		if _, err := s.InboxList(ctx, InboxFilter{All: true, Assignee: "somebody"}); err == nil {
			t.Error("bad assignee filter accepted")
		}
	})
}

func TestInboxSnooze(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		w := buildInbox(t, s)
		ctx := t.Context()
		id := w.convs["projector"]
		until := now().Add(time.Hour)
		mustTx(t, s, func(tx *Tx) error { return tx.SetSnooze(ctx, id, &until) })
		all := InboxFilter{All: true}
		rows, _ := s.InboxList(ctx, all)
		if slices.Contains(names(w, rows), "projector") {
			t.Error("a snoozed conversation is in the list")
		}
		all.Status = "snoozed"
		rows, _ = s.InboxList(ctx, all)
		if got := names(w, rows); !slices.Equal(got, []string{"projector"}) {
			t.Errorf("snoozed list: %v", got)
		}
		// A wake-up for another time is a no-op; the right one brings it
		// back on top with a reminder.
		if woke, err := s.WakeConversation(ctx, id, until.Add(time.Minute)); err != nil || woke {
			t.Errorf("wake at the wrong time: %v %v", woke, err)
		}
		if woke, err := s.WakeConversation(ctx, id, until); err != nil || !woke {
			t.Fatalf("wake: %v %v", woke, err)
		}
		rows, _ = s.InboxList(ctx, InboxFilter{All: true})
		if got := names(w, rows); got[0] != "projector" || rows[0].RemindedAt == nil {
			t.Errorf("after wake: %v, reminded %v", got, rows[0].RemindedAt)
		}
		// The customer writing ends a snooze early.
		mustTx(t, s, func(tx *Tx) error { return tx.SetSnooze(ctx, id, &until) })
		mustTx(t, s, func(tx *Tx) error {
			m := Message{ChannelID: w.email.ID, ExternalID: "again", ConversationID: id, ContactID: w.sara.ID, From: message.Party{Kind: message.IdentityEmail, Value: "sara@example.com"}, Text: "any news?"}
			return tx.InsertMessage(ctx, &m)
		})
		if r, _ := s.InboxConversation(ctx, id, 0); r.SnoozedUntil != nil {
			t.Errorf("snooze survived a customer message: %v", r.SnoozedUntil)
		}
		if woke, _ := s.WakeConversation(ctx, id, until); woke {
			t.Error("the scheduled wake-up fired after the customer wrote")
		}
	})
}

func TestContactMerge(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		w := buildInbox(t, s)
		ctx := t.Context()
		var m ContactMerge
		mustTx(t, s, func(tx *Tx) error {
			var err error
			m, err = tx.MergeContacts(ctx, w.sara.ID, w.omar.ID, "agent@uni.example")
			return err
		})
		if len(m.Moved.Conversations) != 2 || len(m.Moved.Identities) != 1 || len(m.Moved.Messages) != 2 || len(m.Moved.Tickets) != 1 {
			t.Errorf("moved %+v", m.Moved)
		}
		c, _ := s.Contact(ctx, w.sara.ID)
		if len(c.Identities) != 2 {
			t.Errorf("kept contact identities %v", c.Identities)
		}
		rows, _ := s.InboxList(ctx, InboxFilter{All: true, ContactID: w.sara.ID})
		if len(rows) != 3 {
			t.Errorf("kept contact has %d conversations, want 3", len(rows))
		}
		hist, err := s.ContactHistory(ctx, w.sara.ID)
		if err != nil {
			t.Fatal(err)
		}
		chans := map[message.Kind]bool{}
		for _, h := range hist {
			chans[h.Channel] = true
		}
		if !chans[message.Email] || !chans[message.SMS] {
			t.Errorf("history after merge covers %v, want email and SMS", chans)
		}
		// A later SMS from the merged number goes to the kept contact.
		mustTx(t, s, func(tx *Tx) error {
			got, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityPhone, Value: "+966551234567"})
			if err == nil && got.ID != w.sara.ID {
				err = fmt.Errorf("merged identity belongs to %d", got.ID)
			}
			return err
		})
		// Merging twice, or into itself, is refused.
		if err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.MergeContacts(ctx, w.lina.ID, w.omar.ID, "x"); return err }); !errors.Is(err, ErrDuplicate) {
			t.Errorf("merging a merged contact: %v", err)
		}
		if err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.MergeContacts(ctx, w.lina.ID, w.lina.ID, "x"); return err }); err == nil {
			t.Error("merged a contact into itself")
		}
		// Undo gives back exactly what moved.
		mustTx(t, s, func(tx *Tx) error { _, err := tx.UndoMerge(ctx, m.ID, "boss@uni.example"); return err })
		c, _ = s.Contact(ctx, w.omar.ID)
		if len(c.Identities) != 1 || c.Identities[0].Value != "+966551234567" {
			t.Errorf("after undo, omar has %v", c.Identities)
		}
		rows, _ = s.InboxList(ctx, InboxFilter{All: true, ContactID: w.omar.ID})
		if len(rows) != 2 {
			t.Errorf("after undo, omar has %d conversations", len(rows))
		}
		d, _ := s.ContactDetail(ctx, w.sara.ID)
		if len(d.Merges) != 1 || d.Merges[0].UndoneAt == nil || d.Merges[0].UndoneBy != "boss@uni.example" {
			t.Errorf("merge record %+v", d.Merges)
		}
		if err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.UndoMerge(ctx, m.ID, "x"); return err }); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second undo: %v", err)
		}
	})
}

// Every kind of write lands in the change feed, whoever makes it.
func TestChangeFeed(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		w := buildInbox(t, s)
		ctx := t.Context()
		start, err := s.LastChangeID(ctx)
		if err != nil || start == 0 {
			t.Fatalf("no changes recorded for the seeded messages: %d %v", start, err)
		}
		id := w.convs["grades"]
		var o Outbound
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.SetAssignee(ctx, id, w.agent.ID); err != nil {
				return err
			}
			o = Outbound{ChannelID: w.email.ID, ConversationID: id, ContactID: w.lina.ID, To: message.Party{Kind: message.IdentityEmail, Value: "lina@example.com"}, Text: "hi"}
			return tx.InsertOutbound(ctx, &o)
		})
		if err := s.MarkOutbound(ctx, o.ID, message.StateSent, "p1", ""); err != nil {
			t.Fatal(err)
		}
		ch, err := s.Changes(ctx, start, 100)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, c := range ch {
			if c.ConversationID != id {
				t.Errorf("change for conversation %d", c.ConversationID)
			}
			kinds = append(kinds, c.Kind)
		}
		if !slices.Equal(kinds, []string{"conversation", "outbound", "delivery"}) {
			t.Errorf("change kinds %v", kinds)
		}
		if ch[0].AssigneeID != w.agent.ID {
			t.Errorf("change carries assignee %d", ch[0].AssigneeID)
		}
		if err := s.PruneChanges(ctx, now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, `SELECT count(*) FROM changes`); n != 0 {
			t.Errorf("%d changes after pruning", n)
		}
	})
}

// On PostgreSQL a commit on one connection wakes a listener on another.
func TestListenChanges(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		woke := make(chan struct{}, 16)
		ctx, cancel := contextWithCancel(t)
		done := make(chan error, 1)
		go func() { done <- s.ListenChanges(ctx, func() { woke <- struct{}{} }) }()
		if s.Dialect() == SQLite {
			if err := <-done; !errors.Is(err, ErrNoListen) {
				t.Errorf("SQLite ListenChanges: %v, want ErrNoListen", err)
			}
			return
		}
		<-woke // the first wake-up comes when LISTEN is in force
		buildInbox(t, s)
		select {
		case <-woke:
		case err := <-done:
			t.Fatalf("listener ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no notification within 10s of a commit")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener after cancel: %v", err)
		}
	})
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
