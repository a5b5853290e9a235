package store

import (
	"database/sql"
	"sync"
)

// commitHooks are functions to run once a transaction of InTx has
// committed, by its *sql.Tx: code that only sees tx.SQL() (River's
// InsertTx, through a wrapper) can still act after the commit, e.g. wake
// the job runner for the job it just inserted, which nothing can see
// before the commit.
type commitHooks struct {
	mu sync.Mutex
	m  map[*sql.Tx][]func()
}

func (h *commitHooks) begin(tx *sql.Tx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[*sql.Tx][]func(){}
	}
	h.m[tx] = nil
}

func (h *commitHooks) add(tx *sql.Tx, fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	fns, ok := h.m[tx]
	if ok {
		h.m[tx] = append(fns, fn)
	}
	return ok
}

// end forgets tx and returns its hooks.
func (h *commitHooks) end(tx *sql.Tx) []func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	fns := h.m[tx]
	delete(h.m, tx)
	return fns
}

// AfterCommit runs fn once tx, a transaction of InTx still open, has
// committed; not at all if it rolls back. fn runs in the committing
// goroutine, so it must be quick. It reports false, and will not run fn,
// when tx is not such a transaction.
func (s *Store) AfterCommit(tx *sql.Tx, fn func()) bool {
	return s.hooks.add(tx, fn)
}
