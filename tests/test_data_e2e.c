/* The runner end to end on data as users have it, made here:
 *  - CIFAR-10's binary format (data_batch_1..5.bin, test_batch.bin,
 *    batches.meta.txt; a few images whose class is their colour) trains
 *    models/resnet8_cifar.json, and eval and predict name the classes of
 *    batches.meta.txt; a model "classes" list in another order is refused;
 *  - a class-name folder of RGB PNG and JPEG images of mixed sizes trains a
 *    3x32x32 model with a per-channel mean and std, "resize" crop, a fixed
 *    "classes" order, crop + flip augmentation and a validation split, and
 *    eval, predict (the runner and tc_model_load_image, on images of other
 *    sizes too) name the classes in that order; a folder outside the list
 *    is refused. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "image_util.h"
#include "json_util.h"
#include "tinycnn/model.h"

#define BIN TC_TEST_BINARY_DIR "/bin/tinycnn"

/* Runs the runner with the NULL-terminated arguments (no shell) and
 * asserts that it exits with status `want`, showing its output when not;
 * *out gets its stdout and stderr (owner: the caller). Returns the exit
 * status, -1 when killed. */
static int tinycnn(int want, char **out, const char *arg, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)BIN;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    static int runs;
    const char *log = iu_path("run%d.log", runs++);
    int pid = tcu_spawn_logged(log, argv);
    int st = 0;
    CU_ASSERT_FATAL(pid > 0 && waitpid(pid, &st, 0) == pid);
    size_t len;
    uint8_t *text = iu_read(log, &len);
    text[len] = 0;
    *out = (char *)text;
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc != want)
        fprintf(stderr, "\n  tinycnn %s ... exited %d, not %d:\n%s\n", arg, rc, want, *out);
    CU_ASSERT_EQUAL(rc, want);
    return rc;
}

static int has(const char *out, const char *needle)
{
    int ok = out && strstr(out, needle);
    if (!ok)
        fprintf(stderr, "\n  expected '%s' in:\n%s\n", needle, out ? out : "(null)");
    return ok;
}

/* Class k's colour: the base-3 digits of k choose each channel's level, so
 * the 10 CIFAR classes (and the folder test's 3) differ in colour only. */
static uint8_t level(int k, int c)
{
    static const uint8_t levels[3] = {30, 128, 225};
    for (int i = 0; i < c; i++)
        k /= 3;
    return levels[k % 3];
}

/* An h x w image of class k: its colour with noise of +-24. */
static void class_image(int k, int h, int w, uint32_t seed, uint8_t *chw)
{
    iu_noise(chw, (size_t)3 * h * w, seed);
    for (int i = 0; i < 3 * h * w; i++) {
        int v = level(k, i / (h * w)) + chw[i] % 49 - 24;
        chw[i] = (uint8_t)v;
    }
}

/* ---- CIFAR-10's binary format ------------------------------------------- */

#define CIFAR_REC (1 + 3 * 32 * 32)
static const char *const CIFAR_NAMES[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                            "dog", "frog", "horse", "ship", "truck"};

/* A batch file of n records, the labels cycling through the 10 classes. */
static void cifar_batch(const char *path, int n, uint32_t seed)
{
    uint8_t *b = malloc((size_t)n * CIFAR_REC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (int r = 0; r < n; r++) {
        uint8_t *rec = b + (size_t)r * CIFAR_REC;
        rec[0] = (uint8_t)(r % 10);
        class_image(r % 10, 32, 32, seed + (uint32_t)r, rec + 1);
    }
    iu_write(path, b, (size_t)n * CIFAR_REC);
    free(b);
}

static void make_cifar(const char *dir)
{
    iu_mkdir(dir);
    for (int i = 1; i <= 5; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, i);
        cifar_batch(p, 40, (uint32_t)i * 1000);
    }
    char p[600], names[200] = "";
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    cifar_batch(p, 30, 99000);
    for (int k = 0; k < 10; k++)
        strcat(strcat(names, CIFAR_NAMES[k]), "\n");
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    iu_write(p, names, strlen(names));
}

