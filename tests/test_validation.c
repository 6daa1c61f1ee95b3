/* Validation in a training session (tinycnn/session.h): the val_split
 * hold-out (stratified, disjoint, seeded), per-epoch validation loss and
 * accuracy, the best epoch chosen on validation (a case where the test set
 * would choose another), the best checkpoint's weights, early stopping,
 * resuming without the data folder, tc_session_load_split's "train" and
 * "val", labels beyond the model's classes refused before training, and
 * the runner's --val-split, --save-best, --early-stop and --json. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image_util.h"
#include "json_util.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/session.h"
#include "tinycnn/snapshot.h"

#define BIN TC_TEST_BINARY_DIR "/bin/tinycnn"
#define SIDE 4
#define PIXELS (SIDE * SIDE)

static const char *const CLASSES[4] = {"ant", "bee", "cow", "dog"};

/* A gray 4x4 picture of class k: the pixels p with p % 3 == k bright, the
 * rest noise. */
static void class_image(int k, uint32_t seed, uint8_t *px)
{
    iu_noise(px, PIXELS, seed);
    for (int p = 0; p < PIXELS; p++)
        px[p] = (uint8_t)(p % 3 == k ? 160 + px[p] % 80 : px[p] % 60);
}

/* n images of classes i % 3, labelled (class + shift) % 3: shift 1 gives
 * a set a learning model gets wrong. */
static void make_set(tc_dataset *ds, int n, uint32_t seed, int shift)
{
    tcu_gray_dataset(ds, n, SIDE, SIDE);
    for (int i = 0; i < n; i++) {
        class_image(i % 3, seed + (uint32_t)i, ds->pixels + (size_t)i * PIXELS);
        ds->labels[i] = (uint8_t)((i % 3 + shift) % 3);
    }
}

/* A copy of iu_path's path that later calls leave alone. */
static const char *keep(const char *path)
{
    static char kept[16][512];
    static int next;
    char *p = kept[next++ % 16];
    snprintf(p, sizeof kept[0], "%s", path);
    return p;
}

static const char *model_file(const char *name, const char *training)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\":\"%s\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
             "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
             "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
             "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
             "\"params\":{\"out_features\":3}},"
             "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
             "\"output\":\"fc\",\"loss\":\"loss\",\"training\":{%s}}",
             name, training);
    char file[128];
    snprintf(file, sizeof file, "%s.json", name);
    return tcu_write_file(file, text, strlen(text));
}

static int epochs_seen;

static void count_epoch(void *user, const tc_epoch_record *r)
{
    (void)user;
    (void)r;
    epochs_seen++;
}

/* Runs s to its end; the status. */
static tc_session_status run_all(tc_session *s)
{
    tc_train_hooks h = {.epoch_end = count_epoch};
    tc_session_status st = TC_SESSION_FAILED;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_session_run(s, &h, &st, &err), &err);
    return st;
}

static int64_t meta_int(json_t *m, const char *key)
{
    return json_integer_value(json_object_get(m, key));
}

/* Correct answers of the weights in checkpoint `path` on ds. */
static int64_t correct_of(const char *model, const char *path, const tc_dataset *ds)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_file(tcu_registry(), model, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_checkpoint ck = {0};
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    TCU_ASSERT_OK(tc_snapshot_load_weights(g, &ck, &err), &err);
    int64_t correct = -1, total = 0;
    TCU_ASSERT_OK(tc_evaluate(g, ds, 64, 0, NULL, &correct, &total, &err), &err);
    CU_ASSERT_EQUAL(total, ds->count);
    tc_checkpoint_free(&ck);
    tc_graph_free(g);
    return correct;
}

/* The first epoch (1-based) of the highest value of field in h. */
static int first_max(const tc_epoch_record *h, int n, int val)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if ((val ? h[i].val_accuracy > h[best].val_accuracy
                 : h[i].test_accuracy > h[best].test_accuracy))
            best = i;
    return best + 1;
}

/* ---- the hold-out ---------------------------------------------------------- */

/* 200 images, classes of 100, 60 and 40, each image's index in its first
 * two pixels. */
