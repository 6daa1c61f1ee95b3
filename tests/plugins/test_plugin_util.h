/*
 * test_plugin_util.h - boilerplate shared by the test plugins in this folder
 * (broken_*.c, bad_*.c, fault_layer.c, needs_big_input.c, faults/fault.c)
 * and by the layer types defined inside tests/test_graph.c and
 * tests/test_state.c: the fixed fields and callbacks of a layer type,
 * allocation and freeing of an instance, one-value instances, a countdown
 * to a deliberate failure, the plan of
 * an elementwise layer, the identity's backward, dropout's pieces, the
 * [batch, channels, positions] view of a shape and the entry point. Each
 * plugin keeps only what it gets right or wrong on purpose, so the one
 * deliberate bug stays easy to see.
 */
#ifndef TINYCNN_TEST_PLUGIN_UTIL_H
#define TINYCNN_TEST_PLUGIN_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/plugin.h"

/* The fields every layer type starts with: sizes, ABI, names, input count. */
#define TPU_TYPE_HEAD(layer, what, min_in, max_in)                                         \
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION,            \
    .name = (layer), .summary = (what), .min_inputs = (min_in), .max_inputs = (max_in)

/* The parameter table fields, from a static array of tc_param_desc. */
#define TPU_TYPE_PARAMS(table)                                                             \
    .n_params = (int32_t)(sizeof(table) / sizeof((table)[0])), .params = (table)

/* The callbacks of a plugin whose instance is one malloc'd block. */
#define TPU_TYPE_FUNCS(create_fn, plan_fn, forward_fn, backward_fn)                         \
    .create = (create_fn), .destroy = tpu_free_self, .plan = (plan_fn),                     \
    .forward = (forward_fn), .backward = (backward_fn)

/* The callbacks of a plugin without parameters or instance (self is NULL). */
#define TPU_TYPE_STATELESS(plan_fn, forward_fn, backward_fn)                                  \
    .plan = (plan_fn), .forward = (forward_fn), .backward = (backward_fn)

/* Callback arguments a function does not use. */
#define TPU_UNUSED(a, b, c) ((void)(a), (void)(b), (void)(c))

/* Zeroed instance of size bytes into *self; on failure "<name>: out of memory". */
static inline void *tpu_alloc(const tc_host *host, size_t size, void **self, const char *name,
                              tc_error *err)
{
    void *l = calloc(1, size);
    if (!l)
        host->set_error(err, "%s: out of memory", name);
    *self = l;
    return l;
}

/* destroy() of a plugin whose instance is one malloc'd block. */
static inline void tpu_free_self(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

/* The instance of a layer with one parameter, kept as given. */
typedef struct tpu_value {
    double v;
} tpu_value;

/* create() body of a tpu_value layer: *self holds values[0]. */
static inline int tpu_create_value(const tc_host *host, const double *values, void **self,
                                   const char *name, tc_error *err)
{
    tpu_value *l = tpu_alloc(host, sizeof *l, self, name, err);
    if (!l)
        return 1;
    l->v = values[0];
    return 0;
}

/* A count of calls and the first one (1-based) from which on something
 * goes wrong on purpose; at 0: never. */
typedef struct tpu_countdown {
    long at;
    long calls;
} tpu_countdown;

/* Counts one call; 1 from call `at` on. */
static inline int tpu_count_call(tpu_countdown *c)
{
    ++c->calls;
    return c->at > 0 && c->calls >= c->at;
}

/* out = in, element by element. */
static inline void tpu_copy(float *out, const float *in, const tc_shape *shape)
{
    memcpy(out, in, sizeof(float) * (size_t)tc_shape_count(shape));
}

/* plan() of an elementwise layer: the output has the shape of input 0. */
static inline int tpu_plan_same(const tc_host *host, void *self, const tc_shape *in,
                                int n_inputs, int n_threads, tc_plan *plan, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    TPU_UNUSED(n_inputs, n_threads, 0);
    plan->output = in[0];
    return 0;
}

/* plan() of an elementwise layer that saves one mask byte an element. */
static inline int tpu_plan_mask(const tc_host *host, void *self, const tc_shape *in,
                                int n_inputs, int n_threads, tc_plan *plan, tc_error *err)
{
    tpu_plan_same(host, self, in, n_inputs, n_threads, plan, err);
    plan->saved_bytes = (size_t)tc_shape_count(&in[0]); /* the keep mask, a byte each */
    return 0;
}

/* Fails with "<name> needs an input [batch, channels, ...]" below 2 dims. */
static inline int tpu_need_channels(const tc_host *host, const tc_shape *in, const char *name,
                                    tc_error *err)
{
    if (in->ndim >= 2)
        return 0;
    host->set_error(err, "%s needs an input [batch, channels, ...]", name);
    return 1;
}

/* Elementwise plan with one per-channel state tensor "running_mean" at 0. */
static inline int tpu_plan_running_mean(const tc_host *host, const tc_shape *in, tc_plan *plan,
                                        const char *name, tc_error *err)
{
    if (tpu_need_channels(host, in, name, err))
        return 1;
    plan->output = in[0];
    plan->n_state = 1;
    plan->state[0] = (tc_state_decl){.name = "running_mean", .shape = {1, 0, {in[0].dims[1]}},
                                     .init_value = 0.0};
    return 0;
}

/* A shape [n, c, ...] as n samples of c channels of m positions. */
static inline void tpu_geometry(const tc_shape *s, int64_t *n, int64_t *c, int64_t *m)
{
    *n = s->dims[0];
    *c = s->dims[1];
    *m = 1;
    for (int d = 2; d < s->ndim; d++)
        *m *= s->dims[d];
}

/* Mean of channel ch of t over the batch and the positions. */
static inline double tpu_channel_mean(const float *t, int64_t n, int64_t c, int64_t m,
                                      int64_t ch)
{
    double acc = 0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < m; i++)
            acc += t[(s * c + ch) * m + i];
    return acc / (double)(n * m);
}

