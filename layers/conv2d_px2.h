/*
 * conv2d_px2.h - Conv2d's direct 3x3 kernels for CPUs with AVX2 and FMA but
 * no AVX-512 (px2), part of conv2d.c, which includes this file after
 * conv2d_lanes.h. They are the px5 kernels (end of conv2d_lanes.h) at half
 * the width: eight output channels per vector, tiles sized for sixteen
 * vector registers, the same buffers (px5_dims; Yt rows of ld floats, ld
 * the channels rounded up to 8) and the same sums in the same order:
 *
 *   forward and input gradient: Yt [pixel][ld] accumulates the weights
 *     (of tap (c, ki, kj)) times one input pixel broadcast, over (c, ki,
 *     kj) in order; each input pixel of a tap row is broadcast once and
 *     meets the kw weights of that row. The weights are read as panels of
 *     eight channels (px2_panel), not Wt's rows, whose stride maps a
 *     tile's weights onto a few cache sets;
 *   weight gradient: dWt [(c*3 + ki)*3 + kj][ld] accumulates a tap pixel
 *     broadcast times the output gradient vector at that output pixel, over
 *     images and pixels in order.
 *
 * Register budget (16 ymm): forward tiles of 8 channels x up to 12 pixels
 * of a row, or 4 pixels x 2-3 rows on short rows (at most 12 accumulators,
 * 3 weights, 1 pixel); weight gradient tiles of up to 12 accumulators (4
 * vectors of channels x 3 taps of one kernel row, 3 x 3, or 1 vector x all
 * 9 taps).
 */
#ifndef TC_CONV2D_PX2_H
#define TC_CONV2D_PX2_H

#if CONV_LANES

#define PX2_TARGET __attribute__((target("avx2,fma")))
#define PX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))
#define PX2_LANES 8
#define PX2_MAXP 12 /* accumulators of a forward tile */
#define PX2_BLOCK 64 /* input channels of a pass over the image: 18 KB of weights */

/* One function per stride and taps (kh x kw), each with its tiles inlined
 * (defined after px2_conv_k), and px2_conv's table of them. */
#define PX2_FN(ST, KH, KW)                                                                   \
    PX2_TARGET static void px2_conv_##ST##KH##KW(const px5_dims *d, const float *img,        \
                                                 const float *wt, float *yt)                 \
    { px2_conv_k(d, img, wt, yt, ST, KH, KW); }
#define PX2_ENTRY(ST, KH, KW) {(ST) * 100 + (KH) * 10 + (KW), px2_conv_##ST##KH##KW},
#define PX2_ALL(X) X(1, 3, 3) X(2, 3, 3) X(1, 2, 2) X(1, 2, 1) X(1, 1, 2) X(1, 1, 1)

/* Whether this CPU runs the kernels below (any with AVX2 and FMA). */
static int px2_supported(void) { return lanes_supported(); }

/* n rounded up to 8. */
static int64_t px2_round(int64_t n)
{
    return (n + PX2_LANES - 1) / PX2_LANES * PX2_LANES;
}

/* panel [ld/8][rows][8] = m [rows][ld]: the weights px2's tiles read
 * (eight channels of consecutive rows) in consecutive memory. A row of m
 * is a multiple of 128 bytes long, so a tile's weights, one vector per row,
 * would otherwise fall into a few of the cache's sets and evict each other
 * (measured: half the speed from 128 channels on). */
PX2_TARGET static void px2_panel(const float *m, int64_t rows, int64_t ld, float *panel)
{
    for (int64_t o0 = 0; o0 < ld; o0 += PX2_LANES)
        for (int64_t r = 0; r < rows; r++)
            _mm256_storeu_ps(panel + o0 * rows + r * PX2_LANES, _mm256_loadu_ps(m + r * ld + o0));
}

