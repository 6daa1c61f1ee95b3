/* The standard layer plugins on small hand-computed cases: forward values,
 * backward values, shape inference and its error messages. Expected numbers
 * are worked out by hand in the comments, never taken from running the code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/layer_check.h"

#define S1(a) ((tc_shape){.ndim = 1, .dims = {a}})
#define S2(a, b) ((tc_shape){.ndim = 2, .dims = {a, b}})
#define S3(a, b, c) ((tc_shape){.ndim = 3, .dims = {a, b, c}})
#define S4(a, b, c, d) ((tc_shape){.ndim = 4, .dims = {a, b, c, d}})

static void assert_data(const tc_tensor *t, const float *want, double tol)
{
    int64_t n = tc_shape_count(&t->shape);
    for (int64_t i = 0; i < n; i++) {
        double e = tcu_rel_err(t->data[i], want[i]);
        if (!(e <= tol))
            fprintf(stderr, "\n  element %lld: got %.9g, want %.9g\n", (long long)i,
                    (double)t->data[i], (double)want[i]);
        CU_ASSERT(e <= tol);
    }
}

/* ---- registry ------------------------------------------------------------ */

static void test_registry_has_standard_layers(void)
{
    static const char *names[][2] = {
        {"Conv2d", "conv2d.so"}, {"MaxPool2d", "max_pool2d.so"},
        {"AvgPool2d", "avg_pool2d.so"}, {"Linear", "linear.so"},
        {"Flatten", "flatten.so"}, {"ReLU", "relu.so"}, {"Tanh", "tanh.so"},
        {"Sigmoid", "sigmoid.so"}, {"Dropout", "dropout.so"}, {"Add", "add.so"},
        {"SoftmaxCrossEntropy", "softmax_cross_entropy.so"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_find(tcu_registry(), names[i][0], &origin);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(origin);
        size_t lo = strlen(origin), ln = strlen(names[i][1]);
        CU_ASSERT(lo > ln && origin[lo - ln - 1] == '/' &&
                  strcmp(origin + lo - ln, names[i][1]) == 0);
        CU_ASSERT_EQUAL(t->abi_version, TC_PLUGIN_ABI_VERSION);
        CU_ASSERT_PTR_NOT_NULL(t->backward);
        CU_ASSERT_EQUAL((t->flags & TC_LAYER_LOSS) != 0,
                        strcmp(names[i][0], "SoftmaxCrossEntropy") == 0);
    }
}

/* ---- Conv2d -------------------------------------------------------------- */

static const float img3x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void test_conv2d_forward_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 3, 3);
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", "out_channels=1 kernel_size=2", 1, &in, 2, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(1, 1, 2, 2));
    CU_ASSERT_EQUAL_FATAL(lc.plan.n_weights, 2);
    tcu_set_data(&lc.inputs[0], img3x3);
    tcu_set_data(tc_layer_check_weight(&lc, "weight"), (const float[]){1, 2, 3, 4});
    tcu_set_data(tc_layer_check_weight(&lc, "bias"), (const float[]){0.5f});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* 1*1+2*2+4*3+5*4 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77; +0.5 */
    assert_data(&lc.output, (const float[]){37.5f, 47.5f, 67.5f, 77.5f}, 1e-6);
    tc_layer_check_free(&lc);
}

static void test_conv2d_stride_padding_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 3, 3);
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", "out_channels=1 kernel_size=2 stride=2 padding=1 bias=0",
                       1, &in, 1, &err), &err);
    /* (3 + 2 - 2) / 2 + 1 = 2 */
    tcu_assert_shape(&lc.output.shape, S4(1, 1, 2, 2));
    CU_ASSERT_EQUAL_FATAL(lc.plan.n_weights, 1);
    CU_ASSERT_PTR_NULL(tc_layer_check_weight(&lc, "bias"));
    tcu_set_data(&lc.inputs[0], img3x3);
    tcu_set_data(&lc.weights[0], (const float[]){1, 2, 3, 4});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* windows start at -1 and 1: (0,0) sees x00 under w11: 1*4 = 4;
     * (0,1) sees x01, x02 under w10, w11: 2*3 + 3*4 = 18;
     * (1,0) sees x10, x20 under w01, w11: 4*2 + 7*4 = 36;
     * (1,1) sees x11 x12 x21 x22: 5*1 + 6*2 + 8*3 + 9*4 = 77 */
    assert_data(&lc.output, (const float[]){4, 18, 36, 77}, 1e-6);
    tc_layer_check_free(&lc);
}

