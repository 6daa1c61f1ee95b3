/* The layers written for plugin ABI 2: BatchNorm2d / BatchNorm1d, Concat,
 * GlobalAvgPool2d, LeakyReLU and Softmax. Forward and backward values
 * against small hand-worked cases and against reference computations
 * written here in double precision (never numbers taken from running the
 * layers), finite-difference gradient checks, BatchNorm's running
 * statistics (state tensors) in training and at inference, and the error
 * messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/layer_check.h"

#define S2(a, b) ((tc_shape){.ndim = 2, .dims = {a, b}})
#define S3(a, b, c) ((tc_shape){.ndim = 3, .dims = {a, b, c}})
#define S4(a, b, c, d) ((tc_shape){.ndim = 4, .dims = {a, b, c, d}})

static int64_t count(const tc_tensor *t)
{
    return tc_shape_count(&t->shape);
}

/* Asserts t == want elementwise within tol (tcu_rel_err): one assert per
 * tensor (CUnit slows down badly with a million failures), naming the first
 * few mismatches. */
static void assert_near(const tc_tensor *t, const double *want, double tol)
{
    int64_t n = count(t), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = tcu_rel_err(t->data[i], want[i]);
        if (!(e <= tol) && bad++ < 5)
            fprintf(stderr, "\n  element %lld: got %.9g, want %.9g\n", (long long)i,
                    (double)t->data[i], want[i]);
    }
    if (bad)
        fprintf(stderr, "  %lld of %lld elements differ\n", (long long)bad, (long long)n);
    CU_ASSERT_EQUAL(bad, 0);
}

static void assert_floats(const tc_tensor *t, const float *want, double tol)
{
    int64_t n = count(t);
    double *w = malloc(sizeof *w * (size_t)n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    for (int64_t i = 0; i < n; i++)
        w[i] = want[i];
    assert_near(t, w, tol);
    free(w);
}

static float *copy_data(const tc_tensor *t)
{
    float *p = malloc(sizeof(float) * (size_t)count(t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, t->data, sizeof(float) * (size_t)count(t));
    return p;
}

static int same_bits(const tc_tensor *t, const float *ref)
{
    return memcmp(t->data, ref, sizeof(float) * (size_t)count(t)) == 0;
}

static double *dalloc(int64_t n)
{
    double *p = calloc((size_t)n, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* ---- registry ------------------------------------------------------------ */

static void test_registry(void)
{
    static const char *names[][2] = {
        {"BatchNorm2d", "batch_norm.so"},   {"BatchNorm1d", "batch_norm.so"},
        {"Concat", "concat.so"},            {"GlobalAvgPool2d", "global_avg_pool2d.so"},
        {"LeakyReLU", "leaky_relu.so"},     {"Softmax", "softmax.so"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_find(tcu_registry(), names[i][0], &origin);
        if (!t)
            fprintf(stderr, "\n  %s is not registered\n", names[i][0]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(origin);
        size_t lo = strlen(origin), ln = strlen(names[i][1]);
        CU_ASSERT(lo > ln && origin[lo - ln - 1] == '/' &&
                  strcmp(origin + lo - ln, names[i][1]) == 0);
        CU_ASSERT_EQUAL(t->abi_version, TC_PLUGIN_ABI_VERSION);
        CU_ASSERT_EQUAL(t->flags, TC_LAYER_PER_SAMPLE); /* none of them mixes rows */
        CU_ASSERT_PTR_NOT_NULL(t->backward);
    }
}

/* ---- LeakyReLU ----------------------------------------------------------- */

static void test_leaky_relu_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(1, 5);
    TCU_ASSERT_OK(tcu_make(&lc, "LeakyReLU", NULL, 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(1, 5));
    CU_ASSERT_EQUAL(lc.plan.n_weights, 0);
    tcu_set_data(&lc.inputs[0], (const float[]){-2, -0.5f, 0.5f, 3, -100});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* default slope 0.01 */
    assert_floats(&lc.output, (const float[]){-0.02f, -0.005f, 0.5f, 3, -1}, 1e-7);
    tcu_set_data(&lc.grad_output, (const float[]){1, 2, 3, 4, 5});
    tcu_fill_value(&lc.grad_inputs[0], 99.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_floats(&lc.grad_inputs[0], (const float[]){0.01f, 0.02f, 3, 4, 0.05f}, 1e-7);
    /* NaN stays visible */
    lc.inputs[0].data[1] = NAN;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    CU_ASSERT(isnan(lc.output.data[1]));
    tc_layer_check_free(&lc);

    TCU_ASSERT_OK(tcu_make(&lc, "LeakyReLU", "negative_slope=0.25", 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], (const float[]){-2, -0.5f, 0.5f, 3, -100});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_floats(&lc.output, (const float[]){-0.5f, -0.125f, 0.5f, 3, -25}, 1e-7);
    tc_layer_check_free(&lc);

    /* slope 0 is ReLU; backward must still tell the sides apart by the input */
    TCU_ASSERT_OK(tcu_make(&lc, "LeakyReLU", "negative_slope=0", 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], (const float[]){-2, -0.5f, 0.5f, 3, -100});
    tcu_fill_value(&lc.grad_output, 1.0f);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_floats(&lc.output, (const float[]){0, 0, 0.5f, 3, 0}, 0);
    assert_floats(&lc.grad_inputs[0], (const float[]){0, 0, 1, 1, 0}, 0);
    tc_layer_check_free(&lc);
}

static void test_leaky_relu_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(1, 5);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "LeakyReLU", "negative_slope=1", 1, &in, 1, &err), &err,
                          "LeakyReLU: negative_slope must be in [0, 1), got 1");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "LeakyReLU", "negative_slope=-0.5", 1, &in, 1, &err),
                          &err, "negative_slope");
    tc_shape two[2] = {S2(1, 5), S2(1, 5)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "LeakyReLU", NULL, 2, two, 1, &err), &err,
                          "LeakyReLU takes 1 input, got 2");
}

/* ---- GlobalAvgPool2d ------------------------------------------------------ */

static void test_global_avg_pool_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(2, 2, 2, 3);
    TCU_ASSERT_OK(tcu_make(&lc, "GlobalAvgPool2d", NULL, 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(2, 2));
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 4, 5, 6,        /* mean 3.5 */
                                            -6, 0, 0, 0, 0, 0,       /* mean -1 */
                                            10, 10, 10, 10, 10, 10,  /* mean 10 */
                                            0.5f, 0, 0, 0, 0, 0.25f}); /* mean 0.125 */
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_floats(&lc.output, (const float[]){3.5f, -1, 10, 0.125f}, 1e-7);
    tcu_set_data(&lc.grad_output, (const float[]){6, -3, 1.5f, 0});
    tcu_fill_value(&lc.grad_inputs[0], 99.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    /* every pixel of a plane gets dy / 6 */
    float want[24];
    const float per[4] = {1, -0.5f, 0.25f, 0};
    for (int i = 0; i < 24; i++)
        want[i] = per[i / 6];
    assert_floats(&lc.grad_inputs[0], want, 1e-7);
    tc_layer_check_free(&lc);

    /* a plane big enough for the vector lanes and the threads, against a
     * double sum */
    in = S4(3, 8, 61, 67);
    TCU_ASSERT_OK(tcu_make(&lc, "GlobalAvgPool2d", NULL, 1, &in, 2, &err), &err);
    tc_layer_check_fill(&lc, 5, 0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    double *ref = dalloc(24);
    for (int p = 0; p < 24; p++) {
        double s = 0.0;
        for (int i = 0; i < 61 * 67; i++)
            s += lc.inputs[0].data[p * 61 * 67 + i];
        ref[p] = s / (61.0 * 67.0);
    }
    assert_near(&lc.output, ref, 1e-5);
    free(ref);
    tc_layer_check_free(&lc);
}

static void test_global_avg_pool_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S3(2, 3, 4);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "GlobalAvgPool2d", NULL, 1, &in, 1, &err), &err,
                          "GlobalAvgPool2d needs a 4-D input [batch, channels, height, width], "
                          "got [2,3,4]");
}

