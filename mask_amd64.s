//go:build amd64 && !purego

#include "textflag.h"

// The kernels in this file have the semantics of maskGo: they mask b in
// place and return the key for the byte after b, that is key rotated right by
// 8*(len(b)%4) bits. Inside, they share one register contract:
//
//	DI  next byte to mask
//	BX  number of bytes left to mask
//	AX  key that applies from DI, zero-extended to 64 bits
//
// Buffers of 128 bytes or more are masked with vectors in three parts:
//
//   - the head, one unaligned vector at the start of b, is loaded and masked
//     first but stored only after the aligned loop, which overlaps it unless b
//     is aligned and stores the same values into the bytes both cover;
//   - the aligned loop covers whole vectors from the first aligned address;
//   - the tail, shorter than one vector, goes to MASK_TAIL.
//
// Shorter buffers go to MASK_TAIL directly.

// MASK_TAIL masks the BX < 128 bytes at DI with the key in AX and returns. It
// makes one access per set bit of BX, largest first, so that no two of its
// stores partly overlap: a later load of the same bytes is then forwarded
// from a single store instead of waiting for the stores to reach the cache.
// It uses general-purpose registers only, whose stores forward faster than
// vector stores. The caller must have stored the result already.
#define MASK_TAIL \
	TESTQ BX, BX; \
	JZ    tail0; \
	CMPQ  BX, $8; \
	JB    tail4; \
	MOVQ  AX, R10; \
	SHLQ  $32, R10; \
	ORQ   AX, R10; \
	TESTQ $64, BX; \
	JZ    tail32; \
	XORQ  R10, (DI); \
	XORQ  R10, 8(DI); \
	XORQ  R10, 16(DI); \
	XORQ  R10, 24(DI); \
	XORQ  R10, 32(DI); \
	XORQ  R10, 40(DI); \
	XORQ  R10, 48(DI); \
	XORQ  R10, 56(DI); \
	ADDQ  $64, DI; \
tail32: \
	TESTQ $32, BX; \
	JZ    tail16; \
	XORQ  R10, (DI); \
	XORQ  R10, 8(DI); \
	XORQ  R10, 16(DI); \
	XORQ  R10, 24(DI); \
	ADDQ  $32, DI; \
tail16: \
	TESTQ $16, BX; \
	JZ    tail8; \
	XORQ  R10, (DI); \
	XORQ  R10, 8(DI); \
	ADDQ  $16, DI; \
tail8: \
	TESTQ $8, BX; \
	JZ    tail7; \
	XORQ  R10, (DI); \
	ADDQ  $8, DI; \
tail7: \
	TESTQ $7, BX; \
	JZ    tail0; \
tail4: \
	TESTQ $4, BX; \
	JZ    tail2; \
	XORL  AX, (DI); \
	ADDQ  $4, DI; \
tail2: \
	TESTQ $2, BX; \
	JZ    tail1; \
	XORW  AX, (DI); \
	ADDQ  $2, DI; \
	SHRL  $16, AX; \
tail1: \
	TESTQ $1, BX; \
	JZ    tail0; \
	XORB  AX, (DI); \
tail0: \
	RET

// maskTail is MASK_TAIL for the vector kernels to jump to.
TEXT maskTail<>(SB), NOSPLIT, $0
	MASK_TAIL

// func maskBytes(b []byte, key uint32) uint32
TEXT ·maskBytes(SB), NOSPLIT, $0-36
	MOVQ b_len+8(FP), BX
	CMPQ BX, $128
	JAE  vector

	MOVQ b_base+0(FP), DI
	MOVL key+24(FP), AX
	MOVL BX, CX
	ANDL $3, CX
	SHLL $3, CX
	MOVL AX, DX
	RORL CX, DX
	MOVL DX, ret+32(FP)
	MASK_TAIL

vector:
	CMPB ·hasAVX2(SB), $0
	JEQ  sse2
	JMP  ·maskAVX2(SB)

sse2:
	JMP ·maskSSE2(SB)

// func maskSSE2(b []byte, key uint32) uint32
TEXT ·maskSSE2(SB), NOSPLIT, $0-36
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), BX
	MOVL key+24(FP), AX
	MOVL BX, CX
	ANDL $3, CX
	SHLL $3, CX
	MOVL AX, DX
	RORL CX, DX
	MOVL DX, ret+32(FP)

	CMPQ BX, $128
	JAE  head
	JMP  maskTail<>(SB)

head:
	MOVQ   AX, X0
	PSHUFD $0, X0, X0
	MOVOU  (DI), X2
	PXOR   X0, X2

	// SI = first 16-byte aligned address in b, CX = SI - DI,
	// BX = bytes from SI to the end of b.
	MOVQ DI, CX
	NEGQ CX
	ANDQ $15, CX
	LEAQ (DI)(CX*1), SI
	SUBQ CX, BX

	// AX and every lane of X4 = key that applies from SI.
	ANDL   $3, CX
	SHLL   $3, CX
	RORL   CX, AX
	MOVQ   AX, X4
	PSHUFD $0, X4, X4

	CMPQ BX, $128
	JB   loop64

