/*
 * flatten.c - the Flatten layer plugin: [N, d1, d2, ...] -> [N, d1*d2*...].
 * The data is already contiguous, so forward and backward are copies.
 */
#include <string.h>

#include "layer_util.h"

/* No hyperparameters: no create/destroy, self is always NULL. */
static int flatten_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                        int n_threads, tc_plan *plan, tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    int64_t rest = 1;
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "Flatten", in, n_inputs, 1, 1, err))
        return 1;
    if (in[0].ndim < 2) {
        host->set_error(err, "Flatten needs an input [batch, ...] with at least 2 "
                             "dimensions, got %s", lu_shape_str(&in[0], buf, sizeof buf));
        return 1;
    }
    for (int i = 1; i < in[0].ndim; i++)
        rest *= in[0].dims[i]; /* lu_check_inputs proved the whole product fits */
    plan->output = (tc_shape){.ndim = 2, .dims = {in[0].dims[0], rest}};
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    plan->saved_bytes = 0;
    return 0;
}

static int flatten_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    (void)self;
    (void)err;
    size_t bytes = sizeof(float) * (size_t)tc_shape_count(&x->inputs[0].shape);
    if (x->output->data != x->inputs[0].data)
        memcpy(x->output->data, x->inputs[0].data, bytes);
    return 0;
}

static int flatten_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    (void)self;
    (void)err;
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    size_t bytes = sizeof(float) * (size_t)tc_shape_count(&x->inputs[0].shape);
    if (x->grad_inputs[0].data != x->grad_output->data)
        memcpy(x->grad_inputs[0].data, x->grad_output->data, bytes);
    return 0;
}

static const tc_layer_type flatten_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "Flatten",
    .summary = "reshape [batch, ...] to [batch, features]",
    .flags = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 0,
    .params = NULL,
    .create = NULL,
    .destroy = NULL,
    .plan = flatten_plan,
    .forward = flatten_forward,
    .backward = flatten_backward,
};

TC_PLUGIN_DEFINE(flatten)
{
    if (tc_host_check(host, 0, "Flatten", err))
        return 1;
    return host->register_layer(ctx, &flatten_type);
}
