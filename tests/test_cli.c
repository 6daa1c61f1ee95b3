/* Tests of the tinycnn runner, run as a separate process the way a user
 * runs it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image_util.h" /* iu_write_png */
#include "json_util.h"
#include "testutil.h"

#define BIN TC_TEST_BINARY_DIR "/bin/tinycnn"
#define LENET TC_TEST_SOURCE_DIR "/models/lenet5.json"

#define ASSERT_HAS(out, needle) CU_ASSERT(tcu_has_text((out), (needle)))

static const char *show_text(const char *s)
{
    return s ? s : "";
}
#define ASSERT_RC(rc, want, out)                                                           \
    do {                                                                                   \
        if ((rc) != (want))                                                                \
            fprintf(stderr, "\n  exit status %d, expected %d; output:\n%s\n", (rc), (want),    \
                    show_text(out));                                                       \
        CU_ASSERT_EQUAL(rc, want);                                                         \
    } while (0)

static const char *data_dir(void)
{
    const char *d = tcu_data_dir();
    char p[1024];
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", d);
    struct stat st;
    if (stat(p, &st) != 0) {
        snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", d);
        if (stat(p, &st) != 0) {
            fprintf(stderr, "\n  MNIST not found in %s (set TINYCNN_DATA)\n", d);
            CU_FAIL_FATAL("the MNIST data is missing");
        }
    }
    return d;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The last non-empty line of s, copied into buf. */
static const char *last_line(const char *s, char *buf, size_t cap)
{
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '\n')
        len--;
    size_t start = len;
    while (start > 0 && s[start - 1] != '\n')
        start--;
    size_t n = len - start < cap - 1 ? len - start : cap - 1;
    memcpy(buf, s + start, n);
    buf[n] = 0;
    return buf;
}

/* ---- help and usage ----------------------------------------------------- */

/* A command with its exit status and texts its output must hold. */
typedef struct cli_run {
    const char *args;
    int rc;
    const char *has[4]; /* up to the first NULL */
} cli_run;

static void expect_run(const cli_run *r)
{
    char *out;
    int rc = tcu_tinycnn(&out, "%s", r->args);
    ASSERT_RC(rc, r->rc, out);
    for (int i = 0; i < 4 && r->has[i]; i++)
        ASSERT_HAS(out, r->has[i]);
    free(out);
}

static void test_help(void)
{
    static const cli_run runs[] = {
        {"--help", 0, {"usage: tinycnn", "train", "predict"}},
        {"train --help", 0, {"usage: tinycnn train", "--resume"}},
        {"help predict", 0, {"--top"}},
        {"eval -h", 0, {"accuracy: NN.NN% (C/T)"}},
        {"--version", 0, {TC_VERSION_STRING}},
        {"", 2, {"usage: tinycnn"}},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        expect_run(&runs[i]);
}

/* Each usage error: exit 2, one line naming the option and the value. */
static void expect_usage(const char *args, const char *n1, const char *n2, const char *cmd)
{
    char *out;
    int rc = tcu_tinycnn(&out, "%s", args);
    ASSERT_RC(rc, 2, out);
    ASSERT_HAS(out, n1);
    if (n2)
        ASSERT_HAS(out, n2);
    char see[64];
    snprintf(see, sizeof see, "see 'tinycnn %s%s--help'", cmd, *cmd ? " " : "");
    ASSERT_HAS(out, see);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    free(out);
}

static void test_usage_errors(void)
{
    expect_usage("train " LENET " --epochs abc", "--epochs", "'abc'", "train");
    expect_usage("train " LENET " --epochs 0", "--epochs", "'0'", "train");
    expect_usage("train " LENET " --lr -1", "--lr", "'-1'", "train");
    expect_usage("train " LENET " --lr=nan", "--lr", "'nan'", "train");
    expect_usage("train " LENET " --momentum 1.5", "--momentum", "'1.5'", "train");
    expect_usage("train " LENET " --batch-size 12x", "--batch-size", "'12x'", "train");
    expect_usage("train " LENET " --seed -3", "--seed", "'-3'", "train");
    expect_usage("train " LENET " --optimizer rmsprop", "--optimizer", "'rmsprop'", "train");
    expect_usage("train " LENET " --lr-schedule linear", "--lr-schedule", "'linear'", "train");
    expect_usage("train " LENET " --bogus", "--bogus", NULL, "train");
    expect_usage("train " LENET " --json=yes", "--json", "'yes'", "train");
    expect_usage("train " LENET " --epochs", "--epochs", "needs a value", "train");
    expect_usage("train", "missing MODEL.json", NULL, "train");
    expect_usage("train a.json b.json", "'b.json'", NULL, "train");
    expect_usage("eval", "missing CHECKPOINT", NULL, "eval");
    expect_usage("eval x.ckpt --limit -5", "--limit", "'-5'", "eval");
    expect_usage("predict x.ckpt", "IMAGE", NULL, "predict");
    expect_usage("predict x.ckpt a.png --top 0", "--top", "'0'", "predict");
    expect_usage("plugins --verbose", "--verbose", NULL, "plugins");
    expect_usage("frobnicate", "'frobnicate'", NULL, "");
    expect_usage("--frob", "--frob", NULL, "");
}

/* ---- runtime errors ----------------------------------------------------- */

static void test_missing_model(void)
{
    char *out;
    const char *path = tcu_tmp_path("no-such-model.json");
    int rc = tcu_tinycnn(&out, "train %s --data %s", path, data_dir());
    ASSERT_RC(rc, 1, out);
    CU_ASSERT(strncmp(out, "tinycnn: ", 9) == 0);
    ASSERT_HAS(out, path);
    free(out);
    rc = tcu_tinycnn(&out, "eval %s", tcu_tmp_path("no-such.ckpt"));
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "no-such.ckpt");
    free(out);
}

