package store

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func lease(t *testing.T, s *Store, name string) (Lease, bool) {
	t.Helper()
	ls, err := s.Leases(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Name == name {
			return l, true
		}
	}
	return Lease{}, false
}

// One holder at a time; a replica's next process takes over its lease at
// once, another replica only after it expired; a holder that lost its lease
// can neither renew nor release it.
func TestLeaseHolders(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		a1 := LeaseHolder{Replica: "a", Process: "a/1"}
		a2 := LeaseHolder{Replica: "a", Process: "a/2"} // a's process after a restart
		b := LeaseHolder{Replica: "b", Process: "b/1"}
		const name = "channel:1"
		type step struct {
			what string
			do   func() (bool, error)
			want bool
		}
		acquire := func(h LeaseHolder, ttl time.Duration) func() (bool, error) {
			return func() (bool, error) { return s.AcquireLease(ctx, name, h, ttl) }
		}
		renew := func(h LeaseHolder) func() (bool, error) {
			return func() (bool, error) { return s.RenewLease(ctx, name, h, time.Hour) }
		}
		steps := []step{
			{"a/1 takes the free lease", acquire(a1, time.Hour), true},
			{"a/1 asks again: still its own", acquire(a1, time.Hour), true},
			{"b cannot take a live lease", acquire(b, time.Hour), false},
			{"a/1 renews", renew(a1), true},
			{"b cannot renew what it does not hold", renew(b), false},
			{"a/2, a's next process, takes a's lease at once", acquire(a2, time.Hour), true},
			{"a/1 lost it: no renewal", renew(a1), false},
			{"b still cannot take it", acquire(b, time.Hour), false},
		}
		for _, st := range steps {
			got, err := st.do()
			if err != nil || got != st.want {
				t.Fatalf("%s: got %v, %v; want %v", st.what, got, err, st.want)
			}
		}
		l, ok := lease(t, s, name)
		if !ok || l.Replica != "a" || l.Holder != "a/2" || !l.ExpiresAt.After(l.RenewedAt) || l.AcquiredAt.After(l.RenewedAt) {
			t.Fatalf("lease row = %+v (found %v), want held by a/2, expiring after its renewal", l, ok)
		}

		// a/1's release is a no-op: a/2 holds it.
		if err := s.ReleaseLease(ctx, name, a1); err != nil {
			t.Fatal(err)
		}
		if l, ok := lease(t, s, name); !ok || l.Holder != "a/2" {
			t.Fatalf("after a/1's release: %+v (found %v), want still a/2's", l, ok)
		}
		// a/2 lets it go; b takes it at once.
		if err := s.ReleaseLease(ctx, name, a2); err != nil {
			t.Fatal(err)
		}
		if _, ok := lease(t, s, name); ok {
			t.Fatal("released lease still has a row")
		}
		if got, err := s.AcquireLease(ctx, name, b, time.Hour); err != nil || !got {
			t.Fatalf("b after the release: %v, %v; want the lease", got, err)
		}
		first, _ := lease(t, s, name)
		if got, err := s.RenewLease(ctx, name, b, 2*time.Hour); err != nil || !got {
			t.Fatalf("b renews: %v, %v", got, err)
		}
		if l, _ := lease(t, s, name); !l.ExpiresAt.After(first.ExpiresAt) || !l.AcquiredAt.Equal(first.AcquiredAt) {
			t.Errorf("renewal: expires %v -> %v, acquired %v -> %v; want later expiry, same acquisition",
				first.ExpiresAt, l.ExpiresAt, first.AcquiredAt, l.AcquiredAt)
		}
	})
}

// A lease nobody renews expires, and then anyone may take it; its old
// holder finds out when it tries to renew.
func TestLeaseExpires(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		a := LeaseHolder{Replica: "a", Process: "a/1"}
		b := LeaseHolder{Replica: "b", Process: "b/1"}
		const name = "channel:2"
		if got, err := s.AcquireLease(ctx, name, a, 50*time.Millisecond); err != nil || !got {
			t.Fatalf("a acquires: %v, %v", got, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := s.AcquireLease(ctx, name, b, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if got {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("b never got the expired lease")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if l, _ := lease(t, s, name); l.Holder != "b/1" {
			t.Fatalf("lease = %+v, want b's", l)
		}
		if got, err := s.RenewLease(ctx, name, a, time.Hour); err != nil || got {
			t.Fatalf("a renews the lease b took: %v, %v; want false", got, err)
		}
		// An expired lease cannot be renewed even when nobody took it.
		const other = "channel:3"
		if got, err := s.AcquireLease(ctx, other, a, time.Millisecond); err != nil || !got {
			t.Fatalf("a acquires %s: %v, %v", other, got, err)
		}
		// The test and the database share this machine's clock.
		l, _ := lease(t, s, other)
		for time.Now().Before(l.ExpiresAt) {
			time.Sleep(time.Until(l.ExpiresAt))
		}
		if got, err := s.RenewLease(ctx, other, a, time.Hour); err != nil || got {
			t.Fatalf("renewing an expired lease: %v, %v; want false", got, err)
		}
	})
}

// Replicas racing for a free lease: exactly one gets it.
func TestLeaseRace(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		const n = 8
		var wg sync.WaitGroup
		won := make(chan string, n)
		errs := make(chan error, n)
		for i := range n {
			h := LeaseHolder{Replica: fmt.Sprintf("r%d", i), Process: fmt.Sprintf("r%d/1", i)}
			wg.Go(func() {
				got, err := s.AcquireLease(t.Context(), "channel:9", h, time.Hour)
				if err != nil {
					errs <- err
				}
				if got {
					won <- h.Process
				}
			})
		}
		wg.Wait()
		close(won)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var winners []string
		for w := range won {
			winners = append(winners, w)
		}
		if len(winners) != 1 {
			t.Fatalf("winners = %v, want exactly one", winners)
		}
		if l, _ := lease(t, s, "channel:9"); l.Holder != winners[0] {
			t.Errorf("lease row holder %q, winner %q", l.Holder, winners[0])
		}
	})
}

func TestLeaseArguments(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ok := LeaseHolder{Replica: "a", Process: "a/1"}
		tests := []struct {
			name string
			err  error
		}{
			{"no process", func() error { _, err := s.AcquireLease(ctx, "x", LeaseHolder{Replica: "a"}, time.Second); return err }()},
			{"no replica", func() error { _, err := s.AcquireLease(ctx, "x", LeaseHolder{Process: "a/1"}, time.Second); return err }()},
			{"zero ttl", func() error { _, err := s.AcquireLease(ctx, "x", ok, 0); return err }()},
			{"renew, negative ttl", func() error { _, err := s.RenewLease(ctx, "x", ok, -time.Second); return err }()},
		}
		for _, tt := range tests {
			if tt.err == nil {
				t.Errorf("%s: no error", tt.name)
			}
		}
		if _, found := lease(t, s, "x"); found {
			t.Error("a refused call left a lease row")
		}
	})
}
