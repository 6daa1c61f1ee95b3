/* The inference API (tinycnn/model.h), plugin discovery and the per-thread
 * worker count: a LeNet-5 trained by the runner is opened and classifies
 * MNIST digits exactly as `tinycnn predict` does; bad calls are errors;
 * four threads share one model with the single-threaded results.
 *
 * `test_model --helgrind` runs only the concurrency check, on a model with
 * freshly initialised weights (training under valgrind would take hours):
 * ctest runs it under valgrind --tool=helgrind as model_helgrind. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "image_util.h" /* iu_write_png */
#include "testutil.h"
#include "tinycnn/model.h"

#define BIN TC_TEST_BINARY_DIR "/bin/tinycnn"
#define LENET TC_TEST_SOURCE_DIR "/models/lenet5.json"
#define N_IMG 32 /* test digits used; the runner gets the first N_CLI */
#define N_CLI 5

static char ckpt[1024];       /* trained by the runner */
static tc_dataset digits;     /* the first N_IMG MNIST test digits */
static int helgrind_mode;

static tc_model_options opts_threads(int threads)
{
    tc_model_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.threads = threads;
    return o;
}

static tc_model *open_ok(const char *path, int threads)
{
    tc_error err = {{0}};
    tc_model_options o = opts_threads(threads);
    tc_model *m = tc_model_open(path, &o, &err);
    if (!m)
        fprintf(stderr, "\n  tc_model_open(%s): %s\n", path, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

static const uint8_t *digit(int i)
{
    return digits.pixels + (size_t)i * 784;
}

/* ---- setup: a trained LeNet-5 ------------------------------------------- */

static void test_train(void)
{
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_mnist_load(tcu_data_dir(), "test", &digits, &err), &err);
    CU_ASSERT_FATAL(digits.count >= N_IMG && digits.channels == 1 && digits.height == 28);
    snprintf(ckpt, sizeof ckpt, "%s", tcu_tmp_path("lenet5.ckpt"));
    /* 2 x 100 steps of 64 */
    char *out;
    int rc = tcu_shell(&out, "'%s' train '%s' --data '%s' --limit 6400 --test-limit 1000 "
                           "--epochs 2 --threads 2 --quiet -o '%s' 2>&1", BIN, LENET,
                     tcu_data_dir(), ckpt);
    if (rc != 0)
        fprintf(stderr, "\n  tinycnn train failed (%d):\n%s\n", rc, out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* ---- the two-call example, and what a model tells ------------------------ */

static void test_open_and_describe(void)
{
    CU_ASSERT_FATAL(ckpt[0]);
    tc_error err = {{0}};
    tc_model *m = tc_model_open(ckpt, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    tc_prediction p = {-1, -1};
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), 784, 1, &p, 1, &err), &err);
    CU_ASSERT(p.label >= 0 && p.label < 10);
    CU_ASSERT(p.prob > 0.1f && p.prob <= 1.0f);
    CU_ASSERT_EQUAL(p.label, digits.labels[0]); /* a 7, which LeNet-5 gets early */

    CU_ASSERT_STRING_EQUAL(tc_model_name(m), "lenet5");
    CU_ASSERT_EQUAL(tc_model_n_classes(m), 10);
    CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 0), "0");
    CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 9), "9");
    CU_ASSERT_PTR_NULL(tc_model_class_name(m, 10));
    CU_ASSERT_PTR_NULL(tc_model_class_name(m, -1));
    tc_model_input in;
    CU_ASSERT_EQUAL(tc_model_input_info(m, &in), 0);
    CU_ASSERT_EQUAL(in.channels, 1);
    CU_ASSERT_EQUAL(in.height, 28);
    CU_ASSERT_EQUAL(in.width, 28);
    CU_ASSERT_EQUAL(in.floats_per_sample, 784);
    /* the model file's "mean": 0.1307, "std": 0.3081, as the graph reads them */
    tc_graph *g = tc_graph_load_file(tcu_registry(), LENET, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    const tc_input_info *gi = tc_graph_input(g, tc_graph_image_input(g));
    CU_ASSERT_PTR_NOT_NULL_FATAL(in.mean);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in.std);
    CU_ASSERT_EQUAL(in.mean[0], gi->mean[0]);
    CU_ASSERT_EQUAL(in.std[0], gi->std[0]);
    CU_ASSERT(fabsf(in.mean[0] - 0.1307f) < 1e-6f);
    tc_graph_free(g);
    CU_ASSERT_NOT_EQUAL(tc_model_input_info(NULL, &in), 0);
    tc_model_close(m);
    tc_model_close(NULL);
}

/* ---- the runner and the library agree ------------------------------------- */

