package email

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
)

// TestIMAPCheck is "test connection" against a real Dovecot: a good
// account and its mailboxes pass; a wrong password and a missing mailbox
// fail with Dovecot's own words, and never with the password in them.
func TestIMAPCheck(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	srv.CreateMailbox(t, srv.User(), "Archive")
	for _, tc := range []struct {
		name string
		edit func(*IMAPConfig)
		want string // "" passes
	}{
		{"good", func(c *IMAPConfig) { c.Mailboxes = []string{"INBOX", "Archive"} }, ""},
		{"wrong password", func(c *IMAPConfig) { c.Password = "wrong-password-123" }, "Authentication failed"},
		{"no such mailbox", func(c *IMAPConfig) { c.Mailboxes = []string{"INBOX", "Nope"} }, `examine "Nope"`},
		{"nobody listening", func(c *IMAPConfig) { c.Addr = "127.0.0.1:1" }, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := dovecotSource(t, srv, &fakeSink{}, &fakeCursors{}, tc.edit)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := src.Check(ctx)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check = %v, want an error with %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "wrong-password-123"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestIMAPStatus: the status the operator page shows follows the sync —
// connected by IDLE after the first sync, messages counted, the last
// sync's time; a session that fails shows its error until a good sync.
func TestIMAPStatus(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	appendN(t, srv, "INBOX", 1, 3)
	src, _ := dovecotSource(t, srv, &fakeSink{}, &fakeCursors{}, nil)
	if st := src.Status(); len(st) != 1 || st[0].Mailbox != "INBOX" || st[0].Connected {
		t.Fatalf("before Run: %+v", st)
	}
	runSource(t, src)
	waitFor(t, "three fetched, connected by IDLE", func() bool {
		st := src.Status()[0]
		return st.Connected && st.Idle && st.Fetched == 3 && !st.LastSync.IsZero() && st.SyncTotal == 0
	})
	appendN(t, srv, "INBOX", 4, 4)
	waitFor(t, "the fourth fetched", func() bool { return src.Status()[0].Fetched == 4 })

	srv.Stop()
	waitFor(t, "the failure shown", func() bool {
		st := src.Status()[0]
		return !st.Connected && st.Error != "" && !st.ErrorAt.IsZero()
	})
	srv.Restart(t)
	waitFor(t, "connected again, the error cleared", func() bool {
		st := src.Status()[0]
		return st.Connected && st.Error == ""
	})
}

// TestSMTPCheck is "test connection" for SMTP: EHLO and AUTH, and nothing
// sent. Against go-smtp's server with STARTTLS and AUTH PLAIN, and against
// Postfix's smtp-sink (which answers AUTH 250, not 235, so it passes only
// without a login) for the server's refusals, shown as it worded them and
// without the password.
func TestSMTPCheck(t *testing.T) {
	t.Parallel()
	t.Run("starttls and auth", func(t *testing.T) {
		cert, trusting := testCert(t)
		srv := &testServer{tls: true, mechs: []string{"PLAIN"}, user: "support", pass: "s3cret-pw"}
		srv.start(t, cert)
		for _, pw := range []string{"s3cret-pw", "wrong-pw"} {
			s, err := NewSMTPSender(SMTPConfig{Addr: srv.addr, Security: SMTPStartTLS, From: "support@example.edu.sa",
				Username: "support", Password: pw, TLSConfig: trusting, Timeout: 20 * time.Second}, logToTest(t))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check(context.Background())
			if pw == "s3cret-pw" && err != nil {
				t.Fatalf("Check: %v", err)
			}
			if pw == "wrong-pw" && (err == nil || !strings.Contains(err.Error(), `auth as "support": server replied 535 5.7.8`) || strings.Contains(err.Error(), pw)) {
				t.Fatalf("Check with a wrong password = %v", err)
			}
		}
		if got := srv.received(); len(got) != 0 {
			t.Errorf("the server received %d mails: a check must send nothing", len(got))
		}
	})
	for _, tc := range []struct {
		name  string
		args  []string
		login bool
		want  string
	}{
		{"no login", nil, false, ""},
		{"auth refused", []string{"-f", "AUTH", "-B", "535 5.7.8 Authentication credentials invalid"}, true, `auth as "support": server replied 535 5.7.8 Authentication credentials invalid`},
		{"ehlo refused", []string{"-f", "EHLO,HELO", "-B", "550 5.7.1 Go away"}, false, "ehlo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := startSink(t, tc.args...)
			cfg := SMTPConfig{Addr: sink.addr, Security: SMTPNone, From: "support@example.edu.sa", Timeout: 20 * time.Second}
			if tc.login {
				cfg.Username, cfg.Password = "support", "s3cret-pw"
			}
			s, err := NewSMTPSender(cfg, logToTest(t))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check = %v, want an error with %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cret-pw"):
				t.Fatalf("the error shows the password: %v", err)
			}
			if files, _ := filepath.Glob(filepath.Join(sink.dir, "*")); len(files) != 0 {
				t.Errorf("smtp-sink recorded %d transactions: a check must send nothing", len(files))
			}
		})
	}
}
