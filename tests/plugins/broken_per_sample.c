/*
 * broken_per_sample.c - per-channel centring by the batch mean (the mean
 * half of BatchNorm without running statistics), in training and at
 * inference alike, with one deliberate bug: it sets TC_LAYER_PER_SAMPLE,
 * although every output row depends on every row of the batch. A graph that
 * runs a large inference batch as slices of rows would centre each slice by
 * its own mean, so the model's predictions would depend on how the batch is
 * cut. Forward and backward are right for the function it computes, and
 * inference is the training function, so the conformance suite must fail
 * exactly its per-sample check: "BrokenBatchCentre: per sample: row 0 of a
 * batch of 3 differs from the same row run alone at batch 1 ...".
 *
 * y = x - mean(x) per channel over the batch and positions.
 */
#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static int bbc_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    if (tpu_need_channels(host, in, "BrokenBatchCentre", err))
        return 1;
    return tpu_plan_same(host, self, in, n_inputs, n_threads, plan, err);
}

static int bbc_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    TPU_UNUSED(host, self, err);
    tpu_geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data;
    for (int64_t ch = 0; ch < c; ch++)
        tpu_centre_channel(in, x->output->data, n, c, m, ch, tpu_channel_mean(in, n, c, m, ch));
    return 0;
}

TPU_PLUGIN(broken_per_sample,
           TPU_TYPE_HEAD("BrokenBatchCentre",
                         "centring by the batch mean that claims to be per sample (test plugin)",
                         1, 1),
           .flags = TC_LAYER_PER_SAMPLE, /* THE BUG: the batch mean mixes the rows */
           TPU_TYPE_STATELESS(bbc_plan, bbc_forward, tpu_centring_backward))
