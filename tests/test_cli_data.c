/* The runner on data as users have it: class-name folders of RGB PNG and
 * JPEG images made here, a model with a per-channel mean and std. Training
 * stores the class names in the checkpoint; predict (PNG and JPEG, text
 * and --json) and eval (labelled confusion matrix, --json) show them; eval
 * reads a test split lacking a class with the training run's labels. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "image_util.h"
#include "json_util.h"

#define SIDE 8

static const char *const CLASSES[3] = {"cat", "dog", "fox"};

/* An image of class k: channel k bright, the others dark, with noise, so
 * that only the colour tells the classes apart. */
static void class_image(int k, uint32_t seed, uint8_t *chw)
{
    iu_noise(chw, 3 * SIDE * SIDE, seed);
    for (int i = 0; i < 3 * SIDE * SIDE; i++) {
        int c = i / (SIDE * SIDE);
        chw[i] = (uint8_t)(c == k ? 180 + chw[i] % 60 : chw[i] % 60);
    }
}

/* split/<class>/ with n images each, every other one a JPEG; `skip` names
 * a class left out (-1: none). */
static void make_split(const char *split, int n, int skip, uint32_t seed)
{
    iu_mkdir(iu_path("data/%s", split));
    for (int k = 0; k < 3; k++) {
        if (k == skip)
            continue;
        iu_mkdir(iu_path("data/%s/%s", split, CLASSES[k]));
        for (int i = 0; i < n; i++) {
            uint8_t px[3 * SIDE * SIDE];
            class_image(k, seed + (uint32_t)(k * 1000 + i), px);
            if (i % 2)
                iu_write_jpeg(iu_path("data/%s/%s/img%d.jpg", split, CLASSES[k], i), 3, SIDE,
                              SIDE, px, 95);
            else
                iu_write_png(iu_path("data/%s/%s/img%d.png", split, CLASSES[k], i), 3, SIDE,
                             SIDE, px);
        }
    }
}

static const char *model_path_with(const char *training_extra)
{
    char text[2048];
    snprintf(text, sizeof text,
        "{\"name\":\"colours\",\"inputs\":[{\"name\":\"image\",\"shape\":[3,8,8],"
        "\"mean\":[0.4,0.45,0.5],\"std\":[0.3,0.3,0.3]},"
        "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
        "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
        "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
        "\"params\":{\"out_features\":3}},"
        "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
        "\"output\":\"fc\",\"loss\":\"loss\","
        "\"training\":{\"epochs\":20,\"batch_size\":8,\"optimizer\":\"adam\",\"lr\":0.02%s}}",
        training_extra);
    return tcu_write_file(training_extra[0] ? "colours_aug.json" : "colours.json", text,
                          strlen(text));
}

static const char *model_path(void)
{
    return model_path_with("");
}

static char ckpt[600];

static void test_train_stores_class_names(void)
{
    iu_mkdir(iu_path("data"));
    make_split("train", 12, -1, 1);
    make_split("test", 6, 1, 50000); /* no "dog" folder: fox stays label 2 */
    snprintf(ckpt, sizeof ckpt, "%s", iu_path("colours.ckpt"));
    char *out;
    int rc = tcu_tinycnn(&out, "train '%s' --data '%s' -o '%s' --quiet --threads 1", model_path(),
                         iu_path("data"), ckpt);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    free(out);
    tc_error err = {{0}};
    json_t *meta = tcu_checkpoint_meta(ckpt);
    json_t *names = json_object_get(meta, "class_names");
    CU_ASSERT_EQUAL(json_array_size(names), 3);
    for (int k = 0; k < 3; k++)
        CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(names, (size_t)k)) ?
                               json_string_value(json_array_get(names, (size_t)k)) : "",
                               CLASSES[k]);
    json_decref(meta);

    /* the inference API reads them too */
    tc_model *m = tc_model_open(ckpt, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, 2), "fox");
    tc_model_close(m);
}

static void test_predict_shows_names(void)
{
    uint8_t px[3 * SIDE * SIDE];
    class_image(2, 777, px);
    const char *jpg = iu_path("fox.jpg");
    iu_write_jpeg(jpg, 3, SIDE, SIDE, px, 95);
    class_image(0, 778, px);
    const char *png = iu_path("cat.png");
    iu_write_png(png, 3, SIDE, SIDE, px);
    char *out;
    CU_ASSERT_EQUAL(tcu_tinycnn(&out, "predict '%s' '%s' '%s' --top 1", ckpt, jpg, png), 0);
    char want[700];
    snprintf(want, sizeof want, "%s: 2 fox  (fox: ", jpg);
    CU_ASSERT(tcu_has_text(out, want));
    snprintf(want, sizeof want, "%s: 0 cat  (cat: ", png);
    CU_ASSERT(tcu_has_text(out, want));
    free(out);

    CU_ASSERT_EQUAL(tcu_tinycnn(&out, "predict '%s' '%s' --json --top 2", ckpt, jpg), 0);
    json_t *root = json_loads(out, 0, NULL);
    json_t *p = json_array_get(json_object_get(root, "predictions"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "prediction")), 2);
    const char *name = json_string_value(json_object_get(p, "class_name"));
    CU_ASSERT(name && strcmp(name, "fox") == 0);
    json_t *second = json_array_get(json_object_get(p, "top"), 1);
    int64_t k2 = json_integer_value(json_object_get(second, "class"));
    name = json_string_value(json_object_get(second, "class_name"));
    CU_ASSERT(k2 >= 0 && k2 < 3 && name && strcmp(name, CLASSES[k2]) == 0);
    if (!root)
        fprintf(stderr, "\n%s\n", out);
    json_decref(root);
    free(out);
}

