/*
 * avg_pool2d.c - the AvgPool2d layer plugin: the mean over each k x k window
 * of an NCHW input, floor output size. Padding counts as zeros in the
 * divisor (every window divides by k*k), like PyTorch's default
 * count_include_pad=True, so a border window is not rescaled.
 */
#include <stdlib.h>
#include <string.h>

#include "layer_util.h"

typedef struct avg_pool2d {
    int64_t kernel, stride, padding;
} avg_pool2d;

typedef struct geom {
    int64_t n, c, h, w, k, s, p, oh, ow;
    int64_t planes, hw, ohw; /* N*C, H*W, OH*OW */
} geom;

static const tc_param_desc avg_pool2d_params[] = {
    {"kernel_size", TC_VALUE_INT, 1, 0, 1, 1024, "square window side"},
    {"stride", TC_VALUE_INT, 0, 0, 0, 1024, "step between windows; 0 means kernel_size"},
    {"padding", TC_VALUE_INT, 0, 0, 0, 1024, "border added on each side, at most kernel_size/2"},
};

static int avg_pool2d_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    avg_pool2d *m = calloc(1, sizeof *m);
    if (!m) {
        host->set_error(err, "AvgPool2d: out of memory");
        return 1;
    }
    m->kernel = (int64_t)v[0];
    m->stride = v[1] == 0.0 ? m->kernel : (int64_t)v[1];
    m->padding = (int64_t)v[2];
    if (m->kernel < 1 || m->stride < 1 || m->padding < 0) {
        host->set_error(err, "AvgPool2d: kernel_size must be >= 1, stride >= 0 and "
                             "padding >= 0 (got %g, %g, %g)", v[0], v[1], v[2]);
        free(m);
        return 1;
    }
    if (m->padding > m->kernel / 2) {
        /* as in PyTorch: a window made mostly of padding is meaningless */
        host->set_error(err, "AvgPool2d padding %lld must be at most kernel_size/2 = %lld",
                        (long long)m->padding, (long long)(m->kernel / 2));
        free(m);
        return 1;
    }
    *self = m;
    return 0;
}