/* ---- Concat --------------------------------------------------------------- */

static void test_concat_channels_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in[3] = {S4(2, 2, 1, 2), S4(2, 1, 1, 2), S4(2, 1, 1, 2)};
    TCU_ASSERT_OK(tcu_make(&lc, "Concat", NULL, 3, in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(2, 4, 1, 2));
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 4, /* sample 1: */ 5, 6, 7, 8});
    tcu_set_data(&lc.inputs[1], (const float[]){10, 20, /* sample 1: */ 30, 40});
    tcu_set_data(&lc.inputs[2], (const float[]){-1, -2, /* sample 1: */ -3, -4});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* per sample: the channels of input 0, then 1, then 2 */
    assert_floats(&lc.output,
                  (const float[]){1, 2, 3, 4, 10, 20, -1, -2, 5, 6, 7, 8, 30, 40, -3, -4}, 0);
    for (int i = 0; i < 16; i++)
        lc.grad_output.data[i] = (float)(i + 1);
    tcu_fill_value(&lc.grad_inputs[0], 99.0f);
    tcu_fill_value(&lc.grad_inputs[1], 99.0f);
    tcu_fill_value(&lc.grad_inputs[2], 99.0f);
    lc.needs_grad[1] = 0; /* an input without a gradient is skipped, the others still get theirs */
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_floats(&lc.grad_inputs[0], (const float[]){1, 2, 3, 4, 9, 10, 11, 12}, 0);
    assert_floats(&lc.grad_inputs[1], (const float[]){99, 99, 99, 99}, 0);
    assert_floats(&lc.grad_inputs[2], (const float[]){7, 8, 15, 16}, 0);
    tc_layer_check_free(&lc);
}

/* Reference concatenation of a and b ([outer, ra] and [outer, rb] rows). */
static void ref_concat2(const float *a, int64_t ra, const float *b, int64_t rb, int64_t outer,
                        double *out)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < ra; i++)
            *out++ = a[o * ra + i];
        for (int64_t i = 0; i < rb; i++)
            *out++ = b[o * rb + i];
    }
}

