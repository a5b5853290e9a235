// Package dovecot runs a real Dovecot IMAP server on 127.0.0.1 for tests:
// one throwaway instance per call to Start, configured from
// dovecot.conf.tmpl, with users in a passwd file and mail in Maildirs under
// a temporary directory. It needs the dovecot-imapd package and root (the
// master switches to the dovecot user for mail, as in production).
package dovecot

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

//go:embed dovecot.conf.tmpl
var confTemplate string

// DefaultUser is the account every Server starts with.
const DefaultUser = "support@example.test"

// NotInstalled is the failure message when the dovecot binary is missing.
const NotInstalled = "dovecot is not installed: apt-get install -y dovecot-imapd (make test does this)"

// seedAge is how long before Start the first seeded mail was delivered
// (its file time, which Dovecot reports as INTERNALDATE). Recent enough that
// seeded mail is new mail to a gateway whose age rule keeps anything older
// than its auto-reply window (24 h by default) as history; far enough back
// that 20,000 mails, one second apart, still lie in the past.
const seedAge = 6 * time.Hour

const (
	// Generous: a loaded 2-core machine running many tests in parallel can
	// be slow to start dovecot. Readiness is awaited, not timed.
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// Options change how a Server is started.
type Options struct {
	// TLS gives Dovecot a self-signed certificate: STARTTLS on Addr and
	// implicit TLS on TLSAddr. ClientTLSConfig trusts the certificate.
	TLS bool
}

// Server is one running Dovecot. Its methods may be called from any
// goroutine and any test; it is stopped when the test that started it ends.
type Server struct {
	dir      string
	bin      string
	port     int
	tlsPort  int
	tls      bool
	certPool *x509.CertPool
	uid, gid int

	mu       sync.Mutex
	users    map[string]string // name → password
	proc     *exec.Cmd
	exited   chan struct{}
	seedSeq  int
	seedBase int64 // unix seconds of the first seeded mail
}

// Start runs Dovecot on a free loopback port with DefaultUser and stops it
// when t ends. It fails t (never skips) when Dovecot cannot run here.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/dovecot"); serr != nil {
			t.Fatal(NotInstalled)
		}
		bin = "/usr/sbin/dovecot"
	}
	if os.Geteuid() != 0 {
		t.Fatal("the dovecot test harness must run as root: dovecot's master drops to the dovecot user for mail (make test runs as root in CI)")
	}
	du, err := user.Lookup("dovecot")
	if err != nil {
		t.Fatalf("%s (no dovecot user: %v)", NotInstalled, err)
	}
	if _, err := user.Lookup("dovenull"); err != nil {
		t.Fatalf("%s (no dovenull user: %v)", NotInstalled, err)
	}
	uid, _ := strconv.Atoi(du.Uid)
	gid, _ := strconv.Atoi(du.Gid)

	// Not t.TempDir: its parent is 0700, and dovecot's unprivileged
	// processes must reach the mail and the sockets.
	dir, err := os.MkdirTemp("", "wasl-dovecot-")
	if err != nil {
		t.Fatalf("dovecot: temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	s := &Server{
		dir: dir, bin: bin, tls: opts.TLS, uid: uid, gid: gid,
		users:    map[string]string{DefaultUser: randomPassword()},
		seedBase: time.Now().Add(-seedAge).Unix(),
	}
	if err := s.prepare(); err != nil {
		t.Fatalf("dovecot: %v", err)
	}

	var lastErr error
	for range 5 { // a free port can be taken between picking and binding
		if lastErr = s.pickPorts(); lastErr != nil {
			continue
		}
		if lastErr = s.writeConfig(); lastErr != nil {
			break
		}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("dovecot: %v", lastErr)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("dovecot log (%s):\n%s", s.dir, s.Log())
		}
	})
	return s
}

func (s *Server) prepare() error {
	for _, d := range []string{"run", "log", "mail", "tls"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(s.dir, "mail"), s.uid, s.gid); err != nil {
		return err
	}
	if s.tls {
		if err := s.writeCert(); err != nil {
			return fmt.Errorf("tls certificate: %w", err)
		}
	}
	return s.writePasswd()
}

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "pw-" + hex.EncodeToString(b)
}

// writePasswd rewrites the passwd file; dovecot re-reads it when it changes.
func (s *Server) writePasswd() error {
	var b strings.Builder
	for name, pw := range s.users {
		fmt.Fprintf(&b, "%s:{PLAIN}%s:%d:%d::%s\n", name, pw, s.uid, s.gid, s.home(name))
	}
	tmp := filepath.Join(s.dir, "passwd.tmp")
	// Passwords in clear: readable by root and dovecot's auth process only.
	if err := os.WriteFile(tmp, []byte(b.String()), 0o640); err != nil {
		return err
	}
	if err := os.Chown(tmp, 0, s.gid); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "passwd"))
}

