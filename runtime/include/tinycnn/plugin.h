/*
 * tinycnn/plugin.h - the layer plugin ABI of tiny-cnn, version 2.
 *
 * This header is all a layer author needs. A plugin is a shared object that
 * exports one C function named TC_PLUGIN_ENTRY ("tc_plugin_init"). The
 * runtime dlopen()s it and calls the entry with a versioned table of host
 * functions (struct tc_host), in the manner of SQLite's loadable extensions,
 * so a plugin never links against the runtime. The entry registers one or
 * more layer types (struct tc_layer_type) through host->register_layer.
 * Define the entry with TC_PLUGIN_DEFINE(id) (below): the same source then
 * also builds into an application as a static plugin, registered with
 * tc_registry_add_static(reg, tc_plugin_init_<id>, ...), without dlopen.
 *
 * Ownership rules (why: plugins then cannot leak, and the graph can plan and
 * reuse memory):
 *   - the graph owns every tensor: inputs, outputs, gradients, learnable
 *     weights, workspace and saved buffers;
 *   - a layer instance owns only its hyperparameters (the `self` pointer made
 *     by create() and freed by destroy()), and declares in plan() how much
 *     scratch memory it needs.
 *
 *   - persistent non-learnable values (BatchNorm's running statistics, a
 *     counter) are declared as state tensors in plan(); the graph owns,
 *     initialises and checkpoints them. Nothing that must survive a
 *     checkpoint round trip may live in *self.
 *
 * Versioning (as SQLite's extension API does it):
 *   - TC_PLUGIN_ABI_VERSION is the major version. It changes only when an
 *     existing field or callback changes meaning; the runtime refuses a layer
 *     type built for another major version, naming the file.
 *   - TC_HOST_LEVEL is the feature level within the major version. The host
 *     table only grows: members are appended, each marked with the level that
 *     added it, never removed or reordered. A member a host lacks lies past
 *     its struct_size or is NULL; test with TC_HOST_HAS(host, member), or
 *     require a level at load time with tc_host_check().
 *   - Every other struct crossing the ABI carries a struct_size (set by
 *     whoever allocates it) or reserved slots, so it can grow too.
 *   - No jansson or libc FILE object ever crosses the ABI.
 *
 * Rules a plugin author would otherwise find by testing:
 *   - plan() is called once at load time with batch 1 and again for every
 *     batch size the graph is prepared for (and may be called again for the
 *     same size); weight and state declarations must not depend on the batch.
 *   - forward() gets x->rng in training and at inference: a stream seeded by
 *     (seed, node name, step), so the same step gives the same draws. It is
 *     NULL in backward().
 *   - x->state is writable in forward() only when x->training is 1; at
 *     inference (and in backward()) it is read-only.
 *   - fan_in / fan_out of a weight are the number of inputs feeding one
 *     output unit and the number of outputs one input unit feeds (Conv2d:
 *     in_channels / groups * kh * kw and out_channels / groups * kh * kw;
 *     Linear: in_features and out_features). Only the He and Xavier inits
 *     read them; a value <= 0 counts as 1.
 *   - Callbacks may run on any thread; two instances may run at the same
 *     time on two threads, so keep no mutable global state.
 */
#ifndef TINYCNN_PLUGIN_H
#define TINYCNN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>  /* snprintf in tc_host_check */
#include <stdlib.h> /* calloc, free in tc_instance_new, tc_instance_free */

#ifdef __cplusplus
extern "C" {
#endif

#define TC_PLUGIN_ABI_VERSION 2u /* major version */
#define TC_HOST_LEVEL 3u         /* feature level of this header (2.1: tc_layer_type.flops,
                                    2.2: tc_layer_type.onnx_export,
                                    2.3: the TC_LAYER_PER_SAMPLE flag) */
#define TC_PLUGIN_ENTRY "tc_plugin_init"
#define TC_MAX_DIMS 6
#define TC_MAX_WEIGHTS 8
#define TC_MAX_STATE 8
#define TC_ERROR_CAP 512

