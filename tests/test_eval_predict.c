/* Per-class metrics (tc_metrics_from_confusion on hand-computed matrices),
 * and the runner's eval and predict on a class-folder data set made here:
 * eval --split, per-class precision/recall/F1 in text and JSON, the
 * --per-image file (CSV and JSON lines) against the confusion matrix, write
 * errors on it; predict on folders with damaged and wrong-size files
 * reported in their own entries while the others are classified. */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <math.h>

#include "hostile_util.h"
#include "image_util.h"
#include "json_util.h"
#include "tinycnn/metrics.h"

#define SIDE 6
#define N_TRAIN 8 /* images per class */
#define N_TEST 4

/* in byte order, as the folder loader numbers them */
static const char *const CLASSES[3] = {"bright", "dark", "mid"};
static const int LEVEL[3] = {220, 30, 125};

/* ---- metrics ------------------------------------------------------------ */

static void assert_class(const tc_class_metrics *c, double p, double r, double f1, int64_t sup,
                         int64_t pred)
{
    CU_ASSERT_DOUBLE_EQUAL(c->precision, p, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(c->recall, r, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(c->f1, f1, 1e-12);
    CU_ASSERT_EQUAL(c->support, sup);
    CU_ASSERT_EQUAL(c->predicted, pred);
}

static void test_metrics_known(void)
{
    /* class 0: tp 5, fn 1, fp 2; class 1: tp 3, fn 2, fp 1; class 2 absent
     * and never predicted */
    const int64_t m[9] = {5, 1, 0, 2, 3, 0, 0, 0, 0};
    tc_class_metrics pc[3];
    tc_metrics_summary s;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_metrics_from_confusion(m, 3, pc, &s, &err), &err);
    assert_class(&pc[0], 5.0 / 7, 5.0 / 6, 10.0 / 13, 6, 7); /* F1 = 2tp / (2tp + fp + fn) */
    assert_class(&pc[1], 3.0 / 4, 3.0 / 5, 6.0 / 9, 5, 4);
    assert_class(&pc[2], 0, 0, 0, 0, 0);
    CU_ASSERT(pc[2].no_predictions && pc[2].no_support);
    CU_ASSERT(!pc[0].no_predictions && !pc[0].no_support);
    CU_ASSERT_EQUAL(s.correct, 8);
    CU_ASSERT_EQUAL(s.total, 11);
    CU_ASSERT_DOUBLE_EQUAL(s.accuracy, 8.0 / 11, 1e-12);
    CU_ASSERT_EQUAL(s.classes_averaged, 2); /* class 2 left out */
    CU_ASSERT_DOUBLE_EQUAL(s.macro_precision, (5.0 / 7 + 3.0 / 4) / 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.macro_recall, (5.0 / 6 + 3.0 / 5) / 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.macro_f1, (10.0 / 13 + 6.0 / 9) / 2, 1e-12);

    /* a class with images but never predicted: precision 0/0 = 0, and it
     * counts in the macro average */
    const int64_t m2[4] = {0, 4, 0, 6};
    TCU_ASSERT_OK(tc_metrics_from_confusion(m2, 2, pc, &s, &err), &err);
    assert_class(&pc[0], 0, 0, 0, 4, 0);
    CU_ASSERT(pc[0].no_predictions && !pc[0].no_support);
    assert_class(&pc[1], 0.6, 1.0, 0.75, 6, 10);
    CU_ASSERT_EQUAL(s.classes_averaged, 2);
    CU_ASSERT_DOUBLE_EQUAL(s.macro_precision, 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.macro_recall, 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.macro_f1, 0.375, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.accuracy, 0.6, 1e-12);

    /* predicted but absent from the data: recall 0/0 = 0 */
    const int64_t m3[4] = {3, 1, 0, 0};
    TCU_ASSERT_OK(tc_metrics_from_confusion(m3, 2, pc, NULL, &err), &err);
    assert_class(&pc[1], 0, 0, 0, 0, 1);
    CU_ASSERT(pc[1].no_support && !pc[1].no_predictions);

    /* an empty matrix: everything 0 */
    const int64_t zero[4] = {0};
    TCU_ASSERT_OK(tc_metrics_from_confusion(zero, 2, NULL, &s, &err), &err);
    CU_ASSERT_EQUAL(s.total, 0);
    CU_ASSERT_EQUAL(s.classes_averaged, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.accuracy, 0, 0);

    const int64_t neg[4] = {1, -2, 0, 1};
    TCU_ASSERT_FAILS_WITH(tc_metrics_from_confusion(neg, 2, pc, &s, &err), &err, "[0][1]");
    TCU_ASSERT_FAILS_WITH(tc_metrics_from_confusion(m, 0, pc, &s, &err), &err, "at least one");
}

/* ---- a data set and a model ----------------------------------------------- */

static void class_image(int k, uint32_t seed, uint8_t *px)
{
    iu_noise(px, SIDE * SIDE, seed);
    for (int i = 0; i < SIDE * SIDE; i++)
        px[i] = (uint8_t)(LEVEL[k] - 20 + px[i] % 40);
}

static void make_split(const char *split, int n, uint32_t seed)
{
    iu_mkdir(iu_path("data/%s", split));
    for (int k = 0; k < 3; k++) {
        iu_mkdir(iu_path("data/%s/%s", split, CLASSES[k]));
        for (int i = 0; i < n; i++) {
            uint8_t px[SIDE * SIDE];
            class_image(k, seed + (uint32_t)(100 * k + i), px);
            iu_write_png(iu_path("data/%s/%s/img%d.png", split, CLASSES[k], i), 1, SIDE, SIDE,
                         px);
        }
    }
}

static char ckpt[600], data_dir[600];

static void test_train(void)
{
    static const char model[] = IU_LEVELS_MODEL;
    iu_mkdir(iu_path("data"));
    make_split("train", N_TRAIN, 1);
    make_split("test", N_TEST, 5000);
    snprintf(data_dir, sizeof data_dir, "%s", iu_path("data"));
    snprintf(ckpt, sizeof ckpt, "%s", iu_path("levels.ckpt"));
    hu_run r = hu_tinycnn("train %s --data %s -o %s --quiet --threads 1",
                          tcu_write_file("levels.json", model, strlen(model)), data_dir, ckpt);
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status != 0)
        fprintf(stderr, "\n%s%s\n", r.out, r.err);
    hu_run_free(&r);
}

