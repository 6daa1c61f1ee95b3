/* Tests of training-time augmentation (tinycnn/augment.h) and its wiring
 * into the model's "training" object and the training loop. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/augment.h"
#include "tinycnn/train.h"

static void fill_random(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

static void test_shift_draws(void)
{
    int seen[5][5] = {{0}};
    for (int i = 0; i < 1000; i++) {
        int dy = 99, dx = 99, dy2 = 99, dx2 = 99;
        tc_augment_shift_of(7, 3, i, 2, &dy, &dx);
        tc_augment_shift_of(7, 3, i, 2, &dy2, &dx2);
        CU_ASSERT(dy >= -2 && dy <= 2 && dx >= -2 && dx <= 2);
        CU_ASSERT(dy == dy2 && dx == dx2);
        if (dy >= -2 && dy <= 2 && dx >= -2 && dx <= 2)
            seen[dy + 2][dx + 2]++;
    }
    /* 1000 draws over 25 cells: each expected 40 times. */
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            CU_ASSERT(seen[a][b] >= 15);
    /* Another step draws other shifts. */
    int differ = 0;
    for (int i = 0; i < 50; i++) {
        int a, b, c, d;
        tc_augment_shift_of(7, 3, i, 2, &a, &b);
        tc_augment_shift_of(7, 4, i, 2, &c, &d);
        differ += a != c || b != d;
    }
    CU_ASSERT(differ > 25);
}

/* Each image equals the naive translation by its own draw. */
static void test_shift_matches_reference(void)
{
    enum { N = 37, C = 2, H = 5, W = 7 };
    static float img[N * C * H * W], ref[N * C * H * W];
    for (int s = 1; s <= 4; s++) {
        fill_random(img, sizeof img / sizeof *img, (uint32_t)s);
        const float fill = -9.0f;
        for (int i = 0; i < N; i++) {
            int dy, dx;
            tc_augment_shift_of(11, (uint64_t)s, i, s, &dy, &dx);
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) {
                        int sy = y - dy, sx = x - dx;
                        const float *p = img + ((size_t)i * C + c) * H * W;
                        ref[(((size_t)i * C + c) * H + y) * W + x] =
                            sy >= 0 && sy < H && sx >= 0 && sx < W ? p[sy * W + sx] : fill;
                    }
        }
        tc_augment_shift(img, N, C, H, W, s, fill, 11, (uint64_t)s);
        CU_ASSERT_EQUAL(memcmp(img, ref, sizeof img), 0);
    }
}

static void test_shift_zero_is_identity(void)
{
    float a[3 * 4 * 4], b[3 * 4 * 4];
    fill_random(a, 48, 5);
    memcpy(b, a, sizeof a);
    tc_augment_shift(a, 3, 1, 4, 4, 0, 0.0f, 1, 1);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    /* A shift as large as the image leaves only fill. */
    tc_augment_shift(a, 3, 1, 4, 4, 64, 2.5f, 1, 9);
    for (int i = 0; i < 3; i++) {
        int dy, dx;
        tc_augment_shift_of(1, 9, i, 64, &dy, &dx);
        if (abs(dy) >= 4 || abs(dx) >= 4)
            for (int k = 0; k < 16; k++)
                CU_ASSERT_EQUAL(a[i * 16 + k], 2.5f);
    }
}

/* ---- wiring: model file, config checks, training loop -------------------- */

static const char *model_fmt =
    "{\"name\":\"aug\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,6,6],\"mean\":0.2,\"std\":0.3},"
    "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
    "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
    "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],\"params\":{\"out_features\":3}},"
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
    "\"output\":\"fc\",\"loss\":\"loss\","
    "\"training\":{\"epochs\":2,\"batch_size\":8,\"optimizer\":\"sgd\",\"lr\":0.05%s}}";

static tc_graph *load_model(const char *training_extra, tc_error *err)
{
    char text[2048];
    snprintf(text, sizeof text, model_fmt, training_extra);
    return tc_graph_load_string(tcu_registry(), text, "aug.json", err);
}

