// Package sandbox holds the in-process peers of `wasl demo`: servers that
// let a new user watch mail become tickets without any credentials.
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPServer is an in-memory IMAP server on 127.0.0.1 with one user and an
// INBOX. It speaks plain IMAP (no TLS) with LOGIN allowed, which is safe only
// because it listens on loopback; it supports IDLE.
type IMAPServer struct {
	ln     net.Listener
	srv    *imapserver.Server
	user   *imapmemserver.User
	log    *slog.Logger
	served chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// StartIMAP starts the server on a free loopback port.
func StartIMAP(username, password string, log *slog.Logger) (*IMAPServer, error) {
	if username == "" || password == "" {
		return nil, errors.New("sandbox imap: username and password must not be empty")
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "sandbox-imap")

	mem := imapmemserver.New()
	user := imapmemserver.NewUser(username, password)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("sandbox imap: create INBOX: %w", err)
	}
	mem.AddUser(user)

	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		Logger:       slogPrintf{log},
		InsecureAuth: true, // loopback only, see Listen below
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox imap: listen: %w", err)
	}
	s := &IMAPServer{ln: ln, srv: srv, user: user, log: log, served: make(chan struct{})}
	go func() {
		defer close(s.served)
		if err := srv.Serve(ln); err != nil {
			log.Error("sandbox imap server stopped", "err", err)
		}
	}()
	log.Info("sandbox imap listening", "addr", s.Addr(), "user", username)
	return s, nil
}

// Addr is host:port to connect to (security "plain").
func (s *IMAPServer) Addr() string { return s.ln.Addr().String() }

// Append delivers raw into mailbox, creating the mailbox if needed. Clients
// that IDLE on it are told at once.
func (s *IMAPServer) Append(mailbox string, raw []byte) error {
	_, err := s.user.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{})
	var ierr *imap.Error
	if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeTryCreate {
		if err := s.user.Create(mailbox, nil); err != nil {
			return fmt.Errorf("sandbox imap: create %q: %w", mailbox, err)
		}
		_, err = s.user.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{})
	}
	if err != nil {
		return fmt.Errorf("sandbox imap: append to %q: %w", mailbox, err)
	}
	return nil
}

// Close stops listening and drops every connection.
func (s *IMAPServer) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.srv.Close()
		<-s.served
	})
	if s.closeErr != nil {
		return fmt.Errorf("sandbox imap: close: %w", s.closeErr)
	}
	return nil
}

// slogPrintf adapts slog to imapserver's Printf logger.
type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(format string, args ...any) {
	l.log.Log(context.Background(), slog.LevelWarn, fmt.Sprintf(format, args...))
}