/* ---- eval ------------------------------------------------------------------ */

/* "tinycnn eval CKPT --data DIR --json EXTRA", parsed; NULL on failure. */
static json_t *eval_json(const char *extra)
{
    hu_run r = hu_tinycnn("eval %s --data %s --json %s", ckpt, data_dir, extra);
    CU_ASSERT_EQUAL(r.status, 0);
    json_t *o = json_loads(r.out, 0, NULL);
    if (r.status != 0 || !o)
        fprintf(stderr, "\n  eval %s:\n%s%s\n", extra, r.out, r.err);
    hu_run_free(&r);
    return o;
}

static int64_t cell(const json_t *conf, int i, int j)
{
    return json_integer_value(json_array_get(json_array_get(conf, (size_t)i), (size_t)j));
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* per_class and macro as the definitions give them from the matrix */
static void check_per_class(const json_t *root)
{
    const json_t *conf = json_object_get(root, "confusion");
    const json_t *pc = json_object_get(root, "per_class");
    CU_ASSERT_EQUAL_FATAL(json_array_size(pc), 3);
    double mp = 0, mr = 0;
    for (int c = 0; c < 3; c++) {
        int64_t row = 0, col = 0;
        for (int j = 0; j < 3; j++) {
            row += cell(conf, c, j);
            col += cell(conf, j, c);
        }
        const json_t *e = json_array_get(pc, (size_t)c);
        double p = col ? (double)cell(conf, c, c) / (double)col : 0;
        double r = row ? (double)cell(conf, c, c) / (double)row : 0;
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "class")), c);
        const char *name = json_string_value(json_object_get(e, "class_name"));
        CU_ASSERT(name && strcmp(name, CLASSES[c]) == 0);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "support")), row);
        CU_ASSERT_DOUBLE_EQUAL(num(e, "precision"), p, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(num(e, "recall"), r, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(num(e, "f1"), p + r > 0 ? 2 * p * r / (p + r) : 0, 1e-9);
        mp += p / 3;
        mr += r / 3;
    }
    const json_t *macro = json_object_get(root, "macro");
    CU_ASSERT_DOUBLE_EQUAL(num(macro, "precision"), mp, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(macro, "recall"), mr, 1e-9);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(macro, "classes")), 3);
}

