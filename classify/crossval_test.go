package classify

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// labeledSet makes n examples of each intent, texts unique.
func labeledSet(counts map[string]int) []Labeled {
	var intents []string
	for k := range counts {
		intents = append(intents, k)
	}
	slices.Sort(intents)
	var out []Labeled
	for _, in := range intents {
		for i := range counts[in] {
			out = append(out, Labeled{Text: fmt.Sprintf("%s %d", in, i), Intent: in})
		}
	}
	return out
}

func TestStratifiedFolds(t *testing.T) {
	data := labeledSet(map[string]int{"a": 10, "b": 7, "c": 3, OOS: 5})
	for _, k := range []int{2, 3, 5} {
		folds := StratifiedFolds(data, k, 1)
		if len(folds) != k {
			t.Fatalf("k=%d: %d folds", k, len(folds))
		}
		seen := make([]int, len(data))
		for _, f := range folds {
			per := map[string]int{}
			for _, i := range f {
				seen[i]++
				per[data[i].Intent]++
			}
			for intent, n := range map[string]int{"a": 10, "b": 7, "c": 3, OOS: 5} {
				lo, hi := n/k, (n+k-1)/k
				if per[intent] < lo || per[intent] > hi {
					t.Errorf("k=%d: a fold has %d of %q's %d examples, want %d–%d", k, per[intent], intent, n, lo, hi)
				}
			}
		}
		for i, n := range seen {
			if n != 1 {
				t.Errorf("k=%d: example %d is in %d folds", k, i, n)
			}
		}
		sizes := []int{}
		for _, f := range folds {
			sizes = append(sizes, len(f))
		}
		if slices.Max(sizes)-slices.Min(sizes) > 1 {
			t.Errorf("k=%d: fold sizes %v differ by more than one", k, sizes)
		}
		if again := StratifiedFolds(data, k, 1); !slices.EqualFunc(folds, again, slices.Equal) {
			t.Errorf("k=%d: the same seed dealt different folds", k)
		}
	}
	if a, b := StratifiedFolds(data, 3, 1), StratifiedFolds(data, 3, 2); slices.EqualFunc(a, b, slices.Equal) {
		t.Error("another seed dealt the same folds")
	}
}

