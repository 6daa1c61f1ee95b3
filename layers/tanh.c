/*
 * tanh.c - the Tanh layer plugin: y = tanh(x), elementwise on any shape;
 * dy/dx = 1 - y^2.
 * Backward reads the forward output (x->output), which the graph keeps, so
 * nothing is saved. Large tensors are split over the worker threads.
 */
#include <math.h>
#include <string.h>

#include "layer_util.h"

/* No hyperparameters: no create/destroy, self is always NULL. */
static int tanh_layer_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                           int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "Tanh", in, n_inputs, 1, 1, err))
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
        j->out[i] = tanhf(v);
    }
}

static void backward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float y = j->y[i], d = j->dy[i];
        j->out[i] = d * (1.0f - y * y);
    }
}

static int tanh_layer_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    job j = {.x = x->inputs[0].data, .out = x->output->data};
    lu_for(host, tc_shape_count(&x->inputs[0].shape), forward_chunk, &j);
    return 0;
}

static int tanh_layer_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    job j = {.y = x->output->data, .dy = x->grad_output->data, .out = x->grad_inputs[0].data};
    lu_for(host, tc_shape_count(&x->inputs[0].shape), backward_chunk, &j);
    return 0;
}

static const tc_layer_type tanh_layer_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "Tanh",
    .summary = "hyperbolic tangent, elementwise",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 0,
    .params = NULL,
    .create = NULL,
    .destroy = NULL,
    .plan = tanh_layer_plan,
    .forward = tanh_layer_forward,
    .backward = tanh_layer_backward,
};

TC_PLUGIN_DEFINE(tanh)
{
    if (tc_host_check(host, 0, "Tanh", err))
        return 1;
    return host->register_layer(ctx, &tanh_layer_type);
}
