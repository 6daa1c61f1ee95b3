/* tc_model_logits and tc_model_has_class_names (tinycnn/model.h), what
 * `tinycnn predict` reports each image with: the raw outputs agree bit for
 * bit with tc_model_predict after tc_softmax_rows, a non-finite output comes
 * back instead of failing the call, and whether the checkpoint named its
 * classes is known. An untrained LeNet-5 is enough for all of it. */
#define _POSIX_C_SOURCE 200809L
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/model.h"
#include "tinycnn/snapshot.h"

#define N 6

/* A checkpoint of LeNet-5 with seeded weights and meta (NULL: none). */
static const char *save_lenet(const char *name, const char *meta)
{
    static char path[2][700];
    static int next;
    char *p = path[next++ % 2];
    snprintf(p, 700, "%s/%s", tcu_tmpdir(), name);
    tcu_save_lenet(p, 5, meta);
    return p;
}

static tc_model *open_one_thread(const char *path)
{
    tc_model_options o = {.struct_size = sizeof o, .threads = 1, .registry = tcu_registry()};
    tc_error err = {{0}};
    tc_model *m = tc_model_open(path, &o, &err);
    if (!m)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

static void test_logits_match_predict(void)
{
    tc_model *m = open_one_thread(save_lenet("plain.ckpt", NULL));
    static float x[N * 784];
    uint64_t seed = 11;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(4.0 * tcu_rnd(&seed) - 2.0);
    float logits[N * 10], probs[N * 10];
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_model_logits(m, x, N * 784, N, logits, N * 10, &err), &err);
    TCU_ASSERT_OK(tc_model_predict(m, x, N * 784, N, probs, N * 10, NULL, 0, &err), &err);
    int differ = 0; /* the logits are no probabilities: rows not summing to 1 */
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < 10; j++)
            s += logits[i * 10 + j];
        differ += fabs(s - 1.0) > 1e-3;
    }
    CU_ASSERT(differ > 0);
    tc_softmax_rows(logits, N, 10);
    CU_ASSERT_EQUAL(memcmp(logits, probs, sizeof probs), 0);

    /* an overflowing image: predict fails, logits hands it back, the
     * others finite */
    for (int k = 784; k < 2 * 784; k++)
        x[k] = 3e38f;
    TCU_ASSERT_FAILS_WITH(tc_model_predict(m, x, N * 784, N, probs, N * 10, NULL, 0, &err),
                          &err, "the output for image 1 is ");
    TCU_ASSERT_OK(tc_model_logits(m, x, N * 784, N, logits, N * 10, &err), &err);
    int bad[N] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 10; j++)
            bad[i] |= !isfinite(logits[i * 10 + j]);
    CU_ASSERT_EQUAL(bad[1], 1);
    for (int i = 0; i < N; i++)
        if (i != 1)
            CU_ASSERT_EQUAL(bad[i], 0);

    /* bad calls */
    TCU_ASSERT_FAILS_WITH(tc_model_logits(m, x, N * 784, N, NULL, 0, &err), &err,
                          "NULL logits");
    TCU_ASSERT_FAILS_WITH(tc_model_logits(m, x, N * 784, N, logits, N * 10 - 1, &err), &err,
                          "logits has room for 59 values, 60 needed");
    TCU_ASSERT_FAILS_WITH(tc_model_logits(m, x, 784, N, logits, N * 10, &err), &err,
                          "input has room for 784");
    TCU_ASSERT_FAILS_WITH(tc_model_logits(NULL, x, 784, 1, logits, 10, &err), &err,
                          "NULL model");
    tc_model_close(m);
}

static void test_has_class_names(void)
{
    tc_model *m = open_one_thread(save_lenet("numbers.ckpt", NULL));
    CU_ASSERT_EQUAL(tc_model_has_class_names(m), 0);
    CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 7), "7"); /* the index stands in */
    tc_model_close(m);
    /* names that look like numbers are still names */
    m = open_one_thread(save_lenet("named.ckpt", "{\"class_names\": [\"0\", \"1\", \"2\", "
                                                 "\"3\", \"4\", \"5\", \"6\", \"7\", \"8\", "
                                                 "\"nine\"]}"));
    CU_ASSERT_EQUAL(tc_model_has_class_names(m), 1);
    CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 9), "nine");
    tc_model_close(m);
    CU_ASSERT_EQUAL(tc_model_has_class_names(NULL), 0);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"logits: predict's probabilities after softmax, NaN passed through",
         test_logits_match_predict},
        {"whether the checkpoint names the classes", test_has_class_names},
        {NULL, NULL},
    };
    return tcu_run("model_logits", tests);
}
