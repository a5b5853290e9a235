package replies

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// Whatever an operator writes, ParseBank answers with a bank or a
// *BankError, never a panic; and a bank it accepts renders.
func FuzzParseBank(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	files = append(files, filepath.Join("testdata", "bank.yaml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	now := time.Date(2026, 9, 20, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBank(data, "fuzz.yaml")
		if err != nil {
			var be *BankError
			if !errors.As(err, &be) || len(be.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			return
		}
		for _, tp := range b.Topics() {
			kind := KindAnswer
			switch tp.Kind {
			case TopicSmallTalk:
				kind = KindSmallTalk
			case TopicSpam:
				continue // never answered
			}
			for _, lang := range []string{"ar", "en"} {
				req := Request{Kind: kind, TopicID: tp.ID, Language: lang, Channel: message.Email, Now: now}
				if _, err := b.Render(req); err != nil {
					t.Errorf("accepted bank does not render topic %q: %v", tp.ID, err)
				}
				if _, err := b.RenderShort(req, 70); err != nil {
					t.Errorf("accepted bank does not render topic %q short: %v", tp.ID, err)
				}
			}
		}
	})
}
