/* gemm_internal.h - the pieces of the fast SGEMM shared between gemm.c (the
 * entry point: argument checks, path choice, thread split) and the
 * per-instruction-set kernels built from gemm_driver.inc (gemm_generic.c,
 * gemm_avx2.c). Private to the library; tests include it to force a path or
 * an instruction set so that every variant is checked, not only the one this
 * machine would pick. */
#ifndef TC_GEMM_INTERNAL_H
#define TC_GEMM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Register tile of the packed path: MR rows of A (broadcast) times NR columns
 * of B (vectors). Every instruction set uses the same tile so that the packed
 * layouts are one. */
#define TC_GEMM_MR 6
#define TC_GEMM_NR 16
/* AVX-512 has 32 registers of 16 floats: an 8 x 32 tile keeps 16
 * accumulators in flight, enough to cover the FMA latency on two ports. */
#define TC_GEMM_MR_AVX512 8
#define TC_GEMM_NR_AVX512 32
/* Cache blocks: an MC x KC block of packed A stays in L2, a KC x NC panel of
 * packed B in L3, a KC x NR sliver of it in L1. */
#define TC_GEMM_MC 144
#define TC_GEMM_KC 256
#define TC_GEMM_NC 2048
/* Tile of the dot path: DMR rows of A times DNR rows of B^T. */
#define TC_GEMM_DMR 3
#define TC_GEMM_DNR 4

/* Which algorithm computes the product. AUTO picks by shape; the others are
 * requests (a path that does not apply to the transposes falls back to
 * PACKED) used by the tests and the benchmark. */
typedef enum tc_gemm_path {
    TC_GEMM_PATH_AUTO = 0,
    TC_GEMM_PATH_PACKED,   /* pack A and B, blocked micro-kernel */
    TC_GEMM_PATH_DIRECT_B, /* pack A only, read B in place (B not transposed) */
    TC_GEMM_PATH_DOT       /* dot products along K (A plain, B transposed) */
} tc_gemm_path;

typedef enum tc_gemm_isa {
    TC_GEMM_ISA_AUTO = 0,
    TC_GEMM_ISA_GENERIC, /* portable vector extensions, 128-bit */
    TC_GEMM_ISA_AVX2,    /* AVX2 + FMA, x86-64 only */
    TC_GEMM_ISA_AVX512   /* AVX-512F, x86-64 only */
} tc_gemm_isa;

/* One (sub-)problem, in the terms of tc_sgemm. */
typedef struct tc_gemm_args {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
} tc_gemm_args;

/* tc_sgemm with the path and instruction set chosen by the caller. An
 * instruction set this CPU lacks falls back to the next narrower one it has
 * (AVX512 -> AVX2 -> GENERIC); AUTO means tc_gemm_default_isa(). Returns the path and
 * instruction set actually used through *used_path / *used_isa (may be NULL),
 * so tests can check that the variant they meant to test ran. */
void tc_sgemm_ex(tc_gemm_isa isa, tc_gemm_path path, int trans_a, int trans_b, int64_t m,
                 int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                 tc_gemm_path *used_path, tc_gemm_isa *used_isa);

/* Whether this CPU can run TC_GEMM_ISA_AVX2 / TC_GEMM_ISA_AVX512. */
int tc_gemm_have_avx2(void);
int tc_gemm_have_avx512(void);

/* The instruction set tc_sgemm uses: the widest this CPU has, unless a
 * narrower one was asked for, by the environment variable TINYCNN_GEMM_ISA
 * (generic, avx2 or avx512, read on first use) or by tc_gemm_set_isa, so
 * that tests and benchmarks can run the layers on every path. Process-wide;
 * set it only while no product runs. tc_gemm_set_isa(TC_GEMM_ISA_AUTO) goes
 * back to the widest; it returns what the products will use. */
tc_gemm_isa tc_gemm_default_isa(void);
tc_gemm_isa tc_gemm_set_isa(tc_gemm_isa isa);
/* "generic", "avx2" or "avx512". */
const char *tc_gemm_isa_name(tc_gemm_isa isa);

/* Per-thread scratch buffer number `which` (TC_GEMM_BUF_*), at least
 * `floats` long and 64-byte aligned, or NULL if out of memory. Grown on
 * demand and kept for the life of the thread, so that the steady state does
 * not allocate; freed when the thread exits. The calling thread owns it until
 * its next call with the same `which`. */
enum { TC_GEMM_BUF_A, TC_GEMM_BUF_B, TC_GEMM_BUF_ACC, TC_GEMM_BUF_COUNT };
float *tc_gemm_scratch(int which, size_t floats);

/* Serial kernels on one sub-problem (m, n, k >= 1, alpha != 0), using the
 * scratch buffers above. Return non-zero only if a buffer cannot be
 * allocated, before touching C. */
int tc_gemm_packed_generic(const tc_gemm_args *g, int direct_b);
int tc_gemm_dot_generic(const tc_gemm_args *g);
#if defined(__x86_64__) || defined(__i386__)
#define TC_GEMM_HAVE_AVX2_KERNELS 1
int tc_gemm_packed_avx2(const tc_gemm_args *g, int direct_b);
int tc_gemm_dot_avx2(const tc_gemm_args *g);
int tc_gemm_packed_avx512(const tc_gemm_args *g, int direct_b);
int tc_gemm_dot_avx512(const tc_gemm_args *g);
#endif

#endif