static void test_matches_runner(void)
{
    CU_ASSERT_FATAL(ckpt[0]);
    char args[8192];
    size_t o = 0;
    for (int i = 0; i < N_CLI; i++) {
        char name[32];
        snprintf(name, sizeof name, "digit%d.png", i);
        const char *p = tcu_tmp_path(name);
        iu_write_png(p, 1, 28, 28, digit(i));
        o += (size_t)snprintf(args + o, sizeof args - o, " '%s'", p);
    }
    /* one batch of N_CLI in both, at the same thread count: same arithmetic */
    char *out;
    int rc = tcu_shell(&out, "'%s' predict '%s'%s --top 10 --threads 2 --json", BIN, ckpt, args);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    free(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *preds = json_object_get(root, "predictions");
    CU_ASSERT_EQUAL_FATAL(json_array_size(preds), N_CLI);

    tc_model *m = open_ok(ckpt, 2);
    tc_error err = {{0}};
    tc_prediction best[N_CLI];
    float probs[N_CLI * 10];
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), (size_t)N_CLI * 784, N_CLI, best, N_CLI,
                                      &err), &err);
    /* the float path, from the training normalisation */
    float x[N_CLI * 784];
    int64_t idx[N_CLI];
    for (int i = 0; i < N_CLI; i++)
        idx[i] = i;
    tc_dataset_fill_batch(&digits, idx, N_CLI, 0.1307f, 0.3081f, x, NULL);
    TCU_ASSERT_OK(tc_model_predict(m, x, sizeof x / sizeof x[0], N_CLI, probs, 10 * N_CLI, NULL,
                                   0, &err), &err);
    for (int i = 0; i < N_CLI; i++) {
        json_t *p = json_array_get(preds, (size_t)i);
        json_t *top = json_object_get(p, "top");
        CU_ASSERT_EQUAL_FATAL(json_array_size(top), 10);
        CU_ASSERT_EQUAL(best[i].label, json_integer_value(json_object_get(p, "prediction")));
        /* printed with 10 digits: enough to bring back the float exactly */
        double p0 = json_number_value(json_object_get(json_array_get(top, 0), "probability"));
        CU_ASSERT_EQUAL(best[i].prob, (float)p0);
        for (size_t j = 0; j < 10; j++) {
            json_t *e = json_array_get(top, j);
            json_int_t c = json_integer_value(json_object_get(e, "class"));
            CU_ASSERT_FATAL(c >= 0 && c < 10);
            double pj = json_number_value(json_object_get(e, "probability"));
            CU_ASSERT_EQUAL(probs[i * 10 + c], (float)pj);
        }
        /* one file at a time: the same class and, one image per batch,
         * a probability within float rounding of the batched one */
        char name[32];
        snprintf(name, sizeof name, "digit%d.png", i);
        tc_prediction one[3];
        TCU_ASSERT_OK(tc_model_predict_file(m, tcu_tmp_path(name), one, 3, &err), &err);
        CU_ASSERT_EQUAL(one[0].label, best[i].label);
        CU_ASSERT_DOUBLE_EQUAL(one[0].prob, best[i].prob, 1e-5);
        CU_ASSERT(one[1].prob <= one[0].prob && one[2].prob <= one[1].prob);
    }
    tc_prediction none;
    CU_ASSERT_NOT_EQUAL(tc_model_predict_file(m, tcu_tmp_path("no-such.png"), &none, 1, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such.png"));
    CU_ASSERT_NOT_EQUAL(tc_model_predict_file(NULL, "x.png", &none, 1, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NULL model"));
    json_decref(root);
    tc_model_close(m);
}

/* predict from floats and from bytes: the same labels and probabilities. */
static void test_predict_paths_agree(void)
{
    CU_ASSERT_FATAL(ckpt[0]);
    tc_model *m = open_ok(ckpt, 1);
    tc_error err = {{0}};
    enum { N = N_IMG };
    static float x[N * 784], probs[N * 10];
    int64_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = i;
    tc_dataset_fill_batch(&digits, idx, N, 0.1307f, 0.3081f, x, NULL);
    tc_prediction a[N], b[N];
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), (size_t)N * 784, N, a, N, &err), &err);
    TCU_ASSERT_OK(tc_model_predict(m, x, (size_t)N * 784, N, probs, (size_t)N * 10, b, N, &err),
                  &err);
    int right = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(a[i].label, b[i].label);
        CU_ASSERT_EQUAL(a[i].prob, b[i].prob);
        CU_ASSERT_EQUAL(b[i].prob, probs[i * 10 + b[i].label]);
        double sum = 0;
        for (int j = 0; j < 10; j++) {
            CU_ASSERT(probs[i * 10 + j] >= 0 && probs[i * 10 + j] <= b[i].prob);
            sum += probs[i * 10 + j];
        }
        CU_ASSERT(fabs(sum - 1.0) < 1e-5);
        right += a[i].label == digits.labels[i];
    }
    CU_ASSERT(right >= N * 8 / 10); /* 200 steps: well over 80% */
    /* probabilities only */
    static float probs2[N * 10];
    TCU_ASSERT_OK(tc_model_predict(m, x, (size_t)N * 784, N, probs2, (size_t)N * 10, NULL, 0,
                                   &err), &err);
    CU_ASSERT(memcmp(probs, probs2, sizeof probs) == 0);
    /* one image alone gives the same class (the batch may change last bits) */
    tc_prediction one;
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(3), 784, 1, &one, 1, &err), &err);
    CU_ASSERT_EQUAL(one.label, a[3].label);
    CU_ASSERT(fabsf(one.prob - a[3].prob) < 1e-5f);
    /* more images than a forward pass takes (64) */
    enum { BIG = 150 };
    static tc_prediction big[BIG];
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), (size_t)BIG * 784, BIG, big, BIG, &err),
                  &err);
    int right_big = 0;
    for (int i = 0; i < BIG; i++)
        right_big += big[i].label == digits.labels[i];
    CU_ASSERT(right_big >= BIG * 8 / 10);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(big[i].label, a[i].label);
    tc_model_close(m);
}

