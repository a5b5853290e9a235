package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/message"
)

// The contract: every test here runs against SQLite and PostgreSQL.

func TestMigrateTwiceIsNoop(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// A fresh database, not the migrated template the others copy.
			dir := t.TempDir()
			s, err := Open(t.Context(), b.dsn(t), dir, quiet())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("first migrate: %v", err)
			}
			assertMigrateIsNoop(t, s)
		})
	}
}

// Branches reserve migration numbers ahead and land in any order, so a
// database already at a later version must still take an earlier number
// that shipped after it (00012 landed after 00013 was released).
func TestMigrateTakesAnEarlierNumberThatLandedLater(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), b.dsn(t), t.TempDir(), quiet())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("first migrate: %v", err)
			}
			// The database as a release without 00012 left it.
			for _, q := range []string{`DROP TABLE leases`, `DELETE FROM goose_db_version WHERE version_id = 12`} {
				if _, err := s.DB().ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("migrate with 00012 missing below the current version: %v", err)
			}
			if n := count(t, s, `SELECT count(*) FROM goose_db_version WHERE version_id = 12`); n != 1 {
				t.Errorf("00012 recorded %d times, want 1", n)
			}
			if n := count(t, s, `SELECT count(*) FROM leases`); n != 0 {
				t.Errorf("leases has %d rows", n)
			}
		})
	}
}

func assertMigrateIsNoop(t *testing.T, s *Store) {
	goose := count(t, s, `SELECT count(*) FROM goose_db_version`)
	riverMigrations := count(t, s, `SELECT count(*) FROM river_migration`)
	if riverMigrations == 0 {
		t.Fatal("no River migrations recorded")
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if got := count(t, s, `SELECT count(*) FROM goose_db_version`); got != goose {
		t.Errorf("goose versions %d -> %d after a second migrate", goose, got)
	}
	if got := count(t, s, `SELECT count(*) FROM river_migration`); got != riverMigrations {
		t.Errorf("river migrations %d -> %d after a second migrate", riverMigrations, got)
	}
	if got := count(t, s, `SELECT count(*) FROM river_job`); got != 0 {
		t.Errorf("river_job has %d rows", got)
	}
}

type messageFixture struct {
	Name                           string  `json:"name"`
	QuarantinedWithoutConversation bool    `json:"quarantined_without_conversation"`
	Message                        Message `json:"message"`
}

func loadMessages(t *testing.T) []messageFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx []messageFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatalf("testdata/messages.json: %v", err)
	}
	return fx
}

func TestMessageRoundTripAndDedupe(t *testing.T) {
	fixtures := loadMessages(t)
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		for _, fx := range fixtures {
			t.Run(fx.Name, func(t *testing.T) {
				m := fx.Message
				m.ChannelID = f.ch.ID
				if !fx.QuarantinedWithoutConversation {
					m.ConversationID, m.ContactID = f.conv.ID, f.contact.ID
				}
				mustTx(t, s, func(tx *Tx) error {
					if err := tx.InsertMessage(t.Context(), &m); err != nil {
						return err
					}
					// The second delivery of the same message.
					dup := fx.Message
					dup.ChannelID = f.ch.ID
					if err := tx.InsertMessage(t.Context(), &dup); !errors.Is(err, ErrDuplicate) {
						return fmt.Errorf("second insert: err = %v, want ErrDuplicate", err)
					}
					// The transaction must still work after the duplicate
					// (on PostgreSQL a failed statement would abort it).
					id, conv, found, err := tx.LookupMessage(t.Context(), f.ch.ID, m.ExternalID)
					if err != nil || !found || id != m.ID || conv != m.ConversationID {
						return fmt.Errorf("LookupMessage = %d, %d, %v, %v; want %d, %d, true", id, conv, found, err, m.ID, m.ConversationID)
					}
					return nil
				})
				if m.ID == 0 {
					t.Fatal("InsertMessage did not set ID")
				}
				got, err := s.Message(t.Context(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := m
				want.SentAt, want.ReceivedAt, want.CreatedAt = us(m.SentAt), us(m.ReceivedAt), us(m.CreatedAt)
				if m.SentAt.IsZero() {
					want.SentAt = time.Time{}
				}
				if m.ReceivedAt.IsZero() {
					want.ReceivedAt = time.Time{}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
				}
			})
		}
		q, err := s.ListQuarantined(t.Context(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 1 || q[0].QuarantineReason == "" || q[0].RawSHA256 == "" {
			t.Errorf("ListQuarantined = %+v, want the one quarantined message", q)
		}
		st, err := s.Stats(t.Context())
		if err != nil || st.Messages != int64(len(fixtures)) || st.Quarantined != 1 {
			t.Errorf("Stats = %+v, %v; want %d messages, 1 quarantined", st, err, len(fixtures))
		}
		mustTx(t, s, func(tx *Tx) error {
			_, _, found, err := tx.LookupMessage(t.Context(), f.ch.ID, "never-seen")
			if err != nil || found {
				return fmt.Errorf("LookupMessage(never-seen) = found %v, %v", found, err)
			}
			// Many at once: each stored key once, whatever else is asked
			// (a key twice, one never seen, a stored id on another channel).
			var keys []MessageKey
			want := map[MessageKey]MessageRef{}
			for _, fx := range fixtures {
				k := MessageKey{f.ch.ID, fx.Message.ExternalID}
				id, conv, _, err := tx.LookupMessage(t.Context(), k.ChannelID, k.ExternalID)
				if err != nil {
					return err
				}
				keys, want[k] = append(keys, k, MessageKey{f.ch.ID + 1000, k.ExternalID}), MessageRef{id, conv}
			}
			keys = append(keys, MessageKey{f.ch.ID, "never-seen"}, keys[0])
			got, err := tx.LookupMessages(t.Context(), keys)
			if err != nil || !reflect.DeepEqual(got, want) {
				return fmt.Errorf("LookupMessages = %v, %v; want %v", got, err, want)
			}
			return nil
		})
	})
}

func TestMessageValidation(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		tests := []struct {
			name string
			m    Message
		}{
			{"no external id", Message{ChannelID: f.ch.ID}},
			{"no channel", Message{ExternalID: "x"}},
			{"attachments inline", Message{ChannelID: f.ch.ID, ExternalID: "x", Attachments: []Attachment{{Filename: "a.pdf"}}}},
			{"bad decision json", Message{ChannelID: f.ch.ID, ExternalID: "x", Decision: json.RawMessage(`{nope`)}},
			{"unknown conversation (foreign key)", Message{ChannelID: f.ch.ID, ExternalID: "x", ConversationID: 999999}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.InTx(t.Context(), func(tx *Tx) error { return tx.InsertMessage(t.Context(), &tt.m) })
				if err == nil {
					t.Fatal("InsertMessage succeeded, want an error")
				}
			})
		}
		if st, err := s.Stats(t.Context()); err != nil || st.Messages != 0 {
			t.Errorf("Stats = %+v, %v; want no messages", st, err)
		}
	})
}

func TestSetMessageClassification(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		m := Message{ChannelID: f.ch.ID, ExternalID: "c1", ConversationID: f.conv.ID, ContactID: f.contact.ID, Text: "hello"}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.InsertMessage(t.Context(), &m); err != nil {
				return err
			}
			return tx.SetMessageClassification(t.Context(), m.ID, "en", "in", "maintenance", 0.91, json.RawMessage(`{"action":"reply"}`))
		})
		got, err := s.Message(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Language != "en" || got.Scope != "in" || got.Topic != "maintenance" || got.Confidence != 0.91 || string(got.Decision) != `{"action":"reply"}` {
			t.Errorf("classification not stored: %+v", got)
		}
		err = s.InTx(t.Context(), func(tx *Tx) error {
			return tx.SetMessageClassification(t.Context(), 424242, "en", "", "", 0, nil)
		})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown message: err = %v, want ErrNotFound", err)
		}
	})
}

