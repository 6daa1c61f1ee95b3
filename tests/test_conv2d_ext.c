/* Conv2d beyond the square case: channel groups (depthwise included),
 * dilation, and kernels, strides and paddings that differ per axis, given
 * in the Caffe JSON form (kernel_h / kernel_w, stride_h / stride_w, pad_h /
 * pad_w, dilation_h / dilation_w over the square values, 0 = the square
 * value). Forward and backward against a naive reference convolution
 * written here from the definition, a few cases worked by hand, gradient
 * checks through the single-layer harness, the declared weights, and the
 * error messages of bad combinations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_ref_util.h"
#include "testutil.h"
#include "tinycnn/layer_check.h"

#define S4(a, b, c, d) ((tc_shape){.ndim = 4, .dims = {a, b, c, d}})

/* Instantiates Conv2d with parameters "name=value name=value" over the
 * defaults; returns create's status (err filled on failure). */
static int make(tc_layer_check *lc, const char *params, const tc_shape *in, int n_threads,
                tc_error *err)
{
    return tcu_make(lc, "Conv2d", params, 1, in, n_threads, err);
}

/* ---- the reference ------------------------------------------------------- */

/* A case: the parameters as a model would give them, and the geometry they
 * must mean, written out per axis (so the tests also check how the square
 * and per-axis parameters combine). */
typedef struct ext_case {
    const char *params;
    int64_t n, c, h, w;   /* input */
    int64_t o, groups;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int bias, threads;
} ext_case;

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

static uint64_t rnd_state;

/* Counts (and shows the first few) elements of got off want by more than
 * 1e-5 times the scale of the sum (its number of terms, each in [-1, 1]). */
static void check_against(const char *what, const ext_case *k, const float *got,
                          const double *want, int64_t n, double scale, int *bad)
{
    double tol = 1e-5 * (scale > 1.0 ? scale : 1.0);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol)) {
            if (*bad < 5)
                fprintf(stderr, "\n  Conv2d (%s) on [%lld,%lld,%lld,%lld], %d threads: "
                                "%s[%lld] = %.9g, reference %.9g",
                        k->params, (long long)k->n, (long long)k->c, (long long)k->h,
                        (long long)k->w, k->threads, what, (long long)i, (double)got[i],
                        want[i]);
            (*bad)++;
        }
}

/* The declared output and weights match the case's geometry; returns 1
 * when the shapes do (the reference may then run on the buffers). */
static int check_plan(const ext_case *k, const tc_layer_check *lc, int64_t oh, int64_t ow)
{
    const int64_t cg = k->c / k->groups, og = k->o / k->groups;
    int ok = tcu_assert_shape(&lc->output.shape, S4(k->n, k->o, oh, ow));
    CU_ASSERT_EQUAL_FATAL(lc->plan.n_weights, k->bias ? 2 : 1);
    CU_ASSERT_STRING_EQUAL(lc->plan.weights[0].name, "weight");
    ok &= tcu_assert_shape(&lc->plan.weights[0].shape,
                       (tc_shape){.ndim = 4, .dims = {k->o, cg, k->kh, k->kw}});
    CU_ASSERT_DOUBLE_EQUAL(lc->plan.weights[0].fan_in, (double)(cg * k->kh * k->kw), 0);
    CU_ASSERT_DOUBLE_EQUAL(lc->plan.weights[0].fan_out, (double)(og * k->kh * k->kw), 0);
    if (k->bias) {
        CU_ASSERT_STRING_EQUAL(lc->plan.weights[1].name, "bias");
        ok &= tcu_assert_shape(&lc->plan.weights[1].shape, (tc_shape){.ndim = 1, .dims = {k->o}});
    }
    return ok;
}

