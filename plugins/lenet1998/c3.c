/*
 * c3.c - LeNetC3: the C3 layer of LeNet-5 as LeCun, Bottou, Bengio and
 * Haffner describe it ("Gradient-based learning applied to document
 * recognition", Proc. IEEE 86(11), 1998, section II-B and Table I).
 *
 * C3 maps the 6 feature maps of S2 to 16 maps with k x k kernels (k = 5 in
 * the paper), valid convolution, stride 1. Unlike a dense convolution, each
 * output map sees only a subset of the input maps (Table I): maps 0-5 take 3
 * contiguous input maps, 6-11 take 4 contiguous ones, 12-14 take 4
 * non-contiguous ones and 15 takes all 6: 60 connections instead of 96. The
 * paper's reasons: fewer connections, and broken symmetry, so that the maps
 * are pushed to extract different features.
 *
 * Weights are stored COMPACTLY: "weight" is [60, k, k], one k x k kernel per
 * connection, in the order of c3_maps below (output map 0's three kernels,
 * then map 1's, ...); "bias" is [16]. So no stored weight goes unused: none
 * for the optimiser or weight decay to touch in vain, and a checkpoint holds
 * exactly the paper's 1,500 + 16 trainable parameters for k = 5. (The
 * compute expands them into a zero-masked dense matrix in the workspace:
 * see "compute" below.)
 *
 * The plugin defines its entry with TC_PLUGIN_DEFINE(lenet1998), so it can
 * also be linked statically into a program (-DTC_PLUGIN_STATIC) and
 * registered with tc_registry_add_static(reg, tc_plugin_init_lenet1998, ...).
 */
#include <stdio.h>
#include <string.h>

#include <tinycnn/plugin.h>

#define C3_IN 6
#define C3_OUT 16
#define C3_CONN 60

/* Table I, by output map: the input maps of output map o are
 * c3_maps[c3_first[o] .. c3_first[o + 1]). The kernel of connection j is
 * weight[j]. */
static const int c3_first[C3_OUT + 1] = {0,  3,  6,  9,  12, 15, 18, 22, 26,
                                         30, 34, 38, 42, 46, 50, 54, 60};
static const int c3_maps[C3_CONN] = {
    0, 1, 2,  1, 2, 3,  2, 3, 4,  3, 4, 5,  4, 5, 0,  5, 0, 1,                  /* 0-5 */
    0, 1, 2, 3,  1, 2, 3, 4,  2, 3, 4, 5,  3, 4, 5, 0,  4, 5, 0, 1,  5, 0, 1, 2, /* 6-11 */
    0, 1, 3, 4,  1, 2, 4, 5,  0, 2, 3, 5,                                       /* 12-14 */
    0, 1, 2, 3, 4, 5,                                                           /* 15 */
};

typedef struct c3 {
    int64_t k;
    int bias;
} c3;

static const tc_param_desc c3_params[] = {
    {"kernel_size", TC_VALUE_INT, 0, 5, 1, 64, "square kernel side (the paper: 5)"},
    {"bias", TC_VALUE_BOOL, 0, 1, 0, 1, "learn a bias per output map"},
};

/* The conformance suite's own candidate shapes have 2 or 3 channels; C3
 * needs exactly 6. Odd, uneven sizes, with a kernel smaller than the input. */
static const tc_test_case c3_cases[] = {
    {.n_inputs = 1, .n_params = 1,
     .inputs = {{.ndim = 4, .dims = {2, 6, 7, 8}}},
     .params = {{"kernel_size", 3}}},
    {.n_inputs = 1, .n_params = 0,
     .inputs = {{.ndim = 4, .dims = {2, 6, 9, 10}}}},
};

static const tc_test_hints c3_hints = {
    TC_TEST_CASES(c3_cases),
    /* C3 is linear in its input and its weights: central differences are
     * exact at any step, and a longer one loses less to float rounding in
     * sums of up to 150 products (0.0017 worst relative error against
     * 0.0033 at the suite's 0.01). */
    .grad_step = 0.05,
};

static int c3_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    c3 *l = tc_instance_new(host, "LeNetC3", sizeof *l, self, err);
    if (!l)
        return 1;
    l->k = (int64_t)values[0];
    l->bias = values[1] != 0.0;
    return 0;
}

