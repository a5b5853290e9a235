package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
)

// slowSMTP is an SMTP server that takes each mail at the end of DATA, as
// an MTA queues it, and answers 250 only after a delay: a client that hangs
// up in between has delivered the mail without learning it, and sends it
// again when it retries.
type slowSMTP struct {
	addr  string
	delay time.Duration

	mu       sync.Mutex
	received map[string]int // Message-ID → times received
	holding  int            // mails received and not yet answered
}

func startSlowSMTP(t *testing.T, delay time.Duration) *slowSMTP {
	t.Helper()
	s := &slowSMTP{delay: delay, received: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &slowSession{s: s}, nil
	}))
	srv.Domain = "slow.e2e.test"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("slow smtp: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

// state is what the server holds now.
func (s *slowSMTP) state() (received map[string]int, holding int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	received = make(map[string]int, len(s.received))
	for k, v := range s.received {
		received[k] = v
	}
	return received, s.holding
}

type slowSession struct{ s *slowSMTP }

func (x *slowSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *slowSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *slowSession) Reset()                               {}
func (x *slowSession) Logout() error                        { return nil }

func (x *slowSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	id, err := mr.Header.MessageID()
	if err != nil || id == "" {
		return fmt.Errorf("mail without a Message-ID: %v", err)
	}
	s := x.s
	s.mu.Lock()
	s.received[id]++
	s.holding++
	s.mu.Unlock()
	time.Sleep(s.delay)
	s.mu.Lock()
	s.holding--
	s.mu.Unlock()
	return nil
}

// shutdownMail is a maintenance request from its own sender: each one opens
// a ticket and gets one acknowledgement.
func shutdownMail(i int) []byte {
	return []byte(fmt.Sprintf("From: Customer %[1]d <drain%[1]d@example.edu.sa>\r\nTo: support@example.test\r\n"+
		"Subject: Projector broken\r\nMessage-ID: <drain-%[1]d@example.edu.sa>\r\nDate: %[2]s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"The projector in room %[1]d is broken and shows no picture, please send a technician to repair it.\r\n",
		i, time.Now().Format(time.RFC1123Z)))
}

// TestShutdownDrainsSends stops the gateway with SIGTERM while 50 replies
// are being sent to an SMTP server that is slow to answer DATA. The sends
// in flight finish and are recorded; the rest stay queued; none is left
// "sending", none reached the server without being recorded sent. After a
// restart every reply is sent, and the server got each exactly once.
func TestShutdownDrainsSends(t *testing.T) {
	const replies = 50
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			dc := dovecot.Start(t)
			srv := startSlowSMTP(t, time.Second)
			g := newGateway(t, be.url(t), emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), srv.addr))
			g.start()

			// The mails arrive after the first sync has looked at the
			// mailbox, as new mail does.
			ch, err := g.store().ChannelByName(ctx, "support-email")
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "first sync of INBOX", func() (bool, string) {
				v, _, err := g.store().Cursor(ctx, ch.ID, "INBOX")
				return err == nil && v != 0, fmt.Sprintf("uidvalidity=%d err=%v", v, err)
			})
			for i := range replies {
				dc.Append(t, dc.User(), "INBOX", shutdownMail(i))
			}
			eventually(t, time.Minute, "50 replies queued and sends held at DATA", func() (bool, string) {
				st := g.stats()
				_, holding := srv.state()
				return sum(st.Outbound) == replies && holding > 0, fmt.Sprintf("outbound=%v holding=%d", st.Outbound, holding)
			})

			g.stop()
			st := g.stats()
			received, holding := srv.state()
			t.Logf("after SIGTERM: outbound=%v, %d mails at the server, %d unanswered", st.Outbound, len(received), holding)
			if n := st.Outbound[message.StateSending]; n != 0 {
				t.Errorf("%d replies left sending after a graceful stop", n)
			}
			if st.Outbound[message.StateSent]+st.Outbound[message.StateQueued] != replies {
				t.Errorf("outbound = %v, want %d sent or queued", st.Outbound, replies)
			}
			if st.Outbound[message.StateQueued] == 0 {
				t.Fatalf("every reply was sent before SIGTERM: the test proves nothing (outbound=%v)", st.Outbound)
			}
			// Sent at the server exactly when recorded sent: no send was cut
			// after the server took the mail.
			for id, state := range outboundStates(t, g) {
				if at := received[id]; (state == message.StateSent) != (at == 1) || at > 1 {
					t.Errorf("reply %s is %s, and the server has it %d times", id, state, at)
				}
			}

			g.start()
			eventually(t, 2*time.Minute, "every reply sent after the restart", func() (bool, string) {
				st := g.stats()
				return st.Outbound[message.StateSent] == replies, fmt.Sprintf("outbound=%v", st.Outbound)
			})
			g.stop()
			received, _ = srv.state()
			states := outboundStates(t, g)
			for id := range states {
				if n := received[id]; n != 1 {
					t.Errorf("reply %s reached the server %d times, want once", id, n)
				}
				delete(received, id)
			}
			if len(states) != replies || len(received) != 0 {
				t.Errorf("%d replies recorded, %d mails at the server match none", len(states), len(received))
			}
		})
	}
}

func sum(m map[message.DeliveryState]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// outboundStates maps each reply's Message-ID to its delivery state.
func outboundStates(t *testing.T, g *gateway) map[string]message.DeliveryState {
	t.Helper()
	rows, err := g.store().DB().QueryContext(context.Background(), `SELECT header_message_id, state FROM outbound_messages`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]message.DeliveryState{}
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			t.Fatal(err)
		}
		out[id] = message.DeliveryState(state)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
