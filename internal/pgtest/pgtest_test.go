package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestURLGivesFreshEmptyDatabases(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("first", func(t *testing.T) {
		first = URL(t)
		conn := connect(t, first)
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
	})
	second := URL(t)
	if second == first {
		t.Fatalf("two calls returned the same database %s", first)
	}
	conn := connect(t, second)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if n != 0 {
		t.Errorf("fresh database has %d tables, want 0", n)
	}
	// The first subtest has ended, so its database must be gone.
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", dbName(t, first)).Scan(&n); err != nil {
		t.Fatalf("look up first database: %v", err)
	}
	if n != 0 {
		t.Errorf("database of the finished test still exists")
	}
}

// TestEnvURL points WASL_TEST_PG_URL at the shared cluster: databases are
// then made on that server rather than in a new cluster.
func TestEnvURL(t *testing.T) {
	admin, err := shared.adminURL()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvURL, admin)
	u := URL(t)
	if !strings.HasPrefix(u, strings.TrimSuffix(admin, "/postgres?sslmode=disable")+"/wasl_test_") {
		t.Errorf("URL %q is not a new database on %q", u, admin)
	}
	var one int
	if err := connect(t, u).QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("SELECT 1 = %d, %v", one, err)
	}
}

func TestFindBinDir(t *testing.T) {
	fake := t.TempDir()
	bin := filepath.Join(fake, "17", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	incomplete := filepath.Join(fake, "18", "bin")
	if err := os.MkdirAll(incomplete, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(incomplete, "pg_ctl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, pattern string
		want                string
		wantErr             bool
	}{
		{"from PATH", bin, filepath.Join(t.TempDir(), "*", "bin"), bin, false},
		{"from pattern, skipping incomplete newer", "", filepath.Join(fake, "*", "bin"), bin, false},
		{"missing", t.TempDir(), filepath.Join(t.TempDir(), "*", "bin"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinDir(tt.path, tt.pattern)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") || !strings.Contains(err.Error(), EnvURL) {
					t.Fatalf("err = %v, want a hint to install postgresql or set %s", err, EnvURL)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("findBinDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatalf("connect %s: %v", u, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbName(t *testing.T, u string) string {
	t.Helper()
	i := strings.LastIndex(u, "/")
	name, _, _ := strings.Cut(u[i+1:], "?")
	return name
}

func TestReapOrphans(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]int{
		"wasl-pgtest-dead":  dead.Process.Pid,
		"wasl-pgtest-alive": os.Getpid(),
	}
	for name, pid := range dirs {
		if err := os.Mkdir(filepath.Join(tmp, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name, "owner.pid"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reapOrphans(t.TempDir())
	if _, err := os.Stat(filepath.Join(tmp, "wasl-pgtest-dead")); !os.IsNotExist(err) {
		t.Errorf("directory of a dead owner was kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "wasl-pgtest-alive")); err != nil {
		t.Errorf("directory of a live owner was removed: %v", err)
	}
}

// A test's own cluster can be stopped, refusing connections, and started
// again on the same URL with its data intact.
func TestClusterStopStart(t *testing.T) {
	ctx := context.Background()
	c := NewCluster(t)
	u := c.URL()
	conn := connect(t, u)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	c.Stop()
	if conn, err := pgx.Connect(ctx, u); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped cluster")
	}
	c.Start()
	var v string
	if err := connect(t, u).QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Errorf("after restart: %q, %v; want the row written before", v, err)
	}
}

// The shared cluster and a test's own are fast (no fsync) unless Durable;
// Config's lines win over pgtest's own.
func TestClusterSettings(t *testing.T) {
	fast := map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "32MB"}
	tests := []struct {
		name string
		url  func(t *testing.T) string
		want map[string]string
	}{
		{"shared", func(t *testing.T) string {
			if os.Getenv(EnvURL) != "" {
				t.Skipf("%s names a server of its own settings", EnvURL)
			}
			return URL(t)
		}, fast},
		{"own", func(t *testing.T) string { return NewCluster(t).URL() }, fast},
		{"durable with config", func(t *testing.T) string {
			return NewCluster(t, Durable(), Config("shared_buffers = 128MB", "log_line_prefix = '%m [%p] %v '")).URL()
		}, map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "shared_buffers": "128MB", "log_line_prefix": "%m [%p] %v "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := connect(t, tt.url(t))
			for name, want := range tt.want {
				var got string
				if err := conn.QueryRow(context.Background(), "SELECT current_setting($1)", name).Scan(&got); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// A tool of the cluster's installation runs against it on Port, and the
// server's log is where LogFile says.
func TestClusterRunToolAndLog(t *testing.T) {
	c := NewCluster(t, Config("log_statement = 'all'"))
	out, err := c.RunTool("psql", "-X", "-tA", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port()), "-U", "postgres",
		"-c", "SELECT 'pgtest-' || 'marker'", "postgres")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "pgtest-marker" {
		t.Errorf("psql printed %q, want pgtest-marker", got)
	}
	log, err := os.ReadFile(c.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "statement: SELECT 'pgtest-' || 'marker'") {
		t.Errorf("the statement is not in %s:\n%s", c.LogFile(), log)
	}
	if !strings.HasPrefix(c.AdminURL(), "postgres://postgres@127.0.0.1:"+strconv.Itoa(c.Port())+"/postgres") {
		t.Errorf("AdminURL %q is not the postgres database on port %d", c.AdminURL(), c.Port())
	}
	if _, err := os.Stat(filepath.Join(c.BinDir(), "initdb")); err != nil {
		t.Errorf("BinDir %s: %v", c.BinDir(), err)
	}
}