func (s *Server) home(name string) string {
	return filepath.Join(s.dir, "mail", name)
}

func (s *Server) pickPorts() error {
	var err error
	if s.port, err = freePort(); err != nil {
		return err
	}
	if s.tls {
		if s.tlsPort, err = freePort(); err != nil {
			return err
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig() error {
	tmpl, err := template.New("dovecot.conf").Parse(confTemplate)
	if err != nil {
		return fmt.Errorf("config template: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{
		"Dir": s.dir, "Port": s.port, "TLSPort": s.tlsPort, "TLS": s.tls,
	}); err != nil {
		return fmt.Errorf("config template: %w", err)
	}
	return os.WriteFile(s.configPath(), b.Bytes(), 0o644)
}

func (s *Server) configPath() string { return filepath.Join(s.dir, "dovecot.conf") }

// start runs the master in the foreground (-F) as our child, so that Stop
// knows its pid and a crashed test binary takes it down (Pdeathsig).
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("already running")
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "log", "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(s.bin, "-F", "-c", s.configPath())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.proc, s.exited = cmd, exited

	if err := s.waitReady(exited); err != nil {
		s.stopLocked()
		return err
	}
	return nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("dovecot exited at start-up:\n%s%s", s.Log(), readFile(filepath.Join(s.dir, "log", "stderr.log")))
		default:
		}
		if greeted(s.Addr()) && (!s.tls || greetedTLS(s.TLSAddr())) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot did not greet on %s within %v:\n%s", s.Addr(), readyTimeout, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func greeted(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "* OK")
}

func greetedTLS(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Stop stops Dovecot (SIGTERM, then SIGKILL for the whole process group).
// Clients are disconnected. Stop is idempotent; Restart starts it again.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.proc == nil {
		return
	}
	pid := s.proc.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-s.exited
	}
	// Stragglers (imap processes finishing up) must not hold the port.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	s.proc, s.exited = nil, nil
}

// Restart starts a stopped server again, on the same ports with the same
// mail and users.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	for range 50 { // the old listener may take a moment to vanish
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("dovecot: restart: %v", err)
}

// Addr is host:port of the IMAP listener (plain, with STARTTLS when TLS).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// TLSAddr is host:port of the implicit-TLS listener, "" without Options.TLS.
func (s *Server) TLSAddr() string {
	if !s.tls {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort))
}

// ClientTLSConfig trusts the server's self-signed certificate (valid for
// 127.0.0.1 and localhost). Nil without Options.TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if !s.tls {
		return nil
	}
	return &tls.Config{RootCAs: s.certPool, MinVersion: tls.VersionTLS12}
}

// User is DefaultUser.
func (s *Server) User() string { return DefaultUser }

// Password is DefaultUser's password (random per server).
func (s *Server) Password() string { return s.PasswordOf(DefaultUser) }

// PasswordOf returns the password of a user added with AddUser.
func (s *Server) PasswordOf(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[name]
}

// AddUser creates another account and returns its password.
func (s *Server) AddUser(t testing.TB, name string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.ContainsAny(name, ":\n") || name == "" {
		t.Fatalf("dovecot: bad user name %q", name)
	}
	pw := randomPassword()
	s.users[name] = pw
	if err := s.writePasswd(); err != nil {
		t.Fatalf("dovecot: add user: %v", err)
	}
	return pw
}

// Log returns Dovecot's log so far.
func (s *Server) Log() string { return readFile(filepath.Join(s.dir, "log", "dovecot.log")) }

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// Dial returns a logged-in client for user; it is closed when t ends.
func (s *Server) Dial(t testing.TB, name string) *imapclient.Client {
	t.Helper()
	c, err := s.dial(name)
	if err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) dial(name string) (*imapclient.Client, error) {
	pw := s.PasswordOf(name)
	if pw == "" {
		return nil, fmt.Errorf("no user %q", name)
	}
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.Addr(), err)
	}
	if err := c.Login(name, pw).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login as %s: %w", name, err)
	}
	return c, nil
}

// with runs f on a short-lived logged-in connection.
func (s *Server) with(t testing.TB, name string, f func(*imapclient.Client) error) {
	t.Helper()
	c, err := s.dial(name)
	if err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	defer c.Close()
	if err := f(c); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("dovecot: logout: %v", err)
	}
}