/* out = in - mean over channel ch of an [n, c, m] tensor. */
static inline void tpu_centre_channel(const float *in, float *out, int64_t n, int64_t c,
                                      int64_t m, int64_t ch, double mean)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < m; i++) {
            int64_t k = (s * c + ch) * m + i;
            out[k] = (float)(in[k] - mean);
        }
}

/* backward() of per-channel centring by the batch mean (the running mean
 * plays no part in training): dx = dy - mean(dy) per channel. */
static inline int tpu_centring_backward(const tc_host *host, void *self, const tc_exec *x,
                                        tc_error *err)
{
    int64_t n, c, m;
    TPU_UNUSED(host, self, err);
    if (!x->grad_inputs[0].data)
        return 0;
    tpu_geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *dy = x->grad_output->data;
    for (int64_t ch = 0; ch < c; ch++)
        tpu_centre_channel(dy, x->grad_inputs[0].data, n, c, m, ch,
                           tpu_channel_mean(dy, n, c, m, ch));
    return 0;
}

/* Training forward of inverted dropout: draws the keep mask into x->saved
 * and scales the kept elements by 1 / (1 - p). */
static inline void tpu_dropout_train(const tc_host *host, const tc_exec *x, double p)
{
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    uint8_t *mask = x->saved;
    float scale = (float)(1.0 / (1.0 - p));
    for (int64_t i = 0; i < n; i++) {
        mask[i] = host->rng_uniform(x->rng) >= (float)p;
        x->output->data[i] = mask[i] ? x->inputs[0].data[i] * scale : 0.0f;
    }
}

/* The parameter table of a dropout layer: its probability p. */
#define TPU_DROPOUT_PARAMS                                                                    \
    {"p", TC_VALUE_FLOAT, 0, 0.5, 0.0, 0.9, "probability of zeroing an element"}

/* Fails with "<name> needs a random stream and its mask buffer" without them. */
static inline int tpu_need_rng_mask(const tc_host *host, const tc_exec *x, const char *name,
                                    tc_error *err)
{
    if (x->rng && x->saved)
        return 0;
    host->set_error(err, "%s needs a random stream and its mask buffer", name);
    return 1;
}

/* Backward of inverted dropout through the mask that forward saved. */
static inline int tpu_dropout_backward(const tc_exec *x, double p)
{
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    const uint8_t *mask = x->saved;
    float scale = (float)(1.0 / (1.0 - p));
    if (!x->grad_inputs[0].data)
        return 0;
    for (int64_t i = 0; i < n; i++)
        x->grad_inputs[0].data[i] = mask[i] ? x->grad_output->data[i] * scale : 0.0f;
    return 0;
}

/* backward() of a tpu_value dropout layer whose v is p. */
static inline int tpu_dropout_value_backward(const tc_host *host, void *self, const tc_exec *x,
                                             tc_error *err)
{
    const tpu_value *l = self;
    TPU_UNUSED(host, err, 0);
    return tpu_dropout_backward(x, l->v);
}

