package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasl-dev/wasl/internal/pgtest"
)

// loadCluster is the load benchmark's own PostgreSQL cluster. Unlike the
// test suite's, it keeps PostgreSQL's durable defaults (pgtest.Durable):
// the gateway acknowledges a webhook only after its commit, and what that
// commit costs is what the benchmark measures. Every statement can be
// logged (log_statement per database), for the capture of the gateway's
// own transaction.
type loadCluster struct {
	t  testing.TB
	pg *pgtest.Cluster
}

func startLoadCluster(t testing.TB) *loadCluster {
	t.Helper()
	// Enough connections for two gateways' pools and pgbench's 32
	// clients; the log names each line's process and transaction, so one
	// transaction's statements can be told apart from the rest.
	pg := pgtest.NewCluster(t, pgtest.Durable(), pgtest.Config(
		"max_connections = 120",
		"shared_buffers = 128MB",
		"log_line_prefix = '%m [%p] %v %x '",
		"log_min_messages = warning",
	))
	if _, err := os.Stat(filepath.Join(pg.BinDir(), "pgbench")); err != nil {
		t.Fatalf("load: no pgbench beside the PostgreSQL server in %s (apt-get install -y postgresql): %v", pg.BinDir(), err)
	}
	return &loadCluster{t: t, pg: pg}
}

func (c *loadCluster) exec(sql string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.pg.AdminURL())
	if err != nil {
		c.t.Fatalf("load: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		c.t.Fatalf("load: %s: %v", sql, err)
	}
}

// newDB creates a database and returns its URL. The name, not a random
// one as pgtest's URL gives, is what pgbench and ALTER DATABASE are told.
func (c *loadCluster) newDB(name string) string {
	c.t.Helper()
	c.exec("CREATE DATABASE " + name)
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.pg.Port(), name)
}

// logSize is how far the server log has grown.
func (c *loadCluster) logSize() int64 {
	fi, err := os.Stat(c.pg.LogFile())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince is the server log from offset on.
func (c *loadCluster) logSince(offset int64) string {
	c.t.Helper()
	b, err := os.ReadFile(c.pg.LogFile())
	if err != nil {
		c.t.Fatal(err)
	}
	if offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// pgbench runs a script against dbName for d with clients connections and
// returns the transactions per second it reports (excluding connection
// time) and its whole output.
func (c *loadCluster) pgbench(dbName, script string, clients int, d time.Duration) (tps float64, out string) {
	c.t.Helper()
	// In the cluster's directory, which pgbench (as the postgres user when
	// we are root) can read.
	f := filepath.Join(c.pg.Dir(), fmt.Sprintf("script-%d.sql", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		c.t.Fatal(err)
	}
	o, err := c.pg.RunTool("pgbench", "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", strconv.Itoa(c.pg.Port()), "-U", "postgres",
		"-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), "-f", f, dbName)
	out = string(o)
	if err != nil {
		c.t.Fatalf("load: pgbench: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "tps = "); ok {
			v, _, _ = strings.Cut(v, " ")
			tps, _ = strconv.ParseFloat(v, 64)
		}
	}
	if tps == 0 {
		c.t.Fatalf("load: no tps in pgbench's output:\n%s", out)
	}
	return tps, out
}
