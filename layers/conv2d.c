/*
 * conv2d.c - the Conv2d layer plugin: 2-D convolution (cross-correlation,
 * as in PyTorch) of an NCHW input with an [O, C/groups, kh, kw] kernel,
 * with per-axis stride, zero padding and dilation, and grouped channels
 * (output channels [q*O/G, (q+1)*O/G) see only input channels
 * [q*C/G, (q+1)*C/G); depthwise when G = C).
 *
 * The batch is split into "slices", one per worker thread, run through
 * host->parallel_for. Each slice has its own part of the workspace, so no
 * two threads ever write the same memory; weight and bias gradients are
 * summed per slice and the partials added in slice order, so they only
 * depend on the batch size and thread count (which fix slices and groups),
 * never on scheduling. A slice works through its images in groups (of
 * images; channel groups are the `groups` parameter), by one of three methods:
 *
 *   - lanes (conv2d_lanes.h; x86-64 with AVX2 and FMA, at least
 *     LANES_MIN_IMAGES images per slice, small enough layers, and on a CPU
 *     with AVX-512 only layers of at most LANES_WIDE_MAX_MACS multiply-adds
 *     per output pixel, since the host GEMM's AVX-512 kernels beat them on
 *     wider ones): eight images at a time, one per vector lane, convolved
 *     directly;
 *   - px5 (conv2d_lanes.h; x86-64 with AVX-512F, 3x3 layers of stride 1,
 *     or 2 with padding 1, of 16 to 256 channels, rows of at least
 *     PX5_MIN_ROW outputs): one image at a time, sixteen output channels
 *     per vector, convolved directly in all three products (the input
 *     gradient as a convolution of the output gradient with the turned
 *     weights; with stride 2 four of them, one per phase of odd and even
 *     rows and columns), no column matrix; on a CPU with AVX2 and FMA
 *     but no AVX-512 (or with TINYCNN_GEMM_ISA=avx2 capping it) the same
 *     kernels at eight channels per vector (px2, conv2d_px2.h);
 *   - im2col + GEMM otherwise (any CPU, single images, large layers; but
 *     forward with stride 1 on such a CPU takes one image at a time with
 *     output channels, or with few channels output pixels, in the lanes,
 *     conv2d_lanes.h): the
 *     group's images are unfolded side by side into one column matrix
 *     [C*kh*kw, group*OH*OW], so a group costs one host GEMM per product
 *     and channel group, while the columns stay small enough for the core's
 *     cache (but at least CONV_MIN_COLS wide: narrower products spend more
 *     on packing than on arithmetic). Backward unfolds them again rather
 *     than keeping them from forward: that costs about as much as reading
 *     them back, and the layer's memory stays independent of the batch
 *     size.
 *
 * The lane kernels and the tuned im2col handle the common case only: one
 * channel group, no dilation, square kernel, stride and padding (`plain`
 * below; they read geom's k, s, p). Anything else takes im2col + GEMM with
 * a general unfold (im2col_general), one GEMM per channel group.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_util.h"

typedef struct conv2d {
    int64_t out_channels, groups;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw; /* per axis, square values resolved */
    int bias;
    int lanes_cpu; /* the CPU runs the lane kernels (and they are not turned off) */
    int wide_cpu;  /* the host GEMM has AVX-512 kernels: direct kernels only for
                      small layers (LANES_WIDE_MAX_MACS) */
    int px5_cpu;   /* ... and the AVX-512 direct kernels run here */
    int px2_cpu;   /* ... or, without them, their AVX2 version (conv2d_px2.h) */
    int lanes_wide; /* the lane kernels' 32-register versions run here */
} conv2d;

/* Columns (plus staging) of one group should stay in a core's L2 cache. */
#define CONV_GROUP_BYTES (256 * 1024)
/* ... but a group of fewer than CONV_MIN_COLS output pixels makes GEMMs too
 * narrow to pay for packing the weights (wide layers on small images), so
 * it grows to that many, within CONV_GROUP_MAX_BYTES. */
#define CONV_MIN_COLS 512
#define CONV_GROUP_MAX_BYTES (8 * 1024 * 1024)
/* im2col copies whole chunks of CHUNK floats; the rows of the column matrix
 * have CHUNK floats of slack for the overshoot, never read. */
#define CHUNK 8
#define ROW_SLACK CHUNK
/* The lane kernels pay for eight images per group: below about half a group
 * per slice on average, im2col + GEMM is faster. */
#define LANES_MIN_IMAGES 4
/* ... and they keep a group's rearranged input, output and input gradient
 * in a core's L2 cache, so larger layers go through GEMM. */
#define LANES_MAX_BYTES (1024 * 1024)
/* With AVX-512 GEMM kernels, im2col + GEMM was measured as fast as the lane
 * and pixel kernels from 16 -> 16 channels 3x3 (2304 multiply-adds per
 * output pixel) and 1.4-1.6x faster from 32 -> 32 up; LeNet-5's layers
 * (<= 2400) stay on them. */
#define LANES_WIDE_MAX_MACS 2400
/* The AVX-512 direct kernels (px5 in conv2d_lanes.h) take 3x3 layers of 16
 * to 256 channels with rows of at least PX5_MIN_ROW outputs: measured
 * 1.1-2.7x the im2col + GEMM path on 16-256 channels, 4x4 to 32x32 images
 * (most at 16-32 channels, where the unfold costs as much as the product). */
#define PX5_MAX_MACS (256 * 256 * 9)
#define PX5_MIN_ROW 4
/* The weight gradient takes at least this many output pixels a call
 * (several small images; the sums are the same for any count, so the
 * group, which depends on the images per slice, changes no bit). */
#define PX5_DW_PIXELS 256
#define PX5_MAX_FLOATS (4 * 1024 * 1024)

/* Sizes derived from one input shape and thread count. */
typedef struct geom {
    int64_t n, c, h, w, o, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw; /* per axis */
    int64_t groups, cg, og;       /* channel groups, C/groups, O/groups */
    int plain;                    /* 1 group, no dilation, square: k, s, p
                                     below are the kernel, stride, padding
                                     (the fast paths read only these) */
    int64_t k, s, p;
    int64_t hp, wp;               /* padded input size */
    int64_t ckk, rows;            /* C/groups*kh*kw (a weight row), C*kh*kw
                                     (rows of the column matrix) */
    int64_t ohw, chw, ohw_o;      /* OH*OW, C*H*W, O*OH*OW */
    int64_t slices;               /* parts of the batch, one per worker */
    int64_t group;                /* images per group */
    int lanes_cpu, wide_cpu, px5_cpu, px2_cpu, lanes_wide; /* copied from the instance */
    int px5;                      /* all three products by the direct
                                     kernels (AVX-512, or px2's AVX2 ones), in
                                     their own buffers; the px5_ names below
                                     serve px2 as well */
    int px2;                      /* ... by their AVX2 version instead */
    int64_t px5_o16, px5_c16;     /* O and C rounded up to the vector width
                                     (16; px2: 8) */
    int64_t px5_group;            /* images per weight gradient call */
    size_t px5_img_bytes, px5_wt_bytes, px5_wr_bytes, px5_yt_bytes; /* padded
                                     image, Wt or dWt, turned weights, Yt */
    int lanes;                    /* 1: lane kernels, 0: im2col + GEMM */
    int pixels;                   /* without lanes: forward one image at a
                                     time with channels in the lanes */
    int pv;                       /* pixels, with output pixels rather than
                                     channels in the lanes (few channels) */
    int64_t o8;                   /* O rounded up to 8 (pixels) */
    size_t px_img_bytes, px_wt_bytes; /* pixels: padded image, weights^T,
                                         then Yt, from the slice's start */
    /* a slice's workspace, in this order: im2col: columns, staging [O,
     * group*OHW], -; lanes: X8, Y8 (and dY8), dX8; px5: padded image, Wt
     * (or dWt) and turned weights, Yt, -; then all: dW, db */
    size_t a_bytes, b_bytes, c_bytes, dw_bytes, db_bytes, slice_bytes;
} geom;

