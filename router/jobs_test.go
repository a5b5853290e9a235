package router

import (
	"context"
	"errors"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
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
