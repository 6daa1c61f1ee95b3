/*
 * conv2d_lanes.h - Conv2d's lane-batched kernels (AVX2 + FMA; at the end
 * the AVX-512 direct kernels, px5), part of
 * conv2d.c, which includes this file after its `geom` and picks these
 * kernels at run time when the CPU has both and a worker has at least a few
 * images to work on. Only for the plain configuration (one channel group,
 * no dilation, square kernel, stride and padding): they read geom's k, s
 * and p, and ckk is then C*k*k.
 *
 * Eight images travel together, one per vector lane: a group's input is
 * rearranged as X8 [C][H + 2p][W + 2p][8] (zero border), output and output
 * gradient as Y8 [O][OH][OW][8]. Every kernel step is then a vector of
 * eight images at one pixel, so the convolution runs directly on the
 * images: no column matrix (k*k times the image), no pixel wasted on
 * padding or on rows that do not fill a vector, and every multiply-add is
 * useful. Each lane sees the same operations in the same order whatever
 * lane it is, so an image's output does not depend on its group.
 *
 *   forward: Y8[o][oh][ow] = sum over (c, ki, kj) of W[o][c][ki][kj] *
 *            X8[c][oh*s + ki][ow*s + kj]                  (that order)
 *   weight gradient: dW[o][c][ki][kj] += sum over (oh, ow) and lanes of
 *            dY8[o][oh][ow] * X8[c][oh*s + ki][ow*s + kj]
 *   input gradient: dX8[c][oh*s + ki][ow*s + kj] += W[o][c][ki][kj] *
 *            dY8[o][oh][ow], over (ki, kj) in order, then o; dX8 has the
 *            zero border of X8 and only its interior is kept
 *
 * Register tiles: 6 output channels x 2 pixels (forward), 2 output channels
 * x up to 6 kernel columns (weight gradient; on a CPU with AVX-512 up to
 * 6 x 6 in its 32 registers), 6 input channels x 2 pixels (input
 * gradient); the channel and column counts are compile-time constants
 * after inlining, so each edge case gets its own code.
 */
#ifndef TC_CONV2D_LANES_H
#define TC_CONV2D_LANES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(TC_NO_CLONES)
#define CONV_LANES 1

#include <immintrin.h>

#define LANES 8
#define LANES_TARGET __attribute__((target("avx2,fma")))
#define LANES_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Whether this CPU runs the kernels below. */
static int lanes_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* In place: row i of the 8 x 8 block r becomes column i. */
LANES_INLINE void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* dst[j * 8 + l] = src[l][j] for j < n, l < 8: n pixels of eight rows into
 * lane layout; rows of absent images are NULL and give 0. */
LANES_INLINE void rows_to_lanes(const float *const src[LANES], int64_t n, float *dst)
{
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES) {
        __m256 r[LANES];
        for (int l = 0; l < LANES; l++)
            r[l] = src[l] ? _mm256_loadu_ps(src[l] + j) : _mm256_setzero_ps();
        transpose8(r);
        for (int q = 0; q < LANES; q++)
            _mm256_storeu_ps(dst + (j + q) * LANES, r[q]);
    }
    for (; j < n; j++)
        for (int l = 0; l < LANES; l++)
            dst[j * LANES + l] = src[l] ? src[l][j] : 0.0f;
}

/* dst[l][j] = src[j * 8 + l] (+ add) for j < n and the lanes l < gn. */
LANES_INLINE void lanes_to_rows(const float *src, int64_t n, float add, float *const dst[LANES],
                                int gn)
{
    const __m256 a = _mm256_set1_ps(add);
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES) {
        __m256 r[LANES];
        for (int q = 0; q < LANES; q++)
            r[q] = _mm256_loadu_ps(src + (j + q) * LANES);
        transpose8(r);
        for (int l = 0; l < gn; l++)
            _mm256_storeu_ps(dst[l] + j, _mm256_add_ps(r[l], a));
    }
    for (; j < n; j++)
        for (int l = 0; l < gn; l++)
            dst[l][j] = src[j * LANES + l] + add;
}

/* X8 from images n0 .. n0+gn-1 of x; the border (padding) and absent
 * images' lanes are 0. */
LANES_TARGET static void lanes_pack_input(const geom *g, const float *x, int64_t n0, int gn,
                                          float *x8)
{
    if (g->p > 0 || gn < LANES)
        memset(x8, 0, sizeof(float) * (size_t)(g->c * g->hp * g->wp * LANES));
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t h = 0; h < g->h; h++) {
            const float *src[LANES];
            for (int l = 0; l < LANES; l++)
                src[l] = l < gn ? x + (n0 + l) * g->chw + (c * g->h + h) * g->w : NULL;
            rows_to_lanes(src, g->w, x8 + ((c * g->hp + h + g->p) * g->wp + g->p) * LANES);
        }
}

/* dY8 from the output gradient of images n0 .. n0+gn-1; absent lanes 0. */
LANES_TARGET static void lanes_pack_grad(const geom *g, const float *dy, int64_t n0, int gn,
                                         float *dy8)
{
    for (int64_t o = 0; o < g->o; o++) {
        const float *src[LANES];
        for (int l = 0; l < LANES; l++)
            src[l] = l < gn ? dy + (n0 + l) * g->ohw_o + o * g->ohw : NULL;
        rows_to_lanes(src, g->ohw, dy8 + o * g->ohw * LANES);
    }
}

/* y of images n0 .. n0+gn-1 from Y8, plus the bias. */
LANES_TARGET static void lanes_unpack_output(const geom *g, const float *y8, const float *b,
                                             float *y, int64_t n0, int gn)
{
    for (int64_t o = 0; o < g->o; o++) {
        float *dst[LANES];
        for (int l = 0; l < LANES; l++)
            dst[l] = y + (n0 + (l < gn ? l : 0)) * g->ohw_o + o * g->ohw;
        lanes_to_rows(y8 + o * g->ohw * LANES, g->ohw, b ? b[o] : 0.0f, dst, gn);
    }
}

/* dx of images n0 .. n0+gn-1 from the interior of dX8. */
LANES_TARGET static void lanes_unpack_grad_input(const geom *g, const float *dx8, float *dx,
                                                 int64_t n0, int gn)
{
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t h = 0; h < g->h; h++) {
            float *dst[LANES];
            for (int l = 0; l < LANES; l++)
                dst[l] = dx + (n0 + (l < gn ? l : 0)) * g->chw + (c * g->h + h) * g->w;
            /* 0 + v: -0 reads +0, as the sum into zeros of the other path */
            lanes_to_rows(dx8 + ((c * g->hp + h + g->p) * g->wp + g->p) * LANES, g->w, 0.0f,
                          dst, gn);
        }
}

