package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

// A SQLite connection keeps its statements prepared, and that changes no
// answer: a query run again while its own rows are still open (nested, on
// one connection), a script of several statements, a statement kept across
// a schema change, more distinct queries than it keeps, an error.
func TestSQLiteConnKeepsStatements(t *testing.T) {
	ctx := t.Context()
	dsn, err := sqliteDSN(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(sqliteConnector{dsn: dsn, drv: &sqlite.Driver{}})
	defer db.Close()
	conn, err := db.Conn(ctx) // one connection: what it keeps is what is checked
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kept := func() int {
		var n int
		if err := conn.Raw(func(dc any) error {
			n = dc.(*stmtConn).lru.Len()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A script: several statements in one string.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c')`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := conn.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, fmt.Sprint("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q queryer) int {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE v <> $1`, "").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(conn); n != 8 {
		t.Fatalf("%d rows, want 8", n)
	}
	before := kept()

	// Nested: the same query while its rows are open, in one transaction
	// (one connection).
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const q = `SELECT v FROM t WHERE id <= $1 ORDER BY id`
	outer, err := tx.QueryContext(ctx, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var v string
		if err := outer.Scan(&v); err != nil {
			t.Fatal(err)
		}
		var inner []string
		rows, err := tx.QueryContext(ctx, q, 2)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var w string
			rows.Scan(&w)
			inner = append(inner, w)
		}
		rows.Close()
		got = append(got, v+":"+strings.Join(inner, ""))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	tx.Rollback()
	if want := "a:ab b:ab c:ab"; strings.Join(got, " ") != want {
		t.Errorf("nested runs of one query: %q, want %q", strings.Join(got, " "), want)
	}
	if n := count(conn); n != 8 {
		t.Errorf("%d rows after the rollback, want 8", n)
	}
	if kept() != before+1 { // the nested query's, once
		t.Errorf("%d statements kept, want %d", kept(), before+1)
	}

	// A kept statement across a schema change.
	const all = `SELECT * FROM t WHERE id = 1`
	cols := func() int {
		rows, err := conn.QueryContext(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, _ := rows.Columns()
		return len(c)
	}
	if n := cols(); n != 2 {
		t.Fatalf("%d columns, want 2", n)
	}
	if _, err := conn.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	if n := cols(); n != 3 {
		t.Errorf("%d columns after ALTER TABLE, want 3", n)
	}

	// More distinct queries than a connection keeps.
	for i := range maxConnStmts + 20 {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + count(*) FROM t`, i)).Scan(&n); err != nil || n != i+8 {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if n := kept(); n != maxConnStmts {
		t.Errorf("%d statements kept, want at most %d", n, maxConnStmts)
	}
	if n := count(conn); n != 8 {
		t.Errorf("%d rows, want 8", n)
	}

	// An error is the driver's own, every time.
	for range 2 {
		if _, err := conn.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); err == nil || !strings.Contains(err.Error(), "no such table") {
			t.Errorf("insert into a missing table: %v", err)
		}
	}
}
