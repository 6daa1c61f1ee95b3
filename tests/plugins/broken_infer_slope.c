/*
 * broken_infer_slope.c - a LeakyReLU with one deliberate bug: at inference
 * it uses a hard-coded slope of 0.01 instead of its negative_slope
 * parameter (default 0.2), so a model evaluates a different function from
 * the one it was trained as. Training forward and backward are right and
 * use no randomness, so the conformance suite must fail exactly its
 * inference check: "BrokenLeakySlope: inference: two training forwards with
 * different random streams agree ...".
 */
#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static const tc_param_desc params[] = {
    {"negative_slope", TC_VALUE_FLOAT, 0, 0.2, 0.0, 0.9, "gradient for x < 0"},
};

static int bls_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const tpu_value *l = self;
    TPU_UNUSED(host, err, 0);
    float s = x->training ? (float)l->v : 0.01f; /* THE BUG: should be l->v always */
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++) {
        float v = x->inputs[0].data[i];
        x->output->data[i] = v > 0.0f ? v : v * s;
    }
    return 0;
}

static int bls_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const tpu_value *l = self;
    TPU_UNUSED(host, err, 0);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    if (!x->grad_inputs[0].data)
        return 0;
    for (int64_t i = 0; i < n; i++) {
        float d = x->grad_output->data[i];
        x->grad_inputs[0].data[i] = x->inputs[0].data[i] > 0.0f ? d : d * (float)l->v;
    }
    return 0;
}

TPU_VALUE_PLUGIN(broken_infer_slope, "BrokenLeakySlope",
                 "LeakyReLU with another slope at inference (test plugin)", params, tpu_plan_same,
                 bls_forward, bls_backward)