#include "conv2d_lanes.h"
#include "conv2d_px2.h"

/* The square parameters first (their order is that of earlier versions);
 * each per-axis one, when not 0, overrides its square value on one axis
 * (Caffe's JSON form: parameters are plain numbers in the ABI). */
enum {
    P_OUT, P_KERNEL, P_STRIDE, P_PADDING, P_BIAS, P_GROUPS, P_DILATION,
    P_KERNEL_H, P_KERNEL_W, P_STRIDE_H, P_STRIDE_W, P_PAD_H, P_PAD_W,
    P_DILATION_H, P_DILATION_W
};

static const tc_param_desc conv2d_params[] = {
    {"out_channels", TC_VALUE_INT, 1, 0, 1, 65536, "number of output channels"},
    {"kernel_size", TC_VALUE_INT, 1, 0, 1, 1024, "square kernel side"},
    {"stride", TC_VALUE_INT, 0, 1, 1, 1024, "step between kernel positions"},
    {"padding", TC_VALUE_INT, 0, 0, 0, 1024, "zeros added on each border"},
    {"bias", TC_VALUE_BOOL, 0, 1, 0, 1, "learn a per-channel bias"},
    {"groups", TC_VALUE_INT, 0, 1, 1, 65536,
     "channel groups (in and out channels divisible by it; = in channels: depthwise)"},
    {"dilation", TC_VALUE_INT, 0, 1, 1, 1024, "spacing between kernel taps"},
    {"kernel_h", TC_VALUE_INT, 0, 0, 0, 1024, "kernel height (0: kernel_size)"},
    {"kernel_w", TC_VALUE_INT, 0, 0, 0, 1024, "kernel width (0: kernel_size)"},
    {"stride_h", TC_VALUE_INT, 0, 0, 0, 1024, "vertical stride (0: stride)"},
    {"stride_w", TC_VALUE_INT, 0, 0, 0, 1024, "horizontal stride (0: stride)"},
    {"pad_h", TC_VALUE_INT, 0, 0, 0, 1024, "zeros above and below (0: padding)"},
    {"pad_w", TC_VALUE_INT, 0, 0, 0, 1024, "zeros left and right (0: padding)"},
    {"dilation_h", TC_VALUE_INT, 0, 0, 0, 1024, "vertical tap spacing (0: dilation)"},
    {"dilation_w", TC_VALUE_INT, 0, 0, 0, 1024, "horizontal tap spacing (0: dilation)"},
};

/* The per-axis value: the override when given (non-zero), else the square one. */
static int64_t axis_value(const double *v, int square, int axis)
{
    return v[axis] != 0.0 ? (int64_t)v[axis] : (int64_t)v[square];
}

#if CONV_LANES
/* Which direct kernels this instance may use. TINYCNN_CONV_PATH=gemm turns
 * them off (im2col + GEMM for everything: tests and benchmarks run the GEMM
 * path that way on any CPU). With AVX-512 the host GEMM has kernels twice
 * as wide as the AVX2 direct ones and beats them on all but small layers,
 * unless TINYCNN_GEMM_ISA holds it to AVX2 or below. */
static void conv_path_choice(conv2d *c)
{
    const char *path = getenv("TINYCNN_CONV_PATH"), *isa = getenv("TINYCNN_GEMM_ISA");
    c->lanes_cpu = lanes_supported() && !(path && strcmp(path, "gemm") == 0);
    int wide = __builtin_cpu_supports("avx512f") &&
               !(isa && (strcmp(isa, "avx2") == 0 || strcmp(isa, "generic") == 0));
    c->wide_cpu = wide;
    c->px5_cpu = c->lanes_cpu && wide && px5_supported();
    c->px2_cpu = c->lanes_cpu && !c->px5_cpu && px2_supported();
    c->lanes_wide = c->lanes_cpu && wide && lanes_wide_supported();
}
#endif

static int conv2d_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    conv2d c = {
        .out_channels = (int64_t)v[P_OUT],
        .groups = (int64_t)v[P_GROUPS],
        .kh = axis_value(v, P_KERNEL, P_KERNEL_H),
        .kw = axis_value(v, P_KERNEL, P_KERNEL_W),
        .sh = axis_value(v, P_STRIDE, P_STRIDE_H),
        .sw = axis_value(v, P_STRIDE, P_STRIDE_W),
        .ph = axis_value(v, P_PADDING, P_PAD_H),
        .pw = axis_value(v, P_PADDING, P_PAD_W),
        .dh = axis_value(v, P_DILATION, P_DILATION_H),
        .dw = axis_value(v, P_DILATION, P_DILATION_W),
        .bias = v[P_BIAS] != 0.0,
    };
    /* the runtime enforces the declared ranges; this guards direct callers */
    if (c.out_channels < 1 || c.groups < 1 || c.kh < 1 || c.kw < 1 || c.sh < 1 || c.sw < 1 ||
        c.ph < 0 || c.pw < 0 || c.dh < 1 || c.dw < 1) {
        host->set_error(err, "Conv2d: out_channels, groups, kernel, stride and dilation must be "
                             ">= 1 and padding >= 0 (got %lld, %lld, %lldx%lld, %lldx%lld, "
                             "%lldx%lld, %lldx%lld)",
                        (long long)c.out_channels, (long long)c.groups, (long long)c.kh,
                        (long long)c.kw, (long long)c.sh, (long long)c.sw, (long long)c.dh,
                        (long long)c.dw, (long long)c.ph, (long long)c.pw);
        return 1;
    }
    if (c.out_channels % c.groups != 0) {
        host->set_error(err, "Conv2d: out_channels %lld is not divisible by groups %lld",
                        (long long)c.out_channels, (long long)c.groups);
        return 1;
    }
#if CONV_LANES
    conv_path_choice(&c);
#endif
    conv2d *p = malloc(sizeof *p);
    if (!p) {
        host->set_error(err, "Conv2d: out of memory");
        return 1;
    }
    *p = c;
    *self = p;
    return 0;
}

#if CONV_LANES
/* Whether the AVX-512 direct kernels (or, on a CPU with AVX2 only, their
 * AVX2 version px2, conv2d_px2.h) take this layer (plain 3x3, stride 1
 * with padding <= 2 or stride 2 with padding 1, 16 channels or more,
 * PX5_MAX_MACS at most, input and output rows of PX5_MIN_ROW or more,
 * buffers within PX5_MAX_FLOATS), and their buffer sizes; g->px5 = 0
 * otherwise. */
