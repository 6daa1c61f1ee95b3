/*
 * broken_per_sample_weak.c - an identity that sets TC_LAYER_PER_SAMPLE but,
 * the deliberate bug, reads the next row of the batch: y[i] = x[i] +
 * 1e-8 * x[i + 1] (the last row reads row 0), as a wrong row stride or an
 * off-by-one in a blocked loop might. The effect is far below any
 * tolerance, so each row still equals that row run alone (y = x + 1e-8 x)
 * within 1e-5, but the output of row 0 moves when row 1 changes: a graph
 * running slices of rows would give results that depend on the slicing,
 * and forward() reads memory a slice does not own. Everything else is
 * right (backward's dx = dy misses only the 1e-8 term), so the conformance
 * suite must fail exactly its per-sample check: "BrokenNextRow: per
 * sample: row 0's output changed when only the other rows' inputs
 * changed ...".
 */
#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

#define LEAK 1e-8f

static int bnr_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    const tc_shape *s = &x->inputs[0].shape;
    int64_t rows = s->dims[0], n = rows > 0 ? tc_shape_count(s) / rows : 0;
    const float *in = x->inputs[0].data;
    for (int64_t r = 0; r < rows; r++) {
        const float *next = in + ((r + 1) % rows) * n; /* THE BUG: another row */
        for (int64_t k = 0; k < n; k++)
            x->output->data[r * n + k] = in[r * n + k] + LEAK * next[k];
    }
    return 0;
}

TPU_PLUGIN(broken_per_sample_weak,
           TPU_TYPE_HEAD("BrokenNextRow", "identity that reads the next row (test plugin)", 1, 1),
           .flags = TC_LAYER_PER_SAMPLE,
           TPU_TYPE_STATELESS(tpu_plan_same, bnr_forward, tpu_identity_backward))
