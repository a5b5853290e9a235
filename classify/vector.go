package classify

import (
	"math"
)

// scratch is the per-call working memory of Classify, pooled so a
// classification allocates next to nothing.
type scratch struct {
	raw   []rawFeature
	offs  []int32
	slot  []int32 // feature → 1 + its position in idx, 0 when absent
	idx   []int32
	tf    []int32
	val   []float32
	first []rawFeature // first occurrence of idx[n], to name it in reasons
	probs []float64
}

func newScratch(nFeatures, nClasses int) *scratch {
	return &scratch{
		raw:   make([]rawFeature, 0, 256),
		offs:  make([]int32, 0, 64),
		slot:  make([]int32, nFeatures),
		idx:   make([]int32, 0, 256),
		tf:    make([]int32, 0, 256),
		val:   make([]float32, 0, 256),
		first: make([]rawFeature, 0, 256),
		probs: make([]float64, nClasses),
	}
}

// vectorize turns padded text into the model's sparse, L2-normalized row in
// sc.idx / sc.val. N-grams the model never saw are ignored.
func (m *Model) vectorize(sc *scratch, padded string) {
	sc.raw, sc.offs = m.feat.extract(padded, sc.raw[:0], sc.offs)
	m.aggregate(sc)
}

// aggregate turns the n-grams in sc.raw into the sparse row.
func (m *Model) aggregate(sc *scratch) {
	sc.idx, sc.tf, sc.val, sc.first = sc.idx[:0], sc.tf[:0], sc.val[:0], sc.first[:0]
	for _, r := range sc.raw {
		j, ok := m.dict[r.hash]
		if !ok {
			continue
		}
		if s := sc.slot[j]; s > 0 {
			sc.tf[s-1]++
			continue
		}
		sc.idx = append(sc.idx, j)
		sc.tf = append(sc.tf, 1)
		sc.first = append(sc.first, r)
		sc.slot[j] = int32(len(sc.idx))
	}
	norm := 0.0
	for n, j := range sc.idx {
		sc.slot[j] = 0
		v := sublinear(sc.tf[n]) * float64(m.fscale[j])
		sc.val = append(sc.val, float32(v))
		norm += v * v
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for n := range sc.val {
			sc.val[n] *= inv
		}
	}
}

// extractAll returns the n-grams of each text.
func extractAll(fo *featureOptions, texts []string) [][]rawFeature {
	docs := make([][]rawFeature, len(texts))
	var offs []int32
	for i, t := range texts {
		var raw []rawFeature
		raw, offs = fo.extract(fo.padText(Normalize(t)), nil, offs)
		docs[i] = raw
	}
	return docs
}

// buildDictionary numbers every n-gram seen in docs in order of first
// appearance and gives it its weight: smoothed idf times the kind's weight.
func buildDictionary(docs [][]rawFeature, fo *featureOptions) (map[uint64]int32, []float32) {
	type stat struct{ df, last int32 }
	stats := make(map[uint64]*stat)
	var order []uint64
	var kinds []uint8
	for i, doc := range docs {
		for _, r := range doc {
			s := stats[r.hash]
			if s == nil {
				s = &stat{last: -1}
				stats[r.hash] = s
				order = append(order, r.hash)
				kinds = append(kinds, r.kind)
			}
			if s.last != int32(i) {
				s.last = int32(i)
				s.df++
			}
		}
	}
	dict := make(map[uint64]int32, len(order))
	fscale := make([]float32, 0, len(order))
	n := float64(len(docs))
	for i, h := range order {
		df := float64(stats[h].df)
		idf := math.Log((1+n)/(1+df)) + 1
		w := fo.wordWeight
		switch kinds[i] {
		case kindChar:
			w = fo.charWeight
		case kindPair:
			w = fo.pairWeight
		}
		dict[h] = int32(len(fscale))
		fscale = append(fscale, float32(idf*w))
	}
	return dict, fscale
}

// dataset vectorizes the training documents.
func (m *Model) dataset(docs [][]rawFeature, labels []int32) *dataset {
	d := &dataset{rowStart: make([]int32, 1, len(docs)+1), label: labels}
	sc := newScratch(len(m.fscale), len(m.classes))
	for _, doc := range docs {
		sc.raw = doc
		m.aggregate(sc)
		d.idx = append(d.idx, sc.idx...)
		d.val = append(d.val, sc.val...)
		d.rowStart = append(d.rowStart, int32(len(d.idx)))
	}
	return d
}