static void px5_layout(geom *g, int64_t per_slice)
{
    g->px5 = g->px2 = 0;
    int64_t macs, q = g->k - 1 - g->p;
    /* stride 2: padding 1, and the input gradient's phases (every second
     * column) of PX5_MIN_ROW or more */
    int stride_ok =
        g->s == 1 || (g->s == 2 && g->p == 1 && g->w / 2 >= PX5_MIN_ROW && g->h >= 2);
    if (!(g->px5_cpu || g->px2_cpu) || !g->plain || g->k != 3 || !stride_ok || q < 0 ||
        g->c < 16 || g->o < 16 || lu_mul3(g->ckk, g->o, 1, &macs) || macs > PX5_MAX_MACS ||
        g->ow < PX5_MIN_ROW || g->w < PX5_MIN_ROW)
        return;
    const int px2 = !g->px5_cpu; /* channels rounded to its vectors */
    int64_t o16 = px2 ? px2_round(g->o) : px5_round(g->o);
    int64_t c16 = px2 ? px2_round(g->c) : px5_round(g->c), img_x, img_dy, wt, wr, yt_f, yt_b;
    if (lu_mul3(g->c, g->hp, g->wp, &img_x) ||
        lu_mul3(g->o, g->oh + 2 * q, g->ow + 2 * q, &img_dy) || lu_mul3(g->ckk, o16, 1, &wt) ||
        lu_mul3(g->o * g->k * g->k, c16, 1, &wr) || lu_mul3(g->ohw, o16, 1, &yt_f) ||
        lu_mul3(g->h * g->w, c16, 1, &yt_b))
        return;
    int64_t group = (PX5_DW_PIXELS + g->ohw - 1) / g->ohw;
    group = group > per_slice ? per_slice : group < 1 ? 1 : group;
    img_x *= group;
    yt_f *= group;
    int64_t img = img_x > img_dy ? img_x : img_dy, yt = yt_f > yt_b ? yt_f : yt_b;
    if (px2) /* and room for px2_panel's copy of the weights */
        wr += wt > wr ? wt : wr;
    if (img > PX5_MAX_FLOATS || wt + wr > PX5_MAX_FLOATS || yt > PX5_MAX_FLOATS)
        return;
    g->px5 = 1;
    g->px2 = px2;
    g->px5_o16 = o16;
    g->px5_c16 = c16;
    g->px5_group = group;
    /* whole cache lines each, so the vectors of a row never split one */
    g->px5_img_bytes = (size_t)px5_round(img) * sizeof(float);
    g->px5_wt_bytes = (size_t)px5_round(wt) * sizeof(float);
    g->px5_wr_bytes = (size_t)px5_round(wr) * sizeof(float);
    g->px5_yt_bytes = (size_t)px5_round(yt) * sizeof(float);
}
#endif

/* Per-slice workspace for `slices` slices: sets g->slices, the method,
 * g->group and the byte sizes. Non-zero on overflow. */
static int slice_layout(geom *g, int64_t slices)
{
    int64_t per_slice = (g->n + slices - 1) / slices;
    int64_t col_img, tmp_img, dw, pad_img, x8 = 0, y8 = 0;
    const int64_t lanes_max = LANES_MAX_BYTES / (int64_t)sizeof(float);
    if (lu_mul3(g->rows, g->ohw, 1, &col_img) || lu_mul3(g->o, g->ohw, 1, &tmp_img) ||
        lu_mul3(g->o, g->ckk, 1, &dw) || lu_bytes(dw, sizeof(float), &g->dw_bytes) ||
        lu_bytes(g->o, sizeof(float), &g->db_bytes))
        return 1;
    /* X8, Y8 and dX8 of a group: too large (or overflowing) means GEMM */
    int lanes_fit = !lu_mul3(g->c, g->hp, g->wp, &pad_img) &&
                    !lu_mul3(pad_img, LANES, 1, &x8) && !lu_mul3(tmp_img, LANES, 1, &y8) &&
                    x8 <= lanes_max && y8 <= lanes_max && 2 * x8 + y8 <= lanes_max;
    g->px5 = 0;
#if CONV_LANES
    px5_layout(g, per_slice);
#endif
    g->lanes = g->plain && g->lanes_cpu && g->n / slices >= LANES_MIN_IMAGES && lanes_fit &&
               (!g->wide_cpu || g->ckk * g->o <= LANES_WIDE_MAX_MACS) && !g->px5;
    if (g->px5) {
        g->group = 1;
        g->a_bytes = g->px5_img_bytes + g->px5_wt_bytes + g->px5_wr_bytes;
        g->b_bytes = g->px5_yt_bytes;
        g->c_bytes = 0;
    } else if (g->lanes) {
        g->group = LANES;
        if (lu_bytes(x8, sizeof(float), &g->a_bytes) || lu_bytes(y8, sizeof(float), &g->b_bytes))
            return 1;
        g->c_bytes = g->a_bytes;
    } else {
        int64_t img_bytes = (col_img + tmp_img) * (int64_t)sizeof(float);
        int64_t group = img_bytes > 0 ? CONV_GROUP_BYTES / img_bytes : 1;
        int64_t want = (CONV_MIN_COLS + g->ohw - 1) / g->ohw;
        if (group < want)
            group = img_bytes > 0 && CONV_GROUP_MAX_BYTES / img_bytes < want
                        ? CONV_GROUP_MAX_BYTES / img_bytes
                        : want;
        if (group < 1)
            group = 1;
        if (group > per_slice)
            group = per_slice;
        int64_t col, tmp;
        if (lu_mul3(g->ohw, group, 1, &col) || __builtin_add_overflow(col, ROW_SLACK, &col) ||
            lu_mul3(col, g->rows, 1, &col) || lu_mul3(tmp_img, group, 1, &tmp) ||
            lu_bytes(col, sizeof(float), &g->a_bytes) ||
            lu_bytes(tmp, sizeof(float), &g->b_bytes))
            return 1;
        g->c_bytes = 0;
        g->group = group;
    }
    if (__builtin_add_overflow(g->a_bytes, g->b_bytes, &g->slice_bytes) ||
        __builtin_add_overflow(g->slice_bytes, g->c_bytes, &g->slice_bytes) ||
        __builtin_add_overflow(g->slice_bytes, g->dw_bytes, &g->slice_bytes) ||
        __builtin_add_overflow(g->slice_bytes, g->db_bytes, &g->slice_bytes))
        return 1;
    g->pixels = g->pv = 0;
#if CONV_LANES
    /* forward of single images with channels in the lanes: its buffers
     * share the slice's space with backward's */
    int64_t img, wt, yt;
    g->o8 = (g->o + LANES - 1) / LANES * LANES;
    if (g->plain && !g->lanes && !g->px5 && g->lanes_cpu && g->s == 1 &&
        (!g->wide_cpu || g->ckk * g->o <= LANES_WIDE_MAX_MACS) && px_width(g->ow, 1) > 0 &&
        !lu_mul3(g->c, g->hp, g->wp, &img) && !lu_mul3(g->ckk, g->o8, 1, &wt) &&
        !lu_mul3(g->ohw, g->o8, 1, &yt) && img <= lanes_max && wt <= lanes_max &&
        yt <= lanes_max && img + wt + yt <= lanes_max) {
        size_t yt_bytes, px_bytes;
        if (lu_bytes(img, sizeof(float), &g->px_img_bytes) ||
            lu_bytes(wt, sizeof(float), &g->px_wt_bytes) ||
            lu_bytes(yt, sizeof(float), &yt_bytes))
            return 1;
        g->pixels = 1;
        g->pv = pv_better(g);
        px_bytes = g->px_img_bytes + g->px_wt_bytes + yt_bytes;
        if (px_bytes > g->slice_bytes)
            g->slice_bytes = px_bytes;
    }
#endif
    g->slices = slices;
    return 0;
}

/* "a" when both axes agree, else "axb" (for messages). */
static const char *pair_str(int64_t a, int64_t b, char *buf, size_t cap)
{
    if (a == b)
        snprintf(buf, cap, "%lld", (long long)a);
    else
        snprintf(buf, cap, "%lldx%lld", (long long)a, (long long)b);
    return buf;
}

/* The padded and output sizes on both axes, or reports why there are
 * none: the dilated kernel must fit in the padded input. */
