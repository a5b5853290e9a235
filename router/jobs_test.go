package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/internal/pgtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// cancellingSender stands for a shutdown that cancels the job's context
// just as the channel answers: it cancels, then returns its result.
type cancellingSender struct {
	cancel context.CancelFunc
	err    error
}

func (s cancellingSender) Send(context.Context, message.Outbound) (message.Delivery, error) {
	s.cancel()
	if s.err != nil {
		return message.Delivery{}, s.err
	}
	return message.Delivery{ProviderID: "250-queued-as-X1", State: message.StateSent}, nil
}

type oneSender struct{ s channels.Sender }

func (o oneSender) Sender(int64) (channels.Sender, bool) { return o.s, true }

// A send's outcome is recorded even when the job's context ends while the
// channel answers (a hard stop at shutdown): a mail the server took is
// sent, a failed attempt is queued for its retry, and nothing stays
// "sending" for a rescue to send again.
func TestSendWorkerRecordsOutcomeAfterCancel(t *testing.T) {
	tests := []struct {
		name    string
		sendErr error
		want    message.DeliveryState
		wantErr bool
	}{
		{"accepted as the context ends", nil, message.StateSent, false},
		{"failed as the context ends", errors.New("connection reset"), message.StateQueued, true},
	}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnv(t, dsn(t))
					r := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
					if r.OutboundID == 0 {
						t.Fatal("no reply queued")
					}
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					w := &SendWorker{Store: e.st, Senders: oneSender{cancellingSender{cancel: cancel, err: tt.sendErr}}, Log: quiet}
					job := &river.Job[SendArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12}, Args: SendArgs{OutboundID: r.OutboundID}}
					err := w.Work(ctx, job)
					if (err != nil) != tt.wantErr {
						t.Fatalf("Work: %v, want error %v", err, tt.wantErr)
					}
					o, err := e.st.Outbound(context.Background(), r.OutboundID)
					if err != nil {
						t.Fatal(err)
					}
					if o.State != tt.want {
						t.Errorf("state = %s, want %s", o.State, tt.want)
					}
					if tt.want == message.StateSent && o.ProviderID != "250-queued-as-X1" {
						t.Errorf("provider id = %q, want the server's", o.ProviderID)
					}
				})
			}
		})
	}
}

// stoppingSender stands for the database going away while the channel
// sends: it stops the cluster, then reports the send accepted.
type stoppingSender struct {
	pg   *pgtest.Cluster
	sent chan struct{}
}

func (s stoppingSender) Send(context.Context, message.Outbound) (message.Delivery, error) {
	s.pg.Stop()
	close(s.sent)
	return message.Delivery{ProviderID: "SM-accepted", State: message.StateSent}, nil
}

// A send that succeeded while the database was down is marked sent once
// the database is back: the job completes either way, so an outcome given
// up on would leave the reply "sending" for good.
func TestSendWorkerRecordsOutcomeAfterDatabaseReturns(t *testing.T) {
	t.Parallel()
	pg := pgtest.NewCluster(t)
	e := newEnv(t, pg.URL())
	r := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
	if r.OutboundID == 0 {
		t.Fatal("no reply queued")
	}
	sent := make(chan struct{})
	w := &SendWorker{Store: e.st, Senders: oneSender{stoppingSender{pg: pg, sent: sent}}, Log: quiet}
	job := &river.Job[SendArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12}, Args: SendArgs{OutboundID: r.OutboundID}}
	done := make(chan error, 1)
	go func() { done <- w.Work(context.Background(), job) }()
	<-sent
	pg.Start()
	if err := <-done; err != nil {
		t.Fatalf("Work: %v", err)
	}
	// The pool may still hold connections the restart cut.
	var o store.Outbound
	var err error
	for range 10 {
		if o, err = e.st.Outbound(context.Background(), r.OutboundID); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if o.State != message.StateSent || o.ProviderID != "SM-accepted" {
		t.Errorf("reply state %s, provider %q; want sent, SM-accepted", o.State, o.ProviderID)
	}
}

