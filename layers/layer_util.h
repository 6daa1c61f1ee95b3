/*
 * layer_util.h - small static helpers shared by the standard layer plugins.
 *
 * Header-only on purpose: every plugin is still built only against
 * tinycnn/plugin.h and libc/libm and links nothing of the runtime; this file
 * just saves each layer from repeating input checks, shape printing,
 * overflow-checked sizes, instance allocation, the type's fixed fields and
 * the entry (LU_TYPE_HEAD, LU_PLUGIN), the plans of simple layers, the whole
 * skeleton of an elementwise activation (LU_ELEMENTWISE: a layer gives only
 * its per-element functions) and the window geometry, parameters and plan
 * of the 2-D pooling layers (LU_POOL_LAYER). Helpers that report errors or
 * use the worker threads take the host table the callback was given.
 */
#ifndef TC_LAYER_UTIL_H
#define TC_LAYER_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/plugin.h"

/* Marks a hot loop function to be compiled twice, for AVX2 and for the
 * baseline, the loader picking one for the CPU (GNU ifunc), so that the
 * default build stays portable. No FMA: results do not depend on the pick. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && !defined(TC_NO_CLONES)
#define LU_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LU_AVX2_CLONES
#endif

/* Elementwise loops below this many elements run in the calling thread:
 * waking the workers costs more than the work. */
#define LU_PARALLEL_MIN 32768

/* The same for loops of a few vector instructions per element (ReLU,
 * pooling): below this, the loop takes tens of microseconds, less than what
 * a parallel region risks when another process holds a core (its share
 * waits for a scheduler time slice). */
#define LU_PARALLEL_MIN_CHEAP (1 << 19)

/* Writes "[1,16,5,5]" into buf. */
static inline const char *lu_shape_str(const tc_shape *s, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->ndim && i < TC_MAX_DIMS && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%lld" : "%lld",
                                (long long)s->dims[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
    return buf;
}

#define LU_SHAPE_BUF 160

/* Element count of a shape, refusing negative or zero dimensions and
 * products that overflow int64 (returns non-zero then). */
static inline int lu_count(const tc_shape *s, int64_t *out)
{
    int64_t n = 1;
    if (s->ndim < 1 || s->ndim > TC_MAX_DIMS)
        return 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] <= 0 || __builtin_mul_overflow(n, s->dims[i], &n))
            return 1;
    }
    *out = n;
    return 0;
}

/* a * b * c (non-negative) into *out, non-zero on overflow. */
static inline int lu_mul3(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    int64_t t;
    return __builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, out);
}

/* Bytes of n elements of size `elem`, rounded up to a 64-byte multiple so
 * that slices carved one after another stay aligned. Non-zero on overflow. */
static inline int lu_bytes(int64_t n, size_t elem, size_t *out)
{
    size_t b;
    if (n < 0 || __builtin_mul_overflow((size_t)n, elem, &b) ||
        __builtin_add_overflow(b, (size_t)63, &b))
        return 1;
    *out = b & ~(size_t)63;
    return 0;
}

/* Checks the input count and the shape of each input and reports the usual
 * message on failure. Returns non-zero when the shape is malformed. */
static inline int lu_check_inputs(const tc_host *host, const char *layer, const tc_shape *in,
                                  int n_inputs, int min_inputs, int max_inputs, tc_error *err)
{
    if (n_inputs < min_inputs || n_inputs > max_inputs) {
        if (min_inputs == max_inputs)
            host->set_error(err, "%s takes %d input%s, got %d", layer, min_inputs,
                            min_inputs == 1 ? "" : "s", n_inputs);
        else
            host->set_error(err, "%s takes %d to %d inputs, got %d", layer, min_inputs,
                            max_inputs, n_inputs);
        return 1;
    }
    for (int i = 0; i < n_inputs; i++) {
        int64_t n;
        if (lu_count(&in[i], &n)) {
            char buf[LU_SHAPE_BUF];
            if (in[i].ndim < 1 || in[i].ndim > TC_MAX_DIMS)
                host->set_error(err, "%s input %d has %d dimensions (1..%d allowed)", layer, i,
                                in[i].ndim, TC_MAX_DIMS);
            else
                host->set_error(err, "%s input %d has shape %s: sizes must be positive and "
                                     "their product must fit in 64 bits",
                                layer, i, lu_shape_str(&in[i], buf, sizeof buf));
            return 1;
        }
    }
    return 0;
}