static void test_eval_splits(void)
{
    CU_ASSERT_FATAL(ckpt[0] != 0);
    json_t *test = eval_json(""), *train = eval_json("--split train");
    CU_ASSERT_PTR_NOT_NULL_FATAL(test);
    CU_ASSERT_PTR_NOT_NULL_FATAL(train);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(test, "total")), 3 * N_TEST);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(train, "total")), 3 * N_TRAIN);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(train, "split")), "train");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(test, "split")), "test");
    check_per_class(test);
    check_per_class(train);

    /* the same images and weights as the training run's last evaluation
     * (tc_evaluate): the same accuracy */
    json_t *meta = tcu_checkpoint_meta(ckpt);
    CU_ASSERT_DOUBLE_EQUAL(num(test, "accuracy"), num(meta, "accuracy"), 1e-9);
    json_decref(meta);
    json_decref(test);
    json_decref(train);

    /* text: the table after the matrix, rows by class name, accuracy last */
    hu_run r = hu_tinycnn("eval %s --data %s --split train", ckpt, data_dir);
    CU_ASSERT_EQUAL(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "%d train images", 3 * N_TRAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    const char *table = strstr(r.out, "per class");
    CU_ASSERT_PTR_NOT_NULL_FATAL(table);
    CU_ASSERT(strstr(r.out, "confusion matrix") < table);
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "precision"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "  dark:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, " macro:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "accuracy: "));
    hu_run_free(&r);

    r = hu_tinycnn("eval %s --data %s --split validation", ckpt, data_dir);
    CU_ASSERT_EQUAL(r.status, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "'validation' for --split (expected train, val or test)"));
    hu_run_free(&r);
}

/* The records of a --per-image file: fills label[i], pred[i], prob[i] by
 * index; returns the number of records, -1 when one does not parse. */
static int read_csv(const char *path, int *label, int *pred, double *prob, int cap)
{
    char *text = hu_slurp(path, NULL), *save = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int n = 0;
    char *line = strtok_r(text, "\n", &save);
    CU_ASSERT(line && strcmp(line, "index,path,label,prediction,probability,label_name,"
                                   "prediction_name") == 0);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        long long idx;
        int l, p, at = 0;
        double pr;
        char path[700], ln[32], pn[32], want[64];
        if (sscanf(line, "%lld,%699[^,],%d,%d,%lf,%31[^,],%31s%n", &idx, path, &l, &p, &pr, ln,
                   pn, &at) != 7 ||
            line[at] != 0 || idx != n || n >= cap || l < 0 || l > 2 || p < 0 || p > 2 ||
            strcmp(ln, CLASSES[l]) != 0 || strcmp(pn, CLASSES[p]) != 0 ||
            (snprintf(want, sizeof want, "/%s/img", CLASSES[l]), !strstr(path, want))) {
            fprintf(stderr, "\n  bad CSV line %d: %s\n", n + 1, line);
            n = -1;
            break;
        }
        label[n] = l;
        pred[n] = p;
        prob[n++] = pr;
    }
    free(text);
    return n;
}

static int read_jsonl(const char *path, int *label, int *pred, double *prob, int cap)
{
    char *text = hu_slurp(path, NULL), *save = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int n = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        int l = (int)json_integer_value(json_object_get(o, "label"));
        int p = (int)json_integer_value(json_object_get(o, "prediction"));
        const char *pn = json_string_value(json_object_get(o, "prediction_name"));
        const char *path = json_string_value(json_object_get(o, "path"));
        char want[64];
        snprintf(want, sizeof want, "/%s/img", l >= 0 && l < 3 ? CLASSES[l] : "?");
        int ok = o && n < cap && json_integer_value(json_object_get(o, "index")) == n &&
                 l >= 0 && l < 3 && p >= 0 && p < 3 && pn && strcmp(pn, CLASSES[p]) == 0 &&
                 path && strstr(path, want);
        if (ok) {
            label[n] = l;
            pred[n] = p;
            prob[n++] = num(o, "probability");
        }
        json_decref(o);
        if (!ok) {
            fprintf(stderr, "\n  bad JSON line %d: %s\n", n + 1, line);
            n = -1;
            break;
        }
    }
    free(text);
    return n;
}

/* The records against eval's matrix (from a run without --per-image) and
 * the data set: labels as the folders give them, probabilities of a
 * 3-class softmax maximum. */
static void check_records(const int *label, const int *pred, const double *prob, int n,
                          const json_t *conf)
{
    int64_t m[3][3] = {{0}};
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(label[i], i / N_TEST); /* class folders in order, N_TEST each */
        CU_ASSERT(prob[i] >= 1.0 / 3 - 1e-6 && prob[i] <= 1.0);
        m[label[i]][pred[i]]++;
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            CU_ASSERT_EQUAL(m[i][j], cell(conf, i, j));
}

