package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/tickets"
)

// TestSurveySignerSecretKey: with a secret key configured, survey links are
// signed with a key derived from it, so two processes with their own data
// directories but the same secret key verify each other's links, one with
// another secret key refuses them, and no key file is made. Without a
// secret key, processes sharing the key file verify each other's links.
func TestSurveySignerSecretKey(t *testing.T) {
	shared, other := mustKey(t), mustKey(t)
	sharedFile := filepath.Join(t.TempDir(), "survey.key")
	tests := []struct {
		name          string
		signKey       *secrets.Key
		signFile      string
		verifyKey     *secrets.Key
		verifyFile    string
		wantTampered  bool
		wantNoKeyFile bool
	}{
		{name: "same secret key", signKey: shared, verifyKey: shared, wantNoKeyFile: true},
		{name: "other secret key", signKey: shared, verifyKey: other, wantTampered: true, wantNoKeyFile: true},
		{name: "no secret key, shared key file", signFile: sharedFile, verifyFile: sharedFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirA, dirB := t.TempDir(), t.TempDir()
			a, err := surveySigner(tt.signKey, tt.signFile, dirA)
			if err != nil {
				t.Fatal(err)
			}
			b, err := surveySigner(tt.verifyKey, tt.verifyFile, dirB)
			if err != nil {
				t.Fatal(err)
			}
			link := tickets.SurveyLink{Kind: tickets.SurveyTicket, ID: 42, Expires: time.Now().Add(time.Hour).Truncate(time.Second)}
			got, err := b.Verify(a.Sign(link), time.Now())
			switch {
			case tt.wantTampered && !errors.Is(err, tickets.ErrSurveyTampered):
				t.Fatalf("verify with another secret key: %v, want ErrSurveyTampered", err)
			case !tt.wantTampered && err != nil:
				t.Fatalf("verify: %v", err)
			case !tt.wantTampered && (got.ID != link.ID || got.Kind != link.Kind || !got.Expires.Equal(link.Expires)):
				t.Fatalf("verify: got %+v, want %+v", got, link)
			}
			if tt.wantNoKeyFile {
				for _, d := range []string{dirA, dirB} {
					if _, err := os.Stat(filepath.Join(d, surveyKeyFile)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("key file in %s with a secret key configured: %v", d, err)
					}
				}
			}
		})
	}
}

func mustKey(t *testing.T) *secrets.Key {
	t.Helper()
	k, err := secrets.ParseKey(secrets.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