static int geom_axes(const tc_host *host, const tc_shape *in, geom *g, tc_error *err)
{
    char buf[LU_SHAPE_BUF], pad[48], dil[48];
    int64_t hp, wp, eh, ew; /* padded input, span of the dilated kernel */
    if (__builtin_mul_overflow(g->ph, 2, &hp) || __builtin_add_overflow(hp, g->h, &hp) ||
        __builtin_mul_overflow(g->pw, 2, &wp) || __builtin_add_overflow(wp, g->w, &wp) ||
        __builtin_mul_overflow(g->dh, g->kh - 1, &eh) || __builtin_add_overflow(eh, 1, &eh) ||
        __builtin_mul_overflow(g->dw, g->kw - 1, &ew) || __builtin_add_overflow(ew, 1, &ew)) {
        host->set_error(err, "Conv2d on input %s: padded input or dilated kernel size "
                             "overflows",
                        lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    if (eh > hp || ew > wp) {
        if (g->dh == 1 && g->dw == 1)
            host->set_error(err, "Conv2d kernel %lldx%lld is larger than the padded input "
                                 "%lldx%lld (input %s, padding %s)",
                            (long long)g->kh, (long long)g->kw, (long long)hp, (long long)wp,
                            lu_shape_str(in, buf, sizeof buf),
                            pair_str(g->ph, g->pw, pad, sizeof pad));
        else
            host->set_error(err, "Conv2d kernel %lldx%lld with dilation %s spans %lldx%lld, "
                                 "more than the padded input %lldx%lld (input %s, padding %s)",
                            (long long)g->kh, (long long)g->kw,
                            pair_str(g->dh, g->dw, dil, sizeof dil), (long long)eh,
                            (long long)ew, (long long)hp, (long long)wp,
                            lu_shape_str(in, buf, sizeof buf),
                            pair_str(g->ph, g->pw, pad, sizeof pad));
        return 1;
    }
    g->oh = (hp - eh) / g->sh + 1;
    g->ow = (wp - ew) / g->sw + 1;
    g->hp = hp;
    g->wp = wp;
    return 0;
}

static int conv2d_geom(const tc_host *host, const conv2d *c, const tc_shape *in, int n_threads,
                       geom *g, tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    if (in->ndim != 4) {
        host->set_error(err, "Conv2d needs a 4-D input [batch, channels, height, width], got %s",
                        lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    memset(g, 0, sizeof *g);
    g->n = in->dims[0];
    g->c = in->dims[1];
    g->h = in->dims[2];
    g->w = in->dims[3];
    g->o = c->out_channels;
    g->groups = c->groups;
    if (g->c % g->groups != 0) {
        host->set_error(err, "Conv2d: in_channels %lld is not divisible by groups %lld "
                             "(input %s)",
                        (long long)g->c, (long long)g->groups, lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    g->cg = g->c / g->groups;
    g->og = g->o / g->groups;
    g->kh = c->kh, g->kw = c->kw, g->sh = c->sh, g->sw = c->sw;
    g->ph = c->ph, g->pw = c->pw, g->dh = c->dh, g->dw = c->dw;
    g->plain = g->groups == 1 && g->dh == 1 && g->dw == 1 && g->kh == g->kw &&
               g->sh == g->sw && g->ph == g->pw;
    g->k = g->kh;
    g->s = g->sh;
    g->p = g->ph;
    if (geom_axes(host, in, g, err))
        return 1;
    g->lanes_cpu = c->lanes_cpu;
    g->wide_cpu = c->wide_cpu;
    g->px5_cpu = c->px5_cpu;
    g->px2_cpu = c->px2_cpu;
    g->lanes_wide = c->lanes_wide;
    int64_t slices = n_threads < 1 ? 1 : n_threads;
    if (slices > g->n)
        slices = g->n;
    int64_t out;
    if (lu_mul3(g->cg, g->kh, g->kw, &g->ckk) || lu_mul3(g->c, g->kh, g->kw, &g->rows) ||
        lu_mul3(g->oh, g->ow, 1, &g->ohw) || lu_mul3(g->c, g->h, g->w, &g->chw) ||
        lu_mul3(g->o, g->ohw, 1, &g->ohw_o) || lu_mul3(g->n, g->ohw_o, 1, &out) ||
        slice_layout(g, slices)) {
        host->set_error(err, "Conv2d on input %s with %lld output channels: sizes overflow",
                        lu_shape_str(in, buf, sizeof buf), (long long)g->o);
        return 1;
    }
    return 0;
}

static int conv2d_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                       int n_threads, tc_plan *plan, tc_error *err)
{
    const conv2d *c = self;
    geom g;
    if (lu_check_inputs(host, "Conv2d", in, n_inputs, 1, 1, err) ||
        conv2d_geom(host, c, &in[0], n_threads, &g, err))
        return 1;
    plan->output = (tc_shape){.ndim = 4, .dims = {g.n, g.o, g.oh, g.ow}};
    plan->n_weights = c->bias ? 2 : 1;
    plan->weights[0] = (tc_weight_decl){
        .name = "weight",
        .shape = {.ndim = 4, .dims = {g.o, g.cg, g.kh, g.kw}},
        .init = TC_INIT_HE_NORMAL,
        .fan_in = (double)g.ckk,
        .fan_out = (double)g.og * (double)g.kh * (double)g.kw,
    };
    if (c->bias)
        plan->weights[1] = (tc_weight_decl){
            .name = "bias",
            .shape = {.ndim = 1, .dims = {g.o}},
            .init = TC_INIT_ZEROS,
            .fan_in = (double)g.ckk,
            .fan_out = (double)g.o,
            .no_decay = 1,
        };
    if (__builtin_mul_overflow(g.slice_bytes, (size_t)g.slices, &plan->workspace_bytes)) {
        char buf[LU_SHAPE_BUF];
        host->set_error(err, "Conv2d on input %s: workspace size overflows",
                        lu_shape_str(&in[0], buf, sizeof buf));
        return 1;
    }
    plan->saved_bytes = 0;
    return 0;
}

/* The outputs o in [0, n) whose tap o*s + off lands inside [0, len), as
 * [*lo, *hi) (empty when none does). */
static inline void tap_range(int64_t off, int64_t s, int64_t len, int64_t n, int64_t *lo,
                             int64_t *hi)
{
    int64_t l, h;
    if (s == 1) { /* no division (they cost more than the copy of a short row) */
        l = off >= 0 ? 0 : -off;
        h = len - off;
    } else {
        l = off >= 0 ? 0 : (-off + s - 1) / s;
        h = len - off <= 0 ? 0 : (len - off + s - 1) / s;
    }
    if (h > n)
        h = n;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* memset of n floats, skipping the call when there is nothing to clear. */
static inline void zero_floats(float *d, int64_t n)
{
    if (n > 0)
        memset(d, 0, sizeof(float) * (size_t)n);
}

/* CHUNK floats, unaligned, that may alias anything: one vector load or
 * store with AVX (two with SSE). */
typedef float chunk __attribute__((vector_size(CHUNK * sizeof(float)), aligned(4), may_alias));

/* (macros: a function passing a 32-byte vector by value would depend on the
 * instruction set the caller was compiled for) */
#define LOAD_CHUNK(p) (*(const chunk *)(const void *)(p))
#define STORE_CHUNK(p, v) (*(chunk *)(void *)(p) = (v))

/* The sum of x[0, n) in double, over eight interleaved partial sums (a fixed
 * order, which the compiler can vectorise). */
static double sum_floats(const float *x, int64_t n)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int q = 0; q < 8; q++)
            acc[q] += x[i + q];
    for (; i < n; i++)
        acc[i & 7] += x[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Unfolds one image x [C, H, W] into its block of a column matrix: row
 * (c, ki, kj), at cols + row * ld, gets the OH*OW pixels that kernel tap
 * meets, padding as 0. The valid range of each tap is computed once, so the
 * inner loops are plain copies with no bounds tests. With stride 1 they copy
 * and zero whole chunks: what they write past a segment's end lands in the
 * next output row, the next image's block or the row's slack, each written
 * later; reads past a row stay below x_end (the end of the input tensor),
 * else the copy is exact. */
LU_AVX2_CLONES
static void im2col(const geom *g, const float *x, const float *x_end, float *cols, int64_t ld)
{
    const int64_t ow = g->ow, s = g->s;
    const chunk zero = {0};
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->k; ki++) {
            int64_t oh_lo, oh_hi;
            tap_range(ki - g->p, s, g->h, g->oh, &oh_lo, &oh_hi);
            const float *plane = x + (c * g->h + ki - g->p) * g->w; /* row oh*s of the tap */
            for (int64_t kj = 0; kj < g->k; kj++) {
                int64_t lo, hi, off = kj - g->p;
                tap_range(off, s, g->w, ow, &lo, &hi);
                float *row = cols + ((c * g->k + ki) * g->k + kj) * ld;
                zero_floats(row, oh_lo * ow);
                int64_t oh = oh_lo;
                if (s == 1 && hi > lo) {
                    const int64_t len = hi - lo, span = (len + CHUNK - 1) / CHUNK * CHUNK;
                    /* rows whose chunked read stays inside the tensor */
                    int64_t safe = oh_hi;
                    while (safe > oh_lo && x_end - (plane + (safe - 1) * g->w + off + lo) < span)
                        safe--;
                    /* the copy loop unrolled for rows of up to 4 chunks (most
                     * images), so a row costs its stores and little else */
#define IM2COL_ROWS(COPY)                                                   \
    for (; oh < safe; oh++) {                                               \
        float *d = row + oh * ow;                                           \
        const float *sp = plane + oh * g->w + off + lo;                     \
        for (int64_t i = 0; i < lo; i += CHUNK)                             \
            STORE_CHUNK(d + i, zero);                                       \
        COPY;                                                               \
        for (int64_t i = hi; i < ow; i += CHUNK)                            \
            STORE_CHUNK(d + i, zero);                                       \
    }
#define CP(q) STORE_CHUNK(d + lo + (q) * CHUNK, LOAD_CHUNK(sp + (q) * CHUNK))
                    switch (span / CHUNK) {
                    case 1: IM2COL_ROWS(CP(0)); break;
                    case 2: IM2COL_ROWS(CP(0); CP(1)); break;
                    case 3: IM2COL_ROWS(CP(0); CP(1); CP(2)); break;
                    case 4: IM2COL_ROWS(CP(0); CP(1); CP(2); CP(3)); break;
                    default:
                        IM2COL_ROWS(for (int64_t q = 0; q < span / CHUNK; q++) CP(q));
                        break;
                    }
#undef CP
#undef IM2COL_ROWS
                }
                for (; oh < oh_hi; oh++) {
                    float *d = row + oh * ow;
                    const float *src = plane + oh * s * g->w;
                    for (int64_t i = 0; i < lo; i++)
                        d[i] = 0.0f;
                    if (s == 2) /* a constant stride, which the compiler vectorises */
                        for (int64_t i = lo; i < hi; i++)
                            d[i] = src[i * 2 + off];
                    else
                        for (int64_t i = lo; i < hi; i++)
                            d[i] = src[i * s + off];
                    for (int64_t i = hi; i < ow; i++)
                        d[i] = 0.0f;
                }
                zero_floats(row + oh_hi * ow, (g->oh - oh_hi) * ow);
            }
        }
}

/* d[0, n) += s[0, n), exactly (d's neighbours are live pixels). */
static inline void add_span(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t i = 0;
    for (; i + CHUNK <= n; i += CHUNK)
        STORE_CHUNK(d + i, LOAD_CHUNK(d + i) + LOAD_CHUNK(s + i));
    for (; i < n; i++)
        d[i] += s[i];
}

/* The adjoint of im2col: overwrites dx [C, H, W] with the sum of the column
 * entries that were read from each pixel (in tap order). */
LU_AVX2_CLONES
static void col2im(const geom *g, const float *cols, int64_t ld, float *dx)
{
    const int64_t ow = g->ow, s = g->s;
    memset(dx, 0, sizeof(float) * (size_t)g->chw);
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->k; ki++) {
            int64_t oh_lo, oh_hi;
            tap_range(ki - g->p, s, g->h, g->oh, &oh_lo, &oh_hi);
            float *plane = dx + (c * g->h + ki - g->p) * g->w;
            for (int64_t kj = 0; kj < g->k; kj++) {
                int64_t lo, hi, off = kj - g->p;
                tap_range(off, s, g->w, ow, &lo, &hi);
                const float *row = cols + ((c * g->k + ki) * g->k + kj) * ld;
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    const float *sp = row + oh * ow;
                    float *dst = plane + oh * s * g->w;
                    if (s == 1) {
                        add_span(dst + off + lo, sp + lo, hi - lo);
                    } else {
                        for (int64_t i = lo; i < hi; i++)
                            dst[i * s + off] += sp[i];
                    }
                }
            }
        }
}

/* tap_range for the general path, never negative: with padding a tap can
 * lie wholly past the input (offset >= len). */
static inline void tap_span(int64_t off, int64_t s, int64_t len, int64_t n, int64_t *lo,
                            int64_t *hi)
{
    tap_range(off, s, len, n, lo, hi);
    if (*hi < 0)
        *lo = *hi = 0;
}

/* im2col for any configuration (channel groups need nothing here: group q's
 * rows are the block of its input channels): row (c, ki, kj) gets, at output
 * pixel (oh, ow), x[c][oh*sh - ph + ki*dh][ow*sw - pw + kj*dw], 0 outside. */
static void im2col_general(const geom *g, const float *x, float *cols, int64_t ld)
{
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++) {
            int64_t oh_lo, oh_hi, offh = ki * g->dh - g->ph;
            tap_span(offh, g->sh, g->h, g->oh, &oh_lo, &oh_hi);
            for (int64_t kj = 0; kj < g->kw; kj++) {
                int64_t lo, hi, offw = kj * g->dw - g->pw;
                tap_span(offw, g->sw, g->w, g->ow, &lo, &hi);
                float *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld;
                zero_floats(row, oh_lo * g->ow);
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    float *d = row + oh * g->ow;
                    const float *src = x + (c * g->h + oh * g->sh + offh) * g->w;
                    for (int64_t i = 0; i < lo; i++)
                        d[i] = 0.0f;
                    if (g->sw == 1) /* a plain copy, which the compiler vectorises */
                        for (int64_t i = lo; i < hi; i++)
                            d[i] = src[i + offw];
                    else
                        for (int64_t i = lo; i < hi; i++)
                            d[i] = src[i * g->sw + offw];
                    for (int64_t i = hi; i < g->ow; i++)
                        d[i] = 0.0f;
                }
                zero_floats(row + oh_hi * g->ow, (g->oh - oh_hi) * g->ow);
            }
        }
}

/* The adjoint of im2col_general: overwrites dx [C, H, W] with the sum of
 * the column entries read from each pixel, in tap order. */
static void col2im_general(const geom *g, const float *cols, int64_t ld, float *dx)
{
    memset(dx, 0, sizeof(float) * (size_t)g->chw);
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++) {
            int64_t oh_lo, oh_hi, offh = ki * g->dh - g->ph;
            tap_span(offh, g->sh, g->h, g->oh, &oh_lo, &oh_hi);
            for (int64_t kj = 0; kj < g->kw; kj++) {
                int64_t lo, hi, offw = kj * g->dw - g->pw;
                tap_span(offw, g->sw, g->w, g->ow, &lo, &hi);
                const float *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld;
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    const float *sp = row + oh * g->ow;
                    float *dst = dx + (c * g->h + oh * g->sh + offh) * g->w;
                    if (g->sw == 1)
                        for (int64_t i = lo; i < hi; i++)
                            dst[i + offw] += sp[i];
                    else
                        for (int64_t i = lo; i < hi; i++)
                            dst[i * g->sw + offw] += sp[i];
                }
            }
        }
}

