/* Tests of the training and evaluation loops (tinycnn/train.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/train.h"

#define EPS 1e-12

/* ---- learning-rate schedules, expected values worked out by hand -------- */

/* The default configuration with the learning rate, epochs and schedule set. */
static tc_train_config lr_config(double lr, int epochs, tc_lr_schedule schedule)
{
    tc_train_config c;
    tc_train_config_defaults(&c);
    c.lr = lr;
    c.epochs = epochs;
    c.schedule = schedule;
    return c;
}

static void test_lr_constant(void)
{
    tc_train_config c = lr_config(0.1, 3, TC_LR_CONSTANT);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 0, 10), 0.1, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 2, 9, 10), 0.1, EPS);
}

static void test_lr_cosine(void)
{
    tc_train_config c = lr_config(1.0, 4, TC_LR_COSINE);
    /* 40 steps: lr * (1 + cos(pi * s / 40)) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 0, 10), 1.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 2, 0, 10), 0.5, EPS);               /* s = 20 */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 3, 0, 10), 0.14644660940672624, EPS); /* cos(3pi/4) */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 1, 0, 10), 0.85355339059327373, EPS); /* cos(pi/4) */
    /* the same point reached as (epoch 1, step 5) of 20-step epochs: s = 25 of 80 */
    c.epochs = 4;
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 1, 5, 20), 0.5 * (1.0 + cos(3.14159265358979323846 * 25.0 / 80.0)), EPS);
}

static void test_lr_warmup(void)
{
    tc_train_config c = lr_config(1.0, 3, TC_LR_COSINE);
    c.warmup_epochs = 1.0; /* 10 warm-up steps, then cosine over the other 20 */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 0, 10), 0.1, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 4, 10), 0.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 9, 10), 1.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 1, 0, 10), 1.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 2, 0, 10), 0.5, EPS);
    /* half an epoch of warm-up with a constant schedule: 5 steps */
    c.schedule = TC_LR_CONSTANT;
    c.warmup_epochs = 0.5;
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 1, 10), 0.4, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 5, 10), 1.0, EPS);
}

static void test_lr_step(void)
{
    tc_train_config c = lr_config(2.0, 9, TC_LR_STEP); /* default: every 9/3 = 3 epochs, times 0.1 */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 0, 0, 10), 2.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 2, 9, 10), 2.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 3, 0, 10), 0.2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 8, 0, 10), 0.02, 1e-12);
    c.step_epochs = 2;
    c.step_gamma = 0.5;
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 5, 3, 10), 0.5, EPS); /* 2 * 0.5^floor(5/2) */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&c, 6, 0, 10), 0.25, EPS); /* 2 * 0.5^3 */
}

static void test_config_checks(void)
{
    tc_error err;
    tc_train_config c;
    tc_train_config_defaults(&c);
    CU_ASSERT_EQUAL(c.epochs, 10);
    CU_ASSERT_EQUAL(c.batch_size, 64);
    CU_ASSERT_EQUAL(c.optim.kind, TC_OPTIM_ADAM);
    CU_ASSERT_EQUAL(tc_train_config_check(&c, &err), 0);
    c.lr = -1;
    TCU_ASSERT_FAILS_WITH(tc_train_config_check(&c, &err), &err, "learning rate");
    c.lr = 0.1;
    c.batch_size = 0;
    TCU_ASSERT_FAILS_WITH(tc_train_config_check(&c, &err), &err, "batch size");
    tc_lr_schedule s;
    CU_ASSERT_EQUAL(tc_lr_schedule_parse("cosine", &s), 0);
    CU_ASSERT_EQUAL(s, TC_LR_COSINE);
    CU_ASSERT_NOT_EQUAL(tc_lr_schedule_parse("linear", &s), 0);
    tc_optim_kind k;
    CU_ASSERT_EQUAL(tc_optim_kind_parse("sgd", &k), 0);
    CU_ASSERT_EQUAL(k, TC_OPTIM_SGD);
    CU_ASSERT_NOT_EQUAL(tc_optim_kind_parse("rmsprop", &k), 0);
}

/* ---- shuffle ------------------------------------------------------------ */

