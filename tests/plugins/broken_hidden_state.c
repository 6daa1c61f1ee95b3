/*
 * broken_hidden_state.c - a per-channel running-mean centring layer (the
 * mean half of BatchNorm) with one deliberate bug: it declares its running
 * mean as a state tensor, as it should, but keeps the number of training
 * steps, which its inference output depends on (an Adam-style bias
 * correction of the running mean), in its instance. A checkpoint saves the
 * running mean but not the count, so a model restored from a checkpoint
 * evaluates differently from the one that was saved. Everything else is
 * right, so the conformance suite must fail exactly its save/load check:
 * "BrokenHiddenState: save/load: after loading the saved weights and state
 * into a new instance: output[...]".
 *
 * Training: y = x - mean(x) per channel over the batch and positions;
 * running_mean <- 0.9 running_mean + 0.1 mean(x). Inference:
 * y = x - running_mean / (1 - 0.9^steps).
 */
#include <math.h>
#include <stdlib.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

#define MOMENTUM 0.9

typedef struct bhs {
    int64_t steps; /* THE BUG: state outside the declared state tensors */
} bhs;

static int bhs_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    (void)values;
    return tpu_alloc(host, sizeof(bhs), self, "BrokenHiddenState", err) ? 0 : 1;
}

static int bhs_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    TPU_UNUSED(self, n_inputs, n_threads);
    return tpu_plan_running_mean(host, in, plan, "BrokenHiddenState", err);
}

static int bhs_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    bhs *l = self;
    int64_t n, c, m;
    TPU_UNUSED(host, err, 0);
    tpu_geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data;
    float *rm = x->state[0].data;
    double corr = l->steps > 0 ? 1.0 - pow(MOMENTUM, (double)l->steps) : 1.0;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = x->training ? tpu_channel_mean(in, n, c, m, ch) : rm[ch] / corr;
        tpu_centre_channel(in, x->output->data, n, c, m, ch, mean);
        if (x->training)
            rm[ch] = (float)(MOMENTUM * rm[ch] + (1 - MOMENTUM) * mean);
    }
    if (x->training)
        l->steps++;
    return 0;
}

static const tc_layer_type bhs_type = {
    TPU_TYPE_HEAD("BrokenHiddenState",
                  "running-mean centring that keeps its step count in the instance (test plugin)",
                  1, 1),
    TPU_TYPE_FUNCS(bhs_create, bhs_plan, bhs_forward, tpu_centring_backward),
};

TPU_PLUGIN_ENTRY(broken_hidden_state, bhs_type)
