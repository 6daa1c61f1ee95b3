/*
 * test_resnet_kernels.c - the fast paths of the layers around ResNet's
 * convolutions against straightforward double-precision references, on
 * odd shapes, on 1 and 2 threads: BatchNorm's one-pass shifted statistics
 * (rows of L > 1, rows under a vector and over it, a mean far from 0),
 * its [N,C] path, ReLU split over the threads from 2^17 elements on, and
 * Add of three inputs. Results must also be bit-identical across thread
 * counts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/layer_check.h"

#define S2(a, b) ((tc_shape){.ndim = 2, .dims = {a, b}})
#define S4(a, b, c, d) ((tc_shape){.ndim = 4, .dims = {a, b, c, d}})

static int64_t count(const tc_tensor *t)
{
    return tc_shape_count(&t->shape);
}

/* Number of elements of got farther than tol * max(1, max |want|) from
 * want; names the first few on stderr. */
static int64_t far_from(const float *got, const double *want, int64_t n, double tol,
                        const char *what)
{
    double scale = 1.0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * scale) && bad++ < 5)
            fprintf(stderr, "\n  %s[%lld]: got %.9g, want %.9g\n", what, (long long)i,
                    (double)got[i], want[i]);
    return bad;
}

/* Uniform values offset + U(-spread, spread). */
static void fill(tc_tensor *t, uint64_t *rng, double offset, double spread)
{
    for (int64_t i = 0; i < count(t); i++)
        t->data[i] = (float)(offset + spread * (2.0 * tcu_rnd(rng) - 1.0));
}

/* ---- BatchNorm ------------------------------------------------------------ */

/* The reference of one training forward and backward of BatchNorm on the
 * view [n, c, l] in double: output y, input gradient dx, weight and bias
 * gradients, the batch mean and the unbiased variance. */
typedef struct bn_ref {
    double *y, *dx, *dw, *db, *mean, *uvar;
} bn_ref;

static void bn_reference(const tc_layer_check *lc, int64_t n, int64_t c, int64_t l, bn_ref *r)
{
    const float *x = lc->inputs[0].data, *dy = lc->grad_output.data;
    const float *w = lc->weights[0].data, *b = lc->weights[1].data;
    const double m = (double)(n * l);
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0.0, q = 0.0, sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < l; k++)
                s += x[(i * c + ch) * l + k];
        double mean = s / m;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < l; k++) {
                double d = x[(i * c + ch) * l + k] - mean;
                q += d * d;
            }
        double is = 1.0 / sqrt(q / m + 1e-5);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < l; k++) {
                int64_t o = (i * c + ch) * l + k;
                r->y[o] = (x[o] - mean) * is * w[ch] + b[ch];
                sdy += dy[o];
                sdyx += dy[o] * (x[o] - mean) * is;
            }
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < l; k++) {
                int64_t o = (i * c + ch) * l + k;
                double xh = (x[o] - mean) * is;
                r->dx[o] = w[ch] * is * (dy[o] - sdy / m - xh * sdyx / m);
            }
        r->mean[ch] = mean;
        r->uvar[ch] = q / (m - 1.0);
        r->dw[ch] = sdyx;
        r->db[ch] = sdy;
    }
}

/* Runs BatchNorm (momentum 1: the running statistics become the batch's)
 * on `shape` with inputs offset + U(-1, 1) and random affine weights on
 * `threads` threads, checks it against bn_reference, and returns the
 * output followed by the input gradient (malloc'd, the caller frees). */
static float *bn_run(const char *type, tc_shape shape, double offset, int threads)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    uint64_t rng = 77;
    TCU_ASSERT_OK(tcu_make(&lc, type, "momentum=1", 1, &shape, threads, &err), &err);
    int64_t n = shape.dims[0], c = shape.dims[1], l = count(&lc.inputs[0]) / (n * c);
    int64_t total = count(&lc.inputs[0]);
    fill(&lc.inputs[0], &rng, offset, 1.0);
    fill(&lc.weights[0], &rng, 1.0, 0.5);
    fill(&lc.weights[1], &rng, 0.0, 1.0);
    fill(&lc.grad_output, &rng, 0.0, 1.0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    double *buf = calloc((size_t)(2 * total + 4 * c), sizeof(double));
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    bn_ref r = {buf, buf + total, buf + 2 * total, buf + 2 * total + c, buf + 2 * total + 2 * c,
                buf + 2 * total + 3 * c};
    bn_reference(&lc, n, c, l, &r);
    CU_ASSERT_EQUAL(far_from(lc.output.data, r.y, total, 1e-4, "y"), 0);
    CU_ASSERT_EQUAL(far_from(lc.grad_inputs[0].data, r.dx, total, 1e-4, "dx"), 0);
    CU_ASSERT_EQUAL(far_from(lc.grad_weights[0].data, r.dw, c, 1e-4, "dweight"), 0);
    CU_ASSERT_EQUAL(far_from(lc.grad_weights[1].data, r.db, c, 1e-4, "dbias"), 0);
    CU_ASSERT_EQUAL(far_from(tc_layer_check_state(&lc, "running_mean")->data, r.mean, c, 1e-6,
                             "running_mean"), 0);
    /* each variance against itself: sums of squares about 0 would be off
     * by 1e-3 of it with the mean at 100 */
    for (int64_t ch = 0; ch < c; ch++)
        CU_ASSERT_EQUAL(far_from(tc_layer_check_state(&lc, "running_var")->data + ch,
                                 r.uvar + ch, 1, 2e-5 * r.uvar[ch], "running_var"), 0);
    float *out = malloc(sizeof(float) * (size_t)(2 * total));
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    memcpy(out, lc.output.data, sizeof(float) * (size_t)total);
    memcpy(out + total, lc.grad_inputs[0].data, sizeof(float) * (size_t)total);
    free(buf);
    tc_layer_check_free(&lc);
    return out;
}