/* ---- softmax and top-k ---------------------------------------------------- */

static int cmp_desc(const void *pa, const void *pb)
{
    const tc_prediction *a = pa, *b = pb;
    if (a->prob != b->prob)
        return a->prob > b->prob ? -1 : 1;
    return a->label - b->label;
}

static void test_top_k_softmax(void)
{
    float p[6] = {0.1f, 0.3f, 0.05f, 0.3f, 0.2f, 0.05f};
    tc_prediction t[6];
    CU_ASSERT_EQUAL(tc_top_k(p, 6, 3, t), 3);
    CU_ASSERT_EQUAL(t[0].label, 1); /* tie with 3: the lower class first */
    CU_ASSERT_EQUAL(t[1].label, 3);
    CU_ASSERT_EQUAL(t[2].label, 4);
    CU_ASSERT_EQUAL(t[2].prob, 0.2f);
    CU_ASSERT_EQUAL(tc_top_k(p, 6, 100, t), 6);
    int want[6] = {1, 3, 4, 0, 2, 5};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(t[i].label, want[i]);
    CU_ASSERT_EQUAL(tc_top_k(p, 6, 0, t), 0);
    CU_ASSERT_EQUAL(tc_top_k(NULL, 6, 1, t), 0);
    CU_ASSERT_EQUAL(tc_top_k(p, 0, 1, t), 0);
    CU_ASSERT_EQUAL(tc_top_k(p, 6, 1, NULL), 0);
    /* against a full sort, on pseudo-random rows with many ties */
    uint32_t s = 12345;
    for (int r = 0; r < 200; r++) {
        float q[37];
        tc_prediction ref[37], got[37];
        for (int i = 0; i < 37; i++) {
            s = s * 1664525u + 1013904223u;
            q[i] = (float)(s >> 28) / 16.0f;
            ref[i] = (tc_prediction){i, q[i]};
        }
        qsort(ref, 37, sizeof ref[0], cmp_desc);
        int k = 1 + r % 37;
        CU_ASSERT_EQUAL(tc_top_k(q, 37, k, got), k);
        for (int i = 0; i < k; i++)
            CU_ASSERT(got[i].label == ref[i].label && got[i].prob == ref[i].prob);
    }

    /* large logits: no overflow; values from the closed form */
    float lg[2 * 3] = {1000.0f, 1001.0f, 1002.0f, -5.0f, 0.0f, 5.0f};
    tc_softmax_rows(lg, 2, 3);
    double z = 1.0 + exp(-1.0) + exp(-2.0);
    CU_ASSERT(fabs(lg[2] - 1.0 / z) < 1e-7);
    CU_ASSERT(fabs(lg[1] - exp(-1.0) / z) < 1e-7);
    CU_ASSERT(fabs(lg[0] - exp(-2.0) / z) < 1e-7);
    double z2 = exp(-10.0) + exp(-5.0) + 1.0;
    CU_ASSERT(fabs(lg[5] - 1.0 / z2) < 1e-7);
    CU_ASSERT(fabs(lg[3] - exp(-10.0) / z2) < 1e-9);
    float nan_row[3] = {1.0f, NAN, 0.0f};
    tc_softmax_rows(nan_row, 1, 3);
    CU_ASSERT(isnan(nan_row[0]) && isnan(nan_row[1]) && isnan(nan_row[2]));
}

/* ---- bad calls ------------------------------------------------------------ */

