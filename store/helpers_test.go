package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/pgtest"
	"github.com/wasl-dev/wasl/message"
)

// Tests get copies of a database migrated once per binary (dbtest), as
// migrating each takes over a second under -race. TestMigrateTwiceIsNoop
// still migrates fresh databases.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var errRollback = errors.New("roll back on purpose")

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backend is one database the contract runs against.
type backend struct {
	name string
	// dsn is a new, empty database ("" for SQLite in the data directory).
	dsn func(t *testing.T) string
	// migrated is a new database already migrated, and its data directory.
	migrated func(t *testing.T) (dsn, dir string)
}

func backends() []backend {
	return []backend{
		{"sqlite", func(*testing.T) string { return "" }, // dataDir/wasl.db
			func(t *testing.T) (string, string) { return "", dbtest.SQLiteDir(t, MigrateAt) }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) },
			func(t *testing.T) (string, string) { return dbtest.PostgresURL(t, MigrateAt), t.TempDir() }},
	}
}

// each runs fn against a fresh, migrated store of every dialect, in
// parallel with each other and with other tests that use each.
func each(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, openStore(t, b))
		})
	}
}

func openStore(t *testing.T, b backend) *Store {
	t.Helper()
	dsn, dir := b.migrated(t)
	s, err := Open(t.Context(), dsn, dir, quiet())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	// A copy of a migrated database: this only checks it is up to date.
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// mustTx runs fn in a transaction and fails the test on error.
func mustTx(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.InTx(t.Context(), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

// fixture is a channel, a contact and an open conversation between them.
type fixture struct {
	ch      Channel
	contact Contact
	conv    Conversation
}

func seed(t *testing.T, s *Store) fixture {
	t.Helper()
	f := fixture{ch: Channel{Name: "email-main", Kind: message.Email, Config: json.RawMessage(`{"mailbox":"INBOX"}`), Enabled: true}}
	if err := s.UpsertChannel(t.Context(), &f.ch); err != nil {
		t.Fatalf("upsert channel: %v", err)
	}
	mustTx(t, s, func(tx *Tx) error {
		var err error
		f.contact, err = tx.FindOrCreateContact(t.Context(), message.Party{Kind: message.IdentityEmail, Value: "sara@example.com", Name: "Sara"})
		if err != nil {
			return err
		}
		f.conv = Conversation{ContactID: f.contact.ID, ChannelID: f.ch.ID, Subject: "Projector"}
		return tx.CreateConversation(t.Context(), &f.conv)
	})
	return f
}

// outbound makes a reply in the fixture's conversation.
func (f fixture) outbound(header string, auto bool) *Outbound {
	return &Outbound{
		ChannelID: f.ch.ID, ConversationID: f.conv.ID, ContactID: f.contact.ID,
		To:   message.Party{Kind: message.IdentityEmail, Value: "sara@example.com", Name: "Sara"},
		Text: "Thank you, we received your request.", HeaderMessageID: header, Auto: auto,
	}
}

func insertOutbound(t *testing.T, s *Store, o *Outbound) {
	t.Helper()
	mustTx(t, s, func(tx *Tx) error { return tx.InsertOutbound(t.Context(), o) })
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// testArgs is a River job the tests insert.
type testArgs struct {
	N int `json:"n"`
}

func (testArgs) Kind() string { return "store_test" }

type testWorker struct {
	river.WorkerDefaults[testArgs]
	done chan<- int
}

func (w *testWorker) Work(ctx context.Context, job *river.Job[testArgs]) error {
	select {
	case w.done <- job.Args.N:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// us is t at the precision the store keeps, in UTC.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