static void test_concat_other_axes(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    /* height: [2,3,2,4] + [2,3,1,4] -> [2,3,3,4]; rows of 8 and 4 per (n, c) */
    tc_shape h[2] = {S4(2, 3, 2, 4), S4(2, 3, 1, 4)};
    TCU_ASSERT_OK(tcu_make(&lc, "Concat", "axis=2", 2, h, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(2, 3, 3, 4));
    tc_layer_check_fill(&lc, 3, 0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    double *ref = dalloc(72);
    ref_concat2(lc.inputs[0].data, 8, lc.inputs[1].data, 4, 6, ref);
    assert_near(&lc.output, ref, 0);
    free(ref);
    tc_layer_check_free(&lc);

    /* width: rows of 2 and 3 per (n, c, h) */
    tc_shape w[2] = {S4(2, 2, 3, 2), S4(2, 2, 3, 3)};
    TCU_ASSERT_OK(tcu_make(&lc, "Concat", "axis=3", 2, w, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(2, 2, 3, 5));
    tc_layer_check_fill(&lc, 4, 0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    ref = dalloc(60);
    ref_concat2(lc.inputs[0].data, 2, lc.inputs[1].data, 3, 12, ref);
    assert_near(&lc.output, ref, 0);
    free(ref);
    tc_layer_check_free(&lc);

    /* features of [N,F], large enough for the worker threads */
    tc_shape f[2] = {S2(600, 500), S2(600, 700)};
    TCU_ASSERT_OK(tcu_make(&lc, "Concat", NULL, 2, f, 2, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(600, 1200));
    tc_layer_check_fill(&lc, 5, 0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    ref = dalloc(600 * 1200);
    ref_concat2(lc.inputs[0].data, 500, lc.inputs[1].data, 700, 600, ref);
    assert_near(&lc.output, ref, 0);
    free(ref);
    tc_layer_check_free(&lc);
}

static void test_concat_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape bad[2] = {S4(1, 4, 6, 6), S4(1, 3, 5, 5)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Concat", NULL, 2, bad, 1, &err), &err,
                          "Concat: input 1 has shape [1,3,5,5], which differs from input 0's "
                          "[1,4,6,6] outside axis 1");
    tc_shape rank[3] = {S4(1, 4, 6, 6), S4(1, 2, 6, 6), S3(1, 4, 6)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Concat", NULL, 3, rank, 1, &err), &err,
                          "Concat: input 2 has shape [1,4,6], which differs from input 0's "
                          "[1,4,6,6] outside axis 1");
    tc_shape flat[2] = {S2(2, 3), S2(2, 3)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Concat", "axis=2", 2, flat, 1, &err), &err,
                          "Concat: axis 2 does not exist in input 0 of shape [2,3] "
                          "(2 dimensions)");
    /* the batch axis is outside the declared range */
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Concat", "axis=0", 2, flat, 1, &err), &err, "axis");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Concat", NULL, 1, flat, 1, &err), &err,
                          "Concat takes 2 to 64 inputs, got 1");
}

/* ---- Softmax -------------------------------------------------------------- */

/* Reference softmax of x viewed as [outer, len, inner] over len, in double. */
static void ref_softmax(const float *x, int64_t outer, int64_t len, int64_t inner, double *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            const float *p = x + o * len * inner + k;
            double m = p[0], s = 0.0;
            for (int64_t i = 1; i < len; i++)
                m = fmax(m, p[i * inner]);
            for (int64_t i = 0; i < len; i++)
                s += exp(p[i * inner] - m);
            for (int64_t i = 0; i < len; i++)
                y[o * len * inner + k + i * inner] = exp(p[i * inner] - m) / s;
        }
}

/* Reference backward: dx_i = y_i * (dy_i - sum_j dy_j y_j), in double. */
static void ref_softmax_back(const float *y, const float *dy, int64_t outer, int64_t len,
                             int64_t inner, double *dx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            int64_t b = o * len * inner + k;
            double dot = 0.0;
            for (int64_t i = 0; i < len; i++)
                dot += (double)dy[b + i * inner] * y[b + i * inner];
            for (int64_t i = 0; i < len; i++)
                dx[b + i * inner] = y[b + i * inner] * (dy[b + i * inner] - dot);
        }
}

static void test_softmax_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(3, 3);
    TCU_ASSERT_OK(tcu_make(&lc, "Softmax", NULL, 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(3, 3));
    /* huge logits would overflow exp() without taking the maximum out */
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 1000, 1000, 1000, -1000, 0, 1000});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    double e1 = exp(-1.0), e2 = exp(-2.0), s = 1 + e1 + e2;
    double want[9] = {e2 / s, e1 / s, 1 / s, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0, 1};
    assert_near(&lc.output, want, 1e-7);
    /* backward: row 0 with dy = (1, 0, 0): dx = y0 * ((1, 0, 0) - y0) */
    tcu_set_data(&lc.grad_output, (const float[]){1, 0, 0, 1, 1, 1, 0.5f, -2, 3});
    tcu_fill_value(&lc.grad_inputs[0], 99.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    double y0 = e2 / s, y1 = e1 / s, y2 = 1 / s;
    /* a constant dy has no effect (the outputs sum to 1); a one-hot output
     * has zero gradient */
    double dx[9] = {y0 * (1 - y0), -y1 * y0, -y2 * y0, 0, 0, 0, 0, 0, 0};
    assert_near(&lc.grad_inputs[0], dx, 1e-7);
    tc_layer_check_free(&lc);
}

/* Softmax of a fill over (outer, len, inner) against the references. */
static void softmax_against_ref(const char *params, tc_shape in, int64_t outer, int64_t len,
                                int64_t inner, int threads)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    TCU_ASSERT_OK(tcu_make(&lc, "Softmax", params, 1, &in, threads, &err), &err);
    tcu_assert_shape(&lc.output.shape, in);
    tc_layer_check_fill(&lc, 9, 0);
    int64_t n = outer * len * inner;
    for (int64_t i = 0; i < n; i++) /* logits of a few units, not the lattice's up to n/80 */
        lc.inputs[0].data[i] = (float)fmod(lc.inputs[0].data[i], 4.0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    double *y = dalloc(n), *dx = dalloc(n);
    ref_softmax(lc.inputs[0].data, outer, len, inner, y);
    assert_near(&lc.output, y, 1e-6);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    ref_softmax_back(lc.output.data, lc.grad_output.data, outer, len, inner, dx);
    assert_near(&lc.grad_inputs[0], dx, 1e-6);
    free(y);
    free(dx);
    tc_layer_check_free(&lc);
}

