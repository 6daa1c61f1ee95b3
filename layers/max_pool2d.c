/*
 * max_pool2d.c - the MaxPool2d layer plugin: the maximum over each k x k
 * window of an NCHW input, floor output size, padding read as -infinity.
 *
 * Forward keeps, per output element, the int32 position of the maximum
 * within its input plane in the `saved` buffer (4 bytes instead of a float
 * mask of the whole input); backward scatters the gradient through them.
 * Ties go to the first maximum in row-major window order.
 */
#include <math.h>
#include <string.h>

#include "layer_util.h"

typedef lu_pool_geom geom;

/* Whether v beats best in the window scan: larger, or the first NaN (a NaN
 * wins, so divergence stays visible; once best is NaN nothing beats it).
 * Ties keep the earlier pixel. */
static inline int beats(float v, float best)
{
    return v > best || (v != v && best == best);
}

/* The general window scan, for any kernel, stride and padding. */
static void forward_plane_any(const geom *g, const float *x, float *y, int32_t *am)
{
    for (int64_t oh = 0; oh < g->oh; oh++) {
        for (int64_t ow = 0; ow < g->ow; ow++) {
            int64_t hb, he, wb, we;
            lu_pool_window(g, oh, ow, &hb, &he, &wb, &we);
            /* padding <= k/2 guarantees at least one real pixel per window */
            float best = x[hb * g->w + wb];
            int64_t at = hb * g->w + wb;
            for (int64_t ih = hb; ih < he; ih++)
                for (int64_t iw = wb; iw < we; iw++) {
                    float v = x[ih * g->w + iw];
                    if (beats(v, best)) {
                        best = v;
                        at = ih * g->w + iw;
                    }
                }
            y[oh * g->ow + ow] = best;
            if (am)
                am[oh * g->ow + ow] = (int32_t)at;
        }
    }
}

/* step(a, b, i, ...) for the groups of `width` windows i = 0, width, ... of
 * a row of n >= width; a last partial group is done by stepping back so that
 * it ends at n (recomputing a few windows gives the same values). */
#define ROW_STEPS(width, n, step, a, b, ...)                                               \
    do {                                                                                   \
        int64_t i_ = 0;                                                                    \
        for (; i_ + (width) <= (n); i_ += (width))                                         \
            step(a, b, i_, __VA_ARGS__);                                                   \
        if (i_ < (n))                                                                      \
            step(a, b, (n) - (width), __VA_ARGS__);                                        \
    } while (0)

/* One output row of 2x2 stride-2 windows over input rows r0, r1, outputs
 * [i0, n): the scan of the general path as a tournament, (a, b) and (c, d)
 * first, then the winners. `beats` keeps the earlier pixel on ties and the
 * first NaN, so value and position are those of the row-major scan. */
static void row_2x2_scalar(const float *r0, const float *r1, int64_t i0, int64_t n, int32_t ia0,
                           int32_t w, float *y, int32_t *am)
{
    for (int64_t i = i0; i < n; i++) {
        float a = r0[2 * i], b = r0[2 * i + 1], c = r1[2 * i], d = r1[2 * i + 1];
        int tb = beats(b, a), td = beats(d, c);
        float ab = tb ? b : a, cd = td ? d : c;
        int t = beats(cd, ab);
        y[i] = t ? cd : ab;
        if (am) {
            int32_t ia = ia0 + 2 * (int32_t)i;
            am[i] = t ? ia + w + td : ia + tb;
        }
    }
}

/* Backward of windows [i0, n) of such a row: each window's four pixels get
 * the gradient at its argmax and 0 elsewhere (0 + g, so -0 reads +0 as the
 * general path's accumulation into zeros gives). */