static void run_case(const ext_case *k)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    char params[256];
    snprintf(params, sizeof params, "%s bias=%d", k->params, k->bias);
    tc_shape in = S4(k->n, k->c, k->h, k->w);
    TCU_ASSERT_OK(make(&lc, params, &in, k->threads, &err), &err);
    int64_t oh = out_size(k->h, k->kh, k->sh, k->ph, k->dh);
    int64_t ow = out_size(k->w, k->kw, k->sw, k->pw, k->dw);
    if (!check_plan(k, &lc, oh, ow)) {
        fprintf(stderr, "\n  Conv2d (%s): shapes differ from the case's geometry\n", params);
        tc_layer_check_free(&lc);
        return;
    }
    cr_ref r;
    cr_geom g = {k->n, k->c, k->h, k->w, k->o, k->groups,
                 k->kh, k->kw, k->sh, k->sw, k->ph, k->pw, k->dh, k->dw};
    cr_run(&lc, &rnd_state, &g, &r);
    int bad = 0;
    const int64_t cg = k->c / k->groups, og = k->o / k->groups;
    const double outs = (double)(k->n * oh * ow);
    check_against("y", k, lc.output.data, r.y, r.ny, (double)(cg * k->kh * k->kw), &bad);
    check_against("dx", k, lc.grad_inputs[0].data, r.dx, r.nx, (double)(og * k->kh * k->kw),
                  &bad);
    check_against("dw", k, lc.grad_weights[0].data, r.dw, r.nw, outs, &bad);
    if (k->bias)
        check_against("db", k, lc.grad_weights[1].data, r.db, k->o, outs, &bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(r.y);
    tc_layer_check_free(&lc);
}