static void test_softmax_axes(void)
{
    /* the last axis by default, also of an image */
    softmax_against_ref(NULL, S2(4, 10), 4, 10, 1, 1);
    softmax_against_ref(NULL, S4(2, 3, 4, 5), 24, 5, 1, 1);
    /* channels of an image: slices strided by H*W */
    softmax_against_ref("axis=1", S4(2, 3, 4, 5), 2, 3, 20, 1);
    softmax_against_ref("axis=-3", S4(2, 3, 4, 5), 2, 3, 20, 1);
    softmax_against_ref("axis=2", S4(2, 3, 4, 5), 6, 4, 5, 1);
    /* large enough for the worker threads */
    softmax_against_ref(NULL, S2(512, 100), 512, 100, 1, 2);
    softmax_against_ref("axis=1", S4(8, 10, 30, 30), 8, 10, 900, 2);
}

static void test_softmax_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(2, 3);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Softmax", "axis=0", 1, &in, 1, &err), &err,
                          "Softmax: axis 0 is the batch");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Softmax", "axis=2", 1, &in, 1, &err), &err,
                          "Softmax: axis 2 does not name a non-batch dimension of input [2,3] "
                          "(2 dimensions)");
    /* -2 of a 2-D input is the batch */
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Softmax", "axis=-2", 1, &in, 1, &err), &err,
                          "Softmax: axis -2 does not name a non-batch dimension");
}

/* ---- BatchNorm ------------------------------------------------------------ */

/* Reference batch norm on [n, c, l] in double: training uses the batch's
 * mean and biased variance and gives the running statistics' update with
 * the unbiased variance; inference uses rm, rv. w, b may be NULL. */
typedef struct bn_ref {
    double *y;
    double *new_rm, *new_rv; /* training only */
} bn_ref;

static void ref_batch_norm(const float *x, int64_t n, int64_t c, int64_t l, const float *w,
                           const float *b, const float *rm, const float *rv, double momentum,
                           double eps, int training, bn_ref *out)
{
    const double m = (double)(n * l);
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = rm[ch], var = rv[ch];
        if (training) {
            double s = 0.0, q = 0.0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < l; k++)
                    s += x[(i * c + ch) * l + k];
            mean = s / m;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < l; k++) {
                    double d = x[(i * c + ch) * l + k] - mean;
                    q += d * d;
                }
            var = q / m;
            out->new_rm[ch] = (1 - momentum) * rm[ch] + momentum * mean;
            out->new_rv[ch] = (1 - momentum) * rv[ch] + momentum * q / (m - 1);
        }
        double sc = (w ? w[ch] : 1.0) / sqrt(var + eps), sh = b ? b[ch] : 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < l; k++) {
                int64_t at = (i * c + ch) * l + k;
                out->y[at] = (x[at] - mean) * sc + sh;
            }
    }
}

static void test_batch_norm_declarations(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(2, 3, 4, 4);
    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm2d", NULL, 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, in);
    CU_ASSERT_EQUAL_FATAL(lc.plan.n_weights, 2);
    const tc_weight_decl *w = &lc.plan.weights[0], *b = &lc.plan.weights[1];
    CU_ASSERT_STRING_EQUAL(w->name, "weight");
    CU_ASSERT_EQUAL(w->init, TC_INIT_CONSTANT);
    CU_ASSERT_EQUAL(w->a, 1.0);
    CU_ASSERT_EQUAL(w->no_decay, 1);
    tcu_assert_shape(&w->shape, (tc_shape){.ndim = 1, .dims = {3}});
    CU_ASSERT_STRING_EQUAL(b->name, "bias");
    CU_ASSERT_EQUAL(b->init, TC_INIT_ZEROS);
    CU_ASSERT_EQUAL(b->no_decay, 1);
    tcu_assert_shape(&b->shape, (tc_shape){.ndim = 1, .dims = {3}});
    CU_ASSERT_EQUAL_FATAL(lc.plan.n_state, 2);
    CU_ASSERT_STRING_EQUAL(lc.plan.state[0].name, "running_mean");
    CU_ASSERT_EQUAL(lc.plan.state[0].init_value, 0.0);
    tcu_assert_shape(&lc.plan.state[0].shape, (tc_shape){.ndim = 1, .dims = {3}});
    CU_ASSERT_STRING_EQUAL(lc.plan.state[1].name, "running_var");
    CU_ASSERT_EQUAL(lc.plan.state[1].init_value, 1.0);
    tcu_assert_shape(&lc.plan.state[1].shape, (tc_shape){.ndim = 1, .dims = {3}});
    tc_tensor *rm = tc_layer_check_state(&lc, "running_mean");
    tc_tensor *rv = tc_layer_check_state(&lc, "running_var");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rm);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rv);
    CU_ASSERT_PTR_NULL(tc_layer_check_state(&lc, "weight"));
    assert_floats(rm, (const float[]){0, 0, 0}, 0);
    assert_floats(rv, (const float[]){1, 1, 1}, 0);
    tc_layer_check_free(&lc);

    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm2d", "affine=0", 1, &in, 1, &err), &err);
    CU_ASSERT_EQUAL(lc.plan.n_weights, 0);
    CU_ASSERT_EQUAL(lc.plan.n_state, 2);
    tc_layer_check_free(&lc);

    /* BatchNorm1d: features of [N,F], channels of [N,C,L] */
    tc_shape f = S2(4, 6), cl = S3(4, 5, 7);
    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm1d", NULL, 1, &f, 1, &err), &err);
    tcu_assert_shape(&lc.plan.weights[0].shape, (tc_shape){.ndim = 1, .dims = {6}});
    tcu_assert_shape(&lc.plan.state[1].shape, (tc_shape){.ndim = 1, .dims = {6}});
    tc_layer_check_free(&lc);
    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm1d", NULL, 1, &cl, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, cl);
    tcu_assert_shape(&lc.plan.state[0].shape, (tc_shape){.ndim = 1, .dims = {5}});
    tc_layer_check_free(&lc);
}

