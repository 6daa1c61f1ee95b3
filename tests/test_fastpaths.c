/* The layers' fast paths against plain reference loops (Conv2d's in conv_ref_util.h):
 * Conv2d (grouped im2col + GEMM) over strides, paddings, kernel sizes,
 * channel counts, batch sizes and thread counts, forward and backward;
 * MaxPool2d's 2x2 stride-2 path and its general path, values and the
 * positions backward routes through, with ties and NaN. The references are
 * the textbook definitions, not copies of the layer code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_ref_util.h"
#include "testutil.h"
#include "tinycnn/layer_check.h"

#define S4(a, b, c, d) ((tc_shape){.ndim = 4, .dims = {a, b, c, d}})

static int make(tc_layer_check *lc, const char *type, const char *params, const tc_shape *in,
                int n_threads, tc_error *err)
{
    return tcu_make(lc, type, params, 1, in, n_threads, err);
}

static uint64_t rnd_state;

/* ---- Conv2d -------------------------------------------------------------- */

typedef struct conv_case {
    int64_t n, c, h, w, o, k, s, p;
    int bias, threads;
} conv_case;

/* |got - want| within tol times the scale of the terms that were summed. */
static int close_to(float got, double want, double scale, double tol)
{
    return fabs((double)got - want) <= tol * (scale > 1.0 ? scale : 1.0);
}

static void check_against(const char *what, const conv_case *k, const float *got,
                          const double *want, int64_t n, double scale, int *bad)
{
    for (int64_t i = 0; i < n; i++)
        if (!close_to(got[i], want[i], scale, 1e-5)) {
            if (*bad < 5)
                fprintf(stderr, "\n  Conv2d n%lld c%lld %lldx%lld o%lld k%lld s%lld p%lld "
                                "threads %d: %s[%lld] = %.9g, reference %.9g",
                        (long long)k->n, (long long)k->c, (long long)k->h, (long long)k->w,
                        (long long)k->o, (long long)k->k, (long long)k->s, (long long)k->p,
                        k->threads, what, (long long)i, (double)got[i], want[i]);
            (*bad)++;
        }
}

static void run_conv_case(const conv_case *k)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    char params[160];
    snprintf(params, sizeof params, "out_channels=%lld kernel_size=%lld stride=%lld padding=%lld "
             "bias=%d", (long long)k->o, (long long)k->k, (long long)k->s, (long long)k->p,
             k->bias);
    tc_shape in = S4(k->n, k->c, k->h, k->w);
    TCU_ASSERT_OK(make(&lc, "Conv2d", params, &in, k->threads, &err), &err);
    int64_t oh = lc.output.shape.dims[2], ow = lc.output.shape.dims[3];
    CU_ASSERT_EQUAL(oh, (k->h + 2 * k->p - k->k) / k->s + 1);
    CU_ASSERT_EQUAL(ow, (k->w + 2 * k->p - k->k) / k->s + 1);
    cr_ref r;
    /* the square case of the per-axis reference */
    cr_geom g = {k->n, k->c, k->h, k->w, k->o, 1, k->k, k->k, k->s, k->s, k->p, k->p, 1, 1};
    cr_run(&lc, &rnd_state, &g, &r);
    int64_t nw = r.nw;
    /* the scale of a sum is the number of its terms (all are in [-1, 1]) */
    int bad = 0;
    double taps = (double)(k->c * k->k * k->k);
    double outs = (double)(k->n * oh * ow);
    check_against("y", k, lc.output.data, r.y, r.ny, taps, &bad);
    check_against("dx", k, lc.grad_inputs[0].data, r.dx, r.nx, (double)(k->o * k->k * k->k),
                  &bad);
    check_against("dw", k, lc.grad_weights[0].data, r.dw, nw, outs, &bad);
    if (k->bias)
        check_against("db", k, lc.grad_weights[1].data, r.db, k->o, outs, &bad);
    CU_ASSERT_EQUAL(bad, 0);

    /* the same call again gives the same bits */
    float *first = malloc(sizeof(float) * (size_t)nw);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    memcpy(first, lc.grad_weights[0].data, sizeof(float) * (size_t)nw);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    CU_ASSERT_EQUAL(memcmp(first, lc.grad_weights[0].data, sizeof(float) * (size_t)nw), 0);
    free(first);
    free(r.y);
    tc_layer_check_free(&lc);
}