static void test_eval_per_image(void)
{
    CU_ASSERT_FATAL(ckpt[0] != 0);
    json_t *plain = eval_json("");
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    const json_t *conf = json_object_get(plain, "confusion");
    enum { CAP = 64 };
    int label[CAP], pred[CAP];
    double prob[CAP];

    char extra[700];
    const char *csv = iu_path("per_image.csv");
    snprintf(extra, sizeof extra, "--per-image %s", csv);
    json_t *o = eval_json(extra);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "per_image")), csv);
    json_decref(o);
    int n = read_csv(csv, label, pred, prob, CAP);
    CU_ASSERT_EQUAL(n, 3 * N_TEST);
    if (n > 0)
        check_records(label, pred, prob, n, conf);

    const char *jl = iu_path("per_image.jsonl");
    hu_run r = hu_tinycnn("eval %s --data %s --per-image %s", ckpt, data_dir, jl);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    n = read_jsonl(jl, label, pred, prob, CAP);
    CU_ASSERT_EQUAL(n, 3 * N_TEST);
    if (n > 0)
        check_records(label, pred, prob, n, conf);

    /* --limit: that many records, a sample that keeps every class (not the
     * first 5, all of class 0), each with its index in the whole split */
    r = hu_tinycnn("eval %s --data %s --limit 5 --per-image %s", ckpt, data_dir, jl);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    char *text = hu_slurp(jl, NULL), *save = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int records = 0, classes = 0;
    long last = -1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *rec = json_loads(line, 0, NULL);
        long index = (long)json_integer_value(json_object_get(rec, "index"));
        int l = (int)json_integer_value(json_object_get(rec, "label"));
        CU_ASSERT(index > last && index < 3 * N_TEST && l == index / N_TEST);
        last = index;
        classes |= 1 << (l & 7);
        records++;
        json_decref(rec);
    }
    free(text);
    CU_ASSERT_EQUAL(records, 5);
    CU_ASSERT_EQUAL(classes, 7);
    json_decref(plain);
}

static void test_eval_per_image_errors(void)
{
    CU_ASSERT_FATAL(ckpt[0] != 0);
    const char *nowhere = iu_path("no-such-folder/out.csv");
    hu_run r = hu_tinycnn("eval %s --data %s --per-image %s", ckpt, data_dir, nowhere);
    HU_EXPECT_ERROR(r, nowhere, "cannot open");
    CU_ASSERT_PTR_NULL(strstr(r.out, "accuracy")); /* no report after the failure */
    hu_run_free(&r);

    /* a full disk: files of at most 250 bytes hold the error message but
     * not the 12 records */
    const char *full = iu_path("full.csv");
    hu_opts lim = {.fsize_limit = 250};
    r = hu_tinycnn_opt(&lim, "eval %s --data %s --per-image %s", ckpt, data_dir, full);
    HU_EXPECT_ERROR(r, full, "cannot write");
    hu_run_free(&r);
    const char *fulljl = iu_path("full.jsonl");
    r = hu_tinycnn_opt(&lim, "eval %s --data %s --per-image %s --json", ckpt, data_dir, fulljl);
    HU_EXPECT_ERROR(r, fulljl, "cannot write");
    hu_run_free(&r);
}

/* ---- predict --------------------------------------------------------------- */

/* pics/ with good images of each class (one in a subfolder, one a JPEG),
 * a damaged PNG, a PNG of the wrong size, and a text file (ignored). */
static const char *make_pictures(void)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s", iu_path("pics"));
    iu_mkdir(dir);
    iu_mkdir(iu_path("pics/sub"));
    uint8_t px[SIDE * SIDE];
    for (int k = 0; k < 3; k++) {
        class_image(k, 9000 + (uint32_t)k, px);
        iu_write_png(iu_path("pics/%s.png", CLASSES[k]), 1, SIDE, SIDE, px);
    }
    class_image(1, 9100, px);
    iu_write_png(iu_path("pics/sub/dark2.PNG"), 1, SIDE, SIDE, px);
    class_image(0, 9200, px);
    iu_write_jpeg(iu_path("pics/sub/bright2.jpeg"), 1, SIDE, SIDE, px, 95);
    size_t len;
    uint8_t *good = iu_read(iu_path("pics/bright.png"), &len);
    iu_write(iu_path("pics/cut.png"), good, len - 20);
    free(good);
    uint8_t big[8 * 8] = {0};
    iu_write_png(iu_path("pics/sub/wrongsize.png"), 1, 8, 8, big);
    iu_write(iu_path("pics/notes.txt"), "not an image\n", 13);
    return dir;
}

/* The sorted image paths of make_pictures, and which are bad. */
static const char *const PICS[] = {"bright.png", "cut.png",          "dark.png",
                                   "mid.png",    "sub/bright2.jpeg", "sub/dark2.PNG",
                                   "sub/wrongsize.png"};
static const int PIC_CLASS[] = {0, -1, 1, 2, 0, 1, -1}; /* -1: an error entry */
#define N_PICS 7