/* ---- compute ----------------------------------------------------------
 * Each sample is unfolded (im2col) into cols [6*k*k, OH*OW], and one GEMM
 * with the kernels expanded to a dense [16, 6*k*k] matrix, zero where Table
 * I has no connection, gives all 16 maps: 96/60 of the multiply-adds a
 * sparse loop needs, but a GEMM runs them several times faster than short
 * hand-written loops over 10-pixel rows. Backward is the same two GEMMs
 * transposed; only the connected kernels' gradients are gathered back.
 *
 * The batch is split into `slices` (one per worker thread, at most one per
 * sample), each with its own part of the workspace; weight gradients are
 * summed per slice and the slices added in order, so results depend only on
 * the batch size and the thread count. */

typedef struct geom {
    int64_t n, h, w, k, oh, ow;
    int64_t rows, ohw;   /* 6*k*k rows of cols, OH*OW columns */
    int64_t slices;
    size_t dense_bytes;  /* the expanded kernels, shared */
    size_t slice_bytes;  /* cols + dcols + dWd partial + db partial, per slice */
} geom;

static size_t round64(size_t b)
{
    return (b + 63) & ~(size_t)63;
}

static void geom_of(const c3 *l, const tc_shape *in, int n_threads, geom *g)
{
    g->n = in->dims[0];
    g->h = in->dims[2];
    g->w = in->dims[3];
    g->k = l->k;
    g->oh = g->h - g->k + 1;
    g->ow = g->w - g->k + 1;
    g->rows = C3_IN * g->k * g->k;
    g->ohw = g->oh * g->ow;
    g->slices = n_threads < 1 ? 1 : n_threads;
    if (g->slices > g->n)
        g->slices = g->n < 1 ? 1 : g->n;
    g->dense_bytes = round64(sizeof(float) * (size_t)(C3_OUT * g->rows));
    g->slice_bytes = 2 * round64(sizeof(float) * (size_t)(g->rows * g->ohw)) +
                     round64(sizeof(float) * (size_t)(C3_OUT * g->rows)) +
                     round64(sizeof(float) * C3_OUT);
}

static size_t workspace_of(const geom *g)
{
    return g->dense_bytes + g->slice_bytes * (size_t)g->slices;
}

/* Sizes and pointers of one call, shared by the slices. */
typedef struct c3_job {
    const tc_host *host;
    geom g;
    const float *x, *b, *dy, *dense;
    float *y, *dx;
    char *slots; /* slice s: slots + s * slice_bytes */
} c3_job;

static float *slot_cols(const c3_job *j, int64_t s)
{
    return (float *)(j->slots + (size_t)s * j->g.slice_bytes);
}

static float *slot_dcols(const c3_job *j, int64_t s)
{
    return (float *)((char *)slot_cols(j, s) + round64(sizeof(float) * (size_t)(j->g.rows * j->g.ohw)));
}

static float *slot_dw(const c3_job *j, int64_t s)
{
    return (float *)((char *)slot_dcols(j, s) + round64(sizeof(float) * (size_t)(j->g.rows * j->g.ohw)));
}

static float *slot_db(const c3_job *j, int64_t s)
{
    return (float *)((char *)slot_dw(j, s) + round64(sizeof(float) * (size_t)(C3_OUT * j->g.rows)));
}

static int c3_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                   int n_threads, tc_plan *plan, tc_error *err)
{
    const c3 *l = self;
    (void)n_inputs;
    if (in[0].ndim != 4 || in[0].dims[1] != C3_IN) {
        char buf[128];
        size_t len = 0;
        for (int d = 0; d < in[0].ndim && d < TC_MAX_DIMS && len < sizeof buf; d++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", d ? "," : "",
                                    (long long)in[0].dims[d]);
        host->set_error(err, "LeNetC3 needs an input [batch, 6, height, width] (the 6 maps of "
                             "S2), got [%s]", in[0].ndim > 0 ? buf : "");
        return 1;
    }
    if (in[0].dims[2] < l->k || in[0].dims[3] < l->k) {
        host->set_error(err, "LeNetC3: input maps %lldx%lld are smaller than the %lldx%lld "
                             "kernel",
                        (long long)in[0].dims[2], (long long)in[0].dims[3], (long long)l->k,
                        (long long)l->k);
        return 1;
    }
    int64_t kk = l->k * l->k;
    plan->output = (tc_shape){.ndim = 4,
                              .dims = {in[0].dims[0], C3_OUT, in[0].dims[2] - l->k + 1,
                                       in[0].dims[3] - l->k + 1}};
    plan->n_weights = l->bias ? 2 : 1;
    /* He init over the mean fan-in (60 / 16 kernels per output map); an
     * input map feeds 10 output maps (every row of Table I has 10 marks). */
    plan->weights[0] = (tc_weight_decl){
        .name = "weight",
        .shape = {.ndim = 3, .dims = {C3_CONN, l->k, l->k}},
        .init = TC_INIT_HE_NORMAL,
        .fan_in = (double)C3_CONN / C3_OUT * (double)kk,
        .fan_out = 10.0 * (double)kk,
    };
    geom g;
    geom_of(l, &in[0], n_threads, &g);
    plan->workspace_bytes = workspace_of(&g);
    if (l->bias)
        plan->weights[1] = (tc_weight_decl){
            .name = "bias",
            .shape = {.ndim = 1, .dims = {C3_OUT}},
            .init = TC_INIT_ZEROS,
            .fan_in = 1, .fan_out = 1,
            .no_decay = 1,
        };
    return 0;
}

