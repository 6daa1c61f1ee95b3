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

#define MOMENTUM 0.9

typedef struct bhs {
    int64_t steps; /* THE BUG: state outside the declared state tensors */
} bhs;

static int bhs_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    (void)values;
    bhs *l = calloc(1, sizeof *l);
    if (!l) {
        host->set_error(err, "BrokenHiddenState: out of memory");
        return 1;
    }
    *self = l;
    return 0;
}

static void bhs_destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int bhs_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_inputs;
    (void)n_threads;
    if (in[0].ndim < 2) {
        host->set_error(err, "BrokenHiddenState needs an input [batch, channels, ...]");
        return 1;
    }
    plan->output = in[0];
    plan->n_state = 1;
    plan->state[0] = (tc_state_decl){.name = "running_mean", .shape = {1, 0, {in[0].dims[1]}},
                                     .init_value = 0.0};
    return 0;
}

static void geometry(const tc_shape *s, int64_t *n, int64_t *c, int64_t *m)
{
    *n = s->dims[0];
    *c = s->dims[1];
    *m = 1;
    for (int d = 2; d < s->ndim; d++)
        *m *= s->dims[d];
}

/* Mean of channel ch of t over the batch and the positions. */
static double channel_mean(const float *t, int64_t n, int64_t c, int64_t m, int64_t ch)
{
    double acc = 0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < m; i++)
            acc += t[(s * c + ch) * m + i];
    return acc / (double)(n * m);
}

static int bhs_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    bhs *l = self;
    int64_t n, c, m;
    (void)host;
    (void)err;
    geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data;
    float *rm = x->state[0].data;
    double corr = l->steps > 0 ? 1.0 - pow(MOMENTUM, (double)l->steps) : 1.0;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = x->training ? channel_mean(in, n, c, m, ch) : rm[ch] / corr;
        for (int64_t s = 0; s < n; s++)
            for (int64_t i = 0; i < m; i++) {
                int64_t k = (s * c + ch) * m + i;
                x->output->data[k] = (float)(in[k] - mean);
            }
        if (x->training)
            rm[ch] = (float)(MOMENTUM * rm[ch] + (1 - MOMENTUM) * mean);
    }
    if (x->training)
        l->steps++;
    return 0;
}

static int bhs_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c, m;
    (void)host;
    (void)self;
    (void)err;
    if (!x->grad_inputs[0].data)
        return 0;
    geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *dy = x->grad_output->data;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = channel_mean(dy, n, c, m, ch);
        for (int64_t s = 0; s < n; s++)
            for (int64_t i = 0; i < m; i++) {
                int64_t k = (s * c + ch) * m + i;
                x->grad_inputs[0].data[k] = (float)(dy[k] - mean);
            }
    }
    return 0;
}

static const tc_layer_type bhs_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "BrokenHiddenState",
    .summary = "running-mean centring that keeps its step count in the instance (test plugin)",
    .min_inputs = 1,
    .max_inputs = 1,
    .create = bhs_create,
    .destroy = bhs_destroy,
    .plan = bhs_plan,
    .forward = bhs_forward,
    .backward = bhs_backward,
};

TC_PLUGIN_DEFINE(broken_hidden_state)
{
    if (tc_host_check(host, 0, "broken_hidden_state", err))
        return 1;
    return host->register_layer(ctx, &bhs_type);
}
