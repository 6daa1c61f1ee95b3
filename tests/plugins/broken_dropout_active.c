/*
 * broken_dropout_active.c - inverted dropout with one deliberate bug: the
 * mask is drawn and applied at inference too (the `x->training` test is
 * missing), so a trained model's predictions are random. Training forward
 * and backward are right, so the conformance suite must fail exactly its
 * inference check: "BrokenDropoutActive: inference: the inference output
 * depends on the random stream ...".
 */
#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static const tc_param_desc params[] = {TPU_DROPOUT_PARAMS};

static int bda_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const tpu_value *l = self;
    if (tpu_need_rng_mask(host, x, "BrokenDropoutActive", err))
        return 1;
    /* THE BUG: no `if (!x->training) { copy; return 0; }` */
    tpu_dropout_train(host, x, l->v);
    return 0;
}

TPU_VALUE_PLUGIN(broken_dropout_active, "BrokenDropoutActive",
                 "dropout that stays active at inference (test plugin)", params, tpu_plan_mask,
                 bda_forward, tpu_dropout_value_backward)
