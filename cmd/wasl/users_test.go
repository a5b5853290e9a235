package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
)

// wasl user add / passwd / disable / token against a real SQLite store.
func TestUserCommands(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	bank, _ := filepath.Abs(bankFile)
	cfgPath := filepath.Join(dir, "wasl.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: "+filepath.Join(dir, "data")+"\nknowledge_bank: "+bank+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwLine := regexp.MustCompile(`(?m)^password: (\S+)$`)

	r := runWasl(t, "user", "add", "--config", cfgPath, "--email", "Head@Uni.Example", "--name", "رئيس القسم",
		"--role", "agent", "--department", "classrooms", "--department", "maintenance_center")
	if r.code != 0 {
		t.Fatalf("user add: %d %s", r.code, r.stderr)
	}
	m := pwLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("user add printed no generated password: %q", r.stdout)
	}
	generated := m[1]
	if strings.Contains(r.stderr, generated) {
		t.Error("the generated password is in the log")
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown department", []string{"--email", "x@uni.example", "--name", "X", "--department", "physics"}, "not in the bank"},
		{"bad role", []string{"--email", "x@uni.example", "--name", "X", "--role", "root"}, "want agent or operator"},
		{"taken email", []string{"--email", "head@uni.example", "--name", "X"}, "exists"},
		{"no name", []string{"--email", "x@uni.example"}, "--name is required"},
	} {
		r := runWasl(t, append([]string{"user", "add", "--config", cfgPath}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tt.name, r.code, r.stderr, tt.want)
		}
	}

	st, err := store.Open(context.Background(), "", filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByEmail(context.Background(), "head@uni.example")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != store.RoleAgent || len(u.Departments) != 2 || u.Name != "رئيس القسم" || !u.Active {
		t.Errorf("stored user %+v", u)
	}
	if ok, _ := inbox.VerifyPassword(u.PasswordHash, generated); !ok {
		t.Error("the printed password does not match the stored hash")
	}

	// A new password from stdin; too short is refused.
	withStdin(t, "short\n")
	if r := runWasl(t, "user", "passwd", "--config", cfgPath, "--email", "head@uni.example", "--password-stdin"); r.code != 2 {
		t.Errorf("short password: exit %d", r.code)
	}
	withStdin(t, "a much longer passphrase\n")
	if r := runWasl(t, "user", "passwd", "--config", cfgPath, "--email", "head@uni.example", "--password-stdin"); r.code != 0 || strings.Contains(r.stdout, "passphrase") {
		t.Errorf("passwd: %d %q %q", r.code, r.stdout, r.stderr)
	}
	u, _ = st.UserByEmail(context.Background(), "head@uni.example")
	if ok, _ := inbox.VerifyPassword(u.PasswordHash, "a much longer passphrase"); !ok {
		t.Error("passwd did not store the new password")
	}

	r = runWasl(t, "user", "token", "--config", cfgPath, "--email", "head@uni.example")
	if r.code != 0 || !strings.Contains(r.stdout, "wasl_pat_") {
		t.Errorf("token: %d %q", r.code, r.stdout)
	}

	if r := runWasl(t, "user", "disable", "--config", cfgPath, "--email", "head@uni.example"); r.code != 0 {
		t.Errorf("disable: %d %s", r.code, r.stderr)
	}
	u, _ = st.UserByEmail(context.Background(), "head@uni.example")
	if u.Active {
		t.Error("user still active after disable")
	}
	if r := runWasl(t, "user", "disable", "--config", cfgPath, "--email", "ghost@uni.example"); r.code != 2 {
		t.Errorf("disable unknown: exit %d", r.code)
	}
}

// withStdin points os.Stdin at a file holding s for the rest of the test.
func withStdin(t *testing.T, s string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	prev := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = prev; f.Close() })
}