static void test_conv2d_1x1_multichannel(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(2, 2, 1, 2);
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", "out_channels=3 kernel_size=1", 1, &in, 2, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(2, 3, 1, 2));
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 4, /* image 1: */ -1, 0, 5, 6});
    tcu_set_data(&lc.weights[0], (const float[]){1, 1, 1, -1, 2, 0});
    tcu_set_data(&lc.weights[1], (const float[]){0, 1, -1});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* image 0: o0 = c0 + c1 = [4, 6]; o1 = c0 - c1 + 1 = [-1, -1]; o2 = 2 c0 - 1 = [1, 3]
     * image 1: o0 = [4, 6]; o1 = [-5, -5]; o2 = [-3, -1] */
    assert_data(&lc.output, (const float[]){4, 6, -1, -1, 1, 3, 4, 6, -5, -5, -3, -1}, 1e-6);
    tc_layer_check_free(&lc);
}

static void test_conv2d_backward_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 3, 3);
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", "out_channels=1 kernel_size=2", 1, &in, 2, &err), &err);
    tcu_set_data(&lc.inputs[0], img3x3);
    tcu_set_data(&lc.weights[0], (const float[]){1, 2, 3, 4});
    tcu_set_data(&lc.weights[1], (const float[]){0.5f});
    tcu_fill_value(&lc.grad_output, 1.0f);
    tcu_fill_value(&lc.grad_inputs[0], 99.0f); /* overwritten, not added to */
    tcu_fill_value(&lc.grad_weights[0], 99.0f);
    tcu_fill_value(&lc.grad_weights[1], 99.0f);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    /* dW[i][j] = sum of the 2x2 block of x starting at (i, j) */
    assert_data(&lc.grad_weights[0], (const float[]){12, 16, 24, 28}, 1e-6);
    assert_data(&lc.grad_weights[1], (const float[]){4}, 1e-6);
    /* dx = ones (2x2) fully convolved with w: corners 1 2 3 4, edges w00+w01 = 3,
     * w00+w10 = 4, w01+w11 = 6, w10+w11 = 7, centre 10 */
    assert_data(&lc.grad_inputs[0], (const float[]){1, 3, 2, 4, 10, 6, 3, 7, 4}, 1e-6);

    /* an input that needs no gradient (the image) gets none, weights still do */
    lc.needs_grad[0] = 0;
    tcu_fill_value(&lc.grad_inputs[0], 7.0f);
    tcu_fill_value(&lc.grad_weights[0], 99.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_weights[0], (const float[]){12, 16, 24, 28}, 1e-6);
    assert_data(&lc.grad_inputs[0], (const float[]){7, 7, 7, 7, 7, 7, 7, 7, 7}, 0);
    tc_layer_check_free(&lc);
}

