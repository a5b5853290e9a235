package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/store"
)

// Short leases, so that a takeover by expiry takes two seconds, not
// seven; a renewal still gets over a second before its holder gives up,
// which a loaded machine needs.
func testLeaseTiming() leaseTiming {
	return leaseTiming{TTL: 2 * time.Second, Renew: 200 * time.Millisecond, Retry: 20 * time.Millisecond,
		Margin: 500 * time.Millisecond, Restart: 20 * time.Millisecond}
}

// eachStore runs fn on a migrated store of each dialect.
func eachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Parallel()
	for _, b := range []struct {
		name string
		open func(t *testing.T) (dsn, dir string)
	}{
		{"sqlite", func(t *testing.T) (string, string) { return "", dbtest.SQLiteDir(t, store.MigrateAt) }},
		{"postgres", func(t *testing.T) (string, string) { return dbtest.PostgresURL(t, store.MigrateAt), t.TempDir() }},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dsn, dir := b.open(t)
			st, err := store.Open(t.Context(), dsn, dir, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, st)
		})
	}
}

// stage is what the connectors under one lease did: it fails the test if
// two ever ran at once, which is the supervisor's whole point.
type stage struct {
	t  *testing.T
	mu sync.Mutex
	// running is who runs now ("" for nobody); runs lists each start.
	running string
	runs    []string
	ended   []string // each Run that returned, with why
	changed chan struct{}
}

func newStage(t *testing.T) *stage { return &stage{t: t, changed: make(chan struct{}, 1)} }

// connector is a runner that holds the stage until its context ends; it
// calls hook (if any) first, and returns hook's error at once if there is one.
func (s *stage) connector(who string, hook func(run int) error) runner {
	return runFunc(func(ctx context.Context) error {
		s.mu.Lock()
		if s.running != "" {
			s.t.Errorf("%s started while %s was still running", who, s.running)
		}
		s.running = who
		s.runs = append(s.runs, who)
		n := 0
		for _, r := range s.runs {
			if r == who {
				n++
			}
		}
		s.mu.Unlock()
		s.kick()
		var err error
		if hook != nil {
			err = hook(n)
		}
		if err == nil {
			<-ctx.Done()
		}
		s.mu.Lock()
		s.running = ""
		why := "cancelled"
		if err != nil {
			why = "error"
		}
		s.ended = append(s.ended, who+": "+why)
		s.mu.Unlock()
		s.kick()
		return err
	})
}

func (s *stage) kick() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds of who runs now and the starts so far.
func (s *stage) waitFor(what string, cond func(running string, runs, ended []string) bool) {
	s.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		ok := cond(s.running, s.runs, s.ended)
		state := fmt.Sprintf("running %q, runs %v, ended %v", s.running, s.runs, s.ended)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("%s: not within 20s (%s)", what, state)
		}
	}
}

func (s *stage) waitRunning(who string) {
	s.t.Helper()
	s.waitFor(who+" runs", func(running string, _, _ []string) bool { return running == who })
}

// dying is a lease store that can be made to hang, as a replica whose
// database connection is gone or whose process froze: its renewals never
// answer, and it never releases.
type dying struct {
	leaseStore
	mu   sync.Mutex
	dead chan struct{}
}

func newDying(ls leaseStore) *dying { return &dying{leaseStore: ls, dead: make(chan struct{})} }

func (d *dying) die() { close(d.dead) }

func (d *dying) hang(ctx context.Context) error {
	select {
	case <-d.dead:
		<-ctx.Done()
		return ctx.Err()
	default:
		return nil
	}
}

func (d *dying) AcquireLease(ctx context.Context, name string, h store.LeaseHolder, ttl time.Duration) (bool, error) {
	if err := d.hang(ctx); err != nil {
		return false, err
	}
	return d.leaseStore.AcquireLease(ctx, name, h, ttl)
}

func (d *dying) RenewLease(ctx context.Context, name string, h store.LeaseHolder, ttl time.Duration) (bool, error) {
	if err := d.hang(ctx); err != nil {
		return false, err
	}
	return d.leaseStore.RenewLease(ctx, name, h, ttl)
}

