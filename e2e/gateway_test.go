package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/pgtest"
	"github.com/wasl-dev/wasl/store"
)

// backend is one store the suites run against.
type backend struct {
	name string
	url  func(t *testing.T) string // "" means SQLite in the data dir
}

func backends() []backend {
	return []backend{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	}
}

// gateway is one wasl process and what it needs.
type gateway struct {
	t       *testing.T
	dir     string
	cfgPath string
	dbURL   string
	addr    string
	token   string

	st *store.Store // opened on first use, for assertions

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
	// leakSeen: checkLog has failed the test once; it says so only once.
	leakSeen bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newGateway writes a config from channelsYAML (the channels: list and any
// extra top-level keys) and the knowledge bank of the repo.
func newGateway(t *testing.T, dbURL, extraYAML string) *gateway {
	t.Helper()
	return newGatewayWith(t, dbURL, "", extraYAML)
}

// newGatewayWith is newGateway with more http: settings (indented lines).
func newGatewayWith(t *testing.T, dbURL, httpYAML, extraYAML string) *gateway {
	t.Helper()
	return newGatewayConfig(t, dbURL, func(g *gateway, bank string) string {
		return fmt.Sprintf(`data_dir: %s
knowledge_bank: %s
api_token: %s
mail_domain: e2e.wasl.test
http:
  addr: %s
%sjobs:
  poll_interval: 100ms
  send_timeout: 5s
  rescue_after: 8s
%s
`, filepath.Join(g.dir, "data"), bank, g.token, g.addr, httpYAML, extraYAML)
	})
}

// newGatewayConfig is a gateway (not started) whose configuration file
// config writes from the gateway's directory, address and token and the
// repository's knowledge bank; it is killed and its log checked at the
// end of the test.
func newGatewayConfig(t *testing.T, dbURL string, config func(g *gateway, bank string) string) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, dbURL: dbURL, addr: freeAddr(t), token: "e2e-token", logs: &syncBuffer{}}
	bank, err := filepath.Abs("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g.cfgPath = filepath.Join(dir, "wasl.yaml")
	if err := os.WriteFile(g.cfgPath, []byte(config(g, bank)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.kill()
		g.checkLog()
		if t.Failed() {
			t.Logf("gateway log (tail):\n%s", g.redact(tail(g.logs.String(), 60)))
		}
	})
	return g
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (g *gateway) env() []string {
	env := append(os.Environ(), "WASL_LOG_LEVEL=info", "WASL_API_TOKEN=", "WASL_DATABASE_URL="+g.dbURL)
	return env
}

// start runs `wasl serve` and waits until /readyz answers.
func (g *gateway) start() {
	g.t.Helper()
	g.mu.Lock()
	cmd := exec.Command(binary, "serve", "--config", g.cfgPath)
	cmd.Env = g.env()
	cmd.Stdout, cmd.Stderr = g.logs, g.logs
	if err := cmd.Start(); err != nil {
		g.mu.Unlock()
		g.t.Fatalf("start wasl: %v", err)
	}
	done := make(chan struct{})
	g.cmd, g.done = cmd, done
	g.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			g.t.Fatalf("wasl exited at start:\n%s", g.redact(tail(g.logs.String(), 40)))
		default:
		}
		resp, err := http.Get("http://" + g.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("wasl not ready after 60s:\n%s", g.redact(tail(g.logs.String(), 40)))
}

// kill9 kills the process without a chance to clean up.
func (g *gateway) kill9() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop asks the process to shut down gracefully.
func (g *gateway) stop() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		g.t.Errorf("wasl did not stop within 40s of SIGTERM")
	}
	g.checkLog()
}

func (g *gateway) kill() { g.kill9() }

// store opens the gateway's database from the test, for assertions.
func (g *gateway) store() *store.Store {
	g.t.Helper()
	if g.st != nil {
		return g.st
	}
	st, err := store.Open(context.Background(), g.dbURL, filepath.Join(g.dir, "data"), nil)
	if err != nil {
		g.t.Fatalf("open store: %v", err)
	}
	g.t.Cleanup(func() { st.Close() })
	g.st = st
	return st
}

func (g *gateway) stats() store.Stats {
	g.t.Helper()
	s, err := g.store().Stats(context.Background())
	if err != nil {
		g.t.Fatalf("stats: %v", err)
	}
	return s
}

// api GETs path with the token and decodes the JSON into v.
func (g *gateway) api(path string, v any) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("GET %s: %s: %s", path, resp.Status, g.redact(string(body)))
	}
	g.checkBody("GET "+path, body)
	if err := json.Unmarshal(body, v); err != nil {
		g.t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s (last: %s)", what, d, last)
}