static void test_conv2d_shapes(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(2, 3, 28, 28);
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", "out_channels=6 kernel_size=5", 1, &in, 2, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(2, 6, 24, 24));
    tcu_assert_shape(&lc.plan.weights[0].shape, S4(6, 3, 5, 5));
    CU_ASSERT_STRING_EQUAL(lc.plan.weights[0].name, "weight");
    CU_ASSERT_EQUAL(lc.plan.weights[0].init, TC_INIT_HE_NORMAL);
    CU_ASSERT_DOUBLE_EQUAL(lc.plan.weights[0].fan_in, 75.0, 0);
    CU_ASSERT_EQUAL(lc.plan.weights[0].no_decay, 0);
    CU_ASSERT_STRING_EQUAL(lc.plan.weights[1].name, "bias");
    tcu_assert_shape(&lc.plan.weights[1].shape, S1(6));
    CU_ASSERT_EQUAL(lc.plan.weights[1].init, TC_INIT_ZEROS);
    CU_ASSERT_EQUAL(lc.plan.weights[1].no_decay, 1);
    /* per-worker scratch: at least the 75 x 576 column buffer for each of 2 slices */
    CU_ASSERT(lc.plan.workspace_bytes >= 2 * 75 * 576 * sizeof(float));
    tc_layer_check_free(&lc);

    in = S4(1, 1, 7, 7);
    TCU_ASSERT_OK(tcu_make(&lc, "Conv2d", "out_channels=2 kernel_size=3 stride=2 padding=1", 1,
                       &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(1, 2, 4, 4)); /* (7 + 2 - 3) / 2 + 1 */
    tc_layer_check_free(&lc);
}

static void test_conv2d_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape flat = S2(1, 784);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "out_channels=2 kernel_size=3", 1, &flat, 1, &err),
                          &err, "Conv2d needs a 4-D input [batch, channels, height, width], "
                                "got [1,784]");
    tc_shape small = S4(1, 1, 3, 3);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "out_channels=2 kernel_size=5", 1, &small, 1,
                               &err), &err, "kernel 5x5 is larger than the padded input 3x3");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "out_channels=2 kernel_size=6 padding=1", 1,
                               &small, 1, &err), &err,
                          "kernel 6x6 is larger than the padded input 5x5");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "kernel_size=3", 1, &small, 1, &err), &err,
                          "parameter 'out_channels' is required");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "out_channels=2 kernel_size=0", 1, &small, 1,
                               &err), &err, "'kernel_size' = 0 is outside [1, 1024]");
    tc_shape two[2] = {small, small};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "out_channels=2 kernel_size=1", 2, two, 1, &err),
                          &err, "Conv2d takes 1 input, got 2");
    /* output count 2^30 * 65536 * 34816^2 does not fit in 64 bits */
    tc_shape huge = S4((int64_t)1 << 30, 1, 32768, 32768);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Conv2d", "out_channels=65536 kernel_size=1 padding=1024",
                               1, &huge, 1, &err), &err, "overflow");
}

/* ---- pooling ------------------------------------------------------------- */

static const float pool4x4[16] = {
    1, 2, 5, 3,
    4, 0, -1, 6,
    7, 8, 2, 1,
    -3, 9, 4, 10,
};

