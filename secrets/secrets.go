// Package secrets encrypts the credentials operators enter in the web UI
// (IMAP and SMTP passwords, Twilio auth tokens) before they reach the
// database: AES-256-GCM, a fresh random nonce for every value, and the
// value's owner (the channel id and field) as additional data, so a sealed
// value copied into another row or field does not open.
//
// A sealed value names its key by a short fingerprint, so opening it with
// another key fails with an error that says so instead of "message
// authentication failed". Keys are 32 random bytes, written in base64
// (WASL_SECRET_KEY, or a key file).
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// ErrNoKey is returned when a secret must be stored or read and no key is
// configured. Its text tells the operator how to make one.
var ErrNoKey = errors.New("no secret key is configured, so Wasl will not store this credential (it would be readable in the database): " +
	"make a key with `wasl secrets keygen --out /etc/wasl/secret.key`, then set secret_key_file: /etc/wasl/secret.key " +
	"in the config (or WASL_SECRET_KEY to the key itself) and restart Wasl")

// Key is one AES-256 key. The zero value is not usable; use ParseKey,
// LoadKeyFile or NewKey.
type Key struct {
	aead cipher.AEAD
	id   [idSize]byte
	raw  []byte // for Derive only
}

const (
	idSize  = 8
	version = 1
	// header: magic 'W', version, key id.
	headerSize = 2 + idSize
)

// NewKey returns a random key, base64-encoded, as keygen prints it.
func NewKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b)
}

// ParseKey reads a base64 key (standard or URL alphabet, padded or not).
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret key is empty")
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("secret key is not base64 (make one with `wasl secrets keygen`): %w", err)
	}
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secret key is %d bytes, want %d (make one with `wasl secrets keygen`)", len(raw), KeySize)
	}
	return newKey(raw)
}

// LoadKeyFile reads a key file: the base64 key, optionally followed by a
// newline. A file any user of the machine may read is refused; a group
// may (container secrets often come that way).
func LoadKeyFile(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("secret key file %s is open to every user of the machine (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// WriteKeyFile writes a new random key to path (mode 0600), refusing to
// overwrite a file that exists, and returns it.
func WriteKeyFile(path string) (*Key, error) {
	s := NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return ParseKey(s)
}

func newKey(raw []byte) (*Key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// The fingerprint is a hash of the key under a label of its own, so it
	// tells keys apart and reveals nothing usable about them.
	sum := sha256.Sum256(append([]byte("wasl secret key id\x00"), raw...))
	k := &Key{aead: aead, raw: raw}
	copy(k.id[:], sum[:idSize])
	return k, nil
}

// Derive returns a 32-byte key for another use of the secret key (HKDF-
// SHA256, purpose as the info), so that use never shares a key with the
// credentials' encryption or with a use of another purpose.
func (k *Key) Derive(purpose string) []byte {
	// hkdf.Key fails only for lengths beyond 255 hashes.
	out, _ := hkdf.Key(sha256.New, k.raw, nil, "wasl derived key\x00"+purpose, KeySize)
	return out
}

// ID is the key's fingerprint (16 hex digits), safe to show and log.
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

// WrongKeyError: the value was sealed under another key.
type WrongKeyError struct {
	SealedWith, Have string // key fingerprints
}

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("encrypted with secret key %s, but the key configured is %s: configure the key it was stored with, or re-encrypt with `wasl secrets rotate`",
		e.SealedWith, e.Have)
}

// Seal encrypts plaintext bound to ad: Open needs the same ad.
func (k *Key) Seal(plaintext []byte, ad string) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := make([]byte, 0, headerSize+len(nonce)+len(plaintext)+k.aead.Overhead())
	out = append(out, 'W', version)
	out = append(out, k.id[:]...)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(ad))
}

// Open decrypts a value Seal made with this key and the same ad.
func (k *Key) Open(sealed []byte, ad string) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	if id != k.ID() {
		return nil, &WrongKeyError{SealedWith: id, Have: k.ID()}
	}
	ns := k.aead.NonceSize()
	if len(sealed) < headerSize+ns+k.aead.Overhead() {
		return nil, errors.New("decrypt secret: value is truncated")
	}
	nonce, ct := sealed[headerSize:headerSize+ns], sealed[headerSize+ns:]
	pt, err := k.aead.Open(nil, nonce, ct, []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("decrypt secret: the value does not authenticate under key %s (altered, or stored for another owner)", k.ID())
	}
	return pt, nil
}

