/*
 * global_avg_pool2d.c - the GlobalAvgPool2d layer plugin: the mean of each
 * H x W plane of an NCHW input, [N,C,H,W] -> [N,C] (PyTorch's
 * AdaptiveAvgPool2d(1) followed by a flatten). Each plane is summed by one
 * thread in a fixed order, so results do not depend on the thread count.
 */
#include "layer_util.h"

/* No hyperparameters: no create/destroy, self is always NULL. */

static int gap_geom(const tc_host *host, const tc_shape *in, int64_t *planes, int64_t *hw,
                    tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    if (in->ndim != 4) {
        host->set_error(err, "GlobalAvgPool2d needs a 4-D input [batch, channels, height, "
                             "width], got %s", lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    *planes = in->dims[0] * in->dims[1];
    *hw = in->dims[2] * in->dims[3];
    return 0;
}

static int gap_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    int64_t planes = 0, hw = 0; /* set by gap_geom; gcc cannot always see it */
    (void)self;
    (void)n_threads;
    /* lu_check_inputs also refuses products that overflow */
    if (lu_check_inputs(host, "GlobalAvgPool2d", in, n_inputs, 1, 1, err) ||
        gap_geom(host, &in[0], &planes, &hw, err))
        return 1;
    return lu_plan_simple(plan, (tc_shape){.ndim = 2, .dims = {in[0].dims[0], in[0].dims[1]}}, 0);
}

typedef struct job {
    int64_t hw;
    const float *x, *dy;
    float *y, *dx;
} job;

/* Sum of n floats in 8 independent lanes, which the compiler turns into
 * vector adds (a single accumulator is a serial chain it may not reorder). */
static inline float lane_sum(const float *p, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += p[i + k];
    float s = 0.0f;
    for (; i < n; i++)
        s += p[i];
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return s;
}

LU_AVX2_CLONES
static void forward_planes(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const float inv = 1.0f / (float)j->hw;
    (void)worker;
    for (int64_t pl = begin; pl < end; pl++)
        j->y[pl] = lane_sum(j->x + pl * j->hw, j->hw) * inv;
}

LU_AVX2_CLONES
static void backward_planes(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const float inv = 1.0f / (float)j->hw;
    (void)worker;
    for (int64_t pl = begin; pl < end; pl++) {
        float d = j->dy[pl] * inv;
        float *dx = j->dx + pl * j->hw;
        for (int64_t i = 0; i < j->hw; i++)
            dx[i] = d;
    }
}

static int gap_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t planes = 0, hw = 0; /* set by gap_geom; gcc cannot always see it */
    (void)self;
    if (gap_geom(host, &x->inputs[0].shape, &planes, &hw, err))
        return 1;
    job j = {.hw = hw, .x = x->inputs[0].data, .y = x->output->data};
    lu_for_work(host, planes, planes * hw, LU_PARALLEL_MIN_CHEAP, forward_planes, &j);
    return 0;
}

static int gap_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t planes = 0, hw = 0; /* set by gap_geom; gcc cannot always see it */
    (void)self;
    if (gap_geom(host, &x->inputs[0].shape, &planes, &hw, err))
        return 1;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    job j = {.hw = hw, .dy = x->grad_output->data, .dx = x->grad_inputs[0].data};
    lu_for_work(host, planes, planes * hw, LU_PARALLEL_MIN_CHEAP, backward_planes, &j);
    return 0;
}

/* An addition per input element and a division per plane. */
static int64_t gap_flops(const tc_host *host, void *self, const tc_shape *in, int n_inputs)
{
    (void)host;
    (void)self;
    if (n_inputs != 1 || in[0].ndim != 4)
        return -1;
    return tc_shape_count(&in[0]) + in[0].dims[0] * in[0].dims[1];
}

static const tc_layer_type gap_type = {
    LU_TYPE_HEAD("GlobalAvgPool2d", "mean of each H x W plane: [N,C,H,W] -> [N,C]", 1, 1),
    LU_TYPE_CALLBACKS(gap),
};

LU_PLUGIN(global_avg_pool2d, "GlobalAvgPool2d", gap_type)
