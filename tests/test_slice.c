/* Inference in slices (tc_graph_set_inference_slice, graph_plan.c's
 * slice_rows, graph_exec.c's tc_graph_forward): a large inference batch of
 * TC_LAYER_PER_SAMPLE nodes runs as passes over slices of its rows. Checked:
 * the passes a recording layer sees (rows, which input rows, the padded
 * tail), outputs against whole-batch passes of the same graph (LeNet-5,
 * the CIFAR VGG and ResNet-8, on 1 and 2 threads), the automatic slice
 * size's rules, the memory it saves, a node without the flag, and
 * switching to training and back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/test_plugin_util.h"
#include "testutil.h"

/* ---- a recording layer: what each forward call was given ----------------- */

enum { MAX_CALLS = 64 };
static int n_calls;
static int64_t call_rows[MAX_CALLS];
static float call_first[MAX_CALLS]; /* the first element of the call's input */

static int record_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    if (n_calls < MAX_CALLS) {
        call_rows[n_calls] = x->inputs[0].shape.dims[0];
        call_first[n_calls] = x->inputs[0].data[0];
    }
    n_calls++;
    tpu_copy(x->output->data, x->inputs[0].data, &x->output->shape);
    return 0;
}

static const tc_layer_type record_type = {
    TPU_TYPE_HEAD("TRecord", "identity that records its calls", 1, 1),
    .flags = TC_LAYER_PER_SAMPLE,
    TPU_TYPE_STATELESS(tpu_plan_same, record_fwd, NULL),
};
/* The same without the flag: the graph must give it whole batches. */
static const tc_layer_type whole_type = {
    TPU_TYPE_HEAD("TWhole", "identity that records its calls, not per sample", 1, 1),
    TPU_TYPE_STATELESS(tpu_plan_same, record_fwd, NULL),
};

static tc_registry *reg;

static tc_registry *test_registry(void)
{
    if (reg)
        return reg;
    tc_error err = {{0}};
    reg = tc_registry_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
    TCU_ASSERT_OK(tc_registry_load_dir(reg, TC_TEST_PLUGIN_DIR, &err), &err);
    TCU_ASSERT_OK(tc_registry_add(reg, &record_type, "test", &err), &err);
    TCU_ASSERT_OK(tc_registry_add(reg, &whole_type, "test", &err), &err);
    return reg;
}

/* image [3] -> <type> -> ReLU: the recorder reads the graph input itself. */
static tc_graph *record_graph(const char *type)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"inputs\":[{\"name\":\"x\",\"shape\":[3]}],\"nodes\":["
             "{\"name\":\"r\",\"type\":\"%s\",\"inputs\":[\"x\"]},"
             "{\"name\":\"relu\",\"type\":\"ReLU\",\"inputs\":[\"r\"]}],\"output\":\"relu\"}",
             type);
    tc_error err = {{0}};
    return tcu_graph_ok(tc_graph_load_string(test_registry(), json, "record.json", &err), &err);
}

/* Row r of the input: r, r + 0.25, r + 0.5 (all positive: ReLU keeps them). */
static void fill_rows(tc_graph *g, int batch)
{
    float *x = tc_graph_input_data(g, 0);
    for (int r = 0; r < batch; r++)
        for (int j = 0; j < 3; j++)
            x[r * 3 + j] = (float)r + 0.25f * (float)j;
}

static int output_is_input(const tc_graph *g, int batch)
{
    const tc_tensor *o = tc_graph_output(g);
    int ok = o->shape.dims[0] == batch && tc_shape_count(&o->shape) == 3 * batch;
    for (int r = 0; r < batch && ok; r++)
        for (int j = 0; j < 3; j++)
            ok &= o->data[r * 3 + j] == (float)r + 0.25f * (float)j;
    return ok;
}

/* Prepares g for inference at batch, fills the rows, runs a forward and
 * checks the output is the input (every row once, in order); returns how
 * many calls the recording layer saw and the rows of a pass. */
static int run_rows(tc_graph *g, int batch, int *rows)
{
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_graph_prepare(g, batch, 0, &err), &err);
    *rows = tc_graph_slice_rows(g);
    fill_rows(g, batch);
    n_calls = 0;
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 0, &err), &err);
    CU_ASSERT(output_is_input(g, batch));
    return n_calls;
}

/* 100 rows in slices of 7: 15 passes of 7 rows, pass p reading rows from
 * 7p on (the last one rows 98..104, 100..104 the padding); a second batch
 * size plans again: 40 rows in 6 passes (the last 5 rows + 2 of padding),
 * 7 rows in one. */