static void test_cifar_resnet8(void)
{
    const char *dir = iu_path("cifar"), *ckpt = iu_path("resnet8.ckpt");
    make_cifar(dir);
    char *out;
    /* 2 epochs of 120 images in batches of 20: seconds on two cores */
    tinycnn(0, &out, "train", TC_TEST_SOURCE_DIR "/models/resnet8_cifar.json", "--data", dir,
            "-o", ckpt, "--epochs", "2", "--limit", "120", "--batch-size", "20", "--lr", "0.05",
            "--threads", "2", "--json", NULL);
    json_t *root = json_loads(out, 0, NULL);
    json_t *epochs = json_object_get(root, "epochs");
    CU_ASSERT_EQUAL(json_array_size(epochs), 2);
    /* it learns: the second epoch's loss is well below the first's */
    json_t *l1 = json_object_get(json_array_get(epochs, 0), "loss");
    json_t *l2 = json_object_get(json_array_get(epochs, 1), "loss");
    CU_ASSERT(json_is_number(l1) && json_is_number(l2) && json_number_value(l2) > 0 &&
              json_number_value(l2) < 0.8 * json_number_value(l1));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(epochs, 1),
                                                       "test_total")), 30);
    json_decref(root);
    free(out);

    /* eval: the test batch (30 images, 3 of each class), labelled */
    tinycnn(0, &out, "eval", ckpt, "--data", dir, NULL);
    CU_ASSERT(has(out, "classes: 0 = airplane, 1 = automobile, 2 = bird"));
    CU_ASSERT(has(out, "9 = truck"));
    CU_ASSERT(has(out, "/30)"));
    free(out);
    tinycnn(0, &out, "eval", ckpt, "--data", dir, "--json", NULL);
    root = json_loads(out, 0, NULL);
    json_t *names = json_object_get(root, "class_names");
    CU_ASSERT_EQUAL(json_array_size(names), 10);
    const char *n8 = json_string_value(json_array_get(names, 8));
    CU_ASSERT(n8 && strcmp(n8, "ship") == 0);
    json_decref(root);
    free(out);

    /* predict: every class shown by name */
    uint8_t px[3 * 32 * 32];
    class_image(7, 32, 32, 4242, px);
    const char *png = iu_path("horse.png");
    iu_write_png(png, 3, 32, 32, px);
    tinycnn(0, &out, "predict", ckpt, png, "--top", "10", "--json", NULL);
    root = json_loads(out, 0, NULL);
    json_t *top = json_object_get(json_array_get(json_object_get(root, "predictions"), 0), "top");
    CU_ASSERT_EQUAL(json_array_size(top), 10);
    for (size_t j = 0; j < json_array_size(top); j++) {
        json_t *e = json_array_get(top, j);
        int64_t k = json_integer_value(json_object_get(e, "class"));
        const char *name = json_string_value(json_object_get(e, "class_name"));
        CU_ASSERT(k >= 0 && k < 10 && name && strcmp(name, CIFAR_NAMES[k]) == 0);
    }
    json_decref(root);
    free(out);
}

/* A model whose "classes" differ from batches.meta.txt is refused; the
 * same names in the file's order are fine. */
static void test_cifar_classes_must_match(void)
{
    char text[2048], list[300] = "";
    char *out;
    for (int order = 0; order < 2; order++) {
        list[0] = 0;
        for (int k = 0; k < 10; k++) /* order 0: reversed, 1: the file's */
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", k ? "," : "",
                     CIFAR_NAMES[order ? k : 9 - k]);
        snprintf(text, sizeof text,
                 "{\"name\":\"c10\",\"inputs\":[{\"name\":\"image\",\"shape\":[3,32,32],"
                 "\"classes\":[%s]},{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
                 "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
                 "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
                 "\"params\":{\"out_features\":10}},{\"name\":\"loss\","
                 "\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
                 "\"output\":\"fc\",\"loss\":\"loss\"}", list);
        const char *model = tcu_write_file("c10.json", text, strlen(text));
        tinycnn(order ? 0 : 1, &out, "train", model, "--data", iu_path("cifar"), "-o",
                iu_path("c10.ckpt"), "--epochs", "1", "--quiet", NULL);
        if (!order)
            CU_ASSERT(has(out, "class 0 is 'airplane' but the class list says 'truck'"));
        free(out);
    }
}

/* ---- class-name folders of mixed sizes ---------------------------------- */

/* The folder classes (sorted: cat, dog, fox) and the model's order, which
 * the labels follow: fox is label 0. */