#if defined(__GNUC__)
#define TC_PLUGIN_EXPORT __attribute__((visibility("default")))
#define TC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TC_PLUGIN_EXPORT
#define TC_PRINTF(a, b)
#endif

/* Shapes always include the batch dimension as dims[0]. Images are NCHW. */
typedef struct tc_shape {
    int32_t ndim;
    int32_t reserved;
    int64_t dims[TC_MAX_DIMS];
} tc_shape;

/* A view of a graph-owned, contiguous float32 buffer. */
typedef struct tc_tensor {
    float *data;
    tc_shape shape;
} tc_tensor;

/* An error message buffer; fill it with host->set_error(). */
typedef struct tc_error {
    char msg[TC_ERROR_CAP];
} tc_error;

/* A random stream owned by the runtime (xoshiro256**). Draw from it with
 * host->rng_uniform / host->rng_normal only. */
typedef struct tc_rng {
    uint64_t s[4];
} tc_rng;

/* ---- hyperparameters ---------------------------------------------------
 * A layer declares its hyperparameters; the runtime reads them from the
 * model JSON, checks type and range, applies defaults, and hands create()
 * one double per declared parameter, in declaration order. Integers are
 * exact up to 2^53; booleans are 0 or 1. */
typedef enum tc_value_type {
    TC_VALUE_INT = 1,
    TC_VALUE_FLOAT = 2,
    TC_VALUE_BOOL = 3
} tc_value_type;

typedef struct tc_param_desc {
    const char *name;
    tc_value_type type;
    int32_t required;     /* 1: the model must give it */
    double default_value; /* used when not required and absent */
    double min_value;     /* inclusive range the runtime enforces */
    double max_value;
    const char *help;     /* one line for `tinycnn plugins` */
} tc_param_desc;

/* ---- learnable weights -------------------------------------------------
 * Declared in plan(); the graph allocates them and initialises them from a
 * stream seeded by (seed, node name, weight name), so results never depend
 * on node order or thread count. */
typedef enum tc_init {
    TC_INIT_ZEROS = 0,
    TC_INIT_CONSTANT = 1,       /* every element = a */
    TC_INIT_HE_NORMAL = 2,      /* N(0, sqrt(2 / fan_in)) */
    TC_INIT_HE_UNIFORM = 3,     /* U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)) */
    TC_INIT_XAVIER_UNIFORM = 4, /* U(+-sqrt(6 / (fan_in + fan_out))) */
    TC_INIT_NORMAL = 5,         /* N(a, b) */
    TC_INIT_UNIFORM = 6         /* U(a, b) */
} tc_init;

typedef struct tc_weight_decl {
    const char *name;      /* static string, unique within the layer, e.g. "weight" */
    tc_shape shape;        /* no batch dimension here */
    tc_init init;
    double fan_in;
    double fan_out;
    double a, b;
    int32_t no_decay;      /* 1: weight decay is not applied (biases, scales) */
    int32_t reserved;
} tc_weight_decl;

/* A persistent, non-learnable tensor of a layer (BatchNorm's running mean).
 * The graph allocates it, sets every element to init_value, saves it in
 * checkpoints as "<node>.<name>" and restores it; optimisers and weight
 * decay never see it; it has no gradient. */
typedef struct tc_state_decl {
    const char *name;      /* static string, unique among the layer's weights and state */
    tc_shape shape;        /* no batch dimension here */
    double init_value;
    uint64_t reserved[2];
} tc_state_decl;

/* What plan() reports for one node at one batch size. The runtime allocates
 * and zeroes it and sets struct_size; plan() fills what it needs. */
typedef struct tc_plan {
    uint32_t struct_size;        /* set by the runtime */
    int32_t n_weights;
    tc_shape output;             /* including the batch dimension */
    tc_weight_decl weights[TC_MAX_WEIGHTS];
    size_t workspace_bytes;      /* scratch for one forward or backward call;
                                    shared with other nodes, 64-byte aligned */
    size_t saved_bytes;          /* kept from forward to the matching backward
                                    (e.g. MaxPool's argmax indices) */
    int32_t n_state;             /* ABI 2 */
    int32_t reserved0;
    tc_state_decl state[TC_MAX_STATE];
    uint64_t reserved[8];
} tc_plan;

