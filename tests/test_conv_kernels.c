/* Conv2d on every GEMM instruction set and layer method this CPU can run:
 * the GEMM forced to the portable, AVX2 and AVX-512 kernels in turn
 * (tc_gemm_set_isa), and the layer with its direct kernels allowed (lanes,
 * pixels, and with AVX-512 the px5 kernels) or turned off
 * (TINYCNN_CONV_PATH=gemm: im2col + GEMM for everything), on odd sizes, strides, padding, channel groups and dilation,
 * forward and backward, against a naive reference written here from the
 * definition. An instruction set the CPU lacks is reported as not run and
 * its tests are not registered, so they are never counted as passed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_ref_util.h"
#include "gemm_internal.h"
#include "testutil.h"

typedef struct conv_case {
    const char *params;
    int64_t n, c, h, w, o, groups, kh, kw, sh, sw, ph, pw, dh, dw;
    int threads;
} conv_case;

/* Odd channel counts and sizes (tile and vector tails), a K of 576 (more
 * than one K block), strides, dilation, groups, depthwise, per-axis sizes,
 * batches large enough for the lane kernels, and the shapes of the AVX-512
 * direct ones (their weight gradient takes several images a call: groups
 * with tails, on 1 and 2 threads). */
static const conv_case cases[] = {
    {"out_channels=5 kernel_size=3 padding=1", 3, 3, 7, 9, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"out_channels=33 kernel_size=3 padding=1", 9, 17, 13, 11, 33, 1, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {"out_channels=40 kernel_size=3 padding=1", 3, 64, 6, 5, 40, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"out_channels=12 kernel_size=3 stride=2 padding=1", 10, 7, 11, 12, 12, 1, 3, 3, 2, 2, 1,
     1, 1, 1, 2},
    {"out_channels=6 kernel_size=5 padding=2 stride=3", 2, 4, 14, 9, 6, 1, 5, 5, 3, 3, 2, 2, 1,
     1, 1},
    {"out_channels=10 kernel_size=3 groups=2 dilation=2 padding=2", 3, 6, 9, 10, 10, 2, 3, 3,
     1, 1, 2, 2, 2, 2, 1},
    {"out_channels=9 kernel_size=3 groups=9 padding=1", 4, 9, 8, 7, 9, 9, 3, 3, 1, 1, 1, 1, 1,
     1, 2},
    {"out_channels=7 kernel_size=1 kernel_w=3 stride_h=2 pad_w=1 dilation_w=2", 3, 5, 9, 11,
     7, 1, 1, 3, 2, 1, 0, 1, 1, 2, 1},
    {"out_channels=16 kernel_size=3 padding=1", 17, 16, 12, 12, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1,
     2},
    /* the lane kernels' weight gradient on AVX-512 (32 registers): LeNet-5's
     * two layers (channel tiles of 4 and of 3, a group short of 8 images),
     * and 7x7 kernels (column tiles of 6 and 1, channel tiles 4, 4, 4, 1) */
    {"out_channels=16 kernel_size=5", 17, 6, 14, 14, 16, 1, 5, 5, 1, 1, 0, 0, 1, 1, 1},
    {"out_channels=6 kernel_size=5 padding=2", 11, 1, 28, 28, 6, 1, 5, 5, 1, 1, 2, 2, 1, 1, 2},
    {"out_channels=13 kernel_size=7 padding=3", 9, 2, 10, 11, 13, 1, 7, 7, 1, 1, 3, 3, 1, 1, 1},
    /* the AVX-512 direct kernels: odd channel counts (one and two vectors
     * of channels, zero lanes, a channel pair and a single one in the
     * weight gradient), rows that tiles do not divide, padding 0 and 2 (a
     * border of 2 and 0 for the input gradient) */
    {"out_channels=16 kernel_size=3 padding=0", 3, 17, 9, 10, 16, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1},
    {"out_channels=40 kernel_size=3 padding=2", 5, 20, 8, 8, 40, 1, 3, 3, 1, 1, 2, 2, 1, 1, 2},
    {"out_channels=24 kernel_size=3 padding=1", 2, 32, 13, 30, 24, 1, 3, 3, 1, 1, 1, 1, 1, 1,
     1},
    {"out_channels=64 kernel_size=3 padding=1", 3, 48, 9, 21, 64, 1, 3, 3, 1, 1, 1, 1, 1, 1,
     2},
    /* ... on rows of 4 to 7 (tiles of several rows, and of one when the
     * image has fewer rows than such a tile) */
    {"out_channels=20 kernel_size=3 padding=1", 4, 24, 5, 6, 20, 1, 3, 3, 1, 1, 1, 1, 1, 1, 2},
    {"out_channels=16 kernel_size=3 padding=1", 3, 16, 7, 4, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"out_channels=16 kernel_size=3 padding=1", 5, 16, 3, 5, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    /* ... with stride 2 (every second input pixel; the input gradient by
     * phases of odd and even rows and columns): odd and even sizes, rows
     * of 4 to 7 outputs and longer ones, one and two vectors of channels,
     * images with fewer rows than a tile, batches with leftover images */
    {"out_channels=24 kernel_size=3 stride=2 padding=1", 5, 17, 9, 11, 24, 1, 3, 3, 2, 2, 1, 1,
     1, 1, 2},
    {"out_channels=33 kernel_size=3 stride=2 padding=1", 3, 24, 15, 33, 33, 1, 3, 3, 2, 2, 1,
     1, 1, 1, 1},
    {"out_channels=17 kernel_size=3 stride=2 padding=1", 7, 33, 8, 16, 17, 1, 3, 3, 2, 2, 1, 1,
     1, 1, 2},
    {"out_channels=32 kernel_size=3 stride=2 padding=1", 4, 16, 3, 8, 32, 1, 3, 3, 2, 2, 1, 1,
     1, 1, 1},
    {"out_channels=40 kernel_size=3 stride=2 padding=1", 9, 20, 17, 49, 40, 1, 3, 3, 2, 2, 1,
     1, 1, 1, 2},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* Per element of y, dx, dw: the reference value and the sum of the
 * magnitudes of its terms (the scale of the rounding error allowed). */
typedef struct ref {
    double *y, *dx, *dw, *ya, *dxa, *dwa;
} ref;

static double *zeros(int64_t len)
{
    double *p = calloc((size_t)len, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* The reference of case k (cr_reference) with the magnitudes of its terms. */
static void reference(const conv_case *k, int64_t oh, int64_t ow, const float *x,
                      const float *w, const float *b, const float *dy, ref *r)
{
    const cr_geom g = {k->n,  k->c,  k->h,  k->w,  k->o,  k->groups, k->kh,
                       k->kw, k->sh, k->sw, k->ph, k->pw, k->dh,     k->dw};
    const cr_mag mag = {r->ya, r->dxa, r->dwa};
    double *db = zeros(k->o);
    cr_reference(&g, oh, ow, x, w, b, dy, r->y, r->dx, r->dw, db, &mag);
    free(db);
}

/* Elements of got off the reference by more than a float rounding of their
 * scale allows; prints the first. */
static int64_t count_off(const char *what, const float *got, const double *want,
                         const double *mag, int64_t len)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < len; i++) {
        double tol = 2e-5 * mag[i] + 1e-6;
        if (!(fabs((double)got[i] - want[i]) <= tol)) {
            if (bad == 0)
                fprintf(stderr, "\n  %s[%lld]: got %.9g, want %.9g", what, (long long)i,
                        (double)got[i], want[i]);
            bad++;
        }
    }
    return bad;
}

/* One case with the GEMM on isa and the layer's direct kernels on or off:
 * forward and backward against the reference. */
static void run_case(const conv_case *k, tc_gemm_isa isa, int direct)
{
    /* the layer reads these when created (conv2d.c): off means im2col +
     * GEMM only; the ISA's name makes it choose as on a CPU of that width */
    setenv("TINYCNN_CONV_PATH", direct ? "auto" : "gemm", 1);
    setenv("TINYCNN_GEMM_ISA", tc_gemm_isa_name(isa), 1);
    CU_ASSERT_EQUAL_FATAL(tc_gemm_set_isa(isa), isa);
    tc_layer_check lc;
    tc_error err = {{0}};
    tc_shape in = {.ndim = 4, .dims = {k->n, k->c, k->h, k->w}};
    int rc = tcu_make(&lc, "Conv2d", k->params, 1, &in, k->threads, &err);
    unsetenv("TINYCNN_CONV_PATH");
    unsetenv("TINYCNN_GEMM_ISA");
    if (rc)
        fprintf(stderr, "\n  %s: %s", k->params, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    tc_layer_check_fill(&lc, 7, 0.0);
    const int64_t oh = out_len(k->h, k->kh, k->sh, k->ph, k->dh);
    const int64_t ow = out_len(k->w, k->kw, k->sw, k->pw, k->dw);
    CU_ASSERT_EQUAL(lc.output.shape.dims[2], oh);
    CU_ASSERT_EQUAL(lc.output.shape.dims[3], ow);
    CU_ASSERT_EQUAL_FATAL(tc_layer_check_forward(&lc, &err), 0);
    CU_ASSERT_EQUAL_FATAL(tc_layer_check_backward(&lc, &err), 0);
    const int64_t ny = k->n * k->o * oh * ow, nx = k->n * k->c * k->h * k->w;
    const int64_t nw = k->o * (k->c / k->groups) * k->kh * k->kw;
    ref r = {zeros(ny), zeros(nx), zeros(nw), zeros(ny), zeros(nx), zeros(nw)};
    reference(k, oh, ow, lc.inputs[0].data, tc_layer_check_weight(&lc, "weight")->data,
              tc_layer_check_weight(&lc, "bias")->data, lc.grad_output.data, &r);
    int64_t bad = count_off("y", lc.output.data, r.y, r.ya, ny) +
                  count_off("dx", lc.grad_inputs[0].data, r.dx, r.dxa, nx) +
                  count_off("dw", tc_layer_check_grad_weight(&lc, "weight")->data, r.dw, r.dwa,
                            nw);
    if (bad)
        fprintf(stderr, "\n  %s, GEMM %s, direct kernels %s: %lld values off", k->params,
                tc_gemm_isa_name(isa), direct ? "on" : "off", (long long)bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(r.y), free(r.dx), free(r.dw), free(r.ya), free(r.dxa), free(r.dwa);
    tc_layer_check_free(&lc);
}

static void run_isa(tc_gemm_isa isa)
{
    for (int i = 0; i < NCASES; i++)
        for (int direct = 0; direct < 2; direct++)
            run_case(&cases[i], isa, direct);
    tc_gemm_set_isa(TC_GEMM_ISA_AUTO);
}

static void test_generic(void) { run_isa(TC_GEMM_ISA_GENERIC); }
static void test_avx2(void) { run_isa(TC_GEMM_ISA_AVX2); }
static void test_avx512(void) { run_isa(TC_GEMM_ISA_AVX512); }

/* One layer of case k on `threads` threads: the same call twice gives the
 * same bits. */
static void repeat_case(const conv_case *k, int threads)
{
    tc_layer_check lc;
    tc_error err = {{0}};
    tc_shape in = {.ndim = 4, .dims = {k->n, k->c, k->h, k->w}};
    CU_ASSERT_EQUAL_FATAL(tcu_make(&lc, "Conv2d", k->params, 1, &in, threads, &err), 0);
    tc_layer_check_fill(&lc, 3, 0.0);
    tc_tensor *dw = tc_layer_check_grad_weight(&lc, "weight");
    size_t ybytes = sizeof(float) * (size_t)tc_shape_count(&lc.output.shape);
    size_t wbytes = sizeof(float) * (size_t)tc_shape_count(&dw->shape);
    size_t xbytes = sizeof(float) * (size_t)tc_shape_count(&lc.grad_inputs[0].shape);
    float *y = malloc(ybytes), *w = malloc(wbytes), *dx = malloc(xbytes);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dx);
    for (int rep = 0; rep < 2; rep++) {
        CU_ASSERT_EQUAL_FATAL(tc_layer_check_forward(&lc, &err), 0);
        CU_ASSERT_EQUAL_FATAL(tc_layer_check_backward(&lc, &err), 0);
        if (rep == 0) {
            memcpy(y, lc.output.data, ybytes);
            memcpy(w, dw->data, wbytes);
            memcpy(dx, lc.grad_inputs[0].data, xbytes);
        }
    }
    CU_ASSERT_EQUAL(memcmp(y, lc.output.data, ybytes), 0);
    CU_ASSERT_EQUAL(memcmp(w, dw->data, wbytes), 0);
    CU_ASSERT_EQUAL(memcmp(dx, lc.grad_inputs[0].data, xbytes), 0);
    free(y), free(w), free(dx);
    tc_layer_check_free(&lc);
}

/* The same call twice gives the same bits, on 1 and 2 threads, with the
 * widest GEMM (the default): the layer's determinism contract (a stride-1
 * case and the last, stride-2, one). */
static void test_repeatable(void)
{
    for (int ci = 0; ci < 2; ci++)
        for (int threads = 1; threads <= 2; threads++)
            repeat_case(ci ? &cases[NCASES - 1] : &cases[1], threads);
}

int main(void)
{
    tcu_test tests[6];
    int n = 0;
    tests[n++] = (tcu_test){"Conv2d, portable GEMM kernels, direct kernels on and off",
                            test_generic};
    if (tc_gemm_have_avx2())
        tests[n++] = (tcu_test){"Conv2d, AVX2 GEMM kernels, direct kernels on and off",
                                test_avx2};
    else
        printf("conv kernels: AVX2+FMA not run (this CPU lacks it)\n");
    if (tc_gemm_have_avx512())
        tests[n++] = (tcu_test){"Conv2d, AVX-512 GEMM kernels, direct kernels on and off",
                                test_avx512};
    else
        printf("conv kernels: AVX-512 not run (this CPU lacks AVX-512F)\n");
    tests[n++] = (tcu_test){"Conv2d repeats bit for bit on 1 and 2 threads", test_repeatable};
    tests[n] = (tcu_test){NULL, NULL};
    printf("conv kernels: GEMM paths run: generic%s%s\n", tc_gemm_have_avx2() ? ", avx2" : "",
           tc_gemm_have_avx512() ? ", avx512" : "");
    return tcu_run("conv_kernels", tests);
}
