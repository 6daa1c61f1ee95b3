/* Inference memory by liveness: an inference plan puts the node outputs in
 * one arena whose slices are reused once every consumer has run. Checked
 * against the same graph with reuse off (every activation kept apart, as
 * training keeps them): the outputs must be bit-identical, training plans
 * unchanged, switching between training and inference plans exact, and
 * VGG's batch-1000 inference plan at most a third of the bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h" /* tc_graph.no_reuse */
#include "testutil.h"

/* g loaded (else err shown and the test stopped), reuse set, weights drawn. */
static tc_graph *ready(tc_graph *g, const tc_error *err, int reuse, uint64_t seed)
{
    if (!g)
        fprintf(stderr, "\n  %s\n", err->msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    g->no_reuse = !reuse;
    tc_graph_set_inference_slice(g, -1); /* reuse alone, whole batches: test_slice.c */
    tc_graph_init_weights(g, seed);
    return g;
}

static tc_graph *load(const char *model, int reuse, uint64_t seed)
{
    char path[512];
    tc_error err = {{0}};
    snprintf(path, sizeof path, "%s/models/%s", TC_TEST_SOURCE_DIR, model);
    return ready(tc_graph_load_file(tcu_registry(), path, &err), &err, reuse, seed);
}

static tc_graph *load_text(const char *json, int reuse)
{
    tc_error err = {{0}};
    return ready(tc_graph_load_string(tcu_registry(), json, "fanout.json", &err), &err, reuse, 7);
}

/* Prepares g and fills its inputs from `seed`: images in [-1, 1), labels
 * valid class indices. */
static void prepare_fill(tc_graph *g, int batch, int training, uint64_t seed)
{
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_graph_prepare(g, batch, training, &err), &err);
    for (int i = 0; i < tc_graph_n_inputs(g); i++) {
        const tc_input_info *in = tc_graph_input(g, i);
        int64_t n = tc_shape_count(&in->shape) * batch;
        float *x = tc_graph_input_data(g, i);
        for (int64_t k = 0; k < n; k++)
            x[k] = in->is_label ? (float)(int)(tcu_rnd(&seed) * tc_graph_n_classes(g))
                                : (float)(2.0 * tcu_rnd(&seed) - 1.0);
    }
}

static float *forward_copy(tc_graph *g, int batch, uint64_t seed, size_t *n)
{
    tc_error err = {{0}};
    prepare_fill(g, batch, 0, seed);
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 0, &err), &err);
    const tc_tensor *o = tc_graph_output(g);
    *n = (size_t)tc_shape_count(&o->shape);
    float *copy = malloc(*n * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, o->data, *n * sizeof(float));
    return copy;
}

/* The inference output of a (reusing) and b (not) at batch from seed:
 * bit-identical, and a holds fewer bytes. */
static void expect_same_inference(tc_graph *a, tc_graph *b, int batch, uint64_t seed)
{
    size_t na, nb;
    float *oa = forward_copy(a, batch, seed, &na), *ob = forward_copy(b, batch, seed, &nb);
    CU_ASSERT_EQUAL(na, nb);
    int same = na == nb && memcmp(oa, ob, na * sizeof(float)) == 0;
    if (!same)
        fprintf(stderr, "\n  %s at batch %d: outputs differ with reuse\n", tc_graph_name(a),
                batch);
    CU_ASSERT(same);
    free(oa);
    free(ob);
}

static void check_model(const char *model, int batch)
{
    tc_graph *a = load(model, 1, 42), *b = load(model, 0, 42);
    expect_same_inference(a, b, batch, 1);
    CU_ASSERT(tc_graph_planned_bytes(a) < tc_graph_planned_bytes(b)); /* it did reuse */
    expect_same_inference(a, b, batch, 2); /* a second pass: nothing stale is read */
    expect_same_inference(a, b, batch / 2 + 1, 3); /* a smaller batch in the same arena */
    tc_graph_free(a);
    tc_graph_free(b);
}

static void test_vgg_identical(void) { check_model("vgg_cifar.json", 40); }
static void test_resnet8_identical(void) { check_model("resnet8_cifar.json", 40); }
static void test_lenet5_identical(void) { check_model("lenet5.json", 100); }

/* Fan-out, a value read twice by one node, a value that lives across
 * several others (c1, read by the Concat), and the standard layer types the
 * model files above leave out; the output is not the loss's input. */
static const char fanout_model[] =
    "{\"inputs\":[{\"name\":\"image\",\"shape\":[2,8,8]},"
    "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],\"nodes\":["
    "{\"name\":\"c1\",\"type\":\"Conv2d\",\"inputs\":[\"image\"],"
    "\"params\":{\"out_channels\":4,\"kernel_size\":3,\"padding\":1}},"
    "{\"name\":\"r1\",\"type\":\"ReLU\",\"inputs\":[\"c1\"]},"
    "{\"name\":\"c2\",\"type\":\"Conv2d\",\"inputs\":[\"r1\"],"
    "\"params\":{\"out_channels\":4,\"kernel_size\":3,\"padding\":1}},"
    "{\"name\":\"a1\",\"type\":\"Add\",\"inputs\":[\"c2\",\"r1\"]},"
    "{\"name\":\"a2\",\"type\":\"Add\",\"inputs\":[\"a1\",\"a1\"]},"
    "{\"name\":\"t\",\"type\":\"Tanh\",\"inputs\":[\"a2\"]},"
    "{\"name\":\"lr\",\"type\":\"LeakyReLU\",\"inputs\":[\"c1\"]},"
    "{\"name\":\"cat\",\"type\":\"Concat\",\"inputs\":[\"t\",\"lr\"]},"
    "{\"name\":\"d\",\"type\":\"Dropout\",\"inputs\":[\"cat\"],\"params\":{\"p\":0.3}},"
    "{\"name\":\"p\",\"type\":\"MaxPool2d\",\"inputs\":[\"d\"],"
    "\"params\":{\"kernel_size\":2,\"stride\":2}},"
    "{\"name\":\"ap\",\"type\":\"AvgPool2d\",\"inputs\":[\"p\"],"
    "\"params\":{\"kernel_size\":2,\"stride\":2}},"
    "{\"name\":\"sg\",\"type\":\"Sigmoid\",\"inputs\":[\"ap\"]},"
    "{\"name\":\"f\",\"type\":\"Flatten\",\"inputs\":[\"sg\"]},"
    "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"f\"],\"params\":{\"out_features\":5}},"
    "{\"name\":\"sm\",\"type\":\"Softmax\",\"inputs\":[\"fc\"]},"
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
    "\"output\":\"sm\",\"loss\":\"loss\"}";

