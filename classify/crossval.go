package classify

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// outcome is how a model answered one labeled example before any
// threshold: enough to score it at every threshold afterwards.
type outcome struct {
	conf    float64 // confidence of the in-scope answer (2 for a rule)
	right   bool    // the in-scope answer is the intent
	oos     bool    // the example is out of scope
	outHere bool    // answered out of scope whatever the threshold
}

// outcomes classifies data with m's weights and no threshold.
func (m *Model) outcomes(data []Labeled) []outcome {
	m0 := m.WithThreshold(0)
	outs := make([]outcome, len(data))
	for i, l := range data {
		r := m0.Classify(Input{Text: l.Text})
		o := outcome{oos: l.Intent == OOS}
		switch {
		case r.Scope != ScopeIn:
			o.outHere = true
		case r.Rule != "":
			o.conf = 2 // a rule is above every threshold
			o.right = r.Topic == l.Intent
		default:
			o.conf = r.Confidence
			o.right = r.Topic == l.Intent
		}
		outs[i] = o
	}
	return outs
}

// score is the point at threshold t.
func score(outs []outcome, t float64) SweepPoint {
	var nIn, nOOS, inRight, oosRight, saidOut int
	for _, o := range outs {
		out := o.outHere || o.conf < t
		if out {
			saidOut++
		}
		if o.oos {
			nOOS++
			if out {
				oosRight++
			}
		} else {
			nIn++
			if !out && o.right {
				inRight++
			}
		}
	}
	return SweepPoint{
		Threshold:       t,
		InScopeAccuracy: ratio(inRight, nIn),
		OOSRecall:       ratio(oosRight, nOOS),
		OOSPrecision:    ratio(oosRight, saidOut),
	}
}

// sweep scores outs at 0 and just above each in-scope confidence, lowest
// first: every threshold where a decision changes.
func sweep(outs []outcome) []SweepPoint {
	cands := []float64{0}
	for _, o := range outs {
		if !o.outHere && o.conf <= 1 {
			cands = append(cands, o.conf+1e-9)
		}
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	points := make([]SweepPoint, 0, len(cands))
	for _, t := range cands {
		points = append(points, score(outs, t))
	}
	return points
}

// StratifiedFolds deals the indexes of data into k folds so that every
// intent is spread as evenly as it can be: each intent's examples are
// shuffled (seeded, so the folds are the same on every run) and dealt in
// turn, the dealing carrying on from one intent to the next so the folds
// end up the same size give or take one.
func StratifiedFolds(data []Labeled, k int, seed uint64) [][]int {
	byIntent := map[string][]int{}
	var intents []string
	for i, l := range data {
		if _, ok := byIntent[l.Intent]; !ok {
			intents = append(intents, l.Intent)
		}
		byIntent[l.Intent] = append(byIntent[l.Intent], i)
	}
	slices.Sort(intents)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	folds := make([][]int, k)
	next := 0
	for _, intent := range intents {
		idx := byIntent[intent]
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			folds[next] = append(folds[next], i)
			next = (next + 1) % k
		}
	}
	for _, f := range folds {
		slices.Sort(f)
	}
	return folds
}

// CrossValidation holds the out-of-fold answers of a stratified k-fold
// cross-validation: every example was classified by a model that never saw
// it. Thresholds are chosen and figures reported from it rather than from
// one small split, whose hundred out-of-scope examples are too few to
// calibrate on.
type CrossValidation struct {
	K     int
	N     int
	folds [][]outcome
}

// CVOptions set up CrossValidate.
type CVOptions struct {
	K    int
	Seed uint64 // for StratifiedFolds
	// OOSGroups, when not nil, gives each example a group (the file it
	// came from, say) that matters for its out-of-scope examples only:
	// fold f tests the out-of-scope examples of group f mod G and trains
	// on those of the other groups, so no model is scored on out-of-scope
	// queries collected with those it learned from. Out-of-scope examples
	// gathered together resemble each other (clinc150's train and val
	// sets each do), and pooling them makes the recall look far better
	// than on new ones. In-scope examples are stratified as usual.
	OOSGroups []int
	// Train trains a model; Train on ConfigFromLabeled when nil.
	Train func([]Labeled) (*Model, error)
}