func TestContactIdentity(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		email := message.Party{Kind: message.IdentityEmail, Value: "omar@example.com"}
		phone := message.Party{Kind: message.IdentityPhone, Value: "+966500000001", Name: "Omar"}
		var first, again, byPhone Contact
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if first, err = tx.FindOrCreateContact(ctx, email); err != nil {
				return err
			}
			// The same identity, now with a name: same contact, name filled.
			if again, err = tx.FindOrCreateContact(ctx, message.Party{Kind: email.Kind, Value: email.Value, Name: "عمر"}); err != nil {
				return err
			}
			if err := tx.AddIdentity(ctx, first.ID, phone); err != nil {
				return err
			}
			if err := tx.AddIdentity(ctx, first.ID, phone); err != nil {
				return fmt.Errorf("AddIdentity twice: %w", err)
			}
			if byPhone, err = tx.FindOrCreateContact(ctx, phone); err != nil {
				return err
			}
			return tx.SetContactLanguage(ctx, first.ID, "ar")
		})
		if first.ID == 0 || again.ID != first.ID || byPhone.ID != first.ID {
			t.Fatalf("contacts %d, %d, %d: want one contact", first.ID, again.ID, byPhone.ID)
		}
		if first.DisplayName != "" || again.DisplayName != "عمر" || byPhone.DisplayName != "عمر" {
			t.Errorf("display names %q, %q, %q", first.DisplayName, again.DisplayName, byPhone.DisplayName)
		}
		got, err := s.Contact(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Language != "ar" {
			t.Errorf("language = %q, want ar", got.Language)
		}
		wantIDs := []message.Party{email, phone}
		slices.SortFunc(got.Identities, func(a, b message.Party) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
		if !reflect.DeepEqual(got.Identities, wantIDs) {
			t.Errorf("identities = %+v, want %+v", got.Identities, wantIDs)
		}

		// Another contact cannot take Omar's phone.
		err = s.InTx(ctx, func(tx *Tx) error {
			other, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: "someone@example.com"})
			if err != nil {
				return err
			}
			if other.ID == first.ID {
				return errors.New("a new identity reused an existing contact")
			}
			return tx.AddIdentity(ctx, other.ID, phone)
		})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("AddIdentity of another contact's identity: err = %v, want ErrDuplicate", err)
		}
		for _, bad := range []message.Party{{}, {Kind: message.IdentityEmail}, {Value: "x@example.com"}} {
			err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.FindOrCreateContact(ctx, bad); return err })
			if err == nil {
				t.Errorf("FindOrCreateContact(%+v) succeeded", bad)
			}
		}
		if _, err := s.Contact(ctx, 987654); !errors.Is(err, ErrNotFound) {
			t.Errorf("Contact(unknown): err = %v, want ErrNotFound", err)
		}
	})
}

// CreateContact makes the contact with its language and name; for an
// identity already taken it leaves nothing behind and gives the owner.
func TestCreateContact(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		phone := message.Party{Kind: message.IdentityPhone, Value: "+966500000077", Name: "Huda"}
		var c Contact
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if c, err = tx.CreateContact(ctx, phone, "ar"); err != nil {
				return err
			}
			if c.ID == 0 || c.Language != "ar" || c.DisplayName != "Huda" {
				return fmt.Errorf("CreateContact = %+v; want a new contact named Huda writing in ar", c)
			}
			return nil
		})
		got, err := s.Contact(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Language != "ar" || got.DisplayName != "Huda" || len(got.Identities) != 1 || got.Identities[0].Value != phone.Value {
			t.Errorf("stored contact = %+v, want Huda, ar, the one phone", got)
		}
		count := func() int {
			var n int
			if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		mustTx(t, s, func(tx *Tx) error {
			owner, err := tx.CreateContact(ctx, message.Party{Kind: phone.Kind, Value: phone.Value}, "en")
			if err != nil {
				return err
			}
			if owner.ID != c.ID || owner.Language != "ar" {
				return fmt.Errorf("CreateContact of a taken identity = %+v; want its owner %d, in ar", owner, c.ID)
			}
			return nil
		})
		if after := count(); after != before {
			t.Errorf("contacts: %d before, %d after a CreateContact of a taken identity; want no change", before, after)
		}
		err = s.InTx(ctx, func(tx *Tx) error {
			_, err := tx.CreateContact(ctx, message.Party{Kind: message.IdentityPhone}, "")
			return err
		})
		if err == nil {
			t.Error("CreateContact without a value succeeded")
		}
	})
}

func TestConversationByHeaderIDs(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		convs := map[string]int64{"A": f.conv.ID}
		mustTx(t, s, func(tx *Tx) error {
			for _, name := range []string{"B", "C"} {
				c := Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID}
				if err := tx.CreateConversation(ctx, &c); err != nil {
					return err
				}
				convs[name] = c.ID
			}
			// A: inbound a1 at base; C: inbound c1 at base+2h.
			for _, in := range []struct {
				conv, header string
				at           time.Time
			}{{"A", "a1@x.example", base}, {"C", "c1@x.example", base.Add(2 * time.Hour)}} {
				m := Message{ChannelID: f.ch.ID, ExternalID: in.header, ConversationID: convs[in.conv], ContactID: f.contact.ID,
					HeaderMessageID: in.header, CreatedAt: in.at}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
			}
			// B: our reply o1 at base+1h.
			o := f.outbound("o1@wasl.example", true)
			o.ConversationID, o.CreatedAt = convs["B"], base.Add(time.Hour)
			return tx.InsertOutbound(ctx, o)
		})
		tests := []struct {
			name string
			ids  []string
			want string // conversation name, "" for none
		}{
			{"inbound message id", []string{"a1@x.example"}, "A"},
			{"our outbound message id", []string{"o1@wasl.example"}, "B"},
			{"brackets and spaces trimmed, most recent wins", []string{"<a1@x.example>", " o1@wasl.example "}, "B"},
			{"most recent of three", []string{"c1@x.example", "a1@x.example", "o1@wasl.example"}, "C"},
			{"unknown", []string{"nope@x.example"}, ""},
			{"empty list", nil, ""},
			{"only blanks", []string{"", "<>", "  "}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustTx(t, s, func(tx *Tx) error {
					got, found, err := tx.ConversationByHeaderIDs(ctx, tt.ids)
					if err != nil {
						return err
					}
					if tt.want == "" {
						if found {
							t.Errorf("found conversation %d, want none", got)
						}
						return nil
					}
					if !found || got != convs[tt.want] {
						t.Errorf("got %d (found %v), want %s = %d", got, found, tt.want, convs[tt.want])
					}
					return nil
				})
			})
		}
	})
}

func TestOpenAndTouchConversation(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		var conv Conversation
		sms := Channel{Name: "sms", Kind: message.SMS, Enabled: true}
		if err := s.UpsertChannel(ctx, &sms); err != nil {
			t.Fatal(err)
		}
		var contact Contact
		mustTx(t, s, func(tx *Tx) error {
			// Not the fixture's contact: their conversation is active now.
			var err error
			if contact, err = tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityPhone, Value: "+966500000009"}); err != nil {
				return err
			}
			// A sub-second timestamp: text timestamps must still sort right
			// ("…00.5Z" after "…00Z").
			conv = Conversation{ContactID: contact.ID, ChannelID: f.ch.ID, LastMessageAt: base.Add(500 * time.Millisecond)}
			return tx.CreateConversation(ctx, &conv)
		})
		open := func(channelID int64, since time.Time) (int64, bool) {
			t.Helper()
			var id int64
			var found bool
			mustTx(t, s, func(tx *Tx) error {
				var err error
				id, found, err = tx.OpenConversation(ctx, contact.ID, channelID, since)
				return err
			})
			return id, found
		}
		tests := []struct {
			name      string
			channelID int64
			since     time.Time
			want      bool
		}{
			{"within window", f.ch.ID, base.Add(-time.Hour), true},
			{"since equals last activity", f.ch.ID, base.Add(500 * time.Millisecond), true},
			{"since just before, same second", f.ch.ID, base, true},
			{"since after last activity", f.ch.ID, base.Add(time.Second), false},
			{"other channel", sms.ID, base.Add(-time.Hour), false},
		}
		for _, tt := range tests {
			id, found := open(tt.channelID, tt.since)
			if found != tt.want || (found && id != conv.ID) {
				t.Errorf("%s: OpenConversation = %d, %v; want found=%v (id %d)", tt.name, id, found, tt.want, conv.ID)
			}
		}
		mustTx(t, s, func(tx *Tx) error { return tx.SetConversationStatus(ctx, conv.ID, ConversationClosed) })
		if _, found := open(f.ch.ID, base.Add(-time.Hour)); found {
			t.Error("closed conversation found as open")
		}
		later := base.Add(2 * time.Hour)
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.TouchConversation(ctx, conv.ID, later); err != nil {
				return err
			}
			// An older message arriving late must not move activity back.
			return tx.TouchConversation(ctx, conv.ID, base)
		})
		d, err := s.Conversation(ctx, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Conversation.Status != ConversationOpen || !d.Conversation.LastMessageAt.Equal(later) {
			t.Errorf("after touch: status %q, last %v; want open, %v", d.Conversation.Status, d.Conversation.LastMessageAt, later)
		}
		err = s.InTx(ctx, func(tx *Tx) error { return tx.TouchConversation(ctx, 999999, later) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("touch unknown: err = %v, want ErrNotFound", err)
		}
	})
}