/* ---- forward ------------------------------------------------------------ */

/* Output channels o0 .. o0+mo-1 at pixels (oh, ow0) and, when np == 2,
 * (oh, ow0 + 1). */
LANES_INLINE void fwd_tile(const geom *g, const float *x8, const float *w, float *y8, int64_t o0,
                           const int mo, int64_t oh, int64_t ow0, const int np)
{
    __m256 acc[6][2];
    for (int i = 0; i < 6; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const int64_t step = g->s * LANES;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->k; ki++) {
            const float *xr = x8 + ((c * g->hp + oh * g->s + ki) * g->wp + ow0 * g->s) * LANES;
            const float *wr = w + ((o0 * g->c + c) * g->k + ki) * g->k;
            for (int64_t kj = 0; kj < g->k; kj++) {
                __m256 x0 = _mm256_loadu_ps(xr + kj * LANES);
                __m256 x1 = np > 1 ? _mm256_loadu_ps(xr + kj * LANES + step) : x0;
                for (int i = 0; i < 6; i++)
                    if (i < mo) {
                        __m256 wv = _mm256_broadcast_ss(wr + i * g->ckk + kj);
                        acc[i][0] = _mm256_fmadd_ps(wv, x0, acc[i][0]);
                        if (np > 1)
                            acc[i][1] = _mm256_fmadd_ps(wv, x1, acc[i][1]);
                    }
            }
        }
    for (int i = 0; i < 6; i++)
        if (i < mo) {
            float *yp = y8 + (((o0 + i) * g->oh + oh) * g->ow + ow0) * LANES;
            _mm256_storeu_ps(yp, acc[i][0]);
            if (np > 1)
                _mm256_storeu_ps(yp + LANES, acc[i][1]);
        }
}

LANES_INLINE void fwd_row(const geom *g, const float *x8, const float *w, float *y8, int64_t o0,
                          const int mo, int64_t oh)
{
    int64_t ow = 0;
    for (; ow + 2 <= g->ow; ow += 2)
        fwd_tile(g, x8, w, y8, o0, mo, oh, ow, 2);
    if (ow < g->ow)
        fwd_tile(g, x8, w, y8, o0, mo, oh, ow, 1);
}

/* Y8 = the convolution of X8 with w (no bias). */
LANES_TARGET static void lanes_forward(const geom *g, const float *x8, const float *w, float *y8)
{
    for (int64_t o0 = 0; o0 < g->o; o0 += 6) {
        int mo = g->o - o0 < 6 ? (int)(g->o - o0) : 6;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            switch (mo) {
            case 6: fwd_row(g, x8, w, y8, o0, 6, oh); break;
            case 5: fwd_row(g, x8, w, y8, o0, 5, oh); break;
            case 4: fwd_row(g, x8, w, y8, o0, 4, oh); break;
            case 3: fwd_row(g, x8, w, y8, o0, 3, oh); break;
            case 2: fwd_row(g, x8, w, y8, o0, 2, oh); break;
            default: fwd_row(g, x8, w, y8, o0, 1, oh); break;
            }
        }
    }
}

/* ---- weight gradient ------------------------------------------------------ */

/* The sum of the eight lanes, in a fixed order. */
LANES_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dW[o0 .. o0+mo-1][c][ki][kj0 .. kj0+nj-1] += the tile's dot products over
 * every output pixel and lane. */
LANES_INLINE void dw_tile(const geom *g, const float *x8, const float *dy8, float *dw, int64_t o0,
                          const int mo, int64_t c, int64_t ki, int64_t kj0, const int nj)
{
    __m256 acc[2][6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 6; j++)
            acc[i][j] = _mm256_setzero_ps();
    const float *d0 = dy8 + o0 * g->ohw * LANES, *d1 = d0 + g->ohw * LANES;
    const int64_t step = g->s * LANES;
    for (int64_t oh = 0; oh < g->oh; oh++) {
        const float *xp = x8 + ((c * g->hp + oh * g->s + ki) * g->wp + kj0) * LANES;
        const float *r0 = d0 + oh * g->ow * LANES, *r1 = d1 + oh * g->ow * LANES;
        for (int64_t ow = 0; ow < g->ow; ow++, xp += step) {
            __m256 y0 = _mm256_loadu_ps(r0 + ow * LANES);
            __m256 y1 = mo > 1 ? _mm256_loadu_ps(r1 + ow * LANES) : y0;
            for (int j = 0; j < 6; j++)
                if (j < nj) {
                    __m256 xv = _mm256_loadu_ps(xp + j * LANES);
                    acc[0][j] = _mm256_fmadd_ps(y0, xv, acc[0][j]);
                    if (mo > 1)
                        acc[1][j] = _mm256_fmadd_ps(y1, xv, acc[1][j]);
                }
        }
    }
    for (int i = 0; i < 2; i++)
        if (i < mo)
            for (int j = 0; j < 6; j++)
                if (j < nj)
                    dw[(o0 + i) * g->ckk + (c * g->k + ki) * g->k + kj0 + j] += hsum8(acc[i][j]);
}

LANES_INLINE void dw_cols(const geom *g, const float *x8, const float *dy8, float *dw, int64_t o0,
                          const int mo, int64_t c, int64_t ki)
{
    for (int64_t kj0 = 0; kj0 < g->k; kj0 += 6) {
        switch (g->k - kj0 < 6 ? (int)(g->k - kj0) : 6) {
        case 6: dw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, 6); break;
        case 5: dw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, 5); break;
        case 4: dw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, 4); break;
        case 3: dw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, 3); break;
        case 2: dw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, 2); break;
        default: dw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, 1); break;
        }
    }
}

/* dw [O, C*k*k] += the weight gradient of one group (AVX2). */
LANES_TARGET static void lanes_grad_weight_avx2(const geom *g, const float *x8, const float *dy8,
                                           float *dw)
{
    for (int64_t o0 = 0; o0 < g->o; o0 += 2)
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t ki = 0; ki < g->k; ki++) {
                if (g->o - o0 >= 2)
                    dw_cols(g, x8, dy8, dw, o0, 2, c, ki);
                else
                    dw_cols(g, x8, dy8, dw, o0, 1, c, ki);
            }
}

/* ---- weight gradient with 32 registers (AVX-512 CPUs) ----------------------
 * The tiles above hold 12 accumulators, as AVX2's 16 registers allow, and
 * load 7 vectors per 10 multiply-adds on LeNet-5's 5x5 kernels. Compiled
 * for AVX-512VL the same eight-lane code has 32 registers: a tile of up to
 * 6 output channels x 6 kernel columns (at most 24 accumulators) loads 9
 * per 20 (LeNet's conv2: bench_conv's backward-weights 79 -> 97 GFLOP/s on
 * AMD Zen 4). Every accumulator still sums the same products in the same
 * order, so the bits are those of the AVX2 kernels. */