static void test_batch_norm_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(2, 1, 1, 2);
    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm2d", NULL, 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 4});
    tcu_set_data(tc_layer_check_weight(&lc, "weight"), (const float[]){2});
    tcu_set_data(tc_layer_check_weight(&lc, "bias"), (const float[]){0.5f});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25 */
    double is = 1 / sqrt(1.25 + 1e-5);
    double want[4] = {-1.5 * is * 2 + 0.5, -0.5 * is * 2 + 0.5, 0.5 * is * 2 + 0.5,
                      1.5 * is * 2 + 0.5};
    assert_near(&lc.output, want, 1e-6);
    /* running mean 0.9 * 0 + 0.1 * 2.5; running var with the unbiased
     * variance 5 / 3: 0.9 * 1 + 0.1 * 5 / 3 */
    double rm = 0.25, rv = 0.9 + 0.5 / 3;
    assert_near(tc_layer_check_state(&lc, "running_mean"), &rm, 1e-7);
    assert_near(tc_layer_check_state(&lc, "running_var"), &rv, 1e-7);
    /* a second training forward moves them again */
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    rm = 0.9 * 0.25 + 0.25;
    rv = 0.9 * (0.9 + 0.5 / 3) + 0.5 / 3;
    assert_near(tc_layer_check_state(&lc, "running_mean"), &rm, 1e-7);
    assert_near(tc_layer_check_state(&lc, "running_var"), &rv, 1e-7);

    /* backward with dy = (1, 0, 0, 0): xhat = (-1.5, -0.5, 0.5, 1.5) * is,
     * dbias = 1, dweight = xhat0 = -1.5 is, and
     * dx = w is (dy - 1/4 - xhat * dweight / 4) */
    tcu_set_data(&lc.grad_output, (const float[]){1, 0, 0, 0});
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    double dbias = 1, dweight = -1.5 * is;
    assert_near(tc_layer_check_grad_weight(&lc, "bias"), &dbias, 1e-6);
    assert_near(tc_layer_check_grad_weight(&lc, "weight"), &dweight, 1e-6);
    double dx[4];
    const double xm[4] = {-1.5, -0.5, 0.5, 1.5};
    for (int i = 0; i < 4; i++)
        dx[i] = 2 * is * ((i == 0) - 0.25 - xm[i] * is * dweight / 4);
    assert_near(&lc.grad_inputs[0], dx, 1e-6);
    tc_layer_check_free(&lc);
}

/* One training forward on filled data against the reference (output and
 * running statistics), then an inference forward: running statistics used,
 * state untouched, and backward through them against its reference. */
static void bn_against_ref(const char *type, const char *params, tc_shape in, int64_t n,
                           int64_t c, int64_t l, double momentum, int threads)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    TCU_ASSERT_OK(tcu_make(&lc, type, params, 1, &in, threads, &err), &err);
    tc_layer_check_fill(&lc, 17, 0);
    /* a per-channel offset, so that the mean is not near 0 */
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c * l; k++)
            lc.inputs[0].data[i * c * l + k] += (float)(k / l) - 1.5f;
    tc_tensor *rm = tc_layer_check_state(&lc, "running_mean");
    tc_tensor *rv = tc_layer_check_state(&lc, "running_var");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rm);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rv);
    for (int64_t ch = 0; ch < c; ch++) { /* a start other than the initial values */
        rm->data[ch] = 0.1f * (float)ch;
        rv->data[ch] = 1.0f + 0.5f * (float)ch;
    }
    const float *w = lc.plan.n_weights ? tc_layer_check_weight(&lc, "weight")->data : NULL;
    const float *b = lc.plan.n_weights ? tc_layer_check_weight(&lc, "bias")->data : NULL;
    float *rm0 = copy_data(rm), *rv0 = copy_data(rv);
    int64_t total = n * c * l;
    bn_ref ref = {dalloc(total), dalloc(c), dalloc(c)};

    lc.training = 1;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    ref_batch_norm(lc.inputs[0].data, n, c, l, w, b, rm0, rv0, momentum, 1e-5, 1, &ref);
    assert_near(&lc.output, ref.y, 1e-5);
    assert_near(rm, ref.new_rm, 1e-6);
    assert_near(rv, ref.new_rv, 1e-6);

    /* inference: normalised by the running statistics, which stay as they are */
    float *rm1 = copy_data(rm), *rv1 = copy_data(rv);
    lc.training = 0;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    ref_batch_norm(lc.inputs[0].data, n, c, l, w, b, rm1, rv1, momentum, 1e-5, 0, &ref);
    assert_near(&lc.output, ref.y, 1e-5);
    CU_ASSERT(same_bits(rm, rm1));
    CU_ASSERT(same_bits(rv, rv1));

    /* backward after it: the statistics are constants, dx = dy w / sqrt(rv + eps) */
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    for (int64_t ch = 0; ch < c; ch++) {
        double is = 1 / sqrt((double)rv1[ch] + 1e-5), dw = 0, db = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < l; k++) {
                int64_t at = (i * c + ch) * l + k;
                double dy = lc.grad_output.data[at];
                ref.y[at] = dy * (w ? w[ch] : 1.0) * is;
                dw += dy * (lc.inputs[0].data[at] - rm1[ch]) * is;
                db += dy;
            }
        ref.new_rm[ch] = dw;
        ref.new_rv[ch] = db;
    }
    assert_near(&lc.grad_inputs[0], ref.y, 1e-5);
    if (w) {
        assert_near(tc_layer_check_grad_weight(&lc, "weight"), ref.new_rm, 1e-4);
        assert_near(tc_layer_check_grad_weight(&lc, "bias"), ref.new_rv, 1e-4);
    }
    CU_ASSERT(same_bits(rm, rm1));
    CU_ASSERT(same_bits(rv, rv1));
    free(rm0);
    free(rv0);
    free(rm1);
    free(rv1);
    free(ref.y);
    free(ref.new_rm);
    free(ref.new_rv);
    tc_layer_check_free(&lc);
}

