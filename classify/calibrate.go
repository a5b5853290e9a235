package classify

import "errors"

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
	return sweep(m.outcomes(data))
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
