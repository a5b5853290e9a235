package inbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// stubGateway stands in for the running binary (cmd/wasl's gateway, which
// the e2e tests drive for real): it accepts every channel and counts the
// nudges.
type stubGateway struct{ changed atomic.Int64 }

func (g *stubGateway) CheckChannel(context.Context, config.Channel) error { return nil }
func (g *stubGateway) TestChannel(_ context.Context, ch config.Channel) []TestStep {
	return []TestStep{{Step: "imap", OK: ch.IMAP.Password == "imap-pw-7f3a"}}
}
func (g *stubGateway) ChannelsChanged() { g.changed.Add(1) }
func (g *stubGateway) WebhookURLs(name string) (string, string) {
	return "https://wasl.example/webhooks/twilio/" + name, "https://wasl.example/webhooks/twilio/" + name + "/status"
}
func (g *stubGateway) ReloadBank(context.Context) (*replies.Bank, error) {
	return nil, errors.New("no bank")
}
func (g *stubGateway) Preview(context.Context, message.Inbound) (router.Preview, error) {
	return router.Preview{}, nil
}

type opBackend struct {
	name string
	open func(t *testing.T) (*store.Store, func() [][]byte) // the store, and its raw bytes at rest
}

func opBackends() []opBackend {
	return []opBackend{
		{"sqlite", func(t *testing.T) (*store.Store, func() [][]byte) {
			dir := dbtest.SQLiteDir(t, store.MigrateAt)
			st := openStore(t, "", dir)
			return st, func() [][]byte {
				// The database file and its WAL, as a thief would copy them.
				var out [][]byte
				files, _ := filepath.Glob(filepath.Join(dir, "wasl.db*"))
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, b)
				}
				return out
			}
		}},
		{"postgres", func(t *testing.T) (*store.Store, func() [][]byte) {
			st := openStore(t, dbtest.PostgresURL(t, store.MigrateAt), t.TempDir())
			return st, func() [][]byte {
				// Every column of every channel row, as text.
				rows, err := st.DB().QueryContext(context.Background(), `SELECT c::text FROM channels c`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out [][]byte
				for rows.Next() {
					var b []byte
					if err := rows.Scan(&b); err != nil {
						t.Fatal(err)
					}
					out = append(out, b)
				}
				return out
			}
		}},
	}
}

