/*
 * sigmoid.c - the Sigmoid layer plugin: y = 1 / (1 + exp(-x)), elementwise on any
 * shape, evaluated so that exp() never overflows; dy/dx = y (1 - y).
 * Backward reads the forward output (x->output), which the graph keeps, so
 * nothing is saved. Large tensors are split over the worker threads.
 */
#include <math.h>
#include <string.h>

#include "layer_util.h"

/* No hyperparameters: no create/destroy, self is always NULL. */
static int sigmoid_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                        int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "Sigmoid", in, n_inputs, 1, 1, err))
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

static void forward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float v = j->x[i];
        j->out[i] = v >= 0.0f ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
    }
}

static void backward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float y = j->y[i], d = j->dy[i];
        j->out[i] = d * y * (1.0f - y);
    }
}

static int sigmoid_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    job j = {.x = x->inputs[0].data, .out = x->output->data};
    lu_for(host, tc_shape_count(&x->inputs[0].shape), forward_chunk, &j);
    return 0;
}

static int sigmoid_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    job j = {.y = x->output->data, .dy = x->grad_output->data, .out = x->grad_inputs[0].data};
    lu_for(host, tc_shape_count(&x->inputs[0].shape), backward_chunk, &j);
    return 0;
}

static const tc_layer_type sigmoid_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "Sigmoid",
    .summary = "logistic sigmoid 1 / (1 + exp(-x)), elementwise",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 0,
    .params = NULL,
    .create = NULL,
    .destroy = NULL,
    .plan = sigmoid_plan,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

TC_PLUGIN_DEFINE(sigmoid)
{
    if (tc_host_check(host, 0, "Sigmoid", err))
        return 1;
    return host->register_layer(ctx, &sigmoid_type);
}
