/* The training session (tinycnn/session.h) and the table of training
 * settings (tinycnn/train_settings.h), through the library API: a short
 * LeNet-5 run on MNIST with its callbacks counted; interrupted runs (mid-
 * epoch and after an epoch's evaluation) resumed to the weights of an
 * uninterrupted one, bit for bit; the order in which settings override each
 * other; a failing run; the training state's schema and versions; and every
 * setting's range enforced alike by the model file, the command line (the
 * runner itself), the checkpoint metadata and tc_train_config_check. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json_util.h"
#include "testutil.h"
#include "tinycnn/session.h"

#define LENET TC_TEST_SOURCE_DIR "/models/lenet5.json"
#define BIN TC_TEST_BINARY_DIR "/bin/tinycnn"

/* LeNet-5 on the first 640 MNIST training images, evaluated on 200 test
 * images; out NULL: the resumed checkpoint. */
static tc_session *open_lenet(const char *model, const char *out, const char *resume,
                              const tc_train_overrides *ov, tc_error *err)
{
    tc_session_config c = {
        .registry = tcu_registry(),
        .model_path = model,
        .resume_path = resume,
        .output_path = out,
        .data_dir = tcu_data_dir(),
        .overrides = ov,
        .test_limit = 200,
    };
    tc_session *s = tc_session_new(&c, err);
    if (!s)
        fprintf(stderr, "\n  tc_session_new: %s\n", err->msg);
    return s;
}

static tc_train_overrides lenet_settings(const char *batch)
{
    tc_train_overrides o = {0};
    tcu_put_setting(&o, "epochs", "2");
    tcu_put_setting(&o, "limit", "640");
    tcu_put_setting(&o, "batch_size", batch);
    return o;
}

/* A fresh LeNet session with lenet_settings(batch), writing the checkpoint
 * tcu_tmp_path(name) (*ck gets that path); fatal when it cannot open. */