static void make_indexed(tc_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->count = 200;
    ds->channels = 1;
    ds->height = ds->width = SIDE;
    ds->pixels = calloc(200, PIXELS);
    ds->labels = malloc(200);
    for (int i = 0; i < 200; i++) {
        ds->labels[i] = (uint8_t)(i < 100 ? 0 : i < 160 ? 1 : 2);
        ds->pixels[i * PIXELS] = (uint8_t)(i & 255);
        ds->pixels[i * PIXELS + 1] = (uint8_t)(i >> 8);
    }
}

static int index_of(const tc_dataset *ds, int64_t i)
{
    return ds->pixels[i * PIXELS] | ds->pixels[i * PIXELS + 1] << 8;
}

/* Holds out 25% with seed; in[200] gets 1 for the validation images, 2
 * for the training ones. */
static void hold_out(uint64_t seed, int in[200])
{
    tc_dataset train, val;
    tc_error err = {{0}};
    make_indexed(&train);
    TCU_ASSERT_OK(tc_session_hold_out(&train, 0.25, seed, &val, &err), &err);
    CU_ASSERT_EQUAL(val.count, 50);
    CU_ASSERT_EQUAL(train.count, 150);
    int per_class[3] = {0, 0, 0};
    memset(in, 0, 200 * sizeof *in);
    for (int64_t i = 0; i < val.count; i++) {
        int k = index_of(&val, i);
        CU_ASSERT(i == 0 || k > index_of(&val, i - 1)); /* file order kept */
        CU_ASSERT_EQUAL(val.labels[i], k < 100 ? 0 : k < 160 ? 1 : 2);
        per_class[val.labels[i]]++;
        in[k] |= 1;
    }
    for (int64_t i = 0; i < train.count; i++) {
        int k = index_of(&train, i);
        CU_ASSERT_EQUAL(train.labels[i], k < 100 ? 0 : k < 160 ? 1 : 2);
        in[k] |= 2;
    }
    /* stratified: a quarter of every class */
    CU_ASSERT_EQUAL(per_class[0], 25);
    CU_ASSERT_EQUAL(per_class[1], 15);
    CU_ASSERT_EQUAL(per_class[2], 10);
    tc_dataset_free(&train);
    tc_dataset_free(&val);
}

static void test_hold_out(void)
{
    int a[200], b[200], c[200];
    hold_out(7, a);
    hold_out(7, b);
    hold_out(8, c);
    int disjoint = 1, same = 1, other = 0;
    for (int i = 0; i < 200; i++) {
        disjoint &= a[i] == 1 || a[i] == 2; /* in exactly one part */
        same &= a[i] == b[i];
        other += a[i] != c[i];
    }
    CU_ASSERT(disjoint);
    CU_ASSERT(same);
    CU_ASSERT(other > 0);

    tc_dataset train, val;
    tc_error err = {{0}};
    make_indexed(&train);
    TCU_ASSERT_FAILS_WITH(tc_session_hold_out(&train, 0.0, 7, &val, &err), &err, "(0, 1)");
    TCU_ASSERT_FAILS_WITH(tc_session_hold_out(&train, 0.001, 7, &val, &err), &err,
                          "holds no image");
    CU_ASSERT_EQUAL(train.count, 200); /* left as it was */
    tc_dataset_free(&train);
}

/* ---- selection, the best checkpoint, early stopping ------------------------ */

static tc_dataset sel_train, sel_val, sel_test;

/* Training and test sets labelled right, the validation set wrong. */
static void make_sets(void)
{
    tc_dataset_free(&sel_train);
    tc_dataset_free(&sel_val);
    tc_dataset_free(&sel_test);
    make_set(&sel_train, 60, 1, 0);
    make_set(&sel_val, 30, 500, 1);
    make_set(&sel_test, 30, 900, 0);
}

static tc_session *open_mem(const char *model, const char *resume, const char *out,
                            const char *best, const tc_dataset *val,
                            const tc_train_overrides *ov, tc_error *err)
{
    tc_session_config c = {.registry = tcu_registry(), .model_path = model,
                           .resume_path = resume, .output_path = out, .best_path = best,
                           .train = &sel_train, .test = &sel_test, .val = val, .overrides = ov};
    return tc_session_new(&c, err);
}

