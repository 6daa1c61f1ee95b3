/* Finite-difference gradient checks of every standard layer through the
 * single-layer harness (tinycnn/layer_check.h), over several shapes (batch 1
 * and odd batches) and seeds; plus layers with deliberately wrong backward
 * passes, which the harness must catch and name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/layer_check.h"
#include "plugins/test_plugin_util.h"

#define S1(a) ((tc_shape){.ndim = 1, .dims = {a}})
#define S2(a, b) ((tc_shape){.ndim = 2, .dims = {a, b}})
#define S3(a, b, c) ((tc_shape){.ndim = 3, .dims = {a, b, c}})
#define S4(a, b, c, d) ((tc_shape){.ndim = 4, .dims = {a, b, c, d}})

/* ---- the standard layers ------------------------------------------------- */

static tcu_gc_worst all_worst; /* over every standard layer */

#define RUN(cases) tcu_run_gradchecks(cases, sizeof cases / sizeof cases[0], &all_worst)

static void test_conv2d(void)
{
    static const tcu_gc_case cases[] = {
        {"Conv2d", "out_channels=4 kernel_size=3 padding=1", 1, {S4(1, 3, 5, 5)}, 2, 0, 0, 0},
        {"Conv2d", "out_channels=3 kernel_size=2 stride=2", 1, {S4(3, 2, 6, 5)}, 2, 0, 0, 0},
        {"Conv2d", "out_channels=5 kernel_size=1", 1, {S4(3, 4, 3, 3)}, 3, 0, 0, 0},
        {"Conv2d", "out_channels=2 kernel_size=3 stride=2 padding=1 bias=0", 1,
         {S4(5, 2, 7, 7)}, 2, 0, 0, 0},
        {"Conv2d", "out_channels=2 kernel_size=3 stride=3", 1, {S4(2, 1, 7, 8)}, 1, 0, 0, 0},
    };
    RUN(cases);
}

static void test_pooling(void)
{
    static const tcu_gc_case cases[] = {
        {"MaxPool2d", "kernel_size=2", 1, {S4(1, 2, 4, 4)}, 2, 0, 0, 0},
        {"MaxPool2d", "kernel_size=3 stride=2 padding=1", 1, {S4(3, 2, 5, 5)}, 2, 0, 0, 0},
        {"MaxPool2d", "kernel_size=2 stride=1", 1, {S4(2, 1, 4, 5)}, 1, 0, 0, 0},
        {"AvgPool2d", "kernel_size=2", 1, {S4(1, 2, 4, 4)}, 2, 0, 0, 0},
        {"AvgPool2d", "kernel_size=3 stride=2 padding=1", 1, {S4(3, 2, 5, 5)}, 2, 0, 0, 0},
        {"AvgPool2d", "kernel_size=2 stride=1", 1, {S4(2, 1, 4, 5)}, 1, 0, 0, 0},
    };
    RUN(cases);
}

static void test_linear_flatten(void)
{
    static const tcu_gc_case cases[] = {
        {"Linear", "out_features=3", 1, {S2(1, 5)}, 2, 0, 0, 0},
        {"Linear", "out_features=4 bias=0", 1, {S2(3, 7)}, 2, 0, 0, 0},
        {"Linear", "out_features=10", 1, {S2(5, 16)}, 1, 0, 0, 0},
        {"Flatten", NULL, 1, {S4(3, 2, 3, 4)}, 1, 0, 0, 0},
        {"Flatten", NULL, 1, {S3(1, 5, 2)}, 1, 0, 0, 0},
    };
    RUN(cases);
}

static void test_activations(void)
{
    static const tcu_gc_case cases[] = {
        {"ReLU", NULL, 1, {S2(1, 10)}, 1, 0, 0, 0},
        {"ReLU", NULL, 1, {S4(3, 2, 3, 3)}, 2, 0, 0, 0},
        {"ReLU", NULL, 1, {S2(5, 8000)}, 2, 0, 64, 0}, /* above the threading threshold */
        {"Tanh", NULL, 1, {S2(1, 10)}, 1, 0, 0, 0},
        {"Tanh", NULL, 1, {S4(3, 2, 3, 3)}, 2, 0, 0, 0},
        {"Sigmoid", NULL, 1, {S2(1, 10)}, 1, 0, 0, 0},
        {"Sigmoid", NULL, 1, {S4(3, 2, 3, 3)}, 2, 0, 0, 0},
    };
    RUN(cases);
}