/* Runs fn over [0, n): in the calling thread for small n, else through the
 * host's worker threads. */
static inline void lu_for(const tc_host *host, int64_t n,
                          void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                          void *arg)
{
    if (n <= 0)
        return;
    if (n < LU_PARALLEL_MIN)
        fn(arg, 0, n, 0);
    else
        host->parallel_for(n, fn, arg);
}

/* Like lu_for, for n items of `work` elementary steps in total (e.g. planes
 * of a pooling layer); `min_work` is LU_PARALLEL_MIN or
 * LU_PARALLEL_MIN_CHEAP. */
static inline void lu_for_work(const tc_host *host, int64_t n, int64_t work, int64_t min_work,
                               void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                               void *arg)
{
    if (n <= 0)
        return;
    if (work < min_work || n == 1)
        fn(arg, 0, n, 0);
    else
        host->parallel_for(n, fn, arg);
}

/* ---- instances and registration ----------------------------------------- */

/* A zeroed instance into *self, and destroy() freeing it (see plugin.h). */
#define lu_new tc_instance_new
#define lu_destroy tc_instance_free

/* The fields every layer type starts with: sizes, ABI, names, input count. */
/* Every standard layer but the loss is per sample at inference (a slice
 * of the batch's rows in, the same rows out). */
#define LU_TYPE_HEAD(layer, what, min_in, max_in) \
    TC_LAYER_HEAD(layer, what, min_in, max_in), .flags = TC_LAYER_PER_SAMPLE

/* The parameter table fields, from a static array of tc_param_desc. */
#define LU_TYPE_PARAMS(table) TC_PARAM_TABLE(table)

/* create() and destroy() of a layer whose create is prefix_create, whose
 * parameter table is prefix_params and whose instance is one block. */
#define LU_TYPE_CONFIG(prefix)                                                             \
    LU_TYPE_PARAMS(prefix##_params), .create = prefix##_create, .destroy = lu_destroy

/* The callbacks prefix_plan, prefix_forward, prefix_backward, prefix_flops. */
#define LU_TYPE_CALLBACKS(prefix)                                                          \
    .plan = prefix##_plan, .forward = prefix##_forward, .backward = prefix##_backward,      \
    .flops = prefix##_flops

/* The entry of a plugin registering the one layer type `type` named `layer`. */
#define LU_PLUGIN(id, layer, type)                                                         \
    TC_PLUGIN_DEFINE(id)                                                                   \
    {                                                                                      \
        if (tc_host_check(host, 0, (layer), err))                                          \
            return 1;                                                                      \
        return host->register_layer(ctx, &(type));                                         \
    }

/* ---- plans --------------------------------------------------------------- */

/* Fills a plan with output shape `out`, no weights and no scratch but
 * `saved` bytes. */
static inline int lu_plan_simple(tc_plan *plan, tc_shape out, size_t saved)
{
    plan->output = out;
    plan->n_weights = 0;
    plan->workspace_bytes = 0;
    plan->saved_bytes = saved;
    return 0;
}

/* plan() of a one-input layer whose output has its input's shape. */
static inline int lu_plan_same(const tc_host *host, const char *layer, const tc_shape *in,
                               int n_inputs, tc_plan *plan, tc_error *err)
{
    if (lu_check_inputs(host, layer, in, n_inputs, 1, 1, err))
        return 1;
    return lu_plan_simple(plan, in[0], 0);
}

/* The gradient buffer of input i, or NULL when none is wanted. */
static inline float *lu_grad_in(const tc_exec *x, int i)
{
    return x->grad_inputs ? x->grad_inputs[i].data : NULL;
}

/* Copies n floats unless dst already is src (the graph may alias them). */
static inline void lu_copy(float *dst, const float *src, int64_t n)
{
    if (dst != src)
        memcpy(dst, src, sizeof(float) * (size_t)n);
}

/* ---- forward FLOPs (plugin ABI 2.1: tc_layer_type.flops) -----------------
 * What `tinycnn summary` shows, per image (the runtime passes batch-1
 * shapes): a multiply-add counts 2; a comparison, addition, division or exp
 * counts 1. */
typedef int (*lu_plan_fn)(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                          int n_threads, tc_plan *plan, tc_error *err);

/* `per` operations per element of the output that `plan` gives for these
 * inputs: for layers whose cost follows their output. -1 (unknown) when
 * plan refuses the shapes. */
static inline int64_t lu_flops_per_output(lu_plan_fn plan, const tc_host *host, void *self,
                                          const tc_shape *in, int n_inputs, int64_t per)
{
    tc_plan p;
    tc_error e;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    if (plan(host, self, in, n_inputs, 1, &p, &e) != 0)
        return -1;
    return per * tc_shape_count(&p.output);
}

/* flops() of a layer doing `per` operations per element of its first input. */
#define LU_FLOPS_PER_INPUT(prefix, per)                                                    \
    static int64_t prefix##_flops(const tc_host *host, void *self, const tc_shape *in,      \
                                  int n_inputs)                                            \
    {                                                                                      \
        (void)host;                                                                        \
        (void)self;                                                                        \
        (void)n_inputs;                                                                    \
        return (int64_t)(per) * tc_shape_count(&in[0]);                                    \
    }