static void test_model_error_names_node(void)
{
    static const char model[] =
        "{\"name\":\"broken\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,28,28]},"
        "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
        "\"nodes\":[{\"name\":\"conv_bad\",\"type\":\"Conv2d\",\"inputs\":[\"image\"],"
        "\"params\":{\"out_channels\":4,\"kernel_size\":0}},"
        "{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"conv_bad\"]},"
        "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],\"params\":{\"out_features\":10}},"
        "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
        "\"output\":\"fc\",\"loss\":\"loss\"}";
    const char *path = tcu_write_file("broken.json", model, sizeof model - 1);
    char *out;
    int rc = tcu_tinycnn(&out, "train %s --data %s", path, data_dir());
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "tinycnn: ");
    ASSERT_HAS(out, "conv_bad");
    free(out);

    rc = tcu_tinycnn(&out, "train %s --data %s", LENET, tcu_tmp_path("no-data-here"));
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "no-data-here");
    free(out);
}

static void test_plugins(void)
{
    static const cli_run listing = {
        "plugins", 0, {"Conv2d", "out_channels", "conv2d.so", "SoftmaxCrossEntropy"}};
    expect_run(&listing);

    char *out;
    int rc = tcu_tinycnn(&out, "plugins --json");
    ASSERT_RC(rc, 0, out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *types = json_object_get(root, "types");
    int found = 0;
    for (size_t i = 0; i < json_array_size(types); i++) {
        json_t *t = json_array_get(types, i);
        if (strcmp(json_string_value(json_object_get(t, "name")), "Conv2d") == 0) {
            found = 1;
            CU_ASSERT_EQUAL(json_integer_value(json_object_get(t, "min_inputs")), 1);
            CU_ASSERT(json_array_size(json_object_get(t, "params")) >= 2);
        }
    }
    CU_ASSERT(found);
    json_decref(root);
    free(out);

    /* a --plugin-dir that does not exist is named */
    rc = tcu_tinycnn(&out, "--plugin-dir %s plugins", tcu_tmp_path("nowhere"));
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "nowhere");
    free(out);

    /* $TINYCNN_PLUGIN_PATH is read: the standard set again clashes by name */
    setenv("TINYCNN_PLUGIN_PATH", TC_TEST_BINARY_DIR "/lib/tinycnn/plugins", 1);
    rc = tcu_tinycnn(&out, "plugins");
    unsetenv("TINYCNN_PLUGIN_PATH");
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "TINYCNN_PLUGIN_PATH");
    ASSERT_HAS(out, TC_TEST_BINARY_DIR "/lib/tinycnn/plugins/");
    free(out);
}

