/*
 * leaky_relu.c - LeakyReLU: y = x for x > 0, y = negative_slope * x
 * otherwise, elementwise on any shape.
 *
 * The smallest useful layer with a hyperparameter: the runtime reads
 * "negative_slope" from the model file, checks its type and range against
 * the declaration below and hands create() its value; the instance keeps it.
 * Backward reads the forward input, which the graph keeps until then.
 */
#include <stdlib.h>

#include "example.h"

typedef struct leaky_relu {
    float slope;
} leaky_relu;

/* One entry per parameter, in the order create() receives the values:
 * name, type, required, default, min, max, help. */
static const tc_param_desc leaky_relu_params[] = {
    {"negative_slope", TC_VALUE_FLOAT, 0, 0.01, 0.0, 1.0, "slope for x <= 0 (0 gives ReLU)"},
};

static int leaky_relu_create(const tc_host *host, const double *values, void **self,
                             tc_error *err)
{
    leaky_relu *l = malloc(sizeof *l);
    if (!l) {
        host->set_error(err, "LeakyReLU: out of memory");
        return 1;
    }
    l->slope = (float)values[0]; /* already checked against [0, 1] */
    *self = l;
    return 0;
}

static void leaky_relu_destroy(void *self)
{
    free(self);
}

/* Shape inference: any input shape, output of the same shape, no weights,
 * no scratch memory. The runtime has checked the number of inputs. */
static int leaky_relu_plan(void *self, const tc_shape *in, int n_inputs, int n_threads,
                           tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_inputs;
    (void)n_threads;
    (void)err;
    plan->output = in[0];
    return 0;
}

static int leaky_relu_forward(void *self, const tc_exec *x, tc_error *err)
{
    const leaky_relu *l = self;
    const float *in = x->inputs[0].data;
    float *out = x->output->data;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    (void)err;
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : l->slope * in[i];
    return 0;
}

/* dL/dx = dL/dy * (x > 0 ? 1 : slope). Overwrites the input gradient. */
static int leaky_relu_backward(void *self, const tc_exec *x, tc_error *err)
{
    const leaky_relu *l = self;
    (void)err;
    if (!x->grad_inputs[0].data) /* nothing upstream needs it */
        return 0;
    const float *in = x->inputs[0].data, *dy = x->grad_output->data;
    float *dx = x->grad_inputs[0].data;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++)
        dx[i] = in[i] > 0.0f ? dy[i] : l->slope * dy[i];
    return 0;
}

const tc_layer_type example_leaky_relu_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "LeakyReLU",
    .summary = "leaky rectifier: x if x > 0 else negative_slope * x, elementwise",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 1,
    .params = leaky_relu_params,
    .create = leaky_relu_create,
    .destroy = leaky_relu_destroy,
    .plan = leaky_relu_plan,
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
};
