package classify

import (
	"math"
	"math/rand/v2"
)

// dataset is the training set as sparse L2-normalized rows (CSR).
type dataset struct {
	rowStart []int32 // row i is idx/val[rowStart[i]:rowStart[i+1]]
	idx      []int32
	val      []float32
	label    []int32
}

func (d *dataset) rows() int { return len(d.label) }

func (d *dataset) row(i int) ([]int32, []float32) {
	a, b := d.rowStart[i], d.rowStart[i+1]
	return d.idx[a:b], d.val[a:b]
}

// trainOptions are the optimizer's settings.
type trainOptions struct {
	epochs int
	eta0   float64 // initial learning rate
	lambda float64 // L2 regularization strength
	seed   uint64
	hinge  bool // Crammer-Singer multiclass hinge instead of softmax
	drop   float64 // feature dropout rate during training
}

var defaultTrainOptions = trainOptions{
	epochs: 10,
	eta0:   1,
	lambda: 1e-5,
	seed:   1,
}

// linear is a multinomial logistic regression: w is features×classes, row
// major, so the classes of one feature sit together and scoring a sparse row
// walks memory in order.
type linear struct {
	k    int
	w    []float32
	bias []float32
}

// trainLinear fits a multinomial logistic regression by plain SGD over a
// fixed-seed shuffle, with the L2 penalty applied as a global scale so each
// step only touches the features the example has. Same data, same options,
// same weights.
func trainLinear(d *dataset, nFeatures, k int, o trainOptions) *linear {
	m := &linear{k: k, w: make([]float32, nFeatures*k), bias: make([]float32, k)}
	scale := 1.0
	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	order := make([]int, d.rows())
	for i := range order {
		order[i] = i
	}
	logits := make([]float64, k)
	grad := make([]float32, k)
	t := 0.0
	var dIdx []int32
	var dVal []float32
	for epoch := 0; epoch < o.epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			eta := o.eta0 / (1 + o.eta0*o.lambda*t)
			t++
			idx, val := d.row(i)
			if o.drop > 0 {
				dIdx, dVal = dIdx[:0], dVal[:0]
				keep := float32(1 / (1 - o.drop))
				for n, j := range idx {
					if rng.Float64() >= o.drop {
						dIdx = append(dIdx, j)
						dVal = append(dVal, val[n]*keep)
					}
				}
				idx, val = dIdx, dVal
			}
			for c := range logits {
				logits[c] = float64(m.bias[c])
			}
			for n, j := range idx {
				x := float64(val[n]) * scale
				ws := m.w[int(j)*k : int(j)*k+k]
				for c, wc := range ws {
					logits[c] += x * float64(wc)
				}
			}
			y := int(d.label[i])
			if o.hinge {
				r := -1
				for c, s := range logits {
					if c != y && (r < 0 || s > logits[r]) {
						r = c
					}
				}
				clear(grad)
				if logits[y]-logits[r] < 1 {
					grad[y], grad[r] = -1, 1
				}
			} else {
				softmax(logits)
				for c, p := range logits {
					g := p
					if c == y {
						g -= 1
					}
					grad[c] = float32(g)
				}
			}
			// Shrink by the penalty first, then step on the loss.
			scale *= 1 - eta*o.lambda
			step := float32(eta / scale)
			for n, j := range idx {
				x := val[n] * step
				ws := m.w[int(j)*k : int(j)*k+k]
				for c, g := range grad {
					ws[c] -= x * g
				}
			}
			for c, g := range grad {
				m.bias[c] -= float32(eta) * g
			}
			if scale < 1e-6 {
				m.rescale(scale)
				scale = 1
			}
		}
	}
	m.rescale(scale)
	return m
}

func (m *linear) rescale(scale float64) {
	s := float32(scale)
	for i := range m.w {
		m.w[i] *= s
	}
}

// scores writes the class logits of one sparse row into out.
func (m *linear) scores(idx []int32, val []float32, out []float64) {
	k := m.k
	for c := range out {
		out[c] = float64(m.bias[c])
	}
	for n, j := range idx {
		x := val[n]
		ws := m.w[int(j)*k : int(j)*k+k]
		for c, wc := range ws {
			out[c] += float64(x * wc)
		}
	}
}

// softmax turns logits into probabilities in place.
func softmax(v []float64) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	sum := 0.0
	for i, x := range v {
		e := math.Exp(x - mx)
		v[i] = e
		sum += e
	}
	for i := range v {
		v[i] /= sum
	}
}