/* ---- end to end --------------------------------------------------------- */

static double trained_accuracy = -1; /* percent, from the train output */

static void test_train_lenet_end_to_end(void)
{
    const char *ck = tcu_tmp_path("lenet5.ckpt");
    char *out;
    int rc = tcu_tinycnn(&out, "train %s --data %s --limit 6000 --epochs 2 --threads 2 -o %s",
                         LENET, data_dir(), ck);
    ASSERT_RC(rc, 0, out);
    /* epoch 2/2  loss 0.1234  train 96.12%  test 97.01%  1.4 s  7,701 img/s */
    const char *line = strstr(out, "epoch 2/2  ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "epoch 1/2  "));
    double loss = -1, train = -1, test = -1, secs = -1;
    int n = sscanf(line, "epoch 2/2  loss %lf  train %lf%%  test %lf%%  %lf s", &loss, &train,
                   &test, &secs);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT(strstr(line, " img/s\n") != NULL);
    if (test < 90.0)
        fprintf(stderr, "\n  test accuracy %.2f%% after 2 epochs:\n%s\n", test, out);
    CU_ASSERT(test >= 90.0 && test <= 100.0);
    CU_ASSERT(loss > 0 && loss < 0.5);
    ASSERT_HAS(out, "checkpoint: ");
    ASSERT_HAS(out, ck);
    trained_accuracy = test;
    free(out);

    json_t *meta = tcu_checkpoint_meta(ck);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "epoch")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "batch")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "optimizer_steps")),
                    2 * 94); /* ceil(6000/64) */
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(meta, "accuracy")) * 100.0, test,
                           0.006);
    json_decref(meta);
}

static void test_eval_checkpoint(void)
{
    CU_ASSERT_FATAL(trained_accuracy >= 0);
    const char *ck = tcu_tmp_path("lenet5.ckpt");
    char *out, line[256];
    int rc = tcu_tinycnn(&out, "eval %s --data %s", ck, data_dir());
    ASSERT_RC(rc, 0, out);
    ASSERT_HAS(out, "confusion matrix");
    last_line(out, line, sizeof line);
    double pct = -1;
    long long c = -1, t = -1;
    CU_ASSERT_EQUAL(sscanf(line, "accuracy: %lf%% (%lld/%lld)", &pct, &c, &t), 3);
    CU_ASSERT_EQUAL(t, 10000);
    CU_ASSERT_DOUBLE_EQUAL(pct, 100.0 * (double)c / (double)t, 0.0051);
    CU_ASSERT_DOUBLE_EQUAL(pct, trained_accuracy, 0.0051); /* same weights, same images */
    free(out);

    rc = tcu_tinycnn(&out, "eval %s --data %s --limit 100 --json", ck, data_dir());
    ASSERT_RC(rc, 0, out);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "total")), 100);
    json_t *m = json_object_get(o, "confusion");
    CU_ASSERT_EQUAL(json_array_size(m), 10);
    json_int_t sum = 0, diag = 0;
    for (size_t i = 0; i < json_array_size(m); i++)
        for (size_t j = 0; j < json_array_size(json_array_get(m, i)); j++) {
            json_int_t v = json_integer_value(json_array_get(json_array_get(m, i), j));
            sum += v;
            diag += i == j ? v : 0;
        }
    CU_ASSERT_EQUAL(sum, 100);
    CU_ASSERT_EQUAL(diag, json_integer_value(json_object_get(o, "correct")));
    json_decref(o);
    free(out);
}