/* The configurations every test below runs: each names what it exercises. */
static const ext_case cases[] = {
    /* params; n c h w; o groups; kh kw sh sw ph pw dh dw; bias threads */
    {"out_channels=6 kernel_size=3 padding=1 groups=2", /* two groups */
     3, 4, 6, 7, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2},
    {"out_channels=4 kernel_size=2 groups=2", /* two groups, one image */
     1, 2, 5, 5, 4, 2, 2, 2, 1, 1, 0, 0, 1, 1, 0, 1},
    {"out_channels=3 kernel_size=3 padding=1 groups=3", /* depthwise */
     3, 3, 6, 6, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2},
    {"out_channels=6 kernel_size=3 stride=2 groups=3", /* depthwise, 2 per channel */
     1, 3, 7, 8, 6, 3, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1},
    {"out_channels=3 kernel_size=3 dilation=2 padding=2", /* dilation 2 */
     3, 2, 7, 7, 3, 1, 3, 3, 1, 1, 2, 2, 2, 2, 1, 2},
    {"out_channels=2 kernel_size=3 dilation=2 stride=2", /* dilation with stride */
     1, 3, 9, 8, 2, 1, 3, 3, 2, 2, 0, 0, 2, 2, 0, 1},
    {"out_channels=4 kernel_size=3 kernel_w=1", /* kernel 3x1 */
     3, 2, 6, 5, 4, 1, 3, 1, 1, 1, 0, 0, 1, 1, 1, 2},
    {"out_channels=3 kernel_size=1 kernel_w=5 pad_w=2", /* kernel 1x5, pad 0x2 */
     1, 2, 4, 6, 3, 1, 1, 5, 1, 1, 0, 2, 1, 1, 1, 1},
    {"out_channels=3 kernel_size=3 stride_h=2 padding=1", /* stride 2x1 */
     3, 2, 8, 7, 3, 1, 3, 3, 2, 1, 1, 1, 1, 1, 1, 2},
    {"out_channels=2 kernel_size=3 pad_w=2", /* pad 0x2 */
     3, 2, 5, 5, 2, 1, 3, 3, 1, 1, 0, 2, 1, 1, 1, 1},
    {"out_channels=2 kernel_size=3 padding=2 pad_h=1", /* pad 1x2 over a square 2 */
     1, 1, 4, 5, 2, 1, 3, 3, 1, 1, 1, 2, 1, 1, 0, 1},
    {"out_channels=4 kernel_size=3 kernel_w=2 groups=2 dilation_h=2 stride_w=2 pad_h=1",
     3, 4, 8, 9, 4, 2, 3, 2, 1, 2, 1, 0, 2, 1, 1, 2}, /* all of it at once */
    {"out_channels=6 kernel_size=2 kernel_h=3 groups=3 dilation_w=3 stride=2 padding=1",
     3, 3, 9, 10, 6, 3, 3, 2, 2, 2, 1, 1, 1, 3, 1, 3}, /* depthwise, 3 threads */
    /* batches where the square case would take the eight-image lanes, and
     * one image with rows wide enough for the single-image kernel */
    {"out_channels=4 kernel_size=3 dilation=2 padding=2",
     16, 2, 9, 9, 4, 1, 3, 3, 1, 1, 2, 2, 2, 2, 1, 2},
    {"out_channels=8 kernel_size=3 groups=2 padding=1",
     9, 4, 8, 8, 8, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"out_channels=9 kernel_size=3 kernel_w=5 padding=1 pad_w=2",
     1, 3, 6, 12, 9, 1, 3, 5, 1, 1, 1, 2, 1, 1, 1, 1},
    /* per-axis values equal to the square ones: the square case itself,
     * which checks the reference against the fast paths */
    {"out_channels=5 kernel_size=3 kernel_h=3 stride=2 stride_w=2 padding=1",
     3, 2, 7, 8, 5, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 2},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_against_reference(void)
{
    rnd_state = 11;
    for (size_t i = 0; i < N_CASES; i++)
        run_case(&cases[i]);
}

/* ---- by hand --------------------------------------------------------------- */

static const float img3x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void test_dilation_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 3, 3);
    TCU_ASSERT_OK(make(&lc, "out_channels=1 kernel_size=2 dilation=2 bias=0", &in, 1, &err),
                  &err);
    /* the taps sit 2 apart, spanning 3x3: one output */
    CU_ASSERT_FATAL(tcu_assert_shape(&lc.output.shape, S4(1, 1, 1, 1)));
    CU_ASSERT_FATAL(tcu_assert_shape(&lc.weights[0].shape, S4(1, 1, 2, 2)));
    tcu_set_data(&lc.inputs[0], img3x3);
    tcu_set_data(&lc.weights[0], (const float[]){1, 2, 3, 4});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* the corners: 1*1 + 3*2 + 7*3 + 9*4 = 64 */
    CU_ASSERT_DOUBLE_EQUAL(lc.output.data[0], 64.0, 1e-5);

    lc.grad_output.data[0] = 1.0f;
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    /* dW = the corners; dx = the weights at the corners, 0 elsewhere */
    const float dw[4] = {1, 3, 7, 9}, dx[9] = {1, 0, 2, 0, 0, 0, 3, 0, 4};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_DOUBLE_EQUAL(lc.grad_weights[0].data[i], dw[i], 1e-6);
    for (int i = 0; i < 9; i++)
        CU_ASSERT_DOUBLE_EQUAL(lc.grad_inputs[0].data[i], dx[i], 1e-6);
    tc_layer_check_free(&lc);
}

/* A hand-worked forward case: the layer's parameters, the declared output
 * and weight shapes, the data (b NULL: bias=0) and the expected output. */
typedef struct {
    const char *params;
    tc_shape in, out, weight;
    const float *x, *w, *b, *want;
    int n_want;
    double tol;
} hand_case;

static void run_hand(const hand_case *h)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    TCU_ASSERT_OK(make(&lc, h->params, &h->in, 1, &err), &err);
    CU_ASSERT_FATAL(tcu_assert_shape(&lc.output.shape, h->out));
    CU_ASSERT_FATAL(tcu_assert_shape(&lc.weights[0].shape, h->weight));
    tcu_set_data(&lc.inputs[0], h->x);
    tcu_set_data(&lc.weights[0], h->w);
    if (h->b)
        tcu_set_data(&lc.weights[1], h->b);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    for (int i = 0; i < h->n_want; i++)
        CU_ASSERT_DOUBLE_EQUAL(lc.output.data[i], h->want[i], h->tol);
    tc_layer_check_free(&lc);
}

