package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/secrets"
)

// TestDemoRuns builds the demo as `make run` does (-tags demo), starts it,
// and follows its guidance: the printed lines are there, the outbox fills
// with replies, and the tickets API answers with the printed token. The
// shipped binary has no demo (cmd/wasl TestShippedBinaryCarriesNoDemo).
func TestDemoRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "wasl-demo")
	// -trimpath, as TestMain builds the gateway: the packages both share
	// are compiled once.
	build := exec.Command("go", "build", "-trimpath", "-tags", "demo", "-o", bin, "../cmd/wasl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags demo: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	demoDir := filepath.Join(dir, "demo")
	cmd := exec.Command(bin, "demo", "--dir", demoDir, "--addr", addr)
	cmd.Env = append(os.Environ(), "WASL_DATABASE_URL=", "WASL_API_TOKEN=", "WASL_LOG_LEVEL=warn")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("demo log (tail):\n%s", tail(logs.String(), 40))
		}
	})

	var guidance []string
	timeout := time.After(2 * time.Minute)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited before its guidance; printed:\n%s", strings.Join(guidance, "\n"))
			}
			guidance = append(guidance, l)
			if strings.Contains(l, "Press Ctrl-C to stop.") {
				break read
			}
		case <-timeout:
			t.Fatalf("no guidance within 2 minutes; printed:\n%s", strings.Join(guidance, "\n"))
		}
	}
	text := strings.Join(guidance, "\n")
	base := "http://" + addr
	for _, want := range []string{
		"Wasl demo is running on " + base + " (SQLite in " + demoDir + ").",
		"6 mails were put in a local IMAP mailbox and 2 SMS posted to the signed",
		"Tickets:        curl -s -H 'Authorization: Bearer ",
		"Conversations:  curl -s -H 'Authorization: Bearer ",
		"Email replies:  " + filepath.Join(demoDir, "outbox") + "/*.eml",
		"Configuration:  " + demoDir + "/demo.yaml and " + demoDir + "/bank.yaml",
		`Try the classifier:  go run ./cmd/wasl classify`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("guidance lacks %q; printed:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`Bearer ([0-9a-f]{32})' ` + regexp.QuoteMeta(base) + `/api/v1/tickets`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no token in the guidance:\n%s", text)
	}

	// The demo keeps a secret key, so an operator can add a channel with
	// its password on the page.
	keyFile := filepath.Join(demoDir, "secret.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo secret key %s: %v, mode %v; want a 0600 file", keyFile, err, fi)
	} else if _, err := secrets.LoadKeyFile(keyFile); err != nil {
		t.Errorf("demo secret key: %v", err)
	}

	eventually(t, time.Minute, "replies in the outbox", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(demoDir, "outbox", "*.eml"))
		return len(files) >= 4, fmt.Sprintf("%d .eml files", len(files))
	})
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/tickets", nil)
	req.Header.Set("Authorization", "Bearer "+m[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"EDU-`) {
		t.Errorf("tickets API: %s %s, want tickets EDU-…", resp.Status, body)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for range lines {
		}
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(45 * time.Second):
		t.Errorf("demo did not stop within 45s of SIGTERM")
	}
}
