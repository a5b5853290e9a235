package store

import (
	"testing"

	"github.com/wasl-dev/wasl/message"
)

// A channel whose latest send attempt failed says so, with the server's
// error; a reply that gets through afterwards clears it.
func TestChannelSendStatuses(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		status := func() ChannelSendStatus {
			t.Helper()
			all, err := s.ChannelSendStatuses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range all {
				if st.ChannelID == f.ch.ID {
					return st
				}
			}
			t.Fatalf("channel %d missing from %+v", f.ch.ID, all)
			return ChannelSendStatus{}
		}
		attempt := func(o *Outbound, state message.DeliveryState, errText string) {
			t.Helper()
			if _, claimed, err := s.ClaimOutbound(ctx, o.ID); err != nil || !claimed {
				t.Fatalf("claim %d: %v %v", o.ID, claimed, err)
			}
			if err := s.MarkOutbound(ctx, o.ID, state, "", errText); err != nil {
				t.Fatal(err)
			}
		}

		if st := status(); st.Failing || !st.LastSentAt.IsZero() || st.Name != "email-main" || st.Kind != message.Email {
			t.Errorf("no reply yet: %+v", st)
		}
		first := f.outbound("s1@wasl.example", true)
		insertOutbound(t, s, first)
		// Queued, never tried: nothing is known about the channel yet.
		if st := status(); st.Failing {
			t.Errorf("untried reply: %+v", st)
		}
		const refused = "auth as \"support\": server replied 535 5.7.8 Authentication credentials invalid"
		attempt(first, message.StateQueued, refused)
		st := status()
		if !st.Failing || st.Error != refused || st.ErrorAt.IsZero() {
			t.Errorf("after a refused login: %+v", st)
		}
		second := f.outbound("s2@wasl.example", true)
		insertOutbound(t, s, second)
		attempt(second, message.StateSent, "")
		if st := status(); st.Failing || st.Error != "" || st.LastSentAt.IsZero() {
			t.Errorf("after a reply got through: %+v", st)
		}
		// A recipient refused for good is the reply's problem, not the
		// channel's.
		attempt(first, message.StateFailed, "rcpt to: server replied 550 5.1.1 no such user")
		if st := status(); st.Failing {
			t.Errorf("after a recipient was refused: %+v", st)
		}
	})
}
