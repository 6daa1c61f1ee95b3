/*
 * broken_scratch_fmax.c - ChannelMax, y[n, 0, ...] = max over c of
 * x[n, c, ...], with one deliberate bug: it accumulates the maximum in its
 * workspace without first setting it to -infinity. The harness fills
 * workspace with NaN, and fmaxf(NaN, v) is v, so the stale read is hidden
 * there; in a graph the workspace holds whatever another node left, and the
 * output is wrong whenever that is larger than the inputs. Everything else
 * is right, so the conformance suite must fail exactly its uninitialised
 * scratch check: "BrokenChannelMax: uninitialised scratch: with workspace
 * and saved filled with +1e30 ...".
 */
#include <math.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

static int bcm_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    TPU_UNUSED(self, n_inputs, n_threads);
    if (tpu_need_channels(host, &in[0], "BrokenChannelMax", err))
        return 1;
    plan->output = in[0];
    plan->output.dims[1] = 1;
    plan->workspace_bytes = sizeof(float) * (size_t)tc_shape_count(&plan->output);
    return 0;
}

static int bcm_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    TPU_UNUSED(host, self, err);
    tpu_geometry(&x->inputs[0].shape, &n, &c, &m);
    float *acc = x->workspace; /* THE BUG: never set to -INFINITY first */
    const float *in = x->inputs[0].data;
    for (int64_t s = 0; s < n; s++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < m; i++)
                acc[s * m + i] = fmaxf(acc[s * m + i], in[(s * c + ch) * m + i]);
    for (int64_t k = 0; k < n * m; k++)
        x->output->data[k] = acc[k];
    return 0;
}

static int bcm_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    TPU_UNUSED(host, self, err);
    if (!x->grad_inputs[0].data)
        return 0;
    tpu_geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < m; i++) {
            int64_t best = 0;
            for (int64_t ch = 1; ch < c; ch++)
                if (in[(s * c + ch) * m + i] > in[(s * c + best) * m + i])
                    best = ch;
            for (int64_t ch = 0; ch < c; ch++)
                x->grad_inputs[0].data[(s * c + ch) * m + i] =
                    ch == best ? x->grad_output->data[s * m + i] : 0.0f;
        }
    return 0;
}

TPU_STATELESS_PLUGIN(broken_scratch_fmax, "BrokenChannelMax",
                     "maximum over channels, accumulated in workspace it never initialises "
                     "(test plugin)", 1, 1, bcm_plan, bcm_forward, bcm_backward)