static void test_groups_hand(void)
{
    /* 1x1 kernels in two groups of one channel: y0 = 2 x0 + 1, y1 = -3 x1 */
    const hand_case h = {"out_channels=2 kernel_size=1 groups=2", S4(1, 2, 1, 3), S4(1, 2, 1, 3),
                         S4(2, 1, 1, 1), (const float[]){1, 2, 3, 10, 20, 30},
                         (const float[]){2, -3}, (const float[]){1, 0},
                         (const float[]){3, 5, 7, -30, -60, -90}, 6, 1e-5};
    run_hand(&h);
}

static void test_kernel_3x1_stride_2x1_hand(void)
{
    /* kernel 3x1 over the columns; stride 2 down (one row fits), 1 across:
     * columns (1, 4, 7), (2, 5, 8), (3, 6, 9) give 741, 852, 963 */
    const hand_case h = {"out_channels=1 kernel_size=3 kernel_w=1 stride_h=2 bias=0",
                         S4(1, 1, 3, 3), S4(1, 1, 1, 3), S4(1, 1, 3, 1), img3x3,
                         (const float[]){1, 10, 100}, NULL, (const float[]){741, 852, 963}, 3,
                         1e-3};
    run_hand(&h);
}

static void test_pad_0x2_hand(void)
{
    /* kernel 1x1 with two zero columns on each side: [0 0 x0 x1 0 0] */
    const hand_case h = {"out_channels=1 kernel_size=1 pad_w=2 bias=0", S4(1, 1, 1, 2),
                         S4(1, 1, 1, 6), S4(1, 1, 1, 1), (const float[]){5, 7},
                         (const float[]){2}, NULL, (const float[]){0, 0, 10, 14, 0, 0}, 6, 1e-6};
    run_hand(&h);
}

/* ---- gradient checks ------------------------------------------------------- */

static void test_gradients(void)
{
    static const uint64_t seeds[] = {1, 2};
    double worst = 0.0;
    for (size_t i = 0; i < N_CASES; i++) {
        const ext_case *k = &cases[i];
        for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
            tc_error err = {{0}};
            tc_layer_check lc;
            tc_gradcheck_report rep;
            tc_gradcheck_opts opts = {0, 0, 300}; /* up to 300 elements per tensor */
            char params[256];
            snprintf(params, sizeof params, "%s bias=%d", k->params, k->bias);
            tc_shape in = S4(k->n, k->c, k->h, k->w);
            TCU_ASSERT_OK(make(&lc, params, &in, k->threads, &err), &err);
            tc_layer_check_fill(&lc, seeds[s], 0);
            int rc = tc_layer_check_gradients(&lc, &opts, &rep, &err);
            if (rc)
                fprintf(stderr, "\n  Conv2d (%s) seed %llu: %s\n", params,
                        (unsigned long long)seeds[s], err.msg);
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(rep.first_failed, -1);
            /* the input and every weight were checked */
            CU_ASSERT_EQUAL(rep.n_tensors, 1 + lc.plan.n_weights);
            for (int t = 0; t < rep.n_tensors; t++) {
                CU_ASSERT(rep.tensors[t].n_checked > 0);
                if (rep.tensors[t].worst > worst)
                    worst = rep.tensors[t].worst;
            }
            tc_layer_check_free(&lc);
        }
    }
    printf("\n    %zu configurations x 2 seeds, worst rel. error %.2e\n  ", N_CASES, worst);
}

/* ---- errors ---------------------------------------------------------------- */