// CrossValidate scores every example once, by a model that did not train
// on it; with OOSGroups a fold's out-of-scope examples are all from one
// group and no model tested on them trained on any of that group.
func TestCrossValidate(t *testing.T) {
	cfg, heldOut := loadBank(t)
	var data []Labeled
	for _, tp := range cfg.Topics {
		intent := tp.ID
		if tp.Scope != ScopeIn {
			intent = OOS
		}
		for _, ex := range tp.Examples {
			data = append(data, Labeled{Text: ex, Intent: intent})
		}
	}
	for _, l := range heldOut {
		if l.Intent == OOS {
			data = append(data, l)
		}
	}
	group := make([]int, len(data))
	var oosByGroup [2][]string
	n := 0
	for i, l := range data {
		if l.Intent == OOS {
			group[i] = n % 2
			oosByGroup[n%2] = append(oosByGroup[n%2], l.Text)
			n++
		}
	}

	t.Run("stratified", func(t *testing.T) {
		var trained [][]Labeled
		cv, err := CrossValidate(data, CVOptions{K: 3, Seed: 7, Train: func(l []Labeled) (*Model, error) {
			trained = append(trained, l)
			return Train(ConfigFromLabeled(l))
		}})
		if err != nil {
			t.Fatal(err)
		}
		if cv.K != 3 || cv.N != len(data) || len(cv.folds) != 3 || len(trained) != 3 {
			t.Fatalf("K %d N %d, %d folds, %d trainings", cv.K, cv.N, len(cv.folds), len(trained))
		}
		scored := 0
		for f, outs := range cv.folds {
			scored += len(outs)
			if len(outs)+len(trained[f]) != len(data) {
				t.Errorf("fold %d: %d scored + %d trained != %d", f+1, len(outs), len(trained[f]), len(data))
			}
		}
		if scored != len(data) {
			t.Errorf("%d examples scored, want each of %d once", scored, len(data))
		}
	})

	t.Run("out-of-scope grouped", func(t *testing.T) {
		var trained [][]Labeled
		cv, err := CrossValidate(data, CVOptions{K: 4, Seed: 7, OOSGroups: group, Train: func(l []Labeled) (*Model, error) {
			trained = append(trained, l)
			return Train(ConfigFromLabeled(l))
		}})
		if err != nil {
			t.Fatal(err)
		}
		for f := range cv.folds {
			tested, other := oosByGroup[f%2], oosByGroup[1-f%2]
			var oosTrained []string
			for _, l := range trained[f] {
				if l.Intent == OOS {
					oosTrained = append(oosTrained, l.Text)
				}
			}
			if !slices.Equal(oosTrained, other) {
				t.Errorf("fold %d trained on out-of-scope %q, want only the other group's %q", f+1, oosTrained, other)
			}
			nOOS := 0
			for _, o := range cv.folds[f] {
				if o.oos {
					nOOS++
				}
			}
			if nOOS != len(tested) {
				t.Errorf("fold %d scored %d out-of-scope examples, want its group's %d", f+1, nOOS, len(tested))
			}
		}
	})

	for _, tc := range []struct {
		name string
		o    CVOptions
		want string
	}{
		{"one fold", CVOptions{K: 1}, "at least 2 folds"},
		{"groups of the wrong length", CVOptions{K: 2, OOSGroups: []int{0, 1}}, "out-of-scope groups for"},
		{"one group", CVOptions{K: 2, OOSGroups: make([]int, len(data))}, "two groups or more"},
		{"more groups than folds", CVOptions{K: 2, OOSGroups: func() []int {
			g := slices.Clone(group)
			for i := range g {
				g[i] = i
			}
			return g
		}()}, "need at least as many folds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CrossValidate(data, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// At reports each fold and the mean, sample standard deviation and range.
func TestCrossValidationAt(t *testing.T) {
	in := func(conf float64, right bool) outcome { return outcome{conf: conf, right: right} }
	oos := func(conf float64) outcome { return outcome{conf: conf, oos: true} }
	cv := &CrossValidation{K: 2, folds: [][]outcome{
		{in(0.9, true), in(0.5, true), in(0.1, true), in(0.8, false), oos(0.05), oos(0.3)},
		{in(0.9, true), in(0.9, true), in(0.9, false), in(0.9, true), oos(0.1), {outHere: true, oos: true}},
	}}
	r := cv.At(0.2)
	// Fold 1: in-scope right above 0.2: 2 of 4; oos out: 1 of 2, of 2 said out.
	// Fold 2: 3 of 4; oos out: 2 of 2, of 2 said out.
	want := []SweepPoint{{0.2, 0.5, 0.5, 0.5}, {0.2, 0.75, 1, 1}}
	if !slices.Equal(r.Folds, want) {
		t.Fatalf("folds %+v, want %+v", r.Folds, want)
	}
	if r.InScopeAccuracy.Mean != 0.625 || r.InScopeAccuracy.Min != 0.5 || r.InScopeAccuracy.Max != 0.75 ||
		math.Abs(r.InScopeAccuracy.SD-math.Sqrt(0.03125)) > 1e-12 {
		t.Errorf("in-scope spread %+v", r.InScopeAccuracy)
	}
	if r.OOSRecall.Mean != 0.75 {
		t.Errorf("oos recall spread %+v", r.OOSRecall)
	}
	s := r.String()
	for _, w := range []string{"threshold          0.200", "   1        50.00%      50.00%", "in-scope accuracy  62.50% ± 17.68 (sd), folds 50.00–75.00%"} {
		if !strings.Contains(s, w) {
			t.Errorf("report lacks %q:\n%s", w, s)
		}
	}
	// Pooled: the lowest threshold with recall ≥ 3/4 is just above 0.1.
	p, err := cv.ThresholdFor(0.75)
	if err != nil || p.Threshold <= 0.1 || p.Threshold > 0.1+1e-6 {
		t.Errorf("ThresholdFor(0.75) = %+v, %v", p, err)
	}
	if _, err := cv.ThresholdFor(1.01); err == nil {
		t.Error("ThresholdFor(1.01) found a threshold")
	}
}