func TestTicketNumbersGapFree(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		next := func(prefix string, year int, rollback bool) int64 {
			t.Helper()
			var n int64
			err := s.InTx(ctx, func(tx *Tx) error {
				var err error
				if n, err = tx.NextTicketNumber(ctx, prefix, year); err != nil {
					return err
				}
				if rollback {
					return errRollback
				}
				return nil
			})
			if rollback != errors.Is(err, errRollback) || (!rollback && err != nil) {
				t.Fatalf("InTx: %v", err)
			}
			return n
		}
		steps := []struct {
			prefix   string
			year     int
			rollback bool
			want     int64
		}{
			{"EDU", 2026, false, 1},
			{"EDU", 2026, false, 2},
			{"EDU", 2026, true, 3}, // rolled back: 3 is handed out again
			{"EDU", 2026, false, 3},
			{"EDU", 2027, false, 1}, // a new year starts over
			{"OPS", 2026, false, 1}, // so does another prefix
			{"EDU", 2026, false, 4},
		}
		for i, st := range steps {
			if got := next(st.prefix, st.year, st.rollback); got != st.want {
				t.Errorf("step %d %s/%d: got %d, want %d", i, st.prefix, st.year, got, st.want)
			}
		}
	})
}

func TestTicketNumbersConcurrent(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		const workers, perWorker = 6, 5
		var mu sync.Mutex
		var got []int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range perWorker {
					err := s.InTx(ctx, func(tx *Tx) error {
						n, err := tx.NextTicketNumber(ctx, "EDU", 2026)
						if err != nil {
							return err
						}
						tk := Ticket{Prefix: "EDU", Year: 2026, Number: n, ConversationID: f.conv.ID, ContactID: f.contact.ID}
						if err := tx.CreateTicket(ctx, &tk); err != nil {
							return err
						}
						mu.Lock()
						got = append(got, n)
						mu.Unlock()
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("worker: %v", err)
		}
		slices.Sort(got)
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("numbers %v: want 1..%d, each once", got, workers*perWorker)
			}
		}
		if len(got) != workers*perWorker {
			t.Fatalf("got %d numbers, want %d", len(got), workers*perWorker)
		}
		if n := count(t, s, `SELECT count(DISTINCT ref) FROM tickets`); n != workers*perWorker {
			t.Errorf("%d distinct refs, want %d", n, workers*perWorker)
		}
	})
}

func TestTicketLifecycle(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		due := time.Date(2026, 3, 2, 14, 30, 0, 0, time.FixedZone("AST", 3*3600))
		tk := Ticket{Prefix: "EDU", Year: 2026, Number: 123, ConversationID: f.conv.ID, ContactID: f.contact.ID,
			Topic: "equipment", Department: "av", Subject: "Projector", SLADueAt: &due}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateTicket(ctx, &tk) })
		if tk.Ref != "EDU-2026-000123" || tk.Status != TicketOpen || tk.ID == 0 {
			t.Fatalf("created %+v", tk)
		}
		// The created event told the inbox (its trigger found the ticket,
		// inserted by the same statement on PostgreSQL).
		if n := count(t, s, `SELECT count(*) FROM changes WHERE conversation_id = $1 AND kind = 'event'`, f.conv.ID); n != 1 {
			t.Errorf("%d event changes for the new ticket's conversation, want 1", n)
		}
		mustTx(t, s, func(tx *Tx) error {
			got, found, err := tx.TicketForConversation(ctx, f.conv.ID)
			if err != nil || !found || got.ID != tk.ID {
				return fmt.Errorf("TicketForConversation = %d, %v, %v", got.ID, found, err)
			}
			byRef, found, err := tx.TicketByRef(ctx, "EDU-2026-000123")
			if err != nil || !found || byRef.ID != tk.ID || !byRef.SLADueAt.Equal(due) {
				return fmt.Errorf("TicketByRef = %+v, %v, %v", byRef, found, err)
			}
			if _, found, err := tx.TicketByRef(ctx, "EDU-2026-999999"); found || err != nil {
				return fmt.Errorf("TicketByRef(unknown) = %v, %v", found, err)
			}
			if err := tx.UpdateTicketStatus(ctx, tk.ID, TicketInProgress, "agent:huda", "on it"); err != nil {
				return err
			}
			if err := tx.SetTicketDepartment(ctx, tk.ID, "maintenance"); err != nil {
				return err
			}
			if err := tx.AddTicketEvent(ctx, &TicketEvent{TicketID: tk.ID, Kind: EventTransfer, Actor: "agent:huda", Note: "av -> maintenance"}); err != nil {
				return err
			}
			return tx.UpdateTicketStatus(ctx, tk.ID, TicketClosed, "agent:huda", "")
		})
		got, events, err := s.Ticket(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != TicketClosed || got.ClosedAt == nil || got.Department != "maintenance" {
			t.Errorf("after close: %+v", got)
		}
		type ev struct{ kind, from, to string }
		var gotEv []ev
		for _, e := range events {
			gotEv = append(gotEv, ev{e.Kind, e.FromStatus, e.ToStatus})
		}
		wantEv := []ev{{EventCreated, "", TicketOpen}, {EventStatus, TicketOpen, TicketInProgress}, {EventTransfer, "", ""}, {EventStatus, TicketInProgress, TicketClosed}}
		if !reflect.DeepEqual(gotEv, wantEv) {
			t.Errorf("events = %v, want %v", gotEv, wantEv)
		}
		mustTx(t, s, func(tx *Tx) error {
			if _, found, err := tx.TicketForConversation(ctx, f.conv.ID); found || err != nil {
				return fmt.Errorf("closed ticket still current: %v, %v", found, err)
			}
			// Reopening clears closed_at.
			return tx.UpdateTicketStatus(ctx, tk.ID, TicketOpen, "customer", "wrote again")
		})
		if got, _, _ := s.Ticket(ctx, tk.ID); got.ClosedAt != nil || got.Status != TicketOpen {
			t.Errorf("after reopen: %+v", got)
		}

		bad := []struct {
			name string
			fn   func(tx *Tx) error
			is   error
		}{
			{"duplicate ref", func(tx *Tx) error {
				return tx.CreateTicket(ctx, &Ticket{Prefix: "EDU", Year: 2026, Number: 123})
			}, ErrDuplicate},
			{"unknown status", func(tx *Tx) error { return tx.UpdateTicketStatus(ctx, tk.ID, "lost", "x", "") }, nil},
			{"unknown ticket", func(tx *Tx) error { return tx.UpdateTicketStatus(ctx, 999999, TicketClosed, "x", "") }, ErrNotFound},
			{"unknown event kind", func(tx *Tx) error { return tx.AddTicketEvent(ctx, &TicketEvent{TicketID: tk.ID, Kind: "magic"}) }, nil},
			{"no number", func(tx *Tx) error { return tx.CreateTicket(ctx, &Ticket{Prefix: "EDU", Year: 2026}) }, nil},
		}
		for _, b := range bad {
			err := s.InTx(ctx, b.fn)
			if err == nil || (b.is != nil && !errors.Is(err, b.is)) {
				t.Errorf("%s: err = %v, want an error (is %v)", b.name, err, b.is)
			}
		}
		if _, _, err := s.Ticket(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Ticket(unknown): err = %v, want ErrNotFound", err)
		}
	})
}