static tc_session *open_fresh(const char *batch, const char *name, const char **ck,
                              tc_error *err)
{
    tc_train_overrides ov = lenet_settings(batch);
    *ck = tcu_tmp_path(name);
    tc_session *s = open_lenet(LENET, *ck, NULL, &ov, err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

/* What the callbacks saw. stop_at: the global batch (epoch * n + batch)
 * after which the cancel flag is raised; stop_after_epoch likewise at an
 * epoch's end; -1: never. */
typedef struct seen {
    int progress, epochs, last_epoch;
    int64_t first_start, last_batch;
    int64_t stop_at;
    int stop_after_epoch;
    volatile sig_atomic_t cancel;
} seen;

static void on_progress(void *user, const tc_train_progress *p)
{
    seen *c = user;
    if (c->progress++ == 0)
        c->first_start = p->start_batch;
    c->last_batch = p->batch;
    if ((int64_t)p->epoch * p->n_batches + p->batch == c->stop_at)
        c->cancel = 1;
}

static void on_epoch(void *user, const tc_epoch_record *r)
{
    seen *c = user;
    c->epochs++;
    c->last_epoch = r->epoch;
    CU_ASSERT_EQUAL(r->test_total, 200);
    CU_ASSERT(r->test_correct >= 0 && r->test_correct <= 200);
    CU_ASSERT(r->loss > 0 && isfinite(r->loss));
    CU_ASSERT(r->seconds >= r->overhead_seconds && r->overhead_seconds >= 0);
    if (r->epoch == c->stop_after_epoch)
        c->cancel = 1;
}

static seen watch(int64_t stop_at, int stop_after_epoch)
{
    seen c = {0};
    c.stop_at = stop_at;
    c.stop_after_epoch = stop_after_epoch;
    c.last_epoch = -1;
    return c;
}

static int run(tc_session *s, seen *c, tc_session_status *status, tc_error *err)
{
    tc_train_hooks h = {
        .progress = on_progress,
        .user = c,
        .progress_every = 1,
        .cancel = &c->cancel,
        .epoch_end = on_epoch,
    };
    return tc_session_run(s, &h, status, err);
}

/* ---- runs -------------------------------------------------------------- */

static void test_short_run(void)
{
    tc_error err = {{0}};
    const char *ck;
    tc_session *s = open_fresh("64", "run.ckpt", &ck, &err);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.n_batches, 10);
    CU_ASSERT_EQUAL(st.train_images, 640);
    CU_ASSERT_EQUAL(st.test_images, 200);
    CU_ASSERT_EQUAL(st.epoch, 0);
    CU_ASSERT_EQUAL(st.checkpoint_written, 0);
    CU_ASSERT_EQUAL(tc_session_settings(s)->epochs, 2);

    seen c = watch(-1, -1);
    tc_session_status status = TC_SESSION_FAILED;
    TCU_ASSERT_OK(run(s, &c, &status, &err), &err);
    CU_ASSERT_EQUAL(status, TC_SESSION_COMPLETED);
    CU_ASSERT_EQUAL(c.progress, 20); /* every batch of both epochs */
    CU_ASSERT_EQUAL(c.epochs, 2);
    CU_ASSERT_EQUAL(c.last_epoch, 2);
    int n = 0;
    const tc_epoch_record *h = tc_session_history(s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(h[0].epoch, 1);
    CU_ASSERT_EQUAL(h[1].epoch, 2);
    CU_ASSERT(h[1].loss < h[0].loss); /* it learns */
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.epoch, 2);
    CU_ASSERT_EQUAL(st.batch, 0);
    CU_ASSERT_EQUAL(st.checkpoint_written, 1);
    CU_ASSERT_STRING_EQUAL(st.checkpoint, ck);
    CU_ASSERT(st.best_accuracy >= st.last_accuracy && st.last_accuracy > 0.1);

    /* nothing is left to train: no callback, no error */
    seen again = watch(-1, -1);
    TCU_ASSERT_OK(run(s, &again, &status, &err), &err);
    CU_ASSERT_EQUAL(status, TC_SESSION_COMPLETED);
    CU_ASSERT_EQUAL(again.progress + again.epochs, 0);

    /* the history JSON is what the checkpoint holds */
    char *hist = tc_session_history_json(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hist);
    json_error_t je;
    json_t *ha = json_loads(hist, 0, &je);
    free(hist);
    CU_ASSERT_EQUAL(json_array_size(ha), 2);
    json_decref(ha);
    tc_session_free(s);

    /* the training state: version 2, the step count stored once */
    json_t *m = tcu_checkpoint_meta(ck);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m, "format")),
                           "tinycnn-training-state");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "version")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, TC_SNAPSHOT_STEPS_KEY)), 20);
    CU_ASSERT_PTR_NULL(json_object_get(m, "step"));
    CU_ASSERT_PTR_NULL(json_object_get(m, "seed")); /* it is in "config" */
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "epoch")), 2);
    CU_ASSERT(json_is_true(json_object_get(m, "finished")));
    json_t *cfg = json_object_get(m, "config");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(cfg, "limit")), 640);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(cfg, "seed")), 42);
    CU_ASSERT_EQUAL(json_object_size(cfg), (size_t)tc_train_settings_count());
    CU_ASSERT_EQUAL(json_array_size(json_object_get(m, "history")), 2);
    json_decref(m);
}

/* Runs the interrupted session (stopping per c), then resumes it from its
 * checkpoint to the end; returns the checkpoint's path. */
