package email

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

func logToTest(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testOutbound() message.Outbound {
	return message.Outbound{
		ID:         41,
		ChannelID:  7,
		Channel:    message.Email,
		To:         message.Party{Kind: message.IdentityEmail, Value: "m.otaibi@uni.example.edu.sa", Name: "محمد العتيبي"},
		Subject:    "Re: [#EDU-2026-000123] طلب صيانة جهاز العرض",
		Text:       "شكرا لتواصلكم. تم تسجيل طلبكم برقم EDU-2026-000123.",
		MessageID:  "wasl.41.7f3a@example.edu.sa",
		InReplyTo:  "DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com",
		References: []string{"first@uni.example.edu.sa"},
		Auto:       true,
	}
}

// --- postfix smtp-sink: a real SMTP server that dumps what it receives ---

type sinkProc struct {
	addr, dir string
}

// startSink runs postfix's smtp-sink on a free loopback port, dumping
// every transaction into a file; extra arguments inject failures.
func startSink(t *testing.T, extra ...string) *sinkProc {
	t.Helper()
	bin := "/usr/sbin/smtp-sink"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("smtp-sink"); err != nil {
			t.Fatal("postfix's smtp-sink is not installed: apt-get install -y postfix (make test does this)")
		}
	}
	// Not t.TempDir: its parent is 0700, and smtp-sink, which refuses to
	// keep root privileges, writes as nobody.
	dir, err := os.MkdirTemp("", "wasl-smtp-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var args []string
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-u", "nobody")
	}
	args = append(args, "-d", filepath.Join(dir, "%Y%m%d%H%M%S."))
	args = append(args, extra...)

	// The free port can be taken between Close and smtp-sink's bind; try again then.
	for attempt := 0; attempt < 5; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, append(args, addr, "16")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start smtp-sink: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitListening(addr, cmd.Process.Pid, exited) {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return &sinkProc{addr: addr, dir: dir}
		}
		cmd.Process.Kill()
		<-exited
		t.Logf("smtp-sink on %s did not start (%s); retrying", addr, strings.TrimSpace(stderr.String()))
	}
	t.Fatal("smtp-sink would not start")
	return nil
}