static void test_dropout_add(void)
{
    static const tcu_gc_case cases[] = {
        {"Dropout", "p=0.5", 1, {S3(3, 4, 5)}, 2, 0, 0, 0},
        {"Dropout", "p=0.3", 1, {S2(1, 7)}, 1, 0, 0, 0},
        {"Dropout", "p=0.5", 1, {S2(3, 4)}, 1, 1, 0, 0}, /* inference: identity */
        {"Add", NULL, 2, {S2(3, 4), S2(3, 4)}, 1, 0, 0, 0},
        {"Add", NULL, 3, {S4(1, 2, 3, 3), S4(1, 2, 3, 3), S4(1, 2, 3, 3)}, 2, 0, 0, 0},
    };
    RUN(cases);
}

static void test_softmax_ce(void)
{
    static const tcu_gc_case cases[] = {
        {"SoftmaxCrossEntropy", NULL, 2, {S2(1, 5), S1(1)}, 1, 0, 0, 0},
        {"SoftmaxCrossEntropy", NULL, 2, {S2(3, 10), S1(3)}, 1, 0, 0, 0},
        {"SoftmaxCrossEntropy", NULL, 2, {S2(5, 2), S1(5)}, 1, 0, 0, 0},
    };
    RUN(cases);
    printf("  worst over all standard layers: %.2e in %s (tolerance %g, step %g)\n  ",
           all_worst.value, all_worst.where, TC_GRADCHECK_TOLERANCE, TC_GRADCHECK_STEP);
}

/* Conv2d's weight gradient is summed from per-worker partials in a fixed
 * order: the same thread count gives bit-identical results, and different
 * counts agree to rounding. */
static void test_conv2d_thread_determinism(void)
{
    tc_error err = {{0}};
    tc_shape in = S4(6, 3, 6, 6);
    const tc_layer_type *t = tc_registry_find(tcu_registry(), "Conv2d", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    float *ref = NULL;
    int64_t n = 0;
    for (int threads = 1; threads <= 4; threads++) {
        tc_layer_check lc;
        TCU_ASSERT_OK(tcu_make_check(&lc, t, "out_channels=4 kernel_size=3 padding=1", 1, &in, threads,
                           &err), &err);
        tc_layer_check_fill(&lc, 11, 0);
        TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
        TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
        n = tc_shape_count(&lc.grad_weights[0].shape);
        float *first = malloc(sizeof(float) * (size_t)n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(first);
        memcpy(first, lc.grad_weights[0].data, sizeof(float) * (size_t)n);
        TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
        CU_ASSERT_EQUAL(memcmp(first, lc.grad_weights[0].data, sizeof(float) * (size_t)n), 0);
        if (!ref) {
            ref = first;
        } else {
            for (int64_t i = 0; i < n; i++)
                CU_ASSERT(tcu_rel_err(first[i], ref[i]) < 1e-5);
            free(first);
        }
        tc_layer_check_free(&lc);
    }
    free(ref);
}

static void test_step_must_fit_margin(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(2, 3);
    const tc_layer_type *t = tc_registry_find(tcu_registry(), "ReLU", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    TCU_ASSERT_OK(tcu_make_check(&lc, t, NULL, 1, &in, 1, &err), &err);
    tc_layer_check_fill(&lc, 1, 0.01);
    tc_gradcheck_opts opts = {0.05, 0, 0};
    TCU_ASSERT_FAILS_WITH(tc_layer_check_gradients(&lc, &opts, NULL, &err), &err,
                          "step 0.05 is larger than the kink margin 0.01");
    tc_layer_check_free(&lc);
}

/* ---- deliberately broken layers ----------------------------------------
 * TestScale: y[n, f] = scale[f] * x[n, f] + shift[f], with a `bug` parameter
 * choosing what its backward (or forward) gets wrong. */

enum { BUG_NONE, BUG_WEIGHT_SIGN, BUG_ACCUMULATE, BUG_INPUT_FACTOR, BUG_MODIFIES_INPUT };

static const tc_param_desc test_scale_params[] = {
    {"bug", TC_VALUE_INT, 0, 0, 0, 4, "which mistake to make"},
};

/* The instance is a tpu_value holding the `bug` parameter. */
static int ts_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    return tpu_create_value(host, v, self, "TestScale", err);
}

static int bug_of(const void *self)
{
    return (int)((const tpu_value *)self)->v;
}

static int ts_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs, int n_threads, tc_plan *plan,
                   tc_error *err)
{
    (void)host;
    (void)self;
    (void)n_threads;
    if (n_inputs != 1 || in[0].ndim != 2)
        return tc_error_set(err, "TestScale needs one [batch, features] input");
    plan->output = in[0];
    plan->n_weights = 2;
    plan->weights[0] = (tc_weight_decl){.name = "scale", .shape = S1(in[0].dims[1]),
                                        .init = TC_INIT_CONSTANT, .fan_in = 1, .a = 1};
    plan->weights[1] = (tc_weight_decl){.name = "shift", .shape = S1(in[0].dims[1]),
                                        .init = TC_INIT_ZEROS, .fan_in = 1, .no_decay = 1};
    return 0;
}

static int ts_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    const int bug = bug_of(self);
    int64_t n = x->inputs[0].shape.dims[0], f = x->inputs[0].shape.dims[1];
    (void)err;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < f; j++)
            x->output->data[i * f + j] =
                x->weights[0].data[j] * x->inputs[0].data[i * f + j] + x->weights[1].data[j];
    if (bug == BUG_MODIFIES_INPUT)
        x->inputs[0].data[0] += 1.0f;
    return 0;
}

