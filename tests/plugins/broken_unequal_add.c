/*
 * broken_unequal_add.c - Add of two inputs with one deliberate bug: plan()
 * checks only that the inputs have the same rank and batch, not the same
 * shape, while forward and backward assume they are equal. A model that
 * adds a [N,2,7,6] to a [N,2,7,7] loads, then reads past the end of the
 * smaller input (or leaves part of the larger one's gradient unwritten).
 * With equal shapes everything is right, so the conformance suite must fail
 * exactly its unequal input shapes check: "BrokenAdd: unequal input shapes:
 * ...".
 */
#include <string.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static int bad_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    TPU_UNUSED(self, n_threads, 0);
    /* THE BUG: the other dimensions are never compared */
    if (n_inputs != 2 || in[1].ndim != in[0].ndim || in[1].dims[0] != in[0].dims[0]) {
        host->set_error(err, "BrokenAdd needs two inputs of the same rank and batch");
        return 1;
    }
    plan->output = in[0];
    return 0;
}

static int bad_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->output->shape);
    const float *a = x->inputs[0].data, *b = x->inputs[1].data;
    for (int64_t i = 0; i < n; i++)
        x->output->data[i] = a[i] + b[i];
    return 0;
}

static int bad_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    size_t bytes = sizeof(float) * (size_t)tc_shape_count(&x->output->shape);
    for (int i = 0; i < 2; i++)
        if (x->grad_inputs[i].data)
            memcpy(x->grad_inputs[i].data, x->grad_output->data, bytes);
    return 0;
}

TPU_STATELESS_PLUGIN(broken_unequal_add, "BrokenAdd",
                     "sum of two inputs that accepts unequal shapes and assumes equal ones "
                     "(test plugin)", 2, 2, bad_plan, bad_forward, bad_backward)