static void test_predict(void)
{
    CU_ASSERT_FATAL(trained_accuracy >= 0);
    const char *ck = tcu_tmp_path("lenet5.ckpt");
    tc_dataset test;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_mnist_load(data_dir(), "test", &test, &err), &err);
    enum { N = 5 };
    char paths[N][512], args[4096];
    size_t o = 0;
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/digit%d.png", tcu_tmpdir(), i);
        iu_write_png(paths[i], 1, 28, 28, test.pixels + (size_t)i * 784);
        o += (size_t)snprintf(args + o, sizeof args - o, " %s", paths[i]);
    }
    char *out;
    int rc = tcu_tinycnn(&out, "predict %s%s --top 3 --json", ck, args);
    ASSERT_RC(rc, 0, out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *preds = json_object_get(root, "predictions");
    CU_ASSERT_EQUAL_FATAL(json_array_size(preds), N);
    int right = 0;
    for (int i = 0; i < N; i++) {
        json_t *p = json_array_get(preds, (size_t)i);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "image")), paths[i]);
        json_t *top = json_object_get(p, "top");
        CU_ASSERT_EQUAL_FATAL(json_array_size(top), 3);
        json_int_t pred = json_integer_value(json_object_get(p, "prediction"));
        CU_ASSERT_EQUAL(pred, json_integer_value(json_object_get(json_array_get(top, 0), "class")));
        double sum = 0, prev = 2;
        for (size_t j = 0; j < 3; j++) {
            double pr = json_number_value(json_object_get(json_array_get(top, j), "probability"));
            CU_ASSERT(pr >= 0 && pr <= prev);
            prev = pr;
            sum += pr;
        }
        CU_ASSERT(sum <= 1.0 + 1e-9);
        right += pred == test.labels[i];
    }
    CU_ASSERT(right >= 4); /* a >90% model gets the first five test digits */
    json_decref(root);
    free(out);

    /* prose: one line per image, "PATH: CLASS  (C: P%, ...)" */
    rc = tcu_tinycnn(&out, "predict %s %s --top 2", ck, paths[0]);
    ASSERT_RC(rc, 0, out);
    char want[600];
    snprintf(want, sizeof want, "%s: ", paths[0]);
    CU_ASSERT(strncmp(out, want, strlen(want)) == 0);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    ASSERT_HAS(out, "%");
    free(out);

    /* an image of the wrong size is named */
    uint8_t small[100] = {0};
    const char *bad = tcu_tmp_path("small.png");
    iu_write_png(bad, 1, 10, 10, small);
    rc = tcu_tinycnn(&out, "predict %s %s", ck, bad);
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "small.png");
    free(out);
    tc_dataset_free(&test);
}

/* Trains LENET on the MNIST data with the options `common` and `more` into
 * out; the run must succeed. */
static void train_ok(const char *common, const char *more, const char *ckpt)
{
    char *out;
    int rc = tcu_tinycnn(&out, "train %s --data %s %s %s -o %s", LENET, data_dir(), common, more,
                         ckpt);
    ASSERT_RC(rc, 0, out);
    free(out);
}

/* 2 epochs straight and 1 epoch + resume for 1 more give the same weights. */
static void test_resume_equivalence(void)
{
    const char *a = tcu_tmp_path("straight.ckpt"), *b = tcu_tmp_path("resumed.ckpt");
    const char *common = "--limit 1000 --test-limit 500 --lr-schedule constant --threads 2 --quiet";
    train_ok(common, "--epochs 2", a);
    train_ok(common, "--epochs 1", b);
    char *out;
    CU_ASSERT(!tcu_same_tensors(a, b, 1)); /* one epoch is not two: the comparison can fail */
    int rc = tcu_tinycnn(&out, "train --resume %s --data %s %s --epochs 2 --json", b, data_dir(),
                         common);
    ASSERT_RC(rc, 0, out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *sum = json_object_get(root, "summary");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sum, "status")), "completed");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "epochs_done")), 2);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(root, "epochs")), 2);
    json_decref(root);
    free(out);
    CU_ASSERT(tcu_same_tensors(a, b, 0));
    json_t *m = tcu_checkpoint_meta(b);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "epoch")), 2);
    json_decref(m);

    /* resuming a finished run has nothing to do */
    rc = tcu_tinycnn(&out, "train --resume %s --data %s --test-limit 500", a, data_dir());
    ASSERT_RC(rc, 0, out);
    ASSERT_HAS(out, "already trained 2 of 2 epochs");
    free(out);
}

/* SIGINT during epoch 2: exit 130 after writing a readable checkpoint, and
 * resuming from it ends with the weights of an uninterrupted run. */