static void row_2x2_back_scalar(float *d0, float *d1, int64_t i0, int64_t n, const float *dy,
                                const int32_t *am, int32_t ia0, int32_t w)
{
    for (int64_t i = i0; i < n; i++) {
        int32_t ia = ia0 + 2 * (int32_t)i;
        float g = dy[i];
        d0[2 * i] = am[i] == ia ? 0.0f + g : 0.0f;
        d0[2 * i + 1] = am[i] == ia + 1 ? 0.0f + g : 0.0f;
        d1[2 * i] = am[i] == ia + w ? 0.0f + g : 0.0f;
        d1[2 * i + 1] = am[i] == ia + w + 1 ? 0.0f + g : 0.0f;
    }
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* beats() on four lanes: all-ones where v beats best. */
static inline __m128 beats4(__m128 v, __m128 best)
{
    return _mm_or_ps(_mm_cmpgt_ps(v, best),
                     _mm_and_ps(_mm_cmpunord_ps(v, v), _mm_cmpord_ps(best, best)));
}

static inline __m128 select4(__m128 mask, __m128 yes, __m128 no)
{
    return _mm_or_ps(_mm_and_ps(mask, yes), _mm_andnot_ps(mask, no));
}

/* Windows i .. i+3 of a row: the same tournament four at a time. */
static inline void step_2x2(const float *r0, const float *r1, int64_t i, int32_t ia0,
                            __m128i wv, float *y, int32_t *am)
{
    __m128 p0 = _mm_loadu_ps(r0 + 2 * i), p1 = _mm_loadu_ps(r0 + 2 * i + 4);
    __m128 q0 = _mm_loadu_ps(r1 + 2 * i), q1 = _mm_loadu_ps(r1 + 2 * i + 4);
    __m128 a = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(2, 0, 2, 0));
    __m128 b = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 c = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0));
    __m128 d = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 tb = beats4(b, a), td = beats4(d, c);
    __m128 ab = select4(tb, b, a), cd = select4(td, d, c);
    __m128 t = beats4(cd, ab);
    _mm_storeu_ps(y + i, select4(t, cd, ab));
    if (am) {
        /* masks are -1 where true: subtracting adds the one column */
        __m128i ia = _mm_add_epi32(_mm_set1_epi32(ia0 + 2 * (int32_t)i),
                                   _mm_setr_epi32(0, 2, 4, 6));
        __m128i iab = _mm_sub_epi32(ia, _mm_castps_si128(tb));
        __m128i icd = _mm_sub_epi32(_mm_add_epi32(ia, wv), _mm_castps_si128(td));
        __m128i tm = _mm_castps_si128(t);
        __m128i r = _mm_or_si128(_mm_and_si128(tm, icd), _mm_andnot_si128(tm, iab));
        _mm_storeu_si128((__m128i *)(void *)(am + i), r);
    }
}

/* A row of n windows, four at a time (ROW_STEPS), so only rows shorter than
 * four take the scalar loop. */
static void row_2x2_sse(const float *r0, const float *r1, int64_t n, int32_t ia0, int32_t w,
                        float *y, int32_t *am)
{
    if (n < 4) {
        row_2x2_scalar(r0, r1, 0, n, ia0, w, y, am);
        return;
    }
    const __m128i wv = _mm_set1_epi32(w);
    ROW_STEPS(4, n, step_2x2, r0, r1, ia0, wv, y, am);
}

/* Backward of a row of n 2x2 windows: each window's four pixels get the
 * gradient at its argmax and 0 elsewhere (0 + g, so -0 reads +0 as the
 * general path's accumulation into zeros gives). Overwrites rows d0, d1
 * over 2n columns. */
static void row_2x2_back_sse(float *d0, float *d1, int64_t n, const float *dy,
                             const int32_t *am, int32_t ia0, int32_t w)
{
    int64_t i = 0;
    const __m128 zero = _mm_setzero_ps();
    for (; n >= 4 && i < n; i += 4) {
        if (i + 4 > n)
            i = n - 4;
        __m128 g = _mm_add_ps(zero, _mm_loadu_ps(dy + i));
        __m128i at = _mm_loadu_si128((const __m128i *)(const void *)(am + i));
        __m128i ia = _mm_add_epi32(_mm_set1_epi32(ia0 + 2 * (int32_t)i),
                                   _mm_setr_epi32(0, 2, 4, 6));
        __m128i ic = _mm_add_epi32(ia, _mm_set1_epi32(w));
        __m128i one = _mm_set1_epi32(1);
        __m128 ma = _mm_castsi128_ps(_mm_cmpeq_epi32(at, ia));
        __m128 mb = _mm_castsi128_ps(_mm_cmpeq_epi32(at, _mm_add_epi32(ia, one)));
        __m128 mc = _mm_castsi128_ps(_mm_cmpeq_epi32(at, ic));
        __m128 md = _mm_castsi128_ps(_mm_cmpeq_epi32(at, _mm_add_epi32(ic, one)));
        __m128 ga = _mm_and_ps(ma, g), gb = _mm_and_ps(mb, g);
        __m128 gc = _mm_and_ps(mc, g), gd = _mm_and_ps(md, g);
        _mm_storeu_ps(d0 + 2 * i, _mm_unpacklo_ps(ga, gb));
        _mm_storeu_ps(d0 + 2 * i + 4, _mm_unpackhi_ps(ga, gb));
        _mm_storeu_ps(d1 + 2 * i, _mm_unpacklo_ps(gc, gd));
        _mm_storeu_ps(d1 + 2 * i + 4, _mm_unpackhi_ps(gc, gd));
    }
    row_2x2_back_scalar(d0, d1, i, n, dy, am, ia0, w);
}
#if defined(__x86_64__) && defined(__GNUC__) && !defined(TC_NO_CLONES)
#include <immintrin.h>

