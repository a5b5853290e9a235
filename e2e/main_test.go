// Package e2e runs the wasl binary as a user would, against real peers:
// Dovecot for IMAP, Postfix's smtp-sink (or the sandbox SMTP server) for
// SMTP, and both SQLite and a throwaway PostgreSQL cluster for the store.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasl-dev/wasl/internal/dbtest"
)

// binary is the wasl binary built once for this test run. Set by TestMain
// before any test runs and only read afterwards.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasl-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wasl")
	// Built without -race: the processes are killed and restarted, and the
	// race detector's cost would slow the crash test, not make it stricter.
	cmd := exec.Command("go", "build", "-trimpath", "-o", binary, "../cmd/wasl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build wasl:", err)
		os.Exit(1)
	}
	code := dbtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