func TestListTickets(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		var ids []int64
		mustTx(t, s, func(tx *Tx) error {
			for i, dep := range []string{"av", "av", "maintenance", "av"} {
				tk := Ticket{Prefix: "EDU", Year: 2026, Number: int64(i + 1), ConversationID: f.conv.ID, Department: dep}
				if err := tx.CreateTicket(ctx, &tk); err != nil {
					return err
				}
				ids = append(ids, tk.ID)
			}
			return tx.UpdateTicketStatus(ctx, ids[1], TicketPending, "agent", "")
		})
		tests := []struct {
			name string
			f    TicketFilter
			want []int64
		}{
			{"all, newest first", TicketFilter{}, []int64{ids[3], ids[2], ids[1], ids[0]}},
			{"department", TicketFilter{Department: "av"}, []int64{ids[3], ids[1], ids[0]}},
			{"status", TicketFilter{Status: TicketPending}, []int64{ids[1]}},
			{"both", TicketFilter{Status: TicketOpen, Department: "av"}, []int64{ids[3], ids[0]}},
			{"limit", TicketFilter{Limit: 2}, []int64{ids[3], ids[2]}},
			{"page", TicketFilter{Limit: 2, BeforeID: ids[2]}, []int64{ids[1], ids[0]}},
		}
		for _, tt := range tests {
			got, err := s.ListTickets(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []int64
			for _, tk := range got {
				gotIDs = append(gotIDs, tk.ID)
			}
			if !reflect.DeepEqual(gotIDs, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, gotIDs, tt.want)
			}
		}
	})
}

func TestClaimOutbound(t *testing.T) {
	tests := []struct {
		from        message.DeliveryState
		wantClaimed bool
	}{
		{message.StateQueued, true},
		{message.StateSending, true}, // a previous attempt may have crashed mid-send
		{message.StateSent, false},
		{message.StateDelivered, false},
		{message.StateUndelivered, false},
		{message.StateFailed, false},
	}
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		for _, tt := range tests {
			t.Run(string(tt.from), func(t *testing.T) {
				o := f.outbound("", true)
				o.State = tt.from
				insertOutbound(t, s, o)
				got, claimed, err := s.ClaimOutbound(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if claimed != tt.wantClaimed {
					t.Fatalf("claimed = %v, want %v", claimed, tt.wantClaimed)
				}
				wantState, wantAttempts := tt.from, 0
				if tt.wantClaimed {
					wantState, wantAttempts = message.StateSending, 1
				}
				if got.State != wantState || got.Attempts != wantAttempts || got.Channel != message.Email {
					t.Errorf("after claim: state %s attempts %d channel %q; want %s, %d, email", got.State, got.Attempts, got.Channel, wantState, wantAttempts)
				}
			})
		}
		// A crash after the claim: the retry claims again and counts it.
		o := f.outbound("", false)
		insertOutbound(t, s, o)
		for want := 1; want <= 2; want++ {
			got, claimed, err := s.ClaimOutbound(ctx, o.ID)
			if err != nil || !claimed || got.Attempts != want {
				t.Fatalf("claim %d: %v, %v, attempts %d", want, claimed, err, got.Attempts)
			}
		}
		if err := s.MarkOutbound(ctx, o.ID, message.StateSent, "SM123", ""); err != nil {
			t.Fatal(err)
		}
		got, claimed, err := s.ClaimOutbound(ctx, o.ID)
		if err != nil || claimed || got.State != message.StateSent || got.ProviderID != "SM123" || got.SentAt == nil {
			t.Errorf("claim after sent: %v, %v, %+v", claimed, err, got)
		}
		if _, _, err := s.ClaimOutbound(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("claim unknown: err = %v, want ErrNotFound", err)
		}
		if err := s.MarkOutbound(ctx, 999999, message.StateSent, "", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("mark unknown: err = %v, want ErrNotFound", err)
		}
		if err := s.MarkOutbound(ctx, o.ID, "teleported", "", ""); err == nil {
			t.Error("mark with an unknown state succeeded")
		}
	})
}

func TestUpdateDeliveryNeverBackwards(t *testing.T) {
	tests := []struct {
		name    string
		reports []message.DeliveryState
		want    message.DeliveryState
	}{
		{"delivered", []message.DeliveryState{message.StateDelivered}, message.StateDelivered},
		{"late sent after delivered", []message.DeliveryState{message.StateDelivered, message.StateSent}, message.StateDelivered},
		{"late queued after sent", []message.DeliveryState{message.StateQueued}, message.StateSent},
		{"undelivered", []message.DeliveryState{message.StateUndelivered}, message.StateUndelivered},
		{"final state stands", []message.DeliveryState{message.StateUndelivered, message.StateDelivered}, message.StateUndelivered},
		{"failed then sent", []message.DeliveryState{message.StateFailed, message.StateSent}, message.StateFailed},
	}
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := f.outbound("", false)
				insertOutbound(t, s, o)
				sid := fmt.Sprintf("SM%03d", i)
				if err := s.MarkOutbound(ctx, o.ID, message.StateSent, sid, ""); err != nil {
					t.Fatal(err)
				}
				for _, st := range tt.reports {
					errText := ""
					if st == message.StateUndelivered || st == message.StateFailed {
						errText = "30003 unreachable"
					}
					found, err := s.UpdateDeliveryByProvider(ctx, f.ch.ID, sid, st, errText)
					if err != nil || !found {
						t.Fatalf("report %s: found %v, %v", st, found, err)
					}
				}
				got, err := s.Outbound(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != tt.want {
					t.Errorf("state = %s, want %s", got.State, tt.want)
				}
				if got.SentAt == nil {
					t.Error("sent_at not set")
				}
			})
		}
		found, err := s.UpdateDeliveryByProvider(ctx, f.ch.ID, "SM-unknown", message.StateDelivered, "")
		if err != nil || found {
			t.Errorf("unknown provider id: found %v, %v", found, err)
		}
		found, err = s.UpdateDeliveryByProvider(ctx, f.ch.ID+1000, "SM000", message.StateDelivered, "")
		if err != nil || found {
			t.Errorf("provider id on another channel: found %v, %v", found, err)
		}
	})
}

func TestLastAutoReply(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		last := func(conversationID int64) (time.Time, bool) {
			t.Helper()
			var at time.Time
			var found bool
			mustTx(t, s, func(tx *Tx) error {
				var err error
				at, found, err = tx.LastAutoReply(ctx, f.contact.ID, conversationID)
				return err
			})
			return at, found
		}
		if _, found := last(f.conv.ID); found {
			t.Fatal("auto reply found before any was sent")
		}
		add := func(at time.Time, auto bool, state message.DeliveryState) {
			o := f.outbound("", auto)
			o.CreatedAt, o.State = at, state
			insertOutbound(t, s, o)
		}
		add(base, true, message.StateSent)
		add(base.Add(time.Hour), false, message.StateSent)       // staff reply: not automatic
		add(base.Add(2*time.Hour), true, message.StateFailed)    // never reached them
		add(base.Add(-time.Hour), true, message.StateDelivered)  // older
		add(base.Add(30*time.Minute), true, message.StateQueued) // queued counts: it is on its way
		if at, found := last(f.conv.ID); !found || !at.Equal(base.Add(30*time.Minute)) {
			t.Errorf("LastAutoReply = %v, %v; want %v", at, found, base.Add(30*time.Minute))
		}
		if at, found := last(0); !found || !at.Equal(base.Add(30*time.Minute)) {
			t.Errorf("LastAutoReply(any conversation) = %v, %v", at, found)
		}
		if _, found := last(f.conv.ID + 1000); found {
			t.Error("found an auto reply in another conversation")
		}
	})
}

