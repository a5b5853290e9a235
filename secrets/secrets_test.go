package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T) *Key {
	t.Helper()
	k, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustKey(t)
	a := k.Seal([]byte("hunter2 كلمة السر"), "ad-1")
	b := k.Seal([]byte("hunter2 كلمة السر"), "ad-1")
	if bytes.Equal(a, b) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if bytes.Contains(a, []byte("hunter2")) {
		t.Error("the plaintext is in the sealed value")
	}
	pt, err := k.Open(a, "ad-1")
	if err != nil || string(pt) != "hunter2 كلمة السر" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	for _, tc := range []struct {
		name   string
		sealed []byte
		ad     string
		want   string
	}{
		{"other owner", a, "ad-2", "does not authenticate"},
		{"flipped byte", flip(a, len(a)-1), "ad-1", "does not authenticate"},
		{"truncated", a[:headerSize+3], "ad-1", "truncated"},
		{"not ours", []byte("plain text"), "ad-1", "not a value sealed by Wasl"},
		{"empty", nil, "ad-1", "not a value sealed by Wasl"},
		{"future version", append([]byte{'W', 9}, a[2:]...), "ad-1", "unknown format version 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Open(tc.sealed, tc.ad); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	other := mustKey(t)
	_, err = other.Open(a, "ad-1")
	var wk *WrongKeyError
	if !errors.As(err, &wk) || wk.SealedWith != k.ID() || wk.Have != other.ID() {
		t.Fatalf("Open with another key = %v, want a WrongKeyError naming both keys", err)
	}
	if !strings.Contains(err.Error(), "wasl secrets rotate") {
		t.Errorf("the wrong-key error does not say what to do: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestParseKey(t *testing.T) {
	good := NewKey()
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"standard", good, ""},
		{"with newline", good + "\n", ""},
		{"empty", "", "empty"},
		{"not base64", "not base64 at all!", "not base64"},
		{"short", "c2hvcnQ=", "is 5 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey(tc.in)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("ParseKey(%q) = %v, want error %q", tc.in, err, tc.wantErr)
			}
		})
	}
	a, _ := ParseKey(good)
	b, _ := ParseKey(good + "\n")
	if a.ID() != b.ID() || len(a.ID()) != 16 {
		t.Errorf("IDs %q, %q: want one 16-digit fingerprint per key", a.ID(), b.ID())
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	k, err := WriteKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteKeyFile(path); err == nil {
		t.Error("WriteKeyFile overwrote an existing key")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadKeyFile(path)
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("LoadKeyFile = %v, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "open to every user") {
		t.Errorf("a world-readable key file: %v", err)
	}
}

func TestFields(t *testing.T) {
	k := mustKey(t)
	in := map[string]string{"imap.password": "imap-secret", "smtp.password": "smtp-secret", "twilio.auth_token": ""}
	doc, err := SealFields(k, 7, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"imap-secret", "smtp-secret"} {
		if bytes.Contains(doc, []byte(s)) {
			t.Errorf("%s is in the document in clear", s)
		}
	}
	names, err := FieldNames(doc)
	if err != nil || strings.Join(names, ",") != "imap.password,smtp.password" {
		t.Errorf("FieldNames = %v, %v (empty values are not stored)", names, err)
	}
	got, err := OpenFields(k, 7, doc)
	if err != nil || got["imap.password"] != "imap-secret" || got["smtp.password"] != "smtp-secret" || len(got) != 2 {
		t.Fatalf("OpenFields = %v, %v", got, err)
	}
	if _, err := OpenFields(k, 8, doc); err == nil {
		t.Error("a document for channel 7 opened as channel 8's")
	}
	if _, err := OpenFields(nil, 7, doc); !errors.Is(err, ErrNoKeyToOpen) {
		t.Errorf("OpenFields without a key = %v", err)
	}
	if _, err := SealFields(nil, 7, in); !errors.Is(err, ErrNoKey) {
		t.Errorf("SealFields without a key = %v, want ErrNoKey", err)
	}
	if !strings.Contains(ErrNoKey.Error(), "wasl secrets keygen") {
		t.Error("ErrNoKey does not say how to make a key")
	}
	if doc, err := SealFields(nil, 7, map[string]string{"x": ""}); err != nil || doc != nil {
		t.Errorf("nothing to seal without a key: %q, %v", doc, err)
	}
	if got, err := OpenFields(nil, 7, nil); err != nil || len(got) != 0 {
		t.Errorf("an empty document: %v, %v", got, err)
	}

	// Rotation: every field under the new key, each with a new nonce; the
	// old key no longer opens it; resealing again is harmless.
	nk := mustKey(t)
	re, err := Reseal(k, nk, 7, doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFields(k, 7, re); err == nil {
		t.Error("the old key still opens the resealed document")
	}
	if got, err := OpenFields(nk, 7, re); err != nil || got["imap.password"] != "imap-secret" {
		t.Fatalf("OpenFields(new) = %v, %v", got, err)
	}
	again, err := Reseal(k, nk, 7, re)
	if err != nil {
		t.Fatalf("resealing a document already under the new key: %v", err)
	}
	if got, _ := OpenFields(nk, 7, again); got["smtp.password"] != "smtp-secret" {
		t.Errorf("after a second rotation: %v", got)
	}
	third := mustKey(t)
	if _, err := Reseal(third, nk, 7, doc); err == nil {
		t.Error("Reseal with the wrong old key succeeded")
	}
}

// TestDerive: a derived key is the same for the same key and purpose
// (another process parsing the same key gets it too), and differs by
// purpose and by key.
func TestDerive(t *testing.T) {
	s := NewKey()
	a, _ := ParseKey(s)
	b, _ := ParseKey(s)
	other := mustKey(t)
	tests := []struct {
		name string
		x, y []byte
		same bool
	}{
		{"same key and purpose", a.Derive("survey links"), b.Derive("survey links"), true},
		{"other purpose", a.Derive("survey links"), a.Derive("something else"), false},
		{"other key", a.Derive("survey links"), other.Derive("survey links"), false},
	}
	for _, tt := range tests {
		if len(tt.x) != KeySize || bytes.Equal(tt.x, tt.y) != tt.same {
			t.Errorf("%s: %x vs %x, want same=%v", tt.name, tt.x, tt.y, tt.same)
		}
	}
}