// Append stores raw in mailbox by IMAP APPEND, as a mail client or MTA
// would, and returns its UID. Its INTERNALDATE is now.
func (s *Server) Append(t testing.TB, name, mailbox string, raw []byte) uint32 {
	t.Helper()
	return s.AppendAt(t, name, mailbox, raw, time.Time{})
}

// AppendAt is Append with the INTERNALDATE set to at (APPEND's date-time
// argument), as a migration tool restoring old mail does. A zero at means
// now.
func (s *Server) AppendAt(t testing.TB, name, mailbox string, raw []byte, at time.Time) uint32 {
	t.Helper()
	var uid uint32
	s.with(t, name, func(c *imapclient.Client) error {
		cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Time: at})
		if _, err := cmd.Write(raw); err != nil {
			cmd.Close()
			return fmt.Errorf("append to %q: %w", mailbox, err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("append to %q: %w", mailbox, err)
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("append to %q: %w", mailbox, err)
		}
		uid = uint32(data.UID)
		return nil
	})
	return uid
}

// CreateMailbox creates mailbox for user.
func (s *Server) CreateMailbox(t testing.TB, name, mailbox string) {
	t.Helper()
	s.with(t, name, func(c *imapclient.Client) error {
		if err := c.Create(mailbox, nil).Wait(); err != nil {
			return fmt.Errorf("create %q: %w", mailbox, err)
		}
		return nil
	})
}

// DeleteMailbox deletes mailbox of user with all its mail. Creating it
// again gives it a new UIDVALIDITY.
func (s *Server) DeleteMailbox(t testing.TB, name, mailbox string) {
	t.Helper()
	s.with(t, name, func(c *imapclient.Client) error {
		if err := c.Delete(mailbox).Wait(); err != nil {
			return fmt.Errorf("delete %q: %w", mailbox, err)
		}
		return nil
	})
}

// UIDValidity returns the UIDVALIDITY of user's mailbox.
func (s *Server) UIDValidity(t testing.TB, name, mailbox string) uint32 {
	t.Helper()
	var v uint32
	s.with(t, name, func(c *imapclient.Client) error {
		data, err := c.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			return fmt.Errorf("status %q: %w", mailbox, err)
		}
		v = data.UIDValidity
		return nil
	})
	return v
}

// SeedMaildir drops raws straight into DefaultUser's Maildir (new/), the
// way a local delivery agent does: thousands of mails in well under a
// second, while Dovecot runs. Dovecot gives them UIDs in the order given
// when it next looks at the mailbox. mailbox is "INBOX" or a folder name.
func (s *Server) SeedMaildir(t testing.TB, mailbox string, raws [][]byte) {
	t.Helper()
	if err := s.seedMaildir(DefaultUser, mailbox, raws); err != nil {
		t.Fatalf("dovecot: seed maildir: %v", err)
	}
}

func (s *Server) seedMaildir(name, mailbox string, raws [][]byte) error {
	root := filepath.Join(s.home(name), "Maildir")
	if !strings.EqualFold(mailbox, "INBOX") {
		// Maildir++: folder "a/b" lives in ".a.b".
		root = filepath.Join(root, "."+strings.ReplaceAll(mailbox, "/", "."))
	}
	for _, d := range []string{s.home(name), filepath.Dir(root), root, filepath.Join(root, "cur"), filepath.Join(root, "new"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, s.uid, s.gid); err != nil {
			return err
		}
	}

	s.mu.Lock()
	seq := s.seedSeq
	s.seedSeq += len(raws)
	s.mu.Unlock()

	// Dovecot numbers new files in the order of the time stamp their name
	// starts with, so one second per mail, counted from a fixed point in
	// the past, keeps the order of raws within and across calls.
	for i, raw := range raws {
		n := seq + i
		ts := s.seedBase + int64(n)
		name := fmt.Sprintf("%d.M%dP%dQ%d.wasl-seed,S=%d", ts, n, os.Getpid(), n, len(raw))
		tmp := filepath.Join(root, "tmp", name)
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			return err
		}
		if err := os.Chown(tmp, s.uid, s.gid); err != nil {
			return err
		}
		mtime := time.Unix(ts, 0)
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(root, "new", name)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) writeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wasl dovecot test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(s.dir, "tls", "cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "tls", "key.pem"), keyPEM, 0o600); err != nil {
		return err
	}
	s.certPool = x509.NewCertPool()
	s.certPool.AddCert(cert)
	return nil
}
