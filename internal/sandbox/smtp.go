package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode Subjects in any charset
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SinkMessage is one mail the sink accepted: the envelope, the raw message,
// and the header fields tests and demo users look at, already decoded.
type SinkMessage struct {
	From string   // envelope MAIL FROM
	To   []string // envelope RCPT TO
	Data []byte   // the message as sent
	// AuthUser is the name the client logged in with ("" if it did not).
	AuthUser string
	// QueueID is the id the sink put in its 250 reply ("SINK000001").
	QueueID    string
	ReceivedAt time.Time
	File       string // the .eml written for it, when SetDir is on

	MessageID     string   // without <>
	Subject       string   // RFC 2047 decoded
	InReplyTo     string   // without <>
	References    []string // without <>
	AutoSubmitted string   // the Auto-Submitted header as sent
}

// SMTPSink is an in-process SMTP server on 127.0.0.1 that accepts every mail
// (with or without AUTH PLAIN/LOGIN, any password), records it, and
// optionally writes it to a directory. It speaks clear text: loopback only.
type SMTPSink struct {
	ln     net.Listener
	srv    *smtp.Server
	log    *slog.Logger
	served chan struct{}

	mu     sync.Mutex
	msgs   []SinkMessage
	dir    string
	notify chan struct{} // closed and replaced whenever a message arrives
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// StartSMTPSink starts a sink on a free loopback port.
func StartSMTPSink(log *slog.Logger) (*SMTPSink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "sandbox-smtp")
	s := &SMTPSink{log: log, served: make(chan struct{}), notify: make(chan struct{})}

	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSinkSession{sink: s}, nil
	}))
	srv.Domain = "wasl-sandbox"
	srv.AllowInsecureAuth = true // loopback only, see Listen below
	srv.MaxMessageBytes = 25 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	srv.ErrorLog = smtpSinkLogger{log}
	s.srv = srv

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox smtp: listen: %w", err)
	}
	s.ln = ln
	go func() {
		defer close(s.served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("sandbox smtp server stopped", "err", err)
		}
	}()
	log.Info("sandbox smtp listening", "addr", s.Addr())
	return s, nil
}

// Addr is host:port to send to (security "none").
func (s *SMTPSink) Addr() string { return s.ln.Addr().String() }

// SetDir makes the sink write every message it accepts from now on to dir
// as NNNN-<message-id>.eml, so a demo user can open them. "" turns it off.
func (s *SMTPSink) SetDir(dir string) error {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("sandbox smtp: %w", err)
		}
	}
	s.mu.Lock()
	s.dir = dir
	s.mu.Unlock()
	return nil
}

// Messages returns what the sink has accepted so far, oldest first.
func (s *SMTPSink) Messages() []SinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkMessage(nil), s.msgs...)
}

// Wait blocks until the sink holds at least n messages, ctx ends, or the
// sink is closed.
func (s *SMTPSink) Wait(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch, closed := len(s.msgs), s.notify, s.closed
		s.mu.Unlock()
		if have >= n {
			return nil
		}
		if closed {
			return fmt.Errorf("sandbox smtp: closed with %d of %d messages", have, n)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sandbox smtp: %d of %d messages: %w", have, n, ctx.Err())
		}
	}
}

// Close stops the server and drops its connections. Messages stay readable.
func (s *SMTPSink) Close() error {
	s.closeOnce.Do(func() {
		err := s.srv.Close()
		// Serve may not have registered the listener yet; closing it here
		// too guarantees Serve returns.
		s.ln.Close()
		<-s.served
		if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.closeErr = fmt.Errorf("sandbox smtp: close: %w", err)
		}
		s.mu.Lock()
		s.closed = true
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
	})
	return s.closeErr
}

// add records m and returns its queue id.
func (s *SMTPSink) add(m SinkMessage) string {
	smtpSinkParseHeader(&m, s.log)
	s.mu.Lock()
	n := len(s.msgs) + 1
	m.QueueID = fmt.Sprintf("SINK%06d", n)
	dir := s.dir
	s.mu.Unlock()

	if dir != "" {
		name := fmt.Sprintf("%04d-%s.eml", n, smtpSinkFileName(m.MessageID))
		path := filepath.Join(dir, name)
		// Write then rename, so a reader never sees half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, m.Data, 0o644); err != nil {
			s.log.Warn("sandbox smtp: cannot write message", "err", err)
		} else if err := os.Rename(tmp, path); err != nil {
			s.log.Warn("sandbox smtp: cannot write message", "err", err)
		} else {
			m.File = path
		}
	}

	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	s.log.Info("sandbox smtp received", "queue_id", m.QueueID, "to", m.To, "subject", m.Subject,
		"message_id", m.MessageID, "auto_submitted", m.AutoSubmitted, "file", m.File)
	return m.QueueID
}

// smtpSinkParseHeader fills the convenience fields. A message whose header
// does not parse is still kept: the sink records, it does not judge.
func smtpSinkParseHeader(m *SinkMessage, log *slog.Logger) {
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.Data)))
	if err != nil && th.Len() == 0 {
		log.Warn("sandbox smtp: message header does not parse", "err", err)
		return
	}
	h := mail.Header{Header: message.Header{Header: th}}
	m.MessageID, _ = h.MessageID()
	m.Subject, _ = h.Subject()
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References, _ = h.MsgIDList("References")
	m.AutoSubmitted = h.Get("Auto-Submitted")
}

// smtpSinkFileName keeps a Message-ID usable as a file name.
func smtpSinkFileName(id string) string {
	if id == "" {
		return "no-message-id"
	}
	id = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@' {
			return r
		}
		return '_'
	}, id)
	if len(id) > 100 {
		id = id[:100]
	}
	return id
}

type smtpSinkSession struct {
	sink     *SMTPSink
	authUser string
	from     string
	to       []string
}

func (x *smtpSinkSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (x *smtpSinkSession) Auth(mech string) (sasl.Server, error) {
	accept := func(user string) error {
		x.authUser = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, _ string) error { return accept(user) }), nil
	case sasl.Login:
		return &smtpSinkLogin{accept: accept}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (x *smtpSinkSession) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *smtpSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	id := x.sink.add(SinkMessage{
		From: x.from, To: append([]string(nil), x.to...), Data: data,
		AuthUser: x.authUser, ReceivedAt: time.Now(),
	})
	// go-smtp sends a returned SMTPError as is, 250 included: this is how
	// the sink hands out a queue id the way Postfix does.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}

func (x *smtpSinkSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSinkSession) Logout() error { return nil }

// smtpSinkLogin is the server side of AUTH LOGIN (go-sasl ships only the
// client). It accepts any password.
type smtpSinkLogin struct {
	accept func(user string) error
	user   *string
}

func (l *smtpSinkLogin) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.user == nil && resp == nil:
		return []byte("Username:"), false, nil
	case l.user == nil:
		u := string(resp)
		l.user = &u
		return []byte("Password:"), false, nil
	}
	return nil, true, l.accept(*l.user)
}

// smtpSinkLogger adapts slog to go-smtp's Printf/Println logger.
type smtpSinkLogger struct{ log *slog.Logger }

func (l smtpSinkLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}

func (l smtpSinkLogger) Println(args ...any) {
	l.log.Warn(strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}
