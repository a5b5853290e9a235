package classify

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync"
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

// dropResembling returns d without the background rows (label -1) whose
// cosine similarity to some labeled row reaches limit. Rows are
// L2-normalized, so a dot product is the cosine.
func (d *dataset) dropResembling(nFeatures int, limit float64, workers int) *dataset {
	var bg []int
	for i, y := range d.label {
		if y < 0 {
			bg = append(bg, i)
		}
	}
	if len(bg) == 0 {
		return d
	}
	drop := make([]bool, len(bg))
	workers = max(workers, 1)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dense := make([]float64, nFeatures)
			for n := wk; n < len(bg); n += workers {
				idx, val := d.row(bg[n])
				axpy(dense, idx, val, 1)
				for i, y := range d.label {
					if y >= 0 {
						ri, rv := d.row(i)
						if dot(dense, ri, rv) >= limit {
							drop[n] = true
							break
						}
					}
				}
				for _, j := range idx {
					dense[j] = 0
				}
			}
		}()
	}
	wg.Wait()
	out := &dataset{rowStart: []int32{0}}
	n := 0
	for i, y := range d.label {
		if y < 0 {
			n++
			if drop[n-1] {
				continue
			}
		}
		idx, val := d.row(i)
		out.idx = append(out.idx, idx...)
		out.val = append(out.val, val...)
		out.rowStart = append(out.rowStart, int32(len(out.idx)))
		out.label = append(out.label, y)
	}
	return out
}

// svmOptions are the settings of the one-vs-rest linear SVM.
type svmOptions struct {
	c       float64 // cost of a margin violation (liblinear's C)
	eps     float64 // stop when the projected gradients spread less than this
	maxIter int     // passes over the working set at most, per round
	bias    float64 // value of the constant feature that gives each class its bias
	seed    uint64
	workers int // goroutines solving classes; the weights do not depend on it
	// Negatives in a class's first working set: this many per positive
	// example, at least minNegatives.
	negPerPos, minNegatives int
	// background multiplies C for background examples (label -1), which
	// are negatives of every class.
	background float64
}

var defaultSVMOptions = svmOptions{
	c:            4,
	eps:          0.1,
	maxIter:      100,
	bias:         1,
	seed:         1,
	workers:      2,
	negPerPos:    10,
	minNegatives: 1000,
	background:   0.1,
}

// linear holds the trained weights: w is features×classes, row major, so the
// classes of one feature sit together and scoring a sparse row walks memory
// in order.
type linear struct {
	k    int
	w    []float32
	bias []float32
}

// scores writes the class scores of one sparse row into out (len k).
func (m *linear) scores(idx []int32, val []float32, out []float32) {
	copy(out, m.bias)
	rowAXPYs(out, m.w, m.k, idx, val)
}

// trainSVM fits one L2-regularized squared-hinge linear SVM per class, one
// against the rest, by dual coordinate descent with shrinking (Hsieh et al.
// 2008, liblinear's default solver). It gives liblinear's answer faster by
// solving each class on a working set: the class's examples plus the
// negatives most like them (by similarity to the class's centroid), then
// adding every other example that violates the margin and solving again
// until none does. The optimum is the same; most negatives are never
// visited more than once per round.
//
// Classes are independent, so workers solve them in parallel; each class
// has its own seeded order, so the weights do not depend on scheduling.
func trainSVM(d *dataset, nFeatures, k int, o svmOptions) *linear {
	m := &linear{k: k, w: make([]float32, nFeatures*k), bias: make([]float32, k)}
	workers := max(o.workers, 1)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSVMSolver(d, nFeatures, o)
			for c := wk; c < k; c += workers {
				w, b := s.solve(int32(c))
				for j, v := range w {
					m.w[j*k+c] = float32(v)
				}
				m.bias[c] = float32(b)
			}
		}()
	}
	wg.Wait()
	return m
}

type svmSolver struct {
	d     *dataset
	o     svmOptions
	w     []float64 // weights of the class being solved
	alpha []float64 // dual variables, by example
	qd    []float64 // x_i·x_i + bias², by example
	inSet []bool    // example is in the working set
	set   []int     // the working set
	order []int     // scratch: negatives by similarity
	sim   []float32 // scratch: similarity to the class centroid, by example
}

