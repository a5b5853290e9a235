package forms

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// A page carries one token: a random submission key (the message's
// external id, so a double click, a refresh or a retried POST makes one
// ticket), the time the page was served, and a MAC over both and the topic
// with a key every replica shares. The time is what the minimum fill time
// is measured from; the MAC keeps a bot from choosing it.

const (
	keySize   = 16
	macSize   = 16
	tokenSize = keySize + 8 + macSize
)

var errBadToken = errors.New("the form's token is not one of ours")

// token is what a page's hidden field carries.
type token struct {
	key    [keySize]byte
	issued time.Time
}

func newToken(now time.Time) (token, error) {
	t := token{issued: now.Truncate(time.Second)}
	if _, err := rand.Read(t.key[:]); err != nil {
		return token{}, err
	}
	return t, nil
}

// Key is the submission key as it appears in URLs and external ids.
func (t token) Key() string { return base64.RawURLEncoding.EncodeToString(t.key[:]) }

func mac(secret []byte, topic string, payload []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(payload)
	h.Write([]byte(topic))
	return h.Sum(nil)[:macSize]
}

func (t token) sign(secret []byte, topic string) string {
	b := make([]byte, 0, tokenSize)
	b = append(b, t.key[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.issued.Unix()))
	b = append(b, mac(secret, topic, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseToken(secret []byte, topic, s string) (token, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenSize {
		return token{}, errBadToken
	}
	payload := b[:keySize+8]
	if !hmac.Equal(b[keySize+8:], mac(secret, topic, payload)) {
		return token{}, errBadToken
	}
	var t token
	copy(t.key[:], b[:keySize])
	t.issued = time.Unix(int64(binary.BigEndian.Uint64(b[keySize:keySize+8])), 0)
	return t, nil
}

// validKey reports whether s looks like a submission key, so a page never
// asks the database about anything else.
func validKey(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == keySize
}