typedef struct job {
    const tc_host *host;
    const geom *g;
    char *ws;
    const float *x, *x_end, *w, *b, *dy;
    float *y, *dx, *dw, *db;
} job;

static float *slice_part(const job *j, int64_t s, size_t offset)
{
    return (float *)(void *)(j->ws + (size_t)s * j->g->slice_bytes + offset);
}

/* columns (im2col) or X8 (lanes) */
static float *slice_col(const job *j, int64_t s) { return slice_part(j, s, 0); }

/* staging (im2col) or Y8 / dY8 (lanes) */
static float *slice_tmp(const job *j, int64_t s)
{
    return slice_part(j, s, j->g->a_bytes);
}

#if CONV_LANES
/* dX8 (lanes) */
static float *slice_dx8(const job *j, int64_t s)
{
    return slice_part(j, s, j->g->a_bytes + j->g->b_bytes);
}
#endif

static float *slice_dw(const job *j, int64_t s)
{
    return slice_part(j, s, j->g->a_bytes + j->g->b_bytes + j->g->c_bytes);
}

static float *slice_db(const job *j, int64_t s)
{
    return slice_part(j, s, j->g->a_bytes + j->g->b_bytes + j->g->c_bytes + j->g->dw_bytes);
}

#if CONV_LANES
/* Forward of images [first, last) eight at a time (see conv2d_lanes.h). */
static void forward_lanes(const job *j, int64_t s, int64_t first, int64_t last)
{
    const geom *g = j->g;
    float *x8 = slice_col(j, s), *y8 = slice_tmp(j, s);
    for (int64_t n0 = first; n0 < last; n0 += LANES) {
        int gn = last - n0 < LANES ? (int)(last - n0) : LANES;
        lanes_pack_input(g, j->x, n0, gn, x8);
        lanes_forward(g, x8, j->w, y8);
        lanes_unpack_output(g, y8, j->b, j->y, n0, gn);
    }
}

