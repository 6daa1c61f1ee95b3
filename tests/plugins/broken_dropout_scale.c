/*
 * broken_dropout_scale.c - inverted dropout with one deliberate bug: at
 * inference it multiplies by 1 - p, as classic (non-inverted) dropout does,
 * although training already scales the kept elements by 1 / (1 - p); a
 * trained model then sees activations (1 - p) times too small. Training
 * forward and backward are right and inference is deterministic, so the
 * conformance suite must fail exactly its inference check, through the
 * mean of many training forwards: "BrokenDropoutScale: inference: the layer
 * is random in training ...".
 */
#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static const tc_param_desc params[] = {TPU_DROPOUT_PARAMS};

static int bds_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const tpu_value *l = self;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    if (tpu_need_rng_mask(host, x, "BrokenDropoutScale", err))
        return 1;
    if (!x->training) {
        for (int64_t i = 0; i < n; i++) /* THE BUG: should be a plain copy */
            x->output->data[i] = x->inputs[0].data[i] * (float)(1.0 - l->v);
        return 0;
    }
    tpu_dropout_train(host, x, l->v);
    return 0;
}

TPU_VALUE_PLUGIN(broken_dropout_scale, "BrokenDropoutScale",
                 "inverted dropout that scales by 1 - p at inference too (test plugin)", params,
                 tpu_plan_mask, bds_forward, tpu_dropout_value_backward)
