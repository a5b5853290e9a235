package sms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// spoolHelperEnv makes the test binary a helper process that spools one
// webhook and then waits to be killed (TestSpoolSurvivesKill).
const spoolHelperEnv = "WASL_SMS_SPOOL_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(spoolHelperEnv); dir != "" {
		os.Exit(spoolHelper(dir))
	}
	os.Exit(m.Run())
}

// spoolHelper runs in its own process: the store is down, so the webhook
// spools; it reports the answer and waits for SIGKILL.
func spoolHelper(dir string) int {
	cfg := testConfig()
	cfg.SpoolDir = dir
	c, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	c.now = func() time.Time { return testNow }
	body := smsBody("SM00000000000000000000000000000001", "البروجكتر خربان في القاعة ١٢")
	form, _ := url.ParseQuery(body)
	r := httptest.NewRequest(http.MethodPost, inboundPath, strings.NewReader(body))
	r.Header.Set("X-Twilio-Signature", Sign(testToken, testPublic+inboundPath, form))
	w := serve(c.InboundHandler(&spoolSink{down: true}), r)
	fmt.Printf("status %d\n", w.Code)
	select {} // until killed
}

// smsBody is the Arabic SMS fixture with another MessageSid and text.
func smsBody(sid, text string) string {
	b, err := os.ReadFile(filepath.Join("testdata", "inbound_sms_arabic.form"))
	if err != nil {
		panic(err)
	}
	f, err := url.ParseQuery(strings.TrimSpace(string(b)))
	if err != nil {
		panic(err)
	}
	for _, k := range []string{"MessageSid", "SmsSid", "SmsMessageSid"} {
		f.Set(k, sid)
	}
	f.Set("Body", text)
	return f.Encode()
}

// spoolSink is the store as the spool sees it: an Ingester (deduping by
// MessageSid like the pipeline) and a Pinger, down or up as the test says.
// On every ingest it notes whether the message's spool file was still
// there: a file must be removed only after its commit.
type spoolSink struct {
	mu     sync.Mutex
	down   bool            // Ping and Ingest fail
	poison map[string]bool // these MessageSids fail unless quarantined
	// poisonQuarantined makes the quarantined ingest of a poison message
	// fail too.
	poisonQuarantined bool
	dir               string // the spool, to look for files in; "" not to

	stored      []message.Inbound
	seen        map[string]bool
	calls       map[string]int // ingest calls by MessageSid
	pings       int
	fileMissing []string // MessageSids ingested while their file was gone
}

var errPoison = errors.New("render reply: template breaks on this text")

func (s *spoolSink) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pings++
	if s.down {
		return errStoreDown
	}
	return nil
}

func (s *spoolSink) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls, s.seen = map[string]int{}, map[string]bool{}
	}
	s.calls[in.ExternalID]++
	if s.dir != "" {
		if m, _ := filepath.Glob(filepath.Join(s.dir, "*-"+in.ExternalID+spoolExt)); len(m) == 0 {
			s.fileMissing = append(s.fileMissing, in.ExternalID)
		}
	}
	switch {
	case s.down:
		return message.Outcome{}, errStoreDown
	case s.poison[in.ExternalID] && (!in.Quarantined || s.poisonQuarantined):
		return message.Outcome{}, errPoison
	}
	dup := s.seen[in.ExternalID]
	s.seen[in.ExternalID] = true
	if !dup {
		s.stored = append(s.stored, in)
	}
	return message.Outcome{Duplicate: dup, MessageID: int64(len(s.stored))}, nil
}

func (s *spoolSink) set(fn func(s *spoolSink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *spoolSink) snapshot() (stored []message.Inbound, pings int, calls map[string]int, fileMissing []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := map[string]int{}
	for k, v := range s.calls {
		c[k] = v
	}
	return append([]message.Inbound(nil), s.stored...), s.pings, c, append([]string(nil), s.fileMissing...)
}

// spoolChannel is a test channel spooling into dir, its drainer's backoff cut
// to milliseconds.
func spoolChannel(t *testing.T, dir string) (*Channel, *syncBuffer) {
	t.Helper()
	c, logs := newChannel(t, func(cfg *Config) { cfg.SpoolDir = dir })
	c.spoolTiming = spoolTiming{retry: time.Millisecond, minWait: time.Millisecond, maxWait: 4 * time.Millisecond}
	return c, logs
}

// runSpool drains c's spool into sink until the test ends.
func runSpool(t *testing.T, c *Channel, sink *spoolSink) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunSpool(ctx, sink, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSpool: %v", err)
		}
	})
}

