package forms

import (
	"sync"
	"time"
)

// limiter counts accepted submissions per client address in fixed
// windows. It lives in memory, one per replica: the per-contact limit,
// which the database counts, is the one that holds across replicas.
type limiter struct {
	max    int
	within time.Duration

	mu   sync.Mutex
	seen map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// maxClients bounds the addresses remembered; past it, expired windows are
// dropped, and if none has expired a new address is refused until one does
// (a flood of addresses must not grow memory without end).
const maxClients = 50000

func newLimiter(max int, within time.Duration) *limiter {
	return &limiter{max: max, within: within, seen: map[string]*window{}}
}

// allow reports whether key may submit once more at now; it does not count
// the submission (add does, once it is accepted).
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.seen[key]
	if !ok || now.Sub(w.start) >= l.within {
		return ok || len(l.seen) < maxClients || l.prune(now)
	}
	return w.n < l.max
}

// add counts one accepted submission of key at now.
func (l *limiter) add(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.seen[key]
	if !ok || now.Sub(w.start) >= l.within {
		if !ok && len(l.seen) >= maxClients && !l.prune(now) {
			return
		}
		l.seen[key] = &window{start: now, n: 1}
		return
	}
	w.n++
}

// prune drops expired windows and reports whether there is room now.
func (l *limiter) prune(now time.Time) bool {
	for k, w := range l.seen {
		if now.Sub(w.start) >= l.within {
			delete(l.seen, k)
		}
	}
	return len(l.seen) < maxClients
}
