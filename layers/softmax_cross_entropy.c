/*
 * softmax_cross_entropy.c - the SoftmaxCrossEntropy loss plugin.
 * Inputs: logits [N, C] and labels [N] (class indices stored as floats).
 * Output [1]: the mean over the batch of -log softmax(logits)[label],
 * computed as log-sum-exp with the row maximum subtracted so that large
 * logits never overflow. The probabilities are kept in `saved`; backward
 * gives grad_logits = (softmax - onehot) / N * grad_output[0] and no
 * gradient for the labels.
 */
#include <math.h>
#include <string.h>

#include "layer_util.h"

static int check_shapes(const tc_host *host, const tc_shape *in, int n_inputs, int64_t *n,
                        int64_t *c, tc_error *err)
{
    char a[LU_SHAPE_BUF], b[LU_SHAPE_BUF];
    if (lu_check_inputs(host, "SoftmaxCrossEntropy", in, n_inputs, 2, 2, err))
        return 1;
    if (in[0].ndim != 2) {
        host->set_error(err, "SoftmaxCrossEntropy needs logits [batch, classes], got %s%s",
                        lu_shape_str(&in[0], a, sizeof a),
                        in[0].ndim > 2 ? ": add a Flatten node (and a Linear) before it"
                                       : "");
        return 1;
    }
    *n = in[0].dims[0];
    *c = in[0].dims[1];
    int label_ok = (in[1].ndim == 1 || (in[1].ndim == 2 && in[1].dims[1] == 1)) &&
                   in[1].dims[0] == *n;
    if (!label_ok) {
        host->set_error(err, "SoftmaxCrossEntropy needs labels [batch] matching logits %s, "
                             "got %s", lu_shape_str(&in[0], a, sizeof a),
                        lu_shape_str(&in[1], b, sizeof b));
        return 1;
    }
    return 0;
}

/* No hyperparameters: no create/destroy, self is always NULL. */
static int softmax_ce_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                           int n_threads, tc_plan *plan, tc_error *err)
{
    int64_t n, c, nc;
    (void)self;
    (void)n_threads;
    if (check_shapes(host, in, n_inputs, &n, &c, err))
        return 1;
    if (lu_mul3(n, c, 1, &nc) || lu_bytes(nc, sizeof(float), &plan->saved_bytes)) {
        char a[LU_SHAPE_BUF];
        host->set_error(err, "SoftmaxCrossEntropy on logits %s: sizes overflow",
                        lu_shape_str(&in[0], a, sizeof a));
        return 1;
    }
    plan->output = (tc_shape){.ndim = 1, .dims = {1}};
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    return 0;
}

/* The class index of sample i, or -1 (with err filled) when the label is not
 * an integer in [0, c). */
static int64_t label_of(const tc_host *host, const float *labels, int64_t i, int64_t c,
                        tc_error *err)
{
    float v = labels[i];
    if (!(v >= 0.0f && v < (float)c) || v != floorf(v)) {
        host->set_error(err, "SoftmaxCrossEntropy: label %g of sample %lld is not a class "
                             "index in [0, %lld)", (double)v, (long long)i, (long long)c);
        return -1;
    }
    return (int64_t)v;
}

/* check_shapes on the inputs of one call. */
static int call_shapes(const tc_host *host, const tc_exec *x, int64_t *n, int64_t *c,
                       tc_error *err)
{
    const tc_shape shapes[2] = {x->inputs[0].shape, x->inputs[1].shape};
    return check_shapes(host, shapes, x->n_inputs, n, c, err);
}

static int softmax_ce_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c;
    (void)self;
    if (call_shapes(host, x, &n, &c, err))
        return 1;
    const float *z = x->inputs[0].data, *labels = x->inputs[1].data;
    float *prob = (x->saved && x->saved_bytes >= sizeof(float) * (size_t)(n * c)) ? x->saved
                                                                                    : NULL;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y = label_of(host, labels, i, c, err);
        if (y < 0)
            return 1;
        const float *zi = z + i * c;
        float m = zi[0];
        for (int64_t j = 1; j < c; j++)
            m = zi[j] > m ? zi[j] : m;
        double s = 0.0;
        for (int64_t j = 0; j < c; j++)
            s += exp((double)zi[j] - m);
        if (prob)
            for (int64_t j = 0; j < c; j++)
                prob[i * c + j] = (float)(exp((double)zi[j] - m) / s);
        total += log(s) - ((double)zi[y] - m); /* -log softmax[y] */
    }
    x->output->data[0] = (float)(total / (double)n);
    return 0;
}

static int softmax_ce_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    int64_t n, c;
    (void)self;
    if (call_shapes(host, x, &n, &c, err))
        return 1;
    if (!x->grad_inputs)
        return 0;
    if (x->grad_inputs[1].data) /* labels are constants: their gradient is zero */
        memset(x->grad_inputs[1].data, 0, sizeof(float) * (size_t)n);
    float *dz = x->grad_inputs[0].data;
    if (!dz)
        return 0;
    if (!x->saved || x->saved_bytes < sizeof(float) * (size_t)(n * c)) {
        host->set_error(err, "SoftmaxCrossEntropy backward: the saved probabilities are "
                             "missing");
        return 1;
    }
    const float *prob = x->saved, *labels = x->inputs[1].data;
    float scale = (float)((double)x->grad_output->data[0] / (double)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t y = label_of(host, labels, i, c, err);
        if (y < 0)
            return 1;
        for (int64_t j = 0; j < c; j++)
            dz[i * c + j] = (prob[i * c + j] - (j == y ? 1.0f : 0.0f)) * scale;
    }
    return 0;
}

/* Per logit max, subtract, exp, sum; per image a log and the mean's share. */
static int64_t softmax_ce_flops(const tc_host *host, void *self, const tc_shape *in,
                                int n_inputs)
{
    (void)host;
    (void)self;
    if (n_inputs != 2 || in[0].ndim < 1)
        return -1;
    return 4 * tc_shape_count(&in[0]) + 2 * in[0].dims[0];
}

static const tc_layer_type softmax_ce_type = {
    TC_LAYER_HEAD("SoftmaxCrossEntropy",
                  "mean cross-entropy of softmax(logits [batch, classes]) against labels [batch]",
                  2, 2),
    .flags = TC_LAYER_LOSS, /* the batch's mean: not per sample */
    LU_TYPE_CALLBACKS(softmax_ce),
};

LU_PLUGIN(softmax_cross_entropy, "SoftmaxCrossEntropy", softmax_ce_type)
