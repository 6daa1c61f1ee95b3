/*
 * flatten.c - the Flatten layer plugin: [N, d1, d2, ...] -> [N, d1*d2*...].
 * The data is already contiguous, so forward and backward are copies.
 */
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
    return lu_plan_simple(plan, (tc_shape){.ndim = 2, .dims = {in[0].dims[0], rest}}, 0);
}

static int flatten_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    (void)self;
    (void)err;
    lu_copy(x->output->data, x->inputs[0].data, tc_shape_count(&x->inputs[0].shape));
    return 0;
}

static int flatten_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    (void)self;
    (void)err;
    float *dx = lu_grad_in(x, 0);
    if (dx)
        lu_copy(dx, x->grad_output->data, tc_shape_count(&x->inputs[0].shape));
    return 0;
}

LU_FLOPS_PER_INPUT(flatten, 0) /* a copy */

static const tc_layer_type flatten_type = {
    LU_TYPE_HEAD("Flatten", "reshape [batch, ...] to [batch, features]", 1, 1),
    LU_TYPE_CALLBACKS(flatten),
};

LU_PLUGIN(flatten, "Flatten", flatten_type)
