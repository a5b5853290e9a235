package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
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

func (s *slowSMTP) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
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
	delay := s.delay
	s.mu.Unlock()
	time.Sleep(delay)
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
// are being sent to an SMTP server that is slow to answer DATA.
//
// Drained: the sends in flight finish and are recorded, the rest stay
// queued, none is left "sending", none reached the server without being
// recorded sent; after a restart the server has each reply exactly once.
//
// Past jobs.drain_timeout the sends still in flight are cancelled: they
// too are recorded (queued, for a retry), never left "sending". The server
// had taken those mails, so each of them, and only they, arrive twice.
func TestShutdownDrainsSends(t *testing.T) {
	t.Parallel()
	const replies, workers = 50, 4
	tests := []struct {
		name         string
		delay        time.Duration // the server's wait before 250
		drainTimeout string        // jobs.drain_timeout; "" is the default (30s)
		cut          bool          // sends in flight are cancelled
	}{
		{"drained", time.Second, "", false},
		{"drain timeout passes", 4 * time.Second, "300ms", true},
	}
	for _, tt := range tests {
		for _, be := range backends() {
			t.Run(tt.name+"/"+be.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				dc := dovecot.Start(t)
				srv := startSlowSMTP(t, tt.delay)
				g := newGateway(t, be.url(t), emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), srv.addr, "now"))
				// Few enough sends at once that some are still queued at
				// SIGTERM, and the cut ones are counted against this.
				setJobsOption(t, g, "workers", strconv.Itoa(workers))
				if tt.drainTimeout != "" {
					setJobsOption(t, g, "drain_timeout", tt.drainTimeout)
				}
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
					t.Errorf("%d replies left sending after SIGTERM", n)
				}
				if st.Outbound[message.StateSent]+st.Outbound[message.StateQueued] != replies {
					t.Errorf("outbound = %v, want %d sent or queued", st.Outbound, replies)
				}
				if st.Outbound[message.StateQueued] == 0 {
					t.Fatalf("every reply was sent before SIGTERM: the test proves nothing (outbound=%v)", st.Outbound)
				}
				// A reply recorded sent is at the server once; a queued one
				// is there only if its send was cut.
				cut := map[string]bool{}
				for id, state := range outboundStates(t, g) {
					at := received[id]
					switch {
					case state == message.StateSent && at == 1:
					case state == message.StateQueued && at == 0:
					case state == message.StateQueued && at == 1 && tt.cut:
						cut[id] = true
					default:
						t.Errorf("reply %s is %s, and the server has it %d times", id, state, at)
					}
				}
				if tt.cut && (len(cut) == 0 || len(cut) > workers) {
					t.Errorf("%d sends cut by the hard stop, want 1 to %d (the sends in flight)", len(cut), workers)
				}

				srv.setDelay(50 * time.Millisecond)
				g.start()
				eventually(t, 2*time.Minute, "every reply sent after the restart", func() (bool, string) {
					st := g.stats()
					return st.Outbound[message.StateSent] == replies, fmt.Sprintf("outbound=%v", st.Outbound)
				})
				g.stop()
				received, _ = srv.state()
				states := outboundStates(t, g)
				for id := range states {
					want := 1
					if cut[id] {
						want = 2
					}
					if n := received[id]; n != want {
						t.Errorf("reply %s reached the server %d times, want %d", id, n, want)
					}
					delete(received, id)
				}
				if len(states) != replies || len(received) != 0 {
					t.Errorf("%d replies recorded, %d mails at the server match none", len(states), len(received))
				}
				t.Logf("%d replies, %d sent twice after a cut send", len(states), len(cut))
			})
		}
	}
}

// setJobsOption adds "key: value" to the jobs: section of the gateway's
// config file.
func setJobsOption(t *testing.T, g *gateway, key, value string) {
	t.Helper()
	data, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "\njobs:\n", "\njobs:\n  "+key+": "+value+"\n", 1)
	if cfg == string(data) {
		t.Fatal("the gateway config has no jobs: section")
	}
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
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
