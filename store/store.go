// Package store keeps Wasl's data: channels, contacts, conversations,
// messages, attachments, tickets and outbound replies. One contract covers
// two databases: embedded SQLite (the default) and PostgreSQL. Both are
// reached through database/sql, so one River driver type (*sql.Tx) serves
// both and jobs are inserted in the same transaction as the rows that cause
// them.
//
// SQL is shared between the dialects: both accept $N placeholders,
// RETURNING, ON CONFLICT and partial indexes. What differs is the schema's
// types and how timestamps travel (time.Time for PostgreSQL, fixed-width
// UTC text for SQLite; see dbTime).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database behind a Store.
type Dialect string

// The two dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("duplicate")
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// sqliteBusyTimeout is how long a SQLite connection waits for another
// writer (River's, or another process's) before giving up with SQLITE_BUSY.
const sqliteBusyTimeout = 30 * time.Second

// A replica's connections to PostgreSQL: the store's pool and River's
// (README: the connection budget).
const (
	pgStoreConns = 16
	pgRiverConns = 4
)

// Store is the database and the attachment blob directory.
type Store struct {
	db      *sql.DB
	dialect Dialect
	dataDir string
	log     *slog.Logger
	driver  riverdriver.Driver[*sql.Tx]
	// riverDB is River's own pool on PostgreSQL (see Open); nil on SQLite,
	// where River shares db.
	riverDB *sql.DB

	// writeSem serializes this process's write transactions on SQLite,
	// which allows one writer at a time anyway. Waiting here, in order and
	// without holding a pooled connection, is cheaper and fairer than
	// SQLite's sleep-and-retry busy handler; that handler still covers
	// River's own writes. Nil for PostgreSQL.
	writeSem chan struct{}

	hooks commitHooks // AfterCommit's
	// notifier wakes the change feed's listeners after commits; nil for
	// SQLite.
	notifier *changeNotifier

	// normalize prepares text for the search index and queries; see
	// SetSearchNormalizer.
	normalize func(string) string
}

// Open connects to the database named by dsn:
//   - "" is the SQLite file dataDir/wasl.db;
//   - "file:…" or a path ending in .db is a SQLite file;
//   - postgres://… or postgresql://… is PostgreSQL.
//
// dataDir holds attachment blobs and is created if missing. Open does not
// migrate; call Migrate.
func Open(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if dataDir == "" {
		return nil, errors.New("open store: data directory is required")
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "blobs"), 0o750); err != nil {
		return nil, fmt.Errorf("open store: create data directory: %w", err)
	}
	s := &Store{dataDir: dataDir, log: log}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = Postgres
		s.db, err = sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// Every connection idle: database/sql keeps two by default, and
		// under load the others would be closed on release and reopened at
		// once, each a new backend whose statements are prepared again.
		s.db.SetMaxOpenConns(pgStoreConns)
		s.db.SetMaxIdleConns(pgStoreConns)
		// River's own statements (its fetch, its batch completion, its
		// maintenance) run on a small pool that plans each call: they join
		// river_job, which every reply grows, and a plan kept from a young
		// table reads it whole on every call (see planEach). They stay
		// prepared, parsed once a connection: force_custom_plan forbids
		// only the kept plan. Jobs inserted in our transactions go
		// through them, on db.
		rc, err := pgx.ParseConfig(dsn)
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		rc.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
		s.riverDB = stdlib.OpenDB(*rc)
		s.riverDB.SetMaxOpenConns(pgRiverConns)
		s.riverDB.SetMaxIdleConns(pgRiverConns)
		s.driver = riverdatabasesql.New(s.riverDB)
	case dsn == "", strings.HasPrefix(dsn, "file:"), strings.HasSuffix(dsn, ".db"):
		if dsn == "" {
			dsn = filepath.Join(dataDir, "wasl.db")
		}
		s.dialect = SQLite
		sqliteDSN, err := sqliteDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		s.db = sql.OpenDB(sqliteConnector{dsn: sqliteDSN, drv: &sqlite.Driver{}})
		// Several connections, so readers (WAL) never wait for the writer
		// and River's pollers never wait for our transactions.
		s.db.SetMaxOpenConns(8)
		s.db.SetMaxIdleConns(8)
		s.writeSem = make(chan struct{}, 1)
		s.driver = riversqlite.New(s.db)
	default:
		return nil, fmt.Errorf("open store: unsupported database %q: want postgres://…, file:… or a path ending in .db", redact(dsn))
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", s.dialect, err)
	}
	if s.dialect == Postgres {
		s.notifier = startChangeNotifier(s.db, log)
	}
	return s, nil
}