/* The validation set is labelled so that learning makes it worse while the
 * test set gets better: the two would choose different epochs. */
static void test_best_on_validation(void)
{
    make_sets();
    const char *model = model_file("sel", "\"epochs\":8,\"batch_size\":6,\"lr\":0.01,"
                                          "\"optimizer\":\"sgd\",\"momentum\":0");
    const char *last = keep(iu_path("sel.ckpt")), *best = keep(iu_path("sel-best.ckpt"));
    tc_error err = {{0}};
    tc_session *s = open_mem(model, NULL, last, best, &sel_val, NULL, &err);
    TCU_ASSERT_OK(s == NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(run_all(s), TC_SESSION_COMPLETED);
    int n = 0;
    const tc_epoch_record *h = tc_session_history(s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 8);
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(h[i].val_total, 30);
        CU_ASSERT_DOUBLE_EQUAL(h[i].val_accuracy, (double)h[i].val_correct / 30.0, 1e-12);
        CU_ASSERT(h[i].val_loss > 0 && isfinite(h[i].val_loss));
    }
    /* the mislabelled validation set: the loss grows as the model learns */
    CU_ASSERT(h[n - 1].val_loss > h[0].val_loss);
    CU_ASSERT(h[n - 1].test_accuracy > h[0].test_accuracy);
    tc_session_state st;
    tc_session_get_state(s, &st);
    int want = first_max(h, n, 1);
    CU_ASSERT_EQUAL(st.best_epoch, want);
    CU_ASSERT_DOUBLE_EQUAL(st.best_accuracy, h[want - 1].val_accuracy, 1e-12);
    CU_ASSERT_NOT_EQUAL(want, first_max(h, n, 0)); /* the test set would pick another */
    CU_ASSERT_NOT_EQUAL(want, n);
    CU_ASSERT_PTR_NOT_NULL(st.best_checkpoint);

    /* the best checkpoint holds that epoch's weights, the last one the last */
    json_t *m = tcu_checkpoint_meta(best);
    CU_ASSERT_EQUAL(meta_int(m, "epoch"), want);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m, "selection")), "val");
    json_decref(m);
    CU_ASSERT_EQUAL(correct_of(model, best, &sel_val), h[want - 1].val_correct);
    CU_ASSERT_EQUAL(correct_of(model, best, &sel_test), h[want - 1].test_correct);
    CU_ASSERT_EQUAL(correct_of(model, last, &sel_test), h[n - 1].test_correct);
    CU_ASSERT_EQUAL(tcu_same_tensors(best, last, 1), 0);
    m = tcu_checkpoint_meta(last);
    CU_ASSERT_EQUAL(meta_int(m, "epoch"), 8);
    CU_ASSERT_EQUAL(meta_int(m, "best_epoch"), want);
    json_t *hist = json_object_get(m, "history");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(hist, 0), "val_total")),
                    30);
    json_decref(m);
    tc_session_free(s);

    /* a validation set and a split together: refused */
    tc_train_overrides ov = {0};
    tcu_put_setting(&ov, "val_split", "0.2");
    CU_ASSERT_PTR_NULL(open_mem(model, NULL, last, NULL, &sel_val, &ov, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "use one of them"));
    /* the best checkpoint may not be the last one */
    CU_ASSERT_PTR_NULL(open_mem(model, NULL, last, last, NULL, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "a file of its own"));
}

/* With a learning rate too small to move a weight, accuracy stays put:
 * early_stop 3 ends the run 3 epochs after the first. */
