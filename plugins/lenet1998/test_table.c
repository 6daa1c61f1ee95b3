/*
 * test_table.c - checks that LeNetC3 connects the maps as Table I of LeCun
 * et al. (1998) does, by behaviour: the conformance suite proves the
 * gradients match the forward pass, not that the forward pass is C3.
 *
 * It loads the built plugin with dlopen() and calls its entry with a small
 * host table of its own (so it needs nothing but tinycnn/plugin.h), then,
 * with every kernel weight 1 and no bias, lights one input map at a time and
 * records which output maps respond; and in backward, sends a gradient into
 * one output map at a time and records which input maps receive it. Both
 * must equal the table below, typed from the paper (rows: the 6 maps of S2,
 * columns: the 16 maps of C3).
 *
 * usage: test_table PLUGIN.so     exit 0: pass, 1: a difference (printed)
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tinycnn/plugin.h>

static const char *const table_i[6] = {
    /*    0123456789012345 */
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
};

static const tc_layer_type *registered;
static int n_registered;

static int fake_register(tc_plugin_ctx *ctx, const tc_layer_type *type)
{
    (void)ctx;
    registered = type;
    n_registered++;
    return 0;
}

static void fake_set_error(tc_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* One worker, one chunk: the plugin must not care how it is split. */
static void fake_parallel_for(int64_t n, void (*fn)(void *, int64_t, int64_t, int), void *arg)
{
    if (n > 0)
        fn(arg, 0, n, 0);
}

/* A plain row-major GEMM: C = alpha op(A) op(B) + beta C. */
static void fake_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++)
                s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                     (tb ? b[j * ldb + p] : b[p * ldb + j]);
            c[i * ldc + j] = alpha * (float)s + (beta != 0.0f ? beta * c[i * ldc + j] : 0.0f);
        }
}

static const tc_host host = {
    TC_STRUCT_HEADER(tc_host), .level = TC_HOST_LEVEL,
    .register_layer = fake_register, .set_error = fake_set_error,
    .sgemm = fake_sgemm, .parallel_for = fake_parallel_for,
};

static int fail(const char *what, const tc_error *err)
{
    fprintf(stderr, "test_table: FAILED: %s%s%s\n", what, err && err->msg[0] ? ": " : "",
            err ? err->msg : "");
    return 1;
}

static int64_t count(const tc_shape *s)
{
    return tc_shape_count(s);
}

/* Which (input map, output map) pairs carry a signal, forward and back. */
static int probe(const tc_layer_type *t, void *self, const tc_plan *plan,
                 int fwd[6][16], int bwd[6][16])
{
    tc_shape in_shape = {.ndim = 4, .dims = {1, 6, 5, 5}};
    int64_t n_in = count(&in_shape), n_out = count(&plan->output);
    int64_t n_w = count(&plan->weights[0].shape);
    float *x = calloc((size_t)n_in, sizeof *x), *y = calloc((size_t)n_out, sizeof *y);
    float *w = malloc((size_t)n_w * sizeof *w), *dx = calloc((size_t)n_in, sizeof *dx);
    float *dy = calloc((size_t)n_out, sizeof *dy), *dw = calloc((size_t)n_w, sizeof *dw);
    float b[16] = {0}, db[16];
    tc_error err = {{0}};
    int rc = 0;
    if (!x || !y || !w || !dx || !dy || !dw)
        return fail("out of memory", NULL);
    for (int64_t i = 0; i < n_w; i++)
        w[i] = 1.0f;
    tc_tensor input = {x, in_shape}, output = {y, plan->output};
    tc_tensor weights[2] = {{w, plan->weights[0].shape}, {b, plan->weights[1].shape}};
    tc_tensor g_in = {dx, in_shape}, g_out = {dy, plan->output};
    tc_tensor g_w[2] = {{dw, plan->weights[0].shape}, {db, plan->weights[1].shape}};
    size_t ws_bytes = (plan->workspace_bytes + 63) & ~(size_t)63;
    void *ws = ws_bytes ? aligned_alloc(64, ws_bytes) : NULL;
    if (ws_bytes && !ws)
        return fail("out of memory", NULL);
    tc_exec e = {.struct_size = sizeof e, .n_inputs = 1, .inputs = &input, .output = &output,
                 .n_weights = plan->n_weights, .weights = weights, .n_threads = 1,
                 .training = 1, .workspace = ws, .workspace_bytes = plan->workspace_bytes};
    for (int i = 0; i < 6 && !rc; i++) {
        memset(x, 0, (size_t)n_in * sizeof *x);
        for (int p = 0; p < 25; p++)
            x[i * 25 + p] = 1.0f;
        rc = t->forward(&host, self, &e, &err);
        for (int o = 0; o < 16 && !rc; o++)
            fwd[i][o] = y[o] != 0.0f;
    }
    memset(x, 0, (size_t)n_in * sizeof *x);
    e.grad_output = &g_out;
    e.grad_inputs = &g_in;
    e.grad_weights = g_w;
    for (int o = 0; o < 16 && !rc; o++) {
        memset(dy, 0, (size_t)n_out * sizeof *dy);
        dy[o] = 1.0f;
        rc = t->backward(&host, self, &e, &err);
        for (int i = 0; i < 6 && !rc; i++)
            bwd[i][o] = dx[i * 25] != 0.0f;
    }
    if (rc)
        fail("forward or backward", &err);
    free(x), free(y), free(w), free(dx), free(dy), free(dw), free(ws);
    return rc;
}