/* Forward of images [first, last) one at a time, channels in the lanes, or
 * with few channels output pixels (pv_forward). */
static void forward_pixels(const job *j, int64_t s, int64_t first, int64_t last)
{
    const geom *g = j->g;
    float *img = slice_part(j, s, 0);
    float *wt = slice_part(j, s, g->px_img_bytes);
    float *yt = slice_part(j, s, g->px_img_bytes + g->px_wt_bytes);
    if (g->pv) {
        for (int64_t n = first; n < last; n++)
            pv_forward(g, px_image(g, j->x, n, img), j->w, j->b, j->y + n * g->ohw_o);
        return;
    }
    px_transpose_weights(g, j->w, wt, g->o8);
    for (int64_t n = first; n < last; n++) {
        px_forward(g, px_image(g, j->x, n, img), wt, g->o8, yt);
        px_unpack_output(g, yt, g->o8, j->b, j->y, n);
    }
}

/* Backward of images [first, last) eight at a time: slice s's weight and
 * bias gradient partials and the input gradient. */
static void backward_lanes(const job *j, int64_t s, int64_t first, int64_t last)
{
    const geom *g = j->g;
    float *x8 = slice_col(j, s), *dy8 = slice_tmp(j, s), *dx8 = slice_dx8(j, s);
    float *dw = slice_dw(j, s), *db = slice_db(j, s);
    memset(dw, 0, sizeof(float) * (size_t)(g->o * g->ckk));
    for (int64_t n0 = first; n0 < last; n0 += LANES) {
        int gn = last - n0 < LANES ? (int)(last - n0) : LANES;
        lanes_pack_input(g, j->x, n0, gn, x8);
        lanes_pack_grad(g, j->dy, n0, gn, dy8);
        if (j->db)
            lanes_grad_bias(g, dy8, db, n0 == first);
        lanes_grad_weight(g, x8, dy8, dw);
        if (j->dx) {
            memset(dx8, 0, g->c_bytes);
            lanes_grad_input(g, j->w, dy8, dx8);
            lanes_unpack_grad_input(g, dx8, j->dx, n0, gn);
        }
    }
}

/* The px5 buffers of slice s: padded image, Wt / dWt, turned weights, Yt. */
static float *px5_img(const job *j, int64_t s) { return slice_col(j, s); }
static float *px5_wt(const job *j, int64_t s)
{
    return slice_part(j, s, j->g->px5_img_bytes);
}
static float *px5_wr(const job *j, int64_t s)
{
    return slice_part(j, s, j->g->px5_img_bytes + j->g->px5_wt_bytes);
}

/* Forward of images [first, last) by the direct kernels (px5 or px2). */
static void forward_px5(const job *j, int64_t s, int64_t first, int64_t last)
{
    const geom *g = j->g;
    float *img = px5_img(j, s), *wt = px5_wt(j, s), *yt = slice_tmp(j, s);
    const px5_dims d = {g->c, g->hp, g->wp, g->oh, g->ow, g->px5_o16, 1, g->s, 3, 3, g->ow, 1};
    px_transpose(j->w, g->o, g->ckk, wt, d.ld);
    if (g->px2) { /* the turned weights' room is free: panels there */
        px2_panel(wt, g->ckk, d.ld, px5_wr(j, s));
        wt = px5_wr(j, s);
    }
    for (int64_t n = first; n < last; n++) {
        px_direct_conv(g, &d, px_image(g, j->x, n, img), wt, yt);
        px_unpack(yt, d.ld, g->o, g->ohw, j->b, j->y + n * g->ohw_o);
    }
}

/* wr [(o*k + i)*k + j][ld] = w[o][c][k-1-i][k-1-j] at lane c, zero past C:
 * the weights of the input gradient as a forward convolution. */
static void px5_turn_weights(const geom *g, const float *w, float *wr, int64_t ld)
{
    const int64_t kk = g->k * g->k;
    for (int64_t o = 0; o < g->o; o++) {
        /* a weight row read in order, kk rows of wr written side by side */
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t t = 0; t < kk; t++)
                wr[(o * kk + t) * ld + c] = w[(o * g->c + c) * kk + kk - 1 - t];
        for (int64_t t = 0; t < kk; t++)
            zero_floats(wr + (o * kk + t) * ld + g->c, ld - g->c);
    }
}

/* The taps of input gradient phase (pr, pc) of a 3x3 stride-2 layer with
 * padding 1 (rows of parity pr, columns of parity pc): odd rows take kernel
 * rows 2 then 0 of the output gradient rows i and i + 1, even rows kernel
 * row 1 of row i (columns likewise); tap count and first kernel index. */
static int64_t px5_phase_taps(int64_t par, int64_t t) { return par ? 2 - 2 * t : 1; }
static int64_t px5_phase_offset(int64_t pr, int64_t pc) { return pr * 3 + pc * (1 + pr); }

/* wr + px5_phase_offset(pr, pc) * O * ld: phase (pr, pc)'s weights
 * [(o*kh' + ki')*kw' + kj'][ld] = w[o][c][ki][kj] at lane c, zero past C
 * (kh' = 1 + pr taps down, kw' = 1 + pc across; 9 taps per (o, c) in all). */
static void px5_phase_weights(const geom *g, const float *w, float *wr, int64_t ld)
{
    for (int64_t pr = 0; pr < 2; pr++)
        for (int64_t pc = 0; pc < 2; pc++) {
            float *wp = wr + px5_phase_offset(pr, pc) * g->o * ld;
            for (int64_t o = 0; o < g->o; o++)
                for (int64_t a = 0; a <= pr; a++)
                    for (int64_t b = 0; b <= pc; b++) {
                        float *row = wp + ((o * (1 + pr) + a) * (1 + pc) + b) * ld;
                        const int64_t t = px5_phase_taps(pr, a) * 3 + px5_phase_taps(pc, b);
                        for (int64_t c = 0; c < g->c; c++)
                            row[c] = w[(o * g->c + c) * 9 + t];
                        zero_floats(row + g->c, ld - g->c);
                    }
        }
}