static void test_batch_norm_reference(void)
{
    bn_against_ref("BatchNorm2d", NULL, S4(3, 4, 5, 6), 3, 4, 30, 0.1, 1);
    bn_against_ref("BatchNorm2d", "momentum=0.5", S4(2, 3, 3, 3), 2, 3, 9, 0.5, 1);
    bn_against_ref("BatchNorm2d", "affine=0", S4(4, 2, 1, 3), 4, 2, 3, 0.1, 1);
    bn_against_ref("BatchNorm1d", NULL, S2(5, 6), 5, 6, 1, 0.1, 1);
    bn_against_ref("BatchNorm1d", "momentum=0", S2(9, 3), 9, 3, 1, 0.0, 1);
    bn_against_ref("BatchNorm1d", NULL, S3(3, 4, 5), 3, 4, 5, 0.1, 1);
    /* large enough for the worker threads: rows of L and the L = 1 layout */
    bn_against_ref("BatchNorm2d", NULL, S4(8, 16, 12, 12), 8, 16, 144, 0.1, 2);
    bn_against_ref("BatchNorm1d", NULL, S2(256, 64), 256, 64, 1, 0.1, 2);
}

/* Output, gradients and running statistics do not depend on the thread count. */
static void test_batch_norm_threads(void)
{
    static const struct {
        const char *type;
        tc_shape in;
    } cases[] = {{"BatchNorm2d", S4(8, 16, 12, 12)}, {"BatchNorm1d", S2(256, 64)}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tc_error err = {{0}};
        tc_layer_check one, two;
        TCU_ASSERT_OK(tcu_make(&one, cases[k].type, NULL, 1, &cases[k].in, 1, &err), &err);
        TCU_ASSERT_OK(tcu_make(&two, cases[k].type, NULL, 1, &cases[k].in, 3, &err), &err);
        tc_layer_check_fill(&one, 23, 0);
        tc_layer_check_fill(&two, 23, 0);
        TCU_ASSERT_OK(tc_layer_check_forward(&one, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_backward(&one, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_forward(&two, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_backward(&two, &err), &err);
        CU_ASSERT(same_bits(&two.output, one.output.data));
        CU_ASSERT(same_bits(&two.grad_inputs[0], one.grad_inputs[0].data));
        for (int i = 0; i < 2; i++) {
            CU_ASSERT(same_bits(&two.grad_weights[i], one.grad_weights[i].data));
            CU_ASSERT(same_bits(&two.state[i], one.state[i].data));
        }
        tc_layer_check_free(&one);
        tc_layer_check_free(&two);
    }
}

/* Training backward (through the batch statistics) against a double
 * reference: dx = w is (dy - sum dy / m - xhat sum(dy xhat) / m). */
static void bn_backward_against_ref(tc_layer_check *lc, int64_t n, int64_t c, int64_t l)
{
    tc_error err = {{0}};
    const double m = (double)(n * l);
    const float *x = lc->inputs[0].data, *dy = lc->grad_output.data;
    const float *w = tc_layer_check_weight(lc, "weight")->data;
    double *dx = dalloc(n * c * l), *dw = dalloc(c), *db = dalloc(c);
    lc->training = 1;
    TCU_ASSERT_OK(tc_layer_check_forward(lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(lc, &err), &err);
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < n * l; i++)
            s += x[(i / l * c + ch) * l + i % l];
        for (int64_t i = 0; i < n * l; i++) {
            double d = x[(i / l * c + ch) * l + i % l] - s / m;
            q += d * d;
        }
        double is = 1 / sqrt(q / m + 1e-5);
        for (int64_t i = 0; i < n * l; i++) {
            int64_t at = (i / l * c + ch) * l + i % l;
            db[ch] += dy[at];
            dw[ch] += dy[at] * (x[at] - s / m) * is;
        }
        for (int64_t i = 0; i < n * l; i++) {
            int64_t at = (i / l * c + ch) * l + i % l;
            double xhat = (x[at] - s / m) * is;
            dx[at] = w[ch] * is * (dy[at] - db[ch] / m - xhat * dw[ch] / m);
        }
    }
    assert_near(&lc->grad_inputs[0], dx, 1e-5);
    assert_near(tc_layer_check_grad_weight(lc, "weight"), dw, 1e-4);
    assert_near(tc_layer_check_grad_weight(lc, "bias"), db, 1e-4);
    free(dx);
    free(dw);
    free(db);
}

/* Rows whose length is not a multiple of the vector width (143 = 8 * 17 + 7,
 * 5), in the calling thread and over worker threads: forward and backward
 * both ways against the references, and the same bits for 1 and 2 threads. */
static void test_batch_norm_odd_rows(void)
{
    static const struct {
        tc_shape in;
        int64_t n, c, l;
    } cases[] = {{S4(8, 16, 11, 13), 8, 16, 143}, {S4(2, 3, 1, 5), 2, 3, 5}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tc_error err = {{0}};
        tc_layer_check lc[2];
        bn_against_ref("BatchNorm2d", NULL, cases[k].in, cases[k].n, cases[k].c, cases[k].l,
                       0.1, 1);
        bn_against_ref("BatchNorm2d", NULL, cases[k].in, cases[k].n, cases[k].c, cases[k].l,
                       0.1, 2);
        for (int t = 0; t < 2; t++) {
            TCU_ASSERT_OK(tcu_make(&lc[t], "BatchNorm2d", NULL, 1, &cases[k].in, t + 1, &err),
                          &err);
            tc_layer_check_fill(&lc[t], 29, 0);
            bn_backward_against_ref(&lc[t], cases[k].n, cases[k].c, cases[k].l);
        }
        CU_ASSERT(same_bits(&lc[1].output, lc[0].output.data));
        CU_ASSERT(same_bits(&lc[1].grad_inputs[0], lc[0].grad_inputs[0].data));
        for (int i = 0; i < 2; i++) {
            CU_ASSERT(same_bits(&lc[1].grad_weights[i], lc[0].grad_weights[i].data));
            CU_ASSERT(same_bits(&lc[1].state[i], lc[0].state[i].data));
        }
        tc_layer_check_free(&lc[0]);
        tc_layer_check_free(&lc[1]);
    }
}

static void test_batch_norm_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    /* one value per channel: planning works (the graph plans at batch 1),
     * training refuses, inference is fine */
    tc_shape one = S4(1, 16, 1, 1);
    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm2d", NULL, 1, &one, 1, &err), &err);
    lc.training = 1;
    TCU_ASSERT_FAILS_WITH(tc_layer_check_forward(&lc, &err), &err,
                          "BatchNorm2d: expected more than 1 value per channel when training, "
                          "got input [1,16,1,1]");
    lc.training = 0;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    tc_layer_check_free(&lc);

    tc_shape f = S2(1, 7);
    TCU_ASSERT_OK(tcu_make(&lc, "BatchNorm1d", NULL, 1, &f, 1, &err), &err);
    TCU_ASSERT_FAILS_WITH(tc_layer_check_forward(&lc, &err), &err,
                          "BatchNorm1d: expected more than 1 value per channel when training, "
                          "got input [1,7]");
    tc_layer_check_free(&lc);

    tc_shape flat = S2(4, 3), five = {.ndim = 5, .dims = {2, 3, 2, 2, 2}};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "BatchNorm2d", NULL, 1, &flat, 1, &err), &err,
                          "BatchNorm2d needs a [batch, channels, height, width] input, got "
                          "[4,3]");
    tc_shape img = S4(2, 3, 4, 4);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "BatchNorm1d", NULL, 1, &img, 1, &err), &err,
                          "BatchNorm1d needs a [batch, features] or [batch, channels, length] "
                          "input, got [2,3,4,4]");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "BatchNorm2d", NULL, 1, &five, 1, &err), &err,
                          "got [2,3,2,2,2]");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "BatchNorm2d", "eps=0", 1, &img, 1, &err), &err, "eps");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "BatchNorm2d", "momentum=1.5", 1, &img, 1, &err), &err,
                          "momentum");
}