#define LANES_WIDE_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define WDW_MAX 6

/* Whether this CPU runs the 32-register kernel. */
static int lanes_wide_supported(void)
{
    __builtin_cpu_init();
    return lanes_supported() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl");
}

/* dW[o0 .. o0+mo-1][c][ki][kj0 .. kj0+nj-1] += the tile's dot products over
 * every output pixel and lane, as dw_tile. */
LANES_INLINE void wdw_tile(const geom *g, const float *x8, const float *dy8, float *dw,
                           int64_t o0, const int mo, int64_t c, int64_t ki, int64_t kj0,
                           const int nj)
{
    __m256 acc[WDW_MAX][WDW_MAX];
#pragma GCC unroll 6
    for (int i = 0; i < WDW_MAX; i++)
#pragma GCC unroll 6
        for (int j = 0; j < WDW_MAX; j++)
            acc[i][j] = _mm256_setzero_ps();
    const int64_t step = g->s * LANES, plane = g->ohw * LANES;
    for (int64_t oh = 0; oh < g->oh; oh++) {
        const float *xp = x8 + ((c * g->hp + oh * g->s + ki) * g->wp + kj0) * LANES;
        const float *yr = dy8 + o0 * plane + oh * g->ow * LANES;
        for (int64_t ow = 0; ow < g->ow; ow++, xp += step, yr += LANES) {
            __m256 y[WDW_MAX];
#pragma GCC unroll 6
            for (int i = 0; i < WDW_MAX; i++)
                y[i] = i < mo ? _mm256_loadu_ps(yr + i * plane) : _mm256_setzero_ps();
#pragma GCC unroll 6
            for (int j = 0; j < WDW_MAX; j++)
                if (j < nj) {
                    __m256 xv = _mm256_loadu_ps(xp + j * LANES);
#pragma GCC unroll 6
                    for (int i = 0; i < WDW_MAX; i++)
                        if (i < mo)
                            acc[i][j] = _mm256_fmadd_ps(y[i], xv, acc[i][j]);
                }
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < WDW_MAX; i++)
#pragma GCC unroll 6
        for (int j = 0; j < WDW_MAX; j++)
            if (i < mo && j < nj)
                dw[(o0 + i) * g->ckk + (c * g->k + ki) * g->k + kj0 + j] += hsum8(acc[i][j]);
}

/* A call per count n (1 .. WDW_MAX) with n a constant. */
#define WDW_COUNTS(n, CALL)   \
    switch (n) {              \
    case 6: CALL(6); break;   \
    case 5: CALL(5); break;   \
    case 4: CALL(4); break;   \
    case 3: CALL(3); break;   \
    case 2: CALL(2); break;   \
    default: CALL(1); break;  \
    }

/* One kernel row of channels o0 .. o0+mo-1, column tiles of nj (the last
 * one narrower). */
LANES_INLINE void wdw_cols(const geom *g, const float *x8, const float *dy8, float *dw,
                           int64_t o0, const int mo, int64_t c, int64_t ki, int nj)
{
    for (int64_t kj0 = 0; kj0 < g->k; kj0 += nj) {
        int n = g->k - kj0 < nj ? (int)(g->k - kj0) : nj;
#define WDW_TILE(N) wdw_tile(g, x8, dy8, dw, o0, mo, c, ki, kj0, N)
        WDW_COUNTS(n, WDW_TILE)
#undef WDW_TILE
    }
}

/* dw [O, C*k*k] += the weight gradient of one group: kernel columns in
 * tiles of up to 6, the output channels split evenly into tiles that fit
 * the registers (accumulators, a vector per channel, one of input). */
LANES_WIDE_TARGET static void lanes_grad_weight_wide(const geom *g, const float *x8,
                                                     const float *dy8, float *dw)
{
    const int nj = g->k < WDW_MAX ? (int)g->k : WDW_MAX;
    int most = 31 / (nj + 1) < WDW_MAX ? 31 / (nj + 1) : WDW_MAX;
    int64_t tiles = (g->o + most - 1) / most;
    const int mmax = (int)((g->o + tiles - 1) / tiles);
    for (int64_t o0 = 0; o0 < g->o; o0 += mmax) {
        int mo = g->o - o0 < mmax ? (int)(g->o - o0) : mmax;
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t ki = 0; ki < g->k; ki++) {
#define WDW_COLS(M) wdw_cols(g, x8, dy8, dw, o0, M, c, ki, nj)
                WDW_COUNTS(mo, WDW_COLS)
#undef WDW_COLS
            }
    }
}

/* dw [O, C*k*k] += the weight gradient of one group. */
static void lanes_grad_weight(const geom *g, const float *x8, const float *dy8, float *dw)
{
    if (g->lanes_wide)
        lanes_grad_weight_wide(g, x8, dy8, dw);
    else
        lanes_grad_weight_avx2(g, x8, dy8, dw);
}

/* db [O] (+)= the bias gradient of one group: each channel's dY8 summed over
 * the pixels (four interleaved vector sums, a fixed order), then over the
 * lanes. */
LANES_TARGET static void lanes_grad_bias(const geom *g, const float *dy8, float *db, int first)
{
    for (int64_t o = 0; o < g->o; o++) {
        const float *d = dy8 + o * g->ohw * LANES;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t q = 0;
        for (; q + 4 <= g->ohw; q += 4) {
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(d + q * LANES));
            a1 = _mm256_add_ps(a1, _mm256_loadu_ps(d + (q + 1) * LANES));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(d + (q + 2) * LANES));
            a3 = _mm256_add_ps(a3, _mm256_loadu_ps(d + (q + 3) * LANES));
        }
        for (; q < g->ohw; q++)
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(d + q * LANES));
        float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        db[o] = (first ? 0.0f : db[o]) + sum;
    }
}

/* ---- input gradient ------------------------------------------------------- */

/* dX8 at the pixels tap (ki, kj) of output pixels (oh, ow0) [and (oh, ow0+1)]
 * reads, input channels c0 .. c0+mc-1, += sum over o of W * dY8. */
