package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/pgtest"
)

// TestOperatorBrowser: an Arabic-speaking operator adds an email channel
// through the form in a real browser — a wrong password shows Dovecot's own
// error, the right one passes IMAP and SMTP — saves it, and a mail appended
// to Dovecot reaches the inbox without a restart; the page shows the
// mailbox connected over IDLE; disabling stops the connector. The password
// is nowhere in the database at rest, in any page or in the log; an agent
// gets 403 on every operator page and action. The key comes from
// `wasl secrets keygen`.
func TestOperatorBrowser(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			dc := dovecot.Start(t)
			sink := startPostfixSink(t)
			keyFile := filepath.Join(t.TempDir(), "secret.key")
			if out, err := exec.Command(binary, "secrets", "keygen", "--out", keyFile).CombinedOutput(); err != nil {
				t.Fatalf("wasl secrets keygen: %v\n%s", err, out)
			}
			g := newGateway(t, be.url(t), "secret_key_file: "+keyFile+"\n")
			addUser(t, g, "op@uni.example", "مشرفة النظام", "operator", "ar", opPassword)
			addUser(t, g, "agent@uni.example", "Classroom Agent", "agent", "en", agentPassword, "classrooms")
			g.start()
			base := "http://" + g.addr
			password := dc.Password()
			var pages []string

			ctx := browser(t)
			html := func() string {
				s, err := retry(func() (string, error) { return chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))) })
				if err != nil {
					t.Fatalf("read page: %v", err)
				}
				pages = append(pages, s)
				return s
			}
			signIn(t, ctx, base+"/operator/channels", "op@uni.example", opPassword, `.op-add`)
			if s := html(); !strings.Contains(s, `dir="rtl"`) || !strings.Contains(s, "القنوات") {
				t.Fatalf("channels page is not the Arabic one:\n%s", tail(s, 40))
			}
			host, port, _ := strings.Cut(dc.Addr(), ":")
			smtpHost, smtpPort, _ := strings.Cut(sink.addr, ":")
			fill := func(imapPassword string) {
				run(t, ctx, "fill the form",
					chromedp.SetValue(chromedp.CSS(`input[name=name]`), "help-desk"),
					chromedp.SetValue(chromedp.CSS(`input[name=imap_host]`), host),
					chromedp.SetValue(chromedp.CSS(`input[name=imap_port]`), port),
					chromedp.SetValue(chromedp.CSS(`select[name=imap_security]`), "plain"),
					chromedp.SetValue(chromedp.CSS(`input[name=imap_username]`), dc.User()),
					chromedp.SetValue(chromedp.CSS(`input[name=imap_password]`), imapPassword),
					chromedp.SetValue(chromedp.CSS(`input[name=imap_poll]`), "1h"),
					chromedp.SetValue(chromedp.CSS(`select[name=first_sync]`), "all"),
					chromedp.SetValue(chromedp.CSS(`input[name=smtp_host]`), smtpHost),
					chromedp.SetValue(chromedp.CSS(`input[name=smtp_port]`), smtpPort),
					chromedp.SetValue(chromedp.CSS(`select[name=smtp_security]`), "none"),
					chromedp.SetValue(chromedp.CSS(`input[name=smtp_from]`), "Customer Service <support@example.test>"))
			}
			run(t, ctx, "open the email form",
				chromedp.Click(chromedp.CSS(`a[href="/operator/channels/new?kind=email"]`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=imap_password]`)))
			fill("not-the-password")
			run(t, ctx, "test a wrong password",
				chromedp.Click(chromedp.CSS(`button[name=op][value=test]`)),
				chromedp.WaitVisible(chromedp.CSS(`.op-tests li[data-step=imap]`)))
			if s := html(); !strings.Contains(s, `data-step="imap" data-ok="false"`) || !strings.Contains(s, "AUTHENTICATIONFAILED") {
				t.Errorf("a wrong password does not show Dovecot's error:\n%s", tail(s, 60))
			}
			fill(password)
			// The page of the first test has results too: wait for the new
			// one's (the wrong password's page never has a passing IMAP).
			run(t, ctx, "test the right password",
				chromedp.Click(chromedp.CSS(`button[name=op][value=test]`)),
				chromedp.WaitVisible(chromedp.CSS(`.op-tests li[data-step=imap][data-ok=true]`)))
			if s := html(); !strings.Contains(s, `data-step="imap" data-ok="true"`) || !strings.Contains(s, `data-step="smtp" data-ok="true"`) {
				t.Fatalf("test connection with the right password:\n%s", tail(s, 60))
			}
			screenshot(t, ctx, be.name+"-operator-test-ar-1280", 1280)
			// The typed password is not sent back: type it again to save.
			fill(password)
			run(t, ctx, "save",
				chromedp.Click(chromedp.CSS(`button[name=op][value=save]`)),
				chromedp.WaitVisible(chromedp.CSS(`.op-status`)))

			dc.Append(t, dc.User(), "INBOX", []byte("From: Sara <sara@example.com>\r\nTo: support@example.test\r\nSubject: Projector\r\n"+
				"Message-ID: <operator-1@example.com>\r\nDate: "+time.Now().UTC().Format(time.RFC1123Z)+"\r\n\r\nThe projector in room 12 is broken.\r\n"))
			eventually(t, 60*time.Second, "the mail of the channel added in the browser", func() (bool, string) {
				st := g.stats()
				return st.Messages == 1, fmt.Sprintf("messages=%d", st.Messages)
			})
			eventually(t, 30*time.Second, "the page shows the mailbox connected over IDLE", func() (bool, string) {
				run(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.op-status`)))
				s := html()
				return strings.Contains(s, `data-state="connected"`) && strings.Contains(s, "IDLE"), "not yet"
			})
			screenshot(t, ctx, be.name+"-operator-channel-ar-1280", 1280)
			screenshot(t, ctx, be.name+"-operator-channel-ar-360", 360)
			run(t, ctx, "the list", chromedp.Navigate(base+"/operator/channels"), chromedp.WaitVisible(chromedp.CSS(`.op-table`)))
			html()
			screenshot(t, ctx, be.name+"-operator-channels-ar-1280", 1280)

			// Disable from the list: the connector stops.
			run(t, ctx, "disable", chromedp.Click(chromedp.CSS(`tr[data-channel="help-desk"] form[action$="/disable"] button`)),
				chromedp.WaitVisible(chromedp.CSS(`tr[data-channel="help-desk"] form[action$="/enable"]`)))
			eventually(t, 30*time.Second, "the connector stopped", func() (bool, string) {
				return strings.Contains(g.logs.String(), `"msg":"channel stopped","channel":"help-desk"`), "no stop in the log"
			})
			run(t, ctx, "audit log", chromedp.Navigate(base+"/operator/audit"), chromedp.WaitVisible(chromedp.CSS(`.op-table`)))
			if s := html(); !strings.Contains(s, "channel.create") || !strings.Contains(s, "channel.disable") {
				t.Errorf("audit log:\n%s", tail(s, 40))
			}
			screenshot(t, ctx, be.name+"-operator-audit-ar-1280", 1280)

			// An agent: 403 on every operator page and action.
			agent := signedIn(t, base, "agent@uni.example", agentPassword)
			for _, path := range []string{"/operator/", "/operator/channels", "/operator/channels/new?kind=email", "/operator/channels/1", "/operator/audit"} {
				resp, err := agent.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("agent GET %s: %s", path, resp.Status)
				}
			}
			for _, path := range []string{"/operator/channels", "/operator/channels/1", "/operator/channels/1/enable", "/operator/channels/1/delete"} {
				resp, err := agent.PostForm(base+path, url.Values{"name": {"sneaky"}, "kind": {"email"}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("agent POST %s: %s", path, resp.Status)
				}
			}

			// The password: not at rest, not in a page, not in the log.
			at := atRest(t, g)
			for what, b := range map[string][]byte{"the database at rest": at, "the pages": []byte(strings.Join(pages, "")), "the log": []byte(g.logs.String())} {
				if bytes.Contains(b, []byte(password)) {
					t.Errorf("the IMAP password is in %s", what)
				}
			}
		})
	}
}

