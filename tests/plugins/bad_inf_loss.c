/* A loss layer that goes infinite: "InfLoss" (inputs: logits, label) gives
 * the loss 1.0 for its first `inf_at - 1` training steps and +Inf from step
 * inf_at on, with zero gradients, so the weights never change. It lets the
 * tests drive the training loop into an infinite (not NaN) loss at a step
 * they choose, after good checkpoints were written. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static const tc_param_desc params[] = {
    {"inf_at", TC_VALUE_INT, 1, 0, 1, 1e9, "the first training step (1-based) whose loss is +Inf"},
};

/* The instance counts training steps down to inf_at. */
TPU_CREATE(create, tpu_countdown, "InfLoss", .at = (long)v[0])

static int plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt, tc_plan *p,
                tc_error *err)
{
    (void)host, (void)self, (void)n, (void)nt, (void)err;
    p->output = (tc_shape){.ndim = 1, .dims = {1}};
    (void)in;
    return 0;
}

static int forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)err;
    x->output->data[0] = x->training && tpu_count_call(self) ? INFINITY : 1.0f;
    return 0;
}

static int backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    for (int i = 0; i < x->n_inputs; i++)
        if (x->grad_inputs[i].data)
            memset(x->grad_inputs[i].data, 0,
                   (size_t)tc_shape_count(&x->grad_inputs[i].shape) * sizeof(float));
    return 0;
}

TPU_PLUGIN(bad_inf_loss,
           TPU_TYPE_HEAD("InfLoss", "a loss that becomes +Inf at a chosen training step (tests)",
                         2, 2),
           .flags = TC_LAYER_LOSS, TPU_TYPE_PARAMS(params),
           TPU_TYPE_FUNCS(create, plan, forward, backward))