/* The input gradient's weights wr as panels: with stride 1 one matrix of
 * O*9 rows, with stride 2 the four phases' matrices one after the other
 * (O, 2*O, 2*O and 4*O rows: phases (0, 0), (0, 1), (1, 0), (1, 1)), each
 * into the same place of `panel`, which it returns. */
static const float *px2_panel_weights(const float *wr, int64_t o, int64_t s, int64_t ld,
                                      float *panel)
{
    static const int64_t rows[4] = {1, 2, 2, 4};
    if (s == 1) {
        px2_panel(wr, o * 9, ld, panel);
        return panel;
    }
    for (int64_t i = 0, off = 0; i < 4; off += rows[i++] * o * ld)
        px2_panel(wr + off, rows[i] * o, ld, panel + off);
    return panel;
}

/* Channels o0 .. o0 + 8*nv - 1 at output pixels (oh .. oh+nr-1, ow0 ..
 * ow0+np-1), kh x kw taps with stride st: px5_tile's scheme (pixel t of a
 * tap row adds tap kj into output (t - kj) / st). */
PX2_INLINE void px2_tile(const px5_dims *d, const float *img, const float *wt, float *yt,
                         int64_t o0, const int nv, const int nr, const int np, const int st,
                         const int kh, const int kw, int64_t oh, int64_t ow0, int64_t c0,
                         int64_t c1)
{
    __m256 acc[2][PX2_MAXP];
    const int64_t ld = d->ld, panel = d->c * kh * kw * PX2_LANES;
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const float *yp = yt + ((oh + r) * d->yrow + ow0 * d->ycol) * ld + o0;
        const int64_t step = d->ycol * ld;
#pragma GCC unroll 12
        for (int q = 0; q < PX2_MAXP; q++)
            if (q < np)
                for (int v = 0; v < nv; v++)
                    acc[v][r * np + q] = c0 > 0 ? _mm256_loadu_ps(yp + q * step + v * PX2_LANES)
                                                : _mm256_setzero_ps();
    }
    for (int64_t c = c0; c < c1; c++)
        for (int64_t ki = 0; ki < kh; ki++) {
            const float *wr = wt + o0 / PX2_LANES * panel + (c * kh + ki) * kw * PX2_LANES;
            __m256 w[3][2];
            for (int kj = 0; kj < kw; kj++)
                for (int v = 0; v < nv; v++)
                    w[kj][v] = _mm256_loadu_ps(wr + kj * PX2_LANES + v * panel);
            const float *x0 = img + (c * d->hp + st * oh + ki) * d->wp + st * ow0;
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                /* in full (the accumulators must be registers): the row's
                 * st*(np-1) + kw pixels */
#pragma GCC unroll 25
                for (int t = 0; t < st * (np - 1) + kw; t++) {
                    __m256 xv = _mm256_broadcast_ss(x0 + r * st * d->wp + t);
                    for (int kj = 0; kj < kw; kj++) {
                        const int q = (t - kj) / st, i = r * np + q;
                        if (t >= kj && (t - kj) % st == 0 && q < np)
                            for (int v = 0; v < nv; v++)
                                acc[v][i] = _mm256_fmadd_ps(w[kj][v], xv, acc[v][i]);
                    }
                }
            }
        }
#pragma GCC unroll 12
    for (int i = 0; i < PX2_MAXP; i++)
        if (i < nr * np)
            for (int v = 0; v < nv; v++)
                _mm256_storeu_ps(yt + ((oh + i / np) * d->yrow + (ow0 + i % np) * d->ycol) * ld +
                                     o0 + v * PX2_LANES,
                                 acc[v][i]);
}

/* All tiles of channels o0 .. o0 + 8*nv - 1; the last tile of a row (of
 * the rows) starts np pixels (nr rows) before its end, recomputing a few
 * pixels (same values) rather than taking an edge case. Where the tiles
 * cover the image exactly (no pixel computed twice), they go over the
 * input channels PX2_BLOCK at a time, the sums kept in Yt between blocks
 * (the same sums in the same order), so that a block's weights stay in
 * the L1 cache for all tiles. */