func TestOutboundHeaderUnique(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		insertOutbound(t, s, f.outbound("r1@wasl.example", true))
		// Empty header ids (SMS, WhatsApp) never collide.
		insertOutbound(t, s, f.outbound("", true))
		insertOutbound(t, s, f.outbound("", true))
		err := s.InTx(ctx, func(tx *Tx) error { return tx.InsertOutbound(ctx, f.outbound("r1@wasl.example", true)) })
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("second r1: err = %v, want ErrDuplicate", err)
		}
		o := f.outbound("r2@wasl.example", true)
		o.References = []string{"a@x", "b@x"}
		o.InReplyTo = "b@x"
		o.Subject = "Re: [EDU-2026-000001] Projector"
		insertOutbound(t, s, o)
		got, err := s.Outbound(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := message.Outbound{ID: o.ID, ChannelID: f.ch.ID, Channel: message.Email, To: o.To, Subject: o.Subject,
			Text: o.Text, MessageID: "r2@wasl.example", InReplyTo: "b@x", References: []string{"a@x", "b@x"}, Auto: true}
		if !reflect.DeepEqual(got.Message(), want) {
			t.Errorf("Message() = %+v\nwant %+v", got.Message(), want)
		}
		if _, err := s.Outbound(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Outbound(unknown): err = %v, want ErrNotFound", err)
		}
	})
}

func TestCursor(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		steps := []struct {
			mailbox       string
			save          bool
			validity, uid uint32
		}{
			{"INBOX", false, 0, 0},
			{"INBOX", true, 1700000000, 42},
			{"INBOX", true, 1700000000, 4294967295}, // the top of the uint32 range survives
			{"Archive/2026", true, 7, 1},
			{"INBOX", true, 1800000000, 3}, // UIDVALIDITY changed: start over
		}
		want := map[string][2]uint32{}
		for i, st := range steps {
			if st.save {
				if err := s.SaveCursor(ctx, f.ch.ID, st.mailbox, st.validity, st.uid); err != nil {
					t.Fatal(err)
				}
				want[st.mailbox] = [2]uint32{st.validity, st.uid}
			}
			for mb, w := range want {
				v, u, err := s.Cursor(ctx, f.ch.ID, mb)
				if err != nil || v != w[0] || u != w[1] {
					t.Errorf("step %d: Cursor(%s) = %d, %d, %v; want %d, %d", i, mb, v, u, err, w[0], w[1])
				}
			}
		}
		if v, u, err := s.Cursor(ctx, f.ch.ID, "Never"); v != 0 || u != 0 || err != nil {
			t.Errorf("Cursor(never synced) = %d, %d, %v", v, u, err)
		}
	})
}

func TestRecordIngestFailure(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		if _, err := s.RecordIngestFailure(ctx, f.ch.ID, "INBOX", 1, "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("failure without a cursor: err = %v, want ErrNotFound", err)
		}
		if err := s.SaveCursor(ctx, f.ch.ID, "INBOX", 7, 10); err != nil {
			t.Fatal(err)
		}
		lastError := func() (uid, failures int64, text string) {
			t.Helper()
			err := s.DB().QueryRowContext(ctx, `SELECT failed_uid, failures, last_error FROM mailbox_cursors
				WHERE channel_id = $1 AND mailbox = 'INBOX'`, f.ch.ID).Scan(&uid, &failures, &text)
			if err != nil {
				t.Fatal(err)
			}
			return uid, failures, text
		}
		steps := []struct {
			save     bool   // SaveCursor(7, uid) instead of a failure
			uid      uint32 // the failing UID
			errText  string
			attempts int // returned
		}{
			{uid: 11, errText: "database is locked", attempts: 1},
			{uid: 11, errText: "render: template: no such key", attempts: 2},
			{uid: 11, errText: "render: template: no such key", attempts: 3},
			{uid: 12, errText: "another message", attempts: 1}, // another UID starts again
			{uid: 12, errText: "another message", attempts: 2},
			{save: true, uid: 12}, // the cursor moved on: cleared
			{uid: 13, errText: "after the move", attempts: 1},
		}
		for i, st := range steps {
			if st.save {
				if err := s.SaveCursor(ctx, f.ch.ID, "INBOX", 7, st.uid); err != nil {
					t.Fatal(err)
				}
				if uid, n, text := lastError(); uid != 0 || n != 0 || text != "" {
					t.Errorf("step %d: after SaveCursor the failure is %d/%d/%q, want cleared", i, uid, n, text)
				}
				continue
			}
			n, err := s.RecordIngestFailure(ctx, f.ch.ID, "INBOX", st.uid, st.errText)
			if err != nil || n != st.attempts {
				t.Fatalf("step %d: RecordIngestFailure(%d) = %d, %v; want %d", i, st.uid, n, err, st.attempts)
			}
			if uid, got, text := lastError(); uid != int64(st.uid) || got != int64(st.attempts) || text != st.errText {
				t.Errorf("step %d: stored %d/%d/%q, want %d/%d/%q", i, uid, got, text, st.uid, st.attempts, st.errText)
			}
			if v, u, err := s.Cursor(ctx, f.ch.ID, "INBOX"); v != 7 || u >= st.uid || err != nil {
				t.Errorf("step %d: a failure moved the cursor to %d/%d (%v)", i, v, u, err)
			}
		}
	})
}

func TestChannels(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		c := Channel{Name: "wa-main", Kind: message.WhatsApp, Config: json.RawMessage(`{"jid":"966500000000"}`), Secret: []byte{0, 1, 2, 0xff}, Enabled: true}
		if err := s.UpsertChannel(ctx, &c); err != nil {
			t.Fatal(err)
		}
		id := c.ID
		// Update without a secret keeps the stored one.
		upd := Channel{Name: "wa-main", Kind: message.WhatsApp, Config: json.RawMessage(`{"jid":"966511111111"}`), Enabled: false}
		if err := s.UpsertChannel(ctx, &upd); err != nil {
			t.Fatal(err)
		}
		if upd.ID != id || !upd.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("upsert by name made a new channel: %d vs %d", upd.ID, id)
		}
		got, err := s.Channel(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Config) != `{"jid":"966511111111"}` || got.Enabled || !reflect.DeepEqual(got.Secret, []byte{0, 1, 2, 0xff}) {
			t.Errorf("after update: %+v", got)
		}
		upd.Secret = []byte("new")
		if err := s.UpsertChannel(ctx, &upd); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ChannelByName(ctx, "wa-main"); err != nil || string(got.Secret) != "new" {
			t.Errorf("secret not replaced: %q, %v", got.Secret, err)
		}
		if b, _ := json.Marshal(got); strings.Contains(string(b), "secret") {
			t.Errorf("channel JSON carries the secret: %s", b)
		}
		sms := Channel{Name: "sms", Kind: message.SMS}
		if err := s.UpsertChannel(ctx, &sms); err != nil {
			t.Fatal(err)
		}
		all, err := s.Channels(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "sms" || all[1].Name != "wa-main" || string(all[0].Config) != "{}" {
			t.Errorf("Channels = %+v, %v", all, err)
		}
		for _, bad := range []Channel{{Name: "x", Kind: "fax"}, {Kind: message.SMS}, {Name: "y", Kind: message.SMS, Config: json.RawMessage("{")}} {
			if err := s.UpsertChannel(ctx, &bad); err == nil {
				t.Errorf("UpsertChannel(%+v) succeeded", bad)
			}
		}
		if _, err := s.Channel(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Channel(unknown): err = %v", err)
		}
		if _, err := s.ChannelByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ChannelByName(unknown): err = %v", err)
		}
	})
}

