package classify

import (
	"slices"
	"strings"
	"testing"
)

func TestReadJSONL(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Labeled
		err      string
	}{
		{"two lines and a blank one", "{\"text\": \"hi\", \"intent\": \"greeting\"}\n\n{\"text\": \"x\", \"intent\": \"oos\"}\n",
			[]Labeled{{"hi", "greeting"}, {"x", "oos"}}, ""},
		{"no final newline, CRLF", "{\"text\": \"a\", \"intent\": \"b\"}\r\n{\"text\": \"c\", \"intent\": \"d\"}",
			[]Labeled{{"a", "b"}, {"c", "d"}}, ""},
		{"bad JSON names its line", "{\"text\": \"a\", \"intent\": \"b\"}\n\n{\"text\": \"c\",\n", nil, "line 3:"},
		{"missing intent names its line", "{\"text\": \"a\", \"intent\": \"b\"}\n{\"text\": \"c\"}\n", nil, "line 2: no intent"},
		{"empty", "\n\n", nil, "no examples"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadJSONL(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConfigFromLabeled(t *testing.T) {
	cfg := ConfigFromLabeled([]Labeled{{"a1", "a"}, {"o1", "oos"}, {"b1", "b"}, {"a2", "a"}})
	want := []TopicSpec{
		{ID: "a", Scope: ScopeIn, Examples: []string{"a1", "a2"}},
		{ID: "oos", Scope: ScopeNone, Examples: []string{"o1"}},
		{ID: "b", Scope: ScopeIn, Examples: []string{"b1"}},
	}
	if len(cfg.Topics) != len(want) {
		t.Fatalf("%d topics, want %d", len(cfg.Topics), len(want))
	}
	for i, tp := range cfg.Topics {
		if tp.ID != want[i].ID || tp.Scope != want[i].Scope || !slices.Equal(tp.Examples, want[i].Examples) {
			t.Errorf("topic %d = %+v, want %+v", i, tp, want[i])
		}
	}
}

// TestEvaluate scores the small bank's held-out phrases, all answered
// right, then the same with wrong labels so every count moves.
func TestEvaluate(t *testing.T) {
	cfg, heldOut := loadBank(t)
	m := mustTrain(t, cfg)
	var data []Labeled
	for _, l := range heldOut {
		if m.scope[l.Intent] == ScopeOut {
			l.Intent = OOS // an out-of-scope topic counts as out of scope
		}
		data = append(data, l)
	}
	r := Evaluate(m, data)
	if r.N != 16 || r.InScopeN != 11 || r.OOSN != 5 || r.InScopeAccuracy != 1 || r.OOSRecall != 1 || r.OOSPrecision != 1 || len(r.WorstClasses) != 0 {
		t.Fatalf("report %+v, want all 16 right", r)
	}

	// Claim a maintenance, a supply and an out-of-scope phrase are clearance.
	wrong := slices.Clone(data)
	relabel := map[string]string{
		"the projecter in hall B is broken":   "clearance",
		"we need a projector for the new lab": "clearance",
		"recommend a good pizza place":        "clearance",
	}
	for i, l := range wrong {
		if to, ok := relabel[l.Text]; ok {
			wrong[i].Intent = to
		}
	}
	r = Evaluate(m, wrong)
	if r.InScopeN != 12 || r.OOSN != 4 {
		t.Fatalf("%d in scope and %d out, want 12 and 4", r.InScopeN, r.OOSN)
	}
	if want := 9.0 / 12; r.InScopeAccuracy != want {
		t.Errorf("in-scope accuracy %v, want %v", r.InScopeAccuracy, want)
	}
	if r.OOSRecall != 1 || r.OOSPrecision != 4.0/5 {
		t.Errorf("oos recall %v precision %v, want 1 and 0.8", r.OOSRecall, r.OOSPrecision)
	}
	if len(r.WorstClasses) != 1 {
		t.Fatalf("worst classes %+v, want clearance alone", r.WorstClasses)
	}
	c := r.WorstClasses[0]
	if c.Intent != "clearance" || c.N != 6 || c.Errors != 3 || c.Accuracy != 0.5 || c.TakenFor != "maintenance" || c.TakenForN != 1 {
		t.Errorf("worst class %+v, want clearance 3/6 wrong, once each as maintenance, oos and supply (first by name)", c)
	}
	s := r.String()
	for _, want := range []string{"in-scope accuracy  75.00%", "oos recall         100.00%", "oos precision      80.00%", "clearance", "threshold          0.200"} {
		if !strings.Contains(s, want) {
			t.Errorf("report text lacks %q:\n%s", want, s)
		}
	}
}

func TestThresholdSweepAndCalibrate(t *testing.T) {
	cfg, heldOut := loadBank(t)
	m := mustTrain(t, cfg)
	pts := m.ThresholdSweep(heldOut)
	if len(pts) < 3 || pts[0].Threshold != 0 {
		t.Fatalf("sweep %+v, want a point at 0 and more", pts)
	}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if b.Threshold <= a.Threshold || b.InScopeAccuracy > a.InScopeAccuracy || b.OOSRecall < a.OOSRecall {
			t.Fatalf("sweep not monotonic at %d: %+v then %+v", i, a, b)
		}
	}
	if last := pts[len(pts)-1]; last.InScopeAccuracy != 0 || last.OOSRecall != 1 {
		t.Errorf("highest threshold %+v, want nothing in scope", last)
	}

	c, p, err := m.Calibrate(heldOut, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.OOSRecall != 1 || c.Threshold() != p.Threshold {
		t.Errorf("calibrated at %+v, model threshold %v", p, c.Threshold())
	}
	for _, q := range pts {
		if q.OOSRecall >= 1 && q.Threshold < p.Threshold {
			t.Errorf("point %+v reaches the recall at a lower threshold than %v", q, p.Threshold)
		}
	}
	if r := Evaluate(c, heldOut); r.OOSRecall != 1 || r.InScopeAccuracy != p.InScopeAccuracy {
		t.Errorf("calibrated model evaluates to %+v, sweep said %+v", r, p)
	}
	if _, _, err := m.Calibrate(heldOut[:3], 0.5); err == nil {
		t.Error("Calibrate without out-of-scope examples succeeded")
	}
}