static void test_max_pool_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 4, 4);
    TCU_ASSERT_OK(tcu_make(&lc, "MaxPool2d", "kernel_size=2", 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(1, 1, 2, 2)); /* stride 0 means stride = kernel */
    CU_ASSERT_EQUAL(lc.plan.n_weights, 0);
    CU_ASSERT(lc.saved_bytes >= 4 * sizeof(int32_t));
    tcu_set_data(&lc.inputs[0], pool4x4);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_data(&lc.output, (const float[]){4, 6, 9, 10}, 0);
    /* int32 positions within the plane: 4 at (1,0), 6 at (1,3), 9 at (3,1), 10 at (3,3) */
    const int32_t *arg = lc.saved;
    CU_ASSERT_EQUAL(arg[0], 4);
    CU_ASSERT_EQUAL(arg[1], 7);
    CU_ASSERT_EQUAL(arg[2], 13);
    CU_ASSERT_EQUAL(arg[3], 15);
    tcu_set_data(&lc.grad_output, (const float[]){1, 2, 3, 4});
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_inputs[0],
                (const float[]){0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4}, 0);
    tc_layer_check_free(&lc);

    /* overlapping 3x3 windows, stride 1: maxima 8, 8, 9, 10; the 8 at (2,1)
     * wins two windows, so its gradient is the sum of both */
    TCU_ASSERT_OK(tcu_make(&lc, "MaxPool2d", "kernel_size=3 stride=1", 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(1, 1, 2, 2));
    tcu_set_data(&lc.inputs[0], pool4x4);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_data(&lc.output, (const float[]){8, 8, 9, 10}, 0);
    tcu_fill_value(&lc.grad_output, 1.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_inputs[0],
                (const float[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1}, 0);
    tc_layer_check_free(&lc);

    /* padding reads as -infinity, not 0: the bottom-left window holds only -3 */
    TCU_ASSERT_OK(tcu_make(&lc, "MaxPool2d", "kernel_size=2 padding=1", 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(1, 1, 3, 3)); /* (4 + 2 - 2) / 2 + 1 */
    tcu_set_data(&lc.inputs[0], pool4x4);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_data(&lc.output, (const float[]){1, 5, 3, 7, 8, 6, -3, 9, 10}, 0);
    tc_layer_check_free(&lc);
}

static void test_avg_pool_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 4, 4);
    TCU_ASSERT_OK(tcu_make(&lc, "AvgPool2d", "kernel_size=2", 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], pool4x4);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* (1+2+4+0)/4, (5+3-1+6)/4, (7+8-3+9)/4, (2+1+4+10)/4 */
    assert_data(&lc.output, (const float[]){1.75f, 3.25f, 5.25f, 4.25f}, 1e-6);
    tc_layer_check_free(&lc);

    /* padding counts in the divisor: every window divides by 4 */
    TCU_ASSERT_OK(tcu_make(&lc, "AvgPool2d", "kernel_size=2 padding=1", 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S4(1, 1, 3, 3));
    tcu_set_data(&lc.inputs[0], pool4x4);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_data(&lc.output,
                (const float[]){0.25f, 1.75f, 0.75f, 2.75f, 2.25f, 1.75f, -0.75f, 3.25f, 2.5f},
                1e-6);
    /* each pixel lies in exactly one window: dx = dy(window) / 4 */
    tcu_set_data(&lc.grad_output, (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_inputs[0],
                (const float[]){0.25f, 0.5f, 0.5f, 0.75f, 1, 1.25f, 1.25f, 1.5f, 1, 1.25f,
                                1.25f, 1.5f, 1.75f, 2, 2, 2.25f},
                1e-6);
    tc_layer_check_free(&lc);
}

static void test_pool_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(1, 1, 4, 4);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "MaxPool2d", "kernel_size=3 padding=2", 1, &in, 1, &err),
                          &err, "padding 2 must be at most kernel_size/2 = 1");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "AvgPool2d", "kernel_size=2 padding=2", 1, &in, 1, &err),
                          &err, "padding 2 must be at most kernel_size/2 = 1");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "MaxPool2d", "kernel_size=5", 1, &in, 1, &err), &err,
                          "kernel 5x5 is larger than the padded input 4x4");
    tc_shape flat = S3(1, 4, 4);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "AvgPool2d", "kernel_size=2", 1, &flat, 1, &err), &err,
                          "AvgPool2d needs a 4-D input [batch, channels, height, width], "
                          "got [1,4,4]");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "MaxPool2d", "stride=2", 1, &in, 1, &err), &err,
                          "parameter 'kernel_size' is required");
}

/* ---- Linear -------------------------------------------------------------- */

static void test_linear_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(2, 2);
    TCU_ASSERT_OK(tcu_make(&lc, "Linear", "out_features=3", 1, &in, 2, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(2, 3));
    tcu_assert_shape(&lc.plan.weights[0].shape, S2(3, 2));
    CU_ASSERT_DOUBLE_EQUAL(lc.plan.weights[0].fan_in, 2.0, 0);
    CU_ASSERT_EQUAL(lc.plan.weights[0].init, TC_INIT_HE_NORMAL);
    CU_ASSERT_EQUAL(lc.plan.weights[1].init, TC_INIT_ZEROS);
    CU_ASSERT_EQUAL(lc.plan.weights[1].no_decay, 1);
    tcu_set_data(&lc.inputs[0], (const float[]){1, 1, 2, -1});
    tcu_set_data(&lc.weights[0], (const float[]){1, 2, 3, 4, 5, 6});
    tcu_set_data(&lc.weights[1], (const float[]){0.1f, 0.2f, 0.3f});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* x0 = [1, 1]: [3, 7, 11] + b; x1 = [2, -1]: [0, 2, 4] + b */
    assert_data(&lc.output, (const float[]){3.1f, 7.2f, 11.3f, 0.1f, 2.2f, 4.3f}, 1e-6);
    tcu_set_data(&lc.grad_output, (const float[]){1, 0, 0, 0, 1, 1});
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    /* dW = dy^T x: row 0 = x0, rows 1 and 2 = x1; db = column sums; dx = dy W */
    assert_data(&lc.grad_weights[0], (const float[]){1, 1, 2, -1, 2, -1}, 1e-6);
    assert_data(&lc.grad_weights[1], (const float[]){1, 1, 1}, 1e-6);
    assert_data(&lc.grad_inputs[0], (const float[]){1, 2, 8, 10}, 1e-6);
    tc_layer_check_free(&lc);

    in = S2(3, 784);
    TCU_ASSERT_OK(tcu_make(&lc, "Linear", "out_features=10 bias=0", 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(3, 10));
    CU_ASSERT_EQUAL(lc.plan.n_weights, 1);
    tc_layer_check_free(&lc);
}

static void test_linear_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in4 = S4(1, 16, 5, 5);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Linear", "out_features=10", 1, &in4, 1, &err), &err,
                          "Linear needs a 2-D input [batch, features], got [1,16,5,5]: "
                          "add a Flatten node before it");
    tc_shape in1 = S1(4);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Linear", "out_features=10", 1, &in1, 1, &err), &err,
                          "Linear needs a 2-D input [batch, features], got [4]");
    tc_shape in = S2(1, 4);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Linear", "out_features=0", 1, &in, 1, &err), &err,
                          "'out_features' = 0 is outside [1, 1.67772e+07]");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Linear", "out_features=2.5", 1, &in, 1, &err), &err,
                          "must be an integer");
}