func TestAttachments(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		pdf := []byte("%PDF-1.4 fake but fine")
		sum, err := s.PutBlob(ctx, pdf)
		if err != nil {
			t.Fatal(err)
		}
		m := Message{ChannelID: f.ch.ID, ExternalID: "mms-1", ConversationID: f.conv.ID, ContactID: f.contact.ID, Text: "see attached"}
		var fetched, remote Attachment
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			fetched = Attachment{MessageID: m.ID, Filename: "form.pdf", ContentType: "application/pdf", Size: int64(len(pdf)), SHA256: sum}
			if err := tx.InsertAttachment(ctx, &fetched); err != nil {
				return err
			}
			remote = Attachment{MessageID: m.ID, URL: "https://api.twilio.example/2010-04-01/Media/ME1"}
			return tx.InsertAttachment(ctx, &remote)
		})
		pending, err := s.PendingAttachments(ctx, m.ID)
		if err != nil || len(pending) != 1 || pending[0].ID != remote.ID {
			t.Fatalf("PendingAttachments = %+v, %v; want the remote one", pending, err)
		}
		img := []byte("\x89PNG fake")
		imgSum, err := s.PutBlob(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetAttachmentContent(ctx, remote.ID, imgSum, int64(len(img)), "image/png"); err != nil {
			t.Fatal(err)
		}
		// An empty content type keeps the one recorded.
		if err := s.SetAttachmentContent(ctx, fetched.ID, sum, int64(len(pdf)), ""); err != nil {
			t.Fatal(err)
		}
		if pending, _ := s.PendingAttachments(ctx, m.ID); len(pending) != 0 {
			t.Errorf("still pending after fetch: %+v", pending)
		}
		got, err := s.Message(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Attachments) != 2 || got.Attachments[1].SHA256 != imgSum || got.Attachments[1].ContentType != "image/png" ||
			got.Attachments[1].Size != int64(len(img)) || got.Attachments[0].SHA256 != sum || got.Attachments[0].ContentType != "application/pdf" {
			t.Errorf("attachments = %+v", got.Attachments)
		}
		for name, fn := range map[string]func() error{
			"bad digest": func() error { return s.SetAttachmentContent(ctx, remote.ID, "abc", 1, "") },
			"unknown":    func() error { return s.SetAttachmentContent(ctx, 999999, imgSum, 1, "") },
			"neither sum, url, descriptor nor reason": func() error {
				return s.InTx(ctx, func(tx *Tx) error { return tx.InsertAttachment(ctx, &Attachment{MessageID: m.ID}) })
			},
		} {
			if err := fn(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}

// Attachments a media job fetches later keep the channel's descriptor out of
// every read but PendingAttachments, and one whose content cannot be had is
// kept, without content, with the reason.
func TestAttachmentDescriptorAndMissing(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		descriptor := []byte(`{"direct_path":"/v/t62.7118-24/secret-path","media_key":"c2VjcmV0LWtleQ=="}`)
		m := Message{ChannelID: f.ch.ID, ExternalID: "wa-media-1", ConversationID: f.conv.ID, ContactID: f.contact.ID, Text: "photo"}
		var small, big Attachment
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			small = Attachment{MessageID: m.ID, Filename: "a.jpg", ContentType: "image/jpeg", Size: 69, Descriptor: descriptor}
			if err := tx.InsertAttachment(ctx, &small); err != nil {
				return err
			}
			big = Attachment{MessageID: m.ID, Filename: "b.mp4", ContentType: "video/mp4", Size: 1 << 30, Descriptor: descriptor}
			return tx.InsertAttachment(ctx, &big)
		})
		pending, err := s.PendingAttachments(ctx, m.ID)
		if err != nil || len(pending) != 2 || !slices.Equal(pending[0].Descriptor, descriptor) {
			t.Fatalf("PendingAttachments = %+v, %v; want both, with their descriptor", pending, err)
		}

		if err := s.SetAttachmentMissing(ctx, big.ID, "larger than the 16777216-byte limit"); err != nil {
			t.Fatal(err)
		}
		sum, err := s.PutBlob(ctx, []byte("jpeg"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetAttachmentContent(ctx, small.ID, sum, 4, ""); err != nil {
			t.Fatal(err)
		}
		if pending, _ := s.PendingAttachments(ctx, m.ID); len(pending) != 0 {
			t.Errorf("still pending once settled: %+v", pending)
		}
		// Settled attachments keep no descriptor.
		var left int
		if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM attachments WHERE length(descriptor) > 0`).Scan(&left); err != nil || left != 0 {
			t.Errorf("attachments still holding a descriptor: %d (%v)", left, err)
		}
		got, err := s.Message(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Attachments) != 2 {
			t.Fatalf("attachments = %+v", got.Attachments)
		}
		if a := got.Attachments[1]; a.SHA256 != "" || a.MissingReason != "larger than the 16777216-byte limit" || a.Filename != "b.mp4" {
			t.Errorf("too large attachment = %+v, want kept without content, with the reason", a)
		}
		if a := got.Attachments[0]; a.SHA256 != sum || a.MissingReason != "" {
			t.Errorf("fetched attachment = %+v", a)
		}
		// A settled attachment cannot be declared missing, nor without a reason.
		if err := s.SetAttachmentMissing(ctx, small.ID, "late"); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetAttachmentMissing on fetched content: %v, want ErrNotFound", err)
		}
		if err := s.SetAttachmentMissing(ctx, big.ID, ""); err == nil {
			t.Error("SetAttachmentMissing without a reason: no error")
		}
	})
}

// The descriptor is secret: it never reaches what the API serializes, even
// while the attachment is pending.
func TestAttachmentDescriptorNotSerialized(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		m := Message{ChannelID: f.ch.ID, ExternalID: "wa-media-2", ConversationID: f.conv.ID, ContactID: f.contact.ID, Text: "voice"}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			return tx.InsertAttachment(ctx, &Attachment{MessageID: m.ID, Filename: "v.ogg", Descriptor: []byte("media-key-s3cr3t")})
		})
		d, err := s.Conversation(ctx, f.conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		pending, err := s.PendingAttachments(ctx, m.ID)
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending = %+v, %v", pending, err)
		}
		for name, v := range map[string]any{"conversation": d, "pending attachment": pending[0]} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "s3cr3t") || strings.Contains(string(b), "bWVkaWEta2V5") || strings.Contains(string(b), "descriptor") {
				t.Errorf("%s JSON carries the descriptor: %s", name, b)
			}
		}
		if a := d.Messages[len(d.Messages)-1].Attachments; len(a) != 1 || a[0].Descriptor != nil {
			t.Errorf("conversation read attachments = %+v, want one without its descriptor", a)
		}
	})
}

// PutBlobFrom hashes while it writes and stops at the limit: the rest of
// the stream is never read and nothing is kept.
func TestPutBlobFrom(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), "", dir, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const limit = 1 << 20
	tests := []struct {
		name    string
		size    int64
		tooBig  bool
		maxRead int64 // bytes the copy may take from the source
	}{
		{"empty", 0, false, 0},
		{"exactly the limit", limit, false, limit},
		{"one byte over", limit + 1, true, limit + 1},
		{"a gigabyte over", 1 << 30, true, limit + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingReader{r: io.LimitReader(zeros{}, tt.size)}
			digest, size, err := s.PutBlobFrom(t.Context(), src, limit)
			if tt.tooBig {
				if !errors.Is(err, ErrTooLarge) || digest != "" {
					t.Fatalf("PutBlobFrom = %q, %v; want ErrTooLarge", digest, err)
				}
			} else {
				if err != nil || size != tt.size {
					t.Fatalf("PutBlobFrom = %q, %d, %v; want %d bytes", digest, size, err, tt.size)
				}
				want, err := s.PutBlob(t.Context(), make([]byte, tt.size))
				if err != nil || want != digest {
					t.Errorf("digest %s, PutBlob of the same bytes %s (%v)", digest, want, err)
				}
			}
			if src.n > tt.maxRead {
				t.Errorf("read %d bytes from the source, want at most %d", src.n, tt.maxRead)
			}
		})
	}
	var blobs, temps int
	err = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case strings.HasPrefix(d.Name(), ".tmp-"):
			temps++
		case !d.IsDir():
			blobs++
		}
		return nil
	})
	if err != nil || temps != 0 || blobs != 2 {
		t.Errorf("blob dir holds %d blobs and %d temp files (%v), want the 2 that fit and no temp file", blobs, temps, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := s.PutBlobFrom(ctx, zeros{}, limit); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestBlobs(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, "", dir, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", []byte{}, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", []byte("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"arabic", []byte("مرحبا"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := s.PutBlob(t.Context(), tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && sum != tt.want {
				t.Errorf("digest %s, want %s", sum, tt.want)
			}
			path := filepath.Join(dir, "blobs", sum[:2], sum[2:])
			st, err := os.Stat(path)
			if err != nil {
				t.Fatalf("blob not at %s: %v", path, err)
			}
			again, err := s.PutBlob(t.Context(), tt.data)
			if err != nil || again != sum {
				t.Fatalf("second put: %s, %v", again, err)
			}
			st2, _ := os.Stat(path)
			if !st2.ModTime().Equal(st.ModTime()) {
				t.Error("second put rewrote the blob")
			}
			r, err := s.OpenBlob(ctx, sum)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, _ := io.ReadAll(r)
			if string(got) != string(tt.data) {
				t.Errorf("read back %q", got)
			}
		})
	}
	// No temp files left behind.
	err = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenBlob(ctx, strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: err = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("0", 63)} {
		if _, err := s.OpenBlob(ctx, bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("OpenBlob(%q): err = %v, want a bad-digest error", bad, err)
		}
	}
}

func TestRollbackLeavesNothing(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ch := Channel{Name: "email", Kind: message.Email}
		if err := s.UpsertChannel(ctx, &ch); err != nil {
			t.Fatal(err)
		}
		client, err := river.NewClient(s.RiverDriver(), &river.Config{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		write := func(tx *Tx) error {
			c, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: "a@example.com"})
			if err != nil {
				return err
			}
			conv := Conversation{ContactID: c.ID, ChannelID: ch.ID}
			if err := tx.CreateConversation(ctx, &conv); err != nil {
				return err
			}
			m := Message{ChannelID: ch.ID, ExternalID: "m1", ConversationID: conv.ID, ContactID: c.ID}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			n, err := tx.NextTicketNumber(ctx, "EDU", 2026)
			if err != nil {
				return err
			}
			tk := Ticket{Prefix: "EDU", Year: 2026, Number: n, ConversationID: conv.ID}
			if err := tx.CreateTicket(ctx, &tk); err != nil {
				return err
			}
			o := &Outbound{ChannelID: ch.ID, ConversationID: conv.ID, ContactID: c.ID, To: message.Party{Kind: message.IdentityEmail, Value: "a@example.com"}, Auto: true}
			if err := tx.InsertOutbound(ctx, o); err != nil {
				return err
			}
			_, err = client.InsertTx(ctx, tx.SQL(), testArgs{N: int(o.ID)}, nil)
			return err
		}
		err = s.InTx(ctx, func(tx *Tx) error {
			if err := write(tx); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want fn's error back", err)
		}
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Errorf("recovered %v, want the panic re-raised", p)
				}
			}()
			_ = s.InTx(ctx, func(tx *Tx) error {
				if err := write(tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Stats{TicketsByStatus: map[string]int64{}, Outbound: map[message.DeliveryState]int64{}, MessagesByChannel: map[message.Kind]int64{}}
		if !reflect.DeepEqual(st, want) {
			t.Errorf("after rollbacks: %+v", st)
		}
		for _, table := range []string{"contact_identities", "ticket_counters", "ticket_events", "river_job"} {
			if n := count(t, s, "SELECT count(*) FROM "+table); n != 0 {
				t.Errorf("%s has %d rows after rollbacks", table, n)
			}
		}
		// The same writes commit, and the job is there with them.
		mustTx(t, s, write)
		if n := count(t, s, `SELECT count(*) FROM river_job WHERE kind = 'store_test'`); n != 1 {
			t.Errorf("river_job has %d store_test jobs, want 1", n)
		}
		st, _ = s.Stats(ctx)
		want = Stats{Messages: 1, Conversations: 1, Contacts: 1, Tickets: 1,
			TicketsByStatus: map[string]int64{TicketOpen: 1}, Outbound: map[message.DeliveryState]int64{message.StateQueued: 1},
			MessagesByChannel: map[message.Kind]int64{message.Email: 1}}
		if !reflect.DeepEqual(st, want) {
			t.Errorf("after commit: %+v, want %+v", st, want)
		}
	})
}

// TestConcurrentWritersAndRiver runs writers in parallel transactions, each
// inserting a job in its transaction, while a River client polls, works and
// completes those jobs on the same pool and other goroutines write outside
// transactions. On SQLite none of it may fail with SQLITE_BUSY or deadlock.
func TestConcurrentWritersAndRiver(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		const writers, perWriter = 6, 10
		total := writers * perWriter
		done := make(chan int, total)
		workers := river.NewWorkers()
		river.AddWorker(workers, &testWorker{done: done})
		client, err := river.NewClient(s.RiverDriver(), &river.Config{
			Logger:            quiet(),
			PollOnly:          true,
			FetchPollInterval: 20 * time.Millisecond,
			FetchCooldown:     10 * time.Millisecond,
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
			Workers:           workers,
			TestOnly:          true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				t.Errorf("stop river: %v", err)
			}
		}()

		var wg sync.WaitGroup
		errs := make(chan error, writers+2)
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					n := w*perWriter + i
					err := s.InTx(ctx, func(tx *Tx) error {
						c, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityPhone, Value: fmt.Sprintf("+9665%08d", n%7)})
						if err != nil {
							return err
						}
						m := Message{ChannelID: f.ch.ID, ExternalID: fmt.Sprintf("m-%d", n), ConversationID: f.conv.ID, ContactID: c.ID, Text: "hi"}
						if err := tx.InsertMessage(ctx, &m); err != nil {
							return err
						}
						if err := tx.TouchConversation(ctx, f.conv.ID, time.Now()); err != nil {
							return err
						}
						_, err = client.InsertTx(ctx, tx.SQL(), testArgs{N: n}, nil)
						return err
					})
					if err != nil {
						errs <- fmt.Errorf("writer %d, message %d: %w", w, i, err)
						return
					}
				}
			})
		}
		// Writes outside InTx, as connectors make them.
		wg.Go(func() {
			for i := range 30 {
				if err := s.SaveCursor(ctx, f.ch.ID, "INBOX", 1, uint32(i)); err != nil {
					errs <- fmt.Errorf("save cursor: %w", err)
					return
				}
			}
		})
		// Reads alongside.
		wg.Go(func() {
			for range 30 {
				if _, err := s.ListConversations(ctx, ConversationFilter{}); err != nil {
					errs <- fmt.Errorf("list conversations: %w", err)
					return
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		seen := make(map[int]bool)
		timeout := time.After(90 * time.Second) // a hang, not a speed limit
		for len(seen) < total {
			select {
			case n := <-done:
				seen[n] = true
			case <-timeout:
				t.Fatalf("River worked %d of %d jobs", len(seen), total)
			}
		}
		if st, err := s.Stats(ctx); err != nil || st.Messages != int64(total) {
			t.Errorf("Stats = %+v, %v; want %d messages", st, err, total)
		}
	})
}

func TestListConversationsAndDetail(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		// Five more conversations; two share an activity time so paging
		// must break the tie by id.
		ids := []int64{f.conv.ID}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.TouchConversation(ctx, f.conv.ID, base.Add(4*time.Hour)); err != nil {
				return err
			}
			for i, at := range []time.Time{base.Add(time.Hour), base.Add(2 * time.Hour), base.Add(2 * time.Hour), base.Add(3 * time.Hour), base.Add(-time.Hour)} {
				c := Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID, LastMessageAt: at, Subject: fmt.Sprintf("c%d", i)}
				if i == 3 {
					c.Status = ConversationClosed
				}
				if err := tx.CreateConversation(ctx, &c); err != nil {
					return err
				}
				ids = append(ids, c.ID)
			}
			return nil
		})
		// Activity: ids[0] at 4h (or now, if later), ids[4] 3h, ids[3] and
		// ids[2] 2h (the higher id first), ids[1] 1h, ids[5] -1h.
		order := []int64{ids[0], ids[4], ids[3], ids[2], ids[1], ids[5]}
		var paged []int64
		var before int64
		for {
			page, err := s.ListConversations(ctx, ConversationFilter{Limit: 4, BeforeID: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				paged = append(paged, c.ID)
			}
			if len(page) < 4 {
				break
			}
			before = page[len(page)-1].ID
		}
		if !reflect.DeepEqual(paged, order) {
			t.Errorf("paged = %v, want %v", paged, order)
		}
		closed, err := s.ListConversations(ctx, ConversationFilter{Status: ConversationClosed})
		if err != nil || len(closed) != 1 || closed[0].ID != ids[4] {
			t.Errorf("closed = %+v, %v", closed, err)
		}

		// Detail: messages with attachments, replies and the ticket, in order.
		sum, err := s.PutBlob(ctx, []byte("pdf"))
		if err != nil {
			t.Fatal(err)
		}
		var tk Ticket
		mustTx(t, s, func(tx *Tx) error {
			for i, text := range []string{"first", "second"} {
				m := Message{ChannelID: f.ch.ID, ExternalID: text, ConversationID: f.conv.ID, ContactID: f.contact.ID, Text: text,
					CreatedAt: base.Add(time.Duration(i) * time.Minute)}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
				if i == 0 {
					if err := tx.InsertAttachment(ctx, &Attachment{MessageID: m.ID, Filename: "a.pdf", SHA256: sum}); err != nil {
						return err
					}
				}
			}
			tk = Ticket{Prefix: "EDU", Year: 2026, Number: 1, ConversationID: f.conv.ID}
			if err := tx.CreateTicket(ctx, &tk); err != nil {
				return err
			}
			o := f.outbound("", true)
			o.CreatedAt = base.Add(30 * time.Second)
			return tx.InsertOutbound(ctx, o)
		})
		d, err := s.Conversation(ctx, f.conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Messages) != 2 || d.Messages[0].Text != "first" || d.Messages[1].Text != "second" ||
			len(d.Messages[0].Attachments) != 1 || len(d.Messages[1].Attachments) != 0 {
			t.Errorf("messages = %+v", d.Messages)
		}
		if len(d.Outbound) != 1 || len(d.Tickets) != 1 || d.Tickets[0].Ref != tk.Ref || d.Contact.DisplayName != "Sara" ||
			d.Channel.Name != "email-main" || len(d.Contact.Identities) != 1 {
			t.Errorf("detail = %+v", d)
		}
		sums, err := s.ListConversations(ctx, ConversationFilter{Limit: 1})
		if err != nil || len(sums) != 1 {
			t.Fatal(err)
		}
		got := sums[0]
		if got.ID != f.conv.ID || got.Messages != 2 || got.LastText != "second" || got.TicketRef != tk.Ref ||
			got.TicketStatus != TicketOpen || got.ContactName != "Sara" || got.ChannelKind != message.Email {
			t.Errorf("summary = %+v", got)
		}
		if _, err := s.Conversation(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Conversation(unknown): err = %v", err)
		}
	})
}

func TestConversationPage(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		// Seven messages an hour apart (the 4th and 5th at the same time:
		// the keyset breaks the tie by id), each answered ten minutes
		// later, and one staff reply before any message.
		var msgs []int64
		var replies []int64
		mustTx(t, s, func(tx *Tx) error {
			for i := range 7 {
				at := base.Add(time.Duration(i) * time.Hour)
				if i == 4 {
					at = base.Add(3 * time.Hour) // with message 3: the page boundary falls between them
				}
				m := Message{ChannelID: f.ch.ID, ExternalID: fmt.Sprintf("page-%d", i), ConversationID: f.conv.ID, ContactID: f.contact.ID,
					Text: fmt.Sprintf("message %d", i), CreatedAt: at}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
				msgs = append(msgs, m.ID)
				o := f.outbound(fmt.Sprintf("reply-%d@example.edu.sa", i), true)
				o.CreatedAt = at.Add(10 * time.Minute)
				if err := tx.InsertOutbound(ctx, o); err != nil {
					return err
				}
				replies = append(replies, o.ID)
			}
			early := f.outbound("staff-0@example.edu.sa", false)
			early.CreatedAt = base.Add(-time.Hour)
			if err := tx.InsertOutbound(ctx, early); err != nil {
				return err
			}
			replies = append([]int64{early.ID}, replies...)
			tk := Ticket{Prefix: "EDU", Year: 2026, Number: 1, ConversationID: f.conv.ID, ContactID: f.contact.ID, Subject: "Projector"}
			return tx.CreateTicket(ctx, &tk)
		})

		var gotMsgs, gotReplies []int64
		var pages [][]int64
		before := int64(0)
		for range 10 {
			d, err := s.ConversationPage(ctx, f.conv.ID, MessagePage{Limit: 3, BeforeID: before})
			if err != nil {
				t.Fatal(err)
			}
			var page []int64
			for _, m := range d.Messages {
				page = append(page, m.ID)
			}
			pages = append(pages, page)
			// Pages go back in time; within a page, oldest first.
			gotMsgs = append(page, gotMsgs...)
			var rs []int64
			for _, o := range d.Outbound {
				rs = append(rs, o.ID)
			}
			gotReplies = append(rs, gotReplies...)
			if len(d.Tickets) != 1 {
				t.Errorf("page before %d: %d tickets, want the conversation's one", before, len(d.Tickets))
			}
			if d.NextBefore == 0 {
				break
			}
			if d.NextBefore != page[0] {
				t.Errorf("next_before %d, want the page's oldest message %d", d.NextBefore, page[0])
			}
			before = d.NextBefore
		}
		if want := [][]int64{msgs[4:], msgs[1:4], msgs[:1]}; !reflect.DeepEqual(pages, want) {
			t.Errorf("pages %v, want %v", pages, want)
		}
		if !reflect.DeepEqual(gotMsgs, msgs) {
			t.Errorf("messages over all pages %v, want each once in order %v", gotMsgs, msgs)
		}
		if !reflect.DeepEqual(gotReplies, replies) {
			t.Errorf("replies over all pages %v, want each once in order %v", gotReplies, replies)
		}

		if _, err := s.ConversationPage(ctx, f.conv.ID, MessagePage{BeforeID: 999999}); !errors.Is(err, ErrNotFound) {
			t.Errorf("before a message of no conversation: err = %v, want ErrNotFound", err)
		}
		all, err := s.Conversation(ctx, f.conv.ID)
		if err != nil || len(all.Messages) != 7 || len(all.Outbound) != 8 || all.NextBefore != 0 {
			t.Errorf("Conversation = %d messages, %d replies, next %d, %v; want all of them", len(all.Messages), len(all.Outbound), all.NextBefore, err)
		}
	})
}

// A page of large mails stops at pageBodyBytes, whatever the limit.
func TestConversationPageBodyBudget(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		body := strings.Repeat("x", 3<<20) // three of them pass 8 MiB
		var msgs []int64
		mustTx(t, s, func(tx *Tx) error {
			for i := range 3 {
				m := Message{ChannelID: f.ch.ID, ExternalID: fmt.Sprintf("big-%d", i), ConversationID: f.conv.ID, ContactID: f.contact.ID,
					Text: body, CreatedAt: time.Date(2026, 3, 1, 8, i, 0, 0, time.UTC)}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
				msgs = append(msgs, m.ID)
			}
			return nil
		})
		d, err := s.ConversationPage(ctx, f.conv.ID, MessagePage{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Messages) != 2 || d.Messages[0].ID != msgs[1] || d.NextBefore != msgs[1] {
			t.Fatalf("first page: %d messages, next_before %d; want the newest two and %d", len(d.Messages), d.NextBefore, msgs[1])
		}
		d, err = s.ConversationPage(ctx, f.conv.ID, MessagePage{Limit: 50, BeforeID: d.NextBefore})
		if err != nil || len(d.Messages) != 1 || d.Messages[0].ID != msgs[0] || d.NextBefore != 0 {
			t.Fatalf("second page: %d messages, next_before %d, %v", len(d.Messages), d.NextBefore, err)
		}
	})
}
