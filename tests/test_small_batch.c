/* The small-batch paths of LeNet-sized layers: the SGEMM dot path on 1 to
 * 5 rows of A (a single row takes blocks of two column groups, two or
 * three rows their own blocks), and Conv2d at batch 1-3 with few output
 * channels (output pixels in the vector lanes, pv_forward in
 * conv2d_lanes.h) on odd shapes, against references written here from the
 * definitions, on 1 and 2 threads. Both paths keep each element's order of
 * operations, so the tests also ask for the same bits as before: a row of
 * the dot path gives the same bits alone as inside a block of three, and
 * an image convolved alone the same bits as inside a batch of nine (the
 * eight-image lane kernels, on a CPU with AVX2 and FMA). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"
#include "testutil.h"
#include "tinycnn/kernels.h"

/* Deterministic values in [-1, 1). */
static void fill(float *p, int64_t n, uint32_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static float *floats(int64_t n)
{
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* C [m, n] = A [m, k] * B^T (B [n, k]) on the dot path with `isa`; each
 * element against a double sum, and every row against the same row
 * computed alone (m = 1): the same bits. */
static void dot_case(tc_gemm_isa isa, int64_t m, int64_t n, int64_t k, int threads)
{
    float *a = floats(m * k), *b = floats(n * k), *c = floats(m * n), *c1 = floats(n);
    fill(a, m * k, (uint32_t)(m * 7 + k));
    fill(b, n * k, (uint32_t)(n * 13 + k));
    tc_set_threads(threads);
    tc_gemm_path used;
    tc_sgemm_ex(isa, TC_GEMM_PATH_DOT, 0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n, &used, NULL);
    CU_ASSERT_EQUAL(used, TC_GEMM_PATH_DOT);
    int64_t bad = 0, differ = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double want = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                want += (double)a[i * k + p] * b[j * k + p];
                mag += fabs((double)a[i * k + p] * b[j * k + p]);
            }
            bad += !(fabs(c[i * n + j] - want) <= 1e-5 * mag + 1e-6);
        }
        tc_sgemm_ex(isa, TC_GEMM_PATH_DOT, 0, 1, 1, n, k, 1.0f, a + i * k, k, b, k, 0.0f, c1, n,
                    NULL, NULL);
        differ += memcmp(c1, c + i * n, sizeof(float) * (size_t)n) != 0;
    }
    if (bad || differ)
        fprintf(stderr, "\n  dot %s m=%lld n=%lld k=%lld, %d thread(s): %lld off, %lld rows "
                        "differ alone", tc_gemm_isa_name(isa), (long long)m, (long long)n,
                (long long)k, threads, (long long)bad, (long long)differ);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(differ, 0);
    tc_set_threads(1);
    free(a), free(b), free(c), free(c1);
}

/* Rows 1-5 (one, two and three of a block, and blocks with a tail), column
 * counts below, at and past the two groups of a single row, K with and
 * without a vector tail and longer than one K chunk; LeNet's three layers
 * at batch 1. */
static void test_dot_rows(void)
{
    static const int64_t shapes[][3] = {
        {1, 1, 1},   {1, 3, 7},     {1, 8, 16},   {1, 9, 17},   {1, 120, 400},
        {1, 84, 120}, {1, 10, 84},  {1, 13, 3000}, {2, 5, 9},    {2, 12, 33},
        {3, 7, 40},  {4, 17, 25},   {5, 11, 2049}, {3, 120, 400}, {2, 1, 8},
    };
    tc_gemm_isa isas[2] = {TC_GEMM_ISA_GENERIC, TC_GEMM_ISA_AVX2};
    int n_isa = tc_gemm_have_avx2() ? 2 : 1;
    for (int q = 0; q < n_isa; q++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 1; t <= 2; t++)
                dot_case(isas[q], shapes[s][0], shapes[s][1], shapes[s][2], t);
}

typedef struct conv_case {
    int64_t c, h, w, o, k, p;
} conv_case;

/* y of a stride-1 Conv2d from the definition, in double. */
static void conv_ref(const conv_case *k, int64_t n, const float *x, const float *w,
                     const float *b, double *y, double *mag)
{
    const int64_t oh = k->h + 2 * k->p - k->k + 1, ow = k->w + 2 * k->p - k->k + 1;
    for (int64_t i = 0; i < n * k->o * oh * ow; i++) {
        int64_t px = i % (oh * ow), o = i / (oh * ow) % k->o, im = i / (oh * ow * k->o);
        double acc = b[o], m = fabs(b[o]);
        for (int64_t c = 0; c < k->c; c++)
            for (int64_t ki = 0; ki < k->k; ki++)
                for (int64_t kj = 0; kj < k->k; kj++) {
                    int64_t ih = px / ow + ki - k->p, iw = px % ow + kj - k->p;
                    if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w)
                        continue;
                    double t = (double)x[((im * k->c + c) * k->h + ih) * k->w + iw] *
                               w[((o * k->c + c) * k->k + ki) * k->k + kj];
                    acc += t;
                    m += fabs(t);
                }
        y[i] = acc;
        mag[i] = m;
    }
}