/* ---- Flatten and the elementwise layers -------------------------------- */

static void test_flatten(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S4(2, 3, 4, 5);
    TCU_ASSERT_OK(tcu_make(&lc, "Flatten", NULL, 1, &in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(2, 60));
    for (int i = 0; i < 120; i++) {
        lc.inputs[0].data[i] = (float)i;
        lc.grad_output.data[i] = (float)(1000 - i);
    }
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    for (int i = 0; i < 120; i++) {
        CU_ASSERT_EQUAL(lc.output.data[i], (float)i);
        CU_ASSERT_EQUAL(lc.grad_inputs[0].data[i], (float)(1000 - i));
    }
    tc_layer_check_free(&lc);
    tc_shape one = S1(5);
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Flatten", NULL, 1, &one, 1, &err), &err,
                          "Flatten needs an input [batch, ...] with at least 2 dimensions, "
                          "got [5]");
}

static void test_activations_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(1, 5);
    static const float x[5] = {-1, 0, 2, 0.5f, -30};

    TCU_ASSERT_OK(tcu_make(&lc, "ReLU", NULL, 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], x);
    tcu_fill_value(&lc.grad_output, 1.0f);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_data(&lc.output, (const float[]){0, 0, 2, 0.5f, 0}, 0);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_inputs[0], (const float[]){0, 0, 1, 1, 0}, 0);
    tc_layer_check_free(&lc);

    TCU_ASSERT_OK(tcu_make(&lc, "Tanh", NULL, 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], x);
    tcu_set_data(&lc.grad_output, (const float[]){1, 1, 1, 2, 1});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* tanh(-1) = -0.761594156, tanh(2) = 0.964027580, tanh(0.5) = 0.462117157 */
    assert_data(&lc.output, (const float[]){-0.761594156f, 0, 0.964027580f, 0.462117157f, -1},
                1e-6);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    /* 1 - tanh^2: 0.419974342, 1, 0.070650825, 2 * 0.786447733, 0 */
    assert_data(&lc.grad_inputs[0],
                (const float[]){0.419974342f, 1, 0.070650825f, 1.572895466f, 0}, 1e-6);
    tc_layer_check_free(&lc);

    TCU_ASSERT_OK(tcu_make(&lc, "Sigmoid", NULL, 1, &in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], x);
    tcu_fill_value(&lc.grad_output, 1.0f);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* 1 / (1 + e): 0.268941421, 0.5, 0.880797078, 0.622459331, 9.357623e-14 */
    assert_data(&lc.output,
                (const float[]){0.268941421f, 0.5f, 0.880797078f, 0.622459331f, 9.357623e-14f},
                1e-6);
    CU_ASSERT(lc.output.data[4] > 0.0f); /* no underflow to 0 via 1 / (1 + inf) */
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    /* s (1 - s): 0.196611933, 0.25, 0.104993585, 0.235003712 */
    assert_data(&lc.grad_inputs[0],
                (const float[]){0.196611933f, 0.25f, 0.104993585f, 0.235003712f, 0}, 1e-6);
    tc_layer_check_free(&lc);
}