LANES_INLINE void dx_tile(const geom *g, const float *w, const float *dy8, float *dx8, int64_t c0,
                          const int mc, int64_t ki, int64_t kj, int64_t oh, int64_t ow0,
                          const int np)
{
    __m256 acc[6][2];
    const int64_t plane = g->hp * g->wp * LANES, step = g->s * LANES, kk = g->k * g->k;
    float *t = dx8 + ((c0 * g->hp + oh * g->s + ki) * g->wp + ow0 * g->s + kj) * LANES;
    for (int i = 0; i < 6; i++)
        if (i < mc) {
            acc[i][0] = _mm256_loadu_ps(t + i * plane);
            acc[i][1] = np > 1 ? _mm256_loadu_ps(t + i * plane + step) : acc[i][0];
        }
    const float *dy = dy8 + (oh * g->ow + ow0) * LANES;
    const float *wk = w + c0 * kk + ki * g->k + kj;
    for (int64_t o = 0; o < g->o; o++, dy += g->ohw * LANES, wk += g->ckk) {
        __m256 y0 = _mm256_loadu_ps(dy);
        __m256 y1 = np > 1 ? _mm256_loadu_ps(dy + LANES) : y0;
        for (int i = 0; i < 6; i++)
            if (i < mc) {
                __m256 wv = _mm256_broadcast_ss(wk + i * kk);
                acc[i][0] = _mm256_fmadd_ps(wv, y0, acc[i][0]);
                if (np > 1)
                    acc[i][1] = _mm256_fmadd_ps(wv, y1, acc[i][1]);
            }
    }
    for (int i = 0; i < 6; i++)
        if (i < mc) {
            _mm256_storeu_ps(t + i * plane, acc[i][0]);
            if (np > 1)
                _mm256_storeu_ps(t + i * plane + step, acc[i][1]);
        }
}

LANES_INLINE void dx_row(const geom *g, const float *w, const float *dy8, float *dx8, int64_t c0,
                         const int mc, int64_t ki, int64_t kj, int64_t oh)
{
    int64_t ow = 0;
    for (; ow + 2 <= g->ow; ow += 2)
        dx_tile(g, w, dy8, dx8, c0, mc, ki, kj, oh, ow, 2);
    if (ow < g->ow)
        dx_tile(g, w, dy8, dx8, c0, mc, ki, kj, oh, ow, 1);
}

/* dX8 (zeroed by the caller) += the input gradient of one group. With
 * stride 1, taps (ki, kj) and (ki, kj + 1) of neighbouring pixels touch the
 * same pixel, so the tap loops are outermost: a pixel is read back only
 * after a whole pass over the image. */
LANES_TARGET static void lanes_grad_input(const geom *g, const float *w, const float *dy8,
                                          float *dx8)
{
    for (int64_t ki = 0; ki < g->k; ki++)
        for (int64_t kj = 0; kj < g->k; kj++)
            for (int64_t c0 = 0; c0 < g->c; c0 += 6) {
                int mc = g->c - c0 < 6 ? (int)(g->c - c0) : 6;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    switch (mc) {
                    case 6: dx_row(g, w, dy8, dx8, c0, 6, ki, kj, oh); break;
                    case 5: dx_row(g, w, dy8, dx8, c0, 5, ki, kj, oh); break;
                    case 4: dx_row(g, w, dy8, dx8, c0, 4, ki, kj, oh); break;
                    case 3: dx_row(g, w, dy8, dx8, c0, 3, ki, kj, oh); break;
                    case 2: dx_row(g, w, dy8, dx8, c0, 2, ki, kj, oh); break;
                    default: dx_row(g, w, dy8, dx8, c0, 1, ki, kj, oh); break;
                    }
                }
            }
}

/* ---- single images: output channels in the lanes -------------------------
 * With fewer than a few images per worker a group would be mostly empty
 * lanes, so forward (stride 1) takes one image at a time and puts eight
 * output channels in a vector instead: Yt [OH*OW][O8] (O8: O rounded up to
 * 8) accumulates Wt [C*k*k][O8] (the weights transposed, zero past O) times
 * one input pixel broadcast per tap, over the same (c, ki, kj) order. A tile
 * is nv vectors of channels x np neighbouring pixels of one output row; the
 * last tile of a row starts np pixels before its end, recomputing a few
 * pixels (same values) rather than wasting lanes or taking an edge case. */

#define PX_MAXP 12 /* 12 accumulators + weights + pixel: no spill */

/* dst [cols][ld] = src [rows][cols] transposed, zero for rows >= `rows` up
 * to ld (a multiple of 8). */
/* dst[q * ldd + l] = s[l][off + q], q, l < 8; rows s[l] that are NULL give 0. */
LANES_INLINE void px_block8(const float *const s[LANES], int64_t off, float *dst, int64_t ldd)
{
    __m256 v[LANES];
    for (int l = 0; l < LANES; l++)
        v[l] = s[l] ? _mm256_loadu_ps(s[l] + off) : _mm256_setzero_ps();
    transpose8(v);
    for (int q = 0; q < LANES; q++)
        _mm256_storeu_ps(dst + q * ldd, v[q]);
}

LANES_TARGET static void px_transpose(const float *src, int64_t rows, int64_t cols, float *dst,
                                      int64_t ld)
{
    for (int64_t o0 = 0; o0 < ld; o0 += LANES) {
        const float *s[LANES];
        for (int l = 0; l < LANES; l++)
            s[l] = o0 + l < rows ? src + (o0 + l) * cols : NULL;
        int64_t r = 0;
        for (; r + LANES <= cols; r += LANES)
            px_block8(s, r, dst + r * ld + o0, ld);
        for (; r < cols; r++)
            for (int l = 0; l < LANES; l++)
                dst[r * ld + o0 + l] = s[l] ? s[l][r] : 0.0f;
    }
}

/* wt [CKK][o8] = w [O][CKK] transposed, zero for channels o >= O. */
static void px_transpose_weights(const geom *g, const float *w, float *wt, int64_t o8)
{
    px_transpose(w, g->o, g->ckk, wt, o8);
}

/* Channels o0 .. o0 + 8*nv - 1 at output pixels (oh, ow0 .. ow0+np-1) of an
 * image laid out [C][Hp][Wp] (stride 1). */
