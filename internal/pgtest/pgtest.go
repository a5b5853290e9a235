// Package pgtest gives tests a fresh, empty PostgreSQL database.
//
// With WASL_TEST_PG_URL set, databases are created on that server. Otherwise
// one throwaway cluster is started per test binary from the PostgreSQL
// binaries on the machine. Either way each URL call gets its own database,
// dropped when the test ends.
//
// A test binary that uses URL must stop the cluster from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points tests at an existing server. Its
// user must be allowed to CREATE DATABASE.
const EnvURL = "WASL_TEST_PG_URL"

const installHint = "install postgresql (apt-get install -y postgresql) or set " + EnvURL

// shared is this test binary's cluster. Package-level state is deliberate
// here, in a test helper only: starting a cluster costs seconds, so every
// test of the binary shares one, started lazily on first use and stopped by
// Main. All of its fields are guarded by its own sync primitives.
var shared cluster

// URL returns a postgres:// URL for a new, empty database that is dropped in
// t.Cleanup. It fails the test if no server can be had.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		var err error
		admin, err = shared.adminURL()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	u, err := createDB(admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDB(admin, u); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// TemplateURL is URL for a database that starts as a copy of a template
// (CREATE DATABASE … TEMPLATE, a file copy on the server): the template is
// made once per test binary and key by init, which gets its URL and must
// close every connection it opened before it returns. Migrating a schema
// once and copying it is much faster than migrating every test's database,
// above all under -race. An init error fails every test that asks for it.
func TemplateURL(t testing.TB, key string, init func(url string) error) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		var err error
		if admin, err = shared.adminURL(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	tmpl, err := shared.template(admin, key, init)
	if err != nil {
		t.Fatalf("pgtest: template %q: %v", key, err)
	}
	u, err := createDBFrom(admin, tmpl)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDB(admin, u); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// Main runs the tests, then drops the templates and stops the cluster if
// one was started. Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if err := shared.dropTemplates(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	if err := shared.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	return code
}

// template is one template database, made once.
type template struct {
	once  sync.Once
	admin string
	url   string
	err   error
}

func (c *cluster) template(admin, key string, init func(string) error) (string, error) {
	c.mu.Lock()
	if c.templates == nil {
		c.templates = map[string]*template{}
	}
	tp, ok := c.templates[key]
	if !ok {
		tp = &template{admin: admin}
		c.templates[key] = tp
	}
	c.mu.Unlock()
	tp.once.Do(func() {
		if tp.url, tp.err = createDB(admin); tp.err != nil {
			return
		}
		tp.err = init(tp.url)
	})
	return tp.url, tp.err
}

func (c *cluster) dropTemplates() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, tp := range c.templates {
		if tp.url != "" {
			errs = append(errs, dropDB(tp.admin, tp.url))
		}
	}
	c.templates = nil
	return errors.Join(errs...)
}

// createDB makes a database with a random name on the server of admin and
// returns the URL of the new database.
func createDB(admin string) (string, error) { return createDBFrom(admin, "") }

