/*
 * broken_slow.c - two identity layers, y = x, each far slower than the
 * work they do, for the conformance suite's speed check:
 *   - BrokenSlowish spends a few hundred dependent floating-point
 *     operations on every element: slow enough for a WARNING from the speed
 *     check, not for a failure; every check passes.
 *   - BrokenQuadratic computes, for every element, a sum over all elements
 *     (an accidental O(n^2) loop): at the speed check's size thousands of
 *     times slower than its output implies, which fails the speed check:
 *     "BrokenQuadratic: speed: forward ... above the limit of 1000x ...".
 * The wasted results are added times 0, which the compiler may not drop
 * (0 * inf is NaN), so the work is really done; the outputs stay exact.
 */

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

/* 200 steps measured 29-32x on a Zen 3 core, on the 30x edge: 600 keeps
 * it well inside the warning band (30x-1000x) on the CPUs seen so far. */
#define SLOWISH_STEPS 600

/* SLOWISH_STEPS dependent multiply-adds; converges to 0.5, stays finite. */
static float spin(float v)
{
    float z = v;
    for (int k = 0; k < SLOWISH_STEPS; k++)
        z = z * 0.5f + 0.25f;
    return z;
}

static int slowish_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++)
        x->output->data[i] = x->inputs[0].data[i] + 0.0f * spin(x->inputs[0].data[i]);
    return 0;
}

static int quadratic_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    const float *in = x->inputs[0].data;
    for (int64_t i = 0; i < n; i++) {
        float sum = 0; /* THE BUG: recomputed for every element */
        for (int64_t j = 0; j < n; j++)
            sum += in[j];
        x->output->data[i] = in[i] + 0.0f * sum;
    }
    return 0;
}

static const tc_layer_type slowish_type = {TPU_STATELESS_TYPE(
    "BrokenSlowish", "identity that wastes a few hundred operations per element (test plugin)",
    1, 1, tpu_plan_same, slowish_forward, tpu_identity_backward)};

static const tc_layer_type quadratic_type = {TPU_STATELESS_TYPE(
    "BrokenQuadratic", "identity with an O(n^2) loop in forward (test plugin)", 1, 1,
    tpu_plan_same, quadratic_forward, tpu_identity_backward)};

TPU_PLUGIN_ENTRY2(broken_slow, slowish_type, quadratic_type)
