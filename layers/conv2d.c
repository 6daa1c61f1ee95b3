/*
 * conv2d.c - the Conv2d layer plugin: 2-D convolution (cross-correlation,
 * as in PyTorch) of an NCHW input with an [O, C, k, k] kernel.
 *
 * Implementation: im2col + GEMM per image. The batch is split into "slices",
 * one per worker thread, run through host->parallel_for; each slice has its
 * own part of the workspace (column buffer plus weight/bias gradient
 * partials), so no two threads ever write the same memory. The partials are
 * summed in slice order, so the weight gradient only depends on the thread
 * count, never on scheduling.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_util.h"

typedef struct conv2d {
    const tc_host *host;
    int64_t out_channels, kernel, stride, padding;
    int bias;
} conv2d;

/* Sizes derived from one input shape. */
typedef struct geom {
    int64_t n, c, h, w, o, k, s, p, oh, ow;
    int64_t ckk, ohw, chw, ohw_o; /* C*k*k, OH*OW, C*H*W, O*OH*OW */
    int direct;                   /* 1x1, stride 1, no padding: the image is its own im2col */
    size_t col_bytes, dw_bytes, db_bytes, slice_bytes;
} geom;

static const tc_param_desc conv2d_params[] = {
    {"out_channels", TC_VALUE_INT, 1, 0, 1, 65536, "number of output channels"},
    {"kernel_size", TC_VALUE_INT, 1, 0, 1, 1024, "square kernel side"},
    {"stride", TC_VALUE_INT, 0, 1, 1, 1024, "step between kernel positions"},
    {"padding", TC_VALUE_INT, 0, 0, 0, 1024, "zeros added on each border"},
    {"bias", TC_VALUE_BOOL, 0, 1, 0, 1, "learn a per-channel bias"},
};

static int conv2d_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    conv2d *c = calloc(1, sizeof *c);
    if (!c) {
        host->set_error(err, "Conv2d: out of memory");
        return 1;
    }
    c->host = host;
    c->out_channels = (int64_t)v[0];
    c->kernel = (int64_t)v[1];
    c->stride = (int64_t)v[2];
    c->padding = (int64_t)v[3];
    c->bias = v[4] != 0.0;
    if (c->out_channels < 1 || c->kernel < 1 || c->stride < 1 || c->padding < 0) {
        host->set_error(err, "Conv2d: out_channels, kernel_size and stride must be >= 1 and "
                             "padding >= 0 (got %lld, %lld, %lld, %lld)",
                        (long long)c->out_channels, (long long)c->kernel,
                        (long long)c->stride, (long long)c->padding);
        free(c);
        return 1;
    }
    *self = c;
    return 0;
}

static void conv2d_destroy(void *self)
{
    free(self);
}