static int compare(const char *pass, int got[6][16])
{
    int bad = 0;
    for (int i = 0; i < 6; i++)
        for (int o = 0; o < 16; o++)
            if (got[i][o] != (table_i[i][o] == 'X')) {
                fprintf(stderr, "test_table: %s: S2 map %d -> C3 map %d is %s, Table I says %s\n",
                        pass, i, o, got[i][o] ? "connected" : "not connected",
                        table_i[i][o] == 'X' ? "connected" : "not connected");
                bad = 1;
            }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fail("usage: test_table PLUGIN.so", NULL);
    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so)
        return fail(dlerror(), NULL);
    tc_plugin_init_fn init = (tc_plugin_init_fn)dlsym(so, TC_PLUGIN_ENTRY);
    tc_error err = {{0}};
    if (!init)
        return fail("no entry symbol " TC_PLUGIN_ENTRY, NULL);
    if (init(&host, NULL, &err))
        return fail("the entry refused the host", &err);
    if (n_registered != 1 || strcmp(registered->name, "LeNetC3") != 0)
        return fail("expected exactly one type, LeNetC3", NULL);
    const tc_layer_type *t = registered;
    double values[8];
    for (int p = 0; p < t->n_params && p < 8; p++)
        values[p] = t->params[p].default_value;
    void *self = NULL;
    if (t->create(&host, values, &self, &err))
        return fail("create with the defaults", &err);
    tc_shape in_shape = {.ndim = 4, .dims = {1, 6, 5, 5}};
    tc_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.struct_size = sizeof plan;
    if (t->plan(&host, self, &in_shape, 1, 1, &plan, &err))
        return fail("plan [1,6,5,5]", &err);
    if (plan.output.ndim != 4 || plan.output.dims[1] != 16 || plan.output.dims[2] != 1 ||
        plan.output.dims[3] != 1 || plan.n_weights != 2)
        return fail("plan: expected output [1,16,1,1] and weights weight, bias", NULL);
    /* the paper: 1,516 trainable parameters, 60 kernels of 5 x 5 and 16 biases */
    int64_t n_params = count(&plan.weights[0].shape) + count(&plan.weights[1].shape);
    if (n_params != 1516) {
        fprintf(stderr, "test_table: %lld trainable parameters, the paper has 1516\n",
                (long long)n_params);
        return 1;
    }
    int fwd[6][16], bwd[6][16];
    if (probe(t, self, &plan, fwd, bwd))
        return 1;
    int bad = compare("forward", fwd) | compare("backward", bwd);
    t->destroy(&host, self);
    if (bad)
        return 1;
    printf("test_table: LeNetC3 connects S2 to C3 as Table I, forward and backward; "
           "1516 parameters\n");
    return 0;
}
