/* What a training run says (tinycnn/session_report.h), through the library
 * API: the progress and epoch lines of known records; the banner, notes,
 * summaries (text and JSON, with and without a validation set) and stop
 * texts of a tiny model trained on 4x4 images made here; NULL arguments. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/session_report.h"

/* Asserts that got (freed here) is want, showing both when not. */
static void expect_text(char *got, const char *want)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got:  '%s'\n  want: '%s'\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

/* expect_text of the text made of fmt and what follows. */
static void expect_textf(char *got, const char *fmt, ...) TC_PRINTF(2, 3);

static void expect_textf(char *got, const char *fmt, ...)
{
    char want[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    expect_text(got, want);
}

/* ---- lines of known records --------------------------------------------- */

static void test_progress_line(void)
{
    /* 5 of 10 batches in 10 s: 2 s a batch; ETA = 5 batches left (10 s) +
     * one more epoch (10 batches, 20 s, + 3 s overhead) + this epoch's 3 s */
    tc_train_progress p = {.epoch = 0, .batch = 5, .n_batches = 10, .loss = 0.5,
                           .accuracy = 0.875, .images_per_s = 1234.4, .seconds = 10.0};
    char buf[256];
    const char *want = "epoch 1/2 [==========>         ] 5/10  loss 0.5000  acc 87.50%  "
                       "1,234 img/s  ETA 36s";
    CU_ASSERT_EQUAL(tc_train_progress_line(buf, sizeof buf, &p, 2, 3.0), strlen(want));
    CU_ASSERT_STRING_EQUAL(buf, want);
    /* cut short as snprintf does, the length still the whole line's */
    CU_ASSERT_EQUAL(tc_train_progress_line(buf, 10, &p, 2, 3.0), strlen(want));
    CU_ASSERT_STRING_EQUAL(buf, "epoch 1/2");
    CU_ASSERT_EQUAL(tc_train_progress_line(NULL, 0, &p, 2, 3.0), strlen(want));
    /* a resumed epoch: only the batches of this call time the rest; the
     * last epoch counts its own overhead alone */
    tc_train_progress q = {.epoch = 2, .batch = 19, .n_batches = 20, .start_batch = 15,
                           .loss = 1.23456, .accuracy = 0.1, .images_per_s = 999999.6,
                           .seconds = 100.0};
    tc_train_progress_line(buf, sizeof buf, &q, 3, 50.0); /* 1 * 25 s + 50 s */
    CU_ASSERT_STRING_EQUAL(buf, "epoch 3/3 [===================>] 19/20  loss 1.2346  acc "
                                "10.00%  1,000,000 img/s  ETA 1m15s");
    /* nothing done yet: no rate, an empty bar */
    tc_train_progress z = {.epoch = 0, .batch = 0, .n_batches = 4};
    tc_train_progress_line(buf, sizeof buf, &z, 1, 0.0);
    CU_ASSERT_STRING_EQUAL(buf, "epoch 1/1 [>                   ] 0/4  loss 0.0000  acc 0.00%  "
                                "0 img/s  ETA 0s");
    strcpy(buf, "old");
    CU_ASSERT_EQUAL(tc_train_progress_line(buf, sizeof buf, NULL, 1, 0.0), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
}

static void test_epoch_line(void)
{
    tc_epoch_record r = {.epoch = 3, .loss = 0.123456, .train_accuracy = 0.9612,
                         .test_accuracy = 0.97, .seconds = 12.34,
                         .images_per_second = 61705.5};
    char buf[256];
    const char *want = "epoch 3/10  loss 0.1235  train 96.12%  test 97.00%  12.3 s  "
                       "61,706 img/s";
    CU_ASSERT_EQUAL(tc_epoch_line(buf, sizeof buf, &r, 10), strlen(want));
    CU_ASSERT_STRING_EQUAL(buf, want);
    r.val_total = 50;
    r.val_accuracy = 0.955;
    r.val_loss = 0.25;
    tc_epoch_line(buf, sizeof buf, &r, 10);
    CU_ASSERT_STRING_EQUAL(buf, "epoch 3/10  loss 0.1235  train 96.12%  val 95.50% (loss "
                                "0.2500)  test 97.00%  12.3 s  61,706 img/s");
    CU_ASSERT_EQUAL(tc_epoch_line(buf, sizeof buf, NULL, 10), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
}

/* ---- a tiny session -------------------------------------------------------
 * 4x4 gray images of three classes and a linear model for them: 16 * 3
 * weights + 3 biases = 51; 30 training images in batches of 16: 2 batches. */

static void make_data(tc_dataset *ds, int n)
{
    tcu_gray_dataset(ds, n, 4, 4);
    memset(ds->pixels, 20, (size_t)n * 16);
    for (int i = 0; i < n; i++) {
        ds->labels[i] = (uint8_t)(i % 3);
        ds->pixels[i * 16 + 5 * (i % 3)] = 250; /* a bright pixel says the class */
    }
}

static tc_dataset train_set, test_set, val_set;

/* The tiny model with `training` (a JSON object's members) written as
 * name.json; returns its path. */
static const char *tiny_model(const char *name, const char *training)
{
    char text[2048], file[64];
    snprintf(text, sizeof text,
             "{\"name\":\"tiny\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
             "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
             "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
             "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
             "\"params\":{\"out_features\":3}},{\"name\":\"loss\",\"type\":"
             "\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
             "\"output\":\"fc\",\"loss\":\"loss\",\"training\":{\"batch_size\":16%s%s}}",
             *training ? "," : "", training);
    snprintf(file, sizeof file, "%s.json", name);
    return tcu_write_file(file, text, strlen(text));
}

/* A session of the tiny model; val: the given validation set (or not);
 * resume: a checkpoint to continue (NULL: fresh, writing name.ckpt). */
static tc_session *open_tiny(const char *name, const char *training, int val, const char *resume,
                             const tc_train_overrides *ov)
{
    if (!train_set.count) {
        make_data(&train_set, 30);
        make_data(&test_set, 9);
        make_data(&val_set, 6);
    }
    char ck[64];
    snprintf(ck, sizeof ck, "%s.ckpt", name);
    tc_session_config c = {.registry = tcu_registry(),
                           .model_path = resume ? NULL : tiny_model(name, training),
                           .resume_path = resume, .output_path = resume ? NULL : tcu_tmp_path(ck),
                           .train = &train_set, .test = &test_set, .val = val ? &val_set : NULL,
                           .overrides = ov};
    tc_error err = {{0}};
    tc_session *s = tc_session_new(&c, &err);
    if (!s)
        fprintf(stderr, "\n  tc_session_new: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

/* Raises the cancel flag after batch `stop_batch` of the first epoch (0:
 * at the end of the first epoch instead). */
typedef struct stopper {
    int64_t stop_batch;
    volatile sig_atomic_t cancel;
} stopper;

static void stop_progress(void *user, const tc_train_progress *p)
{
    stopper *st = user;
    if (st->stop_batch > 0 && p->batch >= st->stop_batch)
        st->cancel = 1;
}

static void stop_epoch(void *user, const tc_epoch_record *r)
{
    stopper *st = user;
    (void)r;
    if (st->stop_batch == 0)
        st->cancel = 1;
}

static tc_session_status run_tiny(tc_session *s, int64_t stop_batch)
{
    stopper st = {stop_batch, 0};
    tc_train_hooks h = {.progress = stop_progress, .epoch_end = stop_epoch, .user = &st,
                        .progress_every = 1, .cancel = &st.cancel};
    tc_session_status status;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_session_run(s, stop_batch >= 0 ? &h : NULL, &status, &err), &err);
    return status;
}

/* ---- before training ------------------------------------------------------ */

static void test_banner(void)
{
    tc_session *s = open_tiny("plain", "\"epochs\":1", 0, NULL, NULL);
    expect_text(tc_session_banner(s, NULL),
                "training tiny: 51 weights, 30 training images (2 batches of 16), 9 test "
                "images, adam, lr 0.001 (constant), 2 threads\n");
    expect_text(tc_session_banner(s, "some/run.ckpt"),
                "resuming tiny from some/run.ckpt at epoch 1, batch 0 of 2\n"
                "training tiny: 51 weights, 30 training images (2 batches of 16), 9 test "
                "images, adam, lr 0.001 (constant), 2 threads\n");
    expect_text(tc_session_notes(s), "");
    expect_text(tc_session_finished_text(s, NULL), "");
    tc_session_free(s);

    /* a given validation set, an SGD step schedule and every augmentation */
    s = open_tiny("extras", "\"epochs\":1,\"optimizer\":\"sgd\",\"lr\":0.05,\"lr_schedule\":"
                  "\"step\",\"augment_shift\":1,\"augment_crop\":2,\"augment_flip\":true",
                  1, NULL, NULL);
    expect_text(tc_session_banner(s, NULL),
                "training tiny: 51 weights, 30 training images (2 batches of 16), 6 validation "
                "images (given), 9 test images, sgd, lr 0.05 (step), shifts up to 1 px, crops "
                "padded by 2 px, flips, 2 threads\n");
    tc_session_free(s);

    /* a hold-out of 0.2 of each class of 10: 2 each, 24 left (2 batches) */
    s = open_tiny("held", "\"epochs\":1,\"val_split\":0.2", 0, NULL, NULL);
    expect_text(tc_session_banner(s, NULL),
                "training tiny: 51 weights, 24 training images (2 batches of 16), 6 validation "
                "images (held out of the training set), 9 test images, adam, lr 0.001 "
                "(constant), 2 threads\n");
    tc_session_free(s);
}

static void test_resumed_notes(void)
{
    tc_session *s = open_tiny("notes", "\"epochs\":1", 0, NULL, NULL);
    run_tiny(s, -1);
    tc_session_state st;
    tc_session_get_state(s, &st);
    char ck[512];
    snprintf(ck, sizeof ck, "%s", st.checkpoint);
    tc_session_free(s);

    /* every epoch trained: what a resumed run says instead of training */
    s = open_tiny("notes", NULL, 0, ck, NULL);
    expect_text(tc_session_notes(s), "");
    const char *done = "%s has already trained 1 of 1 epochs; pass --epochs N (N > 1) to train "
                       "more\n";
    expect_textf(tc_session_finished_text(s, "given/path.ckpt"), done, "given/path.ckpt");
    expect_textf(tc_session_finished_text(s, NULL), done, ck);
    tc_session_free(s);

    /* another optimizer and another thread count: two notes */
    tc_train_overrides ov = {0};
    tcu_put_setting(&ov, "optimizer", "sgd");
    tcu_put_setting(&ov, "epochs", "2");
    tc_set_threads(1);
    s = open_tiny("notes", NULL, 0, ck, &ov);
    tc_set_threads(2);
    expect_text(tc_session_notes(s),
                "note: switching from adam to sgd; the optimizer state starts afresh\n"
                "note: the run started with 2 threads and continues with 1; the results may "
                "differ in the last bits from an uninterrupted run\n");
    expect_text(tc_session_finished_text(s, NULL), "");
    tc_session_free(s);
}

/* ---- the summary ---------------------------------------------------------- */

static void test_summary_text(void)
{
    tc_session *s = open_tiny("sum", "\"epochs\":1", 0, NULL, NULL);
    expect_text(tc_session_summary_text(s, "completed", 0), "completed: 0/1 epochs in 0s\n");
    run_tiny(s, -1);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.best_epoch, 1);
    char want[2048], wb[32];
    snprintf(want, sizeof want,
             "failed: 1/1 epochs in %s; test accuracy: best %.2f%% (epoch 1), final %.2f%%\n"
             "checkpoint: %s\n",
             tc_format_duration(wb, sizeof wb, st.wall_seconds), 100.0 * st.best_accuracy,
             100.0 * st.last_accuracy, st.checkpoint);
    expect_text(tc_session_summary_text(s, "failed", 0), want);
    /* the profile table follows, as tc_session_profile_format makes it */
    char *profile = tc_session_profile_format(tc_session_graph(s));
    CU_ASSERT_PTR_NOT_NULL_FATAL(profile);
    CU_ASSERT_PTR_NOT_NULL(strstr(profile, "\nprofile (training steps only)\n"));
    strncat(want, profile, sizeof want - strlen(want) - 1);
    free(profile);
    expect_text(tc_session_summary_text(s, "failed", 1), want);
    tc_session_free(s);

    /* with a validation set the best epoch is chosen on it */
    s = open_tiny("sumval", "\"epochs\":1", 1, NULL, NULL);
    run_tiny(s, -1);
    tc_session_get_state(s, &st);
    const tc_epoch_record *h = tc_session_history(s, &(int){0});
    snprintf(want, sizeof want,
             "completed: 1/1 epochs in %s; validation accuracy: best %.2f%% (epoch 1, test "
             "%.2f%%), final %.2f%% (test %.2f%%)\ncheckpoint: %s\n",
             tc_format_duration(wb, sizeof wb, st.wall_seconds), 100.0 * h[0].val_accuracy,
             100.0 * h[0].test_accuracy, 100.0 * h[0].val_accuracy, 100.0 * h[0].test_accuracy,
             st.checkpoint);
    expect_text(tc_session_summary_text(s, "completed", 0), want);
    tc_session_free(s);
}

/* The members of object o, in order, as "a,b,c". */
static void keys_of(json_t *o, char *buf, size_t cap)
{
    buf[0] = 0;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it))
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", buf[0] ? "," : "",
                 json_object_iter_key(it));
}

