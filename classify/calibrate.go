package classify

import (
	"errors"
	"slices"
)

// SweepPoint is how a model does on labeled data at one threshold.
type SweepPoint struct {
	Threshold       float64 `json:"threshold"`
	InScopeAccuracy float64 `json:"in_scope_accuracy"`
	OOSRecall       float64 `json:"oos_recall"`
	OOSPrecision    float64 `json:"oos_precision"`
}

// ThresholdSweep scores data at every threshold where a decision changes,
// lowest first. Data is in the Evaluate format: intent "oos" is out of
// scope.
func (m *Model) ThresholdSweep(data []Labeled) []SweepPoint {
	type outcome struct {
		conf    float64 // confidence of an in-scope answer; -1 when out regardless
		right   bool    // the in-scope answer is the intent
		oos     bool    // the example is out of scope
		outHere bool    // answered out of scope whatever the threshold
	}
	m0 := m.WithThreshold(0)
	outs := make([]outcome, len(data))
	var nIn, nOOS int
	for i, l := range data {
		r := m0.Classify(Input{Text: l.Text})
		o := outcome{oos: l.Intent == OOS}
		switch {
		case r.Scope == ScopeOut:
			o.outHere = true
		case r.Rule != "":
			o.conf = 2 // a rule is above every threshold
			o.right = r.Topic == l.Intent
		default:
			o.conf = r.Confidence
			o.right = r.Topic == l.Intent
		}
		outs[i] = o
		if o.oos {
			nOOS++
		} else {
			nIn++
		}
	}
	// Candidate thresholds: 0 and just above each in-scope confidence.
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
		var inRight, oosRight, saidOut int
		for _, o := range outs {
			out := o.outHere || o.conf < t
			if out {
				saidOut++
			}
			switch {
			case o.oos && out:
				oosRight++
			case !o.oos && !out && o.right:
				inRight++
			}
		}
		points = append(points, SweepPoint{
			Threshold:       t,
			InScopeAccuracy: ratio(inRight, nIn),
			OOSRecall:       ratio(oosRight, nOOS),
			OOSPrecision:    ratio(oosRight, saidOut),
		})
	}
	return points
}

// Calibrate returns a model sharing m's weights whose threshold is the
// lowest one at which held-out data (Evaluate format, with both in-scope
// and "oos" examples) reaches minOOSRecall; in-scope accuracy only falls as
// the threshold rises, so that is also the best one for it. It returns the
// point chosen.
func (m *Model) Calibrate(heldOut []Labeled, minOOSRecall float64) (*Model, SweepPoint, error) {
	var nIn, nOOS int
	for _, l := range heldOut {
		if l.Intent == OOS {
			nOOS++
		} else {
			nIn++
		}
	}
	if nIn == 0 || nOOS == 0 {
		return nil, SweepPoint{}, errors.New("classify: calibration needs in-scope and out-of-scope examples")
	}
	for _, p := range m.ThresholdSweep(heldOut) {
		if p.OOSRecall >= minOOSRecall {
			return m.WithThreshold(p.Threshold), p, nil
		}
	}
	return nil, SweepPoint{}, errors.New("classify: no threshold reaches the out-of-scope recall asked for")
}