LANES_INLINE void px_tile(const geom *g, const float *img, const float *wt, int64_t o8,
                          float *yt, int64_t o0, const int nv, const int np, const int kc,
                          int64_t oh, int64_t ow0)
{
    const int64_t k = kc ? kc : g->k;
    __m256 acc[2][PX_MAXP];
    for (int v = 0; v < 2; v++)
        for (int q = 0; q < PX_MAXP; q++)
            acc[v][q] = _mm256_setzero_ps();
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < k; ki++) {
            const float *xr = img + (c * g->hp + oh + ki) * g->wp + ow0;
            const float *wr = wt + (c * k + ki) * k * o8 + o0;
#pragma GCC unroll 8
            for (int64_t kj = 0; kj < k; kj++, wr += o8) {
                __m256 w0 = _mm256_loadu_ps(wr);
                __m256 w1 = nv > 1 ? _mm256_loadu_ps(wr + LANES) : w0;
                for (int q = 0; q < PX_MAXP; q++)
                    if (q < np) {
                        __m256 xv = _mm256_broadcast_ss(xr + kj + q);
                        acc[0][q] = _mm256_fmadd_ps(w0, xv, acc[0][q]);
                        if (nv > 1)
                            acc[1][q] = _mm256_fmadd_ps(w1, xv, acc[1][q]);
                    }
            }
        }
    float *yp = yt + (oh * g->ow + ow0) * o8 + o0;
    for (int q = 0; q < PX_MAXP; q++)
        if (q < np) {
            _mm256_storeu_ps(yp + q * o8, acc[0][q]);
            if (nv > 1)
                _mm256_storeu_ps(yp + q * o8 + LANES, acc[1][q]);
        }
}

/* kc: the kernel size when it is a constant after inlining (its taps'
 * loop then unrolled), else 0 (g->k). */
LANES_INLINE void px_rows(const geom *g, const float *img, const float *wt, int64_t o8,
                          float *yt, int64_t o0, const int nv, const int np, const int kc)
{
    for (int64_t oh = 0; oh < g->oh; oh++) {
        for (int64_t ow = 0; ow < g->ow; ow += np)
            px_tile(g, img, wt, o8, yt, o0, nv, np, kc, oh,
                    ow + np <= g->ow ? ow : g->ow - np);
    }
}

/* Pixels per tile for nv vectors of channels on rows of `ow` outputs: the
 * cheapest row, counting per tap and tile the larger of the multiply-adds
 * (two a cycle), the loads (two a cycle) and the 4-cycle latency of one
 * accumulator; 0 when rows are narrower than 4. */
static int px_width(int64_t ow, int nv)
{
    int best = 0;
    int64_t best_cost = INT64_MAX;
    for (int np = nv > 1 ? 6 : PX_MAXP; np >= 4; np--) {
        if (np > ow)
            continue;
        int64_t half_cycles = nv * np > np + nv ? nv * np : np + nv; /* x2 */
        if (half_cycles < 8)
            half_cycles = 8;
        int64_t cost = (ow + np - 1) / np * half_cycles;
        if (cost < best_cost) {
            best = np;
            best_cost = cost;
        }
    }
    return best;
}

#define PX_CASE(NV, NP)                                  \
    case NP:                                             \
        px_rows(g, img, wt, o8, yt, o0, NV, NP, kc);     \
        break;

/* Yt [OH*OW][o8] = the stride-1 convolution of one image laid out
 * [C][Hp][Wp] with the transposed weights wt (no bias); kc as in px_rows. */
LANES_INLINE void px_forward_k(const geom *g, const float *img, const float *wt, int64_t o8,
                               float *yt, const int kc)
{
    for (int64_t o0 = 0; o0 < o8; o0 += 2 * LANES) {
        if (o8 - o0 > LANES) {
            switch (px_width(g->ow, 2)) {
                PX_CASE(2, 4) PX_CASE(2, 5) PX_CASE(2, 6)
            default: break;
            }
        } else {
            switch (px_width(g->ow, 1)) {
                PX_CASE(1, 4) PX_CASE(1, 5) PX_CASE(1, 6) PX_CASE(1, 7) PX_CASE(1, 8)
                PX_CASE(1, 9) PX_CASE(1, 10) PX_CASE(1, 11) PX_CASE(1, 12)
            default: break;
            }
        }
    }
}
#undef PX_CASE

/* px_forward_k, with LeNet's 5x5 kernels unrolled. */
LANES_TARGET static void px_forward(const geom *g, const float *img, const float *wt, int64_t o8,
                                    float *yt)
{
    if (g->k == 5)
        px_forward_k(g, img, wt, o8, yt, 5);
    else
        px_forward_k(g, img, wt, o8, yt, 0);
}

/* ---- single images, few output channels: pixels in the lanes -------------
 * When O is well short of a multiple of 8 (LeNet's first layer: 6) and
 * rows are at least PV_PIXELS wide, vectors of 8 neighbouring output pixels
 * waste fewer lanes than vectors of 8 channels. A tile is up to PV_MAXO
 * channels x PV_PIXELS pixels of one output row: each weight is broadcast
 * and meets the input pixels under it, over the same (c, ki, kj) order as
 * the kernels above, and the tile goes straight to the output [O][OH][OW]
 * with its bias (no transposes on either side). The last tile of a row
 * starts PV_PIXELS before its end, recomputing a few pixels (same values). */

#define PV_MAXO 6    /* 12 accumulators + 2 pixel vectors + a weight */
#define PV_PIXELS 16 /* two vectors of pixels */

/* Whether this layer (plain, stride 1) computes fewer lanes as pixel tiles
 * than as channel vectors. */
static int pv_better(const geom *g)
{
    int64_t row = (g->ow + PV_PIXELS - 1) / PV_PIXELS * PV_PIXELS;
    return g->ow >= PV_PIXELS && g->o * row < g->o8 * g->ow;
}

/* Channels o0 .. o0+mo-1 at output pixels (oh, ow0 .. ow0+15) of an image
 * laid out [C][Hp][Wp] into y [O][OH][OW], plus the bias (b may be NULL;
 * 0 + v then turns -0 into +0, as px_unpack does). */
LANES_INLINE void pv_tile(const geom *g, const float *img, const float *w, const float *b,
                          float *y, int64_t o0, const int mo, int64_t oh, int64_t ow0)
{
    const int64_t k = g->k, kk = k * k;
    __m256 acc[PV_MAXO][2];
    for (int o = 0; o < PV_MAXO; o++)
        acc[o][0] = acc[o][1] = _mm256_setzero_ps();
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < k; ki++) {
            const float *xr = img + (c * g->hp + oh + ki) * g->wp + ow0;
            const float *wr = w + (o0 * g->c + c) * kk + ki * k;
            for (int64_t kj = 0; kj < k; kj++) {
                __m256 x0 = _mm256_loadu_ps(xr + kj), x1 = _mm256_loadu_ps(xr + kj + LANES);
                for (int o = 0; o < PV_MAXO; o++)
                    if (o < mo) {
                        __m256 wv = _mm256_broadcast_ss(wr + o * g->ckk + kj);
                        acc[o][0] = _mm256_fmadd_ps(wv, x0, acc[o][0]);
                        acc[o][1] = _mm256_fmadd_ps(wv, x1, acc[o][1]);
                    }
            }
        }
    for (int o = 0; o < PV_MAXO; o++)
        if (o < mo) {
            __m256 bias = _mm256_set1_ps(b ? b[o0 + o] : 0.0f);
            float *yp = y + (o0 + o) * g->ohw + oh * g->ow + ow0;
            _mm256_storeu_ps(yp, _mm256_add_ps(acc[o][0], bias));
            _mm256_storeu_ps(yp + LANES, _mm256_add_ps(acc[o][1], bias));
        }
}