func (d *dying) ReleaseLease(ctx context.Context, name string, h store.LeaseHolder) error {
	if err := d.hang(ctx); err != nil {
		return err
	}
	return d.leaseStore.ReleaseLease(ctx, name, h)
}

func holder(replica string) store.LeaseHolder {
	return store.LeaseHolder{Replica: replica, Process: replica + "/1"}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Replicas a, b and c supervise the same connector. Only one runs at a
// time (stage fails the test otherwise); a stopping hands over at once;
// b, whose database stops answering, stops its connector before its lease
// can expire, and only then does c take over.
func TestSupervisorOneReplicaAtATime(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		const lease = "channel:1"
		stg := newStage(t)
		ctx := t.Context()

		a := newSupervisor(st, holder("a"), testLeaseTiming(), quietLog())
		if err := a.Start(ctx, lease, stg.connector("a", nil)); err != nil {
			t.Fatal(err)
		}
		stg.waitRunning("a")
		if !a.Holds(lease) {
			t.Error("a runs its connector but does not say it holds the lease")
		}
		if err := a.Start(ctx, lease, stg.connector("a", nil)); err == nil {
			t.Error("a second Start of the same lease was accepted")
		}

		bStore := newDying(st)
		b := newSupervisor(bStore, holder("b"), testLeaseTiming(), quietLog())
		if err := b.Start(ctx, lease, stg.connector("b", nil)); err != nil {
			t.Fatal(err)
		}
		// a's renewals keep b out, across many renewals and retries.
		for range 5 {
			var before time.Time
			if ls, err := st.Leases(ctx); err != nil || len(ls) != 1 || ls[0].Holder != "a/1" {
				t.Fatalf("leases = %+v, %v; want a's", ls, err)
			} else {
				before = ls[0].ExpiresAt
			}
			waitLease(t, st, lease, "a's lease renewed", func(l store.Lease) bool { return l.Holder == "a/1" && l.ExpiresAt.After(before) })
		}
		if b.Holds(lease) {
			t.Error("b says it holds a lease a holds")
		}

		// a stops: it releases, b takes over without waiting for expiry.
		a.Stop(lease)
		stg.waitRunning("b")
		if a.Holds(lease) {
			t.Error("a stopped but says it holds the lease")
		}

		// b's database hangs: its renewal never answers and its lease is
		// left to expire. It must stop its connector first.
		c := newSupervisor(st, holder("c"), testLeaseTiming(), quietLog())
		if err := c.Start(ctx, lease, stg.connector("c", nil)); err != nil {
			t.Fatal(err)
		}
		bStore.die()
		stg.waitRunning("c")
		stg.waitFor("b stopped before c started", func(_ string, runs, ended []string) bool {
			return strings.Join(runs, ",") == "a,b,c" && len(ended) >= 2 && ended[1] == "b: cancelled"
		})
		if b.Holds(lease) {
			t.Error("b, cut off, still says it holds the lease")
		}
		c.Stop(lease)
		b.Stop(lease)
		if ls, err := st.Leases(ctx); err != nil || len(ls) != 0 {
			t.Errorf("after c stopped: leases %+v, %v; want none", ls, err)
		}
	})
}

// waitLease waits until the lease row satisfies cond.
func waitLease(t *testing.T, st *store.Store, name, what string, cond func(store.Lease) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls, err := st.Leases(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Name == name && cond(l) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s (leases %+v)", what, ls)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A holder whose lease another process took stops its connector at its
// next renewal.
func TestSupervisorStopsWhenLeaseTaken(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		const lease = "channel:2"
		stg := newStage(t)
		ctx := t.Context()
		a := newSupervisor(st, holder("a"), testLeaseTiming(), quietLog())
		if err := a.Start(ctx, lease, stg.connector("a", nil)); err != nil {
			t.Fatal(err)
		}
		stg.waitRunning("a")
		// Another process of replica a takes it over (a restart that found
		// the old process's lease), as the store allows.
		if got, err := st.AcquireLease(ctx, lease, store.LeaseHolder{Replica: "a", Process: "a/2"}, time.Hour); err != nil || !got {
			t.Fatalf("take over: %v, %v", got, err)
		}
		stg.waitFor("a's connector cancelled", func(running string, _, ended []string) bool {
			return running == "" && len(ended) == 1 && ended[0] == "a: cancelled"
		})
		if a.Holds(lease) {
			t.Error("a says it holds a lease another took")
		}
		a.Stop(lease)
		// a/1's stop must not release a/2's lease.
		if ls, err := st.Leases(ctx); err != nil || len(ls) != 1 || ls[0].Holder != "a/2" {
			t.Errorf("leases %+v, %v; want a/2's", ls, err)
		}
	})
}

