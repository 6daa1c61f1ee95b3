/* Per-channel "mean"/"std" on a model input: the model file's arrays (and
 * its single-number form), the errors for a wrong length or a wrong type,
 * and that both the inference API (tc_model_predict_u8) and the training
 * loop's batch fill (tc_evaluate) normalise each channel with its own
 * values. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/model.h"

/* A 3x2x2 input, so that per-channel values matter, and four classes. */
static char *model_text(const char *norm)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"name\":\"norm\",\"inputs\":[{\"name\":\"image\",\"shape\":[3,2,2]%s%s},"
             "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
             "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
             "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
             "\"params\":{\"out_features\":4}},"
             "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
             "\"output\":\"fc\",\"loss\":\"loss\"}",
             norm[0] ? "," : "", norm);
    return buf;
}

static tc_graph *load(const char *norm, tc_error *err)
{
    return tc_graph_load_string(tcu_registry(), model_text(norm), "norm.json", err);
}

/* Loads the model with the given normalisation (fatal when it is refused);
 * returns its image input. */
static const tc_input_info *load_input(const char *norm, tc_graph **g)
{
    tc_error err = {{0}};
    *g = tcu_graph_ok(load(norm, &err), &err);
    return tc_graph_input(*g, tc_graph_image_input(*g));
}

static void test_arrays_and_scalars(void)
{
    tc_graph *g;
    const tc_input_info *in = load_input("\"mean\":[0.1,0.2,0.3],\"std\":[0.5,0.25,2]", &g);
    CU_ASSERT_EQUAL(in->n_norm, 3);
    CU_ASSERT_EQUAL(tc_input_mean(in, 1), 0.2f);
    CU_ASSERT_EQUAL(tc_input_mean(in, 2), 0.3f);
    CU_ASSERT_EQUAL(tc_input_std(in, 0), 0.5f);
    CU_ASSERT_EQUAL(tc_input_std(in, 2), 2.0f);
    tc_graph_free(g);

    /* one number still means every channel */
    in = load_input("\"mean\":0.4,\"std\":0.8", &g);
    CU_ASSERT_EQUAL(in->n_norm, 1);
    CU_ASSERT_EQUAL(tc_input_mean(in, 2), 0.4f);
    CU_ASSERT_EQUAL(tc_input_std(in, 1), 0.8f);
    tc_graph_free(g);

    /* an array beside a number: the number is repeated */
    in = load_input("\"mean\":[0.1,0.2,0.3],\"std\":0.5", &g);
    CU_ASSERT_EQUAL(in->n_norm, 3);
    CU_ASSERT_EQUAL(in->std[2], 0.5f);
    CU_ASSERT_EQUAL(in->mean[2], 0.3f);
    tc_graph_free(g);

    /* neither: mean 0, std 1 */
    in = load_input("", &g);
    CU_ASSERT_EQUAL(tc_input_mean(in, 2), 0.0f);
    CU_ASSERT_EQUAL(tc_input_std(in, 2), 1.0f);
    tc_graph_free(g);
}

static void test_errors(void)
{
    static const struct {
        const char *norm, *needle1, *needle2;
    } cases[] = {
        {"\"mean\":[0.1,0.2]", "\"mean\" has 2 values but the input has 3 channels", "image"},
        {"\"std\":[1,1,1,1]", "\"std\" has 4 values but the input has 3 channels", "norm.json"},
        {"\"mean\":\"0.5\"", "\"mean\" must be a number or an array of numbers", "a string"},
        {"\"std\":[1,\"x\",1]", "\"std\"[1] must be a number or an array", "a string"},
        {"\"std\":[1,0,1]", "\"std\"[1] must be a positive finite number", "got 0"},
        {"\"mean\":[0,1e39,0]", "\"mean\"[1] must be a finite number", "got 1e+39"},
        {"\"mean\":[[0],[0],[0]]", "\"mean\"[0] must be a number", "a nested array"},
        {"\"mean\":{}", "\"mean\" must be a number or an array", "an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_error err = {{0}};
        tc_graph *g = load(cases[i].norm, &err);
        CU_ASSERT_PTR_NULL(g);
        tc_graph_free(g);
        int ok = strstr(err.msg, cases[i].needle1) && strstr(err.msg, cases[i].needle2) &&
                 !strstr(err.msg, "nan");
        if (!ok)
            fprintf(stderr, "\n  case %zu (%s): got: %s\n", i, cases[i].norm, err.msg);
        CU_ASSERT(ok);
    }
    /* an array on an input that is not [channels, height, width] */
    tc_error err = {{0}};
    const char *flat = "{\"name\":\"f\",\"inputs\":[{\"name\":\"x\",\"shape\":[12],"
                       "\"mean\":[0,0,0]},{\"name\":\"y\",\"shape\":[],\"role\":\"label\"}],"
                       "\"nodes\":[{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"x\"],"
                       "\"params\":{\"out_features\":2}},{\"name\":\"loss\",\"type\":"
                       "\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"y\"]}],"
                       "\"output\":\"fc\",\"loss\":\"loss\"}";
    tc_graph *g = tc_graph_load_string(tcu_registry(), flat, "f.json", &err);
    CU_ASSERT_PTR_NULL(g);
    tc_graph_free(g);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "has 3 values but the input has 1 channel"));
}

