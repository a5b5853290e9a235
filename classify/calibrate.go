package classify

type calibration struct {
	fallback float64
}

var defaultCalibration = calibration{fallback: 0.3}

func (c calibration) threshold(texts []string, labels []int32, classIn []bool, fo featureOptions, to trainOptions) float64 {
	return c.fallback
}