/* Everything a forward or backward call gets. Pointers are graph-owned and
 * valid for the duration of the call only. */
typedef struct tc_exec {
    uint32_t struct_size;
    int32_t n_inputs;
    const tc_tensor *inputs;       /* n_inputs */
    const tc_tensor *output;       /* forward writes it; backward may read it */
    int32_t n_weights;
    int32_t training;              /* 1 during a training step, 0 at inference */
    const tc_tensor *weights;      /* n_weights, in plan() order */
    void *workspace;               /* workspace_bytes, 64-byte aligned */
    size_t workspace_bytes;
    void *saved;                   /* saved_bytes, 64-byte aligned */
    size_t saved_bytes;
    int32_t n_threads;
    int32_t n_state;               /* ABI 2 */
    tc_rng *rng;                   /* this node's stream for this step; NULL in backward */
    /* backward only (NULL in forward): */
    const tc_tensor *grad_output;
    tc_tensor *grad_inputs;        /* n_inputs; .data is NULL where no gradient
                                      is needed (e.g. the image, the label).
                                      Backward OVERWRITES these. */
    tc_tensor *grad_weights;       /* n_weights; backward OVERWRITES these */
    /* ABI 2: */
    tc_tensor *state;              /* n_state, in plan() order; forward may write
                                      them only when training is 1 */
    void *reserved[7];
} tc_exec;

struct tc_host;

/* ---- ONNX export ---------------------------------------------------------
 * What `tinycnn export` hands a plugin layer's onnx_export callback (ABI
 * 2.2): the node's names and the functions that append ONNX nodes and
 * initializers to the file being written. Names are ONNX value names; all
 * strings and the writer itself are valid for the duration of the call
 * only (the runtime copies what it keeps). Every function returns -1 or
 * NULL on failure with the reason kept by the runtime: return non-zero from
 * the callback then. Opset 13 of the default domain; float tensors only. */
typedef struct tc_onnx_writer {
    uint32_t struct_size;         /* sizeof(tc_onnx_writer) of the host's build */
    int32_t n_inputs;
    const char *node_name;        /* the node's name in the model file */
    const char *const *inputs;    /* n_inputs: the ONNX values the node reads */
    const tc_shape *input_shapes; /* n_inputs: their shapes at batch 1 */
    const char *output;           /* the value the callback must produce */
    void *ctx;                    /* the runtime's; pass it to the functions */

    /* A node op_type(inputs) -> output (a name from above, from temp(),
     * weight() or constant()); returns its handle (>= 0) for the attr_*. */
    int (*node)(void *ctx, const char *op_type, const char *const *inputs, int n_inputs,
                const char *output);
    int (*attr_int)(void *ctx, int node, const char *name, int64_t value);
    int (*attr_float)(void *ctx, int node, const char *name, float value);
    int (*attr_ints)(void *ctx, int node, const char *name, const int64_t *values, int count);
    /* An initializer holding the node's i-th weight (plan() order), stored
     * with shape `as` (same element count; NULL: as declared, e.g. to
     * reshape [C] into [C,1,1] for ONNX's broadcasting); its name. */
    const char *(*weight)(void *ctx, int i, const tc_shape *as);
    /* A float initializer "<node>/<suffix>" copied from data (count of
     * shape elements); its name. */
    const char *(*constant)(void *ctx, const char *suffix, const tc_shape *shape,
                            const float *data);
    /* A fresh intermediate value name, "<node>/<suffix>.<k>". */
    const char *(*temp)(void *ctx, const char *suffix);
    void *reserved[4];
} tc_onnx_writer;

/* Layer type flags. */
#define TC_LAYER_LOSS 1u /* output is the scalar mean loss, shape [1];
                            inputs are [logits, label]; inference skips it */