func openStore(t *testing.T, url, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func emailSettings(name, imapPW, smtpPW string) config.Channel {
	return config.Channel{Name: name, Kind: message.Email,
		IMAP: &config.IMAP{Addr: "127.0.0.1:1143", Security: "plain", Username: "support", Password: imapPW, Mailboxes: []string{"INBOX"}},
		SMTP: &config.SMTP{Addr: "127.0.0.1:2525", Security: "none", Username: "support", Password: smtpPW, From: "support@uni.example"}}
}

// TestOperatorChannels: a channel added by an operator keeps its
// credentials encrypted at rest (the raw SQLite file, the PostgreSQL row)
// and readable with the key only; a blank secret keeps the stored one;
// without a key nothing is stored; agents may do none of it; every change
// is audited without a secret; the file's channels are read-only.
func TestOperatorChannels(t *testing.T) {
	const imapPW, smtpPW = "imap-pw-7f3a", "smtp-pw-91c2"
	for _, be := range opBackends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			st, raw := be.open(t)
			key, err := secrets.ParseKey(secrets.NewKey())
			if err != nil {
				t.Fatal(err)
			}
			gw := &stubGateway{}
			op := NewOperator(st, gw, nil, OperatorConfig{Key: key}, testLogger(t))
			boss := Principal{User: store.User{ID: 1, Email: "op@uni.example", Role: store.RoleOperator}}
			agent := Principal{User: store.User{ID: 2, Email: "agent@uni.example", Role: store.RoleAgent}}

			row, err := op.SaveChannel(ctx, boss, 0, emailSettings("help-desk", imapPW, smtpPW), true)
			if err != nil {
				t.Fatal(err)
			}
			if row.Source != store.SourceUI || !row.Enabled || gw.changed.Load() != 1 {
				t.Fatalf("saved %+v, nudges %d", row, gw.changed.Load())
			}
			for _, b := range append(raw(), row.Config) {
				for _, pw := range []string{imapPW, smtpPW} {
					if bytes.Contains(b, []byte(pw)) {
						t.Fatalf("%s is readable at rest", pw)
					}
				}
			}
			if got, err := secrets.OpenFields(key, row.ID, row.Secret); err != nil || got[config.SecretIMAPPassword] != imapPW || got[config.SecretSMTPPassword] != smtpPW {
				t.Fatalf("decrypt with the key: %v, %v", got, err)
			}
			other, _ := secrets.ParseKey(secrets.NewKey())
			var wrong *secrets.WrongKeyError
			if _, err := secrets.OpenFields(other, row.ID, row.Secret); !errors.As(err, &wrong) {
				t.Errorf("another key: %v, want a WrongKeyError", err)
			}

			// The form gets settings without secrets, and which are set.
			s, err := op.ChannelSettings(ctx, boss, row.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s.Settings.IMAP.Password != "" || s.Settings.SMTP.Password != "" || !s.SecretsSet[config.SecretIMAPPassword] || s.Settings.IMAP.Addr != "127.0.0.1:1143" {
				t.Errorf("settings for the form: %+v %+v", s.Settings.IMAP, s.SecretsSet)
			}
			// An edit leaving the passwords blank keeps them; a test does too.
			edit := emailSettings("help-desk", "", "")
			edit.IMAP.Mailboxes = []string{"INBOX", "Support"}
			if steps, err := op.TestChannel(ctx, boss, row.ID, edit); err != nil || !steps[0].OK {
				t.Errorf("test with the stored password: %+v %v", steps, err)
			}
			row2, err := op.SaveChannel(ctx, boss, row.ID, edit, true)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := secrets.OpenFields(key, row.ID, row2.Secret); got[config.SecretIMAPPassword] != imapPW || row2.Revision != row.Revision+1 {
				t.Errorf("after an edit with blank passwords: %v, revision %d", got, row2.Revision)
			}

			// Without a key, nothing is stored.
			nokey := NewOperator(st, gw, nil, OperatorConfig{}, testLogger(t))
			_, err = nokey.SaveChannel(ctx, boss, 0, emailSettings("no-key", imapPW, smtpPW), true)
			var inv *InvalidError
			if !errors.As(err, &inv) || !strings.Contains(err.Error(), "wasl secrets keygen") {
				t.Errorf("without a key: %v", err)
			}
			if _, err := st.ChannelByName(ctx, "no-key"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("stored without a key: %v", err)
			}

			// Agents may not.
			for what, err := range map[string]error{
				"save":    func() error { _, err := op.SaveChannel(ctx, agent, 0, emailSettings("x", "a", "b"), true); return err }(),
				"list":    func() error { _, err := op.Channels(ctx, agent); return err }(),
				"test":    func() error { _, err := op.TestChannel(ctx, agent, row.ID, edit); return err }(),
				"disable": op.SetChannelEnabled(ctx, agent, row.ID, false),
				"delete":  op.DeleteChannel(ctx, agent, row.ID),
				"audit":   func() error { _, err := op.AuditLog(ctx, agent, store.AuditFilter{}); return err }(),
			} {
				if !errors.Is(err, ErrForbidden) {
					t.Errorf("agent %s: %v", what, err)
				}
			}

			// The file's channels are read-only here.
			file := store.Channel{Name: "file-mail", Kind: message.Email, Enabled: true}
			if err := st.UpsertChannel(ctx, &file); err != nil {
				t.Fatal(err)
			}
			if _, err := op.SaveChannel(ctx, boss, file.ID, emailSettings("file-mail", "a", "b"), true); !errors.As(err, &inv) {
				t.Errorf("editing the file's channel: %v", err)
			}
			list, err := op.Channels(ctx, boss)
			if err != nil || len(list) != 2 || !list[0].ReadOnly || list[0].Name != "file-mail" || list[1].ReadOnly {
				t.Fatalf("list: %+v %v", list, err)
			}

			if err := op.SetChannelEnabled(ctx, boss, row.ID, false); err != nil {
				t.Fatal(err)
			}
			if err := op.DeleteChannel(ctx, boss, row.ID); err != nil {
				t.Fatal(err)
			}
			if gone, _ := st.Channel(ctx, row.ID); gone.DeletedAt == nil || gone.Secret != nil {
				t.Errorf("deleted channel keeps its credentials: %+v", gone)
			}
			log, err := op.AuditLog(ctx, boss, store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range log {
				actions = append(actions, e.Action)
				if e.Actor == "" || strings.Contains(e.Detail, imapPW) || strings.Contains(e.Detail, smtpPW) {
					t.Errorf("audit entry %+v", e)
				}
			}
			if got := strings.Join(actions, " "); got != "channel.delete channel.disable channel.update channel.create" {
				t.Errorf("audit log: %s", got)
			}
		})
	}
}