// SealedKeyID is the fingerprint of the key a sealed value names.
func SealedKeyID(sealed []byte) (string, error) {
	if len(sealed) < headerSize || sealed[0] != 'W' {
		return "", errors.New("decrypt secret: not a value sealed by Wasl")
	}
	if sealed[1] != version {
		return "", fmt.Errorf("decrypt secret: unknown format version %d", sealed[1])
	}
	return hex.EncodeToString(sealed[2:headerSize]), nil
}

// fieldsDoc is how a channel's secrets are kept in one database column:
// each field sealed on its own, with the channel id and the field's name as
// additional data.
type fieldsDoc struct {
	V      int               `json:"v"`
	Fields map[string][]byte `json:"fields"` // base64 in JSON
}

func fieldAD(owner int64, field string) string {
	return fmt.Sprintf("wasl channel %d secret %s", owner, field)
}

// SealFields seals each non-empty value of fields for the channel owner
// and returns the document to store. It refuses a nil key with ErrNoKey.
func SealFields(k *Key, owner int64, fields map[string]string) ([]byte, error) {
	if owner <= 0 {
		return nil, fmt.Errorf("seal secrets: owner id must be positive, got %d", owner)
	}
	doc := fieldsDoc{V: version, Fields: map[string][]byte{}}
	for name, v := range fields {
		if v == "" {
			continue
		}
		if k == nil {
			return nil, ErrNoKey
		}
		doc.Fields[name] = k.Seal([]byte(v), fieldAD(owner, name))
	}
	if len(doc.Fields) == 0 {
		return nil, nil
	}
	return json.Marshal(doc)
}

// OpenFields opens a document SealFields made for owner. An empty
// document has no fields.
func OpenFields(k *Key, owner int64, doc []byte) (map[string]string, error) {
	d, err := parseDoc(doc)
	if err != nil || len(d.Fields) == 0 {
		return map[string]string{}, err
	}
	if k == nil {
		return nil, ErrNoKeyToOpen
	}
	out := make(map[string]string, len(d.Fields))
	for _, name := range sortedNames(d.Fields) {
		pt, err := k.Open(d.Fields[name], fieldAD(owner, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = string(pt)
	}
	return out, nil
}

// ErrNoKeyToOpen: stored credentials are encrypted and no key is configured.
var ErrNoKeyToOpen = errors.New("the stored credentials are encrypted, but no secret key is configured to decrypt them: set WASL_SECRET_KEY or secret_key_file to the key they were stored with")

// FieldNames lists the fields a document holds, without opening them.
func FieldNames(doc []byte) ([]string, error) {
	d, err := parseDoc(doc)
	if err != nil {
		return nil, err
	}
	return sortedNames(d.Fields), nil
}

// Reseal opens doc with old and seals every field again with new, each
// with a fresh nonce. A document already under new is resealed all the same
// (it opens with new), so a rotation that stopped half-way can be run again.
func Reseal(old, new *Key, owner int64, doc []byte) ([]byte, error) {
	d, err := parseDoc(doc)
	if err != nil || len(d.Fields) == 0 {
		return doc, err
	}
	fields := make(map[string]string, len(d.Fields))
	for _, name := range sortedNames(d.Fields) {
		k := old
		if id, _ := SealedKeyID(d.Fields[name]); id == new.ID() {
			k = new
		}
		pt, err := k.Open(d.Fields[name], fieldAD(owner, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		fields[name] = string(pt)
	}
	return SealFields(new, owner, fields)
}

func parseDoc(doc []byte) (fieldsDoc, error) {
	var d fieldsDoc
	if len(bytes.TrimSpace(doc)) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return d, fmt.Errorf("stored secrets are not readable: %w", err)
	}
	if d.V != version {
		return d, fmt.Errorf("stored secrets: unknown format version %d", d.V)
	}
	return d, nil
}

func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