/* 2.3: at inference, output row i (dims[0] is the batch) depends only on
 * row i of each input, and forward() reads no other rows: the graph may
 * then run a large batch as several passes over slices of its rows, so
 * that the activations of one slice stay in cache. A plugin without the
 * flag (or a host before 2.3) gets the whole batch in one pass. */
#define TC_LAYER_PER_SAMPLE 2u

/* ---- conformance hints ---------------------------------------------------
 * A layer may tell the conformance suite which inputs and parameters to test
 * it with (e.g. a layer that needs H, W >= 8) and how tight its gradient
 * check may be. Shapes include the batch dimension (the suite varies it). */
#define TC_TEST_MAX_INPUTS 4
#define TC_TEST_MAX_PARAMS 8

typedef struct tc_test_param {
    const char *name;
    double value;
} tc_test_param;

typedef struct tc_test_case {
    int32_t n_inputs;
    int32_t n_params;
    tc_shape inputs[TC_TEST_MAX_INPUTS];
    tc_test_param params[TC_TEST_MAX_PARAMS]; /* the rest keep their defaults */
} tc_test_case;

typedef struct tc_test_hints {
    uint32_t struct_size;        /* sizeof(tc_test_hints) of the plugin's build */
    int32_t n_cases;             /* 0: the suite's own shapes */
    const tc_test_case *cases;
    double grad_tolerance;       /* 0: the suite's default (1e-2) */
    double grad_step;            /* 0: the suite's default (1e-2) */
    uint64_t reserved[4];
} tc_test_hints;

/* A layer type: its metadata and its functions. Returning non-zero from any
 * function means failure, with err filled via host->set_error(). Every
 * callback receives the host table, so a layer needs no copy of it. */
typedef struct tc_layer_type {
    uint32_t struct_size;    /* sizeof(tc_layer_type) of the plugin's build */
    uint32_t abi_version;    /* TC_PLUGIN_ABI_VERSION */
    const char *name;        /* type name used in model files, e.g. "Conv2d" */
    const char *summary;     /* one line for `tinycnn plugins` */
    uint32_t flags;          /* TC_LAYER_* */
    int32_t min_inputs;
    int32_t max_inputs;
    int32_t n_params;
    const tc_param_desc *params;

    /* Build an instance from checked parameter values (n_params doubles).
     * The instance owns *self and frees it in destroy(). Both may be NULL
     * for a layer without hyperparameters (then self is NULL). */
    int (*create)(const struct tc_host *host, const double *values, void **self, tc_error *err);
    void (*destroy)(const struct tc_host *host, void *self);

    /* Check input shapes (with batch dimension) and fill plan: output shape,
     * weights, state, scratch sizes. See the rules at the top for when it is
     * called. Must not change *self. */
    int (*plan)(const struct tc_host *host, void *self, const tc_shape *inputs, int n_inputs,
                int n_threads, tc_plan *plan, tc_error *err);

    /* Compute x->output from x->inputs, x->weights and x->state. Must not
     * modify inputs or weights; may update state only when x->training. */
    int (*forward)(const struct tc_host *host, void *self, const tc_exec *x, tc_error *err);

    /* Given x->grad_output, overwrite x->grad_inputs[i].data (where non-NULL)
     * and every x->grad_weights[j].data. Must not modify grad_output. May be
     * NULL for a layer that cannot be trained through. */
    int (*backward)(const struct tc_host *host, void *self, const tc_exec *x, tc_error *err);

    /* ABI 2.0, optional (NULL: the suite's defaults). */
    const tc_test_hints *test_hints;

    /* ABI 2.1, optional (NULL: unknown): the floating-point operations of
     * one forward call at these input shapes (the runtime passes batch 1, so
     * the count is per image), a multiply-add counting as 2; comparisons,
     * exp() and the like count 1 each. A negative value means unknown too.
     * `tinycnn summary` and `tinycnn report` show it. Takes the place of a
     * reserved slot: a type built before 2.1 has NULL there. */
    int64_t (*flops)(const struct tc_host *host, void *self, const tc_shape *inputs,
                     int n_inputs);

    /* ABI 2.2, optional (NULL: `tinycnn export` refuses the layer, naming
     * node and type): append the ONNX nodes computing this layer at
     * inference, from w->inputs to w->output, through w's functions. Return
     * 0 once w->output is produced; non-zero with err set (or a writer
     * function's failure) fails the export. Takes the place of a reserved
     * slot: a type built before 2.2 has NULL there. */
    int (*onnx_export)(const struct tc_host *host, void *self, const tc_onnx_writer *w,
                       tc_error *err);

    void *reserved[6];
} tc_layer_type;