/* The compact kernels [60, k*k] as a dense [16, 6*k*k] matrix: row o holds
 * input map m's kernel at columns [m*k*k, (m+1)*k*k) where they connect. */
static void expand(const float *w, int64_t kk, float *dense)
{
    memset(dense, 0, sizeof(float) * (size_t)(C3_OUT * C3_IN * kk));
    for (int o = 0; o < C3_OUT; o++)
        for (int c = c3_first[o]; c < c3_first[o + 1]; c++)
            memcpy(dense + (o * C3_IN + c3_maps[c]) * kk, w + c * kk, sizeof(float) * (size_t)kk);
}

/* cols[(m*k + ky)*k + kx][oy*OW + ox] = x[m][oy + ky][ox + kx] */
static void im2col(const geom *g, const float *x, float *cols)
{
    for (int64_t m = 0; m < C3_IN; m++)
        for (int64_t ky = 0; ky < g->k; ky++)
            for (int64_t kx = 0; kx < g->k; kx++) {
                float *row = cols + ((m * g->k + ky) * g->k + kx) * g->ohw;
                for (int64_t oy = 0; oy < g->oh; oy++)
                    memcpy(row + oy * g->ow, x + (m * g->h + oy + ky) * g->w + kx,
                           sizeof(float) * (size_t)g->ow);
            }
}

/* The transpose of im2col: dx = sum of each column entry at its pixel. */
static void col2im(const geom *g, const float *dcols, float *dx)
{
    memset(dx, 0, sizeof(float) * (size_t)(C3_IN * g->h * g->w));
    for (int64_t m = 0; m < C3_IN; m++)
        for (int64_t ky = 0; ky < g->k; ky++)
            for (int64_t kx = 0; kx < g->k; kx++) {
                const float *row = dcols + ((m * g->k + ky) * g->k + kx) * g->ohw;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    float *d = dx + (m * g->h + oy + ky) * g->w + kx;
                    const float *r = row + oy * g->ow;
                    for (int64_t ox = 0; ox < g->ow; ox++)
                        d[ox] += r[ox];
                }
            }
}

static void forward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const c3_job *j = arg;
    const geom *g = &j->g;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        float *cols = slot_cols(j, s);
        for (int64_t n = g->n * s / g->slices; n < g->n * (s + 1) / g->slices; n++) {
            float *y = j->y + n * C3_OUT * g->ohw;
            im2col(g, j->x + n * C3_IN * g->h * g->w, cols);
            for (int o = 0; o < C3_OUT; o++)
                for (int64_t i = 0; i < g->ohw; i++)
                    y[o * g->ohw + i] = j->b ? j->b[o] : 0.0f;
            j->host->sgemm(0, 0, C3_OUT, g->ohw, g->rows, 1.0f, j->dense, g->rows, cols, g->ohw,
                           1.0f, y, g->ohw);
        }
    }
}