/* 1 when the CPU has AVX2: rows of 8+ windows then take the 8-wide steps
 * below. Set once by the entry (TC_PLUGIN_DEFINE), read-only after. */
static int pool_avx2;

#define AVX2_FN static inline __attribute__((target("avx2"), always_inline))

AVX2_FN __m256 beats8(__m256 v, __m256 best)
{
    return _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                        _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q),
                                      _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
}

/* Lanes of an in-lane shuffle (windows 0 1 4 5 2 3 6 7 of the step, see
 * step_2x2_avx2) back in window order. */
#define UNSHUFFLE(v) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8))
#define UNSHUFFLE_I(v) _mm256_permute4x64_epi64((v), 0xD8)

/* Windows i .. i+7 of a row: the tournament of step_2x2, eight at a time.
 * The even/odd split of 16 pixels is done within 128-bit halves, which
 * orders the windows 0 1 4 5 2 3 6 7; one permute per result undoes it. */
AVX2_FN void step_2x2_avx2(const float *r0, const float *r1, int64_t i, int32_t ia0, int32_t w,
                           float *y, int32_t *am)
{
    __m256 p0 = _mm256_loadu_ps(r0 + 2 * i), p1 = _mm256_loadu_ps(r0 + 2 * i + 8);
    __m256 q0 = _mm256_loadu_ps(r1 + 2 * i), q1 = _mm256_loadu_ps(r1 + 2 * i + 8);
    __m256 a = _mm256_shuffle_ps(p0, p1, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 b = _mm256_shuffle_ps(p0, p1, _MM_SHUFFLE(3, 1, 3, 1));
    __m256 c = _mm256_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 d = _mm256_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
    __m256 tb = beats8(b, a), td = beats8(d, c);
    __m256 ab = _mm256_blendv_ps(a, b, tb), cd = _mm256_blendv_ps(c, d, td);
    __m256 t = beats8(cd, ab);
    _mm256_storeu_ps(y + i, UNSHUFFLE(_mm256_blendv_ps(ab, cd, t)));
    if (am) {
        /* pixel column of window k in the shuffled order: 2 * (0 1 4 5 2 3 6 7) */
        __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(ia0 + 2 * (int32_t)i),
                                      _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14));
        __m256i iab = _mm256_sub_epi32(ia, _mm256_castps_si256(tb));
        __m256i icd = _mm256_sub_epi32(_mm256_add_epi32(ia, _mm256_set1_epi32(w)),
                                       _mm256_castps_si256(td));
        __m256i r = _mm256_blendv_epi8(iab, icd, _mm256_castps_si256(t));
        _mm256_storeu_si256((__m256i *)(void *)(am + i), UNSHUFFLE_I(r));
    }
}

__attribute__((target("avx2"))) static void row_2x2_avx2(const float *r0, const float *r1,
                                                         int64_t n, int32_t ia0, int32_t w,
                                                         float *y, int32_t *am)
{
    ROW_STEPS(8, n, step_2x2_avx2, r0, r1, ia0, w, y, am);
}