/* ---- elementwise layers --------------------------------------------------
 * A one-input elementwise layer (ReLU, Sigmoid, ...) defines only its two
 * per-element functions, as static inline functions
 *     float fwd(float x, float p)
 *     float bwd(float x, float y, float dy, float p)
 * (x the input, y the forward output, dy the upstream gradient, p the
 * layer's one float hyperparameter, or 0 without one), and gets its plan(),
 * forward() and backward() (prefix_plan, ...; LU_ELEMENTWISE_CALLBACKS
 * names them in the type) from LU_ELEMENTWISE. Both loops run over the
 * worker threads from `min_work` elements on; `attrs` is LU_AVX2_CLONES or
 * empty. The functions are inlined into the loops, so a loop is as fast as a
 * hand-written one. */
typedef struct lu_eltwise_job {
    float p;
    int backward;
    const float *x, *y, *dy;
    float *out;
} lu_eltwise_job;

/* self is NULL or points to the layer's float hyperparameter. */
static inline float lu_eltwise_param(const void *self)
{
    return self ? *(const float *)self : 0.0f;
}

#define LU_ELEMENTWISE(prefix, layer, attrs, min_work, fwd, bwd)                           \
    static int prefix##_plan(const tc_host *host, void *self, const tc_shape *in,          \
                             int n_inputs, int n_threads, tc_plan *plan, tc_error *err)    \
    {                                                                                      \
        (void)self;                                                                        \
        (void)n_threads;                                                                   \
        return lu_plan_same(host, (layer), in, n_inputs, plan, err);                       \
    }                                                                                      \
    /* one loop each way; the direction is fixed per call */                               \
    attrs static void prefix##_chunk(void *arg, int64_t begin, int64_t end, int worker)    \
    {                                                                                      \
        const lu_eltwise_job *j = arg;                                                     \
        const float p = j->p;                                                              \
        (void)worker;                                                                      \
        if (j->backward)                                                                   \
            for (int64_t i = begin; i < end; i++)                                          \
                j->out[i] = bwd(j->x[i], j->y[i], j->dy[i], p);                            \
        else                                                                               \
            for (int64_t i = begin; i < end; i++)                                          \
                j->out[i] = fwd(j->x[i], p);                                               \
    }                                                                                      \
    static int prefix##_run(const tc_host *host, void *self, const tc_exec *x, int backward, \
                            tc_error *err)                                                 \
    {                                                                                      \
        (void)err;                                                                         \
        lu_eltwise_job j = {.p = lu_eltwise_param(self), .x = x->inputs[0].data,           \
                            .backward = backward};                                         \
        if (backward) {                                                                    \
            j.y = x->output->data;                                                         \
            j.dy = x->grad_output->data;                                                   \
            j.out = lu_grad_in(x, 0);                                                      \
        } else {                                                                           \
            j.out = x->output->data;                                                       \
        }                                                                                  \
        int64_t n = tc_shape_count(&x->inputs[0].shape);                                   \
        if (j.out)                                                                         \
            lu_for_work(host, n, n, (min_work), prefix##_chunk, &j);                       \
        return 0;                                                                          \
    }                                                                                      \
    static int prefix##_forward(const tc_host *host, void *self, const tc_exec *x,         \
                                tc_error *err)                                             \
    {                                                                                      \
        return prefix##_run(host, self, x, 0, err);                                        \
    }                                                                                      \
    static int prefix##_backward(const tc_host *host, void *self, const tc_exec *x,        \
                                 tc_error *err)                                            \
    {                                                                                      \
        return prefix##_run(host, self, x, 1, err);                                        \
    }

