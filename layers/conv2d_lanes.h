/*
 * conv2d_lanes.h - Conv2d's lane-batched kernels (AVX2 + FMA), part of
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
 * x up to 6 kernel columns (weight gradient), 6 input channels x 2 pixels
 * (input gradient); the channel and column counts are compile-time constants
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

/* dw [O, C*k*k] += the weight gradient of one group. */
LANES_TARGET static void lanes_grad_weight(const geom *g, const float *x8, const float *dy8,
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

/* wt [CKK][o8] = w [O][CKK] transposed, zero for channels o >= O. */
LANES_TARGET static void px_transpose_weights(const geom *g, const float *w, float *wt,
                                              int64_t o8)
{
    for (int64_t o0 = 0; o0 < o8; o0 += LANES) {
        const float *src[LANES];
        for (int l = 0; l < LANES; l++)
            src[l] = o0 + l < g->o ? w + (o0 + l) * g->ckk : NULL;
        int64_t r = 0;
        for (; r + LANES <= g->ckk; r += LANES) {
            __m256 v[LANES];
            for (int l = 0; l < LANES; l++)
                v[l] = src[l] ? _mm256_loadu_ps(src[l] + r) : _mm256_setzero_ps();
            transpose8(v);
            for (int q = 0; q < LANES; q++)
                _mm256_storeu_ps(wt + (r + q) * o8 + o0, v[q]);
        }
        for (; r < g->ckk; r++)
            for (int l = 0; l < LANES; l++)
                wt[r * o8 + o0 + l] = src[l] ? src[l][r] : 0.0f;
    }
}

/* Channels o0 .. o0 + 8*nv - 1 at output pixels (oh, ow0 .. ow0+np-1) of an
 * image laid out [C][Hp][Wp] (stride 1). */
LANES_INLINE void px_tile(const geom *g, const float *img, const float *wt, int64_t o8,
                          float *yt, int64_t o0, const int nv, const int np, int64_t oh,
                          int64_t ow0)
{
    __m256 acc[2][PX_MAXP];
    for (int v = 0; v < 2; v++)
        for (int q = 0; q < PX_MAXP; q++)
            acc[v][q] = _mm256_setzero_ps();
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->k; ki++) {
            const float *xr = img + (c * g->hp + oh + ki) * g->wp + ow0;
            const float *wr = wt + (c * g->k + ki) * g->k * o8 + o0;
            for (int64_t kj = 0; kj < g->k; kj++, wr += o8) {
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

LANES_INLINE void px_rows(const geom *g, const float *img, const float *wt, int64_t o8,
                          float *yt, int64_t o0, const int nv, const int np)
{
    for (int64_t oh = 0; oh < g->oh; oh++) {
        for (int64_t ow = 0; ow < g->ow; ow += np)
            px_tile(g, img, wt, o8, yt, o0, nv, np, oh, ow + np <= g->ow ? ow : g->ow - np);
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
        px_rows(g, img, wt, o8, yt, o0, NV, NP);         \
        break;

/* Yt [OH*OW][o8] = the stride-1 convolution of one image laid out
 * [C][Hp][Wp] with the transposed weights wt (no bias). */
LANES_TARGET static void px_forward(const geom *g, const float *img, const float *wt, int64_t o8,
                                    float *yt)
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

/* The image n of x in the layout px_forward reads: x itself without
 * padding, else a copy with a zero border in buf. */
LANES_TARGET static const float *px_image(const geom *g, const float *x, int64_t n, float *buf)
{
    const float *src = x + n * g->chw;
    if (g->p == 0)
        return src;
    memset(buf, 0, sizeof(float) * (size_t)(g->c * g->hp * g->wp));
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t h = 0; h < g->h; h++)
            memcpy(buf + (c * g->hp + h + g->p) * g->wp + g->p, src + (c * g->h + h) * g->w,
                   sizeof(float) * (size_t)g->w);
    return buf;
}

/* y of image n [O][OH*OW] from Yt [OH*OW][o8], plus the bias. */
LANES_TARGET static void px_unpack_output(const geom *g, const float *yt, int64_t o8,
                                          const float *b, float *y, int64_t n)
{
    for (int64_t o0 = 0; o0 < g->o; o0 += LANES) {
        int no = g->o - o0 < LANES ? (int)(g->o - o0) : LANES;
        float *dst[LANES];
        __m256 bias[LANES];
        for (int l = 0; l < LANES; l++) {
            dst[l] = y + n * g->ohw_o + (o0 + (l < no ? l : 0)) * g->ohw;
            bias[l] = _mm256_set1_ps(b && l < no ? b[o0 + l] : 0.0f);
        }
        int64_t j = 0;
        for (; j + LANES <= g->ohw; j += LANES) {
            __m256 r[LANES];
            for (int q = 0; q < LANES; q++)
                r[q] = _mm256_loadu_ps(yt + (j + q) * o8 + o0);
            transpose8(r);
            for (int l = 0; l < no; l++)
                _mm256_storeu_ps(dst[l] + j, _mm256_add_ps(r[l], bias[l]));
        }
        for (; j < g->ohw; j++)
            for (int l = 0; l < no; l++)
                dst[l][j] = yt[j * o8 + o0 + l] + (b ? b[o0 + l] : 0.0f);
    }
}

#else
#define CONV_LANES 0
#define LANES 8
#endif

#endif
