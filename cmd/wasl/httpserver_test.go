package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/channels/sms"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/store"
)

const (
	testTwilioAccount = "AC0123456789abcdef0123456789abcdef"
	testTwilioToken   = "httpTestAuthToken0123456789"
)

// testGateway is an app serving on loopback in this process.
type testGateway struct {
	a       *app
	ls      *listeners
	cfg     *config.Config
	dataDir string
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

// TestMain removes the migrated template startGateway copies.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// startGateway runs an app with an SMS channel (its REST calls go to a
// fake Twilio) and the given http: settings; routes lets a test mount
// routes of its own before serving.
func startGateway(t *testing.T, httpYAML string, routes func(a *app)) *testGateway {
	t.Helper()
	fake := faketwilio.Start(t, testTwilioAccount, testTwilioToken)
	bank, err := filepath.Abs("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of a migrated database: migrating under -race takes seconds.
	dir := dbtest.SQLiteDir(t, store.MigrateAt)
	yaml := fmt.Sprintf(`data_dir: %s
knowledge_bank: %s
api_token: s3cret
http:
  addr: 127.0.0.1:0
%s
channels:
  - name: sms
    kind: sms
    twilio: {account_sid: %s, auth_token: %s, from: "+966500000001", api_url: %q}
`, dir, bank, httpYAML, testTwilioAccount, testTwilioToken, fake.URL())
	cfg, err := config.Parse([]byte(yaml), "wasl.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if routes != nil {
		routes(a)
	}
	ls, err := a.listen()
	if err != nil {
		a.store.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &testGateway{a: a, ls: ls, cfg: cfg, dataDir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- a.serve(ctx, ls) }()
	t.Cleanup(func() { g.stop(t) })
	// serve answers HTTP only once the job runner has started.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := noKeepAlive.Get(g.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready after 30s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop shuts the app down and waits for serve to return.
func (g *testGateway) stop(t *testing.T) {
	t.Helper()
	g.stopped.Do(func() {
		g.cancel()
		select {
		case err := <-g.done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("serve did not return within a minute of shutdown")
		}
	})
}

func (g *testGateway) url(path string) string { return "http://" + g.ls.public.Addr().String() + path }

// client talks to the gateway without keeping connections, so no test
// holds a slot it does not mean to.
var noKeepAlive = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// signedSMS is a Twilio inbound-message webhook for the sms channel,
// signed against the public URL as Twilio signs it.
func (g *testGateway) signedSMS(t *testing.T, sid, body string) *http.Request {
	t.Helper()
	path := "/webhooks/twilio/sms"
	form := url.Values{
		"MessageSid": {sid}, "AccountSid": {testTwilioAccount}, "From": {"+966551234567"},
		"To": {"+966500000001"}, "Body": {body}, "NumMedia": {"0"},
	}
	req, err := http.NewRequest(http.MethodPost, g.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sms.Sign(testTwilioToken, g.cfg.HTTP.PublicURL+path, form))
	return req
}

// signedStatus is a signed status callback for the sms channel.
func (g *testGateway) signedStatus(t *testing.T, sid, status string) *http.Request {
	t.Helper()
	path := "/webhooks/twilio/sms/status"
	form := url.Values{"MessageSid": {sid}, "AccountSid": {testTwilioAccount}, "MessageStatus": {status}}
	req, err := http.NewRequest(http.MethodPost, g.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sms.Sign(testTwilioToken, g.cfg.HTTP.PublicURL+path, form))
	return req
}

// dialRaw opens a connection and writes what a client sends before it
// stalls.
func dialRaw(t *testing.T, addr, send string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, send); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedByServer reads c until the server closes it, and fails the test if
// it is still open after within.
func closedByServer(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open after %s", within)
	}
}

// Slow and idle clients are dropped after the timeouts: a webhook body that
// never ends, headers that never end, an idle keep-alive connection.
func TestHTTPTimeoutsDropSlowClients(t *testing.T) {
	g := startGateway(t, `  read_header_timeout: 300ms
  read_timeout: 500ms
  write_timeout: 1s
  idle_timeout: 500ms`, nil)
	addr := g.ls.public.Addr().String()

	tests := []struct {
		name string
		send string
	}{
		{"slow webhook body", "POST /webhooks/twilio/sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nMessageSid=SM"},
		{"slow API body", "POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"},
		{"slow headers", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Several at once, as a flood would come.
			var wg sync.WaitGroup
			for range 5 {
				c := dialRaw(t, addr, tt.send)
				wg.Add(1)
				go func() { defer wg.Done(); closedByServer(t, c, 15*time.Second) }()
			}
			wg.Wait()
		})
	}

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialRaw(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("/healthz: %s (close %v), want 200 on a kept-alive connection", resp.Status, resp.Close)
		}
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Errorf("idle connection: read %v, want the server to close it (EOF)", err)
		}
	})
}

