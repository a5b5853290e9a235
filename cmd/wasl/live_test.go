package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/channels/whatsapp/whatsapptest"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// serveWith runs an app on dbURL (empty: SQLite in dataDir) with no
// channels in its file and key (base64; empty: none) as WASL_SECRET_KEY.
func serveWith(t *testing.T, dbURL, dataDir, key string, prep ...func(*app)) *testGateway {
	t.Helper()
	bank, err := filepath.Abs("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("data_dir: %s\nknowledge_bank: %s\napi_token: s3cret\nhttp:\n  addr: 127.0.0.1:0\njobs:\n  poll_interval: 100ms\n", dataDir, bank)
	env := map[string]string{"WASL_SECRET_KEY": key, "WASL_DATABASE_URL": dbURL}
	cfg, err := config.Parse([]byte(yaml), "wasl.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok && v != "" })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range prep {
		f(a)
	}
	ls, err := a.listen()
	if err != nil {
		a.store.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &testGateway{a: a, ls: ls, cfg: cfg, dataDir: dataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- a.serve(ctx, ls) }()
	t.Cleanup(func() { g.stop(t) })
	waitFor(t, 30*time.Second, "ready", func() (bool, string) {
		resp, err := noKeepAlive.Get(g.url("/readyz"))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return g
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// status is a channel's connector report.
func status(t *testing.T, st *store.Store, id int64) (inbox.ConnectorStatus, string) {
	t.Helper()
	all, err := st.ChannelStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var s inbox.ConnectorStatus
	if r, ok := all[id]; ok {
		_ = json.Unmarshal(r.Status, &s)
		return s, string(r.Status)
	}
	return s, "no report"
}

func received(t *testing.T, st *store.Store, id int64) int64 {
	t.Helper()
	a, err := st.ChannelActivity(context.Background(), id, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return a.In
}

// TestLiveChannels: a channel an operator adds starts syncing at once, with
// no restart; an edit restarts it with the new settings (a wrong password
// shows Dovecot's refusal as its state); disabling and deleting stop it;
// after a restart its credentials decrypt with the key, and with another
// key it does not start and says why.
func TestLiveChannels(t *testing.T) {
	for _, be := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t, store.MigrateAt) }},
	} {
		t.Run(be.name, func(t *testing.T) {
			dc := dovecot.Start(t)
			dbURL, dir := be.url(t), dbtest.SQLiteDir(t, store.MigrateAt)
			key := secrets.NewKey()
			g := serveWith(t, dbURL, dir, key)
			ctx, st := context.Background(), g.a.store
			boss := inbox.Principal{System: true}
			settings := config.Channel{Name: "help-desk", Kind: message.Email,
				IMAP: &config.IMAP{Addr: dc.Addr(), Security: "plain", Username: dc.User(), Password: dc.Password(), Mailboxes: []string{"INBOX"},
					PollInterval: config.Duration(time.Hour), FirstSync: config.FirstSync{Mode: config.FirstSyncAll}},
				SMTP: &config.SMTP{Addr: "127.0.0.1:1", Security: "none", From: "support@uni.example"}}

			steps, err := g.a.operator.TestChannel(ctx, boss, 0, settings)
			if err != nil || len(steps) != 2 || !steps[0].OK {
				t.Fatalf("test connection: %+v %v", steps, err)
			}
			if steps[1].OK || steps[1].Error == "" {
				t.Errorf("smtp to a closed port: %+v", steps[1])
			}
			row, err := g.a.operator.SaveChannel(ctx, boss, 0, settings, true)
			if err != nil {
				t.Fatal(err)
			}
			mail := func(n int) []byte {
				return []byte(fmt.Sprintf("From: Sara <sara@example.com>\r\nTo: support@uni.example\r\nSubject: Projector %d\r\nMessage-ID: <live-%d@example.com>\r\n\r\nThe projector in room %d is broken.\r\n", n, n, n))
			}
			dc.Append(t, dc.User(), "INBOX", mail(1))
			waitFor(t, 30*time.Second, "the mail of a channel added live", func() (bool, string) {
				n := received(t, st, row.ID)
				return n == 1, fmt.Sprint(n, " messages")
			})
			waitFor(t, 30*time.Second, "the channel's report", func() (bool, string) {
				s, raw := status(t, st, row.ID)
				return s.State == inbox.StateConnected && len(s.Mailboxes) == 1 && s.Mailboxes[0].Idle && s.Mailboxes[0].Fetched == 1, raw
			})

			// A wrong password: the connector restarts and says why.
			settings.IMAP.Password = "not-the-password"
			if _, err := g.a.operator.SaveChannel(ctx, boss, row.ID, settings, true); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "Dovecot's refusal on the page", func() (bool, string) {
				s, raw := status(t, st, row.ID)
				return s.State == inbox.StateReconnecting && strings.Contains(s.Error, "AUTHENTICATIONFAILED"), raw
			})
			settings.IMAP.Password = dc.Password()
			if _, err := g.a.operator.SaveChannel(ctx, boss, row.ID, settings, true); err != nil {
				t.Fatal(err)
			}
			dc.Append(t, dc.User(), "INBOX", mail(2))
			waitFor(t, 30*time.Second, "the mail after the fix", func() (bool, string) {
				n := received(t, st, row.ID)
				return n == 2, fmt.Sprint(n, " messages")
			})

			// Disabled: its connector stops and leaves the registry.
			if err := g.a.operator.SetChannelEnabled(ctx, boss, row.ID, false); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "the disabled channel stopped", func() (bool, string) {
				_, ok := g.a.registry.connector(row.ID)
				return !ok, "still running"
			})
			if err := g.a.operator.SetChannelEnabled(ctx, boss, row.ID, true); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "enabled again", func() (bool, string) {
				_, ok := g.a.registry.connector(row.ID)
				return ok, "not running"
			})

			// A restart with the key: the channel runs from its stored,
			// encrypted credentials.
			g.stop(t)
			g = serveWith(t, dbURL, dir, key)
			dc.Append(t, dc.User(), "INBOX", mail(3))
			waitFor(t, 30*time.Second, "the mail after a restart", func() (bool, string) {
				n := received(t, g.a.store, row.ID)
				return n == 3, fmt.Sprint(n, " messages")
			})
			// With another key it does not start, and says so.
			g.stop(t)
			g = serveWith(t, dbURL, dir, secrets.NewKey())
			waitFor(t, 30*time.Second, "the wrong key on the page", func() (bool, string) {
				s, raw := status(t, g.a.store, row.ID)
				return s.State == inbox.StateError && strings.Contains(s.Error, "wasl secrets rotate"), raw
			})
			if _, ok := g.a.registry.connector(row.ID); ok {
				t.Error("a channel whose credentials do not open is running")
			}

			// Deleted: gone from the registry, history kept.
			if err := g.a.operator.DeleteChannel(ctx, boss, row.ID); err != nil {
				t.Fatal(err)
			}
			if n := received(t, g.a.store, row.ID); n != 3 {
				t.Errorf("history after delete: %d messages", n)
			}
		})
	}
}

