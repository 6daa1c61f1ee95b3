/*
 * broken_null_grad.c - Square, y = x * x elementwise, with one deliberate
 * bug: backward writes the input gradient without checking that it is
 * wanted. A graph passes grad_inputs[i].data == NULL for an input that needs
 * no gradient, the model's image above all, so the first Square in a model
 * crashes the runner (exit 139) on its first training step. Everything else
 * is right, so the conformance suite must fail exactly its NULL input
 * gradients check: "BrokenNullGrad: NULL input gradients: backward with
 * grad_inputs[0].data == NULL (...) crashed (signal 11, ...)".
 */
#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static int bng_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++)
        x->output->data[i] = x->inputs[0].data[i] * x->inputs[0].data[i];
    return 0;
}

static int bng_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    /* THE BUG: no `if (!x->grad_inputs[0].data) return 0;` */
    for (int64_t i = 0; i < n; i++)
        x->grad_inputs[0].data[i] = 2.0f * x->inputs[0].data[i] * x->grad_output->data[i];
    return 0;
}

TPU_STATELESS_PLUGIN(broken_null_grad, "BrokenNullGrad",
                     "x * x whose backward writes through a NULL input gradient (test plugin)",
                     1, 1, tpu_plan_same, bng_forward, bng_backward)
