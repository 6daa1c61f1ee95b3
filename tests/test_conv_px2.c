/* Conv2d's AVX2 direct 3x3 kernels (px2, layers/conv2d_px2.h): forward,
 * input gradient and weight gradient against a plain reference written
 * here from the definition, on odd shapes (rows and channel counts that the
 * tiles do not divide, 16 to 256 channels), stride 1 and 2, batches of 1
 * and several, 1 and 2 threads; and the same seed and thread count give the
 * same bits. The layer picks px2 on a CPU with AVX2 and FMA but no AVX-512;
 * TINYCNN_GEMM_ISA=avx2, set before each layer is made, makes it choose so
 * on an AVX-512 CPU too. That px2 ran is checked, not assumed: on batches
 * too small for the eight-image lane kernels the only direct backward is
 * px2, so its input or weight gradient must differ in some bits from
 * those of im2col + GEMM (TINYCNN_CONV_PATH=gemm), whose sums run in
 * another order (the input gradient's nearly always: GEMM sums over the
 * output channels tap by tap, px2 over both at once; the weight gradient
 * of a few pixels can be the same chain of multiply-adds in both). Where
 * px2 cannot run (no AVX2+FMA, or a build without the x86 kernels) the
 * program says so and runs only the reference check of the path the layer
 * takes instead, under its own name. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"
#include "testutil.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(TC_NO_CLONES)
#define PX2_BUILT 1
#else
#define PX2_BUILT 0
#endif

/* A 3x3 layer: batch n of c x h x w images to o channels, stride s,
 * padding p, on `threads` threads. */
typedef struct px2_case {
    int64_t n, c, h, w, o, s, p;
    int threads;
} px2_case;

/* Tails everywhere: channel counts that are not multiples of 8, 16 or 32
 * (the weight gradient's 4-vector tiles and their 1-3 vector leftovers),
 * rows of 4 to 7 (3-row tiles; images of fewer rows), long odd rows,
 * padding 0 and 2, up to 256 channels, stride 2 with odd and even sizes. */
static const px2_case cases[] = {
    {3, 16, 9, 10, 16, 1, 0, 1},  {5, 20, 8, 8, 40, 1, 2, 2},    {2, 24, 13, 30, 24, 1, 1, 1},
    {3, 48, 9, 21, 64, 1, 1, 2},  {4, 17, 5, 6, 33, 1, 1, 2},    {1, 16, 3, 5, 16, 1, 1, 1},
    {2, 200, 6, 7, 136, 1, 1, 2}, {1, 256, 4, 4, 256, 1, 1, 2},  {3, 16, 7, 29, 56, 1, 1, 1},
    {5, 17, 9, 11, 24, 2, 1, 2},  {3, 24, 15, 33, 33, 2, 1, 1},  {7, 33, 8, 16, 17, 2, 1, 2},
    {1, 16, 3, 8, 32, 2, 1, 1},   {2, 40, 17, 49, 40, 2, 1, 2},  {2, 96, 8, 8, 192, 2, 1, 2},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int64_t out_size(const px2_case *k, int64_t in) { return (in + 2 * k->p - 3) / k->s + 1; }

/* Reference products in double, with per element the sum of the terms'
 * magnitudes (the scale of the rounding a float sum may have). */
typedef struct sums {
    double *val, *mag;
} sums;

static sums sums_new(int64_t len)
{
    sums r = {calloc((size_t)len, sizeof(double)), calloc((size_t)len, sizeof(double))};
    CU_ASSERT_FATAL(r.val != NULL && r.mag != NULL);
    return r;
}

static void sums_free(sums *r) { free(r->val), free(r->mag); }

static void sums_add(sums *r, int64_t i, double a, double b)
{
    r->val[i] += a * b;
    r->mag[i] += fabs(a * b);
}

/* For every output element and kernel tap inside the image: its input
 * index *xi and weight index *wi; calls visit on each. */
typedef void (*tap_fn)(void *ctx, int64_t yi, int64_t xi, int64_t wi);

static void each_tap(const px2_case *k, tap_fn visit, void *ctx)
{
    const int64_t oh = out_size(k, k->h), ow = out_size(k, k->w);
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++)
                    for (int64_t c = 0; c < k->c; c++)
                        for (int64_t t = 0; t < 9; t++) {
                            const int64_t ih = y * k->s - k->p + t / 3;
                            const int64_t iw = x * k->s - k->p + t % 3;
                            if (ih >= 0 && ih < k->h && iw >= 0 && iw < k->w)
                                visit(ctx, ((n * k->o + o) * oh + y) * ow + x,
                                      ((n * k->c + c) * k->h + ih) * k->w + iw,
                                      (o * k->c + c) * 9 + t);
                        }
}

