/*
 * softmax.c - the Softmax layer plugin: y = exp(x - max) / sum(exp(x - max))
 * along one axis (the last by default), like torch.nn.Softmax(dim). Taking
 * the maximum out first keeps exp() from overflowing; the sum is kept in
 * double. Backward, per slice: dx_i = y_i * (dy_i - sum_j dy_j * y_j), from
 * the output, which the graph keeps, so nothing is saved.
 *
 * For training a classifier use SoftmaxCrossEntropy on the logits instead:
 * it is cheaper and does not lose precision for confident predictions.
 */
#include <math.h>
#include <stdlib.h>

#include "layer_util.h"

typedef struct softmax {
    int axis; /* as given: negative counts from the end */
} softmax;

static const tc_param_desc softmax_params[] = {
    {"axis", TC_VALUE_INT, 0, -1, -(TC_MAX_DIMS - 1), TC_MAX_DIMS - 1,
     "dimension to normalise over; negative counts from the end (-1 = the last); not 0"},
};

static int softmax_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    if ((int)v[0] == 0) {
        host->set_error(err, "Softmax: axis 0 is the batch; normalise over a sample's "
                             "dimension (axis 1 or -1, ...)");
        return 1;
    }
    softmax *l = lu_new(host, "Softmax", sizeof *l, self, err);
    if (l)
        l->axis = (int)v[0];
    return !l;
}

/* The input seen as [outer, len, inner], softmax over len. */
typedef struct geom {
    int64_t outer, len, inner;
} geom;

static int softmax_geom(const softmax *l, const tc_host *host, const tc_shape *in, geom *g,
                        tc_error *err)
{
    int a = l->axis < 0 ? in->ndim + l->axis : l->axis;
    if (a < 1 || a >= in->ndim) {
        char buf[LU_SHAPE_BUF];
        host->set_error(err, "Softmax: axis %d does not name a non-batch dimension of input "
                             "%s (%d dimensions)", l->axis, lu_shape_str(in, buf, sizeof buf),
                        in->ndim);
        return 1;
    }
    g->outer = g->inner = 1;
    for (int d = 0; d < a; d++)
        g->outer *= in->dims[d];
    for (int d = a + 1; d < in->ndim; d++)
        g->inner *= in->dims[d];
    g->len = in->dims[a];
    return 0;
}

static int softmax_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                        int n_threads, tc_plan *plan, tc_error *err)
{
    geom g;
    (void)n_threads;
    /* lu_check_inputs also refuses products that overflow */
    if (lu_check_inputs(host, "Softmax", in, n_inputs, 1, 1, err) ||
        softmax_geom(self, host, &in[0], &g, err))
        return 1;
    return lu_plan_simple(plan, in[0], 0);
}

typedef struct job {
    geom g;
    const float *x, *y, *dy;
    float *out;
} job;

/* Slices [begin, end) of outer * inner; slice s starts at
 * (s / inner) * len * inner + s % inner, its elements `inner` apart. */
static int64_t slice_start(const geom *g, int64_t s)
{
    return (s / g->inner) * g->len * g->inner + s % g->inner;
}

static void forward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const int64_t len = j->g.len, st = j->g.inner;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        const float *x = j->x + slice_start(&j->g, s);
        float *y = j->out + slice_start(&j->g, s);
        float m = x[0];
        for (int64_t i = 1; i < len; i++)
            m = x[i * st] > m ? x[i * st] : m;
        double sum = 0.0;
        for (int64_t i = 0; i < len; i++) {
            float e = expf(x[i * st] - m);
            y[i * st] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < len; i++)
            y[i * st] *= inv;
    }
}

static void backward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const int64_t len = j->g.len, st = j->g.inner;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        int64_t o = slice_start(&j->g, s);
        const float *y = j->y + o, *dy = j->dy + o;
        float *dx = j->out + o;
        double dot = 0.0;
        for (int64_t i = 0; i < len; i++)
            dot += (double)dy[i * st] * (double)y[i * st];
        float d = (float)dot;
        for (int64_t i = 0; i < len; i++)
            dx[i * st] = y[i * st] * (dy[i * st] - d);
    }
}

static int softmax_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    job j = {.x = x->inputs[0].data, .out = x->output->data};
    if (softmax_geom(self, host, &x->inputs[0].shape, &j.g, err))
        return 1;
    int64_t slices = j.g.outer * j.g.inner;
    lu_for_work(host, slices, slices * j.g.len * 4, LU_PARALLEL_MIN, forward_slices, &j);
    return 0;
}

static int softmax_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    job j = {.y = x->output->data, .dy = x->grad_output->data};
    if (softmax_geom(self, host, &x->inputs[0].shape, &j.g, err))
        return 1;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    j.out = x->grad_inputs[0].data;
    int64_t slices = j.g.outer * j.g.inner;
    lu_for_work(host, slices, slices * j.g.len * 2, LU_PARALLEL_MIN, backward_slices, &j);
    return 0;
}

LU_FLOPS_PER_INPUT(softmax, 5) /* max, subtract, exp, sum, divide */

static const tc_layer_type softmax_type = {
    LU_TYPE_HEAD("Softmax", "softmax along one non-batch axis (the last by default)", 1, 1),
    LU_TYPE_CONFIG(softmax),
    LU_TYPE_CALLBACKS(softmax),
};

LU_PLUGIN(softmax, "Softmax", softmax_type)