/* ---- gradient checks ------------------------------------------------------ */

#define RUN(cases) tcu_run_gradchecks(cases, sizeof cases / sizeof cases[0], NULL)

static void test_gradients_batch_norm(void)
{
    static const tcu_gc_case cases[] = {
        {"BatchNorm2d", NULL, 1, {S4(2, 3, 4, 5)}, 1, 0, 0, 0},
        {"BatchNorm2d", NULL, 1, {S4(1, 2, 3, 3)}, 1, 0, 0, 0},
        {"BatchNorm2d", "affine=0", 1, {S4(3, 2, 3, 3)}, 2, 0, 0, 0},
        {"BatchNorm2d", NULL, 1, {S4(2, 3, 4, 5)}, 1, 1, 0, 0},
        /* large enough for the worker threads */
        {"BatchNorm2d", NULL, 1, {S4(8, 16, 12, 12)}, 2, 0, 48, 1},
        {"BatchNorm1d", NULL, 1, {S2(256, 64)}, 2, 0, 48, 1},
        {"BatchNorm1d", NULL, 1, {S2(8, 3)}, 1, 0, 0, 0},
        {"BatchNorm1d", NULL, 1, {S3(3, 4, 5)}, 1, 0, 0, 0},
        {"BatchNorm1d", NULL, 1, {S2(6, 4)}, 1, 1, 0, 0},
    };
    RUN(cases);
}