static const char *interrupted_then_resumed(const char *name, seen c, int want_epoch,
                                            int64_t want_batch)
{
    tc_error err = {{0}};
    const char *ck;
    tc_session *s = open_fresh("32", name, &ck, &err);
    tc_session_status status = TC_SESSION_FAILED;
    TCU_ASSERT_OK(run(s, &c, &status, &err), &err);
    CU_ASSERT_EQUAL(status, TC_SESSION_INTERRUPTED);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.epoch, want_epoch);
    CU_ASSERT_EQUAL(st.batch, want_batch);
    CU_ASSERT_EQUAL(st.checkpoint_written, 1);
    tc_session_free(s);
    json_t *m = tcu_checkpoint_meta(ck);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "epoch")), want_epoch);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "batch")), want_batch);
    CU_ASSERT_EQUAL(json_object_get(m, "partial") != NULL, want_batch > 0);
    CU_ASSERT(json_is_false(json_object_get(m, "finished")));
    json_decref(m);

    /* resumed with the checkpoint's own model and settings */
    s = open_lenet(NULL, NULL, ck, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.resumed, 1);
    CU_ASSERT_EQUAL(st.epoch, want_epoch);
    CU_ASSERT_EQUAL(st.batch, want_batch);
    CU_ASSERT_EQUAL(st.optimizer_switched, 0);
    CU_ASSERT_STRING_EQUAL(st.checkpoint, ck);
    CU_ASSERT_EQUAL(tc_session_settings(s)->limit, 640);
    seen r = watch(-1, -1);
    TCU_ASSERT_OK(run(s, &r, &status, &err), &err);
    CU_ASSERT_EQUAL(status, TC_SESSION_COMPLETED);
    CU_ASSERT_EQUAL(r.first_start, want_batch);
    CU_ASSERT_EQUAL(r.progress, 40 - (want_epoch * 20 + want_batch));
    CU_ASSERT_EQUAL(r.epochs, 2 - want_epoch);
    int n = 0;
    tc_session_history(s, &n);
    CU_ASSERT_EQUAL(n, 2);
    tc_session_free(s);
    return ck;
}

static void test_resume_equals_uninterrupted(void)
{
    tc_error err = {{0}};
    const char *ref;
    tc_session *s = open_fresh("32", "straight.ckpt", &ref, &err);
    seen c = watch(-1, -1);
    tc_session_status status;
    TCU_ASSERT_OK(run(s, &c, &status, &err), &err);
    tc_session_free(s);

    /* stopped at batch 6 of epoch 2: 26 steps of 40 */
    const char *mid;
    tc_session *t = open_fresh("32", "mid.ckpt", &mid, &err);
    seen stop = watch(26, -1);
    TCU_ASSERT_OK(run(t, &stop, &status, &err), &err);
    CU_ASSERT_EQUAL(status, TC_SESSION_INTERRUPTED);
    tc_session_free(t);
    CU_ASSERT(!tcu_same_tensors(ref, mid, 1)); /* the comparison can fail */

    const char *a = interrupted_then_resumed("mid2.ckpt", watch(26, -1), 1, 6);
    CU_ASSERT(tcu_same_tensors(ref, a, 0));
    /* raised during epoch 1's evaluation: the checkpoint is at the boundary */
    const char *b = interrupted_then_resumed("boundary.ckpt", watch(-1, 1), 1, 0);
    CU_ASSERT(tcu_same_tensors(ref, b, 0));
}