static void test_shuffle(void)
{
    enum { N = 1000 };
    int64_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    char *seen = calloc(N, 1);
    tc_train_order(7, 3, 1, a, N);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_FATAL(a[i] >= 0 && a[i] < N);
        seen[a[i]]++;
    }
    int moved = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(seen[i], 1);
        moved += a[i] != i;
    }
    CU_ASSERT(moved > N / 2); /* an actual shuffle */
    tc_train_order(7, 3, 1, b, N);
    CU_ASSERT_EQUAL(memcmp(a, b, N * sizeof *a), 0);
    tc_train_order(7, 4, 1, b, N); /* another epoch: another order */
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, N * sizeof *a), 0);
    tc_train_order(8, 3, 1, b, N); /* another seed: another order */
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, N * sizeof *a), 0);
    tc_train_order(7, 3, 0, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(b[i], i);
    free(a);
    free(b);
    free(seen);
}

/* ---- a tiny model on a separable synthetic data set ---------------------- */

/* 4x4 gray images; class k (0..2) lights pixel block k (rows 0-1 / cols 0-1,
 * rows 0-1 / cols 2-3, rows 2-3 / cols 0-1) on top of weak noise. */
static void make_data(tc_dataset *ds, int n, uint32_t seed)
{
    tcu_gray_dataset(ds, n, 4, 4);
    uint32_t x = seed;
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        ds->labels[i] = (uint8_t)k;
        for (int p = 0; p < 16; p++) {
            x = x * 1664525u + 1013904223u;
            int r = p / 4, c = p % 4;
            int on = (k == 0 && r < 2 && c < 2) || (k == 1 && r < 2 && c >= 2) ||
                     (k == 2 && r >= 2 && c < 2);
            ds->pixels[i * 16 + p] = (uint8_t)((on ? 180 : 0) + (x >> 26)); /* noise < 64 */
        }
    }
}

static const char *tiny_model =
    "{\"name\":\"tiny\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4],\"mean\":0.3,\"std\":0.3},"
    "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
    "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
    "{\"name\":\"fc1\",\"type\":\"Linear\",\"inputs\":[\"flat\"],\"params\":{\"out_features\":8}},"
    "{\"name\":\"act\",\"type\":\"ReLU\",\"inputs\":[\"fc1\"]},"
    "{\"name\":\"fc2\",\"type\":\"Linear\",\"inputs\":[\"act\"],\"params\":{\"out_features\":3}},"
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc2\",\"label\"]}],"
    "\"output\":\"fc2\",\"loss\":\"loss\","
    "\"training\":{\"epochs\":6,\"batch_size\":16,\"optimizer\":\"sgd\",\"lr\":0.05,"
    "\"momentum\":0.9,\"lr_schedule\":\"step\"}}";

typedef struct trained {
    tc_graph *g;
    tc_optimizer *opt;
    tc_train_config cfg;
} trained;

static void setup(trained *t, uint64_t seed)
{
    tc_error err = {{0}};
    t->g = tc_graph_load_string(tcu_registry(), tiny_model, "tiny", &err);
    if (!t->g)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->g);
    TCU_ASSERT_OK(tc_train_config_from_graph(t->g, &t->cfg, &err), &err);
    t->cfg.seed = seed;
    tc_graph_init_weights(t->g, seed);
    tc_graph_set_seed(t->g, seed);
    t->opt = tc_optimizer_new(t->g, &t->cfg.optim, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->opt);
}

static void teardown(trained *t)
{
    tc_optimizer_free(t->opt);
    tc_graph_free(t->g);
}

/* setup(t, seed) and 150 made-up images (make_data with data_seed) in train. */
static void setup_with_data(trained *t, tc_dataset *train, uint32_t data_seed, uint64_t seed)
{
    make_data(train, 150, data_seed);
    setup(t, seed);
}

static void teardown_with_data(trained *t, tc_dataset *train)
{
    teardown(t);
    tc_dataset_free(train);
}

static void train_all(trained *t, const tc_dataset *ds)
{
    tc_error err = {{0}};
    for (int e = 0; e < t->cfg.epochs; e++) {
        tc_epoch_stats st;
        TCU_ASSERT_OK(tc_train_epoch(t->g, t->opt, ds, &t->cfg, e, 0, NULL, &st, &err), &err);
        CU_ASSERT_EQUAL(st.cancelled, 0);
    }
}

