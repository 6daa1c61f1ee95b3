/* The AVX2 + FMA SGEMM kernels (x86 only). The whole file is compiled for
 * that target by the pragma below while the rest of the library stays
 * portable; gemm.c calls in here only after __builtin_cpu_supports says the
 * CPU has both. */
#if defined(__x86_64__) || defined(__i386__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#include "gemm_internal.h"
#include "gemm_x86_transpose.h"

#include <immintrin.h>

typedef __m256 V;
#define VL 8

/* The first r < 8 floats at p; maskload reads nothing under a zero mask. */
static inline V v_load_part(const float *p, int64_t r)
{
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r),
                                      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(p, mask);
}

/* out[j] = ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) of vj. */
static inline void v_reduce4(V v0, V v1, V v2, V v3, float out[4])
{
    __m256 t0 = _mm256_hadd_ps(v0, v1), t1 = _mm256_hadd_ps(v2, v3);
    __m256 u = _mm256_hadd_ps(t0, t1);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    _mm_storeu_ps(out, r);
}

#define TC_ISA avx2
#define X86_PS(op) _mm256_##op##_ps

#include "gemm_driver.inc"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
/* Not x86: nothing to build here (ISO C wants a declaration in every file). */
typedef int tc_gemm_avx2_unused;
#endif