static void test_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape c6 = S4(1, 6, 5, 5), c4 = S4(1, 4, 5, 5), c2 = S4(1, 2, 3, 3);
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=4 kernel_size=3 groups=4", &c6, 1, &err), &err,
                          "Conv2d: in_channels 6 is not divisible by groups 4");
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=6 kernel_size=3 groups=4", &c4, 1, &err), &err,
                          "Conv2d: out_channels 6 is not divisible by groups 4");
    /* more groups than channels */
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=4 kernel_size=1 groups=4", &c2, 1, &err), &err,
                          "Conv2d: in_channels 2 is not divisible by groups 4");

    tc_shape one = S4(1, 1, 5, 5), narrow = S4(1, 1, 4, 6), small = S4(1, 1, 3, 3);
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=1 kernel_size=3 dilation=3", &one, 1, &err),
                          &err, "Conv2d kernel 3x3 with dilation 3 spans 7x7, more than the "
                                "padded input 5x5 (input [1,1,5,5], padding 0)");
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=1 kernel_size=3 dilation_w=4 padding=1",
                               &narrow, 1, &err), &err,
                          "Conv2d kernel 3x3 with dilation 1x4 spans 3x9, more than the padded "
                          "input 6x8 (input [1,1,4,6], padding 1)");
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=1 kernel_size=1 kernel_h=4", &small, 1, &err),
                          &err, "Conv2d kernel 4x1 is larger than the padded input 3x3 "
                                "(input [1,1,3,3], padding 0)");
    tc_shape thin = S4(1, 1, 5, 2);
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=1 kernel_size=5 pad_w=1", &thin, 1, &err),
                          &err, "Conv2d kernel 5x5 is larger than the padded input 5x4 "
                                "(input [1,1,5,2], padding 0x1)");

    /* the declared ranges, enforced before create() */
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=2 kernel_size=3 groups=0", &one, 1, &err), &err,
                          "'groups' = 0 is outside [1, 65536]");
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=2 kernel_size=3 dilation=0", &one, 1, &err),
                          &err, "'dilation' = 0 is outside [1, 1024]");
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=2 kernel_size=3 stride_w=-1", &one, 1, &err),
                          &err, "'stride_w' = -1 is outside [0, 1024]");
    TCU_ASSERT_FAILS_WITH(make(&lc, "out_channels=2 kernel_size=3 pad_h=2.5", &one, 1, &err),
                          &err, "'pad_h' = 2.5 must be an integer");
}

/* create() itself refuses what the declared ranges would have caught, for a
 * host that does not check them. */
static void test_create_direct(void)
{
    const tc_layer_type *t = tcu_find_type("Conv2d");
    double v[TC_LAYER_CHECK_MAX_PARAMS];
    tc_layer_check_defaults(t, v);
    CU_ASSERT_EQUAL_FATAL(t->n_params, 15);
    v[0] = 4; /* out_channels */
    v[1] = 3; /* kernel_size */
    tc_error err = {{0}};
    void *self = NULL;
    CU_ASSERT_EQUAL_FATAL(t->create(tc_host_table(), v, &self, &err), 0);
    t->destroy(tc_host_table(), self);
    v[6] = 0; /* dilation */
    self = NULL;
    CU_ASSERT_NOT_EQUAL(t->create(tc_host_table(), v, &self, &err), 0);
    CU_ASSERT_PTR_NULL(self);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Conv2d: out_channels, groups, kernel, stride and "
                                           "dilation must be >= 1"));
}

int main(void)
{
    static const tcu_test tests[] = {
        {"Conv2d groups, dilation, per-axis sizes against the reference",
         test_against_reference},
        {"Conv2d dilation 2 by hand", test_dilation_hand},
        {"Conv2d two groups by hand", test_groups_hand},
        {"Conv2d kernel 3x1, stride 2x1 by hand", test_kernel_3x1_stride_2x1_hand},
        {"Conv2d padding 0x2 by hand", test_pad_0x2_hand},
        {"Conv2d extended configurations: gradient checks", test_gradients},
        {"Conv2d extended configurations: errors", test_errors},
        {"Conv2d create() checks its values itself", test_create_direct},
        {NULL, NULL},
    };
    return tcu_run("conv2d_ext", tests);
}