/* backward() of the identity: dx = dy. */
static inline int tpu_identity_backward(const tc_host *host, void *self, const tc_exec *x,
                                        tc_error *err)
{
    TPU_UNUSED(host, self, err);
    if (x->grad_inputs[0].data)
        tpu_copy(x->grad_inputs[0].data, x->grad_output->data, &x->inputs[0].shape);
    return 0;
}

/* The entry point of a plugin that registers the one layer type `type`. */
#define TPU_PLUGIN_ENTRY(id, type)                                                            \
    TC_PLUGIN_DEFINE(id)                                                                      \
    {                                                                                         \
        if (tc_host_check(host, 0, #id, err))                                                 \
            return 1;                                                                         \
        return host->register_layer(ctx, &(type));                                            \
    }

/* The entry point of a plugin that registers the two layer types a and b. */
#define TPU_PLUGIN_ENTRY2(id, a, b)                                                           \
    TC_PLUGIN_DEFINE(id)                                                                      \
    {                                                                                         \
        if (tc_host_check(host, 0, #id, err))                                                 \
            return 1;                                                                         \
        if (host->register_layer(ctx, &(a)))                                                  \
            return 1;                                                                         \
        return host->register_layer(ctx, &(b));                                               \
    }

/* The initialisers of a stateless layer type (no parameters, self is NULL). */
#define TPU_STATELESS_TYPE(layer, what, min_in, max_in, plan_fn, forward_fn, backward_fn)      \
    TPU_TYPE_HEAD(layer, what, min_in, max_in), TPU_TYPE_STATELESS(plan_fn, forward_fn, backward_fn)

/* The initialisers of a one-input layer type with parameters (from table). */
#define TPU_ONE_INPUT_TYPE(layer, what, table, create_fn, plan_fn, forward_fn, backward_fn)    \
    TPU_TYPE_HEAD(layer, what, 1, 1), TPU_TYPE_PARAMS(table),                                 \
        TPU_TYPE_FUNCS(create_fn, plan_fn, forward_fn, backward_fn)

/* A plugin `id` of one layer type whose initialisers are the rest of the
 * arguments: the type (id##_type) and the entry point that registers it. */
#define TPU_PLUGIN(id, ...)                                                                   \
    static const tc_layer_type id##_type = {__VA_ARGS__};                                     \
    TPU_PLUGIN_ENTRY(id, id##_type)

/* A plugin `id` of one stateless layer type (no parameters, self is NULL). */
#define TPU_STATELESS_PLUGIN(id, layer, what, min_in, max_in, plan_fn, forward_fn, backward_fn) \
    TPU_PLUGIN(id, TPU_STATELESS_TYPE(layer, what, min_in, max_in, plan_fn, forward_fn,       \
                                      backward_fn))

/* A plugin `id` of one one-input layer type whose instance is a tpu_value
 * holding its one parameter (from table): also defines its create(). */
#define TPU_VALUE_PLUGIN(id, layer, what, table, plan_fn, forward_fn, backward_fn)            \
    static int id##_create(const tc_host *host, const double *values, void **self,           \
                           tc_error *err)                                                    \
    {                                                                                         \
        return tpu_create_value(host, values, self, layer, err);                              \
    }                                                                                         \
    TPU_PLUGIN(id, TPU_ONE_INPUT_TYPE(layer, what, table, id##_create, plan_fn, forward_fn,   \
                                      backward_fn))

/* A plugin `id` of one identity-like layer type: the output has the shape
 * of the input and dx = dy; only create() and forward() are its own. */
#define TPU_IDENTITY_PLUGIN(id, layer, what, table, create_fn, forward_fn)                    \
    TPU_PLUGIN(id, TPU_ONE_INPUT_TYPE(layer, what, table, create_fn, tpu_plan_same,           \
                                      forward_fn, tpu_identity_backward))

/* create() `fn` of a plugin whose instance is one zeroed `type`, then set to
 * the designated initialisers in the rest of the arguments (from v, the
 * parameter values); on failure "<name>: out of memory". */
#define TPU_CREATE(fn, type, name, ...)                                                       \
    static int fn(const tc_host *host, const double *v, void **self, tc_error *err)           \
    {                                                                                         \
        type *l = tpu_alloc(host, sizeof *l, self, name, err);                                \
        if (!l)                                                                               \
            return 1;                                                                         \
        *l = (type){__VA_ARGS__};                                                             \
        return 0;                                                                             \
    }

#endif