PX2_INLINE void px2_rows(const px5_dims *d, const float *img, const float *wt, float *yt,
                         int64_t o0, const int nv, const int nr, const int np, const int st,
                         const int kh, const int kw)
{
    const int64_t block = d->oh % nr == 0 && d->ow % np == 0 ? PX2_BLOCK : d->c;
    for (int64_t c0 = 0; c0 < d->c; c0 += block) {
        const int64_t c1 = d->c - c0 < block ? d->c : c0 + block;
        for (int64_t oh = 0; oh < d->oh; oh += nr)
            for (int64_t ow = 0; ow < d->ow; ow += np)
                px2_tile(d, img, wt, yt, o0, nv, nr, np, st, kh, kw,
                         oh + nr <= d->oh ? oh : d->oh - nr, ow + np <= d->ow ? ow : d->ow - np,
                         c0, c1);
    }
}

/* Pixels per tile of one vector of channels on rows of `ow` >= 4 outputs:
 * the fewest pixels computed per row, then the widest tile. */
static int px2_width(int64_t ow)
{
    static const int widths[] = {12, 10, 8, 6, 4};
    int best = 0;
    int64_t best_px = INT64_MAX;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        const int np = widths[i];
        const int64_t px = (ow + np - 1) / np * np;
        if (np <= ow && px < best_px) {
            best = np;
            best_px = px;
        }
    }
    return best;
}

/* tiles of NR rows of NP pixels, one vector of channels */
#define PX2_CASE(NR, NP)                                       \
    case 100 * (NR) + (NP):                                    \
        px2_rows(d, img, wt, yt, o0, 1, NR, NP, st, kh, kw);   \
        break;

/* Yt = the convolution of img with wt (as px2_panel leaves it), stride st,
 * kh x kw taps (ld channels, zero weights past the real ones). Rows of 4
 * to 8 outputs take tiles of 4 pixels on 3 rows (12 accumulators), or on 2
 * where that computes fewer rows, when the image has them. */
PX2_INLINE void px2_conv_k(const px5_dims *d, const float *img, const float *wt, float *yt,
                           const int st, const int kh, const int kw)
{
    const int nr = d->oh < 3 || (d->oh + 1) / 2 * 2 < (d->oh + 2) / 3 * 3 ? 2 : 3;
    const int tile = d->ow <= 8 && d->oh >= 2 ? 100 * nr + 4 : 100 + px2_width(d->ow);
    for (int64_t o0 = 0; o0 < d->ld; o0 += PX2_LANES)
        switch (tile) {
            PX2_CASE(3, 4) PX2_CASE(2, 4)
            PX2_CASE(1, 12) PX2_CASE(1, 10) PX2_CASE(1, 8) PX2_CASE(1, 6) PX2_CASE(1, 4)
        }
}
#undef PX2_CASE
PX2_ALL(PX2_FN)


/* px5_conv with the AVX2 kernels, the weights as px2_panel leaves them. */
static void px2_conv(const px5_dims *d, const float *img, const float *wt, float *yt)
{
    static const struct {
        int64_t key;
        void (*fn)(const px5_dims *, const float *, const float *, float *);
    } fns[] = {PX2_ALL(PX2_ENTRY)};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (fns[i].key == d->st * 100 + d->kh * 10 + d->kw)
            fns[i].fn(d, img, wt, yt);
}
#undef PX2_ALL
#undef PX2_ENTRY
#undef PX2_FN

/* The weight gradient of channel c, kernel rows k0 .. k0+nk-1 (all three
 * columns each) and output channels o0 .. o0 + 8*nv - 1 of d->imgs images:
 * dwt [(c*3 + ki)*3 + kj][ld] += the sum over images and output pixels, in
 * order, of img[c][i][st*oh+ki][st*ow+kj] * dyt [imgs*OH*OW][ld] at that
 * pixel (px5_dw_tile's sums, in tiles of nv*nk*3 <= 12 accumulators). */