static void test_bad_calls(void)
{
    CU_ASSERT_FATAL(ckpt[0]);
    tc_model *m = open_ok(ckpt, 1);
    tc_error err = {{0}};
    uint8_t px[2 * 784] = {0};
    float x[2 * 784] = {0}, probs[20];
    tc_prediction out[2];
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(NULL, px, sizeof px, 1, out, 2, &err), &err,
                          "NULL model");
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(m, NULL, sizeof px, 1, out, 2, &err), &err,
                          "NULL pixels");
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(m, px, sizeof px, 0, out, 2, &err), &err,
                          "0 images");
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(m, px, sizeof px, -3, out, 2, &err), &err,
                          "-3 images");
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(m, px, sizeof px, 2, out, 1, &err), &err,
                          "out has room for 1 values, 2 needed");
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(m, px, 784, 2, out, 2, &err), &err,
                          "pixels has room for 784 values, 1568 needed");
    TCU_ASSERT_FAILS_WITH(tc_model_predict_u8(m, px, sizeof px, 1, NULL, 1, &err), &err,
                          "NULL out");
    TCU_ASSERT_FAILS_WITH(tc_model_predict(m, x, 2 * 784, 2, probs, 19, NULL, 0, &err), &err,
                          "probs has room for 19 values, 20 needed");
    TCU_ASSERT_FAILS_WITH(tc_model_predict(m, x, 2 * 784, 2, NULL, 0, NULL, 0, &err), &err,
                          "NULL probs and out");
    TCU_ASSERT_FAILS_WITH(tc_model_predict(m, NULL, 2 * 784, 2, probs, 20, NULL, 0, &err), &err,
                          "NULL input");
    TCU_ASSERT_FAILS_WITH(tc_model_predict(m, x, 783, 1, probs, 20, NULL, 0, &err), &err,
                          "input has room for 783");
    /* an input at the float's limit overflows to an infinite or NaN output:
     * an error naming the image and the class */
    for (int i = 784; i < 2 * 784; i++)
        x[i] = 3e38f;
    TCU_ASSERT_FAILS_WITH(tc_model_predict(m, x, 2 * 784, 2, probs, 20, out, 2, &err), &err,
                          "the output for image 1 is ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(class "));
    /* the model still works after failed calls */
    TCU_ASSERT_OK(tc_model_predict_u8(m, px, sizeof px, 2, out, 2, &err), &err);
    tc_model_close(m);

    /* opening */
    tc_model_options o = opts_threads(1);
    CU_ASSERT_PTR_NULL(tc_model_open(NULL, NULL, &err));
    const char *nowhere = tcu_tmp_path("no-such.ckpt");
    CU_ASSERT_PTR_NULL(tc_model_open(nowhere, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, nowhere));
    o.threads = -1;
    CU_ASSERT_PTR_NULL(tc_model_open(ckpt, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "threads"));
    o = opts_threads(1);
    o.struct_size = 8;
    CU_ASSERT_PTR_NULL(tc_model_open(ckpt, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "struct_size"));
    const char *missing_dir = tcu_tmp_path("no-plugins-here");
    o = opts_threads(1);
    o.plugin_dirs = &missing_dir;
    o.n_plugin_dirs = 1;
    CU_ASSERT_PTR_NULL(tc_model_open(ckpt, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, missing_dir));
    CU_ASSERT_PTR_NULL(tc_model_open_memory(NULL, 10, "x", NULL, &err));
    /* a checkpoint without a model */
    tc_checkpoint empty;
    memset(&empty, 0, sizeof empty);
    const tc_shape s1 = {.ndim = 1, .dims = {1}};
    float one = 1;
    TCU_ASSERT_OK(tc_checkpoint_add(&empty, "t", &s1, &one, &err), &err);
    uint8_t *bytes = NULL;
    size_t len = 0;
    TCU_ASSERT_OK(tc_checkpoint_encode(&empty, &bytes, &len, &err), &err);
    tc_checkpoint_free(&empty);
    CU_ASSERT_PTR_NULL(tc_model_open_memory(bytes, len, "modelless", NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "modelless: the checkpoint holds no model"));
    free(bytes);
}

/* The bytes of the shared checkpoint (owner: the caller); fails the
 * current test (fatally) where it was not written or cannot be read. */
static uint8_t *ckpt_image(size_t *len)
{
    CU_ASSERT_FATAL(ckpt[0]);
    FILE *f = fopen(ckpt, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    CU_ASSERT_FATAL(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Corrupt images in memory: refused with the origin named, never a crash. */
static void test_corrupt_memory(void)
{
    size_t len;
    uint8_t *b = ckpt_image(&len);
    tc_error err = {{0}};
    tc_model_options o = opts_threads(1);
    /* every 997th byte flipped in turn, and every truncation at that step */
    for (size_t at = 0; at < len; at += 997) {
        b[at] ^= 0x5a;
        tc_model *m = tc_model_open_memory(b, len, "corrupt.ckpt", &o, &err);
        CU_ASSERT_PTR_NULL(m);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "corrupt.ckpt"));
        tc_model_close(m);
        b[at] ^= 0x5a;
        m = tc_model_open_memory(b, at, "short.ckpt", &o, &err);
        CU_ASSERT_PTR_NULL(m);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "short.ckpt"));
        tc_model_close(m);
    }
    free(b);
}