static json_t *parsed(char *text)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n  \"model\": \"tiny\",\n")); /* indented by 2 */
    CU_ASSERT_NOT_EQUAL(text[strlen(text) - 1], '\n');
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

static void test_summary_json(void)
{
    tc_session *s = open_tiny("json", "\"epochs\":1", 0, NULL, NULL);
    run_tiny(s, -1);
    tc_session_state st;
    tc_session_get_state(s, &st);
    json_t *v = parsed(tc_session_summary_json(s, "diverged", "the loss became NaN", 7, 0));
    char keys[512];
    keys_of(v, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "model,checkpoint,data,threads,config,epochs,summary");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "checkpoint")), st.checkpoint);
    CU_ASSERT_TRUE(json_is_null(json_object_get(v, "data"))); /* data sets in memory */
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(v, "threads")), 7);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(v, "config"),
                                                       "batch_size")), 16);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(v, "epochs")), 1);
    json_t *j = json_object_get(v, "summary");
    keys_of(j, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "status,error,epochs_done,batch,wall_seconds,selection,"
                                 "best_epoch,best_val_accuracy,best_test_accuracy,"
                                 "final_val_accuracy,final_test_accuracy,stopped_early,"
                                 "best_checkpoint,checkpoint");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "status")), "diverged");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "error")),
                           "the loss became NaN");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "epochs_done")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "batch")), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "selection")), "test");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "best_epoch")), 1);
    CU_ASSERT_TRUE(json_is_null(json_object_get(j, "best_val_accuracy")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(j, "final_val_accuracy")));
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "best_test_accuracy")),
                           st.best_accuracy, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "final_test_accuracy")),
                           st.last_accuracy, 1e-9);
    CU_ASSERT_TRUE(json_is_null(json_object_get(j, "stopped_early")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(j, "best_checkpoint")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "checkpoint")), st.checkpoint);
    json_decref(v);

    /* no error member without one; the profile's one entry a node */
    v = parsed(tc_session_summary_json(s, "completed", NULL, 2, 1));
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(v, "summary"), "error"));
    json_t *prof = json_object_get(v, "profile");
    CU_ASSERT_EQUAL(json_array_size(prof), 3);
    keys_of(json_array_get(prof, 1), keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "node,type,forward_seconds,backward_seconds,calls");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(prof, 1), "node")),
                           "fc");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(prof, 1), "type")),
                           "Linear");
    json_decref(v);
    tc_session_free(s);
}

