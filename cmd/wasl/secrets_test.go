package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// TestSecretsKeygenRotate: keygen writes a key file (0600, never over an
// existing one); rotate re-encrypts every stored credential under the new
// key, and with a key that does not open them changes nothing.
func TestSecretsKeygenRotate(t *testing.T) {
	cleanEnv(t)
	t.Setenv("WASL_SECRET_KEY", "")
	keys := t.TempDir()
	oldFile, newFile := filepath.Join(keys, "old.key"), filepath.Join(keys, "new.key")
	for _, f := range []string{oldFile, newFile} {
		if r := runWasl(t, "secrets", "keygen", "--out", f); r.code != 0 || !strings.Contains(r.stdout, "secret_key_file: "+f) {
			t.Fatalf("keygen: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file %s: %v %v", f, fi, err)
		}
	}
	if r := runWasl(t, "secrets", "keygen", "--out", oldFile); r.code == 0 {
		t.Error("keygen overwrote a key file")
	}
	oldKey, err := secrets.LoadKeyFile(oldFile)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := secrets.LoadKeyFile(newFile)
	if err != nil {
		t.Fatal(err)
	}

	dir := dbtest.SQLiteDir(t, store.MigrateAt)
	bank, _ := filepath.Abs("../../configs/bank.yaml")
	cfg := filepath.Join(t.TempDir(), "wasl.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\nknowledge_bank: "+bank+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, name := range []string{"mail-a", "sms-b"} {
		c := store.Channel{Name: name, Kind: message.Email, Enabled: true}
		err := st.InTx(ctx, func(tx *store.Tx) error {
			return tx.CreateChannel(ctx, &c, func(id int64) ([]byte, error) {
				return secrets.SealFields(oldKey, id, map[string]string{"imap.password": "pw-of-" + name})
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	st.Close()

	opened := func(k *secrets.Key) (map[int64]string, error) {
		st, err := store.Open(ctx, "", dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		out := map[int64]string{}
		for _, id := range ids {
			c, err := st.Channel(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			f, err := secrets.OpenFields(k, id, c.Secret)
			if err != nil {
				return nil, err
			}
			out[id] = f["imap.password"]
		}
		return out, nil
	}

	r := runWasl(t, "secrets", "rotate", "--config", cfg, "--old-key-file", oldFile, "--new-key-file", newFile)
	if r.code != 0 || !strings.Contains(r.stdout, "re-encrypted the credentials of 2 channels from key "+oldKey.ID()+" to key "+newKey.ID()) {
		t.Fatalf("rotate: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got, err := opened(newKey); err != nil || got[ids[0]] != "pw-of-mail-a" || got[ids[1]] != "pw-of-sms-b" {
		t.Errorf("under the new key: %v %v", got, err)
	}
	var wrong *secrets.WrongKeyError
	if _, err := opened(oldKey); !errors.As(err, &wrong) {
		t.Errorf("the old key still opens them: %v", err)
	}
	// Run again, it is a no-op that succeeds (a rotation stopped half-way
	// can be finished); from a key that opens none of them to a third one,
	// nothing changes.
	if r := runWasl(t, "secrets", "rotate", "--config", cfg, "--old-key-file", oldFile, "--new-key-file", newFile); r.code != 0 {
		t.Errorf("rotate again: %d %s", r.code, r.stderr)
	}
	third := filepath.Join(keys, "third.key")
	if r := runWasl(t, "secrets", "keygen", "--out", third); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = runWasl(t, "secrets", "rotate", "--config", cfg, "--old-key-file", oldFile, "--new-key-file", third)
	if r.code == 0 || !strings.Contains(r.stderr, "nothing changed") {
		t.Errorf("rotate with the wrong old key: %d %s", r.code, r.stderr)
	}
	if got, err := opened(newKey); err != nil || got[ids[0]] != "pw-of-mail-a" {
		t.Errorf("after a failed rotation: %v %v", got, err)
	}
}