/* Reads the checkpoint the runner trained into *ck (the caller frees it). */
static void read_trained(tc_checkpoint *ck)
{
    CU_ASSERT_FATAL(ckpt[0]);
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(ckpt, ck, &err), &err);
}

/* A model with layer types nobody provides: the types and folders named. */
static void test_missing_types(void)
{
    tc_error err = {{0}};
    tc_checkpoint ck;
    read_trained(&ck);
    json_t *model = json_loads(ck.model_json, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    json_t *nodes = json_object_get(model, "nodes");
    json_object_set_new(json_array_get(nodes, 1), "type", json_string("Frobnicate"));
    json_object_set_new(json_array_get(nodes, 4), "type", json_string("Gronk"));
    json_object_set_new(json_array_get(nodes, 8), "type", json_string("Frobnicate"));
    free(ck.model_json);
    ck.model_json = json_dumps(model, 0);
    json_decref(model);
    uint8_t *bytes;
    size_t len;
    TCU_ASSERT_OK(tc_checkpoint_encode(&ck, &bytes, &len, &err), &err);
    tc_checkpoint_free(&ck);

    char extra[1024];
    snprintf(extra, sizeof extra, "%s", tcu_tmp_path("extra-plugins"));
    CU_ASSERT_FATAL(mkdir(extra, 0755) == 0 || errno == EEXIST);
    const char *dirs[1] = {extra};
    tc_model_options o = opts_threads(1);
    o.plugin_dirs = dirs;
    o.n_plugin_dirs = 1;
    CU_ASSERT_PTR_NULL(tc_model_open_memory(bytes, len, "alien.ckpt", &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "alien.ckpt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "layer types 'Frobnicate', 'Gronk', which no plugin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, TC_TEST_PLUGIN_DIR)); /* beside the program */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, extra));
    fprintf(stderr, "\n  (message: %s)\n", err.msg);

    /* the application's own registry, lacking most of LeNet's types */
    tc_registry *reg = tc_registry_new();
    TCU_ASSERT_OK(tc_registry_load_file(reg, TC_TEST_PLUGIN_DIR "/relu.so", &err), &err);
    o = opts_threads(1);
    o.registry = reg;
    CU_ASSERT_PTR_NULL(tc_model_open(ckpt, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'Conv2d', 'MaxPool2d', 'Flatten', 'Linear', "
                                           "'SoftmaxCrossEntropy'"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "'ReLU'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "registry"));
    /* registry and plugin folders together: which folders would be meant? */
    o.plugin_dirs = dirs;
    o.n_plugin_dirs = 1;
    CU_ASSERT_PTR_NULL(tc_model_open(ckpt, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "plugin_dirs"));
    tc_registry_free(reg);
    /* with the full set the application hands over, it opens */
    o = opts_threads(1);
    o.registry = tcu_registry();
    tc_model *m = tc_model_open(ckpt, &o, &err);
    CU_ASSERT_PTR_NOT_NULL(m);
    tc_model_close(m);
    free(bytes);
}

/* open_memory gives the model open does; the image may go right after. */
static void test_open_memory(void)
{
    size_t len;
    uint8_t *b = ckpt_image(&len);
    tc_error err = {{0}};
    tc_model_options o = opts_threads(1);
    tc_model *mm = tc_model_open_memory(b, len, "in-memory", &o, &err);
    memset(b, 0, len);
    free(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mm);
    tc_model *mf = open_ok(ckpt, 1);
    static float pm[N_IMG * 10], pf[N_IMG * 10];
    static float x[N_IMG * 784];
    int64_t idx[N_IMG];
    for (int i = 0; i < N_IMG; i++)
        idx[i] = i;
    tc_dataset_fill_batch(&digits, idx, N_IMG, 0.1307f, 0.3081f, x, NULL);
    TCU_ASSERT_OK(tc_model_predict(mm, x, sizeof x / 4, N_IMG, pm, N_IMG * 10, NULL, 0, &err),
                  &err);
    TCU_ASSERT_OK(tc_model_predict(mf, x, sizeof x / 4, N_IMG, pf, N_IMG * 10, NULL, 0, &err),
                  &err);
    CU_ASSERT(memcmp(pm, pf, sizeof pm) == 0);
    CU_ASSERT_STRING_EQUAL(tc_model_name(mm), tc_model_name(mf));
    tc_model_close(mm);
    tc_model_close(mf);
}

/* "class_names" in the metadata name the classes; a wrong list is refused. */
static void test_class_names(void)
{
    tc_error err = {{0}};
    tc_checkpoint ck;
    read_trained(&ck);
    static const char *const names[10] = {"zero", "one", "two", "three", "four",
                                          "five", "six", "seven", "eight", "nine"};
    char *orig_meta = ck.meta_json;
    for (int variant = 0; variant < 3; variant++) {
        json_t *meta = json_loads(orig_meta, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(meta);
        json_t *arr = json_array();
        for (int i = 0; i < (variant == 1 ? 9 : 10); i++)
            json_array_append_new(arr, variant == 2 && i == 4 ? json_integer(4)
                                                              : json_string(names[i]));
        json_object_set_new(meta, "class_names", arr);
        ck.meta_json = json_dumps(meta, 0);
        json_decref(meta);
        const char *path = tcu_tmp_path("named.ckpt");
        TCU_ASSERT_OK(tc_checkpoint_write(path, &ck, &err), &err);
        free(ck.meta_json);
        tc_model_options o = opts_threads(1);
        tc_model *m = tc_model_open(path, &o, &err);
        if (variant == 0) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(m);
            CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 3), "three");
            CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 9), "nine");
            tc_prediction p;
            TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), 784, 1, &p, 1, &err), &err);
            CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, p.label), names[digits.labels[0]]);
            tc_model_close(m);
        } else {
            CU_ASSERT_PTR_NULL(m);
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "class_names"));
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "named.ckpt"));
        }
    }
    ck.meta_json = orig_meta;
    tc_checkpoint_free(&ck);
}