static int conv2d_geom(const conv2d *c, const tc_shape *in, geom *g, tc_error *err)
{
    const tc_host *host = c->host;
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
    g->k = c->kernel;
    g->s = c->stride;
    g->p = c->padding;
    int64_t ph, pw;
    if (__builtin_add_overflow(g->h, 2 * g->p, &ph) ||
        __builtin_add_overflow(g->w, 2 * g->p, &pw)) {
        host->set_error(err, "Conv2d on input %s: padded size overflows",
                        lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    if (g->k > ph || g->k > pw) {
        host->set_error(err, "Conv2d kernel %lldx%lld is larger than the padded input "
                             "%lldx%lld (input %s, padding %lld)",
                        (long long)g->k, (long long)g->k, (long long)ph, (long long)pw,
                        lu_shape_str(in, buf, sizeof buf), (long long)g->p);
        return 1;
    }
    g->oh = (ph - g->k) / g->s + 1;
    g->ow = (pw - g->k) / g->s + 1;
    g->direct = g->k == 1 && g->s == 1 && g->p == 0;
    int64_t col = 0, dw, out;
    if (lu_mul3(g->c, g->k, g->k, &g->ckk) || lu_mul3(g->oh, g->ow, 1, &g->ohw) ||
        lu_mul3(g->c, g->h, g->w, &g->chw) || lu_mul3(g->o, g->ohw, 1, &g->ohw_o) ||
        lu_mul3(g->n, g->ohw_o, 1, &out) || lu_mul3(g->ckk, g->ohw, 1, &col) ||
        lu_mul3(g->o, g->ckk, 1, &dw) ||
        lu_bytes(g->direct ? 0 : col, sizeof(float), &g->col_bytes) ||
        lu_bytes(dw, sizeof(float), &g->dw_bytes) ||
        lu_bytes(g->o, sizeof(float), &g->db_bytes) ||
        __builtin_add_overflow(g->col_bytes, g->dw_bytes, &g->slice_bytes) ||
        __builtin_add_overflow(g->slice_bytes, g->db_bytes, &g->slice_bytes)) {
        host->set_error(err, "Conv2d on input %s with %lld output channels: sizes overflow",
                        lu_shape_str(in, buf, sizeof buf), (long long)g->o);
        return 1;
    }
    return 0;
}

static int conv2d_plan(void *self, const tc_shape *in, int n_inputs, int n_threads,
                       tc_plan *plan, tc_error *err)
{
    conv2d *c = self;
    geom g;
    if (lu_check_inputs(c->host, "Conv2d", in, n_inputs, 1, 1, err) ||
        conv2d_geom(c, &in[0], &g, err))
        return 1;
    plan->output = (tc_shape){.ndim = 4, .dims = {g.n, g.o, g.oh, g.ow}};
    plan->n_weights = c->bias ? 2 : 1;
    plan->weights[0] = (tc_weight_decl){
        .name = "weight",
        .shape = {.ndim = 4, .dims = {g.o, g.c, g.k, g.k}},
        .init = TC_INIT_HE_NORMAL,
        .fan_in = (double)g.ckk,
        .fan_out = (double)g.o * (double)g.k * (double)g.k,
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
    int64_t slices = n_threads < 1 ? 1 : n_threads;
    if (slices > g.n)
        slices = g.n;
    if (__builtin_mul_overflow(g.slice_bytes, (size_t)slices, &plan->workspace_bytes)) {
        char buf[LU_SHAPE_BUF];
        c->host->set_error(err, "Conv2d on input %s: workspace size overflows",
                           lu_shape_str(&in[0], buf, sizeof buf));
        return 1;
    }
    plan->saved_bytes = 0;
    return 0;
}

/* Unfolds one image [C, H, W] into col [C*k*k, OH*OW]; padding reads as 0. */
static void im2col(const geom *g, const float *x, float *col)
{
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->k; ki++)
            for (int64_t kj = 0; kj < g->k; kj++) {
                float *row = col + ((c * g->k + ki) * g->k + kj) * g->ohw;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    float *dst = row + oh * g->ow;
                    int64_t ih = oh * g->s - g->p + ki;
                    if (ih < 0 || ih >= g->h) {
                        memset(dst, 0, sizeof(float) * (size_t)g->ow);
                        continue;
                    }
                    const float *src = x + (c * g->h + ih) * g->w;
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        int64_t iw = ow * g->s - g->p + kj;
                        dst[ow] = (iw >= 0 && iw < g->w) ? src[iw] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: overwrites dx [C, H, W] with the sum of the column
 * entries that were read from each pixel. */
static void col2im(const geom *g, const float *col, float *dx)
{
    memset(dx, 0, sizeof(float) * (size_t)g->chw);
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->k; ki++)
            for (int64_t kj = 0; kj < g->k; kj++) {
                const float *row = col + ((c * g->k + ki) * g->k + kj) * g->ohw;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    int64_t ih = oh * g->s - g->p + ki;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    float *dst = dx + (c * g->h + ih) * g->w;
                    const float *src = row + oh * g->ow;
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        int64_t iw = ow * g->s - g->p + kj;
                        if (iw >= 0 && iw < g->w)
                            dst[iw] += src[ow];
                    }
                }
            }
}

typedef struct job {
    const tc_host *host;
    const geom *g;
    int64_t slices;
    char *ws;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;
} job;

static float *slice_col(const job *j, int64_t s)
{
    return (float *)(void *)(j->ws + (size_t)s * j->g->slice_bytes);
}

static float *slice_dw(const job *j, int64_t s)
{
    return (float *)(void *)(j->ws + (size_t)s * j->g->slice_bytes + j->g->col_bytes);
}

static float *slice_db(const job *j, int64_t s)
{
    return (float *)(void *)(j->ws + (size_t)s * j->g->slice_bytes + j->g->col_bytes +
                             j->g->dw_bytes);
}

static void forward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const geom *g = j->g;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        float *col = slice_col(j, s);
        for (int64_t n = g->n * s / j->slices; n < g->n * (s + 1) / j->slices; n++) {
            const float *xn = j->x + n * g->chw;
            float *yn = j->y + n * g->ohw_o;
            const float *src = xn;
            if (!g->direct) {
                im2col(g, xn, col);
                src = col;
            }
            j->host->sgemm(0, 0, g->o, g->ohw, g->ckk, 1.0f, j->w, g->ckk, src, g->ohw, 0.0f,
                           yn, g->ohw);
            if (j->b)
                for (int64_t o = 0; o < g->o; o++) {
                    float bo = j->b[o];
                    float *row = yn + o * g->ohw;
                    for (int64_t i = 0; i < g->ohw; i++)
                        row[i] += bo;
                }
        }
    }
}

/* Number of slices a call can use: one per image at most, one per thread,
 * and as many as the workspace holds. */
static int64_t usable_slices(const geom *g, const tc_exec *x)
{
    int64_t s = x->n_threads < 1 ? 1 : x->n_threads;
    if (s > g->n)
        s = g->n;
    int64_t fit = g->slice_bytes ? (int64_t)(x->workspace_bytes / g->slice_bytes) : s;
    return s < fit ? s : fit;
}