/* Tensors above the parallel threshold go through the worker threads; every
 * element must still be computed. */
static void test_activations_large(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    /* above LU_PARALLEL_MIN_CHEAP (2^19), the threshold of cheap layers */
    tc_shape in = S2(4, 131073);
    int64_t n = 4 * 131073;
    TCU_ASSERT_OK(tcu_make(&lc, "ReLU", NULL, 1, &in, 2, &err), &err);
    for (int64_t i = 0; i < n; i++) {
        lc.inputs[0].data[i] = (float)(i % 7) - 3.0f;
        lc.grad_output.data[i] = (float)(i % 5);
    }
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(i % 7) - 3.0f;
        bad += lc.output.data[i] != (v > 0 ? v : 0.0f);
        bad += lc.grad_inputs[0].data[i] != (v > 0 ? (float)(i % 5) : 0.0f);
    }
    CU_ASSERT_EQUAL(bad, 0);
    tc_layer_check_free(&lc);

    TCU_ASSERT_OK(tcu_make(&lc, "Sigmoid", NULL, 1, &in, 2, &err), &err);
    for (int64_t i = 0; i < n; i++)
        lc.inputs[0].data[i] = (float)((i % 9) - 4); /* sigmoid(-k) = 1 - sigmoid(k) */
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (i % 9) - 4;
        double want = 1.0 / (1.0 + exp(-(double)k));
        bad += fabs(lc.output.data[i] - want) > 1e-6;
    }
    CU_ASSERT_EQUAL(bad, 0);
    tc_layer_check_free(&lc);
}

/* ---- Dropout ------------------------------------------------------------- */

