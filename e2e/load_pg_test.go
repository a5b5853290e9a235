package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// loadCluster is the load benchmark's own PostgreSQL cluster. Unlike the
// test suite's (internal/pgtest, fsync off), it keeps PostgreSQL's durable
// defaults: the gateway acknowledges a webhook only after its commit, and
// what that commit costs is what the benchmark measures. Every statement
// can be logged (log_statement per database), for the capture of the
// gateway's own transaction.
type loadCluster struct {
	t    testing.TB
	bin  string
	dir  string
	port int
}

func startLoadCluster(t testing.TB) *loadCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) > pgMajor(bins[j]) })
	c := &loadCluster{t: t}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(b, "pgbench")); err == nil {
			c.bin = b
			break
		}
	}
	if c.bin == "" {
		t.Fatal("load: no PostgreSQL with pgbench in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)")
	}
	dir, err := os.MkdirTemp("", "wasl-load-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		_, _ = c.run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", c.data())
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("load: running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"); err != nil {
		t.Fatalf("load: initdb: %v\n%s", err, out)
	}
	// Durable (fsync, synchronous_commit, full_page_writes at their
	// defaults); enough connections for two gateways' pools and pgbench's
	// 32 clients; the log names each line's process and transaction, so
	// one transaction's statements can be told apart from the rest.
	conf := `max_connections = 120
shared_buffers = 128MB
log_line_prefix = '%m [%p] %v %x '
log_min_messages = warning
`
	if err := os.WriteFile(filepath.Join(c.data(), "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		_, _ = exec.Command("chown", "postgres:", filepath.Join(c.data(), "postgresql.auto.conf")).CombinedOutput()
	}
	var lastErr error
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s", c.port, dir)
		var out []byte
		if out, lastErr = c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", c.logFile(), "-o", opts); lastErr == nil {
			return c
		}
		lastErr = fmt.Errorf("%w\n%s", lastErr, out)
	}
	t.Fatalf("load: pg_ctl start: %v", lastErr)
	return nil
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (c *loadCluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *loadCluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }
func (c *loadCluster) admin() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// run runs a PostgreSQL tool, as the postgres user when we are root.
func (c *loadCluster) run(tool string, args ...string) ([]byte, error) {
	name := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *loadCluster) exec(sql string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.admin())
	if err != nil {
		c.t.Fatalf("load: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		c.t.Fatalf("load: %s: %v", sql, err)
	}
}

// newDB creates a database and returns its URL.
func (c *loadCluster) newDB(name string) string {
	c.t.Helper()
	c.exec("CREATE DATABASE " + name)
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// logSize is how far the server log has grown.
func (c *loadCluster) logSize() int64 {
	fi, err := os.Stat(c.logFile())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince is the server log from offset on.
func (c *loadCluster) logSince(offset int64) string {
	c.t.Helper()
	b, err := os.ReadFile(c.logFile())
	if err != nil {
		c.t.Fatal(err)
	}
	if offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// pgbench runs a script against dbURL's database for d with clients
// connections and returns the transactions per second it reports
// (excluding connection time) and its whole output.
func (c *loadCluster) pgbench(dbName, script string, clients int, d time.Duration) (tps float64, out string) {
	c.t.Helper()
	f := filepath.Join(c.dir, fmt.Sprintf("script-%d.sql", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		c.t.Fatal(err)
	}
	o, err := c.run("pgbench", "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres",
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