static int check_exec(const conv2d *c, const tc_exec *x, geom *g, job *j, tc_error *err)
{
    if (x->n_inputs != 1 || x->n_weights != (c->bias ? 2 : 1)) {
        c->host->set_error(err, "Conv2d got %d inputs and %d weights, expected 1 and %d",
                           x->n_inputs, x->n_weights, c->bias ? 2 : 1);
        return 1;
    }
    if (conv2d_geom(c, &x->inputs[0].shape, g, err))
        return 1;
    memset(j, 0, sizeof *j);
    j->host = c->host;
    j->g = g;
    j->slices = usable_slices(g, x);
    j->ws = x->workspace;
    if (j->slices < 1 || !x->workspace) {
        c->host->set_error(err, "Conv2d: workspace of %zu bytes is smaller than the %zu bytes "
                                "one image needs (was plan() honoured?)",
                           x->workspace_bytes, g->slice_bytes);
        return 1;
    }
    j->x = x->inputs[0].data;
    j->w = x->weights[0].data;
    j->b = c->bias ? x->weights[1].data : NULL;
    return 0;
}

static int conv2d_forward(void *self, const tc_exec *x, tc_error *err)
{
    conv2d *c = self;
    geom g;
    job j;
    if (check_exec(c, x, &g, &j, err))
        return 1;
    j.y = x->output->data;
    c->host->parallel_for(j.slices, forward_slices, &j);
    return 0;
}

static void backward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const geom *g = j->g;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        float *col = slice_col(j, s), *dw = slice_dw(j, s), *db = slice_db(j, s);
        int64_t first = g->n * s / j->slices, last = g->n * (s + 1) / j->slices;
        for (int64_t n = first; n < last; n++) {
            const float *xn = j->x + n * g->chw;
            const float *dyn = j->dy + n * g->ohw_o;
            const float *src = xn;
            if (!g->direct) {
                im2col(g, xn, col);
                src = col;
            }
            /* dW_s (+)= dy_n [O, OHW] * col^T [OHW, CKK] */
            j->host->sgemm(0, 1, g->o, g->ckk, g->ohw, 1.0f, dyn, g->ohw, src, g->ohw,
                           n == first ? 0.0f : 1.0f, dw, g->ckk);
            if (j->db)
                for (int64_t o = 0; o < g->o; o++) {
                    double acc = 0.0;
                    const float *row = dyn + o * g->ohw;
                    for (int64_t i = 0; i < g->ohw; i++)
                        acc += row[i];
                    db[o] = (n == first ? 0.0f : db[o]) + (float)acc;
                }
            if (j->dx) {
                float *dxn = j->dx + n * g->chw;
                /* dcol = W^T [CKK, O] * dy_n [O, OHW]; the column buffer is free again */
                if (g->direct) {
                    j->host->sgemm(1, 0, g->ckk, g->ohw, g->o, 1.0f, j->w, g->ckk, dyn, g->ohw,
                                   0.0f, dxn, g->ohw);
                } else {
                    j->host->sgemm(1, 0, g->ckk, g->ohw, g->o, 1.0f, j->w, g->ckk, dyn, g->ohw,
                                   0.0f, col, g->ohw);
                    col2im(g, col, dxn);
                }
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
        for (int64_t s = 1; s < j->slices; s++)
            acc += slice_dw(j, s)[i];
        j->dw[i] = acc;
    }
}

static int conv2d_backward(void *self, const tc_exec *x, tc_error *err)
{
    conv2d *c = self;
    geom g;
    job j;
    if (check_exec(c, x, &g, &j, err))
        return 1;
    j.dy = x->grad_output->data;
    j.dx = x->grad_inputs ? x->grad_inputs[0].data : NULL;
    j.dw = x->grad_weights[0].data;
    j.db = c->bias ? x->grad_weights[1].data : NULL;
    c->host->parallel_for(j.slices, backward_slices, &j);
    if (j.dw)
        lu_for(c->host, g.o * g.ckk, reduce_dw, &j);
    if (j.db)
        for (int64_t o = 0; o < g.o; o++) {
            float acc = slice_db(&j, 0)[o];
            for (int64_t s = 1; s < j.slices; s++)
                acc += slice_db(&j, s)[o];
            j.db[o] = acc;
        }
    return 0;
}

static const tc_layer_type conv2d_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "Conv2d",
    .summary = "2-D convolution of NCHW images (im2col + GEMM), optional bias",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = (int32_t)(sizeof conv2d_params / sizeof conv2d_params[0]),
    .params = conv2d_params,
    .create = conv2d_create,
    .destroy = conv2d_destroy,
    .plan = conv2d_plan,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
};

TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err)
{
    if (lu_check_host(host, err, "Conv2d"))
        return 1;
    return host->register_layer(ctx, &conv2d_type);
}