/* A model file giving its own training settings (step_gamma included). */
static const char *lenet_with_training(const char *name, const char *training)
{
    json_error_t je;
    json_t *m = json_load_file(LENET, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    json_object_set_new(m, "training", json_loads(training, 0, &je));
    const char *p = tcu_tmp_path(name);
    CU_ASSERT_EQUAL_FATAL(json_dump_file(m, p, 0), 0);
    json_decref(m);
    return p;
}

static void test_settings_precedence(void)
{
    const char *model = lenet_with_training(
        "step.json", "{\"lr\": 0.01, \"lr_schedule\": \"step\", \"step_epochs\": 1, "
                     "\"step_gamma\": 0.5, \"epochs\": 7}");
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_file(tcu_registry(), model, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_train_config cfg;
    TCU_ASSERT_OK(tc_train_config_from_graph(g, &cfg, &err), &err);
    tc_graph_free(g);
    CU_ASSERT_EQUAL(cfg.schedule, TC_LR_STEP);
    CU_ASSERT_EQUAL(cfg.step_epochs, 1);
    CU_ASSERT_DOUBLE_EQUAL(cfg.step_gamma, 0.5, 0);
    CU_ASSERT_EQUAL(cfg.batch_size, 64); /* the built-in default */
    CU_ASSERT_DOUBLE_EQUAL(tc_lr_at(&cfg, 2, 0, 10), 0.0025, 1e-15);

    /* overrides beat the model ... */
    tc_train_overrides ov = {0};
    tcu_put_setting(&ov, "lr", "0.02");
    tcu_put_setting(&ov, "epochs", "1");
    tcu_put_setting(&ov, "epochs", "1"); /* the same setting twice: one slot */
    tcu_put_setting(&ov, "limit", "64");
    CU_ASSERT_EQUAL(ov.n, 3);
    const char *ck = tcu_tmp_path("step.ckpt");
    tc_session *s = open_lenet(model, ck, NULL, &ov, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(tc_session_settings(s)->lr, 0.02, 0);
    CU_ASSERT_DOUBLE_EQUAL(tc_session_settings(s)->step_gamma, 0.5, 0);
    CU_ASSERT_EQUAL(tc_session_settings(s)->epochs, 1);
    seen c = watch(-1, -1);
    tc_session_status status;
    TCU_ASSERT_OK(run(s, &c, &status, &err), &err);
    tc_session_free(s);

    /* ... and the checkpoint beats the model given again at resume */
    tc_train_overrides more = {0};
    tcu_put_setting(&more, "epochs", "3");
    tcu_put_setting(&more, "optimizer", "sgd");
    s = open_lenet(model, NULL, ck, &more, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const tc_train_config *r = tc_session_settings(s);
    CU_ASSERT_DOUBLE_EQUAL(r->lr, 0.02, 0);
    CU_ASSERT_EQUAL(r->limit, 64);
    CU_ASSERT_EQUAL(r->epochs, 3);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.optimizer_switched, 1);
    CU_ASSERT_EQUAL(st.saved_optimizer, TC_OPTIM_ADAM);
    CU_ASSERT_EQUAL(st.epoch, 1);
    tc_session_free(s);
}

static void test_divergence(void)
{
    tc_error err = {{0}};
    tc_train_overrides ov = lenet_settings("64");
    tcu_put_setting(&ov, "lr", "1e30");
    tcu_put_setting(&ov, "optimizer", "sgd");
    const char *ck = tcu_tmp_path("nan.ckpt");
    tc_session *s = open_lenet(LENET, ck, NULL, &ov, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    seen c = watch(-1, -1);
    tc_session_status status = TC_SESSION_COMPLETED;
    CU_ASSERT_NOT_EQUAL(run(s, &c, &status, &err), 0);
    CU_ASSERT_EQUAL(status, TC_SESSION_DIVERGED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "epoch 1, step "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no checkpoint was written"));
    CU_ASSERT_EQUAL(c.epochs, 0);
    tc_session_free(s);
    CU_ASSERT_NOT_EQUAL(access(ck, F_OK), 0);

    /* refused before anything is trained, naming the path */
    s = open_lenet(LENET, TC_TEST_SOURCE_DIR "/no/such/folder/x.ckpt", NULL, &ov, &err);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no/such/folder"));
}

/* ---- the table: one range everywhere ------------------------------------ */

/* 4x4 gray images of three classes, and a model for them. */
static void make_data(tc_dataset *ds, int n)
{
    tcu_gray_dataset(ds, n, 4, 4);
    for (int i = 0; i < n; i++) {
        ds->labels[i] = (uint8_t)(i % 3);
        for (int p = 0; p < 16; p++)
            ds->pixels[i * 16 + p] = (uint8_t)(p % 3 == i % 3 ? 200 : (i * 7 + p) % 40);
    }
}

static const char *tiny_head =
    "{\"name\":\"tiny\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
    "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
    "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
    "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],\"params\":{\"out_features\":3}},"
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
    "\"output\":\"fc\",\"loss\":\"loss\"";

static tc_dataset tiny_train, tiny_test;
static const char *tiny_ckpt; /* one epoch of the tiny model */

static tc_session *open_tiny(const char *model, const char *resume, const char *out,
                             tc_error *err)
{
    tc_session_config c = {.registry = tcu_registry(), .model_path = model,
                           .resume_path = resume, .output_path = out,
                           .train = &tiny_train, .test = &tiny_test};
    return tc_session_new(&c, err);
}

static const char *tiny_checkpoint(void)
{
    if (tiny_ckpt)
        return tiny_ckpt;
    make_data(&tiny_train, 30);
    make_data(&tiny_test, 9);
    char model[1024];
    snprintf(model, sizeof model, "%s,\"training\":{\"epochs\":1,\"batch_size\":16}}", tiny_head);
    const char *mp = tcu_write_file("tiny.json", model, strlen(model));
    static char ck[700];
    snprintf(ck, sizeof ck, "%s", tcu_tmp_path("tiny.ckpt"));
    tc_error err = {{0}};
    tc_session *s = open_tiny(mp, NULL, ck, &err);
    if (!s)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    tc_session_status status;
    TCU_ASSERT_OK(tc_session_run(s, NULL, &status, &err), &err);
    tc_session_free(s);
    tiny_ckpt = ck;
    return ck;
}

/* Copies the checkpoint `from` to `to` with the metadata's members set
 * from top (may be NULL) and its config's from config (may be NULL). */
static void rewrite_meta(const char *from, const char *to, json_t *top, json_t *config)
{
    tc_checkpoint ck = {0};
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(from, &ck, &err), &err);
    json_error_t je;
    json_t *m = json_loads(ck.meta_json, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    if (top)
        json_object_update(m, top);
    if (config)
        json_object_update(json_object_get(m, "config"), config);
    free(ck.meta_json);
    ck.meta_json = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    TCU_ASSERT_OK(tc_checkpoint_write(to, &ck, &err), &err);
    tc_checkpoint_free(&ck);
}

/* A candidate value: its text, as JSON, as a value. */
static json_t *as_json(const tc_train_setting *s, const char *text)
{
    switch (s->type) {
    case TC_SETTING_INT: return json_integer(strtoll(text, NULL, 10));
    case TC_SETTING_NUMBER: return json_real(strtod(text, NULL));
    case TC_SETTING_BOOL: return json_boolean(strcmp(text, "true") == 0);
    case TC_SETTING_CHOICE: return json_string(text);
    }
    return json_null();
}

static tc_setting_value as_value(const tc_train_setting *s, const char *text)
{
    tc_setting_value v = {0, 0.0};
    if (s->type == TC_SETTING_INT)
        v.i = strtoll(text, NULL, 10);
    else if (s->type == TC_SETTING_NUMBER)
        v.d = strtod(text, NULL);
    else if (s->type == TC_SETTING_BOOL)
        v.i = strcmp(text, "true") == 0;
    else
        for (v.i = 0; s->choices[v.i] && strcmp(s->choices[v.i], text); v.i++)
            ;
    if (s->type == TC_SETTING_CHOICE && !s->choices[v.i])
        v.i = -1;
    return v;
}

/* 1 if the model file takes key = text; a run setting is always refused. */
static int model_takes(const tc_train_setting *s, const char *text)
{
    json_t *t = json_object();
    json_object_set_new(t, s->key, as_json(s, text));
    char *tj = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    char model[2048];
    snprintf(model, sizeof model, "%s,\"training\":%s}", tiny_head, tj);
    free(tj);
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_string(tcu_registry(), model, "range.json", &err);
    tc_graph_free(g);
    if (!g) {
        char want[96];
        snprintf(want, sizeof want, "training.%s", s->key);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "range.json"));
        if (!s->in_model)
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "a setting of the run"));
    }
    return g != NULL;
}

/* 1 if resuming from a checkpoint whose training state holds key = text
 * is accepted. */
static int metadata_takes(const tc_train_setting *s, const char *text)
{
    const char *p = tcu_tmp_path("range.ckpt");
    json_t *c = json_object();
    json_object_set_new(c, s->key, as_json(s, text));
    rewrite_meta(tiny_checkpoint(), p, NULL, c);
    json_decref(c);
    tc_error err = {{0}};
    tc_session *ses = open_tiny(NULL, p, tcu_tmp_path("range-out.ckpt"), &err);
    tc_session_free(ses);
    /* Taken, the value may still not fit the rest of the checkpoint (SGD
     * named over Adam's state): only the value's own refusal counts. */
    char want[96];
    snprintf(want, sizeof want, "config.%s must be", s->key);
    return ses != NULL || !strstr(err.msg, want);
}

/* 1 if the runner's option takes it: exit 2 is a usage error; accepted,
 * the run goes on to fail at the missing checkpoint, exit 1. */
static int command_line_takes(const tc_train_setting *s, const char *text)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' train --resume '%s/none.ckpt' '%s=%s' >/dev/null 2>&1", BIN,
             tcu_tmpdir(), s->option, text);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    CU_ASSERT(rc == 1 || rc == 2);
    return rc == 1;
}