/* Yt [H*W][ld] = the input gradient of a 3x3 stride-2 layer with padding 1
 * from its output gradient with a border of 1, dyp: four stride-1
 * convolutions, one per phase (pixels of a row and column parity), of 1-2
 * x 1-2 taps, so no multiply-add meets an inserted zero. */
static void px5_grad_input_s2(const geom *g, const px5_dims *dxd, const float *dyp,
                              const float *wr, float *yt)
{
    for (int64_t pr = 0; pr < 2; pr++)
        for (int64_t pc = 0; pc < 2; pc++) {
            /* phase rows: odd ih = 2i + 1 (H/2 of them), even ih = 2i */
            px5_dims d = *dxd;
            d.oh = pr ? g->h / 2 : (g->h + 1) / 2;
            d.ow = pc ? g->w / 2 : (g->w + 1) / 2;
            d.kh = 1 + pr;
            d.kw = 1 + pc;
            d.yrow = 2 * g->w;
            d.ycol = 2;
            px_direct_conv(g, &d, dyp + dxd->wp + 1,
                           wr + px5_phase_offset(pr, pc) * g->o * dxd->ld,
                           yt + (pr * g->w + pc) * dxd->ld);
        }
}

/* Backward of images [first, last) by the direct kernels (px5 or px2),
 * px5_group images at a time: bias and weight gradient partials of slice
 * s, then image by image the input gradient (the output gradient with a border of
 * k-1-p, convolved with the turned weights). */
static void backward_px5(const job *j, int64_t s, int64_t first, int64_t last)
{
    const geom *g = j->g;
    float *img = px5_img(j, s), *dwt = px5_wt(j, s), *wr = px5_wr(j, s), *yt = slice_tmp(j, s);
    float *dw = slice_dw(j, s), *db = slice_db(j, s);
    const int64_t q = g->k - 1 - g->p, o16 = g->px5_o16;
    px5_dims dwd = {g->c, g->hp, g->wp, g->oh, g->ow, o16, 1, g->s, 3, 3, g->ow, 1};
    const px5_dims dxd = {g->o, g->oh + 2 * q, g->ow + 2 * q, g->h, g->w, g->px5_c16, 1,
                          1,    3,             3,             g->w, 1};
    memset(dwt, 0, sizeof(float) * (size_t)(g->ckk * o16));
    if (j->dx && g->s == 1)
        px5_turn_weights(g, j->w, wr, dxd.ld);
    else if (j->dx)
        px5_phase_weights(g, j->w, wr, dxd.ld);
    const float *wx = wr; /* px2: as panels, after the turned weights */
    if (j->dx && g->px2)
        wx = px2_panel_weights(wr, g->o, g->s, dxd.ld, wr + g->o * 9 * dxd.ld);
    for (int64_t n0 = first; n0 < last; n0 += g->px5_group) {
        dwd.imgs = last - n0 < g->px5_group ? last - n0 : g->px5_group;
        for (int64_t i = 0; i < dwd.imgs; i++) {
            const float *dy = j->dy + (n0 + i) * g->ohw_o;
            if (j->db)
                for (int64_t o = 0; o < g->o; o++)
                    db[o] = (n0 + i == first ? 0.0f : db[o]) +
                            (float)sum_floats(dy + o * g->ohw, g->ohw);
            px_transpose(dy, g->o, g->ohw, yt + i * g->ohw * o16, o16);
            px_pad_into(j->x + (n0 + i) * g->chw, g->c, g->h, g->w, g->p,
                        img + i * g->hp * g->wp, dwd.imgs * g->hp * g->wp);
        }
        px_direct_grad_weight(g, &dwd, img, yt, dwt);
        for (int64_t i = 0; j->dx && i < dwd.imgs; i++) {
            const float *dy = j->dy + (n0 + i) * g->ohw_o;
            const float *dyp = px_pad(dy, g->o, g->oh, g->ow, q, img);
            if (g->s == 1)
                px_direct_conv(g, &dxd, dyp, wx, yt);
            else
                px5_grad_input_s2(g, &dxd, dyp, wx, yt);
            px_unpack(yt, dxd.ld, g->c, g->h * g->w, NULL, j->dx + (n0 + i) * g->chw);
        }
    }
    px_transpose_back(dwt, o16, g->o, g->ckk, dw);
}
#endif

/* Unfolds images n0 .. n0+gn-1 side by side into cols, [C*kh*kw, gn*OHW]
 * with a row stride of gn*OHW + ROW_SLACK, which it returns. Forward and
 * backward both start a group with it (backward unfolds again rather than
 * keep every group's columns). */
static int64_t unfold_group(const job *j, float *cols, int64_t n0, int64_t gn)
{
    const geom *g = j->g;
    int64_t ld = gn * g->ohw + ROW_SLACK;
    for (int64_t i = 0; i < gn; i++) {
        if (g->plain)
            im2col(g, j->x + (n0 + i) * g->chw, j->x_end, cols + i * g->ohw, ld);
        else
            im2col_general(g, j->x + (n0 + i) * g->chw, cols + i * g->ohw, ld);
    }
    return ld;
}

/* Channel group q's blocks: its weight rows [OG, CKK], its rows of the
 * column matrix [CKK, ...] (row stride ld) and of an [O, nn] matrix. */
static const float *group_w(const job *j, int64_t q) { return j->w + q * j->g->og * j->g->ckk; }
static float *group_cols(const job *j, float *cols, int64_t ld, int64_t q)
{
    return cols + q * j->g->ckk * ld;
}
static float *group_rows(const job *j, float *m, int64_t nn, int64_t q)
{
    return m + q * j->g->og * nn;
}

static void forward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const geom *g = j->g;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        float *cols = slice_col(j, s), *tmp = slice_tmp(j, s);
        int64_t first = g->n * s / g->slices, last = g->n * (s + 1) / g->slices;
#if CONV_LANES
        if (g->px5) {
            forward_px5(j, s, first, last);
            continue;
        }
        if (g->lanes) {
            forward_lanes(j, s, first, last);
            continue;
        }
        if (g->pixels) {
            forward_pixels(j, s, first, last);
            continue;
        }
#endif
        for (int64_t n0 = first; n0 < last; n0 += g->group) {
            int64_t gn = last - n0 < g->group ? last - n0 : g->group;
            int64_t nn = gn * g->ohw, ld = unfold_group(j, cols, n0, gn);
            /* per channel group q: tmp_q [OG, gn*OHW] = W_q [OG, CKK] *
             * cols_q [CKK, gn*OHW] (one product when there is one group) */
            for (int64_t q = 0; q < g->groups; q++)
                j->host->sgemm(0, 0, g->og, nn, g->ckk, 1.0f, group_w(j, q), g->ckk,
                               group_cols(j, cols, ld, q), ld, 0.0f, group_rows(j, tmp, nn, q),
                               nn);
            /* back to NCHW, adding the bias on the way */
            for (int64_t i = 0; i < gn; i++)
                for (int64_t o = 0; o < g->o; o++) {
                    const float *restrict src = tmp + o * nn + i * g->ohw;
                    float *restrict dst = j->y + (n0 + i) * g->ohw_o + o * g->ohw;
                    float bo = j->b ? j->b[o] : 0.0f;
                    for (int64_t q = 0; q < g->ohw; q++)
                        dst[q] = src[q] + bo;
                }
        }
    }
}

/* Slices a call can use: the planned number when the workspace holds them,
 * else as many as it holds (the groups are recomputed to match). */
static int fit_slices(geom *g, const tc_exec *x)
{
    for (int64_t s = g->slices; s >= 1; s--) {
        size_t need;
        if (slice_layout(g, s) == 0 && !__builtin_mul_overflow(g->slice_bytes, (size_t)s, &need) &&
            need <= x->workspace_bytes)
            return 0;
    }
    return 1;
}