// sqliteDSN adds the settings Wasl needs to a SQLite file name or URI:
// foreign keys; a busy timeout; WAL so readers and the one writer do not
// block each other; and BEGIN IMMEDIATE, so a transaction takes the write
// lock when it starts instead of upgrading later, which in WAL mode fails at
// once with SQLITE_BUSY whenever another writer got in between; temporary
// storage in memory, since every insert that fires a trigger (messages:
// the search index, the change feed) keeps a statement journal, which
// SQLite otherwise writes to a temp file (a first sync's profile: 8 % of
// its CPU in those writes). The synchronous setting stays at SQLite's default (FULL): a committed message
// has been acknowledged upstream and must survive a power cut.
func sqliteDSN(name string) (string, error) {
	base, query, _ := strings.Cut(name, "?")
	if base == "" || base == "file:" {
		return "", errors.New("empty file name")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", name, err)
	}
	// busy_timeout first: switching to WAL needs a lock another
	// connection may hold.
	q["_pragma"] = append([]string{
		fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"foreign_keys(1)",
		"journal_mode(WAL)",
		"temp_store(MEMORY)",
	}, q["_pragma"]...)
	q.Set("_txlock", "immediate")
	return base + "?" + q.Encode(), nil
}

// redact hides a password in a URL for error messages.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// MigrateAt opens the database at dsn (as Open), applies the migrations and
// closes it, checkpointing SQLite's WAL into the file, so that the result
// can be copied: tests make their template databases with it.
func MigrateAt(ctx context.Context, dsn, dataDir string) error {
	s, err := Open(ctx, dsn, dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	err = s.Migrate(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Migrate brings the schema up to date: Wasl's tables (goose), then River's.
// Running it again is a no-op. On PostgreSQL an advisory lock keeps replicas
// that start together from migrating at once.
func (s *Store) Migrate(ctx context.Context) error {
	if s.dialect == Postgres {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		// The key is arbitrary but fixed: "wasl" in ASCII.
		const lockKey = 0x7761736c
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		defer func() {
			// A fresh context: the lock must go even if ctx is done.
			if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
				s.log.Warn("migrate: release advisory lock", "err", err)
			}
		}()
	}

	dir := "migrations/sqlite"
	dialect := goose.DialectSQLite3
	if s.dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// Out of order: numbers are reserved per branch and land in any order,
	// so a database past 00013 must still take 00012 when it arrives.
	p, err := goose.NewProvider(dialect, s.db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}

	m, err := rivermigrate.New(s.driver, &rivermigrate.Config{Logger: s.log})
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	// River logs each migration it applies itself.
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// Close closes the database. Stop any River client on it first.
func (s *Store) Close() error {
	if s.notifier != nil {
		s.notifier.close()
	}
	var err error
	if s.riverDB != nil {
		err = s.riverDB.Close()
	}
	return errors.Join(s.db.Close(), err)
}

// DB is the underlying pool, for River and whatsmeow's sqlstore.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect says which database this is.
func (s *Store) Dialect() Dialect { return s.dialect }

// planEach is args for a look-up PostgreSQL must plan for each call, with
// the table's size at that moment. A statement kept prepared gets, from its
// sixth call, a generic plan costed on the table as it was then: on a new
// database (a first sync, the first burst of webhooks) that is a handful of
// rows and a sequential scan, kept until autovacuum analyzes the table, by
// which time it reads every message of the mailbox again on each batch. The
// look-ups' tables are the ones a message grows; the statements are small,
// so planning each costs less than a scan (a batch's dedupe look-up: 0.8 ms
// a call with the kept plan, 0.03 ms planned each time, 3,000 webhooks).
func (s *Store) planEach(args ...any) []any {
	if s.dialect != Postgres {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// RiverDriver is a River driver on the same database, so jobs can be
// inserted with InsertTx(ctx, tx.SQL(), …) inside InTx. On PostgreSQL its
// own statements run on River's pool (pgRiverConns connections), with no
// LISTEN connection: clients built on it must poll (PollOnly).
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] { return s.driver }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Tx is a write transaction. Its methods are the store's writes; a Tx is
// only valid inside the InTx call that made it.
type Tx struct {
	tx *sql.Tx
	s  *Store

	// search holds the search index's new rows until the end of the
	// transaction (flushSearch).
	search pendingSearch
}

// SQL is the underlying transaction, for River's InsertTx.
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// InTx runs fn in a transaction, committed if fn returns nil and rolled
// back otherwise (also if fn panics). fn must not call InTx or use the Store
// itself: on SQLite the transaction holds the only write lock.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("begin: %w", ctx.Err())
		}
		defer func() { <-s.writeSem }()
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	s.hooks.begin(sqlTx)
	done := false
	defer func() {
		hooks := s.hooks.end(sqlTx)
		if !done {
			if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				s.log.Warn("rollback failed", "err", rbErr)
			}
			return
		}
		if err == nil {
			s.committed()
			for _, h := range hooks {
				h()
			}
		}
	}()
	tx := &Tx{tx: sqlTx, s: s}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.flushSearch(ctx); err != nil {
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// committed tells the change feed's listeners, if any, that a write
// committed.
func (s *Store) committed() {
	if s.notifier != nil {
		s.notifier.committed()
	}
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// queryer is what both *sql.DB and *sql.Tx offer, so reads can run in or
// out of a transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