/* Finds the slices the call's workspace holds (the plan's, normally). */
static int job_of(const tc_host *host, const c3 *l, const tc_exec *x, c3_job *j, tc_error *err)
{
    memset(j, 0, sizeof *j);
    j->host = host;
    geom_of(l, &x->inputs[0].shape, x->n_threads, &j->g);
    while (j->g.slices > 1 && workspace_of(&j->g) > x->workspace_bytes)
        j->g.slices--;
    if (!x->workspace || workspace_of(&j->g) > x->workspace_bytes) {
        host->set_error(err, "LeNetC3: workspace of %zu bytes, needs %zu", x->workspace_bytes,
                        workspace_of(&j->g));
        return 1;
    }
    j->x = x->inputs[0].data;
    j->b = l->bias ? x->weights[1].data : NULL;
    j->y = x->output->data;
    j->dense = x->workspace;
    j->slots = (char *)x->workspace + j->g.dense_bytes;
    expand(x->weights[0].data, j->g.k * j->g.k, x->workspace);
    return 0;
}

static int c3_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    c3_job j;
    if (job_of(host, self, x, &j, err))
        return 1;
    host->parallel_for(j.g.slices, forward_slices, &j);
    return 0;
}

/* Per slice: the dense kernel and bias gradients of its samples (into its
 * slot) and, where wanted, their input gradients. */
static void backward_slices(void *arg, int64_t begin, int64_t end, int worker)
{
    const c3_job *j = arg;
    const geom *g = &j->g;
    (void)worker;
    for (int64_t s = begin; s < end; s++) {
        float *cols = slot_cols(j, s), *dcols = slot_dcols(j, s);
        float *dw = slot_dw(j, s), *db = slot_db(j, s);
        memset(dw, 0, sizeof(float) * (size_t)(C3_OUT * g->rows));
        memset(db, 0, sizeof(float) * C3_OUT);
        for (int64_t n = g->n * s / g->slices; n < g->n * (s + 1) / g->slices; n++) {
            const float *dy = j->dy + n * C3_OUT * g->ohw;
            im2col(g, j->x + n * C3_IN * g->h * g->w, cols);
            j->host->sgemm(0, 1, C3_OUT, g->rows, g->ohw, 1.0f, dy, g->ohw, cols, g->ohw, 1.0f,
                           dw, g->rows);
            for (int o = 0; o < C3_OUT; o++) {
                float sb = 0.0f;
                for (int64_t i = 0; i < g->ohw; i++)
                    sb += dy[o * g->ohw + i];
                db[o] += sb;
            }
            if (!j->dx)
                continue;
            j->host->sgemm(1, 0, g->rows, g->ohw, C3_OUT, 1.0f, j->dense, g->rows, dy, g->ohw,
                           0.0f, dcols, g->ohw);
            col2im(g, dcols, j->dx + n * C3_IN * g->h * g->w);
        }
    }
}

static int c3_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const c3 *l = self;
    c3_job j;
    if (job_of(host, l, x, &j, err))
        return 1;
    j.dy = x->grad_output->data;
    j.dx = x->grad_inputs[0].data; /* NULL when nothing upstream needs it */
    host->parallel_for(j.g.slices, backward_slices, &j);
    /* the slices' partial sums, added in slice order; only the connected
     * kernels are kept (the rest of the dense gradient is discarded) */
    int64_t kk = j.g.k * j.g.k;
    float *dw = x->grad_weights[0].data, *db = l->bias ? x->grad_weights[1].data : NULL;
    for (int o = 0; o < C3_OUT; o++) {
        for (int c = c3_first[o]; c < c3_first[o + 1]; c++)
            for (int64_t t = 0; t < kk; t++) {
                float sum = 0.0f;
                for (int64_t s = 0; s < j.g.slices; s++)
                    sum += slot_dw(&j, s)[(o * C3_IN + c3_maps[c]) * kk + t];
                dw[c * kk + t] = sum;
            }
        if (db) {
            float sum = 0.0f;
            for (int64_t s = 0; s < j.g.slices; s++)
                sum += slot_db(&j, s)[o];
            db[o] = sum;
        }
    }
    return 0;
}

static const tc_layer_type c3_type = {
    TC_LAYER_HEAD("LeNetC3",
                  "LeNet-5's C3 (LeCun et al. 1998, Table I): 6 -> 16 maps, k x k valid "
                  "convolution, each output map connected to 3, 4 or 6 input maps",
                  1, 1),
    TC_PARAM_TABLE(c3_params),
    .create = c3_create, .destroy = tc_instance_free,
    .plan = c3_plan, .forward = c3_forward, .backward = c3_backward,
    .test_hints = &c3_hints,
};

TC_PLUGIN_DEFINE(lenet1998)
{
    if (tc_host_check(host, 0, "lenet1998", err))
        return 1;
    return host->register_layer(ctx, &c3_type);
}
