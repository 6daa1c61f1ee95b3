/* A plugin whose layer fails in forward(): "FailForward" passes its input
 * through for its first `fail_at - 1` forward calls (counted per instance,
 * training and inference alike), then reports an error on every call
 * (fail_at 0: never). The runner must stop with one message naming the node
 * and the plugin's words, not crash and not write a checkpoint of the failed
 * step. For the interruption tests it can also send its own process a
 * signal during forward call `raise_at`, which makes "a signal in the middle
 * of a batch" happen at a step the test chooses. It has no weights, so a
 * model with it trains exactly like the same model without it. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/plugin.h"

typedef struct fail_forward {
    long fail_at, raise_at;
    int sig;
    long calls;
} fail_forward;

static const tc_param_desc params[] = {
    {"fail_at", TC_VALUE_INT, 0, 1, 0, 1e9, "the first forward call (1-based) that fails; 0: none"},
    {"raise_at", TC_VALUE_INT, 0, 0, 0, 1e9, "the forward call that raises `signal`; 0: none"},
    {"signal", TC_VALUE_INT, 0, 15, 2, 15, "the signal raise_at sends (2: SIGINT, 15: SIGTERM)"},
};

static int create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    fail_forward *l = calloc(1, sizeof *l);
    if (!l) {
        host->set_error(err, "FailForward: out of memory");
        return 1;
    }
    l->fail_at = (long)v[0];
    l->raise_at = (long)v[1];
    l->sig = (int)v[2];
    *self = l;
    return 0;
}

static void destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt, tc_plan *p,
                tc_error *err)
{
    (void)host, (void)self, (void)n, (void)nt, (void)err;
    p->output = in[0];
    return 0;
}

static int forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    fail_forward *l = self;
    ++l->calls;
    if (l->calls == l->raise_at)
        raise(l->sig);
    if (l->fail_at > 0 && l->calls >= l->fail_at) {
        host->set_error(err, "deliberate failure at forward call %ld", l->calls);
        return 1;
    }
    memcpy(x->output->data, x->inputs[0].data,
           (size_t)tc_shape_count(&x->inputs[0].shape) * sizeof(float));
    return 0;
}

static int backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)self, (void)err;
    if (x->grad_inputs[0].data)
        memcpy(x->grad_inputs[0].data, x->grad_output->data,
               (size_t)tc_shape_count(&x->grad_output->shape) * sizeof(float));
    return 0;
}

static const tc_layer_type type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "FailForward",
    .summary = "identity that fails (or raises a signal) at a chosen forward call (tests)",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_params = 3,
    .params = params,
    .create = create,
    .destroy = destroy,
    .plan = plan,
    .forward = forward,
    .backward = backward,
};

TC_PLUGIN_DEFINE(bad_forward_error)
{
    if (tc_host_check(host, 0, "bad_forward_error", err))
        return 1;
    return host->register_layer(ctx, &type);
}
