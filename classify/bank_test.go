package classify

import (
	"encoding/json"
	"os"
	"testing"
)

type testBank struct {
	Topics []struct {
		ID       string   `json:"id"`
		Scope    Scope    `json:"scope"`
		Examples []string `json:"examples"`
	} `json:"topics"`
	HeldOut []Labeled `json:"held_out"`
}

func loadBank(t *testing.T) (Config, []Labeled) {
	t.Helper()
	b, err := os.ReadFile("testdata/bank.json")
	if err != nil {
		t.Fatal(err)
	}
	var bank testBank
	if err := json.Unmarshal(b, &bank); err != nil {
		t.Fatalf("testdata/bank.json: %v", err)
	}
	var cfg Config
	for _, tp := range bank.Topics {
		cfg.Topics = append(cfg.Topics, TopicSpec{ID: tp.ID, Scope: tp.Scope, Examples: tp.Examples})
	}
	return cfg, bank.HeldOut
}

// TestBankSanity trains on a small Arabic and English bank and checks that
// phrases written the way customers write (dialect, typos, no hamza, taa
// marbuta as haa) reach the right topic and that small talk is out of scope.
func TestBankSanity(t *testing.T) {
	cfg, heldOut := loadBank(t)
	m, err := Train(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range heldOut {
		t.Run(l.Text, func(t *testing.T) {
			r := m.Classify(Input{Text: l.Text})
			t.Logf("%+v", r)
			switch {
			case l.Intent == OOS:
				if r.Scope != ScopeOut || r.Topic != "" {
					t.Errorf("got scope %q topic %q (%.2f), want out of scope with no topic", r.Scope, r.Topic, r.Confidence)
				}
			case m.scope[l.Intent] == ScopeOut:
				if r.Scope != ScopeOut || r.Topic != l.Intent {
					t.Errorf("got scope %q topic %q (%.2f), want out-of-scope topic %q", r.Scope, r.Topic, r.Confidence, l.Intent)
				}
			default:
				if r.Scope != ScopeIn || r.Topic != l.Intent {
					t.Errorf("got scope %q topic %q (%.2f), want %q", r.Scope, r.Topic, r.Confidence, l.Intent)
				}
			}
			if len(r.Reasons) == 0 {
				t.Error("no reasons")
			}
		})
	}
}