// createDBFrom is createDB copying the database of templateURL, if not "".
func createDBFrom(admin, templateURL string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	name := "wasl_test_" + hex.EncodeToString(b[:])
	stmt := "CREATE DATABASE " + name
	if templateURL != "" {
		tu, err := url.Parse(templateURL)
		if err != nil {
			return "", fmt.Errorf("template: %w", err)
		}
		stmt += " TEMPLATE " + strings.TrimPrefix(tu.Path, "/")
	}
	if err := adminExec(admin, stmt); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDB(admin, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("drop database: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	// FORCE: a test that forgot to close its pool must not leak the database.
	if err := adminExec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func adminExec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// cluster is a PostgreSQL cluster in a temporary directory.
type cluster struct {
	once sync.Once
	url  string
	err  error

	mu        sync.Mutex // guards dir, binDir and templates
	dir       string
	binDir    string
	templates map[string]*template
}

func (c *cluster) adminURL() (string, error) {
	c.once.Do(func() {
		c.url, c.err = c.start()
		if c.err != nil {
			c.err = fmt.Errorf("start throwaway PostgreSQL cluster: %w", c.err)
		}
	})
	return c.url, c.err
}

func (c *cluster) start() (string, error) {
	bin, err := findBinDir(os.Getenv("PATH"), "/usr/lib/postgresql/*/bin")
	if err != nil {
		return "", err
	}
	reapOrphans(bin)
	dir, err := initCluster(bin, settings{})
	if dir != "" {
		c.mu.Lock()
		c.dir, c.binDir = dir, bin
		c.mu.Unlock()
	}
	if err != nil {
		return "", err
	}
	// A port picked by the kernel can be taken again before postgres binds
	// it; try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		if lastErr = startCluster(bin, dir, port); lastErr == nil {
			return adminURLFor(port), nil
		}
	}
	return "", lastErr
}

func adminURLFor(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// initCluster makes a new cluster in a temporary directory, which it
// returns even on error, so the caller can remove it.
func initCluster(bin string, s settings) (string, error) {
	dir, err := os.MkdirTemp("", "wasl-pgtest-")
	if err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	// Recorded so a later run can stop this cluster if we die before Main.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return dir, fmt.Errorf("write owner pid: %w", err)
	}
	if err := chownToPostgres(dir); err != nil {
		return dir, err
	}
	data := filepath.Join(dir, "data")
	args := []string{"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"}
	if !s.durable {
		args = append(args, "--no-sync")
	}
	if out, err := runPG(dir, filepath.Join(bin, "initdb"), args...); err != nil {
		return dir, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// In postgresql.conf rather than as -c flags, which would override the
	// caller's lines; later lines win, so the caller's come last.
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return dir, fmt.Errorf("open postgresql.conf: %w", err)
	}
	_, err = f.WriteString(s.conf())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dir, fmt.Errorf("write postgresql.conf: %w", err)
	}
	return dir, nil
}

// settings are a cluster's departures from the defaults, set by Options.
type settings struct {
	durable bool
	lines   []string
}