static void test_early_stop(void)
{
    const char *model = model_file("still", "\"epochs\":10,\"batch_size\":10,\"lr\":1e-30");
    const char *ck = keep(iu_path("still.ckpt"));
    make_sets();
    for (int split = 0; split < 2; split++) {
        tc_train_overrides ov = {0};
        tcu_put_setting(&ov, "early_stop", "3");
        if (split)
            tcu_put_setting(&ov, "val_split", "0.2");
        tc_error err = {{0}};
        tc_session *s = open_mem(model, NULL, ck, NULL, NULL, &ov, &err);
        TCU_ASSERT_OK(s == NULL, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        epochs_seen = 0;
        CU_ASSERT_EQUAL(run_all(s), TC_SESSION_COMPLETED);
        CU_ASSERT_EQUAL(epochs_seen, 4);
        tc_session_state st;
        tc_session_get_state(s, &st);
        CU_ASSERT_EQUAL(st.epoch, 4);
        CU_ASSERT_EQUAL(st.stopped_early, 4);
        CU_ASSERT_EQUAL(st.best_epoch, 1);
        CU_ASSERT_EQUAL(st.val_images, split ? 12 : 0);
        tc_session_free(s);
        json_t *m = tcu_checkpoint_meta(ck);
        CU_ASSERT_EQUAL(meta_int(m, "stopped_early"), 4);
        CU_ASSERT(json_is_true(json_object_get(m, "finished")));
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m, "selection")),
                               split ? "val" : "test");
        json_decref(m);
    }
    /* resumed, it stays stopped; with the patience off it trains on */
    tc_error err = {{0}};
    tc_session *s = open_mem(model, ck, NULL, NULL, NULL, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    epochs_seen = 0;
    CU_ASSERT_EQUAL(run_all(s), TC_SESSION_COMPLETED);
    CU_ASSERT_EQUAL(epochs_seen, 0);
    tc_session_free(s);
    tc_train_overrides ov = {0};
    tcu_put_setting(&ov, "early_stop", "0");
    s = open_mem(model, ck, NULL, NULL, NULL, &ov, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    epochs_seen = 0;
    CU_ASSERT_EQUAL(run_all(s), TC_SESSION_COMPLETED);
    CU_ASSERT_EQUAL(epochs_seen, 6);
    tc_session_free(s);
}

/* ---- data folders ----------------------------------------------------------- */

/* root/split/<class>/ with n PNG images of each of the first k classes. */
static void make_split(const char *root, const char *split, int k, int n, uint32_t seed)
{
    iu_mkdir(iu_path("%s/%s", root, split));
    for (int c = 0; c < k; c++) {
        iu_mkdir(iu_path("%s/%s/%s", root, split, CLASSES[c]));
        for (int i = 0; i < n; i++) {
            uint8_t px[PIXELS];
            class_image(c % 3, seed + (uint32_t)(c * 100 + i), px);
            iu_write_png(iu_path("%s/%s/%s/img%d.png", root, split, CLASSES[c], i), 1, SIDE,
                         SIDE, px);
        }
    }
}

static tc_session *open_dir(const char *model, const char *dir, const char *resume,
                            const char *out, const tc_train_overrides *ov, tc_error *err)
{
    tc_session_config c = {.registry = tcu_registry(), .model_path = model,
                           .resume_path = resume, .output_path = out, .data_dir = dir,
                           .overrides = ov};
    return tc_session_new(&c, err);
}

static int same_set(const tc_dataset *a, const tc_dataset *b)
{
    return a->count == b->count && memcmp(a->labels, b->labels, (size_t)a->count) == 0 &&
           memcmp(a->pixels, b->pixels, (size_t)a->count * PIXELS) == 0;
}

/* The split a checkpoint's training saw, by tc_session_load_split with
 * the checkpoint's folder. */
static void load_split(const char *model, const char *ck, const char *split, tc_dataset *out)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_file(tcu_registry(), model, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_checkpoint c = {0};
    TCU_ASSERT_OK(tc_checkpoint_read(ck, &c, &err), &err);
    TCU_ASSERT_OK(tc_session_load_split(g, c.meta_json, NULL, split, out, &err), &err);
    tc_checkpoint_free(&c);
    tc_graph_free(g);
}

/* A data folder of 3 classes (30 training and 12 test images; 9
 * validation images in val/ when with_val), made on first use. */
static const char *data_folder(const char *name, int with_val)
{
    const char *root = keep(iu_path("%s", name));
    if (access(root, F_OK) != 0) {
        iu_mkdir(root);
        make_split(name, "train", 3, 10, 1);
        make_split(name, "test", 3, 4, 5000);
        if (with_val)
            make_split(name, "val", 3, 3, 9000);
    }
    return root;
}

/* A folder whose training split has a fourth class, "dog". */
static const char *four_classes(void)
{
    const char *root = keep(iu_path("four"));
    if (access(root, F_OK) != 0) {
        iu_mkdir(root);
        make_split("four", "train", 4, 2, 1);
        make_split("four", "test", 3, 2, 1);
    }
    return root;
}

static const char *folder_model(void)
{
    return model_file("folders", "\"epochs\":1,\"batch_size\":8");
}

/* One epoch on data_folder("folders") holding out 20% with seed 5. */
static const char *split_checkpoint(void)
{
    const char *ck = keep(iu_path("folders.ckpt"));
    tc_train_overrides ov = {0};
    tcu_put_setting(&ov, "val_split", "0.2");
    tcu_put_setting(&ov, "seed", "5");
    tc_error err = {{0}};
    const char *dir = data_folder("folders", 0);
    tc_session *s = open_dir(folder_model(), dir, NULL, ck, &ov, &err);
    TCU_ASSERT_OK(s == NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    run_all(s);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.val_images, 6); /* 2 of each class's 10 */
    CU_ASSERT_EQUAL(st.train_images, 24);
    CU_ASSERT_EQUAL(st.val_from, 2);
    char *abs = realpath(dir, NULL);
    CU_ASSERT_STRING_EQUAL(st.data_dir, abs);
    free(abs);
    tc_session_free(s);
    return ck;
}

/* tc_session_load_split gives the hold-out and the rest as training saw them. */
static void test_folder_hold_out(void)
{
    const char *ck = split_checkpoint();
    tc_data_options opt = {.channels = 1, .height = SIDE, .width = SIDE};
    tc_dataset train, val, got;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_dataset_load_with(data_folder("folders", 0), "train", &opt, &train, &err),
                  &err);
    TCU_ASSERT_OK(tc_session_hold_out(&train, 0.2, 5, &val, &err), &err);
    load_split(folder_model(), ck, "val", &got);
    CU_ASSERT(same_set(&got, &val));
    tc_dataset_free(&got);
    load_split(folder_model(), ck, "train", &got);
    CU_ASSERT(same_set(&got, &train));
    tc_dataset_free(&got);
    load_split(folder_model(), ck, "test", &got);
    CU_ASSERT_EQUAL(got.count, 12);
    tc_dataset_free(&got);
    tc_dataset_free(&train);
    tc_dataset_free(&val);
}

