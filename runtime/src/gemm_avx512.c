/* The AVX-512 SGEMM kernels (x86 only): 16-lane vectors and a register tile
 * of 8 x 32 (16 accumulators of the 32 registers, twice the AVX2 tile's
 * work per loaded value). Compiled for that target by the pragma below while
 * the rest of the library stays portable; gemm.c calls in here only after
 * __builtin_cpu_supports says the CPU (and the OS) has AVX-512F.
 *
 * Each element of C sees the same fused multiply-adds in the same order as
 * in the AVX2 packed path (same K blocks, one FMA per k), so the two give
 * identical results there; the dot path sums 16 lanes instead of 8. */
#if defined(__x86_64__) || defined(__i386__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx2,fma")
#endif

#include "gemm_internal.h"
#include "gemm_x86_transpose.h"

#include <immintrin.h>

typedef __m512 V;
#define VL 16

/* The first r < 16 floats at p; masked-off lanes are not read. */
static inline V v_load_part(const float *p, int64_t r)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << r) - 1u), p);
}

/* out[j] = the 16 lanes of vj summed: the halves added lane by lane, then
 * the AVX2 reduction of the 8 sums (a fixed order). */
static inline void v_reduce4(V v0, V v1, V v2, V v3, float out[4])
{
#define HALVES(v) _mm256_add_ps(_mm512_castps512_ps256(v), \
                                _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
    __m256 t0 = _mm256_hadd_ps(HALVES(v0), HALVES(v1));
    __m256 t1 = _mm256_hadd_ps(HALVES(v2), HALVES(v3));
#undef HALVES
    __m256 u = _mm256_hadd_ps(t0, t1);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    _mm_storeu_ps(out, r);
}

#define TC_ISA avx512
#define TC_ISA_MR TC_GEMM_MR_AVX512
#define TC_ISA_NR TC_GEMM_NR_AVX512
#define X86_PS(op) _mm512_##op##_ps

#include "gemm_driver.inc"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
/* Not x86: nothing to build here (ISO C wants a declaration in every file). */
typedef int tc_gemm_avx512_unused;
#endif
