/*
 * broken_dropout_active.c - inverted dropout with one deliberate bug: the
 * mask is drawn and applied at inference too (the `x->training` test is
 * missing), so a trained model's predictions are random. Training forward
 * and backward are right, so the conformance suite must fail exactly its
 * inference check: "BrokenDropoutActive: inference: the inference output
 * depends on the random stream ...".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/plugin.h"

typedef struct bda {
    double p;
} bda;

static const tc_param_desc params[] = {
    {"p", TC_VALUE_FLOAT, 0, 0.5, 0.0, 0.9, "probability of zeroing an element"},
};

static int bda_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    bda *l = malloc(sizeof *l);
    if (!l) {
        host->set_error(err, "BrokenDropoutActive: out of memory");
        return 1;
    }
    l->p = values[0];
    *self = l;
    return 0;
}

static void bda_destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int bda_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
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

static int bda_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bda *l = self;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    uint8_t *mask = x->saved;
    float scale = (float)(1.0 / (1.0 - l->p));
    if (!x->rng || !mask) {
        host->set_error(err, "BrokenDropoutActive needs a random stream and its mask buffer");
        return 1;
    }
    /* THE BUG: no `if (!x->training) { copy; return 0; }` */
    for (int64_t i = 0; i < n; i++) {
        mask[i] = host->rng_uniform(x->rng) >= (float)l->p;
        x->output->data[i] = mask[i] ? x->inputs[0].data[i] * scale : 0.0f;
    }
    return 0;
}

static int bda_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bda *l = self;
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

static const tc_layer_type bda_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "BrokenDropoutActive",
    .summary = "dropout that stays active at inference (test plugin)",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 1,
    .params = params,
    .create = bda_create,
    .destroy = bda_destroy,
    .plan = bda_plan,
    .forward = bda_forward,
    .backward = bda_backward,
};

TC_PLUGIN_DEFINE(broken_dropout_active)
{
    if (tc_host_check(host, 0, "broken_dropout_active", err))
        return 1;
    return host->register_layer(ctx, &bda_type);
}