static void test_passes(void)
{
    tc_graph *g = record_graph("TRecord");
    tc_graph_set_inference_slice(g, 7);
    int rows;
    CU_ASSERT_EQUAL(run_rows(g, 100, &rows), 15);
    CU_ASSERT_EQUAL(rows, 7);
    for (int p = 0; p < 15 && p < n_calls; p++) {
        CU_ASSERT_EQUAL(call_rows[p], 7);
        CU_ASSERT_EQUAL(call_first[p], (float)(7 * p));
    }
    CU_ASSERT_EQUAL(run_rows(g, 40, &rows), 6);
    CU_ASSERT_EQUAL(rows, 7);
    CU_ASSERT_EQUAL(run_rows(g, 7, &rows), 1);
    CU_ASSERT_EQUAL(rows, 0);
    tc_graph_free(g);
}

/* A node without TC_LAYER_PER_SAMPLE: whole batches whatever is asked; so
 * for a graph that asks for none (-1). (Training: test_training_between.) */
static void test_whole_batches(void)
{
    static const struct { const char *type; int rows; } cases[] = {
        {"TWhole", 7}, {"TWhole", 0}, {"TRecord", -1}};
    for (int i = 0; i < 3; i++) {
        tc_graph *g = record_graph(cases[i].type);
        tc_graph_set_inference_slice(g, cases[i].rows);
        int rows;
        CU_ASSERT_EQUAL(run_rows(g, 1000, &rows), 1);
        CU_ASSERT_EQUAL(rows, 0);
        CU_ASSERT_EQUAL(call_rows[0], 1000);
        tc_graph_free(g);
    }
}

/* ---- real models: sliced against whole batches --------------------------- */

static tc_graph *load_model(const char *model, uint64_t seed)
{
    char path[512];
    tc_error err = {{0}};
    snprintf(path, sizeof path, "%s/models/%s", TC_TEST_SOURCE_DIR, model);
    tc_graph *g = tcu_graph_ok(tc_graph_load_file(test_registry(), path, &err), &err);
    tc_graph_init_weights(g, seed);
    return g;
}

/* Inference output of g at batch (inputs from seed, images in [-1, 1)),
 * copied. Owner: the caller. */
static float *infer(tc_graph *g, int batch, uint64_t seed, int64_t *n)
{
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_graph_prepare(g, batch, 0, &err), &err);
    for (int i = 0; i < tc_graph_n_inputs(g); i++) {
        const tc_input_info *in = tc_graph_input(g, i);
        float *x = tc_graph_input_data(g, i);
        for (int64_t k = 0; k < tc_shape_count(&in->shape) * batch; k++)
            x[k] = in->is_label ? 0.0f : (float)(2.0 * tcu_rnd(&seed) - 1.0);
    }
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 0, &err), &err);
    const tc_tensor *o = tc_graph_output(g);
    CU_ASSERT_EQUAL(o->shape.dims[0], batch);
    *n = tc_shape_count(&o->shape);
    float *copy = malloc(sizeof(float) * (size_t)*n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, o->data, sizeof(float) * (size_t)*n);
    return copy;
}