static int check_exec(const tc_host *host, const conv2d *c, const tc_exec *x, geom *g, job *j,
                      tc_error *err)
{
    if (x->n_inputs != 1 || x->n_weights != (c->bias ? 2 : 1)) {
        host->set_error(err, "Conv2d got %d inputs and %d weights, expected 1 and %d",
                        x->n_inputs, x->n_weights, c->bias ? 2 : 1);
        return 1;
    }
    if (conv2d_geom(host, c, &x->inputs[0].shape, x->n_threads, g, err))
        return 1;
    if (!x->workspace || fit_slices(g, x)) {
        host->set_error(err, "Conv2d: workspace of %zu bytes is smaller than the %zu bytes "
                             "one image needs (was plan() honoured?)",
                        x->workspace_bytes, g->slice_bytes);
        return 1;
    }
    memset(j, 0, sizeof *j);
    j->host = host;
    j->g = g;
    j->ws = x->workspace;
    j->x = x->inputs[0].data;
    j->x_end = j->x + g->n * g->chw;
    j->w = x->weights[0].data;
    j->b = c->bias ? x->weights[1].data : NULL;
    return 0;
}

static int conv2d_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const conv2d *c = self;
    geom g;
    job j;
    if (check_exec(host, c, x, &g, &j, err))
        return 1;
    j.y = x->output->data;
    host->parallel_for(g.slices, forward_slices, &j);
    return 0;
}

/* The input gradient of images n0 .. n0+gn-1 from the column gradients. */
static void fold_group(const job *j, const float *cols, int64_t ld, int64_t n0, int64_t gn)
{
    const geom *g = j->g;
    for (int64_t i = 0; i < gn; i++) {
        if (g->plain)
            col2im(g, cols + i * g->ohw, ld, j->dx + (n0 + i) * g->chw);
        else
            col2im_general(g, cols + i * g->ohw, ld, j->dx + (n0 + i) * g->chw);
    }
}

static void backward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const geom *g = j->g;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        float *cols = slice_col(j, s), *dys = slice_tmp(j, s);
        float *dw = slice_dw(j, s), *db = slice_db(j, s);
        int64_t first = g->n * s / g->slices, last = g->n * (s + 1) / g->slices;
#if CONV_LANES
        if (g->px5) {
            backward_px5(j, s, first, last);
            continue;
        }
        if (g->lanes) {
            backward_lanes(j, s, first, last);
            continue;
        }
#endif
        for (int64_t n0 = first; n0 < last; n0 += g->group) {
            int64_t gn = last - n0 < g->group ? last - n0 : g->group;
            int64_t nn = gn * g->ohw, ld = unfold_group(j, cols, n0, gn);
            /* dys [O, gn*OHW]: the group's output gradient side by side */
            for (int64_t o = 0; o < g->o; o++) {
                float *restrict row = dys + o * nn;
                for (int64_t i = 0; i < gn; i++)
                    memcpy(row + i * g->ohw, j->dy + (n0 + i) * g->ohw_o + o * g->ohw,
                           sizeof(float) * (size_t)g->ohw);
                if (j->db)
                    db[o] = (n0 == first ? 0.0f : db[o]) + (float)sum_floats(row, nn);
            }
            /* per channel group q: dW_s,q [OG, CKK] (+)= dys_q [OG, gn*OHW] *
             * cols_q^T [gn*OHW, CKK] (dW_s is [O, CKK], the groups' rows in
             * order) */
            for (int64_t q = 0; q < g->groups; q++)
                j->host->sgemm(0, 1, g->og, g->ckk, nn, 1.0f, group_rows(j, dys, nn, q), nn,
                               group_cols(j, cols, ld, q), ld, n0 == first ? 0.0f : 1.0f,
                               dw + q * g->og * g->ckk, g->ckk);
            if (j->dx) {
                /* dcols_q = W_q^T [CKK, OG] * dys_q [OG, gn*OHW], into the
                 * columns, which are free again */
                for (int64_t q = 0; q < g->groups; q++)
                    j->host->sgemm(1, 0, g->ckk, nn, g->og, 1.0f, group_w(j, q), g->ckk,
                                   group_rows(j, dys, nn, q), nn, 0.0f,
                                   group_cols(j, cols, ld, q), ld);
                fold_group(j, cols, ld, n0, gn);
            }
        }
    }
}

/* Sums the per-slice weight gradient partials in slice order. */
static void reduce_dw(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float acc = slice_dw(j, 0)[i];
        for (int64_t s = 1; s < j->g->slices; s++)
            acc += slice_dw(j, s)[i];
        j->dw[i] = acc;
    }
}

static int conv2d_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const conv2d *c = self;
    geom g;
    job j;
    if (check_exec(host, c, x, &g, &j, err))
        return 1;
    j.dy = x->grad_output->data;
    j.dx = x->grad_inputs ? x->grad_inputs[0].data : NULL;
    j.dw = x->grad_weights[0].data;
    j.db = c->bias ? x->grad_weights[1].data : NULL;
    host->parallel_for(g.slices, backward_slices, &j);
    if (j.dw)
        lu_for(host, g.o * g.ckk, reduce_dw, &j);
    if (j.db)
        for (int64_t o = 0; o < g.o; o++) {
            float acc = slice_db(&j, 0)[o];
            for (int64_t s = 1; s < g.slices; s++)
                acc += slice_db(&j, s)[o];
            j.db[o] = acc;
        }
    return 0;
}

/* The conformance suite's own shapes (out_channels and kernel_size at its
 * sample value 3) reach only the plain configuration; these add channel
 * groups, depthwise, dilation and per-axis sizes. */
#define CONV_CASE_INPUT(n, c, h, w) .n_inputs = 1, .inputs = {{.ndim = 4, .dims = {n, c, h, w}}}
static const tc_test_case conv2d_cases[] = {
    {CONV_CASE_INPUT(1, 2, 7, 7)},
    {CONV_CASE_INPUT(1, 3, 5, 6)},
    {CONV_CASE_INPUT(1, 4, 7, 6), .n_params = 4,
     .params = {{"out_channels", 6}, {"groups", 2}, {"dilation", 2}, {"padding", 2}}},
    {CONV_CASE_INPUT(1, 3, 6, 9), .n_params = 5,
     .params = {{"out_channels", 6}, {"groups", 3}, {"kernel_w", 1}, {"stride_w", 2},
                {"pad_w", 1}}},
    {CONV_CASE_INPUT(1, 2, 5, 8), .n_params = 4,
     .params = {{"kernel_size", 1}, {"kernel_w", 5}, {"stride_h", 2}, {"pad_w", 2}}},
};
#undef CONV_CASE_INPUT

static const tc_test_hints conv2d_hints = {
    .struct_size = sizeof(tc_test_hints),
    .n_cases = (int32_t)(sizeof conv2d_cases / sizeof conv2d_cases[0]),
    .cases = conv2d_cases,
};

/* Per output element, C/groups * kh * kw multiply-adds and the bias. */
static int64_t conv2d_flops(const tc_host *host, void *self, const tc_shape *in, int n_inputs)
{
    const conv2d *l = self;
    if (n_inputs != 1 || in[0].ndim != 4)
        return -1;
    int64_t ckk = in[0].dims[1] / l->groups * l->kh * l->kw;
    return lu_flops_per_output(conv2d_plan, host, self, in, n_inputs, 2 * ckk + l->bias);
}

static const tc_layer_type conv2d_type = {
    LU_TYPE_HEAD("Conv2d",
                 "2-D convolution of NCHW images (im2col + GEMM): groups, dilation, "
                 "per-axis kernel, stride and padding, optional bias", 1, 1),
    LU_TYPE_PARAMS(conv2d_params),
    .create = conv2d_create,
    .destroy = lu_destroy,
    .plan = conv2d_plan,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .test_hints = &conv2d_hints,
    .flops = conv2d_flops,
};

LU_PLUGIN(conv2d, "Conv2d", conv2d_type)