typedef struct ref_ctx {
    const float *x, *w, *dy;
    sums y, dx, dw;
} ref_ctx;

static void ref_visit(void *arg, int64_t yi, int64_t xi, int64_t wi)
{
    ref_ctx *r = arg;
    sums_add(&r->y, yi, r->x[xi], r->w[wi]);
    sums_add(&r->dx, xi, r->dy[yi], r->w[wi]);
    sums_add(&r->dw, wi, r->dy[yi], r->x[xi]);
}

/* Values of got farther from the reference than float rounding of their
 * scale allows; names the first. */
static int64_t off_count(const char *what, const float *got, const sums *want, int64_t len)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < len; i++)
        if (!(fabs(got[i] - want->val[i]) <= 2e-5 * want->mag[i] + 1e-6) && bad++ == 0)
            fprintf(stderr, "\n  %s[%lld] = %.9g, reference %.9g", what, (long long)i,
                    (double)got[i], want->val[i]);
    return bad;
}

/* Makes case k's layer (bias off, so the products are compared alone) with
 * the given TINYCNN_CONV_PATH and TINYCNN_GEMM_ISA (read when it is made),
 * fills it from seed and runs forward and backward. */
static void run_layer(const px2_case *k, const char *path, int seed, tc_layer_check *lc)
{
    char params[128];
    snprintf(params, sizeof params, "out_channels=%lld kernel_size=3 stride=%lld padding=%lld "
             "bias=0", (long long)k->o, (long long)k->s, (long long)k->p);
    setenv("TINYCNN_CONV_PATH", path, 1);
    setenv("TINYCNN_GEMM_ISA", "avx2", 1);
    tc_error err = {{0}};
    tc_shape in = {.ndim = 4, .dims = {k->n, k->c, k->h, k->w}};
    int rc = tcu_make(lc, "Conv2d", params, 1, &in, k->threads, &err);
    unsetenv("TINYCNN_CONV_PATH");
    unsetenv("TINYCNN_GEMM_ISA");
    if (rc)
        fprintf(stderr, "\n  %s: %s", params, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    tc_layer_check_fill(lc, (uint64_t)seed, 0.0);
    CU_ASSERT_EQUAL_FATAL(tc_layer_check_forward(lc, &err), 0);
    CU_ASSERT_EQUAL_FATAL(tc_layer_check_backward(lc, &err), 0);
}

static float *dw_of(tc_layer_check *lc) { return tc_layer_check_grad_weight(lc, "weight")->data; }

/* Case k on the layer's own choice of kernels against the reference. */
static void check_case(const px2_case *k, tc_layer_check *lc)
{
    const int64_t ny = tc_shape_count(&lc->output.shape);
    const int64_t nx = tc_shape_count(&lc->inputs[0].shape), nw = k->o * k->c * 9;
    ref_ctx r = {lc->inputs[0].data, tc_layer_check_weight(lc, "weight")->data,
                 lc->grad_output.data, sums_new(ny), sums_new(nx), sums_new(nw)};
    CU_ASSERT_EQUAL(lc->output.shape.dims[2], out_size(k, k->h));
    CU_ASSERT_EQUAL(lc->output.shape.dims[3], out_size(k, k->w));
    each_tap(k, ref_visit, &r);
    int64_t bad = off_count("y", lc->output.data, &r.y, ny) +
                  off_count("dx", lc->grad_inputs[0].data, &r.dx, nx) +
                  off_count("dw", dw_of(lc), &r.dw, nw);
    if (bad)
        fprintf(stderr, "\n  %lld->%lld %lldx%lld stride %lld padding %lld, batch %lld, %d "
                "threads: %lld values off", (long long)k->c, (long long)k->o, (long long)k->h,
                (long long)k->w, (long long)k->s, (long long)k->p, (long long)k->n, k->threads,
                (long long)bad);
    CU_ASSERT_EQUAL(bad, 0);
    sums_free(&r.y), sums_free(&r.dx), sums_free(&r.dw);
}

/* Whether the len floats of a and b differ in any bit. */
static int differ(const float *a, const float *b, int64_t len)
{
    return memcmp(a, b, sizeof(float) * (size_t)len) != 0;
}

/* Every case through px2 against the reference; on the cases whose slices
 * have fewer than 4 images (no lane kernels) the backward must differ from
 * im2col + GEMM's: the direct backward, px2, ran. */
static void test_px2_reference(void)
{
    int proved = 0;
    for (int i = 0; i < NCASES; i++) {
        const px2_case *k = &cases[i];
        tc_layer_check lc, gemm;
        run_layer(k, "auto", 11 + i, &lc);
        check_case(k, &lc);
        int64_t slices = k->threads < k->n ? k->threads : k->n;
        if ((k->n + slices - 1) / slices < 4) {
            run_layer(k, "gemm", 11 + i, &gemm);
            const int64_t nx = tc_shape_count(&lc.inputs[0].shape), nw = k->o * k->c * 9;
            int direct = differ(lc.grad_inputs[0].data, gemm.grad_inputs[0].data, nx) ||
                         differ(dw_of(&lc), dw_of(&gemm), nw);
            if (!direct)
                fprintf(stderr, "\n  case %d: backward is bit for bit im2col + GEMM's", i);
            CU_ASSERT(direct);
            proved += direct;
            tc_layer_check_free(&gemm);
        }
        tc_layer_check_free(&lc);
    }
    CU_ASSERT(proved > 0); /* a table without small batches would prove nothing */
    printf("(px2 backward seen on %d cases) ", proved);
}

/* Two layers of case k made and filled alike on the case's thread count
 * give the same bits in all three products. */
static void repeat_case(const px2_case *k)
{
    tc_layer_check a, b;
    run_layer(k, "auto", 5, &a);
    run_layer(k, "auto", 5, &b);
    CU_ASSERT(!differ(a.output.data, b.output.data, tc_shape_count(&a.output.shape)));
    CU_ASSERT(!differ(a.grad_inputs[0].data, b.grad_inputs[0].data,
                      tc_shape_count(&a.inputs[0].shape)));
    CU_ASSERT(!differ(dw_of(&a), dw_of(&b), k->o * k->c * 9));
    tc_layer_check_free(&a);
    tc_layer_check_free(&b);
}

/* Stride 1 and 2, several images a slice, on 1 and 2 threads. */
static void test_px2_repeatable(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        px2_case s1 = {9, 24, 10, 13, 40, 1, 1, threads}, s2 = {9, 17, 12, 18, 24, 2, 1, threads};
        repeat_case(&s1);
        repeat_case(&s2);
    }
}

