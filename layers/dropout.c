/*
 * dropout.c - the Dropout layer plugin (inverted dropout). In training each
 * element is kept with probability 1 - p and scaled by 1 / (1 - p), so that
 * inference is the identity. The keep mask (one byte per element) lives in
 * `saved` for backward. The mask is drawn serially from the node's stream,
 * one uniform per element in order, so it never depends on the thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "layer_util.h"

static const tc_param_desc dropout_params[] = {
    {"p", TC_VALUE_FLOAT, 0, 0.5, 0.0, 0.99, "probability of zeroing an element in training"},
};

static int dropout_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    if (!(v[0] >= 0.0 && v[0] <= 0.99)) {
        host->set_error(err, "Dropout p must be in [0, 0.99], got %g", v[0]);
        return 1;
    }
    double *p = lu_new(host, "Dropout", sizeof *p, self, err); /* the instance: p itself */
    if (p)
        *p = v[0];
    return !p;
}

static int dropout_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                        int n_threads, tc_plan *plan, tc_error *err)
{
    int64_t n = 0;
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "Dropout", in, n_inputs, 1, 1, err))
        return 1;
    if (lu_count(&in[0], &n) || lu_bytes(n, 1, &plan->saved_bytes)) {
        char buf[LU_SHAPE_BUF];
        host->set_error(err, "Dropout on input %s: mask size overflows",
                        lu_shape_str(&in[0], buf, sizeof buf));
        return 1;
    }
    plan->output = in[0];
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    return 0;
}

typedef struct job {
    const float *in;
    float *out;
    const uint8_t *mask;
    float scale;
} job;

static void apply_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t i = begin; i < end; i++)
        j->out[i] = j->mask[i] ? j->in[i] * j->scale : 0.0f;
}

/* out = in * mask / (1 - p), over the threads. */
static void apply(const tc_host *host, const float *in, float *out, const uint8_t *mask,
                  int64_t n, double p)
{
    job j = {.in = in, .out = out, .mask = mask, .scale = (float)(1.0 / (1.0 - p))};
    lu_for(host, n, apply_chunk, &j);
}

static int active(double p, const tc_exec *x)
{
    return x->training && p > 0.0;
}

static int dropout_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const double p = *(const double *)self;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    if (!active(p, x)) {
        if (x->output->data != x->inputs[0].data)
            memcpy(x->output->data, x->inputs[0].data, sizeof(float) * (size_t)n);
        return 0;
    }
    if (!x->rng || !x->saved || x->saved_bytes < (size_t)n) {
        host->set_error(err, "Dropout in training needs a random stream and a %lld-byte "
                             "saved buffer", (long long)n);
        return 1;
    }
    uint8_t *mask = x->saved;
    for (int64_t i = 0; i < n; i++)
        mask[i] = host->rng_uniform(x->rng) >= (float)p; /* keep with probability 1 - p */
    apply(host, x->inputs[0].data, x->output->data, mask, n, p);
    return 0;
}

static int dropout_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const double p = *(const double *)self;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    if (!x->grad_inputs || !x->grad_inputs[0].data)
        return 0;
    if (!active(p, x)) {
        if (x->grad_inputs[0].data != x->grad_output->data)
            memcpy(x->grad_inputs[0].data, x->grad_output->data, sizeof(float) * (size_t)n);
        return 0;
    }
    if (!x->saved || x->saved_bytes < (size_t)n) {
        host->set_error(err, "Dropout backward: the saved mask is missing");
        return 1;
    }
    apply(host, x->grad_output->data, x->grad_inputs[0].data, x->saved, n, p);
    return 0;
}

LU_FLOPS_PER_INPUT(dropout, 0) /* the identity at inference */

static const tc_layer_type dropout_type = {
    LU_TYPE_HEAD("Dropout",
                 "inverted dropout: zero with probability p in training, identity at inference",
                 1, 1),
    LU_TYPE_CONFIG(dropout),
    LU_TYPE_CALLBACKS(dropout),
};

LU_PLUGIN(dropout, "Dropout", dropout_type)