/* bn_run on 1 and 2 threads; the two must agree bit for bit. */
static void bn_case(const char *type, tc_shape shape, double offset)
{
    float *one = bn_run(type, shape, offset, 1), *two = bn_run(type, shape, offset, 2);
    size_t bytes = sizeof(float) * 2 * (size_t)tc_shape_count(&shape);
    CU_ASSERT(memcmp(one, two, bytes) == 0);
    free(one);
    free(two);
}

static void test_batch_norm_rows(void)
{
    bn_case("BatchNorm2d", S4(3, 5, 7, 5), 0.0);    /* rows of 35: vector, half, tail */
    bn_case("BatchNorm2d", S4(2, 3, 3, 3), 0.5);    /* rows under a vector */
    bn_case("BatchNorm2d", S4(5, 6, 9, 17), 100.0); /* prefetched rows, far mean */
    bn_case("BatchNorm2d", S4(4, 33, 8, 8), -3.0);  /* ResNet-8's last stage, odd C */
    bn_case("BatchNorm2d", S4(1, 2, 1, 2), 0.0);    /* one row per channel */
}

static void test_batch_norm_features(void)
{
    bn_case("BatchNorm1d", S2(9, 13), 0.0);
    bn_case("BatchNorm1d", S2(7, 21), 100.0);
}

/* ---- ReLU and Add on either side of the split ----------------------------- */

/* ReLU forward and backward on n elements, element by element; returns the
 * number of wrong elements. */
static int64_t relu_wrong(int64_t n, int threads)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape s = S2(1, n);
    uint64_t rng = 5;
    TCU_ASSERT_OK(tcu_make(&lc, "ReLU", NULL, 1, &s, threads, &err), &err);
    fill(&lc.inputs[0], &rng, 0.0, 1.0);
    fill(&lc.grad_output, &rng, 0.0, 1.0);
    for (int64_t k = 0; k < n; k++)
        lc.grad_inputs[0].data[k] = NAN;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    const float *x = lc.inputs[0].data, *y = lc.output.data, *dy = lc.grad_output.data;
    int64_t bad = 0;
    for (int64_t k = 0; k < n; k++)
        bad += y[k] != (x[k] < 0.0f ? 0.0f : x[k]) ||
               lc.grad_inputs[0].data[k] != (x[k] > 0.0f ? dy[k] : 0.0f);
    tc_layer_check_free(&lc);
    return bad;
}

static void test_relu_split(void)
{
    const int64_t sizes[] = {(1 << 17) - 1, 1 << 17, (1 << 17) + 7, 3 * (1 << 16) + 3};
    for (int threads = 1; threads <= 2; threads++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            CU_ASSERT_EQUAL(relu_wrong(sizes[i], threads), 0);
}

/* Add of three inputs (the third added in a second sweep), odd size */
static void test_add_three(void)
{
    const tc_shape s[3] = {S4(3, 7, 41, 43), S4(3, 7, 41, 43), S4(3, 7, 41, 43)};
    for (int threads = 1; threads <= 2; threads++) {
        tc_error err = {{0}};
        tc_layer_check lc;
        uint64_t rng = 9;
        TCU_ASSERT_OK(tcu_make(&lc, "Add", NULL, 3, s, threads, &err), &err);
        for (int i = 0; i < 3; i++)
            fill(&lc.inputs[i], &rng, 0.0, 1.0);
        TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
        int64_t bad = 0;
        for (int64_t k = 0; k < count(&lc.output); k++)
            bad += lc.output.data[k] !=
                   (lc.inputs[0].data[k] + lc.inputs[1].data[k]) + lc.inputs[2].data[k];
        CU_ASSERT_EQUAL(bad, 0);
        tc_layer_check_free(&lc);
    }
}

int main(void)
{
    static const tcu_test tests[] = {
        {"BatchNorm2d rows against the reference, 1 and 2 threads", test_batch_norm_rows},
        {"BatchNorm1d features against the reference, 1 and 2 threads",
         test_batch_norm_features},
        {"ReLU around its parallel threshold", test_relu_split},
        {"Add of three inputs", test_add_three},
        {NULL, NULL},
    };
    return tcu_run("resnet_kernels", tests);
}