static void test_conv_variants(void)
{
    static const conv_case cases[] = {
        /* n  c   h   w  o  k  s  p  bias threads */
        {1, 1, 28, 28, 6, 5, 1, 2, 1, 1},   /* LeNet conv1 */
        {9, 1, 28, 28, 6, 5, 1, 2, 1, 2},   /* several groups per slice */
        {7, 6, 14, 14, 16, 5, 1, 0, 1, 2},  /* LeNet conv2 */
        {5, 6, 14, 14, 16, 5, 1, 0, 1, 3},  /* more slices than cores */
        {3, 2, 9, 7, 4, 3, 2, 1, 1, 2},     /* stride 2, odd sizes */
        {4, 3, 10, 11, 5, 3, 3, 2, 0, 1},   /* stride 3, wide padding, no bias */
        {2, 2, 5, 5, 3, 5, 1, 2, 1, 2},     /* kernel as large as the image */
        {3, 4, 6, 5, 2, 1, 1, 0, 1, 2},     /* 1x1 */
        {2, 3, 7, 7, 2, 1, 2, 1, 1, 1},     /* 1x1 with stride and padding */
        {6, 1, 8, 8, 3, 4, 2, 3, 1, 4},     /* even kernel, padding near k */
        {1, 2, 3, 3, 1, 3, 2, 2, 0, 2},     /* taps that miss the image entirely */
        {40, 2, 12, 12, 8, 3, 1, 1, 1, 2},  /* batch larger than a group */
        /* at least 4 images per thread: eight images per vector lane group
         * where the CPU has AVX2 and FMA, im2col + GEMM elsewhere */
        {8, 1, 28, 28, 6, 5, 1, 2, 1, 1},   /* one full group */
        {16, 6, 14, 14, 16, 5, 1, 0, 1, 2}, /* LeNet conv2, a group per thread */
        {13, 3, 9, 7, 4, 3, 2, 1, 1, 1},    /* stride 2, a part-filled group */
        {10, 7, 8, 9, 13, 3, 1, 1, 1, 2},   /* 7 in and 13 out channels, odd width */
        {12, 2, 12, 12, 3, 7, 1, 3, 0, 3},  /* kernel 7, padding 3, 3 threads */
        {9, 4, 6, 5, 5, 1, 1, 0, 1, 2},     /* 1x1 */
        {8, 2, 9, 9, 2, 4, 3, 2, 1, 1},     /* even kernel, stride 3 */
        {20, 1, 5, 5, 2, 5, 1, 2, 1, 1},    /* kernel as large as the padded image */
        {35, 2, 4, 4, 1, 3, 1, 0, 1, 2},    /* one output channel, 2x2 output */
        /* fewer per thread, stride 1, rows of 4+ outputs: one image at a
         * time with output channels in the lanes (AVX2 + FMA) */
        {2, 3, 9, 13, 20, 3, 1, 1, 1, 1},   /* 20 channels: 16 + 4, rows of 13 */
        {3, 2, 6, 7, 9, 3, 1, 0, 1, 2},     /* 9 channels, rows of 5 */
        {1, 1, 4, 4, 1, 1, 1, 0, 1, 1},     /* 1x1, one channel */
        {2, 5, 16, 18, 4, 5, 1, 2, 0, 1},   /* rows of 18, padding, no bias */
    };
    rnd_state = 7;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv_case(&cases[i]);
}

/* ---- MaxPool2d ------------------------------------------------------------ */

/* The row-major scan over each window (padding excluded): the first NaN
 * wins, else the largest value, the earliest on ties. */
static void pool_reference(const float *x, int64_t planes, int64_t h, int64_t w, int64_t k,
                           int64_t s, int64_t p, int64_t oh, int64_t ow, float *y, int64_t *at)
{
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t best = -1;
                for (int64_t ki = 0; ki < k && !(best >= 0 && isnan(x[best])); ki++)
                    for (int64_t kj = 0; kj < k; kj++) {
                        int64_t ih = i * s - p + ki, iw = j * s - p + kj;
                        if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                            continue;
                        int64_t xi = (pl * h + ih) * w + iw;
                        if (best < 0 || isnan(x[xi]) || x[xi] > x[best]) {
                            best = xi;
                            if (isnan(x[xi]))
                                break;
                        }
                    }
                y[(pl * oh + i) * ow + j] = x[best];
                at[(pl * oh + i) * ow + j] = best;
            }
}

