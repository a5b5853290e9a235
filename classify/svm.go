package classify

import (
	"math/rand/v2"
	"slices"
	"sync"
	"unsafe"
)

// dataset is the training set as sparse L2-normalized rows (CSR).
type dataset struct {
	rowStart []int32 // row i is idx/val[rowStart[i]:rowStart[i+1]]
	idx      []int32
	val      []float32
	label    []int32
	bg       []bool // background rows that are examples of the none class; nil if none
}

func (d *dataset) rows() int { return len(d.label) }

func (d *dataset) row(i int) ([]int32, []float32) {
	a, b := d.rowStart[i], d.rowStart[i+1]
	return d.idx[a:b], d.val[a:b]
}

// prefetchRow asks for row i's memory ahead of its use: coordinate descent
// visits rows in random order, and waiting for each one's cache lines took
// about a third of its time.
func (d *dataset) prefetchRow(i int) {
	a, b := d.rowStart[i], d.rowStart[i+1]
	if b > a {
		prefetch((*byte)(unsafe.Pointer(&d.idx[a])), int(b-a)*4)
		prefetch((*byte)(unsafe.Pointer(&d.val[a])), int(b-a)*4)
	}
}

// dropResembling returns d without the background rows (label -1) whose
// cosine similarity to some labeled row reaches limit. Rows are
// L2-normalized with positive values, so a dot product is the cosine.
//
// Comparing every background row with every labeled one takes 16 million
// dot products for clinc150; beyond exhaustivePairs each background row is
// compared only with the shortlistLen labeled rows that have the largest
// dot product with it over its rarer n-grams (those in at most rareShare of
// the labeled rows). On clinc150 train that drops 145 of the 150 rows the
// exhaustive comparison drops, in a twentieth of the time.
func (d *dataset) dropResembling(nFeatures int, limit float64, workers int) *dataset {
	var bg, lab []int
	for i, y := range d.label {
		if y < 0 {
			bg = append(bg, i)
		} else {
			lab = append(lab, i)
		}
	}
	if len(bg) == 0 {
		return d
	}
	var post *postings
	if len(bg)*len(lab) > exhaustivePairs {
		post = d.rarePostings(lab, nFeatures, max(minRare, int(rareShare*float64(len(lab)))))
	}
	drop := make([]bool, len(bg))
	workers = max(workers, 1)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dense := make([]float64, nFeatures)
			var acc []float32
			if post != nil {
				acc = make([]float32, len(lab))
			}
			var touched, short []int32
			for n := wk; n < len(bg); n += workers {
				idx, val := d.row(bg[n])
				axpy(dense, idx, val, 1)
				if post == nil {
					for _, i := range lab {
						ri, rv := d.row(i)
						if dot(dense, ri, rv) >= limit {
							drop[n] = true
							break
						}
					}
				} else {
					touched, short = post.shortlist(idx, val, acc, touched[:0], short[:0])
					for _, li := range short {
						ri, rv := d.row(lab[li])
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

// Settings of dropResembling's shortlist.
const (
	exhaustivePairs = 4_000_000
	rareShare       = 0.03
	minRare         = 20
	shortlistLen    = 128
)

// postings lists, for each n-gram seen in at most maxDF labeled rows, the
// labeled rows (by position in lab) that have it, with its value there.
type postings struct {
	start []int32 // feature j's entries are row/val[start[j]:start[j+1]]
	row   []int32
	val   []float32
}

func (d *dataset) rarePostings(lab []int, nFeatures, maxDF int) *postings {
	df := make([]int32, nFeatures+1)
	for _, i := range lab {
		idx, _ := d.row(i)
		for _, j := range idx {
			df[j]++
		}
	}
	p := &postings{start: make([]int32, nFeatures+1)}
	total := int32(0)
	for j := range nFeatures {
		p.start[j] = total
		if df[j] <= int32(maxDF) {
			total += df[j]
		}
	}
	p.start[nFeatures] = total
	p.row, p.val = make([]int32, total), make([]float32, total)
	fill := slices.Clone(p.start)
	for li, i := range lab {
		idx, val := d.row(i)
		for n, j := range idx {
			if df[j] <= int32(maxDF) {
				p.row[fill[j]], p.val[fill[j]] = int32(li), val[n]
				fill[j]++
			}
		}
	}
	return p
}

// shortlist returns the labeled rows with the largest dot product with
// (idx, val) over the rare n-grams, at most shortlistLen, in no particular
// order (ties by position): the caller asks whether any of them is too
// similar. acc is scratch of one value per labeled row, all zero, and
// left so.
func (p *postings) shortlist(idx []int32, val []float32, acc []float32, touched, short []int32) ([]int32, []int32) {
	for n, j := range idx {
		for e := p.start[j]; e < p.start[j+1]; e++ {
			r := p.row[e]
			if acc[r] == 0 {
				touched = append(touched, r)
			}
			acc[r] += val[n] * p.val[e]
		}
	}
	short = selectBest(append(short, touched...), shortlistLen, func(a, b int32) bool {
		return acc[a] < acc[b] || acc[a] == acc[b] && a > b
	})
	for _, r := range touched {
		acc[r] = 0
	}
	return touched, short
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
	// are negatives of every class; noneBackground for those that are
	// examples of the none class instead (dataset.bg). Train lowers them
	// for small training sets (backgroundShare).
	background, noneBackground float64
}

var defaultSVMOptions = svmOptions{
	c:              4,
	eps:            0.1,
	maxIter:        100,
	bias:           1,
	seed:           1,
	workers:        2,
	negPerPos:      10,
	minNegatives:   1000,
	background:     1,
	noneBackground: 0.3,
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
// until none does (after the first check, none of those it found near the
// limit). The optimum is the same; most negatives are never visited more
// than once per round.
//
// Classes are independent, so workers solve them in parallel; each class
// has its own seeded order, so the weights do not depend on scheduling.
func trainSVM(d *dataset, nFeatures, k int, o svmOptions) *linear {
	m := &linear{k: k, w: make([]float32, nFeatures*k), bias: make([]float32, k)}
	workers := max(o.workers, 1)
	sims := centroidSims(d, m.w, k, workers)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSVMSolver(d, nFeatures, o)
			for c := wk; c < k; c += workers {
				w, b := s.solve(int32(c), sims, k)
				// Most weights are zero (a class's working set uses about
				// a tenth of the features) and m.w is zero already: writing
				// every feature's, one cache line apart, was a sixth of
				// training.
				for j, v := range w {
					if v != 0 {
						m.w[j*k+c] = float32(v)
						w[j] = 0
					}
				}
				m.bias[c] = float32(b)
			}
		}()
	}
	wg.Wait()
	return m
}

// centroidSims returns every row's similarity to every class's centroid
// (the sum of its rows), row major: row i's k values at i*k. One pass with
// the centroids as a features×k matrix, in w (which it leaves zeroed),
// costs as much as classifying the rows once, where a pass per class took
// a fifth of training.
func centroidSims(d *dataset, w []float32, k, workers int) []float32 {
	for i, y := range d.label {
		if y < 0 {
			continue
		}
		idx, val := d.row(i)
		for n, j := range idx {
			w[int(j)*k+int(y)] += val[n]
		}
	}
	sims := make([]float32, d.rows()*k)
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := wk; i < d.rows(); i += workers {
				idx, val := d.row(i)
				rowAXPYs(sims[i*k:i*k+k], w, k, idx, val)
			}
		}()
	}
	wg.Wait()
	clear(w)
	return sims
}

type svmSolver struct {
	d     *dataset
	o     svmOptions
	w     []float64 // weights of the class being solved; zero before a solve
	alpha []float64 // dual variables, by example
	qd    []float64 // x_i·x_i + bias², by example
	inSet []bool    // example is in the working set
	set   []int     // the working set
	order []int     // scratch: negatives by similarity
	sim   []float32 // scratch: similarity to the class centroid, then first margin, by example
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
// weights are the solver's own, and the caller zeroes them before the
// next solve.
func (s *svmSolver) solve(c int32, sims []float32, k int) ([]float64, float64) {
	d, o := s.d, s.o
	clear(s.alpha)
	clear(s.inSet)
	s.set = s.set[:0]
	s.order = s.order[:0]
	for i, y := range d.label {
		if y == c {
			s.set = append(s.set, i)
			s.inSet[i] = true
		} else {
			s.order = append(s.order, i)
		}
	}
	nNeg := max(o.negPerPos*len(s.set), o.minNegatives)
	if nNeg < len(s.order) {
		for _, i := range s.order {
			s.sim[i] = sims[i*k+int(c)]
		}
		sim := s.sim
		s.order = selectBest(s.order, nNeg, func(a, b int) bool {
			return sim[a] < sim[b] || sim[a] == sim[b] && a > b
		})
	}
	for _, i := range s.order {
		s.set = append(s.set, i)
		s.inSet[i] = true
	}
	slices.Sort(s.set)

	rng := rand.New(rand.NewPCG(o.seed, uint64(c)))
	b := 0.0 // weight of the bias feature
	for round := 0; ; round++ {
		b = s.descend(c, b, rng)
		// Every example left out must sit beyond the margin; those that do
		// not join the set and the set is solved again. After the first
		// check only the examples it found within eps of the limit (a
		// ninth on clinc150) are checked again: a full second check cost
		// a sixth of training, and on clinc150 added 3 examples in all,
		// each with a first margin below 0.98. s.sim holds each left-out
		// example's first margin.
		added := false
		for i := range d.rows() {
			if s.inSet[i] || round > 0 && float64(s.sim[i]) >= 1 {
				continue
			}
			y := -1.0
			if d.label[i] == c {
				y = 1
			}
			idx, val := d.row(i)
			margin := y * (dot(s.w, idx, val) + b*o.bias)
			if round == 0 {
				s.sim[i] = float32(margin)
			}
			if margin < 1-o.eps {
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

// selectBest moves the n elements of cand that rank first into cand[:n],
// in no particular order, and returns that; cand[n:] is left undefined.
// worse(a, b) says a ranks after b, and must be a total order. A min-heap
// of the n best, worst on top, that most elements are only compared with
// once, costs much less than sorting everything: sorting each class's
// 15,000 negatives to keep about a thousand was a twentieth of training.
func selectBest[T any](cand []T, n int, worse func(a, b T) bool) []T {
	if n >= len(cand) {
		return cand
	}
	heap := cand[:n]
	down := func(p int) {
		for {
			l := 2*p + 1
			if l >= n {
				return
			}
			if r := l + 1; r < n && worse(heap[r], heap[l]) {
				l = r
			}
			if !worse(heap[l], heap[p]) {
				return
			}
			heap[p], heap[l] = heap[l], heap[p]
			p = l
		}
	}
	for p := n/2 - 1; p >= 0; p-- {
		down(p)
	}
	for _, x := range cand[n:] {
		if worse(heap[0], x) {
			heap[0] = x
			down(0)
		}
	}
	return heap
}

// descend runs dual coordinate descent on the working set from the current
// alphas (liblinear's solve_l2r_l1l2_svc for the squared hinge, with its
// shrinking) and returns the new bias weight.
func (s *svmSolver) descend(c int32, b float64, rng *rand.Rand) float64 {
	d, o := s.d, s.o
	diag, diagBG, diagNoneBG := 0.5/o.c, 0.5/(o.c*o.background), 0.5/(o.c*o.noneBackground)
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
			if n+1 < active {
				d.prefetchRow(index[n+1])
			}
			y, dg := -1.0, diag
			switch d.label[i] {
			case c:
				y = 1
			case -1:
				dg = diagBG
			}
			if d.bg != nil && d.bg[i] {
				dg = diagNoneBG
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