#define LU_ELEMENTWISE_CALLBACKS(prefix)                                                   \
    .plan = prefix##_plan, .forward = prefix##_forward, .backward = prefix##_backward,     \
    .flops = prefix##_flops /* LU_FLOPS_PER_INPUT(prefix, per element) */

/* ---- 2-D pooling windows (MaxPool2d, AvgPool2d) -------------------------- */

typedef struct lu_pool {
    int64_t kernel, stride, padding;
} lu_pool;

/* The parameter table of a pooling layer, in the order lu_pool_create reads. */
#define LU_POOL_PARAMS                                                                     \
    {"kernel_size", TC_VALUE_INT, 1, 0, 1, 1024, "square window side"},                    \
    {"stride", TC_VALUE_INT, 0, 0, 0, 1024, "step between windows; 0 means kernel_size"},  \
    {"padding", TC_VALUE_INT, 0, 0, 0, 1024, "border added on each side, at most kernel_size/2"}

/* create() of a pooling layer: an lu_pool (freed by lu_destroy) from
 * kernel_size, stride (0: the kernel size) and padding (at most k/2). */
static inline int lu_pool_create(const tc_host *host, const char *layer, const double *v,
                                 void **self, tc_error *err)
{
    lu_pool m = {(int64_t)v[0], v[1] == 0.0 ? (int64_t)v[0] : (int64_t)v[1], (int64_t)v[2]};
    if (m.kernel < 1 || m.stride < 1 || m.padding < 0) {
        host->set_error(err, "%s: kernel_size must be >= 1, stride >= 0 and "
                             "padding >= 0 (got %g, %g, %g)", layer, v[0], v[1], v[2]);
        return 1;
    }
    if (m.padding > m.kernel / 2) {
        /* a window made only of padding would have no maximum, and as in
         * PyTorch, a mean mostly of padding is meaningless */
        host->set_error(err, "%s padding %lld must be at most kernel_size/2 = %lld", layer,
                        (long long)m.padding, (long long)(m.kernel / 2));
        return 1;
    }
    lu_pool *l = lu_new(host, layer, sizeof *l, self, err);
    if (l)
        *l = m;
    return !l;
}

/* The geometry of one pooling call on an NCHW input. */
typedef struct lu_pool_geom {
    int64_t n, c, h, w, k, s, p, oh, ow;
    int64_t planes, hw, ohw, outputs; /* N*C, H*W, OH*OW, N*C*OH*OW */
    size_t saved_bytes;               /* the int32 argmax per output, when kept */
} lu_pool_geom;

/* Window [*b, *e) along one axis of `size` pixels for output index o,
 * clipped to the image (the padding lies outside it). */
static inline void lu_pool_span(const lu_pool_geom *g, int64_t o, int64_t size, int64_t *b,
                                int64_t *e)
{
    int64_t o0 = o * g->s - g->p;
    *b = o0 < 0 ? 0 : o0;
    *e = o0 + g->k > size ? size : o0 + g->k;
}

/* The window [*hb, *he) x [*wb, *we) of output (oh, ow), clipped. */
static inline void lu_pool_window(const lu_pool_geom *g, int64_t oh, int64_t ow, int64_t *hb,
                                  int64_t *he, int64_t *wb, int64_t *we)
{
    lu_pool_span(g, oh, g->h, hb, he);
    lu_pool_span(g, ow, g->w, wb, we);
}

/* The output size and the counts of g from the padded input ph x pw; with
 * `argmax`, the saved bytes of an int32 in-plane position per output. */
