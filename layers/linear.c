/*
 * linear.c - the Linear layer plugin: y = x W^T + b for x [N, in],
 * W [out, in], b [out]. Forward and backward are single GEMMs over the whole
 * batch, which host->sgemm threads itself.
 */
#include <stdlib.h>
#include <string.h>

#include "layer_util.h"

typedef struct linear {
    int64_t out_features;
    int bias;
} linear;

static const tc_param_desc linear_params[] = {
    {"out_features", TC_VALUE_INT, 1, 0, 1, 16777216, "number of outputs per sample"},
    {"bias", TC_VALUE_BOOL, 0, 1, 0, 1, "learn a bias per output"},
};

static int linear_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    if ((int64_t)v[0] < 1) {
        host->set_error(err, "Linear: out_features must be >= 1, got %g", v[0]);
        return 1;
    }
    linear *l = lu_new(host, "Linear", sizeof *l, self, err);
    if (!l)
        return 1;
    l->out_features = (int64_t)v[0];
    l->bias = v[1] != 0.0;
    return 0;
}

static int linear_shape(const tc_host *host, const linear *l, const tc_shape *in, int64_t *n,
                        int64_t *f, tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    int64_t w;
    if (in->ndim != 2) {
        host->set_error(err, "Linear needs a 2-D input [batch, features], got %s%s",
                        lu_shape_str(in, buf, sizeof buf),
                        in->ndim > 2 ? ": add a Flatten node before it" : "");
        return 1;
    }
    *n = in->dims[0];
    *f = in->dims[1];
    if (lu_mul3(l->out_features, *f, 1, &w) || lu_mul3(l->out_features, *n, 1, &w)) {
        host->set_error(err, "Linear with %lld outputs on input %s: sizes overflow",
                        (long long)l->out_features, lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    return 0;
}

static int linear_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                       int n_threads, tc_plan *plan, tc_error *err)
{
    linear *l = self;
    int64_t n, f;
    (void)n_threads;
    if (lu_check_inputs(host, "Linear", in, n_inputs, 1, 1, err) ||
        linear_shape(host, l, &in[0], &n, &f, err))
        return 1;
    plan->output = (tc_shape){.ndim = 2, .dims = {n, l->out_features}};
    plan->n_weights = l->bias ? 2 : 1;
    plan->weights[0] = (tc_weight_decl){
        .name = "weight",
        .shape = {.ndim = 2, .dims = {l->out_features, f}},
        .init = TC_INIT_HE_NORMAL,
        .fan_in = (double)f,
        .fan_out = (double)l->out_features,
    };
    if (l->bias)
        plan->weights[1] = (tc_weight_decl){
            .name = "bias",
            .shape = {.ndim = 1, .dims = {l->out_features}},
            .init = TC_INIT_ZEROS,
            .fan_in = (double)f,
            .fan_out = (double)l->out_features,
            .no_decay = 1,
        };
    plan->workspace_bytes = 0;
    plan->saved_bytes = 0;
    return 0;
}

static int check_exec(const tc_host *host, const linear *l, const tc_exec *x, int64_t *n,
                      int64_t *f, tc_error *err)
{
    if (x->n_inputs != 1 || x->n_weights != (l->bias ? 2 : 1)) {
        host->set_error(err, "Linear got %d inputs and %d weights, expected 1 and %d",
                        x->n_inputs, x->n_weights, l->bias ? 2 : 1);
        return 1;
    }
    return linear_shape(host, l, &x->inputs[0].shape, n, f, err);
}

static int linear_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    linear *l = self;
    int64_t n, f, o = l->out_features;
    if (check_exec(host, l, x, &n, &f, err))
        return 1;
    float *y = x->output->data;
    host->sgemm(0, 1, n, o, f, 1.0f, x->inputs[0].data, f, x->weights[0].data, f, 0.0f, y, o);
    if (l->bias) {
        const float *b = x->weights[1].data;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < o; j++)
                y[i * o + j] += b[j];
    }
    return 0;
}

static int linear_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    linear *l = self;
    int64_t n, f, o = l->out_features;
    if (check_exec(host, l, x, &n, &f, err))
        return 1;
    const float *dy = x->grad_output->data;
    /* dW [o, f] = dy^T [o, n] * x [n, f] */
    if (x->grad_weights[0].data)
        host->sgemm(1, 0, o, f, n, 1.0f, dy, o, x->inputs[0].data, f, 0.0f,
                    x->grad_weights[0].data, f);
    if (l->bias && x->grad_weights[1].data) {
        float *db = x->grad_weights[1].data;
        for (int64_t j = 0; j < o; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < n; i++)
                acc += dy[i * o + j];
            db[j] = (float)acc;
        }
    }
    /* dx [n, f] = dy [n, o] * W [o, f] */
    if (x->grad_inputs && x->grad_inputs[0].data)
        host->sgemm(0, 0, n, f, o, 1.0f, dy, o, x->weights[0].data, f, 0.0f,
                    x->grad_inputs[0].data, f);
    return 0;
}

/* Per output, in_features multiply-adds and the bias. */
static int64_t linear_flops(const tc_host *host, void *self, const tc_shape *in, int n_inputs)
{
    const linear *l = self;
    if (n_inputs != 1 || in[0].ndim != 2)
        return -1;
    return lu_flops_per_output(linear_plan, host, self, in, n_inputs, 2 * in[0].dims[1] + l->bias);
}

static const tc_layer_type linear_type = {
    LU_TYPE_HEAD("Linear", "fully connected layer y = x W^T + b on [batch, features]", 1, 1),
    LU_TYPE_CONFIG(linear),
    LU_TYPE_CALLBACKS(linear),
};

LU_PLUGIN(linear, "Linear", linear_type)