/* With a validation set: selected on it, the best epoch's test accuracy. */
static void test_summary_json_val(void)
{
    tc_session *s = open_tiny("jsonval", "\"epochs\":1", 1, NULL, NULL);
    run_tiny(s, -1);
    const tc_epoch_record *h = tc_session_history(s, &(int){0});
    json_t *v = parsed(tc_session_summary_json(s, "completed", NULL, 2, 0));
    json_t *j = json_object_get(v, "summary");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "selection")), "val");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "best_val_accuracy")),
                           h[0].val_accuracy, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "final_val_accuracy")),
                           h[0].val_accuracy, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "best_test_accuracy")),
                           h[0].test_accuracy, 1e-9);
    json_decref(v);
    tc_session_free(s);
}

/* ---- after a stop --------------------------------------------------------- */

static void test_stop_texts(void)
{
    /* nothing written yet: no checkpoint to name */
    tc_session *s = open_tiny("stop", "\"epochs\":2", 0, NULL, NULL);
    expect_text(tc_session_stop_text(s, NULL), "training stopped after epoch 0 of 2");
    tc_session_state st;
    tc_session_get_state(s, &st);
    const char *ck = st.checkpoint;
    expect_textf(tc_session_interrupt_text(s, "SIGINT"),
                 "interrupted by SIGINT at epoch 1, batch 0 of 2; checkpoint written to %s", ck);

    /* stopped after the first batch */
    CU_ASSERT_EQUAL(run_tiny(s, 1), TC_SESSION_INTERRUPTED);
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.batch, 1);
    expect_textf(tc_session_stop_text(s, "log.csv: disk full"),
                 "log.csv: disk full; training stopped at epoch 1, batch 1 of 2; checkpoint "
                 "written to %s", ck);
    expect_textf(tc_session_interrupt_text(s, "SIGTERM"),
                 "interrupted by SIGTERM at epoch 1, batch 1 of 2; checkpoint written to %s", ck);

    /* on from there, stopped at the end of the first epoch */
    CU_ASSERT_EQUAL(run_tiny(s, 0), TC_SESSION_INTERRUPTED);
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.epoch, 1);
    CU_ASSERT_EQUAL(st.batch, 0);
    expect_textf(tc_session_stop_text(s, NULL),
                 "training stopped after epoch 1 of 2; checkpoint written to %s", ck);
    expect_textf(tc_session_interrupt_text(s, "SIGINT"),
                 "interrupted by SIGINT after epoch 1; checkpoint written to %s", ck);
    tc_session_free(s);
}