static inline int lu_pool_sizes(const tc_host *host, const char *layer, const tc_shape *in,
                                int64_t ph, int64_t pw, int argmax, lu_pool_geom *g,
                                tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    if (g->k > ph || g->k > pw) {
        host->set_error(err, "%s kernel %lldx%lld is larger than the padded input "
                             "%lldx%lld (input %s, padding %lld)", layer,
                        (long long)g->k, (long long)g->k, (long long)ph, (long long)pw,
                        lu_shape_str(in, buf, sizeof buf), (long long)g->p);
        return 1;
    }
    g->oh = (ph - g->k) / g->s + 1;
    g->ow = (pw - g->k) / g->s + 1;
    if (lu_mul3(g->n, g->c, 1, &g->planes) || lu_mul3(g->h, g->w, 1, &g->hw) ||
        lu_mul3(g->oh, g->ow, 1, &g->ohw) || lu_mul3(g->planes, g->ohw, 1, &g->outputs) ||
        (argmax && (lu_bytes(g->outputs, sizeof(int32_t), &g->saved_bytes) ||
                    g->hw > INT32_MAX))) {
        host->set_error(err, "%s on input %s: sizes overflow%s", layer,
                        lu_shape_str(in, buf, sizeof buf),
                        argmax ? " (a plane must have fewer than 2^31 pixels)" : "");
        return 1;
    }
    return 0;
}

/* Checks a 4-D input against the window m and fills g (see lu_pool_sizes
 * for `argmax`); the message on failure names the layer and the input. */
