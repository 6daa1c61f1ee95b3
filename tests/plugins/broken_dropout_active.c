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
#include "test_plugin_util.h"

typedef struct bda {
    double p;
} bda;

static const tc_param_desc params[] = {
    {"p", TC_VALUE_FLOAT, 0, 0.5, 0.0, 0.9, "probability of zeroing an element"},
};

static int bda_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    bda *l = tpu_alloc(host, sizeof *l, self, "BrokenDropoutActive", err);
    if (!l)
        return 1;
    l->p = values[0];
    return 0;
}

static int bda_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bda *l = self;
    uint8_t *mask = x->saved;
    if (!x->rng || !mask) {
        host->set_error(err, "BrokenDropoutActive needs a random stream and its mask buffer");
        return 1;
    }
    /* THE BUG: no `if (!x->training) { copy; return 0; }` */
    tpu_dropout_train(host, x, l->p);
    return 0;
}

static int bda_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const bda *l = self;
    (void)host;
    (void)err;
    return tpu_dropout_backward(x, l->p);
}

static const tc_layer_type bda_type = {
    TPU_TYPE_HEAD("BrokenDropoutActive",
                  "dropout that stays active at inference (test plugin)", 1, 1),
    .n_params = 1,
    .params = params,
    .create = bda_create,
    .destroy = tpu_free_self,
    .plan = tpu_plan_mask,
    .forward = bda_forward,
    .backward = bda_backward,
};

TPU_PLUGIN_ENTRY(broken_dropout_active, bda_type)