/* Resumed without a folder, from another directory: the checkpoint's. */
static void test_resume_without_folder(void)
{
    const char *ck = split_checkpoint();
    char cwd[4096];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    CU_ASSERT_EQUAL_FATAL(chdir(tcu_tmpdir()), 0);
    tc_train_overrides more = {0};
    tcu_put_setting(&more, "epochs", "2");
    tc_error err = {{0}};
    tc_session *s = open_dir(folder_model(), NULL, ck, NULL, &more, &err);
    CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);
    TCU_ASSERT_OK(s == NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    epochs_seen = 0;
    run_all(s);
    CU_ASSERT_EQUAL(epochs_seen, 1);
    int n = 0;
    const tc_epoch_record *h = tc_session_history(s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(h[1].val_total, 6);
    tc_session_state st;
    tc_session_get_state(s, &st);
    char *abs = realpath(data_folder("folders", 0), NULL);
    CU_ASSERT_STRING_EQUAL(st.data_dir, abs);
    free(abs);
    tc_session_free(s);
}

/* A val/ folder is the validation set; with val_split as well, an error. */
static void test_val_folder(void)
{
    const char *dir = data_folder("withval", 1), *ck = keep(iu_path("withval.ckpt"));
    tc_train_overrides ov = {0};
    tcu_put_setting(&ov, "val_split", "0.2");
    tc_error err = {{0}};
    CU_ASSERT_PTR_NULL(open_dir(folder_model(), dir, NULL, ck, &ov, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "val/ folder"));
    tc_session *s = open_dir(folder_model(), dir, NULL, ck, NULL, &err);
    TCU_ASSERT_OK(s == NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    run_all(s);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.val_images, 9);
    CU_ASSERT_EQUAL(st.train_images, 30);
    CU_ASSERT_EQUAL(st.val_from, 1);
    int n = 0;
    CU_ASSERT_EQUAL(tc_session_history(s, &n)[0].val_total, 9);
    tc_session_free(s);
    tc_data_options opt = {.channels = 1, .height = SIDE, .width = SIDE};
    tc_dataset val, got;
    TCU_ASSERT_OK(tc_dataset_load_with(dir, "val", &opt, &val, &err), &err);
    load_split(folder_model(), ck, "val", &got);
    CU_ASSERT(same_set(&got, &val));
    tc_dataset_free(&got);
    tc_dataset_free(&val);
    /* without a validation set, "val" is refused */
    tc_graph *g = tc_graph_load_file(tcu_registry(), folder_model(), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    TCU_ASSERT_FAILS_WITH(tc_session_load_split(g, NULL, data_folder("folders", 0), "val", &got,
                                                &err),
                          &err, "no validation split");
    tc_graph_free(g);
}

/* ---- labels beyond the model's classes ------------------------------------- */

static void write_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* MNIST IDX files of n 4x4 images, labels i % 3, but image `bad` labelled 3. */
static void write_idx(const char *dir, const char *prefix, int n, int bad)
{
    uint8_t img[16 + 40 * PIXELS], lab[8 + 40];
    write_be32(img, 0x803);
    write_be32(img + 4, (uint32_t)n);
    write_be32(img + 8, SIDE);
    write_be32(img + 12, SIDE);
    write_be32(lab, 0x801);
    write_be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        class_image(i % 3, (uint32_t)i, img + 16 + i * PIXELS);
        lab[8 + i] = (uint8_t)(i == bad ? 3 : i % 3);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    iu_write(path, img, 16 + (size_t)n * PIXELS);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    iu_write(path, lab, 8 + (size_t)n);
}

static void test_labels_beyond_classes(void)
{
    const char *model = model_file("three", "\"epochs\":1,\"batch_size\":8");
    const char *ck = keep(iu_path("three.ckpt"));
    tc_error err = {{0}};
    /* in memory: the image's index */
    make_sets();
    sel_train.labels[7] = 3;
    CU_ASSERT_PTR_NULL(open_mem(model, NULL, ck, NULL, NULL, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "image 7 has label 3, but model three has 3 classes"));
    sel_train.labels[7] = 1;
    sel_test.labels[2] = 200;
    CU_ASSERT_PTR_NULL(open_mem(model, NULL, ck, NULL, NULL, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "image 2 has label 200"));
    /* IDX files: the folder, the split and the index */
    const char *idx = keep(iu_path("idx"));
    iu_mkdir(idx);
    write_idx(idx, "train", 30, 11);
    write_idx(idx, "t10k", 9, -1);
    CU_ASSERT_PTR_NULL(open_dir(model, idx, NULL, ck, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(train split): image 11 has label 3, but model three "
                                           "has 3 classes"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "diverged"));
    /* a class folder too many: its name */
    CU_ASSERT_PTR_NULL(open_dir(model, four_classes(), NULL, ck, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "has 4 classes but model three has 3 (class 3 is "
                                           "'dog')"));
    CU_ASSERT_NOT_EQUAL(access(ck, F_OK), 0); /* nothing was trained */
}

/* ---- the runner -------------------------------------------------------------- */

/* Runs the runner with argv (NULL-terminated, BIN first); its output in
 * *out (owner: the caller), the exit status returned. */
static int runner(char *const argv[], char **out)
{
    const char *log = iu_path("runner.log");
    int pid = tcu_spawn_logged(log, argv);
    CU_ASSERT_FATAL(pid > 0);
    int st = 0;
    waitpid(pid, &st, 0);
    size_t len;
    uint8_t *text = iu_read(log, &len);
    text[len] = 0;
    *out = (char *)text;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A data error is refused before training, never called divergence. */
static void test_runner_refuses_labels(void)
{
    const char *model = model_file("cli", "\"epochs\":6,\"batch_size\":8,\"lr\":0.05");
    const char *last = keep(iu_path("cli-bad.ckpt"));
    char *out = NULL;
    char *const bad[] = {BIN, "train", (char *)model, "--data", (char *)four_classes(), "-o",
                         (char *)last, NULL};
    CU_ASSERT_EQUAL(runner(bad, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "has 4 classes but model cli has 3 (class 3 is 'dog')"));
    CU_ASSERT_PTR_NULL(strstr(out, "diverged"));
    free(out);
    CU_ASSERT_NOT_EQUAL(access(last, F_OK), 0);
}

/* Resumes `last` without --data and with $TINYCNN_DATA elsewhere; the
 * --json output, parsed. */
static json_t *resume_elsewhere(const char *last)
{
    const char *env = getenv("TINYCNN_DATA");
    char *saved = env ? strdup(env) : NULL;
    setenv("TINYCNN_DATA", "/nonexistent/data", 1);
    char *const resume[] = {BIN, "train", "--resume", (char *)last, "--epochs", "8",
                            "--early-stop", "0", "--json", "--threads", "1", NULL};
    char *out = NULL;
    CU_ASSERT_EQUAL(runner(resume, &out), 0);
    if (saved)
        setenv("TINYCNN_DATA", saved, 1);
    else
        unsetenv("TINYCNN_DATA");
    free(saved);
    json_t *j = json_loads(out, 0, NULL);
    if (!j)
        fprintf(stderr, "\n%s\n", out);
    free(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    return j;
}

static void test_runner(void)
{
    const char *model = model_file("cli", "\"epochs\":6,\"batch_size\":8,\"lr\":0.05");
    const char *dir = data_folder("folders", 0);
    const char *last = keep(iu_path("cli.ckpt")), *best = keep(iu_path("cli-best.ckpt"));
    char *out = NULL;
    char *const train[] = {BIN, "train", (char *)model, "--data", (char *)dir, "-o",
                           (char *)last, "--val-split", "0.2", "--save-best", (char *)best,
                           "--early-stop", "2", "--threads", "1", NULL};
    CU_ASSERT_EQUAL(runner(train, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "6 validation images"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "epoch 1/6  loss "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "  val "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "validation accuracy: best "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "best checkpoint: "));
    free(out);
    CU_ASSERT_EQUAL(access(best, F_OK), 0);

    json_t *j = resume_elsewhere(last);
    char *abs = realpath(dir, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "data")), abs);
    free(abs);
    json_t *sum = json_object_get(j, "summary"), *ep = json_object_get(j, "epochs");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sum, "selection")), "val");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "epochs_done")), 8);
    CU_ASSERT_EQUAL(json_array_size(ep), 8);
    /* the best epoch is the history's first highest validation accuracy */
    int want = 0;
    double top = -1;
    for (size_t i = 0; i < json_array_size(ep); i++) {
        json_t *r = json_array_get(ep, i);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "val_total")), 6);
        double a = json_number_value(json_object_get(r, "val_accuracy"));
        if (a > top) {
            top = a;
            want = (int)i + 1;
        }
    }
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "best_epoch")), want);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(sum, "best_val_accuracy")), top,
                           1e-12);
    CU_ASSERT(json_is_null(json_object_get(sum, "stopped_early")));
    json_decref(j);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"the val_split hold-out: stratified, disjoint, seeded", test_hold_out},
        {"the best epoch and its checkpoint chosen on validation", test_best_on_validation},
        {"early stopping at a constant accuracy", test_early_stop},
        {"a folder's hold-out as tc_session_load_split gives it", test_folder_hold_out},
        {"resumed without a folder: the checkpoint's", test_resume_without_folder},
        {"a val/ folder", test_val_folder},
        {"labels beyond the model's classes", test_labels_beyond_classes},
        {"the runner refuses a class too many", test_runner_refuses_labels},
        {"the runner: --val-split, --save-best, --early-stop, resume", test_runner},
        {NULL, NULL},
    };
    int rc = tcu_run("validation", tests);
    tc_dataset_free(&sel_train);
    tc_dataset_free(&sel_val);
    tc_dataset_free(&sel_test);
    return rc;
}
