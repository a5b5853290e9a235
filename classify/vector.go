package classify

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"sync"
)

// scratch is the per-call working memory of Classify, pooled so a
// classification allocates next to nothing.
type scratch struct {
	raw    []rawFeature
	hashes []uint64
	offs   []int32
	// A small hash set that counts each distinct n-gram of one text; slot
	// i is empty when setPos[i] is 0, else holds uniq[setPos[i]-1].
	setKeys []uint64
	setPos  []int32
	uniq    []uint64 // distinct hashes, in order of first occurrence
	uniqTF  []int32
	uniqAt  []int32 // position of the first occurrence
	idx     []int32
	tf      []int32
	val     []float32
	first   []int32 // position in raw of idx[n]'s first occurrence, to name it
	scores  []float32
}

func newScratch(nClasses int) *scratch {
	return &scratch{
		raw:    make([]rawFeature, 0, 512),
		hashes: make([]uint64, 0, 512),
		offs:   make([]int32, 0, 256),
		uniq:   make([]uint64, 0, 512),
		uniqTF: make([]int32, 0, 512),
		uniqAt: make([]int32, 0, 512),
		idx:    make([]int32, 0, 512),
		tf:     make([]int32, 0, 512),
		val:    make([]float32, 0, 512),
		first:  make([]int32, 0, 512),
		scores: make([]float32, nClasses),
	}
}

// count fills sc.uniq, uniqTF and uniqAt with the distinct hashes and how
// often each occurs. Counting before looking hashes up in the model's big
// table makes one lookup per distinct n-gram, and the set, sized to the
// text, stays in cache.
func (sc *scratch) count(hashes []uint64) {
	size := 64
	for size < 2*len(hashes) {
		size *= 2
	}
	if cap(sc.setKeys) < size {
		sc.setKeys, sc.setPos = make([]uint64, size), make([]int32, size)
	}
	keys, pos := sc.setKeys[:size], sc.setPos[:size]
	clear(pos)
	shift := uint(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	sc.uniq, sc.uniqTF, sc.uniqAt = sc.uniq[:0], sc.uniqTF[:0], sc.uniqAt[:0]
	for p, h := range hashes {
		i := h >> shift
		for pos[i] != 0 && keys[i] != h {
			i = (i + 1) & mask
		}
		if pos[i] != 0 {
			sc.uniqTF[pos[i]-1]++
			continue
		}
		keys[i] = h
		sc.uniq = append(sc.uniq, h)
		sc.uniqTF = append(sc.uniqTF, 1)
		sc.uniqAt = append(sc.uniqAt, int32(p))
		pos[i] = int32(len(sc.uniq))
	}
}

// vectorize turns padded text into the model's sparse row in sc.idx and
// sc.val. N-grams the model never saw are ignored.
func (m *Model) vectorize(sc *scratch, padded string) {
	sc.raw, sc.offs = m.feat.extract(padded, sc.raw[:0], sc.offs)
	sc.hashes = sc.hashes[:0]
	for _, r := range sc.raw {
		sc.hashes = append(sc.hashes, r.hash)
	}
	m.aggregate(sc, sc.hashes)
}

// aggregate turns n-gram hashes into the sparse row: sublinear term
// frequency, each block L2-normalized and weighted, the whole row
// L2-normalized.
func (m *Model) aggregate(sc *scratch, hashes []uint64) {
	sc.idx, sc.tf, sc.val, sc.first = sc.idx[:0], sc.tf[:0], sc.val[:0], sc.first[:0]
	sc.count(hashes)
	for u, h := range sc.uniq {
		if u+8 < len(sc.uniq) {
			m.dict.prefetch(sc.uniq[u+8])
		}
		if j, ok := m.dict.get(h); ok {
			sc.idx = append(sc.idx, j)
			sc.tf = append(sc.tf, sc.uniqTF[u])
			sc.first = append(sc.first, sc.uniqAt[u])
		}
	}
	var block [numBlocks]float64
	for n, j := range sc.idx {
		v := sublinear(sc.tf[n])
		sc.val = append(sc.val, float32(v))
		block[m.fblock[j]] += v * v
	}
	var scale [numBlocks]float64
	norm := 0.0
	for b, ss := range block {
		if ss > 0 {
			w := m.feat.weights[b]
			scale[b] = w / math.Sqrt(ss)
			norm += w * w
		}
	}
	if norm == 0 {
		return
	}
	inv := 1 / math.Sqrt(norm)
	for b := range scale {
		scale[b] *= inv
	}
	for n, j := range sc.idx {
		sc.val[n] *= float32(scale[m.fblock[j]])
	}
}

// extractAll returns the n-gram hashes of each text. Texts are split
// between workers; each text's hashes depend on it alone.
func extractAll(fo *featureOptions, texts []string, workers int) [][]uint64 {
	docs := make([][]uint64, len(texts))
	var wg sync.WaitGroup
	chunk := (len(texts) + workers - 1) / max(workers, 1)
	for start := 0; start < len(texts); start += chunk {
		end := min(start+chunk, len(texts))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []rawFeature
			var offs []int32
			for i := start; i < end; i++ {
				raw, offs = fo.extract(fo.padText(Normalize(texts[i])), raw[:0], offs)
				h := make([]uint64, len(raw))
				for n, r := range raw {
					h[n] = r.hash
				}
				docs[i] = h
			}
		}()
	}
	wg.Wait()
	return docs
}

// buildDictionary numbers every n-gram seen in docs and records its block.
// Features are numbered by how often they occur, commonest first, so the
// weights that training and scoring touch most share cache lines; ties keep
// the order of first appearance.
func buildDictionary(docs [][]uint64) (*table, []uint8) {
	n := 0
	for _, doc := range docs {
		n += len(doc)
	}
	first := make(map[uint64]int32, n/4)
	var hashes []uint64
	var count []int32
	for _, doc := range docs {
		for _, h := range doc {
			j, ok := first[h]
			if !ok {
				j = int32(len(hashes))
				first[h] = j
				hashes = append(hashes, h)
				count = append(count, 0)
			}
			count[j]++
		}
	}
	order := make([]int32, len(hashes))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(count[b], count[a]) })
	dict := newTable(len(order))
	fblock := make([]uint8, len(order))
	for j, i := range order {
		h := hashes[i]
		dict.put(h, int32(j))
		fblock[j] = kindBlock[h&kindMask]
	}
	return dict, fblock
}

// dataset vectorizes the training documents.
func (m *Model) dataset(docs [][]uint64, labels []int32) *dataset {
	d := &dataset{rowStart: make([]int32, 1, len(docs)+1), label: labels}
	sc := newScratch(len(m.classes))
	for _, doc := range docs {
		m.aggregate(sc, doc)
		d.idx = append(d.idx, sc.idx...)
		d.val = append(d.val, sc.val...)
		d.rowStart = append(d.rowStart, int32(len(d.idx)))
	}
	return d
}