// waitListening waits until process pid listens on addr, or exits. Another
// test's smtp-sink may have bound the same free port first (ours then
// fails to bind and exits): a connection that succeeds is not enough, the
// listening socket must be pid's, or the test talks to a sink that is not
// its own and that its owner may kill mid-session.
func waitListening(addr string, pid int, exited <-chan error) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			if listensOn(pid, port) {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// listensOn reports whether process pid holds the listening IPv4 TCP
// socket of port (Linux: its descriptors' socket inodes against
// /proc/net/tcp).
func listensOn(pid int, port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if s, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(s, "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	suffix := fmt.Sprintf(":%04X", n)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// sl local_address rem_address st … inode: state 0A is LISTEN.
		f := strings.Fields(line)
		if len(f) > 9 && f[3] == "0A" && strings.HasSuffix(f[1], suffix) && inodes[f[9]] {
			return true
		}
	}
	return false
}

// sinkDump is one transaction as smtp-sink recorded it.
type sinkDump struct {
	mailArgs, rcptArgs string
	message            []byte
}

// messages returns the completed dumps, waiting (bounded) for n of them:
// smtp-sink may still be flushing when the client has its reply.
func (s *sinkProc) messages(t *testing.T, n int) []sinkDump {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var dumps []sinkDump
		files, _ := filepath.Glob(filepath.Join(s.dir, "*.*"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil || !bytes.HasSuffix(raw, []byte("\n\n")) {
				continue
			}
			dumps = append(dumps, parseDump(t, raw))
		}
		if len(dumps) >= n || time.Now().After(deadline) {
			return dumps
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parseDump splits smtp-sink's own header lines (X-Client-Addr …
// Received) from the message as the client sent it.
func parseDump(t *testing.T, raw []byte) sinkDump {
	t.Helper()
	var d sinkDump
	lines := strings.SplitAfter(string(raw), "\n")
	i := 0
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r\n")
		switch {
		case strings.HasPrefix(l, "X-Mail-Args: "):
			d.mailArgs = strings.TrimPrefix(l, "X-Mail-Args: ")
		case strings.HasPrefix(l, "X-Rcpt-Args: "):
			d.rcptArgs = strings.TrimPrefix(l, "X-Rcpt-Args: ")
		}
		if strings.HasPrefix(l, "Received: ") {
			i++
			for i < len(lines) && (strings.HasPrefix(lines[i], "\t") || strings.HasPrefix(lines[i], " ")) {
				i++
			}
			break
		}
	}
	if i >= len(lines) {
		t.Fatalf("not an smtp-sink dump:\n%s", raw)
	}
	d.message = []byte(strings.Join(lines[i:], ""))
	return d
}

func TestSMTPSendToSmtpSink(t *testing.T) {
	sink := startSink(t)
	s, err := NewSMTPSender(SMTPConfig{
		Addr: sink.addr, Security: SMTPNone, From: "خدمة العملاء <support@example.edu.sa>", Timeout: 20 * time.Second,
	}, logToTest(t))
	if err != nil {
		t.Fatal(err)
	}
	out := testOutbound()
	d, err := s.Send(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	// smtp-sink's 250 carries no queue id, so the Message-ID stands in.
	if d != (message.Delivery{ProviderID: out.MessageID, State: message.StateSent}) {
		t.Fatalf("Delivery = %+v", d)
	}

	dumps := sink.messages(t, 1)
	if len(dumps) != 1 {
		t.Fatalf("smtp-sink recorded %d messages, want 1", len(dumps))
	}
	got := dumps[0]
	if !strings.HasPrefix(got.mailArgs, "<support@example.edu.sa>") || got.rcptArgs != "<m.otaibi@uni.example.edu.sa>" {
		t.Errorf("envelope = MAIL %q RCPT %q", got.mailArgs, got.rcptArgs)
	}
	in := Parse(got.message, testOpts())
	if in.Quarantined {
		t.Fatalf("delivered mail does not parse: %s\n%s", in.QuarantineReason, got.message)
	}
	if in.MessageID != out.MessageID || in.InReplyTo != out.InReplyTo ||
		!reflect.DeepEqual(in.References, []string{"first@uni.example.edu.sa", out.InReplyTo}) {
		t.Errorf("threading = %q / %q / %q", in.MessageID, in.InReplyTo, in.References)
	}
	if in.Subject != out.Subject || in.Text != out.Text {
		t.Errorf("Subject %q Text %q", in.Subject, in.Text)
	}
	if !in.Flags.AutoSubmitted || !bytes.Contains(got.message, []byte("Auto-Submitted: auto-replied")) {
		t.Errorf("automatic reply not marked Auto-Submitted:\n%s", got.message)
	}
	if in.From.Value != "support@example.edu.sa" || in.From.Name != "خدمة العملاء" {
		t.Errorf("From = %+v", in.From)
	}

	// A retried job sends the same Message-ID again: clients collapse it.
	if _, err := s.Send(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	dumps = sink.messages(t, 2)
	if len(dumps) != 2 || Parse(dumps[1].message, testOpts()).MessageID != out.MessageID {
		t.Fatalf("retry did not reuse the Message-ID")
	}
}

// Reply codes decide whether the job runner retries, together with the step
// of the session they answer: only the server refusing this recipient or this
// message for good is permanent; a refused login or sender, 4xx and broken
// connections retry. Postfix's smtp-sink answers each code at each step
// (-f hard-rejects the named command with the -B reply, -r soft-rejects it).
func TestSMTPErrorClasses(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		auth      bool // log in (smtp-sink offers AUTH PLAIN)
		permanent bool
		want      string // in the error, which goes to the outbound row
	}{
		{"greeting refused 554", []string{"-f", "CONNECT", "-B", "554 5.7.1 No SMTP service here"}, false, false, "554"},
		{"ehlo and helo refused 550", []string{"-f", "EHLO,HELO", "-B", "550 5.7.1 Go away"}, false, false, "ehlo"},

		{"auth 535 bad credentials", []string{"-f", "AUTH", "-B", "535 5.7.8 Authentication credentials invalid"}, true, false, `auth as "support": server replied 535 5.7.8 Authentication credentials invalid`},
		{"auth 534 mechanism too weak", []string{"-f", "AUTH", "-B", "534 5.7.9 Authentication mechanism is too weak"}, true, false, "534 5.7.9"},
		{"auth 530 encryption required", []string{"-f", "AUTH", "-B", "530 5.7.0 Must issue a STARTTLS command first"}, true, false, "530 5.7.0"},
		{"auth 454 temporary", []string{"-r", "AUTH", "-b", "454 4.7.0 Temporary authentication failure"}, true, false, "454"},

		{"mail from 553 sender not owned", []string{"-f", "MAIL", "-B", "553 5.7.1 <support@example.edu.sa>: Sender address rejected: not owned by user"}, false, false, "mail from: server replied 553 5.7.1"},
		{"mail from 550 sender rejected", []string{"-f", "MAIL", "-B", "550 5.1.0 Sender rejected"}, false, false, "mail from: server replied 550 5.1.0"},
		{"mail from 530 authentication required", []string{"-f", "MAIL", "-B", "530 5.7.0 Authentication required"}, false, false, "530"},
		{"mail from 552 message too big", []string{"-f", "MAIL", "-B", "552 5.3.4 Message size exceeds fixed limit"}, false, true, "552 5.3.4"},
		{"mail from 452 deferred", []string{"-r", "MAIL", "-b", "452 4.3.1 Insufficient system storage"}, false, false, "452"},

		{"rcpt 550 no such user", []string{"-f", "RCPT", "-B", "550 5.1.1 <m.otaibi@uni.example.edu.sa>: Recipient address rejected: User unknown"}, false, true, "rcpt to: server replied 550 5.1.1"},
		{"rcpt 551 user not local", []string{"-f", "RCPT", "-B", "551 5.1.6 User has moved"}, false, true, "551"},
		{"rcpt 553 mailbox name not allowed", []string{"-f", "RCPT", "-B", "553 5.1.3 Bad recipient address syntax"}, false, true, "553"},
		{"rcpt 501 bad address", []string{"-f", "RCPT", "-B", "501 5.1.3 Bad recipient address syntax"}, false, true, "501 5.1.3"},
		{"rcpt 554 relay denied", []string{"-f", "RCPT", "-B", "554 5.7.1 <m.otaibi@uni.example.edu.sa>: Relay access denied"}, false, false, "554 5.7.1"},
		{"rcpt 552 mailbox full", []string{"-f", "RCPT", "-B", "552 5.2.2 Mailbox full"}, false, false, "552 5.2.2"},
		{"rcpt 451 greylisted", []string{"-r", "RCPT", "-b", "451 4.3.0 Try again later"}, false, false, "451"},
		{"rcpt connection dropped", []string{"-q", "RCPT"}, false, false, "rcpt to"},

		{"data 554 no valid recipients", []string{"-f", "DATA", "-B", "554 5.5.1 Error: no valid recipients"}, false, true, "data: server replied 554 5.5.1"},
		{"data 503 bad sequence", []string{"-f", "DATA", "-B", "503 5.5.1 Error: need RCPT command"}, false, false, "503"},
		{"data 421 shutting down", []string{"-Q", "DATA"}, false, false, "421"},

		{"end of data 554 spam", []string{"-f", ".", "-B", "554 5.7.1 Message rejected as spam"}, false, true, "end of data: server replied 554 5.7.1"},
		{"end of data 550 content policy", []string{"-f", ".", "-B", "550 5.7.1 Message content rejected"}, false, true, "550 5.7.1"},
		{"end of data 552 too big", []string{"-f", ".", "-B", "552 5.3.4 Message size exceeds fixed maximum message size"}, false, true, "552 5.3.4"},
		{"end of data 554 media not supported", []string{"-f", ".", "-B", "554 5.6.0 Message content not supported"}, false, true, "5.6.0"},
		{"end of data 500 syntax", []string{"-f", ".", "-B", "500 5.5.2 Error: bad syntax"}, false, false, "500 5.5.2"},
		{"end of data 451 local error", []string{"-r", ".", "-b", "451 4.3.0 Error: queue file write error"}, false, false, "451"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := startSink(t, tt.args...)
			cfg := SMTPConfig{Addr: sink.addr, Security: SMTPNone, From: "support@example.edu.sa", Timeout: 20 * time.Second}
			if tt.auth {
				cfg.Username, cfg.Password = "support", "s3cret-pw"
			}
			s, err := NewSMTPSender(cfg, logToTest(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), testOutbound())
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if channels.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (permanent=%v), want permanent=%v mentioning %q", err, channels.IsPermanent(err), tt.permanent, tt.want)
			}
			if tt.auth && strings.Contains(err.Error(), cfg.Password) {
				t.Fatal("error leaks the password")
			}
		})
	}
}

// --- go-smtp server: STARTTLS, implicit TLS, AUTH PLAIN/LOGIN ---

type testServer struct {
	addr      string
	implicit  bool
	tls       bool     // offer TLS at all
	mechs     []string // AUTH mechanisms offered
	user      string
	pass      string
	rcptErr   *smtp.SMTPError
	dataReply string // 250 text after DATA, e.g. with a queue id

	mu   sync.Mutex
	got  []receivedMail
	seen []string // auth mechanisms used
}

type receivedMail struct {
	from string
	to   []string
	data []byte
	tls  bool
	helo string
}

func (s *testServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.got...)
}

func (s *testServer) start(t *testing.T, cert tls.Certificate) {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{s: s, c: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case s.implicit:
		ln = tls.NewListener(ln, tlsConfig)
	case s.tls:
		srv.TLSConfig = tlsConfig
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		ln.Close() // in case Serve had not registered it yet
		<-done
	})
}