/* Every way in must agree, and with `want` unless it is -1. */
static void expect_everywhere(const char *key, const char *text, int want)
{
    const tc_train_setting *s = tc_train_setting_find(key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    tc_setting_value v;
    tc_error err = {{0}};
    int text_ok = tc_train_setting_parse(s, text, &v, &err) == 0;
    tc_train_config cfg;
    tc_train_config_defaults(&cfg);
    int set_ok = tc_train_setting_set(s, as_value(s, text), &cfg, &err) == 0;
    if (set_ok)
        CU_ASSERT_EQUAL(tc_train_config_check(&cfg, &err), 0);
    int model_ok = model_takes(s, text);
    int meta_ok = metadata_takes(s, text);
    int cli_ok = s->metavar ? command_line_takes(s, text) : text_ok;
    int agree = text_ok == set_ok && set_ok == meta_ok && meta_ok == cli_ok &&
                (s->in_model ? model_ok == meta_ok : !model_ok);
    if (!agree || (want >= 0 && text_ok != want))
        fprintf(stderr, "\n  %s = %s: text %d, config %d, model %d, metadata %d, command line %d"
                        " (expected %d)\n",
                key, text, text_ok, set_ok, model_ok, meta_ok, cli_ok, want);
    CU_ASSERT(agree);
    if (want >= 0)
        CU_ASSERT_EQUAL(text_ok, want);
}

/* The table's own ends, each side of each. */
static void table_ends(const tc_train_setting *s)
{
    char t[64];
    switch (s->type) {
    case TC_SETTING_INT:
        snprintf(t, sizeof t, "%lld", (long long)s->imin);
        expect_everywhere(s->key, t, 1);
        snprintf(t, sizeof t, "%lld", (long long)s->imin - 1);
        expect_everywhere(s->key, t, 0);
        snprintf(t, sizeof t, "%lld", (long long)s->imax);
        expect_everywhere(s->key, t, 1);
        if (s->imax < INT64_MAX) {
            snprintf(t, sizeof t, "%lld", (long long)s->imax + 1);
            expect_everywhere(s->key, t, 0);
        }
        break;
    case TC_SETTING_NUMBER:
        snprintf(t, sizeof t, "%.17g", s->min);
        expect_everywhere(s->key, t, !s->min_open);
        snprintf(t, sizeof t, "%.17g", nextafter(s->min, -INFINITY));
        expect_everywhere(s->key, t, 0);
        snprintf(t, sizeof t, "%.17g", s->max);
        expect_everywhere(s->key, t, !s->max_open);
        snprintf(t, sizeof t, "%.17g", s->max * 1.0001);
        expect_everywhere(s->key, t, 0);
        break;
    case TC_SETTING_CHOICE:
        for (int i = 0; s->choices[i]; i++)
            expect_everywhere(s->key, s->choices[i], 1);
        expect_everywhere(s->key, "nonesuch", 0);
        break;
    case TC_SETTING_BOOL:
        expect_everywhere(s->key, "true", 1);
        expect_everywhere(s->key, "false", 1);
        break;
    }
}

static void test_ranges_everywhere(void)
{
    for (int i = 0; i < tc_train_settings_count(); i++)
        table_ends(tc_train_setting_at(i));
    /* the ranges as documented, independent of the table */
    static const struct {
        const char *key, *text;
        int ok;
    } fixed[] = {
        {"epochs", "100000", 1},     {"epochs", "100001", 0},       {"epochs", "0", 0},
        {"batch_size", "65536", 1},  {"batch_size", "65537", 0},    {"lr", "1e30", 1},
        {"lr", "0", 0},              {"lr", "1e39", 0},             {"momentum", "0.9999", 1},
        {"momentum", "1", 0},        {"momentum", "0.99999999", 0}, {"weight_decay", "1", 1},
        {"weight_decay", "1.5", 0},  {"warmup_epochs", "100000", 1}, {"warmup_epochs", "100001", 0},
        {"step_epochs", "100000", 1}, {"step_epochs", "-1", 0},     {"step_gamma", "1", 1},
        {"step_gamma", "0.5", 1},    {"step_gamma", "0", 0},        {"augment_shift", "64", 1},
        {"augment_shift", "65", 0},  {"seed", "0", 1},              {"seed", "-1", 0},
        {"optimizer", "sgd", 1},     {"optimizer", "rmsprop", 0},   {"eps", "0", 0},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        expect_everywhere(fixed[i].key, fixed[i].text, fixed[i].ok);

    /* the messages say what is expected */
    tc_error err = {{0}};
    tc_setting_value v;
    TCU_ASSERT_FAILS_WITH(tc_train_setting_parse(tc_train_setting_find("epochs"), "1e3", &v, &err),
                          &err, "expected an integer in [1, 100000]");
    tc_train_config cfg;
    tc_train_config_defaults(&cfg);
    cfg.step_gamma = 2;
    TCU_ASSERT_FAILS_WITH(tc_train_config_check(&cfg, &err), &err,
                          "step schedule factor must be a number in (0, 1] (got 2)");
    CU_ASSERT_PTR_NULL(tc_train_setting_find("nonesuch"));
    CU_ASSERT_PTR_NOT_NULL(tc_train_setting_find_option("--step-gamma"));
}

static void test_state_versions(void)
{
    const char *base = tiny_checkpoint(), *p = tcu_tmp_path("version.ckpt");
    tc_error err = {{0}};
    /* a version-1 state (it also held "step" and "seed") still resumes */
    json_t *v1 = json_pack("{s:i, s:i, s:i}", "version", 1, "step", 2, "seed", 42);
    rewrite_meta(base, p, v1, NULL);
    json_decref(v1);
    tc_session *s = open_tiny(NULL, p, tcu_tmp_path("v1-out.ckpt"), &err);
    if (!s)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(s);
    tc_session_free(s);
    /* a newer one is refused, and so is a state without a config */
    json_t *v3 = json_pack("{s:i}", "version", 3);
    rewrite_meta(base, p, v3, NULL);
    json_decref(v3);
    CU_ASSERT_PTR_NULL(open_tiny(NULL, p, tcu_tmp_path("v3-out.ckpt"), &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, p));
    json_t *noc = json_pack("{s:n}", "config");
    rewrite_meta(base, p, noc, NULL);
    json_decref(noc);
    CU_ASSERT_PTR_NULL(open_tiny(NULL, p, tcu_tmp_path("noc-out.ckpt"), &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no 'config' object"));
}

/* docs/model-format.md lists every model setting with the table's range
 * and default. */
static void test_documented(void)
{
    FILE *f = fopen(TC_TEST_SOURCE_DIR "/docs/model-format.md", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    tc_train_config d;
    tc_train_config_defaults(&d);
    for (int i = 0; i < tc_train_settings_count(); i++) {
        const tc_train_setting *s = tc_train_setting_at(i);
        char row[256], range[128], def[64];
        snprintf(row, sizeof row, "| `%s` | %s | %s |", s->key,
                 tc_train_setting_range(s, range, sizeof range),
                 tc_train_setting_format(s, tc_train_setting_get(s, &d), def, sizeof def));
        if ((strstr(doc, row) != NULL) != s->in_model)
            fprintf(stderr, "\n  %s the row '%s'\n", s->in_model ? "missing" : "unexpected",
                    row);
        CU_ASSERT_EQUAL(strstr(doc, row) != NULL, s->in_model);
    }
}

int main(void)
{
    tc_set_threads(2);
    static const tcu_test tests[] = {
        {"a short run on MNIST, callbacks counted", test_short_run},
        {"interrupted and resumed == uninterrupted", test_resume_equals_uninterrupted},
        {"defaults < model < checkpoint < overrides", test_settings_precedence},
        {"a diverging run writes nothing", test_divergence},
        {"one range everywhere for every setting", test_ranges_everywhere},
        {"training state versions", test_state_versions},
        {"the model settings are documented", test_documented},
        {NULL, NULL},
    };
    int rc = tcu_run("session", tests);
    tc_dataset_free(&tiny_train);
    tc_dataset_free(&tiny_test);
    return rc;
}