/* ---- threads ------------------------------------------------------------- */

typedef struct chunk_log {
    int chunks;
    pthread_mutex_t lock;
} chunk_log;

static void count_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    chunk_log *l = arg;
    (void)begin;
    (void)end;
    (void)worker;
    pthread_mutex_lock(&l->lock);
    l->chunks++;
    pthread_mutex_unlock(&l->lock);
}

static void test_local_threads(void)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(3);
    CU_ASSERT_EQUAL(tc_get_threads(), 3);
    CU_ASSERT_EQUAL(tc_set_local_threads(5), 0);
    CU_ASSERT_EQUAL(tc_get_threads(), 5);
    chunk_log l = {0, PTHREAD_MUTEX_INITIALIZER};
    tc_parallel_for(100, count_chunk, &l);
    CU_ASSERT_EQUAL(l.chunks, 5); /* the local count, not OpenMP's 3 */
    CU_ASSERT_EQUAL(omp_get_max_threads(), 3);
    CU_ASSERT_EQUAL(tc_set_local_threads(0), 5);
    CU_ASSERT_EQUAL(tc_get_threads(), 3);
    l.chunks = 0;
    tc_parallel_for(100, count_chunk, &l);
    CU_ASSERT_EQUAL(l.chunks, 3);
    CU_ASSERT(tc_cpu_count() >= 1);

    /* a model with 1 thread leaves the process's setting as it was */
    CU_ASSERT_FATAL(ckpt[0]);
    tc_model *m = open_ok(ckpt, 1);
    tc_error err = {{0}};
    tc_prediction p[4];
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), 4 * 784, 4, p, 4, &err), &err);
    CU_ASSERT_EQUAL(omp_get_max_threads(), 3);
    CU_ASSERT_EQUAL(tc_get_threads(), 3);
    tc_model_close(m);
    /* a thread count of the model's own is the same arithmetic as the
     * process-wide one */
    m = open_ok(ckpt, 2);
    tc_prediction q[4];
    TCU_ASSERT_OK(tc_model_predict_u8(m, digit(0), 4 * 784, 4, q, 4, &err), &err);
    CU_ASSERT_EQUAL(omp_get_max_threads(), 3);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(q[i].label, p[i].label);
    tc_model_close(m);
    omp_set_num_threads(saved);
}

/* ---- several threads on one model --------------------------------------- */

#define N_THREADS 4

typedef struct worker {
    tc_model *m;
    const uint8_t *pixels; /* n images */
    int n, per_call, rounds;
    tc_prediction *got;    /* n per round */
    float *probs;          /* n * 10, last round */
    pthread_barrier_t *start;
    int failures;
    char msg[TC_ERROR_CAP];
} worker;

/* Classifies its images per_call at a time, rounds times over; the float
 * path every other call, so both run side by side. */
static void *work(void *arg)
{
    worker *w = arg;
    tc_model_input in;
    tc_model_input_info(w->m, &in);
    float *x = malloc(sizeof(float) * 784 * (size_t)w->per_call);
    if (w->start)
        pthread_barrier_wait(w->start);
    for (int r = 0; r < w->rounds; r++)
        for (int i = 0; i < w->n; i += w->per_call) {
            tc_error err = {{0}};
            const uint8_t *px = w->pixels + (size_t)i * 784;
            tc_prediction *out = w->got + (size_t)r * w->n + i;
            int rc;
            if ((i / w->per_call + r) % 2 == 0) {
                rc = tc_model_predict_u8(w->m, px, (size_t)w->per_call * 784, w->per_call, out,
                                         (size_t)w->per_call, &err);
            } else {
                tc_normalize_u8(px, w->per_call, 1, 784, in.mean, in.std, x);
                rc = tc_model_predict(w->m, x, (size_t)w->per_call * 784, w->per_call,
                                      w->probs + (size_t)i * 10, (size_t)w->per_call * 10, out,
                                      (size_t)w->per_call, &err);
            }
            if (rc != 0) {
                w->failures++;
                snprintf(w->msg, sizeof w->msg, "%s", err.msg);
            }
        }
    free(x);
    return NULL;
}