static void test_gradients_others(void)
{
    static const tcu_gc_case cases[] = {
        {"Concat", NULL, 2, {S4(2, 3, 2, 2), S4(2, 1, 2, 2)}, 1, 0, 0, 0},
        {"Concat", "axis=2", 3, {S4(1, 2, 1, 3), S4(1, 2, 2, 3), S4(1, 2, 3, 3)}, 1, 0, 0, 0},
        {"Concat", "axis=3", 2, {S4(3, 2, 2, 1), S4(3, 2, 2, 4)}, 2, 0, 0, 0},
        {"Concat", NULL, 2, {S2(3, 5), S2(3, 2)}, 1, 0, 0, 0},
        {"GlobalAvgPool2d", NULL, 1, {S4(2, 3, 4, 5)}, 1, 0, 0, 0},
        {"GlobalAvgPool2d", NULL, 1, {S4(3, 2, 1, 1)}, 1, 0, 0, 0},
        {"LeakyReLU", NULL, 1, {S2(3, 7)}, 1, 0, 0, 0},
        {"LeakyReLU", "negative_slope=0.3", 1, {S4(2, 3, 4, 4)}, 2, 0, 0, 0},
        {"Softmax", NULL, 1, {S2(3, 6)}, 1, 0, 0, 0},
        {"Softmax", "axis=1", 1, {S4(2, 4, 2, 3)}, 1, 0, 0, 0},
        {"Softmax", "axis=-2", 1, {S3(2, 5, 3)}, 1, 0, 0, 0},
    };
    RUN(cases);
}

/* ---- Add and ReLU split over threads -------------------------------------- */

/* Sets every gradient input of lc to NaN, so that a part backward leaves
 * unwritten shows. */
static void poison_grads(tc_layer_check *lc, int n_inputs)
{
    for (int i = 0; i < n_inputs; i++)
        for (int64_t k = 0; k < count(&lc->grad_inputs[i]); k++)
            lc->grad_inputs[i].data[k] = NAN;
}

/* Tensors large enough (over 2^19 elements) for both layers to split them
 * over the threads: Add's sum and its two gradient copies, ReLU's max and
 * mask, element by element on 1 and 2 threads. */
static void test_add_relu_threads(void)
{
    const tc_shape in[2] = {S4(2, 16, 128, 129), S4(2, 16, 128, 129)};
    for (int threads = 1; threads <= 2; threads++) {
        tc_error err = {{0}};
        tc_layer_check add, relu;
        TCU_ASSERT_OK(tcu_make(&add, "Add", NULL, 2, in, threads, &err), &err);
        TCU_ASSERT_OK(tcu_make(&relu, "ReLU", NULL, 1, in, threads, &err), &err);
        tc_layer_check_fill(&add, 41, 0);
        tc_layer_check_fill(&relu, 43, 0);
        poison_grads(&add, 2);
        poison_grads(&relu, 1);
        TCU_ASSERT_OK(tc_layer_check_forward(&add, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_backward(&add, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_forward(&relu, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_backward(&relu, &err), &err);
        const float *a = add.inputs[0].data, *b = add.inputs[1].data, *dy = add.grad_output.data;
        const float *x = relu.inputs[0].data, *y = relu.output.data, *ry = relu.grad_output.data;
        int64_t bad_add = 0, bad_relu = 0, negative = 0;
        for (int64_t k = 0; k < count(&add.output); k++) {
            bad_add += add.output.data[k] != a[k] + b[k] || add.grad_inputs[0].data[k] != dy[k] ||
                       add.grad_inputs[1].data[k] != dy[k];
            bad_relu += y[k] != (x[k] < 0.0f ? 0.0f : x[k]) ||
                        relu.grad_inputs[0].data[k] != (x[k] > 0.0f ? ry[k] : 0.0f);
            negative += x[k] < 0.0f;
        }
        CU_ASSERT_EQUAL(bad_add, 0);
        CU_ASSERT_EQUAL(bad_relu, 0);
        CU_ASSERT(negative > 0 && negative < count(&relu.output));
        tc_layer_check_free(&add);
        tc_layer_check_free(&relu);
    }
}

int main(void)
{
    static const tcu_test tests[] = {
        {"registry has the ABI 2 layers", test_registry},
        {"LeakyReLU by hand", test_leaky_relu_hand},
        {"LeakyReLU errors", test_leaky_relu_errors},
        {"GlobalAvgPool2d by hand and by reference", test_global_avg_pool_hand},
        {"GlobalAvgPool2d errors", test_global_avg_pool_errors},
        {"Concat along channels by hand", test_concat_channels_hand},
        {"Concat along other axes by reference", test_concat_other_axes},
        {"Concat errors", test_concat_errors},
        {"Softmax by hand", test_softmax_hand},
        {"Softmax along each axis by reference", test_softmax_axes},
        {"Softmax errors", test_softmax_errors},
        {"BatchNorm weights and state declared", test_batch_norm_declarations},
        {"BatchNorm by hand", test_batch_norm_hand},
        {"BatchNorm training and inference by reference", test_batch_norm_reference},
        {"BatchNorm independent of the thread count", test_batch_norm_threads},
        {"BatchNorm on rows of odd length, 1 and 2 threads", test_batch_norm_odd_rows},
        {"BatchNorm errors", test_batch_norm_errors},
        {"gradient checks: BatchNorm", test_gradients_batch_norm},
        {"gradient checks: Concat, GlobalAvgPool2d, LeakyReLU, Softmax", test_gradients_others},
        {"Add and ReLU split over 1 and 2 threads", test_add_relu_threads},
        {NULL, NULL},
    };
    return tcu_run("layers_abi2", tests);
}
