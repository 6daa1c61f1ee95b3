/*
 * relu.c - the ReLU layer plugin: y = max(x, 0), elementwise on any shape.
 * NaN passes through (it is not below 0), so divergence stays visible.
 * Backward reads the forward output (x->output), which the graph keeps, so
 * nothing is saved. Large tensors are split over the worker threads.
 */
#include <math.h>
#include <string.h>

#include "layer_util.h"

/* No hyperparameters: no create/destroy, self is always NULL. */
static int relu_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                     int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "ReLU", in, n_inputs, 1, 1, err))
        return 1;
    plan->output = in[0];
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    plan->saved_bytes = 0;
    return 0;
}

typedef struct job {
    const float *x, *y, *dy;
    float *out;
} job;

LU_AVX2_CLONES
static void forward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float v = j->x[i];
        j->out[i] = v < 0.0f ? 0.0f : v;
    }
}

LU_AVX2_CLONES
static void backward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float y = j->y[i], d = j->dy[i];
        j->out[i] = y > 0.0f ? d : 0.0f;
    }
}

static int relu_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    job j = {.x = x->inputs[0].data, .out = x->output->data};
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    lu_for_work(host, n, n, LU_PARALLEL_MIN_CHEAP, forward_chunk, &j);
    return 0;
}

static int relu_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    job j = {.y = x->output->data, .dy = x->grad_output->data, .out = x->grad_inputs[0].data};
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    lu_for_work(host, n, n, LU_PARALLEL_MIN_CHEAP, backward_chunk, &j);
    return 0;
}

static const tc_layer_type relu_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "ReLU",
    .summary = "rectified linear unit max(x, 0), elementwise",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 0,
    .params = NULL,
    .create = NULL,
    .destroy = NULL,
    .plan = relu_plan,
    .forward = relu_forward,
    .backward = relu_backward,
};

TC_PLUGIN_DEFINE(relu)
{
    if (tc_host_check(host, 0, "ReLU", err))
        return 1;
    return host->register_layer(ctx, &relu_type);
}
