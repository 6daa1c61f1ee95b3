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
#include "test_plugin_util.h"

#define MOMENTUM 0.9

static int bsi_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    TPU_UNUSED(self, n_inputs, n_threads);
    return tpu_plan_running_mean(host, in, plan, "BrokenStateAtInference", err);
}

static int bsi_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    TPU_UNUSED(host, self, err);
    tpu_geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data;
    float *rm = x->state[0].data;
    for (int64_t ch = 0; ch < c; ch++) {
        double batch_mean = tpu_channel_mean(in, n, c, m, ch);
        double mean = x->training ? batch_mean : rm[ch];
        tpu_centre_channel(in, x->output->data, n, c, m, ch, mean);
        /* THE BUG: should happen only when x->training */
        rm[ch] = (float)(MOMENTUM * rm[ch] + (1 - MOMENTUM) * batch_mean);
    }
    return 0;
}

TPU_STATELESS_PLUGIN(broken_state_at_inference, "BrokenStateAtInference",
                     "running-mean centring that updates its state at inference (test plugin)",
                     1, 1, bsi_plan, bsi_forward, tpu_centring_backward)
