package e2e

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// No Docker engine runs here and base images cannot be pulled, so
// TestDockerImageStarts runs the image the way the Dockerfile describes it:
// it reads the Dockerfile, does what the build stage's RUN lines do, lays
// out every COPY of the final stage under a directory that stands for the
// image's file system, adds what the distroless base provides, and starts
// the ENTRYPOINT and CMD chrooted there, as the image's USER, in its
// WORKDIR, with exactly its ENV, plus the two listen addresses an operator
// would pass with -e, so the test binds to loopback ports of its own.

// distrolessBase is the final stage's base and what the test lays down for
// it: the nonroot user, /tmp and the user's home. The binary needs nothing
// else of it (no libc, time zones are embedded).
const distrolessBase = "gcr.io/distroless/static-debian12:nonroot"

var distrolessUsers = map[string]int{"root": 0, "nonroot": 65532}

// dockerfile is what the test reads from a Dockerfile.
type dockerfile struct {
	stages []*stage
}

type stage struct {
	from, name string
	steps      []step
}

type step struct {
	line int
	op   string // upper-case instruction
	args string
}

func parseDockerfile(t *testing.T, p string) *dockerfile {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df := &dockerfile{}
	sc := bufio.NewScanner(f)
	var cont strings.Builder
	start := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cont.WriteString(s + " ")
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		op, args, _ := strings.Cut(full, " ")
		op, args = strings.ToUpper(op), strings.TrimSpace(args)
		if op == "FROM" {
			f := strings.Fields(args)
			st := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			t.Fatalf("Dockerfile:%d: %s before FROM", start, op)
		}
		cur := df.stages[len(df.stages)-1]
		cur.steps = append(cur.steps, step{line: start, op: op, args: args})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(df.stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return df
}

func (df *dockerfile) stage(name string) *stage {
	for _, s := range df.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// shellWords splits a command line as sh does for the simple commands a
// RUN line holds: words, '…' and "…" quoting, backslash escapes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				t.Fatalf("unterminated \" in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			i++
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// runBuildStage does what the build stage's RUN lines do, with the
// repository as its WORKDIR (COPY . .) and buildRoot standing for its file
// system: go mod download, go build (static: CGO_ENABLED must be 0), and
// mkdir -p. Anything else is not emulated and fails the test.
func runBuildStage(t *testing.T, st *stage, repo, buildRoot string) {
	t.Helper()
	inRoot := func(p string) string { return filepath.Join(buildRoot, filepath.FromSlash(p)) }
	for _, s := range st.steps {
		if s.op != "RUN" {
			continue
		}
		for _, command := range strings.Split(s.args, "&&") {
			words := shellWords(t, strings.TrimSpace(command))
			env := map[string]string{}
			for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
				k, v, _ := strings.Cut(words[0], "=")
				env[k] = v
				words = words[1:]
			}
			switch {
			case len(words) >= 3 && words[0] == "go" && words[1] == "mod" && words[2] == "download":
				// The module cache is already here.
			case len(words) >= 2 && words[0] == "go" && words[1] == "build":
				if env["CGO_ENABLED"] != "0" {
					t.Fatalf("Dockerfile:%d: go build without CGO_ENABLED=0 does not make the static binary distroless/static needs", s.line)
				}
				args := append([]string(nil), words[1:]...)
				for i := range args {
					if i > 0 && args[i-1] == "-o" && path.IsAbs(args[i]) {
						if err := os.MkdirAll(filepath.Dir(inRoot(args[i])), 0o755); err != nil {
							t.Fatal(err)
						}
						args[i] = inRoot(args[i])
					}
				}
				cmd := exec.Command("go", args...)
				cmd.Dir = repo
				cmd.Env = os.Environ()
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("Dockerfile:%d: go %s: %v\n%s", s.line, strings.Join(args, " "), err, out)
				}
			case len(words) >= 3 && words[0] == "mkdir" && words[1] == "-p":
				for _, d := range words[2:] {
					if err := os.MkdirAll(inRoot(d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			default:
				t.Fatalf("Dockerfile:%d: the test does not emulate %q; teach runBuildStage", s.line, command)
			}
		}
	}
}

// image is the final stage as run: its file system and process.
type image struct {
	root     string
	env      []string
	uid, gid int
	workdir  string
	argv     []string
}

// layOutImage applies the final stage to root: the distroless base, then
// COPY (from the context or a stage's root), USER, WORKDIR, ENV,
// ENTRYPOINT, CMD.
func layOutImage(t *testing.T, st *stage, repo string, stageRoots map[string]string, root string) *image {
	t.Helper()
	if st.from != distrolessBase {
		t.Fatalf("final stage is FROM %s; the test emulates %s: teach it the new base", st.from, distrolessBase)
	}
	asRoot := os.Geteuid() == 0
	mkdir := func(p string, mode fs.FileMode, uid int) {
		if err := os.MkdirAll(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
		if asRoot {
			if err := os.Chown(filepath.Join(root, p), uid, uid); err != nil {
				t.Fatal(err)
			}
		}
	}
	mkdir("/tmp", 0o777|fs.ModeSticky, 0)
	mkdir("/home/nonroot", 0o700, 65532)
	mkdir("/etc", 0o755, 0)
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := &image{root: root, workdir: "/",
		env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/nonroot"}}
	var entrypoint, cmd []string
	user := func(name string) int {
		if id, err := strconv.Atoi(name); err == nil {
			return id
		}
		id, ok := distrolessUsers[name]
		if !ok {
			t.Fatalf("user %q is not in %s", name, distrolessBase)
		}
		return id
	}
	for _, s := range st.steps {
		switch s.op {
		case "COPY":
			words := strings.Fields(s.args)
			from, chown := "", ""
			for len(words) > 0 && strings.HasPrefix(words[0], "--") {
				k, v, _ := strings.Cut(strings.TrimPrefix(words[0], "--"), "=")
				switch k {
				case "from":
					from = v
				case "chown":
					chown = v
				default:
					t.Fatalf("Dockerfile:%d: COPY --%s is not emulated", s.line, k)
				}
				words = words[1:]
			}
			if len(words) < 2 {
				t.Fatalf("Dockerfile:%d: COPY needs a source and a destination", s.line)
			}
			srcs, dest := words[:len(words)-1], words[len(words)-1]
			if !path.IsAbs(dest) {
				dest = path.Join(img.workdir, dest)
			}
			uid, gid := 0, 0
			if chown != "" {
				u, g, _ := strings.Cut(chown, ":")
				uid, gid = user(u), user(g)
			}
			base := repo
			if from != "" {
				var ok bool
				if base, ok = stageRoots[from]; !ok {
					t.Fatalf("Dockerfile:%d: COPY --from=%s: no such stage emulated", s.line, from)
				}
			}
			toDir := strings.HasSuffix(words[len(words)-1], "/") || len(srcs) > 1
			for _, src := range srcs {
				if strings.ContainsAny(src, "*?[") {
					t.Fatalf("Dockerfile:%d: COPY globs are not emulated", s.line)
				}
				from := filepath.Join(base, filepath.FromSlash(src))
				info, err := os.Stat(from)
				if err != nil {
					t.Fatalf("Dockerfile:%d: COPY %s: %v", s.line, src, err)
				}
				to := dest
				if toDir && !info.IsDir() {
					to = path.Join(dest, path.Base(src))
				}
				copyTree(t, from, filepath.Join(root, filepath.FromSlash(to)), asRoot, uid, gid)
			}
		case "USER":
			u, g, ok := strings.Cut(s.args, ":")
			img.uid = user(u)
			img.gid = img.uid
			if ok {
				img.gid = user(g)
			}
		case "WORKDIR":
			if path.IsAbs(s.args) {
				img.workdir = s.args
			} else {
				img.workdir = path.Join(img.workdir, s.args)
			}
			if err := os.MkdirAll(filepath.Join(root, img.workdir), 0o755); err != nil {
				t.Fatal(err)
			}
		case "ENV":
			words := shellWords(t, s.args)
			if len(words) > 0 && !strings.Contains(words[0], "=") {
				img.env = append(img.env, words[0]+"="+strings.Join(words[1:], " "))
				break
			}
			img.env = append(img.env, words...)
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(s.args), &argv); err != nil {
				t.Fatalf("Dockerfile:%d: %s must be in exec form (a JSON array): %v", s.line, s.op, err)
			}
			if s.op == "ENTRYPOINT" {
				entrypoint, cmd = argv, nil // a new ENTRYPOINT resets CMD
			} else {
				cmd = argv
			}
		case "VOLUME", "EXPOSE", "LABEL":
			// No effect on the process.
		default:
			t.Fatalf("Dockerfile:%d: %s in the final stage is not emulated", s.line, s.op)
		}
	}
	img.argv = append(entrypoint, cmd...)
	if len(img.argv) == 0 {
		t.Fatal("the image has neither ENTRYPOINT nor CMD")
	}
	return img
}

// copyTree copies a file, or a directory's contents, as COPY does: modes
// kept, owned by uid:gid (root's unless --chown).
func copyTree(t *testing.T, from, to string, chown bool, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := os.MkdirAll(dst, info.Mode().Perm()); err != nil {
				return err
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
				return err
			}
		}
		if chown {
			return os.Lchown(dst, uid, gid)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copy %s → %s: %v", from, to, err)
	}
}

// TestDockerImageStarts starts the image's default command with the
// image's user, working directory and environment and waits for /readyz.
func TestDockerImageStarts(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	df := parseDockerfile(t, filepath.Join(repo, "Dockerfile"))
	stageRoots := map[string]string{}
	for _, st := range df.stages[:len(df.stages)-1] {
		if st.name == "" {
			t.Fatalf("build stage FROM %s has no name; COPY --from needs one", st.from)
		}
		r := t.TempDir()
		runBuildStage(t, st, repo, r)
		stageRoots[st.name] = r
	}
	// Not t.TempDir: its parents are 0700, and the image's user must reach
	// the root it is chrooted to.
	root, err := os.MkdirTemp("", "wasl-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	img := layOutImage(t, df.stages[len(df.stages)-1], repo, stageRoots, root)
	if img.uid == 0 {
		t.Errorf("the image runs as root; USER must be a non-root user")
	}

	// distroless/static has no dynamic loader: the binary must be static.
	exe := filepath.Join(root, filepath.FromSlash(img.argv[0]))
	ef, err := elf.Open(exe)
	if err != nil {
		t.Fatalf("ENTRYPOINT %s: %v", img.argv[0], err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; distroless/static cannot run it", img.argv[0])
		}
	}
	ef.Close()

	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	env := append(img.env, "WASL_HTTP_ADDR="+httpAddr, "WASL_ADMIN_ADDR="+adminAddr)
	attr := &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(img.uid), Gid: uint32(img.gid)}}
	if os.Geteuid() != 0 {
		// Without root, a user namespace maps the image's user to ours and
		// allows the chroot.
		attr.Cloneflags = syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: img.uid, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: img.gid, HostID: os.Getgid(), Size: 1}}
	}
	logs := &syncBuffer{}
	cmd := &exec.Cmd{Path: img.argv[0], Args: img.argv, Env: env, Dir: img.workdir, SysProcAttr: attr, Stdout: logs, Stderr: logs}
	t.Logf("starting %v as %d:%d in %s with %v (root %s)", img.argv, img.uid, img.gid, img.workdir, env, root)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the image's command: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	ready := func(addr string) (bool, string) {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the image's command exited at start (%v):\n%s", err, tail(logs.String(), 30))
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%s %s", resp.Status, body)
	}
	eventually(t, time.Minute, "/readyz on the public port", func() (bool, string) { return ready(httpAddr) })
	eventually(t, 10*time.Second, "/readyz on the admin port", func() (bool, string) { return ready(adminAddr) })

	// The database lives in the data volume and belongs to the image's user.
	db := filepath.Join(root, "var/lib/wasl/wasl.db")
	info, err := os.Stat(db)
	if err != nil {
		t.Fatalf("no SQLite database in the data volume: %v", err)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && int(st.Uid) != img.uid {
		t.Errorf("wasl.db belongs to uid %d, want the image's user %d", st.Uid, img.uid)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0\n%s", err, tail(logs.String(), 20))
		}
	case <-time.After(45 * time.Second):
		t.Errorf("did not stop within 45s of SIGTERM")
	}
}
