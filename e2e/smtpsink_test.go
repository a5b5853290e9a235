package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// postfixSink is Postfix's smtp-sink: a real SMTP server that writes every
// mail transaction to a file.
type postfixSink struct {
	addr string
	dir  string
	pid  int
}

func startPostfixSink(t *testing.T) *postfixSink {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/smtp-sink"); err2 != nil {
			t.Fatal("smtp-sink is not installed: apt-get install -y postfix (make test does this)")
		}
		bin = "/usr/sbin/smtp-sink"
	}
	// Not t.TempDir: its parents are 0700, and smtp-sink, which refuses to
	// keep root privileges, writes as nobody.
	dir, err := os.MkdirTemp("", "wasl-e2e-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dump := filepath.Join(dir, "mail")
	if err := os.MkdirAll(dump, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, dump} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	args := []string{"-d", dump + "/%M.", addr, "64"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start smtp-sink: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink did not listen on %s: %s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &postfixSink{addr: addr, dir: dump, pid: cmd.Process.Pid}
}

// sunk is one mail as smtp-sink dumped it.
type sunk struct {
	rcpt   []string
	header mail.Header
	raw    []byte
}

// messages reads every dumped mail, in file order.
func (s *postfixSink) messages(t *testing.T) []sunk {
	t.Helper()
	var files []string
	_ = filepath.Walk(s.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	// smtp-sink keeps a transaction's file open while it writes it (and
	// writes it in pieces): a file it still holds is not a mail yet.
	writing := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", s.pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil {
			writing[target] = true
		}
	}
	var out []sunk
	for _, f := range files {
		if writing[f] {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m sunk
		// Strip smtp-sink's X-* records; the Received header it adds is a
		// normal header and may stay.
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var rest bytes.Buffer
		inPrefix := true
		for sc.Scan() {
			line := sc.Text()
			if inPrefix {
				if v, ok := strings.CutPrefix(line, "X-Rcpt-Args: "); ok {
					m.rcpt = append(m.rcpt, strings.Trim(strings.Fields(v + " ")[0], "<>"))
					continue
				}
				if strings.HasPrefix(line, "X-Client-") || strings.HasPrefix(line, "X-Helo-Args:") || strings.HasPrefix(line, "X-Mail-Args:") {
					continue
				}
				inPrefix = false
			}
			rest.WriteString(line + "\r\n")
		}
		m.raw = rest.Bytes()
		r, err := mail.CreateReader(bytes.NewReader(m.raw))
		if err != nil {
			t.Fatalf("parse dumped mail %s: %v", f, err)
		}
		m.header = r.Header
		out = append(out, m)
	}
	return out
}