/* Forward of case k at batch n on `threads` threads with inputs from seed
 * 5 (image i the same whatever n) and weights from seed 9; *out (owner:
 * the caller) gets the output. */
static void conv_run(const conv_case *k, int64_t n, int threads, float **out, float *x_copy,
                     float *w_copy, float *b_copy)
{
    char params[128];
    snprintf(params, sizeof params, "out_channels=%lld kernel_size=%lld padding=%lld",
             (long long)k->o, (long long)k->k, (long long)k->p);
    tc_layer_check lc;
    tc_error err = {{0}};
    tc_shape in = {.ndim = 4, .dims = {n, k->c, k->h, k->w}};
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", params, 1, &in, threads, &err), &err);
    fill(lc.inputs[0].data, n * k->c * k->h * k->w, 5);
    tc_tensor *w = tc_layer_check_weight(&lc, "weight"), *b = tc_layer_check_weight(&lc, "bias");
    fill(w->data, tc_shape_count(&w->shape), 9);
    fill(b->data, k->o, 11);
    lc.training = 0;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    int64_t ny = tc_shape_count(&lc.output.shape);
    *out = floats(ny);
    memcpy(*out, lc.output.data, sizeof(float) * (size_t)ny);
    if (x_copy)
        memcpy(x_copy, lc.inputs[0].data, sizeof(float) * (size_t)(n * k->c * k->h * k->w));
    if (w_copy)
        memcpy(w_copy, w->data, sizeof(float) * (size_t)tc_shape_count(&w->shape));
    if (b_copy)
        memcpy(b_copy, b->data, sizeof(float) * (size_t)k->o);
    tc_layer_check_free(&lc);
}

/* Case k at batches 1-3 on 1 and 2 threads against the reference, and each
 * image's output the same bits as in a batch of nine on one thread. */
static void conv_case_check(const conv_case *k)
{
    const int64_t oh = k->h + 2 * k->p - k->k + 1, ow = k->w + 2 * k->p - k->k + 1;
    const int64_t per = k->o * oh * ow, nx = 3 * k->c * k->h * k->w;
    float *big, *x = floats(nx), *w = floats(k->o * k->c * k->k * k->k), *b = floats(k->o);
    double *y = calloc((size_t)(3 * per), sizeof *y), *mag = calloc((size_t)(3 * per), sizeof *mag);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mag);
    conv_run(k, 9, 1, &big, NULL, NULL, NULL);
    for (int64_t n = 1; n <= 3; n++)
        for (int t = 1; t <= 2; t++) {
            float *got;
            conv_run(k, n, t, &got, x, w, b);
            conv_ref(k, n, x, w, b, y, mag);
            int64_t bad = 0;
            for (int64_t i = 0; i < n * per; i++)
                bad += !(fabs(got[i] - y[i]) <= 2e-5 * mag[i] + 1e-6);
            /* without AVX2 + FMA both batches go through im2col + GEMM,
             * whose blocking follows the batch: only the reference holds */
            int same = !tc_gemm_have_avx2() ||
                       memcmp(got, big, sizeof(float) * (size_t)(n * per)) == 0;
            if (bad || !same)
                fprintf(stderr, "\n  Conv2d %lldx%lldx%lld -> %lld, k %lld, pad %lld, batch "
                                "%lld, %d thread(s): %lld off, %s bits as at batch 9",
                        (long long)k->c, (long long)k->h, (long long)k->w, (long long)k->o,
                        (long long)k->k, (long long)k->p, (long long)n, t, (long long)bad,
                        same ? "same" : "not the same");
            CU_ASSERT_EQUAL(bad, 0);
            CU_ASSERT(same);
            free(got);
        }
    free(big), free(x), free(w), free(b), free(y), free(mag);
}

/* LeNet's first layer (28x28, 1 -> 6, 5x5, padding 2) and odd ones: 1 to 7
 * channels (tiles of 6 with tails), rows of 16, 20, 31 and 33 (tiles that
 * do and do not divide them), several input channels, 3x3 and 1x1 kernels,
 * padding 0 and 1; and LeNet's second layer (16 channels, rows of 10: the
 * channel vectors). */
static void test_conv_small(void)
{
    static const conv_case cases[] = {
        {1, 28, 28, 6, 5, 2}, {1, 16, 16, 1, 3, 1}, {2, 9, 18, 7, 3, 0}, {3, 5, 31, 5, 3, 1},
        {1, 4, 33, 2, 1, 0},  {2, 6, 20, 3, 5, 2},  {6, 14, 14, 16, 5, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        conv_case_check(&cases[i]);
}

int main(void)
{
    const tcu_test tests[] = {
        {"SGEMM dot path on 1-5 rows: reference, and a row alone gives the same bits",
         test_dot_rows},
        {"Conv2d at batch 1-3 with few channels: reference, and batch 9's bits", test_conv_small},
        {NULL, NULL},
    };
    return tcu_run("small_batch", tests);
}
