package router

import (
	"os"
	"testing"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/replies"
)

// TestUniversityBankHeldOut classifies phrases held back from the bank
// (configs/bank.heldout.jsonl, never used for training): the topic must be
// right for at least 90 % of them, and at least 90 % of clearly off-topic
// messages (weather, recipes, football) must come out of scope.
func TestUniversityBankHeldOut(t *testing.T) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	model, err := classify.Train(ClassifierConfig(bank))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../configs/bank.heldout.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := classify.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	var topicN, topicOK, oosN, oosOK int
	for _, d := range data {
		r := model.Classify(classify.Input{Text: d.Text})
		if d.Intent == "oos" {
			oosN++
			if r.Scope == classify.ScopeOut {
				oosOK++
			} else {
				t.Logf("off-topic %q → %s/%s (%.2f)", d.Text, r.Scope, r.Topic, r.Confidence)
			}
			continue
		}
		topicN++
		if r.Topic == d.Intent {
			topicOK++
		} else {
			t.Logf("%q: want %s, got %s/%s (%.2f)", d.Text, d.Intent, r.Scope, r.Topic, r.Confidence)
		}
	}
	acc := float64(topicOK) / float64(topicN)
	oos := float64(oosOK) / float64(oosN)
	t.Logf("held-out topic accuracy %.1f%% (%d/%d), off-topic out of scope %.1f%% (%d/%d)", 100*acc, topicOK, topicN, 100*oos, oosOK, oosN)
	if topicN < 200 || oosN < 30 {
		t.Fatalf("held-out set too small: %d topic phrases, %d off-topic", topicN, oosN)
	}
	if acc < 0.90 {
		t.Errorf("held-out topic accuracy %.1f%%, want >= 90%%", 100*acc)
	}
	if oos < 0.90 {
		t.Errorf("off-topic messages out of scope %.1f%%, want >= 90%%", 100*oos)
	}
}

// TestPresentationFormsClassifyLikeTypedText: Arabic pasted from a PDF comes
// in presentation forms (U+FB50–U+FDFF, U+FE70–U+FEFF); it must land on the
// same topic as the same words typed.
func TestPresentationFormsClassifyLikeTypedText(t *testing.T) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	model, err := classify.Train(ClassifierConfig(bank))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typed, pasted string }{
		{"البروجكتر في القاعة خربان نبي صيانة", "ﺍﻟﺒﺮﻭﺟﻜﺘﺮ ﻓﻲ ﺍﻟﻘﺎﻋﺔ ﺧﺮﺑﺎﻥ ﻧﺒﻲ ﺻﻴﺎﻧﺔ"},
		{"نحتاج تصوير حفل التخرج", "ﻧﺤﺘﺎﺝ ﺗﺼﻮﻳﺮ ﺣﻔﻞ ﺍﻟﺘﺨﺮﺝ"},
	} {
		typed := model.Classify(classify.Input{Text: c.typed})
		pasted := model.Classify(classify.Input{Text: c.pasted})
		if typed.Topic == "" || pasted.Topic != typed.Topic || pasted.Scope != typed.Scope {
			t.Errorf("%q → %s/%s, but typed %q → %s/%s", c.pasted, pasted.Scope, pasted.Topic, c.typed, typed.Scope, typed.Topic)
		}
	}
}