static void test_dropout(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in = S2(10, 1000);
    int64_t n = 10000;
    TCU_ASSERT_OK(tcu_make(&lc, "Dropout", NULL, 1, &in, 2, &err), &err); /* p = 0.5 */
    tc_layer_check_fill(&lc, 42, 0);
    for (int64_t i = 0; i < n; i++)
        lc.grad_output.data[i] = 1.0f + (float)(i % 3);

    /* inference: the identity, forward and backward */
    lc.training = 0;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    CU_ASSERT_EQUAL(memcmp(lc.output.data, lc.inputs[0].data, sizeof(float) * (size_t)n), 0);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    CU_ASSERT_EQUAL(memcmp(lc.grad_inputs[0].data, lc.grad_output.data,
                           sizeof(float) * (size_t)n), 0);

    /* training: each element is dropped or doubled, about half kept
     * (binomial sd = 50, so +-300 is six sd) */
    lc.training = 1;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    int64_t kept = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = lc.inputs[0].data[i], y = lc.output.data[i];
        if (y == 2.0f * x)
            kept++;
        else
            bad += y != 0.0f;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(kept > 4700 && kept < 5300);
    float *first = malloc(sizeof(float) * (size_t)n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    memcpy(first, lc.output.data, sizeof(float) * (size_t)n);
    /* backward goes through the same mask */
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += lc.grad_inputs[0].data[i] !=
               (first[i] != 0.0f ? 2.0f * lc.grad_output.data[i] : 0.0f);
    CU_ASSERT_EQUAL(bad, 0);
    /* the same stream gives the same mask; another stream another one */
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    CU_ASSERT_EQUAL(memcmp(first, lc.output.data, sizeof(float) * (size_t)n), 0);
    lc.rng_start.s[0] ^= 1;
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    CU_ASSERT_NOT_EQUAL(memcmp(first, lc.output.data, sizeof(float) * (size_t)n), 0);
    free(first);
    tc_layer_check_free(&lc);

    /* p = 0.25: kept values are scaled by 1 / 0.75 */
    TCU_ASSERT_OK(tcu_make(&lc, "Dropout", "p=0.25", 1, &in, 1, &err), &err);
    tc_layer_check_fill(&lc, 7, 0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    kept = 0;
    bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = lc.inputs[0].data[i], y = lc.output.data[i];
        if (y == 0.0f)
            continue;
        kept++;
        bad += fabs(y - x / 0.75) > 1e-6 * fabs(x / 0.75);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(kept > 7200 && kept < 7800); /* 7500 +- 6 sd (43) */
    tc_layer_check_free(&lc);

    /* p = 0 keeps everything even in training */
    TCU_ASSERT_OK(tcu_make(&lc, "Dropout", "p=0", 1, &in, 1, &err), &err);
    tc_layer_check_fill(&lc, 7, 0);
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    CU_ASSERT_EQUAL(memcmp(lc.output.data, lc.inputs[0].data, sizeof(float) * (size_t)n), 0);
    tc_layer_check_free(&lc);

    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Dropout", "p=1", 1, &in, 1, &err), &err,
                          "'p' = 1 is outside [0, 0.99]");
}

/* ---- Add ----------------------------------------------------------------- */

static void test_add(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in[3] = {S2(2, 3), S2(2, 3), S2(2, 3)};
    TCU_ASSERT_OK(tcu_make(&lc, "Add", NULL, 3, in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S2(2, 3));
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 4, 5, 6});
    tcu_set_data(&lc.inputs[1], (const float[]){10, 20, 30, 40, 50, 60});
    tcu_set_data(&lc.inputs[2], (const float[]){-1, -1, -1, 0.5f, 0.5f, 0.5f});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    assert_data(&lc.output, (const float[]){10, 21, 32, 44.5f, 55.5f, 66.5f}, 0);
    tcu_set_data(&lc.grad_output, (const float[]){1, -2, 3, -4, 5, -6});
    lc.needs_grad[1] = 0;
    tcu_fill_value(&lc.grad_inputs[1], 9.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_inputs[0], (const float[]){1, -2, 3, -4, 5, -6}, 0);
    assert_data(&lc.grad_inputs[1], (const float[]){9, 9, 9, 9, 9, 9}, 0);
    assert_data(&lc.grad_inputs[2], (const float[]){1, -2, 3, -4, 5, -6}, 0);
    tc_layer_check_free(&lc);

    tc_shape bad[2] = {S2(2, 3), S2(2, 4)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Add", NULL, 2, bad, 1, &err), &err,
                          "Add needs inputs of identical shape: input 0 is [2,3], input 1 is "
                          "[2,4]");
    tc_shape bad3[3] = {S2(2, 3), S2(2, 3), S3(2, 3, 1)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Add", NULL, 3, bad3, 1, &err), &err,
                          "input 0 is [2,3], input 2 is [2,3,1]");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "Add", NULL, 1, in, 1, &err), &err,
                          "Add takes 2 to 16 inputs, got 1");
}

/* ---- SoftmaxCrossEntropy ------------------------------------------------- */

static void test_softmax_ce_hand(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in[2] = {S2(2, 3), S1(2)};
    TCU_ASSERT_OK(tcu_make(&lc, "SoftmaxCrossEntropy", NULL, 2, in, 1, &err), &err);
    tcu_assert_shape(&lc.output.shape, S1(1));
    CU_ASSERT_EQUAL(lc.needs_grad[1], 0);
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 0, 0, 0});
    tcu_set_data(&lc.inputs[1], (const float[]){2, 0});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    /* sample 0: log(1 + e^-1 + e^-2) = log(1.503214724) = 0.407605964;
     * sample 1: log 3 = 1.098612289; mean 0.753109126 */
    CU_ASSERT(tcu_rel_err(lc.output.data[0], 0.753109126) < 1e-6);
    /* softmax([1,2,3]) = [0.090030573, 0.244728471, 0.665240956] */
    const float *prob = lc.saved;
    CU_ASSERT(fabs(prob[0] - 0.090030573) < 1e-6);
    CU_ASSERT(fabs(prob[2] - 0.665240956) < 1e-6);
    CU_ASSERT(fabs(prob[4] - 1.0 / 3.0) < 1e-6);

    /* grad = (p - onehot) / N * g with N = 2, g = 2 */
    lc.grad_output.data[0] = 2.0f;
    tcu_fill_value(&lc.grad_inputs[1], 5.0f);
    TCU_ASSERT_OK(tc_layer_check_backward(&lc, &err), &err);
    assert_data(&lc.grad_inputs[0],
                (const float[]){0.090030573f, 0.244728471f, -0.334759044f, -0.666666667f,
                                0.333333333f, 0.333333333f},
                1e-6);
    assert_data(&lc.grad_inputs[1], (const float[]){5, 5}, 0); /* labels get no gradient */

    /* large logits stay finite: [1000, 0, 0] label 0 -> ~0; [0, 1000, 0] label 0 -> 1000 */
    tcu_set_data(&lc.inputs[0], (const float[]){1000, 0, 0, 0, 1000, 0});
    tcu_set_data(&lc.inputs[1], (const float[]){0, 0});
    TCU_ASSERT_OK(tc_layer_check_forward(&lc, &err), &err);
    CU_ASSERT(tcu_rel_err(lc.output.data[0], 500.0) < 1e-6);
    tc_layer_check_free(&lc);
}

