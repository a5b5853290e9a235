package router

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/replies"
)

// The held-out sets: phrases held back from the bank's wording, and
// messages written independently of it the way customers write (Gulf and
// Egyptian dialect, Arabizi, typos, greetings, spam); none is trained on.
var heldOutFiles = []string{"../configs/bank.heldout.jsonl", "../configs/bank.heldout.messages.jsonl"}

// Issue 11's target: at least 95 % of the held-out messages right.
const heldOutTarget = 0.95

// TestUniversityBankHeldOut classifies the held-out sets with the model
// trained on the shipped bank. Right is the labeled topic (small talk and
// spam included) or, for off-topic messages, no topic at all. And, right
// or wrong, no greeting, thanks or spam opens a ticket.
func TestUniversityBankHeldOut(t *testing.T) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	model, err := universityModel()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var allN, allOK int
	for _, file := range heldOutFiles {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		data, err := classify.ReadJSONL(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var ok, oosN, oosOK int
		for _, d := range data {
			r := model.Classify(classify.Input{Text: d.Text})
			right := r.Topic == d.Intent || d.Intent == classify.OOS && r.Topic == ""
			if right {
				ok++
			} else {
				t.Logf("%s: %q: want %s, got %s/%s (%.2f)", filepath.Base(file), d.Text, d.Intent, r.Scope, r.Topic, r.Confidence)
			}
			if d.Intent == classify.OOS {
				oosN++
				if right {
					oosOK++
				}
			}
			facts := Facts{Class: r, Now: now, Window: 24 * time.Hour}
			if tp, found := bank.Topic(r.Topic); found {
				facts.Topic = TopicInfo{Found: true, Kind: string(tp.Kind), Scope: string(tp.Scope), Actionable: tp.Actionable, Department: tp.Department}
			}
			if dec := Decide(facts); dec.CreateTicket && (d.Intent == "spam" || d.Intent == "smalltalk") {
				t.Errorf("%s %q opens a ticket: %s (%q)", d.Intent, d.Text, dec.Action, dec.Reasons)
			}
		}
		t.Logf("%s: %d/%d right (%.1f%%), off-topic with no topic %d/%d", filepath.Base(file), ok, len(data), 100*float64(ok)/float64(len(data)), oosOK, oosN)
		allN += len(data)
		allOK += ok
	}
	acc := float64(allOK) / float64(allN)
	t.Logf("held-out: %d/%d right (%.1f%%)", allOK, allN, 100*acc)
	if acc < heldOutTarget {
		t.Errorf("held-out accuracy %.1f%%, want ≥ %.0f%%", 100*acc, 100*heldOutTarget)
	}
}

// TestPresentationFormsClassifyLikeTypedText: Arabic pasted from a PDF comes
// in presentation forms (U+FB50–U+FDFF, U+FE70–U+FEFF); it must land on the
// same topic as the same words typed.
func TestPresentationFormsClassifyLikeTypedText(t *testing.T) {
	model, err := universityModel()
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
