/*
 * broken_state_at_inference.c - a per-channel running-mean centring layer
 * (the mean half of BatchNorm) with one deliberate bug: it updates its
 * running mean at inference too (the `x->training` test is missing around
 * the update), so evaluating a model changes it. Everything else is right,
 * so the conformance suite must fail exactly its inference check:
 * "BrokenStateAtInference: inference: forward with training = 0 modified
 * state 'running_mean'...".
 *
 * Training: y = x - mean(x) per channel over the batch and positions.
 * Inference: y = x - running_mean. Both: running_mean <- 0.9 running_mean +
 * 0.1 mean(x) (the bug: in training only).
 */
#include <stdlib.h>

#include "tinycnn/plugin.h"

#define MOMENTUM 0.9

static int bsi_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_inputs;
    (void)n_threads;
    if (in[0].ndim < 2) {
        host->set_error(err, "BrokenStateAtInference needs an input [batch, channels, ...]");
        return 1;
    }
    plan->output = in[0];
    plan->n_state = 1;
    plan->state[0] = (tc_state_decl){.name = "running_mean", .shape = {1, 0, {in[0].dims[1]}},
                                     .init_value = 0.0};
    return 0;
}

static void geometry(const tc_shape *s, int64_t *n, int64_t *c, int64_t *m)
{
    *n = s->dims[0];
    *c = s->dims[1];
    *m = 1;
    for (int d = 2; d < s->ndim; d++)
        *m *= s->dims[d];
}

/* Mean of channel ch of t over the batch and the positions. */
static double channel_mean(const float *t, int64_t n, int64_t c, int64_t m, int64_t ch)
{
    double acc = 0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < m; i++)
            acc += t[(s * c + ch) * m + i];
    return acc / (double)(n * m);
}

static int bsi_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    (void)host;
    (void)self;
    (void)err;
    geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data;
    float *rm = x->state[0].data;
    for (int64_t ch = 0; ch < c; ch++) {
        double batch_mean = channel_mean(in, n, c, m, ch);
        double mean = x->training ? batch_mean : rm[ch];
        for (int64_t s = 0; s < n; s++)
            for (int64_t i = 0; i < m; i++) {
                int64_t k = (s * c + ch) * m + i;
                x->output->data[k] = (float)(in[k] - mean);
            }
        /* THE BUG: should happen only when x->training */
        rm[ch] = (float)(MOMENTUM * rm[ch] + (1 - MOMENTUM) * batch_mean);
    }
    return 0;
}

static int bsi_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    (void)host;
    (void)self;
    (void)err;
    if (!x->grad_inputs[0].data)
        return 0;
    geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *dy = x->grad_output->data;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = channel_mean(dy, n, c, m, ch);
        for (int64_t s = 0; s < n; s++)
            for (int64_t i = 0; i < m; i++) {
                int64_t k = (s * c + ch) * m + i;
                x->grad_inputs[0].data[k] = (float)(dy[k] - mean);
            }
    }
    return 0;
}

static const tc_layer_type bsi_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "BrokenStateAtInference",
    .summary = "running-mean centring that updates its state at inference (test plugin)",
    .min_inputs = 1,
    .max_inputs = 1,
    .plan = bsi_plan,
    .forward = bsi_forward,
    .backward = bsi_backward,
};

TC_PLUGIN_DEFINE(broken_state_at_inference)
{
    if (tc_host_check(host, 0, "broken_state_at_inference", err))
        return 1;
    return host->register_layer(ctx, &bsi_type);
}
