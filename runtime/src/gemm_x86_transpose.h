/* gemm_x86_transpose.h - an 8 x 8 transpose in AVX registers, shared by the
 * AVX2 and AVX-512 kernels (each includes it after its target pragma, so it
 * is compiled for that target). Packing a transposed B with it costs about
 * a third of the scalar gather: 8 loads, 24 shuffles and 8 stores per 64
 * floats. It also spells the vector operations gemm_driver.inc wants for
 * both, given the kernel's X86_PS(op) (its _mm256_/_mm512_ op _ps
 * intrinsic) and v_load_part. */
#ifndef TC_GEMM_X86_TRANSPOSE_H
#define TC_GEMM_X86_TRANSPOSE_H

#include <immintrin.h>
#include <stdint.h>

/* dst[q * ldd + j] = src[j * lds + q] for j, q in [0, 8). */
static inline __attribute__((always_inline)) void tc_gemm_transpose8(const float *src,
                                                                     int64_t lds, float *dst,
                                                                     int64_t ldd)
{
    __m256 r[8], t[8];
    for (int j = 0; j < 8; j++)
        r[j] = _mm256_loadu_ps(src + j * lds);
    for (int j = 0; j < 8; j += 2) {
        t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
    }
    for (int j = 0; j < 8; j += 4) {
        r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
        r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xee);
        r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xee);
    }
    /* r[0..3]: rows 0-3 of columns {0,4}, {1,5}, {2,6}, {3,7}; r[4..7]: rows 4-7 */
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_ps(dst + q * ldd, _mm256_permute2f128_ps(r[q], r[q + 4], 0x20));
        _mm256_storeu_ps(dst + (q + 4) * ldd, _mm256_permute2f128_ps(r[q], r[q + 4], 0x31));
    }
}

#define V_ZERO() X86_PS(setzero)()
#define V_SET1(x) X86_PS(set1)(x)
#define V_LOADU(p) X86_PS(loadu)(p)
#define V_STOREU(p, v) X86_PS(storeu)((p), (v))
#define V_MUL(a, b) X86_PS(mul)((a), (b))
#define V_FMA(a, b, c) X86_PS(fmadd)((a), (b), (c))
#define V_LOAD_PART(p, r) v_load_part((p), (r))
#define V_TRANSPOSE8(s, lds, d, ldd) tc_gemm_transpose8((s), (lds), (d), (ldd))

#endif
