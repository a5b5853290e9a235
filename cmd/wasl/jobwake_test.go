package main

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// A job inserted in a store transaction through wakingInserter is worked
// once the transaction commits, without waiting for a poll: the poll here
// is an hour away, so only the wake-up can get the jobs worked within the
// test's time.
func TestJobsRunOnCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		log := &sendLog{by: map[int64][]string{}, kick: make(chan struct{}, 1)}
		workers := river.NewWorkers()
		river.AddWorker(workers, &sendRecorder{replica: "a", log: log})
		waker := newJobWaker(st.RiverDriver())
		c, err := river.NewClient(waker, &river.Config{
			ID:                "a",
			Queues:            map[string]river.QueueConfig{router.QueueSend: {MaxWorkers: 4}},
			Workers:           workers,
			Logger:            quietLog(),
			FetchPollInterval: time.Hour,
			FetchCooldown:     fetchCooldown,
			PollOnly:          true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !waker.hooked() {
			t.Fatal("River did not hand its wake-up hook to the pilot: jobs would wait for the poll")
		}
		if err := c.Start(context.WithoutCancel(ctx)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Stop(sctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		ins := &wakingInserter{jobs: c, store: st, waker: waker, wakeUp: context.WithoutCancel(ctx)}
		insert := func(id int64) {
			t.Helper()
			err := st.InTx(ctx, func(tx *store.Tx) error {
				_, err := ins.InsertTx(ctx, tx.SQL(), router.SendArgs{OutboundID: id}, nil)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// The first may be found by the client's first fetch at start;
		// the later ones only by a wake-up.
		for id := int64(1); id <= 3; id++ {
			insert(id)
			log.waitWorked(t, id, id+1)
		}
		// A job scheduled for later is not woken (nor worked).
		err = st.InTx(ctx, func(tx *store.Tx) error {
			_, err := ins.InsertTx(ctx, tx.SQL(), router.SendArgs{OutboundID: 9}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		insert(4)
		got := log.waitWorked(t, 4, 5)
		if len(got[4]) != 1 {
			t.Errorf("job 4 worked %d times, want once", len(got[4]))
		}
		// A batch's jobs (an IMAP batch) are woken too, once.
		err = st.InTx(ctx, func(tx *store.Tx) error {
			_, err := ins.InsertManyTx(ctx, tx.SQL(), []river.InsertManyParams{
				{Args: router.SendArgs{OutboundID: 5}}, {Args: router.SendArgs{OutboundID: 6}},
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got = log.waitWorked(t, 5, 7)
		if len(got[5]) != 1 || len(got[6]) != 1 {
			t.Errorf("a batch's jobs worked %d and %d times, want once each", len(got[5]), len(got[6]))
		}
		log.mu.Lock()
		defer log.mu.Unlock()
		if len(log.by[9]) != 0 {
			t.Errorf("the job scheduled for later ran now")
		}
	})
}

var _ router.JobInserter = (*wakingInserter)(nil)