// TestLiveWhatsAppPairing: a linked device added on the operator page runs
// at once and its page follows whatsmeow (a stand-in: no WhatsApp server
// here) — needs pairing; after "pair device" the QR code, as an SVG,
// replaced as whatsmeow rotates it; the linked number once the phone scans;
// logged out after "log out device".
func TestLiveWhatsAppPairing(t *testing.T) {
	clients := &whatsapptest.Clients{}
	g := serveWith(t, "", dbtest.SQLiteDir(t, store.MigrateAt), secrets.NewKey(), func(a *app) { a.newWhatsAppClient = clients.New })
	ctx := context.Background()
	boss := inbox.Principal{System: true}
	hash, _ := inbox.HashPassword("operator password 1")
	u := store.User{Email: "op@uni.example", Name: "Op", Role: store.RoleOperator, Language: "en", Active: true, PasswordHash: hash}
	if err := g.a.store.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	tok, _, err := g.a.auth.SignIn(ctx, u.Email, "operator password 1", "127.0.0.1", "test", "")
	if err != nil {
		t.Fatal(err)
	}
	page := func(path string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, g.url(path), nil)
		req.AddCookie(&http.Cookie{Name: inbox.SessionCookie, Value: tok})
		resp, err := noKeepAlive.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	row, err := g.a.operator.SaveChannel(ctx, boss, 0, config.Channel{Name: "wa", Kind: message.WhatsApp, WhatsApp: &config.WhatsApp{}}, true)
	if err != nil {
		t.Fatal(err)
	}
	chPage := fmt.Sprintf("/operator/channels/%d", row.ID)
	onPage := func(what, want string) {
		t.Helper()
		waitFor(t, 30*time.Second, what, func() (bool, string) {
			_, _, body := page(chPage)
			return strings.Contains(body, want), tail(body, 600)
		})
	}
	onPage("needs pairing", `data-state="needs_pairing"`)

	if err := g.a.operator.ChannelAction(ctx, boss, row.ID, inbox.ActionPair); err != nil {
		t.Fatal(err)
	}
	var svgs []string
	for _, code := range []string{"2@first-code,abc", "2@second-code,def"} {
		// Pair makes its client before it reports pairing.
		waitFor(t, 30*time.Second, "pairing", func() (bool, string) {
			s, raw := status(t, g.a.store, row.ID)
			return s.State == "pairing", raw
		})
		clients.Last().ShowQR(code)
		waitFor(t, 30*time.Second, "the QR code "+code, func() (bool, string) {
			s, raw := status(t, g.a.store, row.ID)
			return s.WhatsApp != nil && s.WhatsApp.QRCode == code, raw
		})
		onPage("the QR code on the page", "/qr.svg")
		code, ctype, svg := page(chPage + "/qr.svg")
		if code != http.StatusOK || ctype != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") {
			t.Fatalf("qr.svg: %d %s", code, ctype)
		}
		svgs = append(svgs, svg)
	}
	if svgs[0] == svgs[1] {
		t.Error("the QR code did not change when whatsmeow rotated it")
	}
	clients.Last().Scan("966501112233")
	onPage("connected", `data-state="connected"`)
	onPage("the linked number", "966501112233")

	if err := g.a.operator.ChannelAction(ctx, boss, row.ID, inbox.ActionLogout); err != nil {
		t.Fatal(err)
	}
	onPage("logged out", `data-state="logged_out"`)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestOperatorBank: the bank page shows each topic's answers and links and