static void run_pool_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t s,
                          int64_t p, int threads, int nan_every)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    char params[96];
    snprintf(params, sizeof params, "kernel_size=%lld stride=%lld padding=%lld", (long long)k,
             (long long)s, (long long)p);
    tc_shape in = S4(n, c, h, w);
    TCU_ASSERT_OK(make(&lc, "MaxPool2d", params, &in, threads, &err), &err);
    int64_t oh = lc.output.shape.dims[2], ow = lc.output.shape.dims[3];
    int64_t nx = tc_shape_count(&in), ny = tc_shape_count(&lc.output.shape);
    /* few distinct values, so windows have ties; signed zeros; some NaN */
    static const float levels[] = {-1.5f, -0.0f, 0.0f, 0.5f, 2.0f};
    for (int64_t i = 0; i < nx; i++) {
        lc.inputs[0].data[i] = levels[(int)(tcu_rnd(&rnd_state) * 5)];
        if (nan_every && (int64_t)(tcu_rnd(&rnd_state) * nan_every) == 0)
            lc.inputs[0].data[i] = NAN;
    }
    for (int64_t i = 0; i < ny; i++)
        lc.grad_output.data[i] = (float)(i + 1); /* distinct, exact */
    /* ny + 1 floats: the int64 indices after them start 8-byte aligned */
    float *y = malloc(sizeof(float) * (size_t)(ny + 1) + sizeof(int64_t) * (size_t)ny +
                      sizeof(double) * (size_t)nx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    int64_t *at = (int64_t *)(void *)(y + ny + (ny & 1));
    double *dx = (double *)(void *)(at + ny);
    pool_reference(lc.inputs[0].data, n * c, h, w, k, s, p, oh, ow, y, at);
    memset(dx, 0, sizeof(double) * (size_t)nx);
    for (int64_t i = 0; i < ny; i++)
        dx[at[i]] += lc.grad_output.data[i];

    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    for (int64_t i = 0; i < nx; i++) /* backward must overwrite every pixel */
        lc.grad_inputs[0].data[i] = NAN;
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    int bad = 0;
    for (int64_t i = 0; i < ny; i++) {
        float got = lc.output.data[i];
        /* the same bits: NaN for NaN, -0 for -0 */
        if (memcmp(&got, &y[i], sizeof got) != 0 && !(isnan(got) && isnan(y[i])))
            bad++;
    }
    for (int64_t i = 0; i < nx; i++)
        if ((double)lc.grad_inputs[0].data[i] != dx[i])
            bad++;
    if (bad)
        fprintf(stderr, "\n  MaxPool2d %lldx%lldx%lldx%lld k%lld s%lld p%lld: %d mismatches",
                (long long)n, (long long)c, (long long)h, (long long)w, (long long)k,
                (long long)s, (long long)p, bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(y);
    tc_layer_check_free(&lc);
}

static void test_max_pool_2x2(void)
{
    rnd_state = 11;
    run_pool_case(3, 6, 28, 28, 2, 2, 0, 2, 0);  /* LeNet pool1 */
    run_pool_case(5, 16, 10, 10, 2, 2, 0, 1, 0); /* LeNet pool2 */
    run_pool_case(2, 3, 7, 9, 2, 2, 0, 2, 0);    /* odd sizes: last row/column unused */
    run_pool_case(2, 3, 2, 30, 2, 2, 0, 1, 0);   /* one output row, a vector tail */
    run_pool_case(3, 2, 5, 6, 2, 2, 0, 2, 0);    /* rows of 3 windows, odd height */
    run_pool_case(2, 2, 4, 11, 2, 2, 0, 1, 3);   /* rows of 5 windows, odd width, NaN */
    run_pool_case(2, 3, 6, 35, 2, 2, 0, 2, 5);   /* rows of 17 (8-wide steps), NaN */
    run_pool_case(1, 2, 8, 16, 2, 2, 0, 1, 0);   /* rows of exactly 8 */
    run_pool_case(4, 5, 12, 12, 2, 2, 0, 2, 7);  /* NaN */
    run_pool_case(8, 16, 64, 64, 2, 2, 0, 2, 0); /* 2^19 inputs: over the threads */
    run_pool_case(1, 2, 6, 6, 2, 2, 0, 1, 2);    /* mostly NaN */
}

static void test_max_pool_general(void)
{
    rnd_state = 13;
    run_pool_case(2, 3, 9, 8, 3, 2, 1, 2, 0);
    run_pool_case(2, 3, 9, 8, 2, 1, 0, 1, 0);  /* overlapping 2x2 */
    run_pool_case(2, 2, 10, 10, 2, 2, 1, 1, 0); /* 2x2 stride 2 with padding */
    run_pool_case(3, 2, 11, 7, 3, 3, 1, 2, 5);
    run_pool_case(1, 4, 5, 5, 4, 1, 2, 1, 9);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"Conv2d against the reference: strides, paddings, kernels, batches, threads",
         test_conv_variants},
        {"MaxPool2d 2x2 stride 2 against the reference scan (ties, NaN, odd sizes)",
         test_max_pool_2x2},
        {"MaxPool2d general windows against the reference scan", test_max_pool_general},
        {NULL, NULL},
    };
    return tcu_run("fast paths", tests);
}