// A streaming route (server-sent events) outlives the write timeout that
// cuts any other response, and ends when shutdown begins.
func TestHTTPStreamingRoute(t *testing.T) {
	causes := make(chan error, 2)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		rc.Flush()
		// Past the write timeout: a deadline still set fails this write.
		time.Sleep(1500 * time.Millisecond)
		if _, err := io.WriteString(w, "data: two\n\n"); err == nil {
			rc.Flush()
		}
		<-r.Context().Done()
		causes <- context.Cause(r.Context())
	})
	g := startGateway(t, `  read_header_timeout: 300ms
  read_timeout: 500ms
  write_timeout: 1s
  idle_timeout: 500ms`, func(a *app) {
		a.mux.Handle("GET /test/stream", a.streaming(handler))
		a.mux.Handle("GET /test/plain", handler)
	})
	events := func(path string) (*bufio.Reader, func()) {
		resp, err := noKeepAlive.Get(g.url(path))
		if err != nil {
			t.Fatal(err)
		}
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	next := func(br *bufio.Reader) (string, error) {
		line, err := br.ReadString('\n')
		if err == nil {
			_, err = br.ReadString('\n') // the blank line that ends an event
		}
		return strings.TrimSpace(line), err
	}

	// Without the exception the write timeout cuts the response.
	br, closeBody := events("/test/plain")
	if ev, err := next(br); ev != "data: one" || err != nil {
		t.Fatalf("plain route: first event %q, %v", ev, err)
	}
	if ev, err := next(br); err == nil {
		t.Errorf("plain route: got %q after the write timeout, want the connection cut", ev)
	}
	closeBody()
	<-causes

	br, closeBody = events("/test/stream")
	defer closeBody()
	for _, want := range []string{"data: one", "data: two"} {
		if ev, err := next(br); ev != want || err != nil {
			t.Fatalf("streaming route: event %q, %v; want %q", ev, err, want)
		}
	}
	g.stop(t)
	if cause := <-causes; !errors.Is(cause, errShuttingDown) {
		t.Errorf("stream ended by %v, want the shutdown (%v)", cause, errShuttingDown)
	}
}