// A restarted replica takes back the lease its killed process left, while
// another replica still cannot: the lease is an hour from expiry.
func TestSupervisorRestartTakesOwnLease(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		const lease = "channel:3"
		stg := newStage(t)
		ctx := t.Context()
		// The killed process: its lease, never released.
		if got, err := st.AcquireLease(ctx, lease, store.LeaseHolder{Replica: "a", Process: "a/0"}, time.Hour); err != nil || !got {
			t.Fatalf("acquire: %v, %v", got, err)
		}
		b := newSupervisor(st, holder("b"), testLeaseTiming(), quietLog())
		if err := b.Start(ctx, lease, stg.connector("b", nil)); err != nil {
			t.Fatal(err)
		}
		a := newSupervisor(st, holder("a"), testLeaseTiming(), quietLog())
		if err := a.Start(ctx, lease, stg.connector("a", nil)); err != nil {
			t.Fatal(err)
		}
		stg.waitRunning("a")
		waitLease(t, st, lease, "a/1 holds it", func(l store.Lease) bool { return l.Holder == "a/1" })
		a.Stop(lease)
		stg.waitRunning("b")
		b.Stop(lease)
	})
}

// A connector that ends by itself is started again; its lease is released
// meanwhile, so another replica may have it instead.
func TestSupervisorRestartsEndedConnector(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store) {
		const lease = "channel:4"
		stg := newStage(t)
		a := newSupervisor(st, holder("a"), testLeaseTiming(), quietLog())
		failFirst := func(run int) error {
			if run == 1 {
				return errors.New("connector broke")
			}
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		if err := a.Start(ctx, lease, stg.connector("a", failFirst)); err != nil {
			t.Fatal(err)
		}
		stg.waitFor("a ran twice", func(running string, runs, ended []string) bool {
			return running == "a" && len(runs) == 2 && len(ended) == 1 && ended[0] == "a: error"
		})
		// Ending the context passed to Start ends it too, and Wait waits.
		cancel()
		a.Wait()
		stg.waitFor("a stopped", func(running string, _, ended []string) bool { return running == "" && len(ended) == 2 })
		if ls, err := st.Leases(t.Context()); err != nil || len(ls) != 0 {
			t.Errorf("leases after stop: %+v, %v; want none", ls, err)
		}
	})
}

// One process per data directory; the replica keeps its name across
// processes, and another directory is another replica.
func TestLockReplica(t *testing.T) {
	dir := t.TempDir()
	r1, err := lockReplica(dir, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockReplica(dir, "p2"); err == nil || !strings.Contains(err.Error(), "in use by another wasl serve") {
		t.Fatalf("second lock of %s: %v, want refused", dir, err)
	}
	if r1.holder.Process != r1.holder.Replica+"/p1" {
		t.Errorf("holder %+v: process should be the replica's", r1.holder)
	}
	r1.close()
	r2, err := lockReplica(dir, "p2")
	if err != nil {
		t.Fatalf("lock after the first process let go: %v", err)
	}
	defer r2.close()
	if r2.holder.Replica != r1.holder.Replica || r2.holder.Process == r1.holder.Process {
		t.Errorf("after a restart: %+v, before %+v; want the same replica, another process", r2.holder, r1.holder)
	}
	other, err := lockReplica(t.TempDir(), "p3")
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	if other.holder.Replica == r1.holder.Replica {
		t.Errorf("two data directories share the replica name %q", other.holder.Replica)
	}
}