static void test_predict_folder_text(void)
{
    CU_ASSERT_FATAL(ckpt[0] != 0);
    const char *dir = make_pictures();
    hu_run r = hu_tinycnn("predict %s %s --top 1", ckpt, dir);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_EQUAL(hu_count_lines(r.out), N_PICS);
    const char *at = r.out;
    for (int i = 0; i < N_PICS && at; i++) { /* in sorted order, one line each */
        char want[800];
        if (PIC_CLASS[i] >= 0)
            snprintf(want, sizeof want, "%s/%s: ", dir, PICS[i]);
        else
            snprintf(want, sizeof want, "%s/%s: error: ", dir, PICS[i]);
        const char *found = strstr(at, want);
        CU_ASSERT(found == at);
        if (found != at)
            fprintf(stderr, "\n  expected line '%s...' at:\n%s\n", want, at);
        at = strchr(at, '\n');
        at = at ? at + 1 : NULL;
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "cut.png: error: corrupt PNG"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "wrongsize.png: error: image is 8x8 (height x width) "
                                         "but 6x6 was expected"));
    CU_ASSERT_PTR_NULL(strstr(r.out, "notes.txt"));
    /* stderr: one line saying how many failed */
    CU_ASSERT(hu_one_error(&r, 1, "2 of 7 images could not be classified", "cut.png", NULL));
    hu_run_free(&r);

    /* a file and a folder without images: an entry for the folder */
    const char *empty = iu_path("empty");
    iu_mkdir(empty);
    char one[700];
    snprintf(one, sizeof one, "%s/%s", dir, PICS[2]);
    r = hu_tinycnn("predict %s %s %s", ckpt, empty, one);
    CU_ASSERT_EQUAL(r.status, 1);
    char want[700];
    snprintf(want, sizeof want, "%s: error: is a folder without PNG or JPEG images", empty);
    CU_ASSERT(strncmp(r.out, want, strlen(want)) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, one));
    hu_run_free(&r);

    /* only good files: exit 0 */
    r = hu_tinycnn("predict %s %s/sub/dark2.PNG %s/mid.png", ckpt, dir, dir);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(hu_count_lines(r.out), 2);
    CU_ASSERT_STRING_EQUAL(r.err, "");
    hu_run_free(&r);
}

static void test_predict_folder_json(void)
{
    CU_ASSERT_FATAL(ckpt[0] != 0);
    hu_run r = hu_tinycnn("predict %s %s --json --top 2", ckpt, iu_path("pics"));
    CU_ASSERT_EQUAL(r.status, 1);
    json_t *root = json_loads(r.out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *preds = json_object_get(root, "predictions");
    CU_ASSERT_EQUAL_FATAL(json_array_size(preds), N_PICS);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(root, "failed")), 2);
    int right = 0;
    for (int i = 0; i < N_PICS; i++) {
        json_t *p = json_array_get(preds, (size_t)i);
        const char *img = json_string_value(json_object_get(p, "image"));
        CU_ASSERT(img && strstr(img, PICS[i]) && strlen(strstr(img, PICS[i])) == strlen(PICS[i]));
        const char *error = json_string_value(json_object_get(p, "error"));
        if (PIC_CLASS[i] < 0) {
            CU_ASSERT(error && (strstr(error, "corrupt PNG") || strstr(error, "was expected")));
            CU_ASSERT_PTR_NULL(json_object_get(p, "prediction"));
            continue;
        }
        CU_ASSERT_PTR_NULL(error);
        CU_ASSERT_EQUAL(json_array_size(json_object_get(p, "top")), 2);
        int64_t k = json_integer_value(json_object_get(p, "prediction"));
        const char *name = json_string_value(json_object_get(p, "class_name"));
        CU_ASSERT(k >= 0 && k < 3 && name && strcmp(name, CLASSES[k]) == 0);
        right += k == PIC_CLASS[i];
    }
    CU_ASSERT(right >= 4); /* brightness levels this far apart are learnt in 3 epochs */
    json_decref(root);
    hu_run_free(&r);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"per-class metrics of known matrices", test_metrics_known},
        {"train a small model on class folders", test_train},
        {"eval --split and per-class metrics", test_eval_splits},
        {"eval --per-image CSV and JSON lines", test_eval_per_image},
        {"eval --per-image write errors", test_eval_per_image_errors},
        {"predict a folder with bad files (text)", test_predict_folder_text},
        {"predict a folder with bad files (JSON)", test_predict_folder_json},
        {NULL, NULL},
    };
    return tcu_run("eval_predict", tests);
}