LANES_INLINE void pv_rows(const geom *g, const float *img, const float *w, const float *b,
                          float *y, int64_t o0, const int mo)
{
    for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t ow = 0; ow < g->ow; ow += PV_PIXELS)
            pv_tile(g, img, w, b, y, o0, mo, oh,
                    ow + PV_PIXELS <= g->ow ? ow : g->ow - PV_PIXELS);
}

/* y [O][OH][OW] = the stride-1 convolution of one image laid out [C][Hp][Wp]
 * with the weights w [O][C*k*k], plus the bias; rows of PV_PIXELS or more. */
LANES_TARGET static void pv_forward(const geom *g, const float *img, const float *w,
                                    const float *b, float *y)
{
    for (int64_t o0 = 0; o0 < g->o; o0 += PV_MAXO) {
        switch (g->o - o0 < PV_MAXO ? (int)(g->o - o0) : PV_MAXO) {
        case 1: pv_rows(g, img, w, b, y, o0, 1); break;
        case 2: pv_rows(g, img, w, b, y, o0, 2); break;
        case 3: pv_rows(g, img, w, b, y, o0, 3); break;
        case 4: pv_rows(g, img, w, b, y, o0, 4); break;
        case 5: pv_rows(g, img, w, b, y, o0, 5); break;
        default: pv_rows(g, img, w, b, y, o0, 6); break;
        }
    }
}

/* dst + ch * plane [h + 2p][w + 2p] = channel ch of src [c][h][w] with a
 * zero border of p. */
static void px_pad_into(const float *src, int64_t c, int64_t h, int64_t w, int64_t p, float *dst,
                        int64_t plane)
{
    const int64_t wp = w + 2 * p;
    for (int64_t ch = 0; ch < c; ch++) {
        float *d = dst + ch * plane;
        /* only the border is zeroed: the plane is written once */
        memset(d, 0, sizeof(float) * (size_t)(p * wp));
        memset(d + (h + p) * wp, 0, sizeof(float) * (size_t)(p * wp));
        for (int64_t r = 0; r < h; r++) {
            float *row = d + (r + p) * wp;
            for (int64_t k = 0; k < p; k++)
                row[k] = row[p + w + k] = 0.0f;
            memcpy(row + p, src + (ch * h + r) * w, sizeof(float) * (size_t)w);
        }
    }
}

/* src [c][h][w] with a zero border of p: src itself when p == 0, else a
 * copy in buf [c][h + 2p][w + 2p]. */
static const float *px_pad(const float *src, int64_t c, int64_t h, int64_t w, int64_t p,
                           float *buf)
{
    if (p == 0)
        return src;
    px_pad_into(src, c, h, w, p, buf, (h + 2 * p) * (w + 2 * p));
    return buf;
}

/* The image n of x in the layout px_forward reads. */
static const float *px_image(const geom *g, const float *x, int64_t n, float *buf)
{
    return px_pad(x + n * g->chw, g->c, g->h, g->w, g->p, buf);
}

/* dst [nch][npix] from Yt [npix][ld] (ld a multiple of 8), plus the bias
 * b[ch] (none when b is NULL; 0 + v then turns -0 into +0, as the sum into
 * zeros of the other paths). */
LANES_TARGET static void px_unpack(const float *yt, int64_t ld, int64_t nch, int64_t npix,
                                   const float *b, float *dst)
{
    for (int64_t o0 = 0; o0 < nch; o0 += LANES) {
        int no = nch - o0 < LANES ? (int)(nch - o0) : LANES;
        float *d[LANES];
        __m256 bias[LANES];
        for (int l = 0; l < LANES; l++) {
            d[l] = dst + (o0 + (l < no ? l : 0)) * npix;
            bias[l] = _mm256_set1_ps(b && l < no ? b[o0 + l] : 0.0f);
        }
        int64_t j = 0;
        for (; j + LANES <= npix; j += LANES) {
            __m256 r[LANES];
            for (int q = 0; q < LANES; q++)
                r[q] = _mm256_loadu_ps(yt + (j + q) * ld + o0);
            transpose8(r);
            for (int l = 0; l < no; l++)
                _mm256_storeu_ps(d[l] + j, _mm256_add_ps(r[l], bias[l]));
        }
        for (; j < npix; j++)
            for (int l = 0; l < no; l++)
                d[l][j] = yt[j * ld + o0 + l] + (b ? b[o0 + l] : 0.0f);
    }
}

/* y of image n [O][OH*OW] from Yt [OH*OW][o8], plus the bias. */
static void px_unpack_output(const geom *g, const float *yt, int64_t o8, const float *b,
                             float *y, int64_t n)
{
    px_unpack(yt, o8, g->o, g->ohw, b, y + n * g->ohw_o);
}

/* ---- AVX-512: output channels in 16 lanes, all three products (px5) -----
 * On a CPU with AVX-512 the host GEMM beats the eight-lane kernels above on
 * all but LeNet-sized layers, but for few channels its unfold costs as much
 * as the product (9*C floats written per pixel for 9*C*C multiply-adds). The
 * kernels below (3x3 taps, stride 1 or 2) convolve directly with sixteen
 * output channels per vector, the px scheme above at twice the width: Yt
 * [OH*OW][ld] (ld: the channels rounded up to 16) accumulates Wt [C*9][ld]
 * times one input pixel broadcast per tap, over (c, ki, kj) in order, on an
 * image with its zero border [C][Hp][Wp]. The input gradient is the same product: the
 * output gradient with a border of k-1-p convolved with the weights turned
 * by 180 degrees and transposed (input and output channels swapped); with
 * stride 2, four such products of 1-2 x 1-2 taps, one per phase (output
 * pixels of one row and column parity; conv2d.c). The
 * weight gradient accumulates, per image, Wt-shaped sums over the output
 * pixels of a tap pixel broadcast times the output gradient at that pixel
 * (channels in the lanes); pixels and images in order. */

#define PX5_TARGET __attribute__((target("avx512f,avx2,fma")))
#define PX5_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))
#define PX5_LANES 16
#define PX5_MAXP 24 /* with one vector of channels: 24 accumulators, no spill */

/* One direct product: c input channels of hp x wp (border included),
 * 3 x 3 taps, oh x ow outputs, ld floats per row of Wt and Yt; the weight
 * gradient takes imgs images at once, each channel's planes one after the
 * other ([c][imgs][hp][wp]), their output gradients likewise. */
