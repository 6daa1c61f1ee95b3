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

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

typedef struct fail_forward {
    tpu_countdown fail; /* from fail_at on */
    long raise_at;
    int sig;
} fail_forward;

static const tc_param_desc params[] = {
    {"fail_at", TC_VALUE_INT, 0, 1, 0, 1e9, "the first forward call (1-based) that fails; 0: none"},
    {"raise_at", TC_VALUE_INT, 0, 0, 0, 1e9, "the forward call that raises `signal`; 0: none"},
    {"signal", TC_VALUE_INT, 0, 15, 2, 15, "the signal raise_at sends (2: SIGINT, 15: SIGTERM)"},
};

TPU_CREATE(create, fail_forward, "FailForward", .fail = {.at = (long)v[0]},
           .raise_at = (long)v[1], .sig = (int)v[2])

static int forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    fail_forward *l = self;
    int failing = tpu_count_call(&l->fail);
    if (l->fail.calls == l->raise_at)
        raise(l->sig);
    if (failing) {
        host->set_error(err, "deliberate failure at forward call %ld", l->fail.calls);
        return 1;
    }
    tpu_copy(x->output->data, x->inputs[0].data, &x->inputs[0].shape);
    return 0;
}

TPU_IDENTITY_PLUGIN(bad_forward_error, "FailForward",
                    "identity that fails (or raises a signal) at a chosen forward call (tests)",
                    params, create, forward)