static void test_softmax_ce_errors(void)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_shape in[2] = {S2(3, 3), S1(3)};
    TCU_ASSERT_OK(tcu_make(&lc, "SoftmaxCrossEntropy", NULL, 2, in, 1, &err), &err);
    tcu_set_data(&lc.inputs[0], (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    tcu_set_data(&lc.inputs[1], (const float[]){0, 3, 1});
    TCU_ASSERT_FAILS_WITH(tc_layer_check_forward(&lc, &err), &err,
                          "label 3 of sample 1 is not a class index in [0, 3)");
    tcu_set_data(&lc.inputs[1], (const float[]){0, 1, 1.5f});
    TCU_ASSERT_FAILS_WITH(tc_layer_check_forward(&lc, &err), &err,
                          "label 1.5 of sample 2 is not a class index");
    tcu_set_data(&lc.inputs[1], (const float[]){-1, 1, 1});
    TCU_ASSERT_FAILS_WITH(tc_layer_check_forward(&lc, &err), &err,
                          "label -1 of sample 0 is not a class index");
    lc.inputs[1].data[0] = NAN;
    TCU_ASSERT_FAILS_WITH(tc_layer_check_forward(&lc, &err), &err, "nan of sample 0");
    tc_layer_check_free(&lc);

    tc_shape mismatch[2] = {S2(3, 10), S1(4)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "SoftmaxCrossEntropy", NULL, 2, mismatch, 1, &err), &err,
                          "needs labels [batch] matching logits [3,10], got [4]");
    tc_shape img[2] = {S4(3, 10, 2, 2), S1(3)};
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "SoftmaxCrossEntropy", NULL, 2, img, 1, &err), &err,
                          "needs logits [batch, classes], got [3,10,2,2]");
    TCU_ASSERT_FAILS_WITH(tcu_make(&lc, "SoftmaxCrossEntropy", NULL, 1, img, 1, &err), &err,
                          "SoftmaxCrossEntropy takes 2 inputs, got 1");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"registry has the standard layers", test_registry_has_standard_layers},
        {"Conv2d forward by hand", test_conv2d_forward_hand},
        {"Conv2d stride and padding by hand", test_conv2d_stride_padding_hand},
        {"Conv2d 1x1 multichannel by hand", test_conv2d_1x1_multichannel},
        {"Conv2d backward by hand", test_conv2d_backward_hand},
        {"Conv2d shapes and weights", test_conv2d_shapes},
        {"Conv2d errors", test_conv2d_errors},
        {"MaxPool2d by hand", test_max_pool_hand},
        {"AvgPool2d by hand", test_avg_pool_hand},
        {"pooling errors", test_pool_errors},
        {"Linear by hand", test_linear_hand},
        {"Linear errors", test_linear_errors},
        {"Flatten", test_flatten},
        {"ReLU, Tanh, Sigmoid by hand", test_activations_hand},
        {"activations on large tensors", test_activations_large},
        {"Dropout", test_dropout},
        {"Add", test_add},
        {"SoftmaxCrossEntropy by hand", test_softmax_ce_hand},
        {"SoftmaxCrossEntropy errors", test_softmax_ce_errors},
        {NULL, NULL},
    };
    return tcu_run("layers", tests);
}