loop128:
	MOVOU (SI), X5
	MOVOU 16(SI), X6
	MOVOU 32(SI), X7
	MOVOU 48(SI), X8
	MOVOU 64(SI), X9
	MOVOU 80(SI), X10
	MOVOU 96(SI), X11
	MOVOU 112(SI), X12
	PXOR  X4, X5
	PXOR  X4, X6
	PXOR  X4, X7
	PXOR  X4, X8
	PXOR  X4, X9
	PXOR  X4, X10
	PXOR  X4, X11
	PXOR  X4, X12
	MOVOU X5, (SI)
	MOVOU X6, 16(SI)
	MOVOU X7, 32(SI)
	MOVOU X8, 48(SI)
	MOVOU X9, 64(SI)
	MOVOU X10, 80(SI)
	MOVOU X11, 96(SI)
	MOVOU X12, 112(SI)
	ADDQ  $128, SI
	SUBQ  $128, BX
	CMPQ  BX, $128
	JAE   loop128

loop64:
	CMPQ  BX, $64
	JB    loop16
	MOVOU (SI), X5
	MOVOU 16(SI), X6
	MOVOU 32(SI), X7
	MOVOU 48(SI), X8
	PXOR  X4, X5
	PXOR  X4, X6
	PXOR  X4, X7
	PXOR  X4, X8
	MOVOU X5, (SI)
	MOVOU X6, 16(SI)
	MOVOU X7, 32(SI)
	MOVOU X8, 48(SI)
	ADDQ  $64, SI
	SUBQ  $64, BX

loop16:
	CMPQ  BX, $16
	JB    done
	MOVOU (SI), X5
	PXOR  X4, X5
	MOVOU X5, (SI)
	ADDQ  $16, SI
	SUBQ  $16, BX
	JMP   loop16

done:
	MOVOU X2, (DI)
	MOVQ  SI, DI
	JMP   maskTail<>(SB)

// func maskAVX2(b []byte, key uint32) uint32
TEXT ·maskAVX2(SB), NOSPLIT, $0-36
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), BX
	MOVL key+24(FP), AX
	MOVL BX, CX
	ANDL $3, CX
	SHLL $3, CX
	MOVL AX, DX
	RORL CX, DX
	MOVL DX, ret+32(FP)

	CMPQ BX, $128
	JAE  head
	JMP  maskTail<>(SB)

head:
	MOVQ         AX, X0
	VPBROADCASTD X0, Y0
	VPXOR        (DI), Y0, Y2

	// SI = first 32-byte aligned address in b, CX = SI - DI,
	// BX = bytes from SI to the end of b.
	MOVQ DI, CX
	NEGQ CX
	ANDQ $31, CX
	LEAQ (DI)(CX*1), SI
	SUBQ CX, BX

	// AX and every lane of Y4 = key that applies from SI.
	ANDL         $3, CX
	SHLL         $3, CX
	RORL         CX, AX
	MOVQ         AX, X4
	VPBROADCASTD X4, Y4

	CMPQ BX, $256
	JB   loop128

loop256:
	VPXOR   0(SI), Y4, Y5
	VMOVDQU Y5, 0(SI)
	VPXOR   32(SI), Y4, Y6
	VMOVDQU Y6, 32(SI)
	VPXOR   64(SI), Y4, Y7
	VMOVDQU Y7, 64(SI)
	VPXOR   96(SI), Y4, Y8
	VMOVDQU Y8, 96(SI)
	VPXOR   128(SI), Y4, Y9
	VMOVDQU Y9, 128(SI)
	VPXOR   160(SI), Y4, Y10
	VMOVDQU Y10, 160(SI)
	VPXOR   192(SI), Y4, Y11
	VMOVDQU Y11, 192(SI)
	VPXOR   224(SI), Y4, Y12
	VMOVDQU Y12, 224(SI)
	ADDQ    $256, SI
	SUBQ    $256, BX
	CMPQ    BX, $256
	JAE     loop256

loop128:
	CMPQ    BX, $128
	JB      loop32
	VPXOR   (SI), Y4, Y5
	VPXOR   32(SI), Y4, Y6
	VPXOR   64(SI), Y4, Y7
	VPXOR   96(SI), Y4, Y8
	VMOVDQU Y5, (SI)
	VMOVDQU Y6, 32(SI)
	VMOVDQU Y7, 64(SI)
	VMOVDQU Y8, 96(SI)
	ADDQ    $128, SI
	SUBQ    $128, BX

loop32:
	CMPQ    BX, $32
	JB      done
	VPXOR   (SI), Y4, Y5
	VMOVDQU Y5, (SI)
	ADDQ    $32, SI
	SUBQ    $32, BX
	JMP     loop32

done:
	VMOVDQU Y2, (DI)
	VZEROUPPER
	MOVQ    SI, DI
	JMP     maskTail<>(SB)

// func cpuHasAVX2() bool
//
// cpuHasAVX2 reports whether the processor implements AVX2 and the operating
// system saves the YMM registers on context switches.
TEXT ·cpuHasAVX2(SB), NOSPLIT, $0-1
	// The highest basic CPUID leaf must be 7 or more.
	XORL AX, AX
	XORL CX, CX
	CPUID
	CMPL AX, $7
	JB   no

	// Leaf 1, ECX: OSXSAVE (bit 27) and AVX (bit 28).
	MOVL $1, AX
	XORL CX, CX
	CPUID
	ANDL $0x18000000, CX
	CMPL CX, $0x18000000
	JNE  no

	// XCR0: the operating system must save XMM (bit 1) and YMM (bit 2)
	// state.
	XORL   CX, CX
	XGETBV
	ANDL   $6, AX
	CMPL   AX, $6
	JNE    no

	// Leaf 7, subleaf 0, EBX: AVX2 (bit 5).
	MOVL $7, AX
	XORL CX, CX
	CPUID
	BTL  $5, BX
	JCC  no
	MOVB $1, ret+0(FP)
	RET

no:
	MOVB $0, ret+0(FP)
	RET