PX2_INLINE void px2_dw_tile(const px5_dims *d, const float *img, const float *dyt, float *dwt,
                            int64_t c, const int k0, const int nk, int64_t o0, const int nv)
{
    __m256 acc[4][9];
    const int64_t ld = d->ld, wp = d->wp, plane = d->imgs * d->hp * wp, st = d->st;
    float *dp = dwt + (c * 9 + k0 * 3) * ld + o0;
    for (int v = 0; v < nv; v++)
        for (int t = 0; t < 3 * nk; t++)
            acc[v][t] = _mm256_loadu_ps(dp + t * ld + v * PX2_LANES);
    const float *yr = dyt + o0;
    for (int64_t im = 0; im < d->imgs; im++) {
        for (int64_t oh = 0; oh < d->oh; oh++) {
            const float *xr = img + c * plane + (im * d->hp + st * oh + k0) * wp;
            for (int64_t ow = 0; ow < d->ow; ow++, yr += ld, xr += st) {
                __m256 y[4];
                for (int v = 0; v < nv; v++)
                    y[v] = _mm256_loadu_ps(yr + v * PX2_LANES);
                for (int ki = 0; ki < nk; ki++)
                    for (int kj = 0; kj < 3; kj++) {
                        __m256 xv = _mm256_broadcast_ss(xr + ki * wp + kj);
                        for (int v = 0; v < nv; v++)
                            acc[v][ki * 3 + kj] = _mm256_fmadd_ps(xv, y[v], acc[v][ki * 3 + kj]);
                    }
            }
        }
    }
    for (int v = 0; v < nv; v++)
        for (int t = 0; t < 3 * nk; t++)
            _mm256_storeu_ps(dp + t * ld + v * PX2_LANES, acc[v][t]);
}

/* dwt [C*9][ld] += the 3x3 weight gradient of d->imgs images laid out
 * [C][imgs][Hp][Wp] with output gradients dyt [imgs*OH*OW][ld]: 32 output
 * channels by one kernel row a tile (12 accumulators), the channels left
 * over (8 to 24) by all 9 taps of one vector, or one row of 3. */
PX2_TARGET static void px2_grad_weight(const px5_dims *d, const float *img, const float *dyt,
                                       float *dwt)
{
    int64_t o0 = 0;
    for (; o0 + 4 * PX2_LANES <= d->ld; o0 += 4 * PX2_LANES)
        for (int64_t c = 0; c < d->c; c++)
            for (int k0 = 0; k0 < 3; k0++)
                px2_dw_tile(d, img, dyt, dwt, c, k0, 1, o0, 4);
    if (d->ld - o0 == 3 * PX2_LANES) {
        for (int64_t c = 0; c < d->c; c++)
            for (int k0 = 0; k0 < 3; k0++)
                px2_dw_tile(d, img, dyt, dwt, c, k0, 1, o0, 3);
        return;
    }
    for (; o0 < d->ld; o0 += PX2_LANES)
        for (int64_t c = 0; c < d->c; c++)
            px2_dw_tile(d, img, dyt, dwt, c, 0, 3, o0, 1);
}

/* The direct kernels of this layer's path: px2 or px5. */
static void px_direct_conv(const geom *g, const px5_dims *d, const float *img, const float *wt,
                           float *yt)
{
    if (g->px2)
        px2_conv(d, img, wt, yt);
    else
        px5_conv(d, img, wt, yt);
}

static void px_direct_grad_weight(const geom *g, const px5_dims *d, const float *img,
                                  const float *dyt, float *dwt)
{
    if (g->px2)
        px2_grad_weight(d, img, dyt, dwt);
    else
        px5_grad_weight(d, img, dyt, dwt);
}

#endif

#endif
