package email

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// fakeSink is the pipeline as the source sees it: it commits (records)
// every message and, like the real one, reports a second delivery of the
// same ExternalID as a duplicate.
type fakeSink struct {
	mu       sync.Mutex
	attempts []message.Inbound // every call, including failed ones
	calls    []message.Inbound // committed deliveries, duplicates included
	seen     map[string]bool
	dups     []string                              // Message-IDs reported as duplicates
	fail     func(n int, in message.Inbound) error // n counts calls from 1
}

func (f *fakeSink) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, in)
	if f.fail != nil {
		if err := f.fail(len(f.attempts), in); err != nil {
			return message.Outcome{}, err
		}
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	dup := f.seen[in.ExternalID]
	f.seen[in.ExternalID] = true
	if dup {
		f.dups = append(f.dups, in.MessageID)
	}
	f.calls = append(f.calls, in)
	return message.Outcome{Duplicate: dup, MessageID: int64(len(f.seen))}, nil
}

func (f *fakeSink) delivered() []message.Inbound {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// ids lists the Message-IDs of committed deliveries, in order.
func (f *fakeSink) ids() []string { return messageIDs(f.delivered()) }

func (f *fakeSink) tried() []message.Inbound {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.attempts)
}

func (f *fakeSink) attemptIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return messageIDs(f.attempts)
}

func (f *fakeSink) duplicateIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dups)
}

func (f *fakeSink) has(id string) bool { return slices.Contains(f.ids(), id) }

func messageIDs(ins []message.Inbound) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.MessageID
	}
	return out
}

type cursorKey struct {
	channel int64
	mailbox string
}

// fakeCursors keeps cursors and ingest failures in memory, and every save
// in order. Like the store, a save forgets the failures.
type fakeCursors struct {
	mu       sync.Mutex
	m        map[cursorKey][2]uint32
	saves    [][2]uint32
	failures map[cursorKey]failure
}

type failure struct {
	uid      uint32
	attempts int
	err      string
}

func (c *fakeCursors) Cursor(ctx context.Context, channelID int64, mailbox string) (uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[cursorKey{channelID, mailbox}]
	return v[0], v[1], nil
}

func (c *fakeCursors) SaveCursor(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cursorKey][2]uint32{}
	}
	c.m[cursorKey{channelID, mailbox}] = [2]uint32{uidValidity, lastUID}
	c.saves = append(c.saves, [2]uint32{uidValidity, lastUID})
	delete(c.failures, cursorKey{channelID, mailbox})
	return nil
}

func (c *fakeCursors) RecordIngestFailure(ctx context.Context, channelID int64, mailbox string, uid uint32, errText string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cursorKey{channelID, mailbox}
	if _, ok := c.m[k]; !ok {
		return 0, fmt.Errorf("no cursor for %v", k)
	}
	if c.failures == nil {
		c.failures = map[cursorKey]failure{}
	}
	f := c.failures[k]
	if f.uid != uid {
		f = failure{uid: uid}
	}
	f.attempts++
	f.err = errText
	c.failures[k] = f
	return f.attempts, nil
}

func (c *fakeCursors) failure(channelID int64, mailbox string) failure {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures[cursorKey{channelID, mailbox}]
}

func (c *fakeCursors) get(channelID int64, mailbox string) [2]uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[cursorKey{channelID, mailbox}]
}

// logBuffer collects log output from several goroutines.
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

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// testMail is a small hand-written mail with Message-ID m<i>@wasl.test.
func testMail(i int) []byte {
	return fmt.Appendf(nil, "From: Customer %d <customer%d@example.org>\r\n"+
		"To: support@example.test\r\n"+
		"Subject: request %d\r\n"+
		"Date: Sun, 22 Nov 2026 08:%02d:00 +0300\r\n"+
		"Message-ID: <m%d@wasl.test>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n"+
		"Please help with request %d.\r\n", i, i, i, i%60, i, i)
}

func testID(i int) string { return fmt.Sprintf("m%d@wasl.test", i) }

func testIDs(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, testID(i))
	}
	return out
}