/* Largest |a - b| over the largest |b|. */
static double rel_diff(const float *a, const float *b, int64_t n)
{
    double d = 0, m = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

/* The same graph's outputs at `batch` in slices of `rows` (0: automatic)
 * and in one pass, twice (a second input: nothing stale is read). */
static void expect_close(const char *model, int batch, int rows, int threads)
{
    tc_set_threads(threads);
    tc_graph *s = load_model(model, 11), *w = load_model(model, 11);
    tc_graph_set_inference_slice(s, rows);
    tc_graph_set_inference_slice(w, -1);
    for (uint64_t seed = 1; seed <= 2; seed++) {
        int64_t ns, nw;
        float *os = infer(s, batch, seed, &ns), *ow = infer(w, batch, seed, &nw);
        int sliced = tc_graph_slice_rows(s);
        CU_ASSERT(sliced > 0 && (rows == 0 || sliced == rows));
        CU_ASSERT_EQUAL(tc_graph_slice_rows(w), 0);
        CU_ASSERT_EQUAL(ns, nw);
        double d = ns == nw ? rel_diff(os, ow, ns) : 1.0;
        printf("\n  %-18s b%-4d %d thread(s): passes of %3d rows, relative difference %.1e",
               model, batch, threads, sliced, d);
        CU_ASSERT(d <= 1e-5);
        free(os);
        free(ow);
    }
    tc_graph_free(s);
    tc_graph_free(w);
    tc_set_threads(0);
}

static void test_lenet5(void)
{
    expect_close("lenet5.json", 100, 7, 1);
    expect_close("lenet5.json", 1000, 0, 1);
    expect_close("lenet5.json", 1000, 0, 2);
}

static void test_cifar_nets(void)
{
    expect_close("vgg_cifar.json", 80, 0, 1);
    expect_close("vgg_cifar.json", 80, 24, 2);
    expect_close("resnet8_cifar.json", 80, 0, 2);
    expect_close("resnet8_cifar.json", 80, 9, 1);
}

/* The automatic size: a multiple of 8, at least 32 rows a thread, passes
 * of equal size covering the batch with less than 8 rows of padding a
 * pass; one pass for a batch that one slice holds. */
static void test_automatic_rows(void)
{
    static const int batches[] = {16, 33, 64, 65, 100, 257, 1000, 4096};
    for (int threads = 1; threads <= 2; threads++) {
        tc_set_threads(threads);
        tc_graph *g = load_model("lenet5.json", 3);
        tc_error err = {{0}};
        TCU_ASSERT_OK(tc_graph_prepare(g, 4096, 0, &err), &err);
        int most = tc_graph_slice_rows(g); /* 4096 rows are sliced on any machine */
        CU_ASSERT(most >= 32 * threads);
        for (int i = 0; i < 8; i++) {
            int b = batches[i];
            TCU_ASSERT_OK(tc_graph_prepare(g, b, 0, &err), &err);
            int rows = tc_graph_slice_rows(g);
            if (rows == 0) { /* one pass */
                CU_ASSERT(b <= most + 8);
                continue;
            }
            int passes = (b + rows - 1) / rows;
            CU_ASSERT(rows % 8 == 0 && rows >= 32 * threads && rows < b && b > 32 * threads);
            CU_ASSERT((int64_t)passes * rows - b < 8 * passes);
        }
        TCU_ASSERT_OK(tc_graph_prepare(g, 1, 0, &err), &err);
        CU_ASSERT_EQUAL(tc_graph_slice_rows(g), 0);
        tc_graph_free(g);
    }
    tc_set_threads(0);
}

/* VGG at batch 1000: the sliced plan holds a fraction of the bytes. */
static void test_memory(void)
{
    size_t bytes[2];
    for (int i = 0; i < 2; i++) {
        tc_graph *g = load_model("vgg_cifar.json", 5);
        tc_error err = {{0}};
        tc_graph_set_inference_slice(g, i == 0 ? 0 : -1);
        TCU_ASSERT_OK(tc_graph_prepare(g, 1000, 0, &err), &err);
        bytes[i] = tc_graph_planned_bytes(g);
        tc_graph_free(g);
    }
    printf("\n  vgg_cifar.json b1000 inference: %zu bytes in slices, %zu in one pass", bytes[0],
           bytes[1]);
    CU_ASSERT(4 * bytes[0] <= bytes[1]);
}

/* Inference in slices, a training step at the same batch (whole, the loss
 * run), inference again: the same output bit for bit as the first time. */
static void test_training_between(void)
{
    tc_graph *g = load_model("lenet5.json", 9);
    tc_error err = {{0}};
    tc_graph_set_inference_slice(g, 24);
    int64_t n1, n2;
    float *a = infer(g, 100, 4, &n1);
    CU_ASSERT_EQUAL(tc_graph_slice_rows(g), 24);
    TCU_ASSERT_OK(tc_graph_prepare(g, 100, 1, &err), &err);
    CU_ASSERT_EQUAL(tc_graph_slice_rows(g), 0);
    float *x = tc_graph_input_data(g, tc_graph_label_input(g));
    for (int r = 0; r < 100; r++)
        x[r] = (float)(r % 10);
    TCU_ASSERT_OK(tc_graph_forward(g, 1, 0, &err), &err);
    TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
    CU_ASSERT(isfinite(tc_graph_loss(g)));
    CU_ASSERT_EQUAL(tc_graph_output(g)->shape.dims[0], 100);
    /* the training plan's buffers hold batch 100: the inference reuses them whole */
    float *b = infer(g, 100, 4, &n2);
    CU_ASSERT_EQUAL(tc_graph_slice_rows(g), 0);
    CU_ASSERT(n1 == n2 && rel_diff(a, b, n1) <= 1e-5);
    /* a new inference batch plans slices again */
    free(b);
    b = infer(g, 99, 4, &n2);
    CU_ASSERT_EQUAL(tc_graph_slice_rows(g), 24);
    free(a);
    free(b);
    tc_graph_free(g);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"passes over slices of the rows", test_passes},
        {"whole batches without the flag, when off, in training", test_whole_batches},
        {"LeNet-5 sliced against one pass", test_lenet5},
        {"VGG and ResNet-8 sliced against one pass", test_cifar_nets},
        {"the automatic slice size", test_automatic_rows},
        {"VGG batch-1000 memory", test_memory},
        {"training between sliced inference", test_training_between},
        {NULL, NULL},
    };
    int rc = tcu_run("slice", tests);
    tc_registry_free(reg);
    return rc;
}