static void test_model_setting(void)
{
    tc_error err = {{0}};
    tc_graph *g = tcu_graph_ok(load_model(",\"augment_shift\":3", &err), &err);
    tc_train_config cfg;
    TCU_ASSERT_OK(tc_train_config_from_graph(g, &cfg, &err), &err);
    CU_ASSERT_EQUAL(cfg.augment_shift, 3);
    cfg.augment_shift = -1;
    TCU_ASSERT_FAILS_WITH(tc_train_config_check(&cfg, &err), &err, "augment shift");
    cfg.augment_shift = TC_AUGMENT_MAX_SHIFT + 1;
    TCU_ASSERT_FAILS_WITH(tc_train_config_check(&cfg, &err), &err, "65");
    /* per-image streams are numbered step * 65536 + image: the batch cap
     * keeps them apart */
    cfg.augment_shift = 2;
    cfg.batch_size = TC_TRAIN_MAX_BATCH + 1;
    TCU_ASSERT_FAILS_WITH(tc_train_config_check(&cfg, &err), &err, "batch size");
    cfg.batch_size = TC_TRAIN_MAX_BATCH;
    TCU_ASSERT_OK(tc_train_config_check(&cfg, &err), &err);
    tc_graph_free(g);

    g = load_model("", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    TCU_ASSERT_OK(tc_train_config_from_graph(g, &cfg, &err), &err);
    CU_ASSERT_EQUAL(cfg.augment_shift, 0);
    tc_graph_free(g);

    const char *bad[] = {",\"augment_shift\":65", ",\"augment_shift\":-1",
                         ",\"augment_shift\":1.5", ",\"augment_shift\":\"2\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        g = load_model(bad[i], &err);
        CU_ASSERT_PTR_NULL(g);
        tc_graph_free(g);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "aug.json"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "training.augment_shift"));
    }
}

static void make_data(tc_dataset *ds, int n)
{
    tcu_gray_dataset(ds, n, 6, 6);
    uint32_t x = 3;
    for (int i = 0; i < n; i++) {
        ds->labels[i] = (uint8_t)(i % 3);
        for (int p = 0; p < 36; p++) {
            x = x * 1664525u + 1013904223u;
            ds->pixels[i * 36 + p] = (uint8_t)((p % 3 == i % 3 ? 150 : 0) + (x >> 26));
        }
    }
}

/* Trains two epochs with the given shift; returns the graph (caller frees). */
static tc_graph *train_with(int shift, const tc_dataset *ds)
{
    tc_error err = {{0}};
    tc_graph *g = load_model("", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_train_config cfg;
    TCU_ASSERT_OK(tc_train_config_from_graph(g, &cfg, &err), &err);
    cfg.augment_shift = shift;
    tc_graph_init_weights(g, cfg.seed);
    tc_graph_set_seed(g, cfg.seed);
    tc_optimizer *opt = tc_optimizer_new(g, &cfg.optim, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    for (int e = 0; e < cfg.epochs; e++) {
        tc_epoch_stats st;
        TCU_ASSERT_OK(tc_train_epoch(g, opt, ds, &cfg, e, 0, NULL, &st, &err), &err);
    }
    tc_optimizer_free(opt);
    return g;
}

static int same_weights(tc_graph *a, tc_graph *b)
{
    for (int i = 0; i < tc_graph_n_weights(a); i++) {
        tc_weight *wa = tc_graph_weight(a, i), *wb = tc_graph_weight(b, i);
        if (memcmp(wa->value.data, wb->value.data,
                   (size_t)tc_shape_count(&wa->value.shape) * sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

/* The loop applies the shift (weights differ from an unshifted run) and
 * stays deterministic (two shifted runs agree bit for bit). */
static void test_training_uses_it(void)
{
    tc_dataset ds;
    make_data(&ds, 60);
    tc_graph *plain = train_with(0, &ds);
    tc_graph *a = train_with(2, &ds);
    tc_graph *b = train_with(2, &ds);
    CU_ASSERT_FALSE(same_weights(plain, a));
    CU_ASSERT_TRUE(same_weights(a, b));
    tc_graph_free(plain);
    tc_graph_free(a);
    tc_graph_free(b);
    tc_dataset_free(&ds);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"shift draws: range, determinism, coverage", test_shift_draws},
        {"shift matches a naive translation", test_shift_matches_reference},
        {"shift 0 is the identity, huge shift is all fill", test_shift_zero_is_identity},
        {"augment_shift in the model file and config checks", test_model_setting},
        {"training applies it deterministically", test_training_uses_it},
        {NULL, NULL},
    };
    return tcu_run("augment", tests);
}