// imapFixture reads testdata/imap/name with CRLF line endings, whatever
// the checkout did to them.
func imapFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "imap", name))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// waitFor polls cond until it holds. The deadline only guards against
// a hang; it is not what the test measures.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIMAPConfig(t *testing.T) {
	base := IMAPConfig{ChannelID: 1, Addr: "imap.example.org:993", Username: "u", Password: "p"}
	tests := []struct {
		name    string
		edit    func(*IMAPConfig)
		wantErr string
		check   func(t *testing.T, c IMAPConfig)
	}{
		{name: "defaults", check: func(t *testing.T, c IMAPConfig) {
			if c.Security != "tls" || c.PollInterval != 60*time.Second || c.BatchSize != 200 ||
				c.MaxMessageSize != defaultMaxSize || c.MaxAttempts != 3 || c.MinBackoff != time.Second || c.MaxBackoff != 5*time.Minute ||
				!slices.Equal(c.Mailboxes, []string{"INBOX"}) || c.FirstSync != FirstSyncNow {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "bare host gets 993 for tls", edit: func(c *IMAPConfig) { c.Addr = "imap.example.org" },
			check: func(t *testing.T, c IMAPConfig) {
				if c.Addr != "imap.example.org:993" {
					t.Errorf("addr = %q", c.Addr)
				}
			}},
		{name: "bare host gets 143 for starttls", edit: func(c *IMAPConfig) { c.Addr, c.Security = "imap.example.org", "STARTTLS" },
			check: func(t *testing.T, c IMAPConfig) {
				if c.Addr != "imap.example.org:143" || c.Security != "starttls" {
					t.Errorf("addr = %q security = %q", c.Addr, c.Security)
				}
			}},
		{name: "plain to a remote host refused", edit: func(c *IMAPConfig) { c.Addr, c.Security = "10.1.2.3:143", "plain" },
			wantErr: "unencrypted"},
		{name: "plain to a remote name refused", edit: func(c *IMAPConfig) { c.Addr, c.Security = "mail.example.org:143", "plain" },
			wantErr: "AllowPlain"},
		{name: "plain to a remote host with AllowPlain", edit: func(c *IMAPConfig) {
			c.Addr, c.Security, c.AllowPlain = "10.1.2.3:143", "plain", true
		}},
		{name: "plain to 127.0.0.1", edit: func(c *IMAPConfig) { c.Addr, c.Security = "127.0.0.1:1143", "plain" }},
		{name: "plain to localhost", edit: func(c *IMAPConfig) { c.Addr, c.Security = "localhost:1143", "plain" }},
		{name: "plain to ::1", edit: func(c *IMAPConfig) { c.Addr, c.Security = "[::1]:1143", "plain" }},
		{name: "unknown security", edit: func(c *IMAPConfig) { c.Security = "ssl3" }, wantErr: `security "ssl3"`},
		{name: "empty addr", edit: func(c *IMAPConfig) { c.Addr = " " }, wantErr: "addr is empty"},
		{name: "unbracketed ipv6", edit: func(c *IMAPConfig) { c.Addr = "::1:993" }, wantErr: "addr"},
		{name: "no username", edit: func(c *IMAPConfig) { c.Username = "" }, wantErr: "username"},
		{name: "no password", edit: func(c *IMAPConfig) { c.Password = "" }, wantErr: "password"},
		{name: "no channel", edit: func(c *IMAPConfig) { c.ChannelID = 0 }, wantErr: "channel id"},
		{name: "backoffs reversed", edit: func(c *IMAPConfig) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }, wantErr: "min backoff"},
		{name: "negative batch", edit: func(c *IMAPConfig) { c.BatchSize = -1 }, wantErr: "negative"},
		{name: "negative max attempts", edit: func(c *IMAPConfig) { c.MaxAttempts = -1 }, wantErr: "negative"},
		{name: "mailbox twice", edit: func(c *IMAPConfig) { c.Mailboxes = []string{"inbox", "INBOX"} }, wantErr: "twice"},
		{name: "empty mailbox", edit: func(c *IMAPConfig) { c.Mailboxes = []string{"INBOX", ""} }, wantErr: "empty mailbox"},
		{name: "inbox is case-insensitive", edit: func(c *IMAPConfig) { c.Mailboxes = []string{"Inbox", "Support"} },
			check: func(t *testing.T, c IMAPConfig) {
				if !slices.Equal(c.Mailboxes, []string{"INBOX", "Support"}) {
					t.Errorf("mailboxes = %q", c.Mailboxes)
				}
			}},
		{name: "first sync all", edit: func(c *IMAPConfig) { c.FirstSync = " ALL " },
			check: func(t *testing.T, c IMAPConfig) {
				if c.FirstSync != FirstSyncAll {
					t.Errorf("first sync = %q", c.FirstSync)
				}
			}},
		{name: "first sync since a date", edit: func(c *IMAPConfig) {
			c.FirstSync, c.FirstSyncSince = "since", time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
		}},
		{name: "first sync since without a date", edit: func(c *IMAPConfig) { c.FirstSync = "since" }, wantErr: "needs a date"},
		{name: "unknown first sync", edit: func(c *IMAPConfig) { c.FirstSync = "yesterday" }, wantErr: `first sync "yesterday"`},
		{name: "min backoff above default max", edit: func(c *IMAPConfig) { c.MinBackoff = 10 * time.Minute },
			check: func(t *testing.T, c IMAPConfig) {
				if c.MaxBackoff != 10*time.Minute {
					t.Errorf("max backoff = %v", c.MaxBackoff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			src, err := NewIMAPSource(cfg, &fakeSink{}, &fakeCursors{}, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), cfg.Password) && cfg.Password != "" && len(cfg.Password) > 3 {
					t.Errorf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.check != nil {
				tt.check(t, src.cfg)
			}
		})
	}
}

func TestIMAPNilDependencies(t *testing.T) {
	cfg := IMAPConfig{ChannelID: 1, Addr: "127.0.0.1:1", Security: "plain", Username: "u", Password: "p"}
	if _, err := NewIMAPSource(cfg, nil, &fakeCursors{}, nil); err == nil {
		t.Error("nil Ingester accepted")
	}
	if _, err := NewIMAPSource(cfg, &fakeSink{}, nil, nil); err == nil {
		t.Error("nil CursorStore accepted")
	}
}

func TestIMAPConfigLogValueHidesPassword(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	cfg := IMAPConfig{ChannelID: 3, Addr: "imap.example.org:993", Username: "desk@example.org", Password: "hunter2-secret"}
	log.Info("config", "imap", cfg)
	if strings.Contains(buf.String(), "hunter2-secret") {
		t.Errorf("password logged: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "desk@example.org") {
		t.Errorf("username missing from log: %s", buf.String())
	}
	for _, verb := range []string{"%v", "%+v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, "hunter2-secret") {
			t.Errorf("%s prints the password: %s", verb, out)
		}
	}
}

func TestIMAPBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration // the cap of the jitter window
	}{
		{0, time.Second},
		{1, 2 * time.Second},
		{3, 8 * time.Second},
		{8, 256 * time.Second},
		{9, 5 * time.Minute},
		{40, 5 * time.Minute},
		{10000, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempt), func(t *testing.T) {
			var top time.Duration
			for range 300 {
				d := backoff(time.Second, 5*time.Minute, tt.attempt)
				if d < 0 || d > tt.want {
					t.Fatalf("backoff %v outside [0, %v]", d, tt.want)
				}
				top = max(top, d)
			}
			// Full jitter spreads over the whole window: with 300 draws the
			// top half is missed with probability 2^-300.
			if top <= tt.want/2 {
				t.Errorf("largest of 300 draws %v, want some above %v", top, tt.want/2)
			}
		})
	}
}

func TestIMAPRunStopsOnCancelWhileServerIsDown(t *testing.T) {
	// Nothing listens on this port: Run keeps retrying until cancelled and
	// then returns nil.
	port := closedPort(t)
	sink, cursors := &fakeSink{}, &fakeCursors{}
	log, logs := testLogger(t)
	src, err := NewIMAPSource(IMAPConfig{
		ChannelID: 1, Addr: port, Security: "plain", Username: "u", Password: "secret-pw-123",
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}, sink, cursors, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	waitFor(t, "three failed attempts", func() bool {
		return strings.Count(logs.String(), "reconnecting") >= 3
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if strings.Contains(logs.String(), "secret-pw-123") {
		t.Error("password appears in the log")
	}
	if err := src.syncOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Errorf("syncOnce against a closed port = %v, want a dial error", err)
	}
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
