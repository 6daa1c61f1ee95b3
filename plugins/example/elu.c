/*
 * elu.c - ELU, the exponential linear unit: y = x for x > 0, y = alpha *
 * (exp(x) - 1) otherwise, elementwise on any shape. Unlike ReLU it gives
 * negative inputs a gradient; with alpha = 1 its slope is continuous at 0.
 *
 * The smallest useful layer with a hyperparameter: the runtime reads
 * "alpha" from the model file, checks its type and range against the
 * declaration below and hands create() its value; the instance keeps it.
 * Backward reads the forward input and output, which the graph keeps until
 * then, so nothing is saved.
 */
#include <math.h>

#include "example.h"

typedef struct elu {
    float alpha;
} elu;

/* One entry per parameter, in the order create() receives the values:
 * name, type, required, default, min, max, help. */
static const tc_param_desc elu_params[] = {
    {"alpha", TC_VALUE_FLOAT, 0, 1.0, 0.0, 10.0,
     "y tends to -alpha for very negative x (0 gives ReLU)"},
};

static int elu_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    elu *l = tc_instance_new(host, "ELU", sizeof *l, self, err);
    if (!l)
        return 1;
    l->alpha = (float)values[0]; /* already checked against [0, 10] */
    return 0;
}

/* Shape inference: any input shape, output of the same shape, no weights,
 * no state, no scratch memory. The runtime has checked the number of
 * inputs. */
static int elu_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    (void)host;
    (void)self;
    (void)n_inputs;
    (void)n_threads;
    (void)err;
    plan->output = in[0];
    return 0;
}

static int elu_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const elu *l = self;
    const float *in = x->inputs[0].data;
    float *out = x->output->data;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    (void)host;
    (void)err;
    /* expm1f(v) is exp(v) - 1 without the cancellation near v = 0 */
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : l->alpha * expm1f(in[i]);
    return 0;
}

/* dL/dx = dL/dy * (x > 0 ? 1 : alpha * exp(x)), and alpha * exp(x) is
 * y + alpha: the forward output saves an exp() per element. Overwrites the
 * input gradient. */
static int elu_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const elu *l = self;
    (void)host;
    (void)err;
    if (!x->grad_inputs[0].data) /* nothing upstream needs it */
        return 0;
    const float *in = x->inputs[0].data, *y = x->output->data, *dy = x->grad_output->data;
    float *dx = x->grad_inputs[0].data;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++)
        dx[i] = in[i] > 0.0f ? dy[i] : dy[i] * (y[i] + l->alpha);
    return 0;
}

/* `tinycnn export` (ABI 2.2): ONNX's Elu is the same function, alpha its
 * attribute. The writer's functions record their failure for the runtime,
 * so a -1 only needs passing on. */
static int elu_onnx_export(const tc_host *host, void *self, const tc_onnx_writer *w,
                           tc_error *err)
{
    const elu *l = self;
    (void)host;
    (void)err;
    int n = w->node(w->ctx, "Elu", w->inputs, 1, w->output);
    return n < 0 || w->attr_float(w->ctx, n, "alpha", l->alpha) != 0;
}

/* What the conformance suite should test ELU with, besides its defaults:
 * any shape works, so two that differ in rank, one with a non-default alpha
 * (where the slope jumps at 0). Shapes include the batch dimension, which
 * the suite varies. */
static const tc_test_case elu_cases[] = {
    {.n_inputs = 1, .inputs = {{.ndim = 4, .dims = {1, 2, 5, 6}}}},
    {.n_inputs = 1, .n_params = 1, .inputs = {{.ndim = 2, .dims = {1, 7}}},
     .params = {{"alpha", 0.5}}},
};

static const tc_test_hints elu_hints = {
    TC_TEST_CASES(elu_cases),
    /* grad_tolerance, grad_step: 0, the suite's defaults */
};

/* The helper macros of plugin.h fill the fixed fields; elementwise, so
 * per sample (a large inference batch may come in slices). */
const tc_layer_type example_elu_type = {
    TC_LAYER_HEAD("ELU",
                  "exponential linear unit: x if x > 0 else alpha * (exp(x) - 1), elementwise",
                  1, 1),
    .flags = TC_LAYER_PER_SAMPLE,
    TC_PARAM_TABLE(elu_params),
    .create = elu_create, .destroy = tc_instance_free,
    .plan = elu_plan, .forward = elu_forward, .backward = elu_backward,
    .test_hints = &elu_hints, .onnx_export = elu_onnx_export,
};
