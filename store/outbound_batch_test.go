package store

import (
	"errors"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

// The send workers' grouped claims and outcomes: each reply in a batch is
// claimed or marked exactly as it would be alone.
func TestClaimAndMarkOutbounds(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		add := func(st message.DeliveryState) int64 {
			o := f.outbound("", true)
			o.State = st
			insertOutbound(t, s, o)
			return o.ID
		}
		queued, crashed, sent, failed := add(message.StateQueued), add(message.StateSending), add(message.StateSent), add(message.StateFailed)
		const unknown = 999999

		ids := []int64{queued, sent, unknown, crashed, failed, queued}
		got, err := s.ClaimOutbounds(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Fatalf("%d claims for %d ids", len(got), len(ids))
		}
		for i, id := range ids {
			c := got[i]
			switch id {
			case queued, crashed:
				o := c.Outbound
				if !c.Claimed || c.Err != nil || o.ID != id || o.State != message.StateSending || o.Attempts != 1 || o.Channel != message.Email || o.Text == "" {
					t.Errorf("claim of %d: %v, %v, %+v; want claimed, sending, 1 attempt, email, its text", id, c.Claimed, c.Err, o)
				}
			case unknown:
				if c.Claimed || !errors.Is(c.Err, ErrNotFound) {
					t.Errorf("claim of an unknown reply: %v, %v; want not claimed, ErrNotFound", c.Claimed, c.Err)
				}
			default:
				if c.Claimed || c.Err != nil || c.Outbound.ID != id {
					t.Errorf("claim of final reply %d: %v, %v, %+v; want not claimed, the reply as it is", id, c.Claimed, c.Err, c.Outbound)
				}
			}
		}
		if o, err := s.Outbound(ctx, sent); err != nil || o.State != message.StateSent || o.Attempts != 0 {
			t.Errorf("a sent reply in the batch changed: %+v, %v", o, err)
		}

		if _, err := s.MarkOutbounds(ctx, []OutboundMark{{ID: queued, State: "teleported"}}); err == nil {
			t.Error("a batch with an unknown state was marked")
		}
		// The reply claimed again, so that it has a provider id to keep.
		if err := s.MarkOutbound(ctx, crashed, message.StateSending, "SM-first", ""); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			marks []OutboundMark
			want  map[int64]OutboundMark
		}{
			{
				name: "distinct replies, one unknown",
				marks: []OutboundMark{
					{ID: queued, State: message.StateSent, ProviderID: "SM-q"},
					{ID: unknown, State: message.StateSent},
					{ID: crashed, State: message.StateQueued, Error: "timeout"},
				},
				want: map[int64]OutboundMark{
					queued:  {State: message.StateSent, ProviderID: "SM-q"},
					crashed: {State: message.StateQueued, ProviderID: "SM-first", Error: "timeout"},
				},
			},
			{
				name: "two outcomes of one reply, in order",
				marks: []OutboundMark{
					{ID: crashed, State: message.StateFailed, Error: "bounced"},
					{ID: crashed, State: message.StateDelivered, ProviderID: "SM-last"},
				},
				want: map[int64]OutboundMark{
					crashed: {State: message.StateDelivered, ProviderID: "SM-last"},
				},
			},
		}
		for _, tt := range tests {
			errs, err := s.MarkOutbounds(ctx, tt.marks)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if len(errs) != len(tt.marks) {
				t.Fatalf("%s: %d results for %d marks", tt.name, len(errs), len(tt.marks))
			}
			found := map[int64]bool{}
			for i, m := range tt.marks {
				_, known := tt.want[m.ID]
				if known && errs[i] != nil || !known && !errors.Is(errs[i], ErrNotFound) {
					t.Errorf("%s: mark of %d: %v; want ErrNotFound only for an unknown reply", tt.name, m.ID, errs[i])
				}
				found[m.ID] = errs[i] == nil
			}
			for id, w := range tt.want {
				o, err := s.Outbound(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				final := w.State == message.StateSent || w.State == message.StateDelivered
				if !found[id] || o.State != w.State || o.ProviderID != w.ProviderID || o.Error != w.Error || (o.SentAt != nil) != final {
					t.Errorf("%s: reply %d is %s %q %q sent_at %v; want %s %q %q, sent_at set %v",
						tt.name, id, o.State, o.ProviderID, o.Error, o.SentAt, w.State, w.ProviderID, w.Error, final)
				}
			}
		}
	})
}
