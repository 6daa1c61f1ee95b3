/*
 * avg_pool2d.c - the AvgPool2d layer plugin: the mean over each k x k window
 * of an NCHW input, floor output size. Padding counts as zeros in the
 * divisor (every window divides by k*k), like PyTorch's default
 * count_include_pad=True, so a border window is not rescaled.
 */
#include <string.h>

#include "layer_util.h"

typedef lu_pool_geom geom;

LU_POOL_LAYER(avg_pool2d, "AvgPool2d", 0)

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
            int64_t hb, he;
            lu_pool_span(g, oh, g->h, &hb, &he);
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t wb, we;
                lu_pool_span(g, ow, g->w, &wb, &we);
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
            int64_t hb, he;
            lu_pool_span(g, oh, g->h, &hb, &he);
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t wb, we;
                lu_pool_span(g, ow, g->w, &wb, &we);
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
    const lu_pool *m = self;
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
    const lu_pool *m = self;
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
    LU_TYPE_HEAD("AvgPool2d", "mean over k x k windows of NCHW images (padding counted)", 1, 1),
    LU_POOL_CALLBACKS(avg_pool2d),
};

LU_PLUGIN(avg_pool2d, "AvgPool2d", avg_pool2d_type)
