package sms

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

const (
	testAccount = "AC3f1e5b0a9c2d4e6f8a0b1c2d3e4f5a6b"
	testToken   = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	testService = "MG0123456789abcdef0123456789abcdef"
	testPublic  = "https://wasl.example.edu"
	testName    = "sa-sms"
	inboundPath = "/webhooks/twilio/sa-sms"
	statusPath  = "/webhooks/twilio/sa-sms/status"
)

var testNow = time.Date(2025, 3, 9, 8, 15, 0, 0, time.UTC)

// syncBuffer collects log output from handlers running on other goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testConfig() Config {
	return Config{
		ChannelID:     7,
		Name:          testName,
		AccountSID:    testAccount,
		AuthToken:     testToken,
		From:          "+966115550100",
		PublicURL:     testPublic,
		DefaultRegion: "SA",
	}
}

// newChannel builds a channel from testConfig changed by mutate, logging
// into the returned buffer. At the end of the test it checks that the auth
// token never reached the log.
func newChannel(t *testing.T, mutate func(*Config)) (*Channel, *syncBuffer) {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	c, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.now = func() time.Time { return testNow }
	t.Cleanup(func() {
		if strings.Contains(logs.String(), cfg.AuthToken) {
			t.Errorf("the auth token was logged:\n%s", logs)
		}
	})
	return c, logs
}

// fixture reads a webhook form body from testdata.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func parseForm(t testing.TB, body string) url.Values {
	t.Helper()
	f, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("parse form: %v", err)
	}
	return f
}

// signedPost builds a webhook request for target (path and query) whose
// signature is what Twilio computes for signURL.
func signedPost(t testing.TB, token, signURL, target, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", Sign(token, signURL, parseForm(t, body)))
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// fakeSink is an Ingester that dedupes by external id like the pipeline.
type fakeSink struct {
	mu   sync.Mutex
	got  []message.Inbound
	seen map[string]bool
	err  error
}

func (s *fakeSink) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return message.Outcome{}, ctx.Err()
	}
	s.got = append(s.got, in)
	if s.err != nil {
		return message.Outcome{}, s.err
	}
	if s.seen == nil {
		s.seen = make(map[string]bool)
	}
	dup := s.seen[in.ExternalID]
	s.seen[in.ExternalID] = true
	return message.Outcome{Duplicate: dup, MessageID: int64(len(s.seen)), ConversationID: 1}, nil
}

func (s *fakeSink) calls() []message.Inbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message.Inbound(nil), s.got...)
}

type update struct {
	ChannelID  int64
	ProviderID string
	State      message.DeliveryState
	ErrText    string
}

// fakeUpdater is a DeliveryUpdater that knows the provider ids in known.
type fakeUpdater struct {
	mu    sync.Mutex
	known map[string]bool
	err   error
	got   []update
}

func (u *fakeUpdater) UpdateDeliveryByProvider(ctx context.Context, channelID int64, providerID string, state message.DeliveryState, errText string) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got = append(u.got, update{channelID, providerID, state, errText})
	if u.err != nil {
		return false, u.err
	}
	return u.known[providerID], nil
}

func (u *fakeUpdater) calls() []update {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]update(nil), u.got...)
}

var errStoreDown = errors.New("store: connection refused")
