package classify

import (
	"math/rand/v2"
	"testing"
)

// TestRowAXPYsAVX checks that the AVX kernel gives the scores of the plain
// loop to the bit, for class counts around its eight-wide steps and rows
// counts around its four-row steps.
func TestRowAXPYsAVX(t *testing.T) {
	if !useAVX {
		t.Skip("no AVX on this processor")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const features = 50
	for _, k := range []int{2, 7, 8, 9, 16, 151} {
		m := make([]float32, features*k)
		for i := range m {
			m[i] = float32(rng.NormFloat64())
		}
		for _, nnz := range []int{0, 1, 3, 4, 5, 8, 37} {
			idx := make([]int32, nnz)
			val := make([]float32, nnz)
			for n := range idx {
				idx[n] = int32(rng.IntN(features))
				val[n] = rng.Float32()
			}
			want, got := make([]float32, k), make([]float32, k)
			for c := range want {
				want[c] = float32(rng.NormFloat64())
				got[c] = want[c]
			}
			rowAXPYsWith(false, want, m, k, idx, val)
			rowAXPYsWith(true, got, m, k, idx, val)
			for c := range want {
				if got[c] != want[c] {
					t.Fatalf("k=%d nnz=%d: class %d scores %v with AVX, %v without", k, nnz, c, got[c], want[c])
				}
			}
		}
	}
}