// spoolFiles lists the complete entries in dir.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor polls cond; the deadline only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func postSpooled(t *testing.T, h http.Handler, body string) {
	t.Helper()
	w := serve(h, signedPost(t, testToken, testPublic+inboundPath, inboundPath, body))
	if w.Code != http.StatusOK || w.Body.String() != emptyTwiML {
		t.Fatalf("webhook: %d %q, want 200 with empty TwiML", w.Code, w.Body)
	}
}

// With the store down every webhook is answered 200 from the spool; while
// the store stays down the drainer counts nothing against the messages; once
// it is back they are ingested in arrival order, as received, and each file
// goes only after its commit.
func TestSpoolWhileStoreDown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool", "sa-sms")
	c, _ := spoolChannel(t, dir)
	sink := &spoolSink{down: true}
	h := c.InboundHandler(sink)
	var bodies []string
	for i := range 3 {
		body := smsBody(fmt.Sprintf("SM%032d", i+1), fmt.Sprintf("طلب رقم %d: البروجكتر خربان", i+1))
		bodies = append(bodies, body)
		postSpooled(t, h, body)
	}
	if n := len(spoolFiles(t, dir)); n != 3 || c.Spooled() != 3 {
		t.Fatalf("spool holds %d files (Spooled %d), want 3", n, c.Spooled())
	}
	// Only the first webhook tried the store: the others joined the spool
	// to keep their order.
	if _, _, calls, _ := sink.snapshot(); len(calls) != 1 || calls[fmt.Sprintf("SM%032d", 1)] != 1 {
		t.Errorf("ingest calls by the webhooks = %v, want one, for the first message", calls)
	}

	sink.set(func(s *spoolSink) { s.dir = dir }) // from now on every ingest must find its file
	runSpool(t, c, sink)
	waitFor(t, "the drainer to find the store down many times", func() bool {
		_, pings, _, _ := sink.snapshot()
		return pings > 2*maxSpoolAttempts
	})
	sink.set(func(s *spoolSink) { s.down = false })
	waitFor(t, "all three stored", func() bool { stored, _, _, _ := sink.snapshot(); return len(stored) == 3 })
	waitFor(t, "the spool emptied", func() bool { return len(spoolFiles(t, dir)) == 0 && c.Spooled() == 0 })

	stored, _, _, missing := sink.snapshot()
	for i, in := range stored {
		if want := fmt.Sprintf("SM%032d", i+1); in.ExternalID != want {
			t.Errorf("stored #%d is %s, want %s (arrival order)", i+1, in.ExternalID, want)
		}
		if in.Quarantined {
			t.Errorf("%s quarantined (%s): failures while the store was down must not count", in.ExternalID, in.QuarantineReason)
		}
		if !in.ReceivedAt.Equal(testNow) || string(in.Raw) != bodies[i] || !strings.Contains(in.Text, "البروجكتر خربان") {
			t.Errorf("%s: received %v, raw %d bytes, text %q; want the webhook as it came at %v", in.ExternalID, in.ReceivedAt, len(in.Raw), in.Text, testNow)
		}
	}
	if len(missing) != 0 {
		t.Errorf("ingested while their spool file was already gone: %v", missing)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// A spooled webhook survives the death of its process (kill -9 right after
// the 200): a new channel on the same directory finds and ingests it.
func TestSpoolSurvivesKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), spoolHelperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if err != nil || strings.TrimSpace(line) != "status 200" {
		t.Fatalf("helper process said %q (%v), want status 200", line, err)
	}

	c, _ := spoolChannel(t, dir)
	if c.Spooled() != 1 {
		t.Fatalf("new channel finds %d spooled messages, want 1", c.Spooled())
	}
	sink := &spoolSink{dir: dir}
	runSpool(t, c, sink)
	waitFor(t, "the spooled message stored", func() bool { stored, _, _, _ := sink.snapshot(); return len(stored) == 1 })
	waitFor(t, "its file removed", func() bool { return len(spoolFiles(t, dir)) == 0 })
	stored, _, _, _ := sink.snapshot()
	in := stored[0]
	if in.ExternalID != "SM00000000000000000000000000000001" || in.Text != "البروجكتر خربان في القاعة ١٢" ||
		in.From.Value != "+966501234567" || !in.ReceivedAt.Equal(testNow) || in.Quarantined {
		t.Errorf("stored %+v, want the helper's message as received at %v", in, testNow)
	}
}

