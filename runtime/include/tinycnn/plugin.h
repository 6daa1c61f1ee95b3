/*
 * tinycnn/plugin.h - the layer plugin ABI of tiny-cnn.
 *
 * This header is all a layer author needs. A plugin is a shared object that
 * exports one C function named TC_PLUGIN_ENTRY ("tc_plugin_init"). The
 * runtime dlopen()s it and calls the entry with a versioned table of host
 * functions (struct tc_host), in the manner of SQLite's loadable extensions,
 * so a plugin never links against the runtime. The entry registers one or
 * more layer types (struct tc_layer_type) through host->register_layer.
 *
 * Ownership rules (why: plugins then cannot leak, and the graph can plan and
 * reuse memory):
 *   - the graph owns every tensor: inputs, outputs, gradients, learnable
 *     weights, workspace and saved buffers;
 *   - a layer instance owns only its hyperparameters (the `self` pointer made
 *     by create() and freed by destroy()), and declares in plan() how much
 *     scratch memory it needs.
 *
 * Compatibility rules: every struct crossing the ABI starts with a
 * struct_size field or ends with reserved slots, so it can grow without
 * breaking old plugins. No jansson or libc FILE object ever crosses it.
 * TC_PLUGIN_ABI_VERSION changes only when an existing field changes meaning;
 * the runtime refuses a layer type built for another ABI version.
 */
#ifndef TINYCNN_PLUGIN_H
#define TINYCNN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_PLUGIN_ABI_VERSION 1u
#define TC_PLUGIN_ENTRY "tc_plugin_init"
#define TC_MAX_DIMS 6
#define TC_MAX_WEIGHTS 8
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

/* What plan() reports for one node at one batch size. */
typedef struct tc_plan {
    uint32_t struct_size;        /* set by the runtime */
    int32_t n_weights;
    tc_shape output;             /* including the batch dimension */
    tc_weight_decl weights[TC_MAX_WEIGHTS];
    size_t workspace_bytes;      /* scratch for one forward or backward call;
                                    shared with other nodes, 64-byte aligned */
    size_t saved_bytes;          /* kept from forward to the matching backward
                                    (e.g. MaxPool's argmax indices) */
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
    int32_t reserved0;
    tc_rng *rng;                   /* this node's stream for this step */
    /* backward only (NULL in forward): */
    const tc_tensor *grad_output;
    tc_tensor *grad_inputs;        /* n_inputs; .data is NULL where no gradient
                                      is needed (e.g. the image, the label).
                                      Backward OVERWRITES these. */
    tc_tensor *grad_weights;       /* n_weights; backward OVERWRITES these */
    void *reserved[8];
} tc_exec;

struct tc_host;

/* Layer type flags. */
#define TC_LAYER_LOSS 1u /* output is the scalar mean loss, shape [1];
                            inputs are [logits, label]; inference skips it */

/* A layer type: its metadata and its functions. Returning non-zero from any
 * function means failure, with err filled via host->set_error(). */
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
     * The instance owns *self and frees it in destroy(). May be NULL for a
     * layer without hyperparameters (then self is NULL). */
    int (*create)(const struct tc_host *host, const double *values, void **self, tc_error *err);
    void (*destroy)(void *self);

    /* Check input shapes (with batch dimension) and fill plan: output shape,
     * weights, scratch sizes. Called once at load time with batch 1 and again
     * for each batch size; weight shapes must not depend on the batch size. */
    int (*plan)(void *self, const tc_shape *inputs, int n_inputs, int n_threads,
                tc_plan *plan, tc_error *err);

    /* Compute x->output from x->inputs and x->weights. Must not modify inputs. */
    int (*forward)(void *self, const tc_exec *x, tc_error *err);

    /* Given x->grad_output, overwrite x->grad_inputs[i].data (where non-NULL)
     * and every x->grad_weights[j].data. Must not modify grad_output. */
    int (*backward)(void *self, const tc_exec *x, tc_error *err);

    void *reserved[8];
} tc_layer_type;

typedef struct tc_plugin_ctx tc_plugin_ctx; /* opaque registration handle */

/* The versioned table of host functions a plugin may call. */
typedef struct tc_host {
    uint32_t struct_size;
    uint32_t abi_version;

    /* Register a layer type. The type struct and its strings must stay valid
     * while the plugin is loaded (use static storage). */
    int (*register_layer)(tc_plugin_ctx *ctx, const tc_layer_type *type);

    /* printf-style error message into err. */
    void (*set_error)(tc_error *err, const char *fmt, ...) TC_PRINTF(2, 3);

    /* Row-major single-precision GEMM:
     * C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C.
     * op(X) is X, or X transposed when trans_x is non-zero. Uses the worker
     * threads unless called from inside parallel_for. */
    void (*sgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc);

    /* Run fn over [0, n) split into contiguous chunks, one per worker thread
     * (static split: the same thread count gives the same chunks). fn gets the
     * index of the chunk in `worker`, below the thread count. */
    void (*parallel_for)(int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                         void *arg);

    float (*rng_uniform)(tc_rng *rng); /* [0, 1) */
    float (*rng_normal)(tc_rng *rng);  /* N(0, 1) */

    void *reserved[16];
} tc_host;

/* The one symbol a plugin exports. */
typedef int (*tc_plugin_init_fn)(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err);

/* Small helpers a plugin can use without linking anything. */
static inline int64_t tc_shape_count(const tc_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dims[i];
    return n;
}

#ifdef __cplusplus
}
#endif

#endif /* TINYCNN_PLUGIN_H */