type testSession struct {
	s      *testServer
	c      *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (x *testSession) AuthMechanisms() []string { return x.s.mechs }

func (x *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != x.s.user || pass != x.s.pass {
			return smtp.ErrAuthFailed
		}
		x.authed = true
		x.s.mu.Lock()
		x.s.seen = append(x.s.seen, mech)
		x.s.mu.Unlock()
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (x *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && !x.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	x.from = from
	return nil
}

func (x *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.s.rcptErr != nil {
		return x.s.rcptErr
	}
	x.to = append(x.to, to)
	return nil
}

func (x *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.c.TLSConnectionState()
	x.s.mu.Lock()
	x.s.got = append(x.s.got, receivedMail{from: x.from, to: x.to, data: data, tls: isTLS, helo: x.c.Hostname()})
	x.s.mu.Unlock()
	if x.s.dataReply != "" {
		// go-smtp sends a returned SMTPError's code as is, 250 included.
		return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: x.s.dataReply}
	}
	return nil
}

func (x *testSession) Reset()        { x.from, x.to = "", nil }
func (x *testSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl only
// ships as a client.
type loginServer struct {
	check func(user, pass string) error
	user  *string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.user == nil && resp == nil:
		return []byte("Username:"), false, nil
	case l.user == nil:
		u := string(resp)
		l.user = &u
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(*l.user, string(resp))
}

// testCert makes a self-signed certificate for 127.0.0.1 and a client
// config that trusts only it.
func testCert(t *testing.T) (tls.Certificate, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		DNSNames:     []string{"localhost", "mx.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, &tls.Config{RootCAs: pool}
}

func TestSMTPTLSAndAuth(t *testing.T) {
	cert, trusting := testCert(t)
	tests := []struct {
		name      string
		server    *testServer
		cfg       SMTPConfig
		wantErr   string // "" means delivered
		permanent bool
		wantMech  string
		wantID    string
	}{
		{
			name:     "starttls with AUTH PLAIN, queue id from the reply",
			server:   &testServer{tls: true, mechs: []string{"PLAIN", "LOGIN"}, user: "support", pass: "s3cret", dataReply: "Ok: queued as 4Xk2Lm3PqRz"},
			cfg:      SMTPConfig{Security: SMTPStartTLS, Username: "support", Password: "s3cret", HeloName: "gw.example.edu.sa"},
			wantMech: "PLAIN", wantID: "4Xk2Lm3PqRz",
		},
		{
			name:     "starttls, server offers only AUTH LOGIN",
			server:   &testServer{tls: true, mechs: []string{"LOGIN"}, user: "support", pass: "s3cret"},
			cfg:      SMTPConfig{Username: "support", Password: "s3cret"}, // Security defaults to starttls
			wantMech: "LOGIN", wantID: "wasl.41.7f3a@example.edu.sa",
		},
		{
			name:     "implicit tls (port 465 style)",
			server:   &testServer{implicit: true, mechs: []string{"PLAIN"}, user: "support", pass: "s3cret", dataReply: "OK id=1vABCd-000123-XY"},
			cfg:      SMTPConfig{Security: SMTPTLS, Username: "support", Password: "s3cret"},
			wantMech: "PLAIN", wantID: "1vABCd-000123-XY",
		},
		{
			// A rotated password is fixed by the operator; the replies
			// waiting must go out then, not be cancelled.
			name:    "wrong password is retried",
			server:  &testServer{tls: true, mechs: []string{"PLAIN"}, user: "support", pass: "s3cret"},
			cfg:     SMTPConfig{Username: "support", Password: "wrong"},
			wantErr: `auth as "support": server replied 535 5.7.8`,
		},
		{
			name:      "server lacks STARTTLS: refuse to send in clear",
			server:    &testServer{},
			cfg:       SMTPConfig{Security: SMTPStartTLS},
			wantErr:   "does not offer STARTTLS",
			permanent: false,
		},
		{
			name:    "untrusted certificate",
			server:  &testServer{tls: true},
			cfg:     SMTPConfig{TLSConfig: &tls.Config{}},
			wantErr: "certificate",
		},
		{
			name:    "550 rejected recipient is permanent",
			server:  &testServer{tls: true, rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}},
			wantErr: "550", permanent: true,
		},
		{
			name:    "451 greylisting is retryable",
			server:  &testServer{tls: true, rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try again"}},
			wantErr: "451",
		},
		{
			// Configuration, like a wrong password: retried.
			name:    "no usable AUTH mechanism",
			server:  &testServer{tls: true, mechs: []string{"CRAM-MD5"}, user: "support", pass: "s3cret"},
			cfg:     SMTPConfig{Username: "support", Password: "s3cret"},
			wantErr: "neither AUTH PLAIN nor AUTH LOGIN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.server
			srv.start(t, cert)
			cfg := tt.cfg
			cfg.Addr = srv.addr
			cfg.From = "Support <support@example.edu.sa>"
			cfg.Timeout = 20 * time.Second
			if cfg.TLSConfig == nil {
				cfg.TLSConfig = trusting
			}
			s, err := NewSMTPSender(cfg, logToTest(t))
			if err != nil {
				t.Fatal(err)
			}
			out := testOutbound()
			d, err := s.Send(context.Background(), out)
			got := srv.received()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || channels.IsPermanent(err) != tt.permanent {
					t.Fatalf("err = %v (permanent=%v), want %q permanent=%v", err, channels.IsPermanent(err), tt.wantErr, tt.permanent)
				}
				if len(got) != 0 {
					t.Fatal("the server received a message despite the error")
				}
				if strings.Contains(err.Error(), cfg.Password) && cfg.Password != "" {
					t.Fatal("error leaks the password")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.State != message.StateSent || d.ProviderID != tt.wantID {
				t.Errorf("Delivery = %+v, want ProviderID %q", d, tt.wantID)
			}
			if len(got) != 1 || !got[0].tls || got[0].from != "support@example.edu.sa" || !reflect.DeepEqual(got[0].to, []string{out.To.Value}) {
				t.Fatalf("server received %+v", got)
			}
			if cfg.HeloName != "" && got[0].helo != cfg.HeloName {
				t.Errorf("EHLO %q, want %q", got[0].helo, cfg.HeloName)
			}
			if srv.seen == nil || srv.seen[0] != tt.wantMech {
				t.Errorf("auth mechanisms used %v, want %s", srv.seen, tt.wantMech)
			}
			if in := Parse(got[0].data, testOpts()); in.MessageID != out.MessageID || in.Subject != out.Subject {
				t.Errorf("received MessageID %q Subject %q", in.MessageID, in.Subject)
			}
		})
	}
}

// A server that accepts the connection and never speaks.
func silentServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 4)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

func TestSMTPNetworkFailuresAreRetryable(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		s, err := NewSMTPSender(SMTPConfig{Addr: addr, Security: SMTPNone, From: "support@example.edu.sa"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), testOutbound())
		if err == nil || channels.IsPermanent(err) || !strings.Contains(err.Error(), "connect") {
			t.Fatalf("err = %v, want a retryable connect error", err)
		}
	})
	for _, sec := range []string{SMTPNone, SMTPStartTLS, SMTPTLS} {
		t.Run("server never greets, security "+sec, func(t *testing.T) {
			addr, _ := silentServer(t)
			s, err := NewSMTPSender(SMTPConfig{Addr: addr, Security: sec, From: "support@example.edu.sa", Timeout: 300 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), testOutbound())
			var ne net.Error
			if err == nil || channels.IsPermanent(err) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("err = %v, want a retryable timeout", err)
			}
		})
	}
	t.Run("context cancelled mid-session", func(t *testing.T) {
		addr, accepted := silentServer(t)
		s, err := NewSMTPSender(SMTPConfig{Addr: addr, Security: SMTPNone, From: "support@example.edu.sa", Timeout: time.Hour}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-accepted
			cancel()
		}()
		_, err = s.Send(ctx, testOutbound())
		if !errors.Is(err, context.Canceled) || channels.IsPermanent(err) {
			t.Fatalf("err = %v, want context.Canceled, retryable", err)
		}
	})
}