// A message that fails while the store answers is retried a bounded number
// of times, then stored quarantined with the error and its raw form; if even
// that fails it stays spooled until it can be stored. Messages behind it
// are not held up.
func TestSpoolMessageThatKeepsFailing(t *testing.T) {
	const bad, good = "SM000000000000000000000000000000bd", "SM000000000000000000000000000000ff"
	tests := []struct {
		name string
		// quarantineFails makes the quarantined ingest fail too until the
		// test heals the sink.
		quarantineFails bool
	}{
		{"stored quarantined after five failures", false},
		{"quarantined ingest fails too: kept until it works", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, _ := spoolChannel(t, dir)
			sink := &spoolSink{poison: map[string]bool{bad: true}, poisonQuarantined: tt.quarantineFails}
			h := c.InboundHandler(sink)
			badBody := smsBody(bad, "نص يكسر القالب")
			postSpooled(t, h, badBody)
			postSpooled(t, h, smsBody(good, "البروجكتر خربان"))
			sink.set(func(s *spoolSink) { s.dir = dir })
			runSpool(t, c, sink)

			if tt.quarantineFails {
				waitFor(t, "several quarantined attempts", func() bool {
					_, _, calls, _ := sink.snapshot()
					return calls[bad] > 3*maxSpoolAttempts
				})
				if stored, _, _, _ := sink.snapshot(); len(stored) != 1 || stored[0].ExternalID != good {
					t.Fatalf("stored %+v, want only the good message so far", stored)
				}
				if n := len(spoolFiles(t, dir)); n != 1 {
					t.Fatalf("spool holds %d files, want the failing message kept", n)
				}
				sink.set(func(s *spoolSink) { s.poisonQuarantined = false })
			}
			waitFor(t, "both stored", func() bool { stored, _, _, _ := sink.snapshot(); return len(stored) == 2 })
			waitFor(t, "the spool emptied", func() bool { return len(spoolFiles(t, dir)) == 0 })

			stored, _, calls, missing := sink.snapshot()
			if stored[0].ExternalID != good || stored[0].Quarantined {
				t.Errorf("first stored %s (quarantined %v), want the good message, not held up", stored[0].ExternalID, stored[0].Quarantined)
			}
			q := stored[1]
			want := "could not be stored after 5 attempts: " + errPoison.Error()
			if q.ExternalID != bad || !q.Quarantined || q.QuarantineReason != want || string(q.Raw) != badBody || q.Text != "نص يكسر القالب" {
				t.Errorf("stored %s quarantined=%v reason %q raw %d bytes; want quarantined with %q and the raw form", q.ExternalID, q.Quarantined, q.QuarantineReason, len(q.Raw), want)
			}
			// The webhook's own try, then five in the spool, the last
			// followed at once by the quarantined one.
			if !tt.quarantineFails && calls[bad] != 1+maxSpoolAttempts+1 {
				t.Errorf("ingest calls for the failing message = %d, want %d", calls[bad], 1+maxSpoolAttempts+1)
			}
			if len(missing) != 0 {
				t.Errorf("ingested while their spool file was already gone: %v", missing)
			}
		})
	}
}

// Only when the spool cannot be written either is the webhook answered 503
// (Twilio may then retry, if so configured; nothing was kept).
func TestSpoolUnwritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	c, logs := spoolChannel(t, dir)
	// The spool's place is taken by a file: nothing can be written there.
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := serve(c.InboundHandler(&spoolSink{down: true}), signedPost(t, testToken, testPublic+inboundPath, inboundPath, fixture(t, "inbound_sms_arabic.form")))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d (%s), want 503", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "neither stored nor spooled") || c.Spooled() != 0 {
		t.Errorf("Spooled %d, log:\n%s", c.Spooled(), logs)
	}
}
