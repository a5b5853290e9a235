package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/internal/sandbox"
	"github.com/wasl-dev/wasl/message"
)

func demoMail(i int) []byte {
	return fmt.Appendf(nil, "From: student%d@example.org\r\nTo: support@example.test\r\nSubject: demo %d\r\nMessage-ID: <demo-%d@example.org>\r\n\r\nhello %d\r\n", i, i, i, i)
}

func start(t *testing.T) *sandbox.IMAPServer {
	t.Helper()
	s, err := sandbox.StartIMAP("demo@example.test", "demo-pass", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIMAPServerFetch(t *testing.T) {
	s := start(t)
	for i := 1; i <= 2; i++ {
		if err := s.Append("INBOX", demoMail(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append("Archive", demoMail(3)); err != nil {
		t.Fatalf("append to a new mailbox: %v", err)
	}

	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("demo@example.test", "wrong").Wait(); err == nil {
		t.Error("wrong password accepted")
	}
	if err := c.Login("demo@example.test", "demo-pass").Wait(); err != nil {
		t.Fatalf("plain login on loopback: %v", err)
	}
	if !c.Caps().Has(imap.CapIdle) {
		t.Errorf("sandbox does not offer IDLE: %v", c.Caps())
	}
	tests := []struct {
		mailbox string
		want    []string
	}{
		{"INBOX", []string{"demo 1", "demo 2"}},
		{"Archive", []string{"demo 3"}},
	}
	for _, tt := range tests {
		if _, err := c.Select(tt.mailbox, nil).Wait(); err != nil {
			t.Fatalf("select %s: %v", tt.mailbox, err)
		}
		msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, m.Envelope.Subject)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.mailbox, got, tt.want)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartIMAPRejectsEmptyCredentials(t *testing.T) {
	if _, err := sandbox.StartIMAP("", "x", nil); err == nil {
		t.Error("empty username accepted")
	}
	if _, err := sandbox.StartIMAP("x", "", nil); err == nil {
		t.Error("empty password accepted")
	}
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type sink struct {
	mu  sync.Mutex
	ids []string
}

func (s *sink) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, in.MessageID)
	return message.Outcome{}, nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

type cursors struct {
	mu sync.Mutex
	m  map[string][2]uint32
}

func (c *cursors) Cursor(ctx context.Context, ch int64, mb string) (uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[mb]
	return v[0], v[1], nil
}

func (c *cursors) SaveCursor(ctx context.Context, ch int64, mb string, uv, uid uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][2]uint32{}
	}
	c.m[mb] = [2]uint32{uv, uid}
	return nil
}

func (c *cursors) RecordIngestFailure(ctx context.Context, ch int64, mb string, uid uint32, errText string) (int, error) {
	return 1, nil // the sink never fails
}

// The demo's path: the email source syncs the sandbox, then IDLE brings a
// mail appended later (a poll would take an hour).
func TestIMAPServerWithEmailSource(t *testing.T) {
	s := start(t)
	if err := s.Append("INBOX", demoMail(1)); err != nil {
		t.Fatal(err)
	}
	snk, logs := &sink{}, &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	src, err := email.NewIMAPSource(email.IMAPConfig{
		ChannelID: 1, Addr: s.Addr(), Security: email.IMAPSecurityPlain,
		Username: "demo@example.test", Password: "demo-pass",
		PollInterval: time.Hour, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		FirstSync: email.FirstSyncAll, // demo-1 is there before the first sync, as in the demo
	}, snk, &cursors{}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second) // guards a hang; not what is measured
	for !strings.Contains(logs.String(), "mode=idle") {
		if time.Now().After(deadline) {
			t.Fatalf("source never went idle:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The first sync comes before IDLE.
	if got := snk.got(); !slices.Equal(got, []string{"demo-1@example.org"}) {
		t.Fatalf("first sync delivered %q", got)
	}
	if err := s.Append("INBOX", demoMail(2)); err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(snk.got(), "demo-2@example.org") {
		if time.Now().After(deadline) {
			t.Fatalf("appended mail never arrived; got %q", snk.got())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := snk.got(); !slices.Equal(got, []string{"demo-1@example.org", "demo-2@example.org"}) {
		t.Errorf("deliveries %q", got)
	}
}
