package main

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// sendLog records which replica's worker sent which outbound.
type sendLog struct {
	mu   sync.Mutex
	by   map[int64][]string // outbound id → replicas that worked it
	kick chan struct{}
}

// sendRecorder is a replica's send worker: it only notes who sent what.
type sendRecorder struct {
	river.WorkerDefaults[router.SendArgs]
	replica string
	log     *sendLog
}

func (w *sendRecorder) Work(_ context.Context, job *river.Job[router.SendArgs]) error {
	w.log.mu.Lock()
	w.log.by[job.Args.OutboundID] = append(w.log.by[job.Args.OutboundID], w.replica)
	w.log.mu.Unlock()
	select {
	case w.log.kick <- struct{}{}:
	default:
	}
	return nil
}

// waitWorked waits until outbounds from..to-1 were each worked, and
// returns by whom.
func (l *sendLog) waitWorked(t *testing.T, from, to int64) map[int64][]string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		done := true
		for id := from; id < to; id++ {
			done = done && len(l.by[id]) > 0
		}
		out := map[int64][]string{}
		for id := from; id < to; id++ {
			out[id] = append([]string(nil), l.by[id]...)
		}
		l.mu.Unlock()
		if done {
			return out
		}
		select {
		case <-l.kick:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("outbounds %d..%d not all sent within 30s: %v", from, to-1, out)
		}
	}
}

// newJobClient is a replica's River client as newApp configures it, with
// the recorder as its send worker, running until the test ends.
func newJobClient(t *testing.T, st *store.Store, replica string, homes *homeQueues, log *sendLog) *river.Client[*sql.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, &sendRecorder{replica: replica, log: log})
	c, err := river.NewClient(st.RiverDriver(), &river.Config{
		ID:                replica,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}, router.QueueSend: {MaxWorkers: 2}},
		Workers:           workers,
		Middleware:        []rivertype.Middleware{homes},
		Logger:            quietLog(),
		FetchPollInterval: 50 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
		PollOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.WithoutCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", replica, err)
		}
	})
	return c
}

// The sends of a channel only its lease holder can do (a WhatsApp linked
// device) are worked by the replica holding the lease, and by the next one
// once it moves; other channels' sends by any replica. Jobs are inserted
// by the replica that does not hold the lease, as a webhook or the inbox
// on any replica would.
func TestChannelJobsRunWhereTheChannelIs(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		const device, other = 7, 8
		ctx := t.Context()
		log := &sendLog{by: map[int64][]string{}, kick: make(chan struct{}, 1)}
		homes := map[string]*homeQueues{}
		clients := map[string]*river.Client[*sql.Tx]{}
		sups := map[string]*supervisor{}
		for _, r := range []string{"a", "b"} {
			homes[r] = newHomeQueues()
			homes[r].add(device)
			clients[r] = newJobClient(t, st, r, homes[r], log)
			// Leases long enough that only Stop moves them: SQLite's one
			// writer, shared with two River clients here, can hold a
			// renewal up for longer than testLeaseTiming allows.
			timing := testLeaseTiming()
			timing.TTL, timing.Renew, timing.Margin = 10*time.Second, time.Second, 2*time.Second
			sups[r] = newSupervisor(st, holder(r), timing, quietLog())
		}
		connector := func(r string) runner {
			block := runFunc(func(ctx context.Context) error { <-ctx.Done(); return nil })
			return workingQueue{r: block, queues: clients[r].Queues(), queue: channelQueue(device), log: quietLog()}
		}
		lease := leaseName(device)
		if err := sups["a"].Start(ctx, lease, connector("a")); err != nil {
			t.Fatal(err)
		}
		waitLease(t, st, lease, "a holds the device", func(l store.Lease) bool { return l.Replica == "a" })
		if err := sups["b"].Start(ctx, lease, connector("b")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sups["a"].Stop(lease); sups["b"].Stop(lease) })

		insert := func(by string, from, to int64, channel int64) {
			t.Helper()
			for id := from; id < to; id++ {
				if _, err := clients[by].Insert(ctx, router.SendArgs{OutboundID: id, ChannelID: channel}, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		expect := func(got map[int64][]string, want string) {
			t.Helper()
			for id, by := range got {
				if len(by) != 1 || (want != "" && by[0] != want) {
					t.Errorf("outbound %d sent by %v, want once by %q", id, by, want)
				}
			}
		}

		insert("b", 1, 11, device)
		insert("b", 100, 104, other)
		expect(log.waitWorked(t, 1, 11), "a")
		expect(log.waitWorked(t, 100, 104), "") // anyone, once

		// The device moves to b; its sends follow it.
		sups["a"].Stop(lease)
		waitLease(t, st, lease, "b holds the device", func(l store.Lease) bool { return l.Replica == "b" })
		insert("a", 11, 21, device)
		expect(log.waitWorked(t, 11, 21), "b")

		var n int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'send_outbound' AND queue = $1`, channelQueue(device)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 20 {
			t.Errorf("%d jobs on the device's queue, want its 20 sends", n)
		}
	})
}