static void concurrency(const char *path, const uint8_t *pixels, int per_thread, int per_call,
                        int rounds, int threads)
{
    tc_model *m = open_ok(path, threads);
    int total = N_THREADS * per_thread;
    worker ref = {m, pixels, total, per_call, 1, NULL, NULL, NULL, 0, ""};
    ref.got = calloc((size_t)total, sizeof *ref.got);
    ref.probs = calloc((size_t)total * 10, sizeof(float));
    work(&ref); /* single-threaded reference, call by call as below */
    CU_ASSERT_EQUAL_FATAL(ref.failures, 0);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_THREADS);
    worker w[N_THREADS];
    pthread_t tid[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        w[t] = (worker){m, pixels + (size_t)t * per_thread * 784, per_thread, per_call, rounds,
                        NULL, NULL, &start, 0, ""};
        w[t].got = calloc((size_t)per_thread * (size_t)rounds, sizeof *w[t].got);
        w[t].probs = calloc((size_t)per_thread * 10, sizeof(float));
        CU_ASSERT_FATAL(pthread_create(&tid[t], NULL, work, &w[t]) == 0);
    }
    int same = 1;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(tid[t], NULL);
        if (w[t].failures)
            fprintf(stderr, "\n  thread %d: %d failed calls: %s\n", t, w[t].failures, w[t].msg);
        CU_ASSERT_EQUAL(w[t].failures, 0);
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < per_thread; i++) {
                const tc_prediction *a = &w[t].got[(size_t)r * per_thread + i];
                const tc_prediction *b = &ref.got[(size_t)t * per_thread + i];
                same &= a->label == b->label && a->prob == b->prob;
            }
        /* the probabilities of images both classified from floats (every
         * image is, in some round, once there are two) */
        for (int i = 0; i < per_thread; i++) {
            int ref_float = ((t * per_thread + i) / per_call) % 2 == 1;
            int thread_float = rounds >= 2 || (i / per_call) % 2 == 1;
            if (ref_float && thread_float)
                same &= memcmp(w[t].probs + (size_t)i * 10,
                               ref.probs + ((size_t)t * per_thread + i) * 10,
                               sizeof(float) * 10) == 0;
        }
        free(w[t].got);
        free(w[t].probs);
    }
    CU_ASSERT(same);
    pthread_barrier_destroy(&start);
    free(ref.got);
    free(ref.probs);
    tc_model_close(m);
}

static void test_concurrency(void)
{
    CU_ASSERT_FATAL(ckpt[0]);
    /* 8 images a thread, 2 a call, 5 rounds; one worker thread per call and
     * two (OpenMP teams side by side) */
    concurrency(ckpt, digit(0), N_IMG / N_THREADS, 2, 5, 1);
    concurrency(ckpt, digit(0), N_IMG / N_THREADS, 2, 5, 2);
}

/* Calls of BIG images: batches that a context runs in slices of its rows
 * (tc_graph_set_inference_slice), checked on a graph of the same model. */
enum { BIG = 200 };

static void expect_sliced(tc_graph *g, int threads)
{
    tc_error err = {{0}};
    int saved = tc_set_local_threads(threads);
    TCU_ASSERT_OK(tc_graph_prepare(g, BIG, 0, &err), &err);
    CU_ASSERT(tc_graph_slice_rows(g) > 0 && tc_graph_slice_rows(g) < BIG);
    tc_set_local_threads(saved);
}

/* An untrained LeNet-5 saved to a checkpoint, and made-up digits for
 * N_THREADS * BIG images. */
static const char *untrained(uint8_t *px, size_t n, int check_slices)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_file(tcu_registry(), LENET, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 7);
    const char *path = tcu_tmp_path("untrained.ckpt");
    TCU_ASSERT_OK(tc_snapshot_save(path, g, NULL, NULL, &err), &err);
    if (check_slices) {
        expect_sliced(g, 1);
        expect_sliced(g, 2);
    }
    tc_graph_free(g);
    uint32_t s = 99;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (uint8_t)(s >> 24);
    }
    return path;
}

static uint8_t big_px[N_THREADS * BIG * 784];

/* Batches run in slices, on one model from N_THREADS threads: each
 * context's passes and gathered output are its own. */
static void test_concurrency_sliced(void)
{
    const char *path = untrained(big_px, sizeof big_px, 1);
    concurrency(path, big_px, BIG, BIG, 2, 1);
    concurrency(path, big_px, BIG, BIG, 2, 2);
}

