/*
 * leaky_relu.c - the LeakyReLU layer plugin: y = x for x > 0, else
 * negative_slope * x, elementwise on any shape (PyTorch's nn.LeakyReLU).
 * NaN passes through (NaN * slope is NaN), so divergence stays visible.
 * Backward reads the input, which the graph keeps, so nothing is saved: the
 * output alone cannot tell x < 0 from x > 0 when the slope is 0.
 */
#include <stdlib.h>

#include "layer_util.h"

typedef struct leaky_relu {
    float slope;
} leaky_relu;

static const tc_param_desc leaky_relu_params[] = {
    {"negative_slope", TC_VALUE_FLOAT, 0, 0.01, 0, 1, "gradient for x < 0, in [0, 1)"},
};

static int leaky_relu_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    /* the declared range is inclusive; a slope of 1 would be the identity */
    if (!(v[0] >= 0.0 && v[0] < 1.0)) {
        host->set_error(err, "LeakyReLU: negative_slope must be in [0, 1), got %g", v[0]);
        return 1;
    }
    leaky_relu *l = calloc(1, sizeof *l);
    if (!l) {
        host->set_error(err, "LeakyReLU: out of memory");
        return 1;
    }
    l->slope = (float)v[0];
    *self = l;
    return 0;
}

static void leaky_relu_destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int leaky_relu_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                           int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "LeakyReLU", in, n_inputs, 1, 1, err))
        return 1;
    plan->output = in[0];
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    plan->saved_bytes = 0;
    return 0;
}

typedef struct job {
    float slope;
    const float *x, *dy;
    float *out;
} job;

LU_AVX2_CLONES
static void forward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const float s = j->slope;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float v = j->x[i];
        j->out[i] = v > 0.0f ? v : v * s;
    }
}

LU_AVX2_CLONES
static void backward_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    const float s = j->slope;
    (void)worker;
    for (int64_t i = begin; i < end; i++) {
        float d = j->dy[i];
        j->out[i] = j->x[i] > 0.0f ? d : d * s;
    }
}

static int leaky_relu_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const leaky_relu *l = self;
    (void)err;
    job j = {.slope = l->slope, .x = x->inputs[0].data, .out = x->output->data};
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    lu_for_work(host, n, n, LU_PARALLEL_MIN_CHEAP, forward_chunk, &j);
    return 0;
}

static int leaky_relu_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const leaky_relu *l = self;
    (void)err;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    job j = {.slope = l->slope, .x = x->inputs[0].data, .dy = x->grad_output->data,
             .out = x->grad_inputs[0].data};
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    lu_for_work(host, n, n, LU_PARALLEL_MIN_CHEAP, backward_chunk, &j);
    return 0;
}

static const tc_layer_type leaky_relu_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "LeakyReLU",
    .summary = "leaky rectifier: x for x > 0, negative_slope * x otherwise, elementwise",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = (int32_t)(sizeof leaky_relu_params / sizeof leaky_relu_params[0]),
    .params = leaky_relu_params,
    .create = leaky_relu_create,
    .destroy = leaky_relu_destroy,
    .plan = leaky_relu_plan,
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
};

TC_PLUGIN_DEFINE(leaky_relu)
{
    if (tc_host_check(host, 0, "LeakyReLU", err))
        return 1;
    return host->register_layer(ctx, &leaky_relu_type);
}
