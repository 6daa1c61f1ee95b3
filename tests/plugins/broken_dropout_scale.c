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

typedef struct bds {
    double p;
} bds;

static const tc_param_desc params[] = {
    {"p", TC_VALUE_FLOAT, 0, 0.5, 0.0, 0.9, "probability of zeroing an element"},
};

static int bds_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    bds *l = malloc(sizeof *l);
    if (!l) {
        host->set_error(err, "BrokenDropoutScale: out of memory");
        return 1;
    }
    l->p = values[0];
    *self = l;
    return 0;
}

static void bds_destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int bds_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    (void)host;
    (void)self;
    (void)n_inputs;
    (void)n_threads;
    (void)err;
    plan->output = in[0];
    plan->saved_bytes = (size_t)tc_shape_count(&in[0]); /* the keep mask, a byte each */
    return 0;
}

static int bds_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bds *l = self;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    uint8_t *mask = x->saved;
    float scale = (float)(1.0 / (1.0 - l->p));
    if (!x->rng || !mask) {
        host->set_error(err, "BrokenDropoutScale needs a random stream and its mask buffer");
        return 1;
    }
    if (!x->training) {
        for (int64_t i = 0; i < n; i++) /* THE BUG: should be a plain copy */
            x->output->data[i] = x->inputs[0].data[i] * (float)(1.0 - l->p);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        mask[i] = host->rng_uniform(x->rng) >= (float)l->p;
        x->output->data[i] = mask[i] ? x->inputs[0].data[i] * scale : 0.0f;
    }
    return 0;
}

static int bds_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bds *l = self;
    (void)host;
    (void)err;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    const uint8_t *mask = x->saved;
    float scale = (float)(1.0 / (1.0 - l->p));
    if (!x->grad_inputs[0].data)
        return 0;
    for (int64_t i = 0; i < n; i++)
        x->grad_inputs[0].data[i] = mask[i] ? x->grad_output->data[i] * scale : 0.0f;
    return 0;
}

static const tc_layer_type bds_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "BrokenDropoutScale",
    .summary = "inverted dropout that scales by 1 - p at inference too (test plugin)",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 1,
    .params = params,
    .create = bds_create,
    .destroy = bds_destroy,
    .plan = bds_plan,
    .forward = bds_forward,
    .backward = bds_backward,
};

TC_PLUGIN_DEFINE(broken_dropout_scale)
{
    if (tc_host_check(host, 0, "broken_dropout_scale", err))
        return 1;
    return host->register_layer(ctx, &bds_type);
}
