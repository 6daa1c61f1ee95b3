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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

typedef struct bds {
    double p;
} bds;

static const tc_param_desc params[] = {
    {"p", TC_VALUE_FLOAT, 0, 0.5, 0.0, 0.9, "probability of zeroing an element"},
};

static int bds_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    bds *l = tpu_alloc(host, sizeof *l, self, "BrokenDropoutScale", err);
    if (!l)
        return 1;
    l->p = values[0];
    return 0;
}

static int bds_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bds *l = self;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    uint8_t *mask = x->saved;
    if (!x->rng || !mask) {
        host->set_error(err, "BrokenDropoutScale needs a random stream and its mask buffer");
        return 1;
    }
    if (!x->training) {
        for (int64_t i = 0; i < n; i++) /* THE BUG: should be a plain copy */
            x->output->data[i] = x->inputs[0].data[i] * (float)(1.0 - l->p);
        return 0;
    }
    tpu_dropout_train(host, x, l->p);
    return 0;
}

static int bds_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bds *l = self;
    (void)host;
    (void)err;
    return tpu_dropout_backward(x, l->p);
}

static const tc_layer_type bds_type = {
    TPU_TYPE_HEAD("BrokenDropoutScale",
                  "inverted dropout that scales by 1 - p at inference too (test plugin)", 1, 1),
    .n_params = 1,
    .params = params,
    .create = bds_create,
    .destroy = tpu_free_self,
    .plan = tpu_plan_mask,
    .forward = bds_forward,
    .backward = bds_backward,
};

TPU_PLUGIN_ENTRY(broken_dropout_scale, bds_type)
