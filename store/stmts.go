package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the statements a store keeps prepared: the writes'
// constant queries fit many times over; a query built at run time beyond
// it is prepared each time, as without the cache.
const maxStmts = 256

// stmtCache keeps the write transactions' statements prepared on SQLite,
// where preparing one costs about as much as running it. PostgreSQL's
// driver (pgx) already caches them per connection.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get is query prepared on the pool, or nil when it is not cached and
// cannot be (full, or preparing failed: the caller's direct call then
// reports the error).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// cachedTx is a write transaction whose ExecContext and QueryRowContext
// run the store's prepared statements, bound to the transaction's
// connection once per transaction. QueryContext is left as it is: SQLite's
// driver runs a prepared statement on one handle, so the same query asked
// again while its rows were still open would reset them.
type cachedTx struct {
	*sql.Tx
	cache *stmtCache // nil: no caching (PostgreSQL)
	stmts map[string]*sql.Stmt
}

func (t *cachedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.cache == nil {
		return nil
	}
	if st, ok := t.stmts[query]; ok {
		return st
	}
	st := t.cache.get(ctx, query)
	if st == nil {
		return nil
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	st = t.Tx.StmtContext(ctx, st) // closed with the transaction
	t.stmts[query] = st
	return st
}

func (t *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