static int ts_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    const int bug = bug_of(self);
    int64_t n = x->inputs[0].shape.dims[0], f = x->inputs[0].shape.dims[1];
    const float *xd = x->inputs[0].data, *dy = x->grad_output->data, *w = x->weights[0].data;
    float *dw = x->grad_weights[0].data, *db = x->grad_weights[1].data;
    (void)err;
    for (int64_t j = 0; j < f; j++) {
        double gw = 0, gb = 0;
        for (int64_t i = 0; i < n; i++) {
            gw += (double)xd[i * f + j] * dy[i * f + j];
            gb += dy[i * f + j];
        }
        if (bug == BUG_WEIGHT_SIGN)
            gw = -gw;
        if (bug == BUG_ACCUMULATE) {
            dw[j] += (float)gw;
            db[j] += (float)gb;
        } else {
            dw[j] = (float)gw;
            db[j] = (float)gb;
        }
    }
    if (x->grad_inputs[0].data)
        for (int64_t i = 0; i < n * f; i++)
            x->grad_inputs[0].data[i] =
                (bug == BUG_INPUT_FACTOR ? 2.0f : 1.0f) * w[i % f] * dy[i];
    return 0;
}

static const tc_layer_type test_scale_type = {
    TPU_TYPE_HEAD("TestScale", "per-feature scale and shift, with optional deliberate bugs", 1, 1),
    TPU_TYPE_PARAMS(test_scale_params),
    TPU_TYPE_FUNCS(ts_create, ts_plan, ts_forward, ts_backward),
};

/* Runs the gradient check of TestScale with the given bug. */
static int check_bug(int bug, tc_gradcheck_report *rep, tc_error *err)
{
    tc_layer_check lc;
    tc_shape in = S2(3, 4);
    char params[16];
    snprintf(params, sizeof params, "bug=%d", bug);
    TCU_ASSERT_OK(tcu_make_check(&lc, &test_scale_type, params, 1, &in, 1, err), err);
    tc_layer_check_fill(&lc, 5, 0);
    err->msg[0] = 0;
    int rc = tc_layer_check_gradients(&lc, NULL, rep, err);
    tc_layer_check_free(&lc);
    return rc;
}

