package classify

import "golang.org/x/sys/cpu"

// useAVX says whether axpy4AVX can run here.
var useAVX = cpu.X86.HasAVX

// axpy4AVX is rowAXPYs's inner loop for four rows, eight classes at a time
// (kernels_amd64.s); n must be a multiple of 8.
//
//go:noescape
func axpy4AVX(out, r0, r1, r2, r3 *float32, x *[4]float32, n int)

// prefetch asks for the cache lines of p[:n] without waiting for them
// (kernels_amd64.s).
//
//go:noescape
func prefetch(p *byte, n int)
