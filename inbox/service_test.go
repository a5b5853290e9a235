package inbox

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/store"
)

// A snooze is a River job scheduled for the wake-up: the conversation
// leaves the list, and comes back on top with a reminder at that time.
func TestSnoozeWakes(t *testing.T) {
	st := newStore(t)
	s := seedStore(t, st)
	workers := river.NewWorkers()
	river.AddWorker(workers, &WakeWorker{Store: st})
	jobs, err := river.NewClient(st.RiverDriver(), &river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}, Workers: workers,
		FetchPollInterval: 100 * time.Millisecond, FetchCooldown: 50 * time.Millisecond, PollOnly: true,
		// River logs while it stops, after the test's output is closed.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Not t.Context(): it is cancelled before cleanups run, and Stop must
	// wait for River to finish.
	t.Cleanup(func() { _ = jobs.Stop(context.Background()) })
	svc := NewService(st, jobs, nil, ServiceConfig{}, testLogger(t))
	op := Principal{System: true}

	until := time.Now().Add(2 * time.Second)
	if err := svc.Snooze(t.Context(), op, s.openConv, until); err != nil {
		t.Fatal(err)
	}
	rows, _ := st.InboxList(t.Context(), store.InboxFilter{All: true})
	for _, r := range rows {
		if r.ID == s.openConv {
			t.Fatal("a snoozed conversation is in the list")
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := st.InboxConversation(t.Context(), s.openConv, 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.RemindedAt != nil {
			if c.SnoozedUntil != nil || c.RemindedAt.Before(until.Add(-time.Second)) {
				t.Errorf("woke %v with snooze %v, want after %v and no snooze", c.RemindedAt, c.SnoozedUntil, until)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the conversation did not wake within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rows, _ = st.InboxList(t.Context(), store.InboxFilter{All: true})
	if len(rows) == 0 || rows[0].ID != s.openConv {
		t.Errorf("the woken conversation is not on top: %+v", rows)
	}
}