static void avg_pool2d_destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int pool_geom(const tc_host *host, const avg_pool2d *m, const tc_shape *in, geom *g,
                     tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    if (in->ndim != 4) {
        host->set_error(err, "AvgPool2d needs a 4-D input [batch, channels, height, width], "
                             "got %s", lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    memset(g, 0, sizeof *g);
    g->n = in->dims[0];
    g->c = in->dims[1];
    g->h = in->dims[2];
    g->w = in->dims[3];
    g->k = m->kernel;
    g->s = m->stride;
    g->p = m->padding;
    int64_t ph, pw, out;
    if (__builtin_add_overflow(g->h, 2 * g->p, &ph) ||
        __builtin_add_overflow(g->w, 2 * g->p, &pw)) {
        host->set_error(err, "AvgPool2d on input %s: padded size overflows",
                        lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    if (g->k > ph || g->k > pw) {
        host->set_error(err, "AvgPool2d kernel %lldx%lld is larger than the padded input "
                             "%lldx%lld (input %s, padding %lld)",
                        (long long)g->k, (long long)g->k, (long long)ph, (long long)pw,
                        lu_shape_str(in, buf, sizeof buf), (long long)g->p);
        return 1;
    }
    g->oh = (ph - g->k) / g->s + 1;
    g->ow = (pw - g->k) / g->s + 1;
    if (lu_mul3(g->n, g->c, 1, &g->planes) || lu_mul3(g->h, g->w, 1, &g->hw) ||
        lu_mul3(g->oh, g->ow, 1, &g->ohw) || lu_mul3(g->planes, g->ohw, 1, &out)) {
        host->set_error(err, "AvgPool2d on input %s: sizes overflow",
                        lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    return 0;
}

static int avg_pool2d_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                           int n_threads, tc_plan *plan, tc_error *err)
{
    avg_pool2d *m = self;
    geom g;
    (void)n_threads;
    if (lu_check_inputs(host, "AvgPool2d", in, n_inputs, 1, 1, err) ||
        pool_geom(host, m, &in[0], &g, err))
        return 1;
    plan->output = (tc_shape){.ndim = 4, .dims = {g.n, g.c, g.oh, g.ow}};
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    plan->saved_bytes = 0;
    return 0;
}

typedef struct job {
    const geom *g;
    const float *x, *dy;
    float *y, *dx;
} job;

static void forward_planes(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const geom *g = j->g;
    const float inv = 1.0f / (float)(g->k * g->k);
    (void)worker;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *x = j->x + pl * g->hw;
        float *y = j->y + pl * g->ohw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            int64_t h0 = oh * g->s - g->p;
            int64_t hb = h0 < 0 ? 0 : h0, he = h0 + g->k > g->h ? g->h : h0 + g->k;
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t w0 = ow * g->s - g->p;
                int64_t wb = w0 < 0 ? 0 : w0, we = w0 + g->k > g->w ? g->w : w0 + g->k;
                float acc = 0.0f;
                for (int64_t ih = hb; ih < he; ih++)
                    for (int64_t iw = wb; iw < we; iw++)
                        acc += x[ih * g->w + iw];
                y[oh * g->ow + ow] = acc * inv;
            }
        }
    }
}

static void backward_planes(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const geom *g = j->g;
    const float inv = 1.0f / (float)(g->k * g->k);
    (void)worker;
    for (int64_t pl = begin; pl < end; pl++) {
        float *dx = j->dx + pl * g->hw;
        const float *dy = j->dy + pl * g->ohw;
        memset(dx, 0, sizeof(float) * (size_t)g->hw);
        for (int64_t oh = 0; oh < g->oh; oh++) {
            int64_t h0 = oh * g->s - g->p;
            int64_t hb = h0 < 0 ? 0 : h0, he = h0 + g->k > g->h ? g->h : h0 + g->k;
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t w0 = ow * g->s - g->p;
                int64_t wb = w0 < 0 ? 0 : w0, we = w0 + g->k > g->w ? g->w : w0 + g->k;
                float d = dy[oh * g->ow + ow] * inv;
                for (int64_t ih = hb; ih < he; ih++)
                    for (int64_t iw = wb; iw < we; iw++)
                        dx[ih * g->w + iw] += d;
            }
        }
    }
}

static int avg_pool2d_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    avg_pool2d *m = self;
    geom g;
    if (pool_geom(host, m, &x->inputs[0].shape, &g, err))
        return 1;
    job j = {.g = &g, .x = x->inputs[0].data, .y = x->output->data};
    lu_for_work(host, g.planes, g.planes * g.ohw * g.k * g.k, LU_PARALLEL_MIN, forward_planes,
                &j);
    return 0;
}

static int avg_pool2d_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    avg_pool2d *m = self;
    geom g;
    if (pool_geom(host, m, &x->inputs[0].shape, &g, err))
        return 1;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    job j = {.g = &g, .dy = x->grad_output->data, .dx = x->grad_inputs[0].data};
    lu_for_work(host, g.planes, g.planes * (g.hw + g.ohw * g.k * g.k), LU_PARALLEL_MIN,
                backward_planes, &j);
    return 0;
}

static const tc_layer_type avg_pool2d_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "AvgPool2d",
    .summary = "mean over k x k windows of NCHW images (padding counted)",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = (int32_t)(sizeof avg_pool2d_params / sizeof avg_pool2d_params[0]),
    .params = avg_pool2d_params,
    .create = avg_pool2d_create,
    .destroy = avg_pool2d_destroy,
    .plan = avg_pool2d_plan,
    .forward = avg_pool2d_forward,
    .backward = avg_pool2d_backward,
};

TC_PLUGIN_DEFINE(avg_pool2d)
{
    if (tc_host_check(host, 0, "AvgPool2d", err))
        return 1;
    return host->register_layer(ctx, &avg_pool2d_type);
}