static void test_null_arguments(void)
{
    CU_ASSERT_PTR_NULL(tc_session_banner(NULL, "x"));
    CU_ASSERT_PTR_NULL(tc_session_notes(NULL));
    CU_ASSERT_PTR_NULL(tc_session_finished_text(NULL, NULL));
    CU_ASSERT_PTR_NULL(tc_session_summary_text(NULL, "completed", 0));
    CU_ASSERT_PTR_NULL(tc_session_summary_json(NULL, "completed", NULL, 1, 0));
    CU_ASSERT_PTR_NULL(tc_session_stop_text(NULL, "why"));
    CU_ASSERT_PTR_NULL(tc_session_interrupt_text(NULL, "SIGINT"));
    tc_session *s = open_tiny("nulls", "\"epochs\":1", 0, NULL, NULL);
    CU_ASSERT_PTR_NULL(tc_session_summary_text(s, NULL, 0));
    CU_ASSERT_PTR_NULL(tc_session_summary_json(s, NULL, NULL, 1, 0));
    CU_ASSERT_PTR_NULL(tc_session_interrupt_text(s, NULL));
    tc_session_free(s);
}

int main(void)
{
    tc_set_threads(2);
    static const tcu_test tests[] = {
        {"the progress line", test_progress_line},
        {"the epoch line", test_epoch_line},
        {"the banner", test_banner},
        {"a resumed run's notes and nothing left", test_resumed_notes},
        {"the summary as text", test_summary_text},
        {"the summary as JSON", test_summary_json},
        {"the summary as JSON, selected on validation", test_summary_json_val},
        {"where a stopped run stopped", test_stop_texts},
        {"NULL arguments", test_null_arguments},
        {NULL, NULL},
    };
    int rc = tcu_run("session_report", tests);
    tc_dataset *made[] = {&train_set, &test_set, &val_set};
    for (int i = 0; i < 3; i++)
        tc_dataset_free(made[i]);
    return rc;
}
