/*
 * broken_scale.c - a per-channel Scale layer (as in plugins/example) with one
 * deliberate bug: the sign of its weight gradient is flipped. Everything else
 * (metadata, shapes, forward, input and bias gradients) is right, so the
 * conformance suite must fail exactly its gradient check and name the layer,
 * the check and the tensor: "BrokenScale: gradient check: d(weight)[...]".
 */
#include <stdlib.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

/* the instance: a tpu_value whose v is the bias flag */
static const tc_param_desc params[] = {
    {"bias", TC_VALUE_BOOL, 0, 1, 0, 1, "learn a per-channel shift too"},
};

static int bs_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                   int n_threads, tc_plan *plan, tc_error *err)
{
    const tpu_value *l = self;
    int bias = l->v != 0.0;
    TPU_UNUSED(n_inputs, n_threads, 0);
    if (tpu_need_channels(host, &in[0], "BrokenScale", err))
        return 1;
    plan->output = in[0];
    plan->n_weights = bias ? 2 : 1;
    plan->weights[0] = (tc_weight_decl){.name = "weight", .shape = {1, 0, {in[0].dims[1]}},
                                        .init = TC_INIT_CONSTANT, .a = 1.0, .fan_in = 1,
                                        .fan_out = 1, .no_decay = 1};
    if (bias)
        plan->weights[1] = (tc_weight_decl){.name = "bias", .shape = {1, 0, {in[0].dims[1]}},
                                            .init = TC_INIT_ZEROS, .fan_in = 1, .fan_out = 1,
                                            .no_decay = 1};
    return 0;
}

/* The bias flag of the instance, and the [n, c, m] view of the input. */
static int bs_geometry(const void *self, const tc_exec *x, int64_t *n, int64_t *c, int64_t *m)
{
    const tpu_value *l = self;
    tpu_geometry(&x->inputs[0].shape, n, c, m);
    return l->v != 0.0;
}

static int bs_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    int bias = bs_geometry(self, x, &n, &c, &m);
    TPU_UNUSED(host, err, 0);
    const float *in = x->inputs[0].data, *w = x->weights[0].data;
    const float *b = bias ? x->weights[1].data : NULL;
    for (int64_t s = 0; s < n; s++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < m; i++) {
                int64_t k = (s * c + ch) * m + i;
                x->output->data[k] = w[ch] * in[k] + (b ? b[ch] : 0.0f);
            }
    return 0;
}

static int bs_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    int bias = bs_geometry(self, x, &n, &c, &m);
    TPU_UNUSED(host, err, 0);
    const float *in = x->inputs[0].data, *dy = x->grad_output->data, *w = x->weights[0].data;
    for (int64_t ch = 0; ch < c; ch++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t s = 0; s < n; s++)
            for (int64_t i = 0; i < m; i++) {
                int64_t k = (s * c + ch) * m + i;
                sw += (double)dy[k] * in[k];
                sb += dy[k];
                if (x->grad_inputs[0].data)
                    x->grad_inputs[0].data[k] = w[ch] * dy[k];
            }
        x->grad_weights[0].data[ch] = (float)-sw; /* THE BUG: should be +sw */
        if (bias)
            x->grad_weights[1].data[ch] = (float)sb;
    }
    return 0;
}

TPU_VALUE_PLUGIN(broken_scale, "BrokenScale",
                 "per-channel scale with a sign error in its weight gradient (test plugin)",
                 params, bs_plan, bs_forward, bs_backward)