/* Under helgrind: an untrained LeNet-5 and made-up digits, small calls
 * and calls run in slices. One worker thread per call, so that OpenMP
 * (whose futex-based barriers helgrind cannot follow) stays out of it: the
 * model's own sharing is what is checked. */
static void test_concurrency_helgrind(void)
{
    const char *path = untrained(big_px, sizeof big_px, 0);
    concurrency(path, big_px, 2, 1, 2, 1);
    concurrency(path, big_px, BIG, BIG, 1, 1); /* one round: helgrind is slow */
}

/* ---- discovery ------------------------------------------------------------ */

static void test_discovery(void)
{
    tc_error err = {{0}};
    char *saved = getenv("TINYCNN_PLUGIN_PATH");
    saved = saved ? strdup(saved) : NULL;
    /* relative entries: a warning, nothing loaded from there */
    setenv("TINYCNN_PLUGIN_PATH", "plugins:./lib:/no/such/folder", 1);
    tc_registry *reg = tc_registry_new();
    TCU_ASSERT_OK(tc_plugin_discover(reg, NULL, 0, &err), &err);
    CU_ASSERT(tc_registry_find(reg, "Conv2d", NULL) != NULL); /* beside the program */
    const char *origin = NULL;
    tc_registry_find(reg, "ReLU", &origin);
    CU_ASSERT_PTR_NOT_NULL_FATAL(origin);
    CU_ASSERT(strncmp(origin, TC_TEST_PLUGIN_DIR "/", strlen(TC_TEST_PLUGIN_DIR) + 1) == 0);
    CU_ASSERT_EQUAL(tc_registry_n_warnings(reg), 2);
    CU_ASSERT_STRING_EQUAL(tc_registry_warning(reg, 0),
                           "TINYCNN_PLUGIN_PATH entry 'plugins' is relative to the current "
                           "folder; ignored (give an absolute path)");
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_registry_warning(reg, 1), "'./lib'"));
    tc_registry_free(reg);

    char path[4096];
    const char *extra[2] = {"/opt/a", "/opt/b"};
    tc_plugin_search_path(extra, 2, path, sizeof path);
    CU_ASSERT_STRING_EQUAL(path, TC_TEST_PLUGIN_DIR ", /no/such/folder, /opt/a, /opt/b");

    /* an extra folder that does not exist is an error naming it */
    reg = tc_registry_new();
    const char *missing = tcu_tmp_path("nothing-here");
    TCU_ASSERT_FAILS_WITH(tc_plugin_discover(reg, &missing, 1, &err), &err, missing);
    tc_registry_free(reg);
    /* the same folder twice: the clash names the environment variable */
    setenv("TINYCNN_PLUGIN_PATH", TC_TEST_PLUGIN_DIR, 1);
    reg = tc_registry_new();
    TCU_ASSERT_FAILS_WITH(tc_plugin_discover(reg, NULL, 0, &err), &err,
                          "TINYCNN_PLUGIN_PATH: layer type");
    tc_registry_free(reg);
    TCU_ASSERT_FAILS_WITH(tc_plugin_discover(NULL, NULL, 0, &err), &err, "NULL registry");
    if (saved) {
        setenv("TINYCNN_PLUGIN_PATH", saved, 1);
        free(saved);
    } else {
        unsetenv("TINYCNN_PLUGIN_PATH");
    }
}

int main(int argc, char **argv)
{
    helgrind_mode = argc > 1 && strcmp(argv[1], "--helgrind") == 0;
    /* the build's plugins beside the test program, nothing from outside */
    unsetenv("TINYCNN_PLUGIN_PATH");
    static const tcu_test helgrind_tests[] = {
        {"four threads on one model (helgrind)", test_concurrency_helgrind},
        {NULL, NULL},
    };
    static const tcu_test tests[] = {
        {"train a LeNet-5 with the runner", test_train},
        {"open, classify, describe", test_open_and_describe},
        {"predict_u8 and predict equal tinycnn predict --json", test_matches_runner},
        {"predict from bytes and floats agree", test_predict_paths_agree},
        {"top-k and softmax", test_top_k_softmax},
        {"bad calls are errors", test_bad_calls},
        {"corrupt checkpoint images are refused", test_corrupt_memory},
        {"missing layer types are named with the folders", test_missing_types},
        {"open_memory equals open", test_open_memory},
        {"class names from the metadata", test_class_names},
        {"per-call thread count leaves OpenMP alone", test_local_threads},
        {"four threads on one model", test_concurrency},
        {"four threads on one model, batches in slices", test_concurrency_sliced},
        {"plugin discovery", test_discovery},
        {NULL, NULL},
    };
    int rc = tcu_run("model", helgrind_mode ? helgrind_tests : tests);
    tc_dataset_free(&digits);
    return rc;
}
