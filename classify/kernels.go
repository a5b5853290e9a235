package classify

import "unsafe"

// The loops below are where training and classification spend their time.
// They are marked go:norace because the race detector instruments every
// element access, which makes training on 15,000 examples about twelve
// times slower under -race, and these loops cannot race: each writes only a
// buffer owned by its caller (a solver's own weights, one row of a result,
// a pooled scratch) and reads data that no longer changes (the training
// rows, a trained model). Everything around them is still checked.

// dot returns Σ w[idx[n]]·val[n].
//
//go:norace
func dot(w []float64, idx []int32, val []float32) float64 {
	val = val[:len(idx)]
	s := 0.0
	for n, j := range idx {
		s += w[j] * float64(val[n])
	}
	return s
}

// axpy adds a·val[n] to w[idx[n]].
//
//go:norace
func axpy(w []float64, idx []int32, val []float32, a float64) {
	val = val[:len(idx)]
	for n, j := range idx {
		w[j] += a * float64(val[n])
	}
}

// rowAXPYs adds val[n] times row idx[n] of the row-major matrix m (k
// columns) to out: a sparse row times a dense matrix.
//
// Four rows go at a time so out is loaded and stored a quarter as often,
// eight columns at a time with AVX where the processor has it.
func rowAXPYs(out []float32, m []float32, k int, idx []int32, val []float32) {
	rowAXPYsWith(useAVX, out, m, k, idx, val)
}

// rowAXPYsWith is rowAXPYs with or without AVX. Both do the same float32
// operations in the same order, unfused (the conversions forbid the
// compiler to fuse a multiply and an add), so they give the same scores to
// the bit.
//
//go:norace
func rowAXPYsWith(avx bool, out []float32, m []float32, k int, idx []int32, val []float32) {
	out = out[:k]
	val = val[:len(idx)]
	n := 0
	var x [4]float32
	for ; n+4 <= len(idx); n += 4 {
		// The rows are scattered over a large matrix: ask for the next
		// four while these are summed.
		for _, j := range idx[min(n+4, len(idx)):min(n+8, len(idx))] {
			prefetch((*byte)(unsafe.Pointer(&m[int(j)*k])), 4*k)
		}
		x = [4]float32{val[n], val[n+1], val[n+2], val[n+3]}
		r0 := m[int(idx[n])*k : int(idx[n])*k+k]
		r1 := m[int(idx[n+1])*k : int(idx[n+1])*k+k]
		r2 := m[int(idx[n+2])*k : int(idx[n+2])*k+k]
		r3 := m[int(idx[n+3])*k : int(idx[n+3])*k+k]
		c := 0
		if avx && k >= 8 {
			c = k &^ 7
			axpy4AVX(&out[0], &r0[0], &r1[0], &r2[0], &r3[0], &x, c)
		}
		x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
		r0, r1, r2, r3 = r0[:len(out)], r1[:len(out)], r2[:len(out)], r3[:len(out)]
		for ; c < len(out); c++ {
			out[c] += float32(float32(float32(x0*r0[c])+float32(x1*r1[c]))+float32(x2*r2[c])) + float32(x3*r3[c])
		}
	}
	for ; n < len(idx); n++ {
		x := val[n]
		row := m[int(idx[n])*k : int(idx[n])*k+k]
		row = row[:len(out)]
		for c := range out {
			out[c] += float32(x * row[c])
		}
	}
}