#define N 24
static const float MEAN[3] = {0.1f, 0.6f, 0.9f}, STD[3] = {0.5f, 0.1f, 2.0f};

/* pixels normalised with mean[c]/std[c], or (scalar) channel 0's for all */
static void normalise(const uint8_t *px, int scalar, float *out)
{
    for (int i = 0; i < N * 12; i++) {
        int c = scalar ? 0 : (i / 4) % 3;
        out[i] = ((float)px[i] / 255.0f - MEAN[c]) / STD[c];
    }
}

static void test_predict_and_evaluate(void)
{
    tc_error err = {{0}};
    tc_graph *g = load("\"mean\":[0.1,0.6,0.9],\"std\":[0.5,0.1,2]", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 7);
    char path[1024];
    snprintf(path, sizeof path, "%s/norm.ckpt", tcu_tmpdir());
    TCU_ASSERT_OK(tc_snapshot_save(path, g, NULL, NULL, &err), &err);

    uint8_t px[N * 12], labels[N];
    uint32_t r = 12345;
    for (int i = 0; i < N * 12; i++) {
        r = r * 1103515245u + 12345u;
        px[i] = (uint8_t)(r >> 16);
    }
    float want[N * 12], scalar[N * 12], probs[N * 4];
    normalise(px, 0, want);
    normalise(px, 1, scalar);

    tc_model *m = tc_model_open(path, NULL, &err);
    if (!m)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    tc_model_input mi;
    TCU_ASSERT_OK(tc_model_input_info(m, &mi), &err);
    CU_ASSERT_EQUAL(mi.channels, 3);
    for (int c = 0; c < 3; c++) {
        CU_ASSERT_EQUAL(mi.mean[c], MEAN[c]);
        CU_ASSERT_EQUAL(mi.std[c], STD[c]);
    }
    tc_prediction from_u8[N], per_channel[N], one_value[N];
    TCU_ASSERT_OK(tc_model_predict_u8(m, px, sizeof px, N, from_u8, N, &err), &err);
    TCU_ASSERT_OK(tc_model_predict(m, want, N * 12, N, probs, N * 4, per_channel, N, &err), &err);
    TCU_ASSERT_OK(tc_model_predict(m, scalar, N * 12, N, NULL, 0, one_value, N, &err), &err);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(from_u8[i].label, per_channel[i].label);
        CU_ASSERT(fabsf(from_u8[i].prob - per_channel[i].prob) < 1e-6f);
        differ += one_value[i].label != per_channel[i].label;
        labels[i] = (uint8_t)per_channel[i].label;
    }
    /* the check can tell per-channel values from channel 0's for all */
    CU_ASSERT(differ > 0);

    /* the training loop's batch fill: with the labels the per-channel
     * predictions gave, every image counts as correct */
    tc_dataset ds = {.count = N, .channels = 3, .height = 2, .width = 2, .pixels = px,
                     .labels = labels};
    int64_t correct = 0, total = 0;
    TCU_ASSERT_OK(tc_evaluate(g, &ds, 5, 0, NULL, &correct, &total, &err), &err);
    CU_ASSERT_EQUAL(total, N);
    CU_ASSERT_EQUAL(correct, N);

    /* a per-channel model refuses a grey data set */
    tc_dataset grey = {.count = N, .channels = 1, .height = 2, .width = 6, .pixels = px,
                       .labels = labels};
    TCU_ASSERT_FAILS_WITH(tc_evaluate(g, &grey, 5, 0, NULL, &correct, &total, &err), &err,
                          "a mean and std for 3 channels but the data set's images have 1");
    tc_model_close(m);
    tc_graph_free(g);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"arrays and scalars", test_arrays_and_scalars},
        {"errors", test_errors},
        {"predict and evaluate per channel", test_predict_and_evaluate},
        {NULL, NULL},
    };
    return tcu_run("input_norm", tests);
}
