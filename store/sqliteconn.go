package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"
)

// maxConnStmts bounds the statements one SQLite connection keeps
// prepared: the store's and River's distinct queries fit, with room.
const maxConnStmts = 256

// sqliteConnector opens modernc SQLite connections that keep their
// statements prepared. The driver prepares a statement anew for every
// QueryContext and ExecContext on a connection, and River's SQLite driver
// runs all its statements that way: a job's completion parsed a long
// UPDATE each time, a quarter of the gateway's CPU under SMS webhooks.
// database/sql keeps statements prepared only for *sql.Stmt. Each
// connection here keeps one per distinct query text, the least recently
// used dropped past maxConnStmts; SQLite re-prepares a kept statement
// itself when the schema changes.
type sqliteConnector struct {
	dsn string
	drv *sqlite.Driver
}

// sqliteDriverConn is what database/sql uses of a modernc connection.
type sqliteDriverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

func (c sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(sqliteDriverConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlite: unexpected driver connection %T", dc)
	}
	return &stmtConn{sqliteDriverConn: inner, byQuery: make(map[string]*list.Element), lru: list.New()}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// stmtConn is a connection with its kept statements. database/sql uses a
// connection from one goroutine at a time, so it needs no lock.
type stmtConn struct {
	sqliteDriverConn
	byQuery map[string]*list.Element // of *connStmt, most recently used first in lru
	lru     *list.List
}

type connStmt struct {
	query string
	stmt  interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	// busy: rows read from it are still open; the same query meanwhile
	// (a nested one on this connection) runs unkept.
	busy bool
}

// kept returns the statement kept for query, preparing it the first time;
// nil when it is busy or cannot be prepared (the caller's unkept run then
// reports the error).
func (c *stmtConn) kept(ctx context.Context, query string) *connStmt {
	if e, ok := c.byQuery[query]; ok {
		c.lru.MoveToFront(e)
		cs := e.Value.(*connStmt)
		if cs.busy {
			return nil
		}
		return cs
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	cst, ok := st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		st.Close()
		return nil
	}
	cs := &connStmt{query: query, stmt: cst}
	c.byQuery[query] = c.lru.PushFront(cs)
	for c.lru.Len() > maxConnStmts {
		old := c.lru.Back()
		if old.Value.(*connStmt).busy {
			break // in use; dropped on a later turn
		}
		c.drop(old)
	}
	return cs
}

func (c *stmtConn) drop(e *list.Element) {
	cs := e.Value.(*connStmt)
	c.lru.Remove(e)
	delete(c.byQuery, cs.query)
	cs.stmt.Close()
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if cs := c.kept(ctx, query); cs != nil {
		return cs.stmt.ExecContext(ctx, args)
	}
	return c.sqliteDriverConn.ExecContext(ctx, query, args)
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.kept(ctx, query)
	if cs == nil {
		return c.sqliteDriverConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	if sr, ok := rows.(sqliteRows); ok {
		return &stmtRows{sqliteRows: sr, cs: cs}, nil
	}
	return &plainStmtRows{Rows: rows, cs: cs}, nil
}

// Close closes the kept statements, then the connection.
func (c *stmtConn) Close() error {
	for c.lru.Len() > 0 {
		c.drop(c.lru.Front())
	}
	return c.sqliteDriverConn.Close()
}

// stmtRows frees its statement for the next run when closed. It passes
// on what modernc's rows say of their column types.
type stmtRows struct {
	sqliteRows
	cs *connStmt
}

type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

func (r *stmtRows) Close() error {
	err := r.sqliteRows.Close()
	r.cs.busy = false
	return err
}

// plainStmtRows is stmtRows for rows that say nothing of column types.
type plainStmtRows struct {
	driver.Rows
	cs *connStmt
}

func (r *plainStmtRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}