static void test_eval_labels(void)
{
    char *out;
    CU_ASSERT_EQUAL(tcu_tinycnn(&out, "eval '%s' --data '%s'", ckpt, iu_path("data")), 0);
    CU_ASSERT(tcu_has_text(out, "classes: 0 = cat, 1 = dog, 2 = fox"));
    CU_ASSERT(tcu_has_text(out, "  fox:"));
    /* 12 test images (cat and fox), all right: the labels agree with training */
    CU_ASSERT(tcu_has_text(out, "accuracy: 100.00% (12/12)"));
    free(out);
    CU_ASSERT_EQUAL(tcu_tinycnn(&out, "eval '%s' --data '%s' --json", ckpt, iu_path("data")), 0);
    json_t *root = json_loads(out, 0, NULL);
    json_t *names = json_object_get(root, "class_names");
    CU_ASSERT_EQUAL(json_array_size(names), 3);
    const char *n2 = json_string_value(json_array_get(names, 2));
    CU_ASSERT(n2 && strcmp(n2, "fox") == 0);
    json_t *conf = json_object_get(root, "confusion");
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(conf, 2), 2)), 6);
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(conf, 0), 0)), 6);
    json_decref(root);
    free(out);
}

static json_t *config_of(const char *path)
{
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    tc_error err = {{0}};
    if (tc_checkpoint_read(path, &ck, &err) != 0) {
        fprintf(stderr, "\n  %s\n", err.msg);
        return NULL;
    }
    json_t *meta = json_loads(ck.meta_json, 0, NULL);
    json_t *c = json_incref(json_object_get(meta, "config"));
    json_decref(meta);
    tc_checkpoint_free(&ck);
    return c;
}

static int train(const char *out_path, const char *extra)
{
    char *out;
    int rc = tcu_tinycnn(&out, "train '%s' --data '%s' -o '%s' --quiet --threads 1 --epochs 2 %s",
                         model_path(), iu_path("data"), out_path, extra);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    free(out);
    return rc;
}

/* crop and flip: settings in the metadata, applied (other weights than
 * without them), and a resumed run equal to a straight one */
static void test_augment_settings(void)
{
    const char *plain = iu_path("plain.ckpt"), *aug = iu_path("aug.ckpt");
    const char *half = iu_path("half.ckpt");
    CU_ASSERT_EQUAL_FATAL(train(plain, ""), 0);
    CU_ASSERT_EQUAL_FATAL(train(aug, "--augment-crop 2 --augment-flip"), 0);
    json_t *c = config_of(aug);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "augment_crop")), 2);
    CU_ASSERT(json_is_true(json_object_get(c, "augment_flip")));
    json_decref(c);
    c = config_of(plain);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "augment_crop")), 0);
    CU_ASSERT(json_is_false(json_object_get(c, "augment_flip")));
    json_decref(c);
    CU_ASSERT_FALSE(tcu_same_tensors(plain, aug, 1));

    /* one epoch, then resumed to two: the same weights as two at once */
    CU_ASSERT_EQUAL_FATAL(train(half, "--augment-crop 2 --augment-flip --epochs 1"), 0);
    char *out;
    int rc = tcu_tinycnn(&out, "train --resume '%s' --data '%s' -o '%s' --quiet --threads 1 "
                           "--epochs 2", half, iu_path("data"), half);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    free(out);
    CU_ASSERT(tcu_same_tensors(half, aug, 0));

    /* the same from the model's "training" object */
    char *o2;
    const char *from_model = iu_path("from_model.ckpt");
    rc = tcu_tinycnn(&o2, "train '%s' --data '%s' -o '%s' --quiet --threads 1 --epochs 2",
                     model_path_with(",\"augment_crop\":2,\"augment_flip\":true"), iu_path("data"),
                     from_model);
    CU_ASSERT_EQUAL(rc, 0);
    free(o2);
    CU_ASSERT(tcu_same_tensors(from_model, aug, 0));

    /* out of range, on the command line */
    rc = tcu_tinycnn(&out, "train '%s' --augment-crop 65", model_path());
    CU_ASSERT_EQUAL(rc, 2);
    CU_ASSERT(tcu_has_text(out, "--augment-crop"));
    free(out);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"train stores class names", test_train_stores_class_names},
        {"predict shows names (PNG and JPEG)", test_predict_shows_names},
        {"eval labels the confusion matrix", test_eval_labels},
        {"augment crop and flip settings", test_augment_settings},
        {NULL, NULL},
    };
    return tcu_run("cli_data", tests);
}
