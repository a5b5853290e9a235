package dovecot_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/wasl-dev/wasl/internal/dovecot"
)

func mail(i int) []byte {
	return fmt.Appendf(nil, "From: a%d@example.org\r\nTo: support@example.test\r\nSubject: seed %d\r\nMessage-ID: <seed-%d@example.org>\r\n\r\nbody %d\r\n", i, i, i, i)
}

// subjects returns the Subject of every message in mailbox, in UID order.
func subjects(t *testing.T, c *imapclient.Client, mailbox string) []string {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var out []string
	var prev imap.UID
	for _, m := range msgs {
		if m.UID <= prev {
			t.Fatalf("UIDs not ascending: %d after %d", m.UID, prev)
		}
		prev = m.UID
		out = append(out, m.Envelope.Subject)
	}
	return out
}

func TestAppendAndMailboxes(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	if uid := srv.Append(t, srv.User(), "INBOX", mail(1)); uid != 1 {
		t.Errorf("first APPEND got UID %d, want 1", uid)
	}
	if uid := srv.Append(t, srv.User(), "INBOX", mail(2)); uid != 2 {
		t.Errorf("second APPEND got UID %d, want 2", uid)
	}
	srv.CreateMailbox(t, srv.User(), "Support")
	srv.Append(t, srv.User(), "Support", mail(3))
	before := srv.UIDValidity(t, srv.User(), "Support")

	c := srv.Dial(t, srv.User())
	if got, want := strings.Join(subjects(t, c, "INBOX"), ","), "seed 1,seed 2"; got != want {
		t.Errorf("INBOX = %q, want %q", got, want)
	}
	if got, want := strings.Join(subjects(t, c, "Support"), ","), "seed 3"; got != want {
		t.Errorf("Support = %q, want %q", got, want)
	}
	if !c.Caps().Has(imap.CapIdle) {
		t.Errorf("dovecot does not advertise IDLE: %v", c.Caps())
	}
	c.Unselect().Wait()

	srv.DeleteMailbox(t, srv.User(), "Support")
	srv.CreateMailbox(t, srv.User(), "Support")
	if after := srv.UIDValidity(t, srv.User(), "Support"); after == before {
		t.Errorf("UIDVALIDITY unchanged (%d) after delete and re-create", after)
	}
}

func TestSeedMaildirKeepsOrder(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	c := srv.Dial(t, srv.User()) // connected before seeding: Dovecot must notice new files

	for _, mailbox := range []string{"INBOX", "Bulk"} {
		var raws [][]byte
		var want []string
		for i := range 300 {
			raws = append(raws, mail(i))
			want = append(want, fmt.Sprintf("seed %d", i))
		}
		srv.SeedMaildir(t, mailbox, raws[:150])
		srv.SeedMaildir(t, mailbox, raws[150:])
		got := subjects(t, c, mailbox)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: UID order does not follow seeding order:\n got %v\nwant %v", mailbox, got, want)
		}
	}
}

func TestAddUserAndWrongPassword(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	pw := srv.AddUser(t, "other@example.test")
	if pw == "" || pw == srv.Password() {
		t.Fatalf("AddUser password %q", pw)
	}
	srv.Append(t, "other@example.test", "INBOX", mail(7))
	c := srv.Dial(t, "other@example.test")
	if got := subjects(t, c, "INBOX"); len(got) != 1 || got[0] != "seed 7" {
		t.Errorf("other's INBOX = %v", got)
	}

	bad, err := imapclient.DialInsecure(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Login(srv.User(), "not-the-password").Wait(); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

func TestStopRestartKeepsMail(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	srv.Append(t, srv.User(), "INBOX", mail(1))
	addr := srv.Addr()
	srv.Stop()
	if _, err := imapclient.DialInsecure(addr, nil); err == nil {
		// A dial can succeed only if something still listens.
		t.Error("dovecot still accepts connections after Stop")
	}
	srv.Stop() // idempotent
	srv.Restart(t)
	if srv.Addr() != addr {
		t.Errorf("restart moved from %s to %s", addr, srv.Addr())
	}
	srv.Append(t, srv.User(), "INBOX", mail(2))
	c := srv.Dial(t, srv.User())
	if got := strings.Join(subjects(t, c, "INBOX"), ","); got != "seed 1,seed 2" {
		t.Errorf("after restart INBOX = %q", got)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := dovecot.StartWith(t, dovecot.Options{TLS: true})
	srv.Append(t, srv.User(), "INBOX", mail(1))

	tests := []struct {
		name string
		dial func() (*imapclient.Client, error)
	}{
		{"implicit TLS", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(srv.TLSAddr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
		}},
		{"STARTTLS", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(srv.Addr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.dial()
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if err := c.Login(srv.User(), srv.Password()).Wait(); err != nil {
				t.Fatalf("login: %v", err)
			}
			if got := subjects(t, c, "INBOX"); len(got) != 1 {
				t.Errorf("INBOX = %v", got)
			}
		})
	}

	// Without the test CA the certificate must be rejected.
	if c, err := imapclient.DialTLS(srv.TLSAddr(), nil); err == nil {
		c.Close()
		t.Error("implicit TLS accepted an untrusted self-signed certificate")
	}
}

// internalDates returns the INTERNALDATE of every message in mailbox, in
// UID order.
func internalDates(t *testing.T, c *imapclient.Client, mailbox string) []time.Time {
	t.Helper()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, InternalDate: true}).Collect()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var out []time.Time
	for _, m := range msgs {
		out = append(out, m.InternalDate)
	}
	return out
}

// The gateway tells backfilled mail from new mail by INTERNALDATE: AppendAt
// must set it, and seeded mail must be recent (new mail to the gateway).
func TestInternalDates(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	old := time.Date(2026, 8, 20, 9, 30, 0, 0, time.FixedZone("+0300", 3*3600))
	srv.AppendAt(t, srv.User(), "INBOX", mail(1), old)
	before := time.Now().Add(-time.Minute)
	srv.Append(t, srv.User(), "INBOX", mail(2))
	srv.SeedMaildir(t, "Seeded", [][]byte{mail(3), mail(4)})

	c := srv.Dial(t, srv.User())
	got := internalDates(t, c, "INBOX")
	if len(got) != 2 || !got[0].Equal(old) || got[1].Before(before) {
		t.Errorf("INBOX internal dates %v, want %v then now", got, old)
	}
	for _, d := range internalDates(t, c, "Seeded") {
		if age := time.Since(d); age <= 0 || age > 24*time.Hour {
			t.Errorf("seeded mail dated %v (%v ago), want within the last day", d, age)
		}
	}
}