static inline int lu_pool_geometry(const tc_host *host, const char *layer, const lu_pool *m,
                                   const tc_shape *in, int argmax, lu_pool_geom *g,
                                   tc_error *err)
{
    char buf[LU_SHAPE_BUF];
    if (in->ndim != 4) {
        host->set_error(err, "%s needs a 4-D input [batch, channels, height, width], "
                             "got %s", layer, lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    *g = (lu_pool_geom){.n = in->dims[0], .c = in->dims[1], .h = in->dims[2],
                        .w = in->dims[3], .k = m->kernel, .s = m->stride, .p = m->padding};
    int64_t ph, pw;
    if (__builtin_add_overflow(g->h, 2 * g->p, &ph) ||
        __builtin_add_overflow(g->w, 2 * g->p, &pw)) {
        host->set_error(err, "%s on input %s: padded size overflows", layer,
                        lu_shape_str(in, buf, sizeof buf));
        return 1;
    }
    return lu_pool_sizes(host, layer, in, ph, pw, argmax, g, err);
}

/* plan() of a pooling layer: [N, C, OH, OW], and the argmax bytes. */
static inline int lu_pool_plan(const tc_host *host, const char *layer, const lu_pool *m,
                               const tc_shape *in, int n_inputs, int argmax, tc_plan *plan,
                               tc_error *err)
{
    lu_pool_geom g;
    if (lu_check_inputs(host, layer, in, n_inputs, 1, 1, err) ||
        lu_pool_geometry(host, layer, m, &in[0], argmax, &g, err))
        return 1;
    return lu_plan_simple(plan, (tc_shape){.ndim = 4, .dims = {g.n, g.c, g.oh, g.ow}},
                          g.saved_bytes);
}

/* One plane of a pooling call: forward reads an input plane and writes an
 * output plane (and the argmax positions am, when kept); backward reads an
 * output-gradient plane (and am) and overwrites an input-gradient plane. */
typedef void (*lu_pool_plane_fn)(const lu_pool_geom *g, const float *in, float *out,
                                 int32_t *am);

typedef struct lu_pool_job {
    const lu_pool_geom *g;
    const float *in;
    float *out;
    int32_t *arg; /* the argmax per output, or NULL */
    int backward;
    lu_pool_plane_fn plane;
} lu_pool_job;

static inline void lu_pool_planes(void *arg, int64_t begin, int64_t end, int worker)
{
    const lu_pool_job *j = arg;
    const lu_pool_geom *g = j->g;
    const int64_t in_plane = j->backward ? g->ohw : g->hw;
    const int64_t out_plane = j->backward ? g->hw : g->ohw;
    (void)worker;
    for (int64_t pl = begin; pl < end; pl++)
        j->plane(g, j->in + pl * in_plane, j->out + pl * out_plane,
                 j->arg ? j->arg + pl * g->ohw : NULL);
}

/* What a pooling layer adds to the shared code: its name, whether it keeps
 * the argmax (as in lu_pool_sizes), its two plane functions, and when its
 * loops are worth threading: from `min_work` steps on, counting k*k per
 * output forward and, backward, a plane's clearing and per output k*k with
 * `back_win`, else 1. */
typedef struct lu_pool_kind {
    const char *layer;
    int argmax;
    int64_t min_work;
    int back_win;
    lu_pool_plane_fn forward, backward;
} lu_pool_kind;

/* forward() or backward() of a pooling layer: the geometry of this call,
 * then the plane function over every plane. With argmax, backward needs
 * the positions forward saved. */
static inline int lu_pool_run(const tc_host *host, const lu_pool_kind *kind, const lu_pool *m,
                              const tc_exec *x, int backward, tc_error *err)
{
    lu_pool_geom g;
    if (lu_pool_geometry(host, kind->layer, m, &x->inputs[0].shape, kind->argmax, &g, err))
        return 1;
    /* at inference no backward reads the argmax: not written */
    int kept = kind->argmax && x->saved && x->saved_bytes >= g.saved_bytes &&
               (backward || x->training);
    lu_pool_job j = {.g = &g, .arg = kept ? x->saved : NULL, .backward = backward,
                     .plane = backward ? kind->backward : kind->forward};
    int64_t work = g.planes * g.ohw * g.k * g.k;
    if (backward) {
        j.in = x->grad_output->data;
        j.out = lu_grad_in(x, 0);
        if (!j.out)
            return 0;
        if (kind->argmax && !kept) {
            host->set_error(err, "%s backward: the saved argmax buffer is missing or "
                                 "smaller than the %zu bytes plan() asked for", kind->layer,
                            g.saved_bytes);
            return 1;
        }
        work = g.planes * (g.hw + g.ohw * (kind->back_win ? g.k * g.k : 1));
    } else {
        j.in = x->inputs[0].data;
        j.out = x->output->data;
    }
    lu_for_work(host, g.planes, work, kind->min_work, lu_pool_planes, &j);
    return 0;
}

/* The whole type `prefix_type` of the pooling layer `prefix` named `layer`
 * (`what`: its summary) from its two plane functions, defined before it;
 * the other arguments as in lu_pool_kind. */
#define LU_POOL_LAYER(prefix, layer, what, argmax, min_work, back_win, fwd_plane, bwd_plane) \
    static const tc_param_desc prefix##_params[] = {LU_POOL_PARAMS};                       \
    static const lu_pool_kind prefix##_kind = {(layer), (argmax), (min_work), (back_win),  \
                                               (fwd_plane), (bwd_plane)};                  \
    static int prefix##_create(const tc_host *host, const double *v, void **self,           \
                               tc_error *err)                                              \
    {                                                                                      \
        return lu_pool_create(host, (layer), v, self, err);                                \
    }                                                                                      \
    static int prefix##_plan(const tc_host *host, void *self, const tc_shape *in,           \
                             int n_inputs, int n_threads, tc_plan *plan, tc_error *err)    \
    {                                                                                      \
        (void)n_threads;                                                                   \
        return lu_pool_plan(host, (layer), self, in, n_inputs, (argmax), plan, err);       \
    }                                                                                      \
    /* k*k per output: k*k - 1 comparisons or additions, and the pick or the scaling */     \
    static int64_t prefix##_flops(const tc_host *host, void *self, const tc_shape *in,      \
                                  int n_inputs)                                            \
    {                                                                                      \
        const lu_pool *m = self;                                                           \
        return lu_flops_per_output(prefix##_plan, host, self, in, n_inputs,                 \
                                   m->kernel * m->kernel);                                 \
    }                                                                                      \
    static int prefix##_forward(const tc_host *host, void *self, const tc_exec *x,          \
                                tc_error *err)                                             \
    {                                                                                      \
        return lu_pool_run(host, &prefix##_kind, self, x, 0, err);                         \
    }                                                                                      \
    static int prefix##_backward(const tc_host *host, void *self, const tc_exec *x,         \
                                 tc_error *err)                                            \
    {                                                                                      \
        return lu_pool_run(host, &prefix##_kind, self, x, 1, err);                         \
    }                                                                                      \
    static const tc_layer_type prefix##_type = {                                           \
        LU_TYPE_HEAD((layer), (what), 1, 1), LU_TYPE_CONFIG(prefix), LU_TYPE_CALLBACKS(prefix)}

#endif