// CrossValidate splits data into o.K stratified folds (StratifiedFolds)
// and, for each, trains on the others and records how the model answers
// the fold held out.
func CrossValidate(data []Labeled, o CVOptions) (*CrossValidation, error) {
	k := o.K
	if k < 2 {
		return nil, fmt.Errorf("classify: cross-validation needs at least 2 folds, got %d", k)
	}
	if len(data) < k {
		return nil, fmt.Errorf("classify: %d examples cannot make %d folds", len(data), k)
	}
	if o.OOSGroups != nil && len(o.OOSGroups) != len(data) {
		return nil, fmt.Errorf("classify: %d out-of-scope groups for %d examples", len(o.OOSGroups), len(data))
	}
	train := o.Train
	if train == nil {
		train = func(l []Labeled) (*Model, error) { return Train(ConfigFromLabeled(l)) }
	}
	// Grouped out-of-scope examples are dealt by group, the rest in folds.
	var groups []int // distinct groups, sorted
	var pool []int   // indexes that are folded
	for i, l := range data {
		if o.OOSGroups != nil && l.Intent == OOS {
			if !slices.Contains(groups, o.OOSGroups[i]) {
				groups = append(groups, o.OOSGroups[i])
			}
			continue
		}
		pool = append(pool, i)
	}
	slices.Sort(groups)
	if len(groups) == 1 {
		return nil, errors.New("classify: grouping out-of-scope examples needs two groups or more")
	}
	if len(groups) > k {
		return nil, fmt.Errorf("classify: %d out-of-scope groups need at least as many folds, got %d", len(groups), k)
	}
	sub := make([]Labeled, len(pool))
	for n, i := range pool {
		sub[n] = data[i]
	}
	folds := StratifiedFolds(sub, k, o.Seed)
	cv := &CrossValidation{K: k, N: len(data)}
	for f, test := range folds {
		held := make([]bool, len(data))
		for _, n := range test {
			held[pool[n]] = true
		}
		var tr, te []Labeled
		for i, l := range data {
			switch {
			case o.OOSGroups != nil && l.Intent == OOS:
				if o.OOSGroups[i] == groups[f%len(groups)] {
					te = append(te, l)
				} else {
					tr = append(tr, l)
				}
			case held[i]:
				te = append(te, l)
			default:
				tr = append(tr, l)
			}
		}
		m, err := train(tr)
		if err != nil {
			return nil, fmt.Errorf("classify: fold %d: %w", f+1, err)
		}
		cv.folds = append(cv.folds, m.outcomes(te))
	}
	return cv, nil
}

// CVReport is a cross-validation scored at one threshold: each fold's
// figures, and their mean, standard deviation and range.
type CVReport struct {
	Threshold       float64      `json:"threshold"`
	Folds           []SweepPoint `json:"folds"`
	InScopeAccuracy Spread       `json:"in_scope_accuracy"`
	OOSRecall       Spread       `json:"oos_recall"`
	OOSPrecision    Spread       `json:"oos_precision"`
}

// Spread summarises one figure across folds.
type Spread struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"` // sample standard deviation
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

func spreadOf(xs []float64) Spread {
	s := Spread{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		for _, x := range xs {
			s.SD += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(s.SD / float64(len(xs)-1))
	}
	return s
}

// At scores every fold at threshold t.
func (cv *CrossValidation) At(t float64) CVReport {
	r := CVReport{Threshold: t}
	var acc, rec, prec []float64
	for _, outs := range cv.folds {
		p := score(outs, t)
		r.Folds = append(r.Folds, p)
		acc, rec, prec = append(acc, p.InScopeAccuracy), append(rec, p.OOSRecall), append(prec, p.OOSPrecision)
	}
	r.InScopeAccuracy, r.OOSRecall, r.OOSPrecision = spreadOf(acc), spreadOf(rec), spreadOf(prec)
	return r
}

// Sweep scores the out-of-fold answers of all folds together at every
// threshold where a decision changes, lowest first.
func (cv *CrossValidation) Sweep() []SweepPoint {
	var all []outcome
	for _, f := range cv.folds {
		all = append(all, f...)
	}
	return sweep(all)
}

// ThresholdFor is the lowest threshold at which the pooled out-of-fold
// out-of-scope recall reaches minOOSRecall.
func (cv *CrossValidation) ThresholdFor(minOOSRecall float64) (SweepPoint, error) {
	for _, p := range cv.Sweep() {
		if p.OOSRecall >= minOOSRecall {
			return p, nil
		}
	}
	return SweepPoint{}, errors.New("classify: no threshold reaches the out-of-scope recall asked for")
}

// String renders the report for a terminal: figures in per cent.
func (r CVReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "threshold          %.3f\n", r.Threshold)
	fmt.Fprintf(&b, "fold  in-scope acc  oos recall  oos precision\n")
	for i, p := range r.Folds {
		fmt.Fprintf(&b, "%4d  %11.2f%%  %9.2f%%  %12.2f%%\n", i+1, 100*p.InScopeAccuracy, 100*p.OOSRecall, 100*p.OOSPrecision)
	}
	line := func(name string, s Spread) {
		fmt.Fprintf(&b, "%-18s %.2f%% ± %.2f (sd), folds %.2f–%.2f%%\n", name, 100*s.Mean, 100*s.SD, 100*s.Min, 100*s.Max)
	}
	line("in-scope accuracy", r.InScopeAccuracy)
	line("oos recall", r.OOSRecall)
	line("oos precision", r.OOSPrecision)
	return b.String()
}