func TestSMTPUnsendableOutboundIsPermanent(t *testing.T) {
	sink := startSink(t)
	s, err := NewSMTPSender(SMTPConfig{Addr: sink.addr, Security: SMTPNone, From: "support@example.edu.sa"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*message.Outbound){
		"no message id":   func(o *message.Outbound) { o.MessageID = "" },
		"phone recipient": func(o *message.Outbound) { o.To = message.Party{Kind: message.IdentityPhone, Value: "+966500000000"} },
	} {
		out := testOutbound()
		mutate(&out)
		if _, err := s.Send(context.Background(), out); !channels.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
	if n := len(sink.messages(t, 0)); n != 0 {
		t.Fatalf("%d messages reached the server", n)
	}
}

func TestNewSMTPSenderConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  SMTPConfig
		want string // "" means valid
	}{
		{"valid starttls default", SMTPConfig{Addr: "smtp.example.edu.sa:587", From: "Support <support@example.edu.sa>", Username: "u", Password: "p"}, ""},
		{"valid none on loopback", SMTPConfig{Addr: "127.0.0.1:2525", Security: "none", From: "support@example.edu.sa"}, ""},
		{"valid none on localhost", SMTPConfig{Addr: "localhost:25", Security: "NONE", From: "support@example.edu.sa"}, ""},
		{"valid none on ipv6 loopback", SMTPConfig{Addr: "[::1]:25", Security: "none", From: "support@example.edu.sa"}, ""},
		{"none elsewhere needs allow_insecure", SMTPConfig{Addr: "smtp.example.edu.sa:25", Security: "none", From: "support@example.edu.sa"}, "only allowed to a loopback address"},
		{"none elsewhere with allow_insecure", SMTPConfig{Addr: "smtp.example.edu.sa:25", Security: "none", AllowInsecure: true, From: "support@example.edu.sa"}, ""},
		{"missing addr", SMTPConfig{From: "support@example.edu.sa"}, "addr is required"},
		{"addr without port", SMTPConfig{Addr: "smtp.example.edu.sa", From: "support@example.edu.sa"}, "host:port"},
		{"bad port", SMTPConfig{Addr: "smtp.example.edu.sa:smtp", From: "support@example.edu.sa"}, "invalid port"},
		{"unknown security", SMTPConfig{Addr: "smtp.example.edu.sa:587", Security: "ssl", From: "support@example.edu.sa"}, "want starttls, tls or none"},
		{"username without password", SMTPConfig{Addr: "smtp.example.edu.sa:587", Username: "u", From: "support@example.edu.sa"}, "set together"},
		{"missing from", SMTPConfig{Addr: "smtp.example.edu.sa:587"}, "from is required"},
		{"bad from", SMTPConfig{Addr: "smtp.example.edu.sa:587", From: "Support"}, "not an address"},
		{"bad helo", SMTPConfig{Addr: "smtp.example.edu.sa:587", From: "support@example.edu.sa", HeloName: "two words"}, "helo name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSMTPSender(tt.cfg, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.cfg.HeloName == "" || s.cfg.Timeout <= 0 {
					t.Fatalf("defaults not applied: %+v", s.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
				t.Fatal("error leaks the password")
			}
		})
	}
}

func TestSMTPQueueID(t *testing.T) {
	for reply, want := range map[string]string{
		"2.0.0 Ok: queued as 4Xk2Lm3PqRz":        "4Xk2Lm3PqRz",
		"OK id=1vABCd-000123-XY":                 "1vABCd-000123-XY",
		"2.0.0 Ok":                               "",
		"OK: queued":                             "",
		"2.6.0 <x@y> [InternalId=1] Queued mail": "",
	} {
		if got := queueID(reply); got != want {
			t.Errorf("queueID(%q) = %q, want %q", reply, got, want)
		}
	}
}