// the hours and holidays, in both languages; "try a message" shows
// the topic, the decision and the reply as the customer would get it,
// storing nothing; a reload with an invalid file shows its problems with
// their lines and keeps the bank in use; SIGHUP reloads a valid one.
func TestOperatorBank(t *testing.T) {
	orig, err := os.ReadFile("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bankFile := filepath.Join(t.TempDir(), "bank.yaml")
	if err := os.WriteFile(bankFile, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	g := serveWith(t, "", dbtest.SQLiteDir(t, store.MigrateAt), "", func(a *app) { a.cfg.KnowledgeBank = bankFile })
	ctx := context.Background()
	mail := store.Channel{Name: "mail", Kind: message.Email, Enabled: true}
	if err := g.a.store.UpsertChannel(ctx, &mail); err != nil {
		t.Fatal(err)
	}
	tok := operatorSession(t, g)
	do := func(method, path string, form url.Values) (int, string) {
		req, _ := http.NewRequest(method, g.url(path), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: inbox.SessionCookie, Value: tok})
		resp, err := noKeepAlive.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := do(http.MethodGet, "/operator/bank", nil)
	if code != http.StatusOK {
		t.Fatalf("bank page: %d", code)
	}
	// What the bank holds shows in both languages, whatever the page's.
	for _, want := range []string{
		`id="topic-equipment_maintenance"`,
		"ويحدد موعد زيارة الفني أو تاريخ الإنجاز",                    // an Arabic answer
		"which will set a technician visit or a completion date",     // its English
		`href="https://example.edu.sa/edu-services/forms/inquiries"`, // a link
		"نموذج الاستفسارات والاقتراحات",                              // its Arabic title
		"Inquiries and suggestions form",                             // and English
		"Sunday–Thursday",                                            // the week's hours
		"Ramadan hours",                                              // special hours
		"2026-03-18 – 2026-03-28",                                    // a holiday's dates
		"إجازة عيد الفطر",                                            // and names
		"Eid al-Fitr holiday",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("bank page lacks %q", want)
		}
	}
	code, body = do(http.MethodPost, "/operator/bank/try", url.Values{"channel": {fmt.Sprint(mail.ID)}, "subject": {"Projector"}, "text": {"the projector in room 12 is broken"}})
	if code != http.StatusOK || !strings.Contains(body, `data-topic="equipment_maintenance"`) || !strings.Contains(body, `data-action="ticket"`) || !strings.Contains(body, "EDU-") {
		t.Errorf("try a message: %d\n%s", code, tail(body, 3000))
	}
	if st, _ := g.a.store.Stats(ctx); st.Messages != 0 || st.Tickets != 0 {
		t.Errorf("trying a message stored %+v", st)
	}

	before := g.a.svc.Bank()
	if err := os.WriteFile(bankFile, append(append([]byte{}, orig...), []byte("\nnot_a_key: [\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body = do(http.MethodPost, "/operator/bank/reload", nil); code != http.StatusBadRequest || !strings.Contains(body, "line") || g.a.svc.Bank() != before {
		t.Errorf("reload of an invalid bank: %d\n%s", code, tail(body, 2000))
	}
	if err := os.WriteFile(bankFile, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload is audited once the new bank is in use.
	waitFor(t, 60*time.Second, "the bank reloaded on SIGHUP, and audited", func() (bool, string) {
		log, err := g.a.store.AuditLog(ctx, store.AuditFilter{TargetKind: "bank"})
		if err != nil {
			return false, err.Error()
		}
		return len(log) == 2 && log[0].Action == "bank.reload" && log[1].Action == "bank.reload_failed", fmt.Sprintf("%+v", log)
	})
	if g.a.svc.Bank() == before || g.a.pipeline.Bank() != g.a.svc.Bank() {
		t.Error("the audit says reloaded, but the old bank is in use")
	}
}

// operatorSession signs in a new operator and returns the session token.
func operatorSession(t *testing.T, g *testGateway) string {
	t.Helper()
	ctx := context.Background()
	hash, _ := inbox.HashPassword("operator password 1")
	u := store.User{Email: "op@uni.example", Name: "Op", Role: store.RoleOperator, Language: "en", Active: true, PasswordHash: hash}
	if err := g.a.store.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	tok, _, err := g.a.auth.SignIn(ctx, u.Email, "operator password 1", "127.0.0.1", "test", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