/* The smallest tc_layer_type the runtime accepts for this major version. */
#define TC_LAYER_TYPE_MIN_SIZE (offsetof(tc_layer_type, test_hints))

typedef struct tc_plugin_ctx tc_plugin_ctx; /* opaque registration handle */

/* The versioned table of host functions a plugin may call. Append-only: each
 * member is marked with the feature level that added it ("2.0" = major 2,
 * level 0). Never reorder, never remove. */
typedef struct tc_host {
    uint32_t struct_size;  /* sizeof the host's table: members past it are absent */
    uint32_t abi_version;  /* TC_PLUGIN_ABI_VERSION (major) of the host */

    /* 2.0: register a layer type. The type struct and its strings must stay
     * valid while the plugin is loaded (use static storage). */
    int (*register_layer)(tc_plugin_ctx *ctx, const tc_layer_type *type);

    /* 2.0: printf-style error message into err. */
    void (*set_error)(tc_error *err, const char *fmt, ...) TC_PRINTF(2, 3);

    /* 2.0: row-major single-precision GEMM:
     * C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C.
     * op(X) is X, or X transposed when trans_x is non-zero. Uses the worker
     * threads unless called from inside parallel_for. */
    void (*sgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc);

    /* 2.0: run fn over [0, n) split into contiguous chunks, one per worker
     * thread (static split: the same thread count gives the same chunks). fn
     * gets the index of the chunk in `worker`, below the thread count. */
    void (*parallel_for)(int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                         void *arg);

    float (*rng_uniform)(tc_rng *rng); /* 2.0: [0, 1) */
    float (*rng_normal)(tc_rng *rng);  /* 2.0: N(0, 1) */

    /* 2.0: the host's TC_HOST_LEVEL. It sits here, not beside abi_version,
     * so that the members above keep the offsets they had in ABI 1 and an
     * old plugin reaches register_layer (and is refused there by name). */
    uint32_t level;
    uint32_t reserved0;

    /* New members go here, each marked with its level; TC_HOST_LEVEL grows. */
} tc_host;

/* 1 when host offers `member` (a function pointer of tc_host): it lies
 * within the host's table and is not NULL. */
#define TC_HOST_HAS(host, member)                                                        \
    ((host)->struct_size >= offsetof(tc_host, member) + sizeof((host)->member) &&        \
     (host)->member != NULL)

/* The entry's first step: refuses a host of another major version or below
 * feature level `level`, with a message naming `plugin` written by snprintf
 * (a host of another major version may lay its table out differently, so its
 * set_error cannot be trusted). Returns 0 when the host will do. */
static inline int tc_host_check(const struct tc_host *host, unsigned level, const char *plugin,
                                tc_error *err);

/* The signature of a plugin entry. */
typedef int (*tc_plugin_init_fn)(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err);

/* Defines a plugin's entry, named tc_plugin_init_<id> so that several
 * plugins can be linked into one program, and (unless TC_PLUGIN_STATIC is
 * defined) the exported tc_plugin_init that dlopen() looks up. Use:
 *     TC_PLUGIN_DEFINE(my_layers)
 *     {
 *         if (tc_host_check(host, 0, "my_layers", err))
 *             return 1;
 *         return host->register_layer(ctx, &my_type);
 *     }
 * The body sees host, ctx and err. */