// The public listener holds at most max_connections; clients beyond it
// wait in the backlog, and the admin listener still answers the probes.
// The public /healthz waits for a slot like any request: a liveness probe
// belongs on admin_addr.
func TestHTTPConnectionCap(t *testing.T) {
	const maxConns, clients = 8, 12
	g := startGateway(t, fmt.Sprintf(`  read_header_timeout: 2s
  read_timeout: 2s
  max_connections: %d
  max_webhooks: 2
  admin_addr: 127.0.0.1:0`, maxConns), nil)
	addr := g.ls.public.Addr().String()
	var conns []net.Conn
	for range clients {
		conns = append(conns, dialRaw(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	}
	deadline := time.Now().Add(15 * time.Second)
	for g.ls.public.Open() < maxConns && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := g.ls.public.Open(); n < maxConns {
		t.Fatalf("%d connections open, want the cap (%d) reached", n, maxConns)
	}
	admin := "http://" + g.ls.admin.Addr().String()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := noKeepAlive.Get(admin + path)
		if err != nil {
			t.Fatalf("admin %s while the public cap is full: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s: %s", path, resp.Status)
		}
	}
	if full := g.ls.public.Open(); full != maxConns {
		t.Errorf("public connections open during the probes = %d, want %d", full, maxConns)
	}
	// Every client is dropped by the header timeout in turn, those in the
	// backlog once a slot frees; the count never passed the cap.
	for _, c := range conns {
		closedByServer(t, c, 20*time.Second)
	}
	if p := g.ls.public.Peak(); p != maxConns {
		t.Errorf("peak open connections = %d, want the cap %d", p, maxConns)
	}
	// With an admin listener, the metrics are not public.
	resp, err := noKeepAlive.Get(g.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics with admin_addr set: %s, want 404", resp.Status)
	}
}

// Webhooks beyond max_webhooks, while the database is slow, do not queue on
// the pool: after webhook_wait an inbound SMS goes to the channel's spool
// and is answered 200 (Twilio does not retry a 503 by default, so refusing
// it would lose it), and a status callback gets 503 with Retry-After. Once
// the database is back, every message is stored.
func TestWebhookFloodIsSpooled(t *testing.T) {
	g := startGateway(t, `  max_webhooks: 2
  webhook_wait: 50ms`, nil)
	// Another process holding SQLite's write lock: every ingest waits.
	ctx := context.Background()
	other, err := store.Open(ctx, "", g.dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.DB().BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()

	type answer struct {
		code int
		err  error
	}
	held := make(chan answer, 2)
	for i := range 2 {
		req := g.signedSMS(t, fmt.Sprintf("SM%032d", i+1), "البروجكتر في القاعة 12 خربان نبي صيانة")
		go func() {
			resp, err := noKeepAlive.Do(req)
			if err != nil {
				held <- answer{err: err}
				return
			}
			resp.Body.Close()
			held <- answer{code: resp.StatusCode}
		}()
	}
	deadline := time.Now().Add(15 * time.Second)
	for g.a.webhooks.InUse() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := g.a.webhooks.InUse(); n != 2 {
		t.Fatalf("webhooks in flight = %d, want both slots taken", n)
	}
	resp, err := noKeepAlive.Do(g.signedSMS(t, "SM00000000000000000000000000000003", "and the speakers"))
	if err != nil {
		t.Fatalf("webhook beyond the slots: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("inbound webhook beyond the slots: %s, want 200 (spooled)", resp.Status)
	}
	spooled, err := filepath.Glob(filepath.Join(g.dataDir, "spool", "twilio", "sms", "*.twilio"))
	if err != nil || len(spooled) == 0 {
		t.Errorf("inbound webhook beyond the slots answered without being spooled (%v)", err)
	}
	resp, err = noKeepAlive.Do(g.signedStatus(t, "SMunknown0000000000000000000000001", "delivered"))
	if err != nil {
		t.Fatalf("status callback beyond the slots: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status callback beyond the slots: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if a := <-held; a.err != nil || a.code != http.StatusOK {
			t.Errorf("held webhook: %d %v, want 200", a.code, a.err)
		}
	}
	resp, err = noKeepAlive.Do(g.signedSMS(t, "SM00000000000000000000000000000004", "and the screen please"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("webhook after the flood: %s, want 200", resp.Status)
	}
	var st store.Stats
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = other.Stats(ctx); err != nil {
			t.Fatal(err)
		}
		if st.Messages == 4 {
			break
		}
	}
	if st.Messages != 4 {
		t.Errorf("messages stored = %d, want all 4, the spooled one included", st.Messages)
	}
}

// emfileListener fails its first Accept as a process out of descriptors
// does, then waits until closed.
type emfileListener struct {
	net.Listener
	once sync.Once
}

func (l *emfileListener) Accept() (net.Conn, error) {
	var err error
	l.once.Do(func() {
		err = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	})
	if err != nil {
		return nil, err
	}
	return l.Listener.Accept()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The server's own errors, such as running out of file descriptors, reach
// our log at error level.
func TestHTTPServerErrorsLoggedAsErrors(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	cfg, err := config.Parse([]byte("knowledge_bank: b.yaml\n"), "wasl.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(cfg.HTTP, http.NotFoundHandler(), log)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(&emfileListener{Listener: ln}) }()
	defer func() { srv.Close(); <-done }()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "too many open files") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var rec struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "too many open files") {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if rec.Level != "ERROR" || !strings.Contains(rec.Msg, "Accept error") {
		t.Errorf("accept failure logged as %+v, want level ERROR in our log; log: %s", rec, buf.String())
	}
}

// max_webhooks must leave database connections for the jobs and the
// connectors: the store's pool decides, so newApp checks it.
func TestMaxWebhooksBelowPool(t *testing.T) {
	bank, err := filepath.Abs("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := "data_dir: " + t.TempDir() + "\nknowledge_bank: " + bank + "\nhttp: {max_webhooks: 8}\n"
	cfg, err := config.Parse([]byte(yaml), "wasl.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err == nil {
		a.store.Close()
		t.Fatal("newApp accepted max_webhooks equal to the SQLite pool (8)")
	}
	var u exitUsage
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "below the database pool (8 connections)") {
		t.Errorf("error = %v, want a usage error naming the pool", err)
	}
}