/* Where px2 cannot run: the same shapes through whatever the layer takes. */
static void test_fallback_reference(void)
{
    for (int i = 0; i < NCASES; i++) {
        tc_layer_check lc;
        run_layer(&cases[i], "auto", 11 + i, &lc);
        check_case(&cases[i], &lc);
        tc_layer_check_free(&lc);
    }
}

int main(void)
{
    tcu_test tests[4];
    int n = 0;
    if (PX2_BUILT && tc_gemm_have_avx2()) {
        tests[n++] = (tcu_test){"Conv2d px2 (AVX2) forward, input and weight gradients "
                                "against the reference", test_px2_reference};
        tests[n++] = (tcu_test){"Conv2d px2 repeats bit for bit on 1 and 2 threads",
                                test_px2_repeatable};
        printf("conv px2: run (AVX2+FMA%s)\n",
               tc_gemm_have_avx512() ? ", chosen on this AVX-512 CPU by TINYCNN_GEMM_ISA=avx2"
                                     : "");
    } else {
        printf("conv px2: not run (%s); the layer's other paths checked on its shapes instead\n",
               PX2_BUILT ? "this CPU lacks AVX2+FMA" : "built without the x86 kernels");
        tests[n++] = (tcu_test){"Conv2d without px2 on px2's shapes against the reference",
                                test_fallback_reference};
    }
    tests[n] = (tcu_test){NULL, NULL};
    return tcu_run("conv_px2", tests);
}