/* Planned bytes at one batch, in a fresh graph. */
static size_t planned(const char *model, int batch, int training, int reuse)
{
    tc_graph *g = load(model, reuse, 1);
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_graph_prepare(g, batch, training, &err), &err);
    size_t b = tc_graph_planned_bytes(g);
    tc_graph_free(g);
    return b;
}

/* The figures, printed; VGG batch 1000 at most a third; training as before. */
static void test_planned_bytes(void)
{
    static const char *models[] = {"vgg_cifar.json", "resnet8_cifar.json", "lenet5.json"};
    static const int batches[] = {1, 256, 1000};
    printf("\n");
    for (int m = 0; m < 3; m++) {
        for (int i = 0; i < 3; i++) {
            size_t on = planned(models[m], batches[i], 0, 1);
            size_t off = planned(models[m], batches[i], 0, 0);
            printf("  %-20s inference b%-5d kept apart %11zu bytes, reused %11zu (%.1f%%)\n",
                   models[m], batches[i], off, on, 100.0 * (double)on / (double)off);
            CU_ASSERT(on <= off);
            if (m == 0 && batches[i] == 1000)
                CU_ASSERT(3 * on <= off);
        }
        for (int bs = 32; bs <= 128; bs *= 4) {
            size_t on = planned(models[m], bs, 1, 1), off = planned(models[m], bs, 1, 0);
            printf("  %-20s training  b%-5d %11zu bytes either way\n", models[m], bs, on);
            CU_ASSERT_EQUAL(on, off);
        }
    }
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* One training step's loss and gradients (no optimiser): a and b agree. */
static void expect_same_training(tc_graph *a, tc_graph *b, int batch, uint64_t seed)
{
    tc_error err = {{0}};
    tc_graph *gs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        prepare_fill(gs[i], batch, 1, seed);
        TCU_ASSERT_OK(tc_graph_forward(gs[i], 1, seed, &err), &err);
        TCU_ASSERT_OK(tc_graph_backward(gs[i], &err), &err);
    }
    float la = tc_graph_loss(a), lb = tc_graph_loss(b);
    CU_ASSERT(memcmp(&la, &lb, sizeof la) == 0);
    int same = 1;
    for (int w = 0; w < tc_graph_n_weights(a); w++) {
        const tc_tensor *ga = &tc_graph_weight(a, w)->grad, *gb = &tc_graph_weight(b, w)->grad;
        same &= same_floats(ga->data, gb->data, tc_shape_count(&ga->shape));
    }
    for (int s = 0; s < tc_graph_n_states(a); s++) /* BatchNorm's running statistics */
        same &= same_floats(tc_graph_state(a, s)->value.data, tc_graph_state(b, s)->value.data,
                            tc_shape_count(&tc_graph_state(a, s)->value.shape));
    CU_ASSERT(same);
}

static void test_fanout_identical(void)
{
    tc_graph *a = load_text(fanout_model, 1), *b = load_text(fanout_model, 0);
    expect_same_inference(a, b, 33, 5);
    CU_ASSERT(tc_graph_planned_bytes(a) < tc_graph_planned_bytes(b));
    expect_same_inference(a, b, 7, 6);
    expect_same_training(a, b, 9, 7);
    expect_same_inference(a, b, 33, 8);
    tc_graph_free(a);
    tc_graph_free(b);
}

/* Evaluating between training steps, as a session does between epochs:
 * each switch gives what a graph that never reuses gives. */
static void test_switching(void)
{
    tc_graph *a = load("resnet8_cifar.json", 1, 9), *b = load("resnet8_cifar.json", 0, 9);
    expect_same_inference(a, b, 24, 11);
    expect_same_training(a, b, 16, 12);
    size_t after_training = tc_graph_planned_bytes(a);
    expect_same_inference(a, b, 16, 13); /* the training buffers serve: nothing new */
    CU_ASSERT_EQUAL(tc_graph_planned_bytes(a), after_training);
    expect_same_inference(a, b, 12, 14);
    CU_ASSERT_EQUAL(tc_graph_planned_bytes(a), after_training);
    expect_same_inference(a, b, 24, 15); /* larger than training's: the arena again */
    expect_same_training(a, b, 16, 16);
    expect_same_training(a, b, 20, 17);
    expect_same_inference(a, b, 24, 18);
    tc_graph_free(a);
    tc_graph_free(b);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"VGG inference bit-identical with reuse", test_vgg_identical},
        {"ResNet-8 inference bit-identical with reuse", test_resnet8_identical},
        {"LeNet-5 inference bit-identical with reuse", test_lenet5_identical},
        {"fan-out and long-lived values", test_fanout_identical},
        {"planned bytes: inference reuses, training unchanged", test_planned_bytes},
        {"switching between training and inference plans", test_switching},
        {NULL, NULL},
    };
    return tcu_run("liveness", tests);
}