// conf is what settings add to the end of postgresql.conf.
func (s settings) conf() string {
	var b strings.Builder
	b.WriteString("\n# pgtest\n")
	if !s.durable {
		// Durability is worthless for a throwaway cluster; speed is not.
		b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	}
	// Small, since every test binary of a run may have a cluster.
	b.WriteString("shared_buffers = 32MB\n")
	for _, l := range s.lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Option changes how NewCluster sets its cluster up.
type Option func(*settings)

// Durable keeps PostgreSQL's durable defaults (fsync, synchronous_commit,
// full_page_writes on, and initdb syncing its files), for a benchmark
// whose figures must include what a commit really costs.
func Durable() Option { return func(s *settings) { s.durable = true } }

// Config adds lines to postgresql.conf, after pgtest's own, so they win:
// Config("max_connections = 120", "log_min_messages = warning").
func Config(lines ...string) Option {
	return func(s *settings) { s.lines = append(s.lines, lines...) }
}

// startCluster starts the cluster in dir on port and waits until it takes
// connections.
func startCluster(bin, dir string, port int) error {
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s", port, dir)
	logFile := logPath(dir)
	out, err := runPG(dir, filepath.Join(bin, "pg_ctl"), "start", "-w", "-t", "60", "-D", filepath.Join(dir, "data"), "-l", logFile, "-o", opts)
	if err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

func (c *cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		return nil
	}
	dir := c.dir
	c.dir = ""
	return stopCluster(c.binDir, dir)
}

func stopCluster(bin, dir string) error {
	data := filepath.Join(dir, "data")
	var stopErr error
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		if out, err := runPG(dir, filepath.Join(bin, "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", data); err != nil {
			stopErr = fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
		}
	}
	if err := os.RemoveAll(dir); err != nil && stopErr == nil {
		stopErr = fmt.Errorf("remove %s: %w", dir, err)
	}
	return stopErr
}

// reapOrphans stops clusters left by test binaries that died before Main
// could stop them (a panic, a -timeout), so they do not pile up.
func reapOrphans(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "wasl-pgtest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = stopCluster(bin, dir)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// findBinDir returns the directory holding initdb, pg_ctl and postgres:
// first from PATH (following symlinks, so all three come from one
// installation), then the newest match of pattern.
func findBinDir(path, pattern string) (string, error) {
	var candidates []string
	for _, d := range filepath.SplitList(path) {
		if p, err := filepath.EvalSymlinks(filepath.Join(d, "pg_ctl")); err == nil {
			candidates = append(candidates, filepath.Dir(p))
		}
	}
	globbed, _ := filepath.Glob(pattern)
	// Newest major version first: /usr/lib/postgresql/16/bin before 15.
	sort.Slice(globbed, func(i, j int) bool { return versionOf(globbed[i]) > versionOf(globbed[j]) })
	candidates = append(candidates, globbed...)
	for _, d := range candidates {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in PATH or %s: %s", pattern, installHint)
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runPG runs a PostgreSQL tool. initdb and postgres refuse to run as root,
// so as root they run as the postgres user through runuser.
func runPG(dir, name string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			return nil, fmt.Errorf("running as root needs runuser (util-linux) to drop to the postgres user: %w", err)
		}
		cmd = exec.Command(runuser, append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	// The test's working directory may not be readable by postgres.
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// chownToPostgres hands dir to the postgres user when we are root, since
// the cluster's processes run as that user.
func chownToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs a postgres user to run the cluster as (%s): %w", installHint, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	if err := os.Chown(filepath.Join(dir, "owner.pid"), uid, gid); err != nil {
		return fmt.Errorf("chown owner.pid: %w", err)
	}
	return nil
}

// Cluster is a PostgreSQL cluster of one test's own. Unlike the shared
// cluster behind URL, the test may stop and start it, to see what the code
// under test does while its database is down. It keeps its port, so URLs
// handed out stay valid across a restart. It needs the PostgreSQL server
// binaries even when WASL_TEST_PG_URL is set.
type Cluster struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu      sync.Mutex
	running bool
}

// NewCluster starts a cluster for t, removed when t ends. Without options
// it is set up like the shared cluster: fast, not durable.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	var s settings
	for _, o := range opts {
		o(&s)
	}
	bin, err := findBinDir(os.Getenv("PATH"), "/usr/lib/postgresql/*/bin")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := initCluster(bin, s)
	if dir != "" {
		t.Cleanup(func() {
			if err := stopCluster(bin, dir); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir}
	var lastErr error
	for range 3 {
		if c.port, err = freePort(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if lastErr = startCluster(bin, dir, c.port); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("pgtest: %v", lastErr)
	}
	c.running = true
	return c
}

// URL returns a postgres:// URL for a new, empty database on the cluster.
// The cluster must be running.
func (c *Cluster) URL() string {
	c.t.Helper()
	u, err := createDB(c.AdminURL())
	if err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
	return u
}

// AdminURL is the URL of the cluster's postgres database, as the
// superuser postgres.
func (c *Cluster) AdminURL() string { return adminURLFor(c.port) }

// Port is the TCP port the cluster listens on, at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// BinDir is the directory of the PostgreSQL installation the cluster runs
// from, where its other tools (pgbench, psql) may be found.
func (c *Cluster) BinDir() string { return c.bin }

// Dir is the cluster's directory (its data directory, socket and log are
// in it). The postgres user can read it, so files a tool run by RunTool
// reads can be put there.
func (c *Cluster) Dir() string { return c.dir }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return logPath(c.dir) }

func logPath(dir string) string { return filepath.Join(dir, "postgres.log") }

// RunTool runs a tool of BinDir (pgbench, psql) in Dir, as the postgres
// user when we are root, and returns its combined output.
func (c *Cluster) RunTool(tool string, args ...string) ([]byte, error) {
	return runPG(c.dir, filepath.Join(c.bin, tool), args...)
}

// Stop shuts the cluster down (fast: open connections are cut, as when a
// database server goes away) and waits until it is down.
func (c *Cluster) Stop() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return
	}
	if out, err := runPG(c.dir, filepath.Join(c.bin, "pg_ctl"), "stop", "-m", "fast", "-w", "-D", filepath.Join(c.dir, "data")); err != nil {
		c.t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	c.running = false
}

// Start starts the stopped cluster again, on its port, and waits until it
// takes connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	if err := startCluster(c.bin, c.dir, c.port); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
	c.running = true
}