/* Runs the check with the given bug; it must fail with a message containing needle. */
static void expect_caught(int bug, const char *needle, tc_gradcheck_report *rep)
{
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(check_bug(bug, rep, &err), &err, needle);
}

static void test_correct_test_layer_passes(void)
{
    tc_error err = {{0}};
    tc_gradcheck_report rep;
    TCU_ASSERT_OK(check_bug(BUG_NONE, &rep, &err), &err);
    CU_ASSERT_EQUAL(rep.n_tensors, 3);
    CU_ASSERT_STRING_EQUAL(rep.tensors[0].name, "input 0");
    CU_ASSERT_STRING_EQUAL(rep.tensors[1].name, "weight 'scale'");
    CU_ASSERT_STRING_EQUAL(rep.tensors[2].name, "weight 'shift'");
    /* a linear layer: only rounding separates the two gradients */
    for (int i = 0; i < 3; i++)
        CU_ASSERT(rep.tensors[i].worst < 1e-3);
}

static void test_weight_sign_error_is_caught(void)
{
    tc_gradcheck_report rep;
    expect_caught(BUG_WEIGHT_SIGN, "TestScale: gradient check of weight 'scale' failed", &rep);
    CU_ASSERT_EQUAL(rep.first_failed, 1);
    CU_ASSERT_FALSE(rep.tensors[0].failed); /* input 0 */
    CU_ASSERT_TRUE(rep.tensors[1].failed);  /* weight 'scale' */
    CU_ASSERT_FALSE(rep.tensors[2].failed); /* weight 'shift' */
    /* a flipped sign is a relative error of 2 wherever the gradient is not tiny */
    CU_ASSERT(rep.tensors[1].worst > 1.5);
    CU_ASSERT_DOUBLE_EQUAL(rep.tensors[1].analytic, -rep.tensors[1].numeric,
                           1e-3 * fabs(rep.tensors[1].numeric) + 1e-6);
}

static void test_accumulating_backward_is_caught(void)
{
    tc_gradcheck_report rep;
    /* the gradient buffers are pre-filled with NaN, so += leaves NaN */
    expect_caught(BUG_ACCUMULATE, "TestScale: gradient check of weight 'scale' failed", &rep);
    CU_ASSERT_TRUE(rep.tensors[1].failed);
    CU_ASSERT_TRUE(rep.tensors[2].failed);
}

static void test_wrong_input_gradient_is_caught(void)
{
    tc_gradcheck_report rep;
    expect_caught(BUG_INPUT_FACTOR, "TestScale: gradient check of input 0 failed", &rep);
    CU_ASSERT_EQUAL(rep.first_failed, 0);
    CU_ASSERT_FALSE(rep.tensors[1].failed);
    /* analytic = 2 x numeric: relative error 1/2 */
    CU_ASSERT(fabs(rep.tensors[0].worst - 0.5) < 1e-2);
}

static void test_forward_modifying_input_is_caught(void)
{
    tc_gradcheck_report rep;
    expect_caught(BUG_MODIFIES_INPUT,
                  "TestScale: forward check failed: forward modified input 0", &rep);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"Conv2d", test_conv2d},
        {"MaxPool2d and AvgPool2d", test_pooling},
        {"Linear and Flatten", test_linear_flatten},
        {"ReLU, Tanh, Sigmoid", test_activations},
        {"Dropout and Add", test_dropout_add},
        {"SoftmaxCrossEntropy", test_softmax_ce},
        {"Conv2d thread determinism", test_conv2d_thread_determinism},
        {"step must fit the fill margin", test_step_must_fit_margin},
        {"correct test layer passes", test_correct_test_layer_passes},
        {"weight gradient sign error is caught", test_weight_sign_error_is_caught},
        {"accumulating backward is caught", test_accumulating_backward_is_caught},
        {"wrong input gradient is caught", test_wrong_input_gradient_is_caught},
        {"forward modifying its input is caught", test_forward_modifying_input_is_caught},
        {NULL, NULL},
    };
    return tcu_run("gradcheck", tests);
}