/* Backward of windows i .. i+7 (see row_2x2_back_sse). */
AVX2_FN void step_2x2_back_avx2(float *d0, float *d1, int64_t i, const float *dy,
                                const int32_t *am, int32_t ia0, int32_t w)
{
    __m256 g = _mm256_add_ps(_mm256_setzero_ps(), _mm256_loadu_ps(dy + i));
    __m256i at = _mm256_loadu_si256((const __m256i *)(const void *)(am + i));
    __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(ia0 + 2 * (int32_t)i),
                                  _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    __m256i ic = _mm256_add_epi32(ia, _mm256_set1_epi32(w)), one = _mm256_set1_epi32(1);
    __m256 ga = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(at, ia)), g);
    __m256 gb = _mm256_and_ps(
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(at, _mm256_add_epi32(ia, one))), g);
    __m256 gc = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(at, ic)), g);
    __m256 gd = _mm256_and_ps(
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(at, _mm256_add_epi32(ic, one))), g);
    /* interleave a b (c d): unpack works within 128-bit halves */
    __m256 lo = _mm256_unpacklo_ps(ga, gb), hi = _mm256_unpackhi_ps(ga, gb);
    _mm256_storeu_ps(d0 + 2 * i, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(d0 + 2 * i + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    lo = _mm256_unpacklo_ps(gc, gd);
    hi = _mm256_unpackhi_ps(gc, gd);
    _mm256_storeu_ps(d1 + 2 * i, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(d1 + 2 * i + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

__attribute__((target("avx2"))) static void row_2x2_back_avx2(float *d0, float *d1, int64_t n,
                                                              const float *dy,
                                                              const int32_t *am, int32_t ia0,
                                                              int32_t w)
{
    ROW_STEPS(8, n, step_2x2_back_avx2, d0, d1, dy, am, ia0, w);
}

static void row_2x2(const float *r0, const float *r1, int64_t n, int32_t ia0, int32_t w,
                    float *y, int32_t *am)
{
    if (pool_avx2 && n >= 8)
        row_2x2_avx2(r0, r1, n, ia0, w, y, am);
    else
        row_2x2_sse(r0, r1, n, ia0, w, y, am);
}

static void row_2x2_back(float *d0, float *d1, int64_t n, const float *dy, const int32_t *am,
                         int32_t ia0, int32_t w)
{
    if (pool_avx2 && n >= 8)
        row_2x2_back_avx2(d0, d1, n, dy, am, ia0, w);
    else
        row_2x2_back_sse(d0, d1, n, dy, am, ia0, w);
}

static void pool_detect_cpu(void)
{
    __builtin_cpu_init();
    pool_avx2 = __builtin_cpu_supports("avx2");
}
#else
#define row_2x2 row_2x2_sse
#define row_2x2_back row_2x2_back_sse
static void pool_detect_cpu(void) {}
#endif

#else /* no SSE2 */
static void row_2x2(const float *r0, const float *r1, int64_t n, int32_t ia0, int32_t w,
                    float *y, int32_t *am)
{
    row_2x2_scalar(r0, r1, 0, n, ia0, w, y, am);
}

static void row_2x2_back(float *d0, float *d1, int64_t n, const float *dy, const int32_t *am,
                         int32_t ia0, int32_t w)
{
    row_2x2_back_scalar(d0, d1, 0, n, dy, am, ia0, w);
}

static void pool_detect_cpu(void) {}
#endif

/* 2x2 windows, stride 2, no padding (LeNet's pooling). */
static void forward_plane_2x2(const geom *g, const float *x, float *y, int32_t *am)
{
    const int64_t w = g->w, ow = g->ow;
    for (int64_t oh = 0; oh < g->oh; oh++) {
        const float *r0 = x + 2 * oh * w, *r1 = r0 + w;
        int32_t ia0 = (int32_t)(2 * oh * w);
        row_2x2(r0, r1, ow, ia0, (int32_t)w, y + oh * ow, am ? am + oh * ow : NULL);
    }
}

/* One plane forward; am is NULL when forward has nowhere to keep them. */
static void forward_plane(const geom *g, const float *x, float *y, int32_t *am)
{
    if (g->k == 2 && g->s == 2 && g->p == 0)
        forward_plane_2x2(g, x, y, am);
    else
        forward_plane_any(g, x, y, am);
}

static void backward_plane(const geom *g, const float *dy, float *dx, int32_t *am)
{
    if (g->k == 2 && g->s == 2 && g->p == 0) {
        /* windows tile the plane but for an odd last row or column */
        for (int64_t oh = 0; oh < g->oh; oh++) {
            float *d0 = dx + 2 * oh * g->w;
            row_2x2_back(d0, d0 + g->w, g->ow, dy + oh * g->ow, am + oh * g->ow,
                         (int32_t)(2 * oh * g->w), (int32_t)g->w);
            for (int64_t iw = 2 * g->ow; iw < g->w; iw++)
                d0[iw] = d0[g->w + iw] = 0.0f;
        }
        if (2 * g->oh < g->h)
            memset(dx + 2 * g->oh * g->w, 0, sizeof(float) * (size_t)g->w);
        return;
    }
    memset(dx, 0, sizeof(float) * (size_t)g->hw);
    for (int64_t i = 0; i < g->ohw; i++)
        dx[am[i]] += dy[i];
}

LU_POOL_LAYER(max_pool2d, "MaxPool2d", "maximum over k x k windows of NCHW images", 1,
              LU_PARALLEL_MIN_CHEAP, 0, forward_plane, backward_plane);

TC_PLUGIN_DEFINE(max_pool2d)
{
    if (tc_host_check(host, 0, "MaxPool2d", err))
        return 1;
    pool_detect_cpu();
    return host->register_layer(ctx, &max_pool2d_type);
}