typedef struct px5_dims {
    int64_t c, hp, wp, oh, ow, ld, imgs;
    int64_t st, kh, kw; /* input stride (1, 2), taps (px5_conv: 3x3, or 1-2 x
                           1-2 for a phase of a stride-2 input gradient) */
    int64_t yrow, ycol; /* Yt pixels per output row and column (ow, 1; the
                           phases write every second pixel of a larger Yt) */
} px5_dims;

static int px5_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && lanes_supported();
}

/* n rounded up to 16. */
static int64_t px5_round(int64_t n)
{
    return (n + PX5_LANES - 1) / PX5_LANES * PX5_LANES;
}

/* Channels o0 .. o0 + 16*nv - 1 at output pixels (oh .. oh+nr-1, ow0 ..
 * ow0+np-1), 3x3 taps (several rows only for short rows, so that the tile
 * still holds enough accumulators). Each input pixel of a tap row is
 * broadcast once and meets the three weights of that row: pixel t adds tap
 * kj into output t - kj, so every output still sums its taps in (c, ki, kj)
 * order, with np + 2 broadcasts per 3*np*nv multiply-adds instead of 3*np
 * (with stride st: st*(np-1) + kw broadcasts for kh x kw taps). */
PX5_INLINE void px5_tile(const px5_dims *d, const float *img, const float *wt, float *yt,
                         int64_t o0, const int nv, const int nr, const int np, const int st,
                         const int kh, const int kw, int64_t oh, int64_t ow0)
{
    __m512 acc[2][PX5_MAXP];
    for (int v = 0; v < 2; v++)
#pragma GCC unroll 24
        for (int q = 0; q < PX5_MAXP; q++)
            acc[v][q] = _mm512_setzero_ps();
    const int64_t ld = d->ld;
    for (int64_t c = 0; c < d->c; c++)
        for (int64_t ki = 0; ki < kh; ki++) {
            const float *wr = wt + (c * kh + ki) * kw * ld + o0;
            __m512 w[3][2];
            for (int kj = 0; kj < kw; kj++) {
                w[kj][0] = _mm512_loadu_ps(wr + kj * ld);
                w[kj][1] = nv > 1 ? _mm512_loadu_ps(wr + kj * ld + PX5_LANES) : w[kj][0];
            }
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                const float *xr = img + (c * d->hp + st * (oh + r) + ki) * d->wp + st * ow0;
                /* (unrolled in full: the accumulators must be registers);
                 * with stride 2, pixel t meets output (t - kj) / 2 */
#pragma GCC unroll 49
                for (int t = 0; t < 2 * PX5_MAXP + 1; t++) {
                    if (t >= st * (np - 1) + kw)
                        continue;
                    __m512 xv = _mm512_set1_ps(xr[t]);
                    for (int kj = 0; kj < kw; kj++) {
                        const int q = (t - kj) / st;
                        if (t < kj || (t - kj) % st != 0 || q >= np)
                            continue;
                        acc[0][r * np + q] = _mm512_fmadd_ps(w[kj][0], xv, acc[0][r * np + q]);
                        if (nv > 1)
                            acc[1][r * np + q] =
                                _mm512_fmadd_ps(w[kj][1], xv, acc[1][r * np + q]);
                    }
                }
            }
        }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        float *yp = yt + ((oh + r) * d->yrow + ow0 * d->ycol) * ld + o0;
        const int64_t step = d->ycol * ld;
#pragma GCC unroll 24
        for (int q = 0; q < PX5_MAXP; q++)
            if (q < np) {
                _mm512_storeu_ps(yp + q * step, acc[0][r * np + q]);
                if (nv > 1)
                    _mm512_storeu_ps(yp + q * step + PX5_LANES, acc[1][r * np + q]);
            }
    }
}

/* The last tile of a row (of the rows) starts np pixels (nr rows) before
 * its end, recomputing a few pixels (same values) rather than taking an
 * edge case. */
PX5_INLINE void px5_rows(const px5_dims *d, const float *img, const float *wt, float *yt,
                         int64_t o0, const int nv, const int nr, const int np, const int st,
                         const int kh, const int kw)
{
    for (int64_t oh = 0; oh < d->oh; oh += nr)
        for (int64_t ow = 0; ow < d->ow; ow += np)
            px5_tile(d, img, wt, yt, o0, nv, nr, np, st, kh, kw,
                     oh + nr <= d->oh ? oh : d->oh - nr, ow + np <= d->ow ? ow : d->ow - np);
}

/* Pixels per tile for nv vectors of channels on rows of `ow` >= 4 outputs:
 * the fewest pixels computed per row (the last tile recomputes some), then
 * the widest tile (fewer weight loads); the tiles hold at most PX5_MAXP
 * accumulators. */
static int px5_width(int64_t ow, int nv)
{
    static const int widths[] = {24, 20, 16, 14, 12, 10, 8, 6, 4};
    int best = 0;
    int64_t best_px = INT64_MAX;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        const int np = widths[i];
        const int64_t px = (ow + np - 1) / np * np;
        if (np <= ow && nv * np <= PX5_MAXP && px < best_px) {
            best = np;
            best_px = px;
        }
    }
    return best;
}

#define PX5_CASE(NV, NP)                                      \
    case 100 * (NV) + (NP):                                   \
        px5_rows(d, img, wt, yt, o0, NV, 1, NP, st, kh, kw);  \
        break;

/* Yt = the convolution of img with wt, stride st, kh x kw taps (ld
 * channels, zero weights past the real ones). */
PX5_INLINE void px5_conv_k(const px5_dims *d, const float *img, const float *wt, float *yt,
                           const int st, const int kh, const int kw)
{
    for (int64_t o0 = 0; o0 < d->ld; o0 += 2 * PX5_LANES) {
        int nv = d->ld - o0 > PX5_LANES ? 2 : 1;
        /* rows of 4 to 7: tiles of 4 pixels on 2 or 4 rows (16 accumulators) */
        if (d->ow < 8 && d->oh >= 2 * (3 - nv)) {
            if (nv > 1)
                px5_rows(d, img, wt, yt, o0, 2, 2, 4, st, kh, kw);
            else
                px5_rows(d, img, wt, yt, o0, 1, 4, 4, st, kh, kw);
            continue;
        }
        switch (px5_width(d->ow, nv) + 100 * nv) {
            PX5_CASE(1, 24) PX5_CASE(1, 20) PX5_CASE(1, 16) PX5_CASE(1, 14)
            PX5_CASE(1, 12) PX5_CASE(1, 10) PX5_CASE(1, 8) PX5_CASE(1, 6) PX5_CASE(1, 4)
            PX5_CASE(2, 12) PX5_CASE(2, 10) PX5_CASE(2, 8) PX5_CASE(2, 6) PX5_CASE(2, 4)
        default: break;
        }
    }
}
#undef PX5_CASE