static void test_sigint(void)
{
    const char *ck = tcu_tmp_path("interrupted.ckpt"), *ref = tcu_tmp_path("reference.ckpt");
    const char *log = tcu_tmp_path("interrupted.log");
    char limit[] = "3000", tl[] = "500", ep[] = "4";
    unlink(ck);
    char *argv[] = {BIN, "train", LENET, "--data", (char *)data_dir(), "--limit", limit,
                    "--test-limit", tl, "--epochs", ep, "--threads", "2", "-o", (char *)ck, NULL};
    pid_t pid = tcu_spawn_logged(log, argv);
    CU_ASSERT_FATAL(pid >= 0);
    /* the first checkpoint appears (atomically) after epoch 1 */
    struct stat st;
    struct timespec nap = {0, 2000000};
    int waited = 0;
    while (stat(ck, &st) != 0 && waited < 60000) {
        nanosleep(&nap, NULL);
        waited += 2;
    }
    CU_ASSERT(waited < 60000);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    FILE *f = fopen(log, "r");
    char out[8192] = "";
    if (f) {
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        fclose(f);
    }
    CU_ASSERT(WIFEXITED(status));
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ASSERT_RC(rc, 130, out);
    ASSERT_HAS(out, "interrupted by SIGINT");
    ASSERT_HAS(out, "tinycnn train --resume ");
    ASSERT_HAS(out, ck);

    json_t *m = tcu_checkpoint_meta(ck);
    json_int_t epoch = json_integer_value(json_object_get(m, "epoch"));
    json_int_t batch = json_integer_value(json_object_get(m, "batch"));
    CU_ASSERT(epoch >= 1 && epoch < 4);
    CU_ASSERT(batch >= 0 && batch < 47); /* ceil(3000 / 64) */
    json_decref(m);

    char *o;
    rc = tcu_tinycnn(&o, "train --resume %s --data %s --test-limit 500 --threads 2 --quiet", ck,
                     data_dir());
    ASSERT_RC(rc, 0, o);
    free(o);
    rc = tcu_tinycnn(&o, "train %s --data %s --limit 3000 --test-limit 500 --epochs 4 --threads 2 "
                     "--quiet -o %s",
                     LENET, data_dir(), ref);
    ASSERT_RC(rc, 0, o);
    free(o);
    CU_ASSERT(tcu_same_tensors(ck, ref, 0));
}

/* A diverging run stops with exit 1, naming epoch and step, and leaves the
 * last good checkpoint as it was. */
static void test_nan_keeps_last_checkpoint(void)
{
    const char *ck = tcu_tmp_path("diverge.ckpt");
    const char *common = "--limit 640 --test-limit 200 --threads 2 --quiet";
    train_ok(common, "--epochs 1", ck);
    struct stat before, after;
    CU_ASSERT_EQUAL_FATAL(stat(ck, &before), 0);
    char *out;
    int rc = tcu_tinycnn(&out,
                         "train --resume %s --data %s %s --epochs 4 --lr 1e30 --optimizer sgd",
                         ck, data_dir(), common);
    ASSERT_RC(rc, 1, out);
    ASSERT_HAS(out, "tinycnn: ");
    ASSERT_HAS(out, "epoch ");
    ASSERT_HAS(out, "step ");
    ASSERT_HAS(out, "last good checkpoint");
    free(out);
    CU_ASSERT_EQUAL_FATAL(stat(ck, &after), 0);
    CU_ASSERT_EQUAL(before.st_ino, after.st_ino); /* not replaced */
    json_t *m = tcu_checkpoint_meta(ck);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "epoch")), 1);
    json_decref(m);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"help and version", test_help},
        {"usage errors exit 2 naming the option", test_usage_errors},
        {"missing model file", test_missing_model},
        {"model error names the node", test_model_error_names_node},
        {"plugins", test_plugins},
        {"train LeNet-5 end to end", test_train_lenet_end_to_end},
        {"eval the checkpoint", test_eval_checkpoint},
        {"predict PNG images", test_predict},
        {"resume gives identical weights", test_resume_equivalence},
        {"SIGINT writes a checkpoint; resume matches", test_sigint},
        {"NaN loss keeps the last good checkpoint", test_nan_keeps_last_checkpoint},
        {NULL, NULL},
    };
    return tcu_run("cli", tests);
}
