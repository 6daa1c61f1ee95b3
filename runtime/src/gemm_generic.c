/* The portable SGEMM kernels: GCC vector extensions on 128-bit vectors, which
 * every target has (SSE2 on x86-64, NEON, ...), so this builds and runs
 * without any -march flag. Unfused multiply-add: ISO C mode does not
 * contract a * b + c, so results are the same on every such target. */
#include "gemm_internal.h"

#include <string.h>

typedef float V __attribute__((vector_size(16)));
#define VL 4

static inline V v_set1(float x)
{
    return (V){x, x, x, x};
}

static inline V v_loadu(const float *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v_storeu(float *p, V v)
{
    memcpy(p, &v, sizeof v);
}

static inline V v_load_part(const float *p, int64_t r)
{
    float t[VL] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)r * sizeof(float));
    return v_loadu(t);
}

static inline void v_reduce4(V v0, V v1, V v2, V v3, float out[4])
{
    out[0] = (v0[0] + v0[1]) + (v0[2] + v0[3]);
    out[1] = (v1[0] + v1[1]) + (v1[2] + v1[3]);
    out[2] = (v2[0] + v2[1]) + (v2[2] + v2[3]);
    out[3] = (v3[0] + v3[1]) + (v3[2] + v3[3]);
}

#define TC_ISA generic
#define V_ZERO() ((V){0.0f, 0.0f, 0.0f, 0.0f})
#define V_SET1(x) v_set1(x)
#define V_LOADU(p) v_loadu(p)
#define V_STOREU(p, v) v_storeu((p), (v))
#define V_MUL(a, b) ((a) * (b))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_LOAD_PART(p, r) v_load_part((p), (r))

#include "gemm_driver.inc"