// atRest is what a copy of the database holds: SQLite's files, or every
// channel row of PostgreSQL as text.
func atRest(t *testing.T, g *gateway) []byte {
	t.Helper()
	if g.dbURL == "" {
		var all []byte
		files, _ := filepath.Glob(filepath.Join(g.dir, "data", "wasl.db*"))
		if len(files) == 0 {
			t.Fatal("no SQLite files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	rows, err := g.store().DB().QueryContext(context.Background(), `SELECT c::text FROM channels c`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all []byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// signedIn is an HTTP client signed in through the login form.
func signedIn(t *testing.T, base, email, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: %s", email, resp.Status)
	}
	return c
}

// TestOperatorChannelOnReplicas: two replicas on one PostgreSQL, one key.
// An email channel added through replica a's page starts within seconds on
// exactly one replica (the one that takes its lease), its mail is stored
// once, and replica b's page shows the connector's state as reported by
// whichever replica runs it.
func TestOperatorChannelOnReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	dc := dovecot.Start(t)
	sink := startPostfixSink(t)
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	if out, err := exec.Command(binary, "secrets", "keygen", "--out", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("wasl secrets keygen: %v\n%s", err, out)
	}
	a := newGatewayWith(t, dbURL, "", "secret_key_file: "+keyFile+"\n")
	b := newGatewayWith(t, dbURL, "", "secret_key_file: "+keyFile+"\n")
	addUser(t, a, "op@uni.example", "مشرفة النظام", "operator", "ar", opPassword)
	a.start()
	b.start()
	host, port, _ := strings.Cut(dc.Addr(), ":")
	smtpHost, smtpPort, _ := strings.Cut(sink.addr, ":")
	form := url.Values{"kind": {"email"}, "name": {"help-desk"}, "enabled": {"1"}, "op": {"save"},
		"imap_host": {host}, "imap_port": {port}, "imap_security": {"plain"}, "imap_username": {dc.User()}, "imap_password": {dc.Password()},
		"imap_mailboxes": {"INBOX"}, "imap_poll": {"1h"}, "first_sync": {"all"},
		"smtp_host": {smtpHost}, "smtp_port": {smtpPort}, "smtp_security": {"none"}, "smtp_from": {"support@example.test"}}
	opA := signedIn(t, a.url(), "op@uni.example", opPassword)
	resp, err := opA.PostForm(a.url()+"/operator/channels", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add the channel on a: %s", resp.Status)
	}
	lease := a.channelLease("help-desk")
	var holder *gateway
	eventually(t, 15*time.Second, "one replica holds the new channel's lease", func() (bool, string) {
		l, ok := a.leaseHeld(lease)
		switch {
		case ok && l.Replica == a.replicaName():
			holder = a
		case ok && l.Replica == b.replicaName():
			holder = b
		}
		return holder != nil, fmt.Sprintf("%+v %v", l, ok)
	})
	dc.Append(t, dc.User(), "INBOX", []byte("From: Sara <sara@example.com>\r\nTo: support@example.test\r\nSubject: Projector\r\n"+
		"Message-ID: <replicas-ui-1@example.com>\r\n\r\nThe projector in room 12 is broken.\r\n"))
	eventually(t, 30*time.Second, "the mail stored once", func() (bool, string) {
		st := a.stats()
		return st.Messages == 1, fmt.Sprintf("messages=%d", st.Messages)
	})
	other := a
	if holder == a {
		other = b
	}
	watching := `"msg":"imap watching mailbox","channel":"help-desk"`
	if !strings.Contains(holder.logs.String(), watching) || strings.Contains(other.logs.String(), watching) {
		t.Errorf("the mailbox is watched by the holder only: holder %v, other %v",
			strings.Contains(holder.logs.String(), watching), strings.Contains(other.logs.String(), watching))
	}
	opB := signedIn(t, b.url(), "op@uni.example", opPassword)
	eventually(t, 15*time.Second, "b's page shows the connector connected", func() (bool, string) {
		resp, err := opB.Get(b.url() + "/operator/channels")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `data-state="connected"`), resp.Status
	})
}