/* One function per stride and taps, each with its tiles inlined. */
#define PX5_CONV_FN(ST, KH, KW)                                                              \
    PX5_TARGET static void px5_conv_##ST##KH##KW(const px5_dims *d, const float *img,        \
                                                 const float *wt, float *yt)                 \
    {                                                                                        \
        px5_conv_k(d, img, wt, yt, ST, KH, KW);                                              \
    }
PX5_CONV_FN(1, 3, 3)
PX5_CONV_FN(2, 3, 3)
PX5_CONV_FN(1, 2, 2)
PX5_CONV_FN(1, 2, 1)
PX5_CONV_FN(1, 1, 2)
PX5_CONV_FN(1, 1, 1)
#undef PX5_CONV_FN

/* Yt [row * yrow + col * ycol][ld] = the convolution of img with wt, stride
 * d->st, d->kh x d->kw taps (3x3 with stride 1 or 2; 1-2 x 1-2 taps with
 * stride 1). */
static void px5_conv(const px5_dims *d, const float *img, const float *wt, float *yt)
{
    switch (d->st * 100 + d->kh * 10 + d->kw) {
    case 133: px5_conv_133(d, img, wt, yt); break;
    case 233: px5_conv_233(d, img, wt, yt); break;
    case 122: px5_conv_122(d, img, wt, yt); break;
    case 121: px5_conv_121(d, img, wt, yt); break;
    case 112: px5_conv_112(d, img, wt, yt); break;
    case 111: px5_conv_111(d, img, wt, yt); break;
    default: break;
    }
}

/* The weight gradient of 3x3 taps, channels c0 .. c0+nc-1 and output
 * channels o0 .. o0 + 16*nv - 1 of d->imgs images: dwt [(c*3 + ki)*3 + kj]
 * [ld] += the sum over images and output pixels, in order, of
 * img[c][i][st*oh+ki][st*ow+kj] * dyt [imgs*OH*OW][ld] at that pixel (several
 * images a call, so that small ones do not pay the accumulators' loads and
 * stores for a few pixels). */
PX5_INLINE void px5_dw_tile(const px5_dims *d, const float *img, const float *dyt, float *dwt,
                            int64_t c0, const int nc, int64_t o0, const int nv)
{
    __m512 acc[2][2][9];
    const int64_t ld = d->ld, wp = d->wp, plane = d->imgs * d->hp * wp, st = d->st;
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < 2; i++)
            for (int t = 0; t < 9; t++)
                acc[v][i][t] = v < nv && i < nc
                                   ? _mm512_loadu_ps(dwt + ((c0 + i) * 9 + t) * ld + o0 +
                                                     v * PX5_LANES)
                                   : _mm512_setzero_ps();
    const float *yr = dyt + o0;
    for (int64_t im = 0; im < d->imgs; im++) {
        for (int64_t oh = 0; oh < d->oh; oh++) {
            const float *xr[2];
            for (int i = 0; i < 2; i++)
                xr[i] = img + (c0 + (i < nc ? i : 0)) * plane + (im * d->hp + st * oh) * wp;
            for (int64_t ow = 0; ow < d->ow; ow++, yr += ld) {
                __m512 y0 = _mm512_loadu_ps(yr);
                __m512 y1 = nv > 1 ? _mm512_loadu_ps(yr + PX5_LANES) : y0;
                for (int i = 0; i < 2; i++)
                    if (i < nc)
                        for (int ki = 0; ki < 3; ki++)
                            for (int kj = 0; kj < 3; kj++) {
                                __m512 xv = _mm512_set1_ps(xr[i][ki * wp + st * ow + kj]);
                                acc[0][i][ki * 3 + kj] =
                                    _mm512_fmadd_ps(xv, y0, acc[0][i][ki * 3 + kj]);
                                if (nv > 1)
                                    acc[1][i][ki * 3 + kj] =
                                        _mm512_fmadd_ps(xv, y1, acc[1][i][ki * 3 + kj]);
                            }
            }
        }
    }
    for (int v = 0; v < nv; v++)
        for (int i = 0; i < nc; i++)
            for (int t = 0; t < 9; t++)
                _mm512_storeu_ps(dwt + ((c0 + i) * 9 + t) * ld + o0 + v * PX5_LANES,
                                 acc[v][i][t]);
}

/* dwt [C*9][ld] += the 3x3 weight gradient of d->imgs images laid out
 * [C][imgs][Hp][Wp] with output gradients dyt [imgs*OH*OW][ld]. Two channels a tile
 * with one vector of output channels, one with two: 18 accumulators. */
PX5_TARGET static void px5_grad_weight(const px5_dims *d, const float *img, const float *dyt,
                                       float *dwt)
{
    for (int64_t o0 = 0; o0 < d->ld; o0 += 2 * PX5_LANES) {
        if (d->ld - o0 > PX5_LANES) {
            for (int64_t c0 = 0; c0 < d->c; c0++)
                px5_dw_tile(d, img, dyt, dwt, c0, 1, o0, 2);
            continue;
        }
        int64_t c0 = 0;
        for (; c0 + 2 <= d->c; c0 += 2)
            px5_dw_tile(d, img, dyt, dwt, c0, 2, o0, 1);
        if (c0 < d->c)
            px5_dw_tile(d, img, dyt, dwt, c0, 1, o0, 1);
    }
}

/* dst [rows][cols] = src [cols][ld] transposed (rows <= ld): 8 x 8 blocks
 * in registers, the edges one by one. */
LANES_TARGET static void px_transpose_back(const float *src, int64_t ld, int64_t rows,
                                           int64_t cols, float *dst)
{
    int64_t o0 = 0;
    for (; o0 + LANES <= rows; o0 += LANES) {
        int64_t r = 0;
        for (; r + LANES <= cols; r += LANES) {
            const float *s[LANES];
            for (int l = 0; l < LANES; l++)
                s[l] = src + (r + l) * ld;
            px_block8(s, o0, dst + o0 * cols + r, cols);
        }
        for (; r < cols; r++)
            for (int q = 0; q < LANES; q++)
                dst[(o0 + q) * cols + r] = src[r * ld + o0 + q];
    }
    for (; o0 < rows; o0++)
        for (int64_t r = 0; r < cols; r++)
            dst[o0 * cols + r] = src[r * ld + o0];
}

#else
#define CONV_LANES 0
#define LANES 8
#endif

#endif

