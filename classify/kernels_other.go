//go:build !amd64

package classify

const useAVX = false

func axpy4AVX(out, r0, r1, r2, r3 *float32, x *[4]float32, n int) {
	panic("classify: axpy4AVX without AVX")
}

func prefetch(p *byte, n int) {}