// A reply's send job names the reply's channel, so that the binary can
// route it to the replica that drives the channel.
func TestSendJobNamesItsChannel(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			for _, tt := range []struct {
				in      message.Inbound
				channel int64
			}{
				{e.mail("m1@x", "a@example.edu", "Projector", "projector broken"), e.email},
				{e.phone(message.WhatsApp, "wa1", "+966551234567", "البروجكتر في القاعة 12 خربان نبي صيانة"), e.wa},
			} {
				r := e.process(t, tt.in)
				if r.OutboundID == 0 {
					t.Fatalf("%s: no reply queued", tt.in.ExternalID)
				}
				col := "args"
				if e.st.Dialect() == store.SQLite {
					col = "json(args)" // River keeps SQLite's as JSONB
				}
				var raw string
				if err := e.st.DB().QueryRow(`SELECT ` + col + ` FROM river_job WHERE kind = 'send_outbound' ORDER BY id DESC LIMIT 1`).Scan(&raw); err != nil {
					t.Fatal(err)
				}
				var args SendArgs
				if err := json.Unmarshal([]byte(raw), &args); err != nil {
					t.Fatal(err)
				}
				if args.OutboundID != r.OutboundID || args.ChannelID != tt.channel {
					t.Errorf("%s: job args %+v, want outbound %d on channel %d", tt.in.ExternalID, args, r.OutboundID, tt.channel)
				}
			}
		})
	}
}

// countingSender counts the sends of each message and answers with a
// provider id of its own for each.
type countingSender struct {
	mu    sync.Mutex
	sends map[string]int // by Message-ID
}

func (s *countingSender) Send(_ context.Context, m message.Outbound) (message.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends[m.MessageID]++
	return message.Delivery{ProviderID: fmt.Sprintf("SM-%d", len(s.sends)), State: message.StateSent}, nil
}

// Sends that start and end together share their claims' and outcomes'
// writes; each still gets its own answer: a queued reply is sent once and
// recorded with its provider id, a sent one is not sent again, an unknown
// one cancels its job.
func TestSendWorkersTogether(t *testing.T) {
	const replies = 24
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			var ins []message.Inbound
			for i := range replies {
				ins = append(ins, e.mail(fmt.Sprintf("m%d@x", i), fmt.Sprintf("s%d@example.edu", i), "Projector", "projector broken"))
			}
			rs := e.processAtOnce(t, ins)
			ids := []int64{999999}
			for _, r := range rs {
				if r.OutboundID == 0 {
					t.Fatal("no reply queued")
				}
				ids = append(ids, r.OutboundID)
			}
			if err := e.st.MarkOutbound(t.Context(), ids[1], message.StateSent, "SM-earlier", ""); err != nil {
				t.Fatal(err)
			}
			s := &countingSender{sends: map[string]int{}}
			w := &SendWorker{Store: e.st, Senders: oneSender{s}, Log: quiet}
			errs := make([]error, len(ids))
			var wg sync.WaitGroup
			for i, id := range ids {
				wg.Go(func() {
					job := &river.Job[SendArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12}, Args: SendArgs{OutboundID: id}}
					errs[i] = w.Work(t.Context(), job)
				})
			}
			wg.Wait()
			var cancel *river.JobCancelError
			if !errors.As(errs[0], &cancel) {
				t.Errorf("job of an unknown reply: %v, want it cancelled", errs[0])
			}
			provider := map[string]bool{}
			for i, id := range ids[1:] {
				if errs[i+1] != nil {
					t.Errorf("job of reply %d: %v", id, errs[i+1])
				}
				o, err := e.st.Outbound(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				wantSends, wantAttempts := 1, 1
				if i == 0 {
					wantSends, wantAttempts = 0, 0 // sent before
				}
				if n := s.sends[o.HeaderMessageID]; o.HeaderMessageID == "" || n != wantSends || o.State != message.StateSent || o.Attempts != wantAttempts || provider[o.ProviderID] {
					t.Errorf("reply %d: sent %d times, %s, %d attempts, provider %q (seen before %v); want %d, sent, %d, its own",
						id, n, o.State, o.Attempts, o.ProviderID, provider[o.ProviderID], wantSends, wantAttempts)
				}
				provider[o.ProviderID] = true
			}
		})
	}
}