func newSVMSolver(d *dataset, nFeatures int, o svmOptions) *svmSolver {
	l := d.rows()
	s := &svmSolver{
		d: d, o: o,
		w:     make([]float64, nFeatures),
		alpha: make([]float64, l),
		qd:    make([]float64, l),
		inSet: make([]bool, l),
		order: make([]int, 0, l),
		sim:   make([]float32, l),
	}
	for i := range l {
		_, val := d.row(i)
		q := o.bias * o.bias
		for _, v := range val {
			q += float64(v) * float64(v)
		}
		s.qd[i] = q
	}
	return s
}

// solve returns the weights and bias of class c against the rest; the
// weights are the solver's own and valid until its next solve.
func (s *svmSolver) solve(c int32) ([]float64, float64) {
	d, o := s.d, s.o
	clear(s.w)
	clear(s.alpha)
	clear(s.inSet)
	s.set = s.set[:0]
	s.order = s.order[:0]
	for i, y := range d.label {
		if y == c {
			s.set = append(s.set, i)
			s.inSet[i] = true
			idx, val := d.row(i)
			axpy(s.w, idx, val, 1) // s.w holds the class centroid for now
		} else {
			s.order = append(s.order, i)
		}
	}
	nNeg := max(o.negPerPos*len(s.set), o.minNegatives)
	if nNeg < len(s.order) {
		for _, i := range s.order {
			idx, val := d.row(i)
			s.sim[i] = float32(dot(s.w, idx, val))
		}
		slices.SortFunc(s.order, func(a, b int) int {
			if r := cmp.Compare(s.sim[b], s.sim[a]); r != 0 {
				return r
			}
			return cmp.Compare(a, b)
		})
		s.order = s.order[:nNeg]
	}
	clear(s.w)
	for _, i := range s.order {
		s.set = append(s.set, i)
		s.inSet[i] = true
	}
	slices.Sort(s.set)

	rng := rand.New(rand.NewPCG(o.seed, uint64(c)))
	b := 0.0 // weight of the bias feature
	for {
		b = s.descend(c, b, rng)
		// Every example left out must sit beyond the margin; those that do
		// not join the set and the set is solved again.
		added := false
		for i := range d.rows() {
			if s.inSet[i] {
				continue
			}
			y := -1.0
			if d.label[i] == c {
				y = 1
			}
			idx, val := d.row(i)
			if y*(dot(s.w, idx, val)+b*o.bias) < 1-o.eps {
				s.set = append(s.set, i)
				s.inSet[i] = true
				added = true
			}
		}
		if !added {
			return s.w, b * o.bias
		}
		slices.Sort(s.set)
	}
}

// descend runs dual coordinate descent on the working set from the current
// alphas (liblinear's solve_l2r_l1l2_svc for the squared hinge, with its
// shrinking) and returns the new bias weight.
func (s *svmSolver) descend(c int32, b float64, rng *rand.Rand) float64 {
	d, o := s.d, s.o
	diag, diagBG := 0.5/o.c, 0.5/(o.c*o.background)
	index := append([]int(nil), s.set...)
	active := len(index)
	pgMaxOld := inf
	for iter := 0; iter < o.maxIter; iter++ {
		pgMax, pgMin := -inf, inf
		for i := 0; i < active; i++ {
			j := i + rng.IntN(active-i)
			index[i], index[j] = index[j], index[i]
		}
		for n := 0; n < active; n++ {
			i := index[n]
			y, dg := -1.0, diag
			switch d.label[i] {
			case c:
				y = 1
			case -1:
				dg = diagBG
			}
			idx, val := d.row(i)
			a := s.alpha[i]
			g := y*(dot(s.w, idx, val)+b*o.bias) - 1 + dg*a
			pg := g
			if a == 0 {
				if g > pgMaxOld {
					// Well beyond the margin: leave it out of later passes.
					active--
					index[n], index[active] = index[active], index[n]
					n--
					continue
				}
				pg = min(g, 0)
			}
			pgMax = max(pgMax, pg)
			pgMin = min(pgMin, pg)
			if pg > 1e-12 || pg < -1e-12 {
				na := max(a-g/(s.qd[i]+dg), 0)
				s.alpha[i] = na
				step := (na - a) * y
				axpy(s.w, idx, val, step)
				b += step * o.bias
			}
		}
		if pgMax-pgMin <= o.eps {
			if active == len(index) {
				break
			}
			// Converged on the shrunk set: check the whole set once more.
			active = len(index)
			pgMaxOld = inf
			continue
		}
		pgMaxOld = pgMax
		if pgMaxOld <= 0 {
			pgMaxOld = inf
		}
	}
	return b
}

const inf = 1e300
