package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/internal/sandbox"
	"github.com/wasl-dev/wasl/message"
)

func smtpStartTestSink(t *testing.T) *sandbox.SMTPSink {
	t.Helper()
	s, err := sandbox.StartSMTPSink(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// smtpWaitCtx bounds waits so a broken sink fails the test instead of
// hanging it; it is not a timing assertion.
func smtpWaitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The sink receives what the real sender sends, and decodes the headers a
// test or demo user checks.
func TestSMTPSinkRecordsReplies(t *testing.T) {
	sink := smtpStartTestSink(t)
	dir := filepath.Join(t.TempDir(), "outbox")
	if err := sink.SetDir(dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  email.SMTPConfig
		out  message.Outbound
	}{
		{
			name: "automatic Arabic reply, with AUTH",
			cfg:  email.SMTPConfig{Username: "demo", Password: "demo-pass"},
			out: message.Outbound{
				ID: 1, To: message.Party{Kind: message.IdentityEmail, Value: "sara@example.org", Name: "سارة"},
				Subject: "Re: [#EDU-2026-000001] استفسار عن إخلاء الطرف", Text: "شكرا لتواصلكم.",
				MessageID: "wasl.1.a@example.test", InReplyTo: "q1@example.org", References: []string{"q0@example.org"}, Auto: true,
			},
		},
		{
			name: "staff reply without AUTH",
			out: message.Outbound{
				ID: 2, To: message.Party{Kind: message.IdentityEmail, Value: "omar@example.com"},
				Subject: "Re: Projector", Text: "On the way.", MessageID: "wasl.2.b@example.test",
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Addr, cfg.Security, cfg.From = sink.Addr(), email.SMTPNone, "Support <support@example.test>"
			sender, err := email.NewSMTPSender(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, err := sender.Send(context.Background(), tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Wait(smtpWaitCtx(t), i+1); err != nil {
				t.Fatal(err)
			}
			m := sink.Messages()[i]
			wantQueue := fmt.Sprintf("SINK%06d", i+1)
			if d.ProviderID != wantQueue || m.QueueID != wantQueue {
				t.Errorf("queue id: delivery %q, sink %q, want %q", d.ProviderID, m.QueueID, wantQueue)
			}
			if m.From != "support@example.test" || !reflect.DeepEqual(m.To, []string{tt.out.To.Value}) || m.AuthUser != cfg.Username {
				t.Errorf("envelope %q → %q, auth %q", m.From, m.To, m.AuthUser)
			}
			wantRefs := tt.out.References
			if tt.out.InReplyTo != "" {
				wantRefs = append(append([]string(nil), wantRefs...), tt.out.InReplyTo)
			}
			if m.MessageID != tt.out.MessageID || m.Subject != tt.out.Subject || m.InReplyTo != tt.out.InReplyTo ||
				!reflect.DeepEqual(m.References, wantRefs) {
				t.Errorf("headers: id %q subject %q in-reply-to %q refs %q", m.MessageID, m.Subject, m.InReplyTo, m.References)
			}
			wantAuto := ""
			if tt.out.Auto {
				wantAuto = "auto-replied"
			}
			if m.AutoSubmitted != wantAuto {
				t.Errorf("Auto-Submitted = %q, want %q", m.AutoSubmitted, wantAuto)
			}
			// The dumped file is the message, byte for byte.
			wantFile := filepath.Join(dir, fmt.Sprintf("%04d-%s.eml", i+1, tt.out.MessageID))
			data, err := os.ReadFile(wantFile)
			if err != nil || m.File != wantFile || !bytes.Equal(data, m.Data) {
				t.Errorf("file %q (%v): %d bytes, message %d bytes", m.File, err, len(data), len(m.Data))
			}
		})
	}
}

// smtpPlainSend sends without TLS (smtp.SendMail insists on STARTTLS).
func smtpPlainSend(addr, to, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail("a@example.test", []string{to}, strings.NewReader(body)); err != nil {
		return err
	}
	return c.Quit()
}

func TestSMTPSinkConcurrentClients(t *testing.T) {
	sink := smtpStartTestSink(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf("Subject: n%d\r\nMessage-ID: <c%d@example.test>\r\n\r\nhello\r\n", i, i)
			errs <- smtpPlainSend(sink.Addr(), fmt.Sprintf("r%d@example.org", i), body)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Wait(smtpWaitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range sink.Messages() {
		seen[m.MessageID] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages, want %d", len(seen), n)
	}
}

func TestSMTPSinkWait(t *testing.T) {
	sink := smtpStartTestSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sink.Wait(ctx, 1); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "0 of 1") {
		t.Fatalf("Wait on an empty sink = %v", err)
	}
	if err := sink.Wait(ctx, 0); err != nil {
		t.Fatalf("Wait for 0 = %v", err)
	}

	// A waiter is woken by a close rather than left hanging.
	done := make(chan error, 1)
	go func() { done <- sink.Wait(context.Background(), 1) }()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Wait after Close = %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := smtpPlainSend(sink.Addr(), "b@example.org", "x\r\n"); err == nil {
		t.Fatal("a closed sink still accepts mail")
	}
}
