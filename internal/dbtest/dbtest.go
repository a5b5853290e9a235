// Package dbtest gives a test a fresh, migrated database quickly: the
// schema is migrated once per test binary and each test gets a copy (a file
// copy for SQLite, CREATE DATABASE … TEMPLATE for PostgreSQL). Migrating
// every test's database costs over a second under -race, most of the
// suite's time in packages that open many stores.
//
// The migration itself is passed in (store's Open and Migrate), so the
// store package's own tests can use this package too.
//
// A test binary that uses it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
package dbtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wasl-dev/wasl/internal/pgtest"
)

// Migrate brings the database at dsn up to date and closes every
// connection it opened; dsn "" is SQLite's wasl.db in dataDir.
type Migrate func(ctx context.Context, dsn, dataDir string) error

// sqliteFile is the binary's migrated SQLite template. Package-level state
// is deliberate, in a test helper only, as in pgtest: it is made once,
// guarded by its Once, and only read afterwards.
var sqliteTemplate struct {
	once sync.Once
	dir  string
	err  error
}

// SQLiteDir returns a new data directory (removed after the test) holding
// wasl.db, a copy of a SQLite database migrate brought up to date once.
func SQLiteDir(t testing.TB, migrate Migrate) string {
	t.Helper()
	tp := &sqliteTemplate
	tp.once.Do(func() {
		if tp.dir, tp.err = os.MkdirTemp("", "wasl-sqlite-template-"); tp.err == nil {
			tp.err = migrate(context.Background(), "", tp.dir)
		}
	})
	if tp.err != nil {
		t.Fatalf("dbtest: migrate the SQLite template: %v", tp.err)
	}
	dir := t.TempDir()
	if err := copyFile(filepath.Join(tp.dir, "wasl.db"), filepath.Join(dir, "wasl.db")); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dir
}

// PostgresURL returns the URL of a new PostgreSQL database (dropped after
// the test) copied from one migrate brought up to date once.
func PostgresURL(t testing.TB, migrate Migrate) string {
	t.Helper()
	return pgtest.TemplateURL(t, "wasl-schema", func(url string) error {
		dir, err := os.MkdirTemp("", "wasl-pg-template-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		return migrate(context.Background(), url, dir)
	})
}

// Main runs the tests (through pgtest.Main), then removes the SQLite
// template.
func Main(m *testing.M) int {
	code := pgtest.Main(m)
	if d := sqliteTemplate.dir; d != "" {
		os.RemoveAll(d)
	}
	return code
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("open template: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy template: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy template: %w", err)
	}
	return dst.Close()
}