#ifdef TC_PLUGIN_STATIC
#define TC_PLUGIN_DEFINE(id)                                                             \
    int tc_plugin_init_##id(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err);     \
    int tc_plugin_init_##id(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err)
#else
#define TC_PLUGIN_DEFINE(id)                                                             \
    TC_PLUGIN_EXPORT int tc_plugin_init_##id(const tc_host *host, tc_plugin_ctx *ctx,    \
                                             tc_error *err);                             \
    TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx,         \
                                        tc_error *err);                                  \
    TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx,         \
                                        tc_error *err)                                   \
    {                                                                                    \
        return tc_plugin_init_##id(host, ctx, err);                                      \
    }                                                                                    \
    TC_PLUGIN_EXPORT int tc_plugin_init_##id(const tc_host *host, tc_plugin_ctx *ctx,    \
                                             tc_error *err)
#endif

/* Small helpers a plugin can use without linking anything. */
static inline int64_t tc_shape_count(const tc_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dims[i];
    return n;
}

static inline int tc_host_check(const struct tc_host *host, unsigned level, const char *plugin,
                                tc_error *err)
{
    if (host && host->abi_version == TC_PLUGIN_ABI_VERSION &&
        host->struct_size >= offsetof(tc_host, reserved0) &&
        host->level >= level)
        return 0;
    if (err) {
        if (host && host->abi_version == TC_PLUGIN_ABI_VERSION)
            snprintf(err->msg, sizeof err->msg,
                     "%s: needs host feature level 2.%u, this tiny-cnn offers 2.%u; "
                     "upgrade tiny-cnn", plugin, level, host->level);
        else
            snprintf(err->msg, sizeof err->msg,
                     "%s: built for plugin ABI version %u, the host speaks version %u; "
                     "rebuild the plugin against the installed tinycnn/plugin.h",
                     plugin, TC_PLUGIN_ABI_VERSION, host ? host->abi_version : 0u);
    }
    return 1;
}

/* For create(): a zeroed instance of `size` bytes into *self, freed by
 * tc_instance_free; on failure "<layer>: out of memory" and NULL. */
static inline void *tc_instance_new(const struct tc_host *host, const char *layer, size_t size,
                                    void **self, tc_error *err)
{
    void *l = calloc(1, size);
    if (!l)
        host->set_error(err, "%s: out of memory", layer);
    *self = l;
    return l;
}

/* destroy() of a layer whose instance is one block from tc_instance_new. */
static inline void tc_instance_free(const struct tc_host *host, void *self)
{
    (void)host;
    free(self);
}

/* Initializer helpers: each expands to designated fields of a static table
 * (nothing of the ABI changes), e.g.
 *     static const tc_layer_type my_type = {
 *         TC_LAYER_HEAD("MyLayer", "what it computes", 1, 1),
 *         TC_PARAM_TABLE(my_params),
 *         .create = my_create, ...
 *     };
 * TC_STRUCT_HEADER: the size and ABI version of a tc_layer_type or tc_host
 * this plugin was built with. */
#define TC_STRUCT_HEADER(type) .struct_size = sizeof(type), .abi_version = TC_PLUGIN_ABI_VERSION

/* The header, names and input count of a tc_layer_type. */
#define TC_LAYER_HEAD(layer, what, min_in, max_in)                                       \
    TC_STRUCT_HEADER(tc_layer_type), .name = (layer), .summary = (what),                 \
    .min_inputs = (min_in), .max_inputs = (max_in)

/* n_params and params of a tc_layer_type from a static tc_param_desc array. */
#define TC_PARAM_TABLE(table)                                                            \
    .n_params = (int32_t)(sizeof(table) / sizeof((table)[0])), .params = (table)

/* struct_size, n_cases and cases of a tc_test_hints from a static
 * tc_test_case array. */
#define TC_TEST_CASES(table)                                                             \
    .struct_size = sizeof(tc_test_hints),                                                \
    .n_cases = (int32_t)(sizeof(table) / sizeof((table)[0])), .cases = (table)

#ifdef __cplusplus
}
#endif

#endif /* TINYCNN_PLUGIN_H */