static const char *const FOLDERS[3] = {"cat", "dog", "fox"};
static const int MODEL_LABEL[3] = {1, 2, 0}; /* of FOLDERS[i] */
static const int SIZES[4][2] = {{32, 32}, {40, 48}, {36, 64}, {50, 40}};

/* root/<class>/ with n images each of the four sizes, PNG and JPEG in
 * turn; the colour is the class's model label, so that only a model that
 * took the fixed order gets them right. */
static void make_split(const char *root, int n, uint32_t seed)
{
    iu_mkdir(root);
    for (int k = 0; k < 3; k++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", root, FOLDERS[k]);
        iu_mkdir(dir);
        for (int i = 0; i < n; i++) {
            int h = SIZES[i % 4][0], w = SIZES[i % 4][1];
            uint8_t *px = malloc((size_t)3 * h * w);
            class_image(MODEL_LABEL[k], h, w, seed + (uint32_t)(k * 1000 + i), px);
            char p[700];
            snprintf(p, sizeof p, "%s/img%d.%s", dir, i, i % 2 ? "jpg" : "png");
            if (i % 2)
                iu_write_jpeg(p, 3, h, w, px, 95);
            else
                iu_write_png(p, 3, h, w, px);
            free(px);
        }
    }
}

static const char *folder_model(void)
{
    static const char text[] =
        "{\"name\":\"pets\",\"inputs\":[{\"name\":\"image\",\"shape\":[3,32,32],"
        "\"mean\":[0.485,0.456,0.406],\"std\":[0.229,0.224,0.225],"
        "\"resize\":{\"mode\":\"crop\",\"size\":36},\"classes\":[\"fox\",\"cat\",\"dog\"]},"
        "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
        "\"nodes\":[{\"name\":\"conv\",\"type\":\"Conv2d\",\"inputs\":[\"image\"],"
        "\"params\":{\"out_channels\":4,\"kernel_size\":3,\"padding\":1}},"
        "{\"name\":\"relu\",\"type\":\"ReLU\",\"inputs\":[\"conv\"]},"
        "{\"name\":\"pool\",\"type\":\"MaxPool2d\",\"inputs\":[\"relu\"],"
        "\"params\":{\"kernel_size\":4,\"stride\":4}},"
        "{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"pool\"]},"
        "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
        "\"params\":{\"out_features\":3}},"
        "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
        "\"output\":\"fc\",\"loss\":\"loss\","
        "\"training\":{\"epochs\":12,\"batch_size\":8,\"optimizer\":\"adam\",\"lr\":0.01,"
        "\"augment_crop\":2,\"augment_flip\":true}}";
    return tcu_write_file("pets.json", text, sizeof text - 1);
}

static char pets_ckpt[600];

static void test_folder_train(void)
{
    const char *data = iu_path("pets");
    iu_mkdir(data);
    make_split(iu_path("pets/train"), 16, 1);
    make_split(iu_path("pets/test"), 4, 70000);
    snprintf(pets_ckpt, sizeof pets_ckpt, "%s", iu_path("pets.ckpt"));
    char *out;
    int rc = tinycnn(0, &out, "train", folder_model(), "--data", data, "-o", pets_ckpt,
                     "--val-split", "0.2", "--threads", "2", "--json", NULL);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    json_t *root = json_loads(out, 0, NULL);
    if (!root)
        fprintf(stderr, "\n%s\n", out);
    /* 12 epochs, each validated on the held-out 20% (10 of 48 images) */
    json_t *last = json_array_get(json_object_get(root, "epochs"), 11);
    CU_ASSERT_PTR_NOT_NULL(last);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(last, "val_total")), 10);
    CU_ASSERT(json_number_value(json_object_get(last, "val_accuracy")) >= 0.9);
    json_decref(root);
    free(out);

    /* the checkpoint holds the model's order, and the settings */
    json_t *meta = tcu_checkpoint_meta(pets_ckpt);
    json_t *names = json_object_get(meta, "class_names");
    CU_ASSERT_EQUAL(json_array_size(names), 3);
    const char *n0 = json_string_value(json_array_get(names, 0));
    CU_ASSERT(n0 && strcmp(n0, "fox") == 0);
    json_t *config = json_object_get(meta, "config");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(config, "augment_crop")), 2);
    CU_ASSERT(json_is_true(json_object_get(config, "augment_flip")));
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(config, "val_split")), 0.2, 1e-9);
    json_decref(meta);
}

