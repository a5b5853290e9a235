#include "textflag.h"

// func axpy4AVX(out, r0, r1, r2, r3 *float32, x *[4]float32, n int)
//
// out[c] += ((x0·r0[c] + x1·r1[c]) + x2·r2[c]) + x3·r3[c] for c < n, n a
// multiple of 8: the operations of rowAXPYs's loop, in its order and
// without fusing, eight classes at a time.
TEXT ·axpy4AVX(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ r0+8(FP), R8
	MOVQ r1+16(FP), R9
	MOVQ r2+24(FP), R10
	MOVQ r3+32(FP), R11
	MOVQ x+40(FP), AX
	MOVQ n+48(FP), CX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	SHLQ $2, CX
	XORQ SI, SI

loop:
	CMPQ SI, CX
	JGE  done
	VMULPS (R8)(SI*1), Y0, Y4
	VMULPS (R9)(SI*1), Y1, Y5
	VADDPS Y5, Y4, Y4
	VMULPS (R10)(SI*1), Y2, Y5
	VADDPS Y5, Y4, Y4
	VMULPS (R11)(SI*1), Y3, Y5
	VADDPS Y5, Y4, Y4
	VADDPS (DI)(SI*1), Y4, Y4
	VMOVUPS Y4, (DI)(SI*1)
	ADDQ $32, SI
	JMP  loop

done:
	VZEROUPPER
	RET

// func prefetch(p *byte, n int)
//
// Asks for the cache lines of p[:n] without waiting for them.
TEXT ·prefetch(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX

ploop:
	CMPQ AX, CX
	JGE  pdone
	PREFETCHT0 (AX)
	ADDQ $64, AX
	JMP  ploop

pdone:
	RET