/* 1 if every weight of a and b is bit-identical. */
static int same_weights(tc_graph *a, tc_graph *b)
{
    if (tc_graph_n_weights(a) != tc_graph_n_weights(b))
        return 0;
    for (int i = 0; i < tc_graph_n_weights(a); i++) {
        tc_weight *wa = tc_graph_weight(a, i), *wb = tc_graph_weight(b, i);
        int64_t n = tc_shape_count(&wa->value.shape);
        if (n != tc_shape_count(&wb->value.shape) ||
            memcmp(wa->value.data, wb->value.data, (size_t)n * sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

static void test_config_from_model(void)
{
    trained t;
    setup(&t, 1);
    CU_ASSERT_EQUAL(t.cfg.epochs, 6);
    CU_ASSERT_EQUAL(t.cfg.batch_size, 16);
    CU_ASSERT_EQUAL(t.cfg.optim.kind, TC_OPTIM_SGD);
    CU_ASSERT_DOUBLE_EQUAL(t.cfg.lr, 0.05, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.cfg.optim.momentum, 0.9, 1e-7);
    CU_ASSERT_EQUAL(t.cfg.schedule, TC_LR_STEP);
    CU_ASSERT_EQUAL(t.cfg.shuffle, 1); /* built-in default, not in the model */
    teardown(&t);
}

static void test_learns_separable(void)
{
    tc_dataset train, test;
    make_data(&train, 300, 1);
    make_data(&test, 90, 2);
    trained t;
    setup(&t, 5);
    tc_error err = {{0}};
    int64_t correct = -1, total = -1;
    TCU_ASSERT_OK(tc_evaluate(t.g, &test, 32, 0, NULL, &correct, &total, &err), &err);
    CU_ASSERT_EQUAL(total, 90);
    double before = (double)correct / 90.0;
    train_all(&t, &train);
    TCU_ASSERT_OK(tc_evaluate(t.g, &test, 32, 0, NULL, &correct, &total, &err), &err);
    CU_ASSERT_EQUAL(total, 90);
    double after = (double)correct / 90.0;
    if (after < 0.95)
        fprintf(stderr, "\n  accuracy before %.3f, after %.3f\n", before, after);
    CU_ASSERT(after >= 0.95);
    teardown_with_data(&t, &train);
    tc_dataset_free(&test);
}

static void test_deterministic(void)
{
    tc_dataset train;
    make_data(&train, 150, 3);
    trained a, b, c;
    setup(&a, 11);
    setup(&b, 11);
    setup(&c, 12);
    a.cfg.epochs = b.cfg.epochs = c.cfg.epochs = 2;
    train_all(&a, &train);
    train_all(&b, &train);
    train_all(&c, &train);
    CU_ASSERT(same_weights(a.g, b.g));
    CU_ASSERT(!same_weights(a.g, c.g)); /* the comparison can fail */
    teardown(&a);
    teardown(&b);
    teardown(&c);
    tc_dataset_free(&train);
}

typedef struct stopper {
    volatile sig_atomic_t flag;
    int64_t at;
    int calls;
    int64_t last_batch;
} stopper;

static void stop_at(void *user, const tc_train_progress *p)
{
    stopper *s = user;
    s->calls++;
    s->last_batch = p->batch;
    if (p->batch == s->at)
        s->flag = 1;
}

static void test_cancel_and_resume(void)
{
    tc_dataset train;
    make_data(&train, 150, 4);
    trained a, b;
    setup(&a, 21);
    setup(&b, 21);
    tc_error err = {{0}};
    tc_epoch_stats st;
    for (int e = 0; e < 2; e++)
        TCU_ASSERT_OK(tc_train_epoch(a.g, a.opt, &train, &a.cfg, e, 0, NULL, &st, &err), &err);

    TCU_ASSERT_OK(tc_train_epoch(b.g, b.opt, &train, &b.cfg, 0, 0, NULL, &st, &err), &err);
    stopper s = {.flag = 0, .at = 4};
    tc_train_hooks h = {.progress = stop_at, .user = &s, .progress_every = 1, .cancel = &s.flag};
    TCU_ASSERT_OK(tc_train_epoch(b.g, b.opt, &train, &b.cfg, 1, 0, &h, &st, &err), &err);
    CU_ASSERT_EQUAL(st.cancelled, 1);
    CU_ASSERT_EQUAL(st.batches_done, 4);
    CU_ASSERT_EQUAL(st.images, 64);
    CU_ASSERT(!same_weights(a.g, b.g));
    TCU_ASSERT_OK(tc_train_epoch(b.g, b.opt, &train, &b.cfg, 1, 4, NULL, &st, &err), &err);
    CU_ASSERT_EQUAL(st.cancelled, 0);
    CU_ASSERT_EQUAL(st.batches_done, 10);
    CU_ASSERT_EQUAL(st.images, 150 - 64);
    CU_ASSERT(same_weights(a.g, b.g));

    /* a flag already set: nothing runs, nothing changes */
    tc_weight *w = tc_graph_weight(b.g, 0);
    float first = w->value.data[0];
    s.flag = 1;
    s.at = -1;
    TCU_ASSERT_OK(tc_train_epoch(b.g, b.opt, &train, &b.cfg, 2, 0, &h, &st, &err), &err);
    CU_ASSERT_EQUAL(st.cancelled, 1);
    CU_ASSERT_EQUAL(st.batches_done, 0);
    CU_ASSERT_EQUAL(st.images, 0);
    CU_ASSERT_EQUAL(w->value.data[0], first);
    TCU_ASSERT_FAILS_WITH(tc_train_epoch(b.g, b.opt, &train, &b.cfg, 2, 11, NULL, &st, &err),
                          &err, "batch 11");
    teardown(&a);
    teardown(&b);
    tc_dataset_free(&train);
}

static void test_epoch_stats_and_progress_calls(void)
{
    tc_dataset train;
    trained t;
    setup_with_data(&t, &train, 6, 3);
    t.cfg.limit = 100; /* 7 batches: 6 of 16 and one of 4 */
    tc_error err = {{0}};
    tc_epoch_stats st;
    stopper s = {.flag = 0, .at = -1};
    tc_train_hooks h = {.progress = stop_at, .user = &s, .progress_every = 3, .cancel = &s.flag};
    TCU_ASSERT_OK(tc_train_epoch(t.g, t.opt, &train, &t.cfg, 0, 0, &h, &st, &err), &err);
    CU_ASSERT_EQUAL(st.n_batches, 7);
    CU_ASSERT_EQUAL(st.batches_done, 7);
    CU_ASSERT_EQUAL(st.images, 100);
    CU_ASSERT_EQUAL(s.calls, 3); /* after batches 3, 6 and the last */
    CU_ASSERT_EQUAL(s.last_batch, 7);
    CU_ASSERT(st.correct >= 0 && st.correct <= 100);
    CU_ASSERT_DOUBLE_EQUAL(st.accuracy, (double)st.correct / 100.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(st.loss, st.loss_sum / 100.0, 1e-12);
    CU_ASSERT(st.loss > 0.0 && isfinite(st.loss));
    CU_ASSERT_EQUAL(tc_optimizer_steps(t.opt), 7);
    teardown_with_data(&t, &train);
}

/* ---- divergence --------------------------------------------------------- */

static void test_nan_loss_absurd_lr(void)
{
    tc_dataset train;
    trained t;
    setup_with_data(&t, &train, 7, 9);
    t.cfg.lr = 1e30;
    t.cfg.optim.momentum = 0.0f;
    tc_error err = {{0}};
    tc_epoch_stats st;
    int rc = 0;
    for (int e = 0; e < 3 && rc == 0; e++) {
        err.msg[0] = 0;
        rc = tc_train_epoch(t.g, t.opt, &train, &t.cfg, e, 0, NULL, &st, &err);
    }
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "epoch "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "step "));
    CU_ASSERT(strstr(err.msg, "NaN") || strstr(err.msg, "infinite"));
    teardown_with_data(&t, &train);
}

static void test_nan_loss_names_step(void)
{
    tc_dataset train;
    trained t;
    setup_with_data(&t, &train, 8, 9);
    tc_error err = {{0}};
    tc_epoch_stats st;
    /* one good epoch (10 steps), then poison a bias: the first step of the
     * next epoch, global step 11, must fail before any update */
    TCU_ASSERT_OK(tc_train_epoch(t.g, t.opt, &train, &t.cfg, 0, 0, NULL, &st, &err), &err);
    tc_weight *bias = tc_graph_find_weight(t.g, "fc2.bias");
    tc_weight *w1 = tc_graph_find_weight(t.g, "fc1.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(bias);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w1);
    bias->value.data[0] = NAN;
    int64_t n1 = tc_shape_count(&w1->value.shape);
    float *copy = malloc((size_t)n1 * sizeof *copy);
    memcpy(copy, w1->value.data, (size_t)n1 * sizeof *copy);
    TCU_ASSERT_FAILS_WITH(tc_train_epoch(t.g, t.opt, &train, &t.cfg, 1, 0, NULL, &st, &err), &err,
                          "epoch 2, step 11");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NaN"));
    CU_ASSERT_EQUAL(memcmp(copy, w1->value.data, (size_t)n1 * sizeof *copy), 0);
    CU_ASSERT_EQUAL(tc_optimizer_steps(t.opt), 10);
    free(copy);
    teardown_with_data(&t, &train);
}

/* ---- evaluation --------------------------------------------------------- */

static void test_evaluate_confusion(void)
{
    tc_dataset test;
    make_data(&test, 100, 9); /* labels 0,1,2,0,1,2,...: 34, 33, 33 */
    trained t;
    setup(&t, 4);
    tc_error err = {{0}};
    int64_t conf[9] = {0}, correct = -1, total = -1;
    TCU_ASSERT_OK(tc_evaluate(t.g, &test, 7, 0, conf, &correct, &total, &err), &err);
    CU_ASSERT_EQUAL(total, 100);
    int64_t sum = 0, diag = 0, rows[3] = {0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            sum += conf[i * 3 + j];
            rows[i] += conf[i * 3 + j];
            diag += i == j ? conf[i * 3 + j] : 0;
        }
    CU_ASSERT_EQUAL(sum, 100);
    CU_ASSERT_EQUAL(diag, correct);
    CU_ASSERT_EQUAL(rows[0], 34);
    CU_ASSERT_EQUAL(rows[1], 33);
    CU_ASSERT_EQUAL(rows[2], 33);

    /* the matrix accumulates; a limit takes the first images */
    TCU_ASSERT_OK(tc_evaluate(t.g, &test, 64, 10, conf, &correct, &total, &err), &err);
    CU_ASSERT_EQUAL(total, 10);
    sum = 0;
    for (int i = 0; i < 9; i++)
        sum += conf[i];
    CU_ASSERT_EQUAL(sum, 110);

    /* a label beyond the model's classes is named */
    test.labels[5] = 7;
    TCU_ASSERT_FAILS_WITH(tc_evaluate(t.g, &test, 16, 0, conf, &correct, &total, &err), &err,
                          "image 5 has label 7");
    TCU_ASSERT_FAILS_WITH(tc_evaluate(t.g, &test, 0, 0, NULL, &correct, &total, &err), &err,
                          "batch size");
    teardown(&t);
    tc_dataset_free(&test);
}

static void test_wrong_image_size(void)
{
    tc_dataset ds;
    make_data(&ds, 10, 1);
    ds.width = 2; /* 1x4x2: 8 values per image, the model wants 16 */
    trained t;
    setup(&t, 1);
    tc_error err = {{0}};
    tc_epoch_stats st;
    TCU_ASSERT_FAILS_WITH(tc_train_epoch(t.g, t.opt, &ds, &t.cfg, 0, 0, NULL, &st, &err), &err,
                          "1x4x2");
    teardown(&t);
    tc_dataset_free(&ds);
}

static void test_argmax(void)
{
    float x[] = {0.5f, 2.0f, NAN, 2.0f, -1.0f};
    CU_ASSERT_EQUAL(tc_argmax(x, 5), 1);
    float y[] = {NAN, -3.0f};
    CU_ASSERT_EQUAL(tc_argmax(y, 2), 1);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"lr constant", test_lr_constant},
        {"lr cosine", test_lr_cosine},
        {"lr warmup", test_lr_warmup},
        {"lr step", test_lr_step},
        {"config checks", test_config_checks},
        {"config from the model", test_config_from_model},
        {"shuffle is a deterministic permutation", test_shuffle},
        {"argmax", test_argmax},
        {"learns a separable data set", test_learns_separable},
        {"same seed, same weights", test_deterministic},
        {"epoch stats and progress calls", test_epoch_stats_and_progress_calls},
        {"cancel mid-epoch, resume, same weights", test_cancel_and_resume},
        {"NaN loss from an absurd lr", test_nan_loss_absurd_lr},
        {"NaN loss names epoch and step", test_nan_loss_names_step},
        {"evaluate: confusion matrix", test_evaluate_confusion},
        {"wrong image size", test_wrong_image_size},
        {NULL, NULL},
    };
    return tcu_run("train", tests);
}