static void test_folder_eval(void)
{
    char *out;
    tinycnn(0, &out, "eval", pets_ckpt, "--data", iu_path("pets"), NULL);
    CU_ASSERT(has(out, "classes: 0 = fox, 1 = cat, 2 = dog"));
    /* 12 test images of four sizes, told apart by colour */
    CU_ASSERT(has(out, "accuracy: 100.00% (12/12)"));
    free(out);
}

static void test_folder_predict(void)
{
    /* the runner, on images of the model's size */
    uint8_t px[3 * 50 * 64];
    const char *jpg = iu_path("a_dog.jpg"), *png = iu_path("a_fox.png");
    class_image(MODEL_LABEL[1], 32, 32, 555, px);
    iu_write_jpeg(jpg, 3, 32, 32, px, 95);
    class_image(MODEL_LABEL[2], 32, 32, 556, px);
    iu_write_png(png, 3, 32, 32, px);
    char *out, want[700];
    tinycnn(0, &out, "predict", pets_ckpt, jpg, png, "--top", "1", NULL);
    snprintf(want, sizeof want, "%s: 2 dog  (dog: ", jpg);
    CU_ASSERT(has(out, want));
    snprintf(want, sizeof want, "%s: 0 fox  (fox: ", png);
    CU_ASSERT(has(out, want));
    free(out);

    /* images of other sizes, resized as in training: the runner, then the
     * inference API */
    const char *odd[3];
    for (int k = 0; k < 3; k++) {
        odd[k] = iu_path("odd_%s.%s", FOLDERS[k], k == 1 ? "png" : "jpg");
        class_image(MODEL_LABEL[k], 50, 64, 600 + (uint32_t)k, px);
        if (k == 1)
            iu_write_png(odd[k], 3, 50, 64, px);
        else
            iu_write_jpeg(odd[k], 3, 50, 64, px, 95);
    }
    tinycnn(0, &out, "predict", pets_ckpt, odd[0], odd[1], odd[2], "--top", "1", NULL);
    for (int k = 0; k < 3; k++) {
        snprintf(want, sizeof want, "%s: %d %s  (%s: ", odd[k], MODEL_LABEL[k], FOLDERS[k],
                 FOLDERS[k]);
        CU_ASSERT(has(out, want));
    }
    free(out);
    tc_error err = {{0}};
    tc_model *m = tc_model_open(pets_ckpt, NULL, &err);
    if (!m)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    for (int k = 0; k < 3; k++) {
        const char *p = odd[k];
        uint8_t in[3 * 32 * 32];
        TCU_ASSERT_OK(tc_model_load_image(m, p, in, sizeof in, &err), &err);
        tc_prediction pr;
        TCU_ASSERT_OK(tc_model_predict_u8(m, in, sizeof in, 1, &pr, 1, &err), &err);
        CU_ASSERT_EQUAL(pr.label, MODEL_LABEL[k]);
        CU_ASSERT_STRING_EQUAL(tc_model_class_name(m, pr.label), FOLDERS[k]);
    }
    tc_model_close(m);
}

/* A folder that is not one of the model's classes is refused, named. */
static void test_folder_not_in_classes(void)
{
    const char *data = iu_path("pets2");
    iu_mkdir(data);
    make_split(iu_path("pets2/train"), 2, 5);
    iu_mkdir(iu_path("pets2/train/owl"));
    uint8_t px[3 * 32 * 32];
    class_image(0, 32, 32, 9, px);
    iu_write_png(iu_path("pets2/train/owl/a.png"), 3, 32, 32, px);
    char *out;
    tinycnn(1, &out, "train", folder_model(), "--data", data, "-o", iu_path("x.ckpt"),
            "--epochs", "1", NULL);
    CU_ASSERT(has(out, "owl"));
    free(out);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"CIFAR-10 format trains resnet8_cifar; eval and predict name the classes",
         test_cifar_resnet8},
        {"CIFAR-10: the model's \"classes\" must be batches.meta.txt's",
         test_cifar_classes_must_match},
        {"class folders of mixed-size PNG and JPEG: train (resize, classes, augment, val)",
         test_folder_train},
        {"class folders: eval in the model's class order", test_folder_eval},
        {"class folders: predict and tc_model_load_image", test_folder_predict},
        {"class folders: a folder outside \"classes\" is refused", test_folder_not_in_classes},
        {NULL, NULL},
    };
    return tcu_run("data_e2e", tests);
}
