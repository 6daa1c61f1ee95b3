/* tc_evaluation_run and its reports (tinycnn/evaluation.h) on a model
 * whose predictions follow from its weights by hand: 2x2 gray images,
 * logits (S - 2, 2 - S) with S the sum of the pixels / 255, so an image is
 * called "bright" (class 0) when its mean pixel is over 127.5. The test
 * split holds bright images of 255, 200 and 50 (the last one a mistake)
 * and dark ones of 0 and 100: confusion [[2, 1], [0, 2]]. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>

#include "image_util.h"
#include "tinycnn/evaluation.h"

static const char model_json[] =
    "{\"name\": \"halves\", \"inputs\": [{\"name\": \"image\", \"shape\": [1, 2, 2]},"
    " {\"name\": \"label\", \"shape\": [], \"role\": \"label\"}],"
    " \"nodes\": [{\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"image\"]},"
    "  {\"name\": \"fc\", \"type\": \"Linear\", \"inputs\": [\"flat\"],"
    "   \"params\": {\"out_features\": 2}},"
    "  {\"name\": \"loss\", \"type\": \"SoftmaxCrossEntropy\", \"inputs\": [\"fc\", \"label\"]}],"
    " \"output\": \"fc\", \"loss\": \"loss\"}";

/* each image is one gray level; file names sort in this order */
static const struct {
    const char *file;
    uint8_t level;
} IMAGES[5] = {{"bright/b0.png", 255}, {"bright/b1.png", 200}, {"bright/b2.png", 50},
               {"dark/d0.png", 0},     {"dark/d1.png", 100}};

static char data_dir[600], named_ckpt[600], plain_ckpt[600], stored_ckpt[600];

/* fc.weight rows (1, 1, 1, 1) and (-1, -1, -1, -1), biases -2 and 2 */
static void set_weights(tc_graph *g)
{
    for (int i = 0; i < tc_graph_n_weights(g); i++) {
        tc_weight *w = tc_graph_weight(g, i);
        int is_bias = strcmp(w->name, "fc.bias") == 0;
        CU_ASSERT_FATAL(is_bias || strcmp(w->name, "fc.weight") == 0);
        int64_t n = tc_shape_count(&w->value.shape);
        CU_ASSERT_EQUAL_FATAL(n, is_bias ? 2 : 8);
        for (int64_t k = 0; k < n; k++)
            w->value.data[k] = is_bias ? (k == 0 ? -2.0f : 2.0f) : (k < 4 ? 1.0f : -1.0f);
    }
}

static void save_model(const char *path, const char *meta)
{
    tc_error err = {{0}};
    tc_graph *g = tcu_graph_ok(tc_graph_load_string(tcu_registry(), model_json, "halves", &err),
                               &err);
    set_weights(g);
    TCU_ASSERT_OK(tc_snapshot_save(path, g, NULL, meta, &err), &err);
    tc_graph_free(g);
}

static void make_fixture(void)
{
    static int done;
    if (done++)
        return;
    iu_mkdir(iu_path("data"));
    iu_mkdir(iu_path("data/test"));
    iu_mkdir(iu_path("data/test/bright"));
    iu_mkdir(iu_path("data/test/dark"));
    for (int i = 0; i < 5; i++) {
        uint8_t px[4];
        memset(px, IMAGES[i].level, sizeof px);
        iu_write_png(iu_path("data/test/%s", IMAGES[i].file), 1, 2, 2, px);
    }
    snprintf(data_dir, sizeof data_dir, "%s", iu_path("data"));
    snprintf(named_ckpt, sizeof named_ckpt, "%s", iu_path("named.ckpt"));
    snprintf(plain_ckpt, sizeof plain_ckpt, "%s", iu_path("plain.ckpt"));
    snprintf(stored_ckpt, sizeof stored_ckpt, "%s", iu_path("stored.ckpt"));
    save_model(named_ckpt, "{\"class_names\": [\"bright\", \"dark\"]}");
    save_model(plain_ckpt, NULL);
    char meta[800];
    snprintf(meta, sizeof meta, "{\"data\": \"%s\"}", data_dir);
    save_model(stored_ckpt, meta);
}

static tc_evaluation_config config(const char *ckpt)
{
    make_fixture();
    return (tc_evaluation_config){.registry = tcu_registry(), .checkpoint = ckpt,
                                  .data_dir = data_dir};
}

static tc_evaluation *run_ok(const tc_evaluation_config *c)
{
    tc_error err = {{0}};
    tc_evaluation *e = tc_evaluation_run(c, &err);
    if (!e)
        fprintf(stderr, "\n  tc_evaluation_run: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    return e;
}

static void test_counts(void)
{
    tc_evaluation_config c = config(named_ckpt);
    tc_evaluation *e = run_ok(&c);
    CU_ASSERT_EQUAL_FATAL(e->n_classes, 2);
    const int64_t want[4] = {2, 1, 0, 2};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(e->confusion[i], want[i]);
    CU_ASSERT_EQUAL(e->summary.correct, 4);
    CU_ASSERT_EQUAL(e->summary.total, 5);
    CU_ASSERT_DOUBLE_EQUAL(e->summary.accuracy, 0.8, 1e-12);
    /* bright: 2 of 2 predicted right, 2 of 3 found; dark: 2 of 3, 2 of 2 */
    const tc_class_metrics pc[2] = {{.precision = 1.0, .recall = 2.0 / 3, .f1 = 0.8, .support = 3,
                                     .predicted = 2},
                                    {.precision = 2.0 / 3, .recall = 1.0, .f1 = 0.8, .support = 2,
                                     .predicted = 3}};
    for (int c = 0; c < 2; c++) {
        const tc_class_metrics *got = &e->per_class[c];
        CU_ASSERT_DOUBLE_EQUAL(got->precision, pc[c].precision, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(got->recall, pc[c].recall, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(got->f1, pc[c].f1, 1e-12);
        CU_ASSERT(got->support == pc[c].support && got->predicted == pc[c].predicted);
    }
    CU_ASSERT_DOUBLE_EQUAL(e->summary.macro_precision, 5.0 / 6, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(e->summary.macro_recall, 5.0 / 6, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(e->summary.macro_f1, 0.8, 1e-12);
    CU_ASSERT_STRING_EQUAL(e->model, "halves");
    CU_ASSERT_STRING_EQUAL(e->split, "test"); /* the default */
    CU_ASSERT_STRING_EQUAL(e->data_dir, data_dir);
    CU_ASSERT_STRING_EQUAL(e->checkpoint, named_ckpt);
    CU_ASSERT_PTR_NULL(e->per_image);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->class_names);
    CU_ASSERT_STRING_EQUAL(e->class_names[0], "bright");
    CU_ASSERT_STRING_EQUAL(e->class_names[1], "dark");
    tc_evaluation_free(e);
}

/* The text is the header line, the tables of the hand-made matrix and the
 * accuracy line, nothing else. */
static void test_text(void)
{
    tc_evaluation_config c = config(named_ckpt);
    c.per_image = iu_path("text.csv");
    c.batch_size = 2; /* three batches, the last one short */
    tc_evaluation *e = run_ok(&c);
    char *text = tc_evaluation_text(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    const int64_t m[4] = {2, 1, 0, 2};
    tc_class_metrics pc[2];
    tc_metrics_summary s;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_metrics_from_confusion(m, 2, pc, &s, &err), &err);
    static const char *const names[2] = {"bright", "dark"};
    char *tables = tc_metrics_format(m, 2, pc, &s, names);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tables);
    char want[4096];
    snprintf(want, sizeof want,
             "model halves, 5 test images from %s\n%sper-image results: %s\n"
             "accuracy: 80.00%% (4/5)\n",
             data_dir, tables, c.per_image);
    CU_ASSERT_STRING_EQUAL(text, want);
    if (strcmp(text, want) != 0)
        fprintf(stderr, "\n  got:\n%s\n  expected:\n%s\n", text, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "classes: 0 = bright, 1 = dark"));
    free(tables);
    free(text);
    tc_evaluation_free(e);
}

static void assert_json_int(json_t *o, const char *key, json_int_t v)
{
    json_t *x = json_object_get(o, key);
    CU_ASSERT(json_is_integer(x));
    CU_ASSERT_EQUAL(json_integer_value(x), v);
}

static void test_json(void)
{
    tc_evaluation_config c = config(named_ckpt);
    tc_evaluation *e = run_ok(&c);
    char *text = tc_evaluation_json(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    /* indented by 2, keys in order, no final newline, 10 digits */
    CU_ASSERT_EQUAL(strncmp(text, "{\n  \"checkpoint\": ", 18), 0);
    CU_ASSERT_NOT_EQUAL(text[strlen(text) - 1], '\n');
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"recall\": 0.6666666667"));
    json_t *o = json_loads(text, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "checkpoint")), named_ckpt);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "model")), "halves");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "data")), data_dir);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "split")), "test");
    assert_json_int(o, "correct", 4);
    assert_json_int(o, "total", 5);
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(o, "accuracy")), 0.8, 1e-12);
    json_t *m = json_object_get(o, "confusion");
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(m, 0), 1)), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(m, 1), 0)), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(m, 1), 1)), 2);
    json_t *dark = json_array_get(json_object_get(o, "per_class"), 1);
    assert_json_int(dark, "class", 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(dark, "class_name")), "dark");
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(dark, "precision")), 2.0 / 3, 1e-9);
    assert_json_int(dark, "support", 2);
    assert_json_int(dark, "predicted", 3);
    json_t *macro = json_object_get(o, "macro");
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(macro, "recall")), 5.0 / 6, 1e-9);
    assert_json_int(macro, "classes", 2);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "class_names")), 2);
    CU_ASSERT_PTR_NULL(json_object_get(o, "per_image"));
    json_decref(o);
    free(text);
    tc_evaluation_free(e);
}

/* The per-image records (JSON lines) of the run as one array; n of them
 * expected. Owner: the caller (json_decref()). */
static json_t *read_records(const char *path, size_t n)
{
    size_t len;
    char *text = (char *)iu_read(path, &len);
    text[len] = '\0'; /* iu_read leaves room for it */
    json_t *all = json_array();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *r = json_loads(line, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL(r);
        json_array_append_new(all, r ? r : json_null());
    }
    free(text);
    CU_ASSERT_EQUAL(json_array_size(all), n);
    return all;
}

/* The 50 image: S = 200/255, p(dark) = 1 / (1 + exp((S - 2) - (2 - S))). */
static void test_per_image(void)
{
    tc_evaluation_config c = config(named_ckpt);
    c.per_image = iu_path("images.jsonl");
    tc_evaluation *e = run_ok(&c);
    CU_ASSERT_STRING_EQUAL(e->per_image, c.per_image);
    json_t *all = read_records(c.per_image, 5), *r;
    int right = 0, found = 0;
    size_t i;
    json_array_foreach(all, i, r) {
        int label = (int)json_integer_value(json_object_get(r, "label"));
        int pred = (int)json_integer_value(json_object_get(r, "prediction"));
        const char *path = json_string_value(json_object_get(r, "path"));
        right += label == pred;
        if (!path || !strstr(path, "bright/b2.png"))
            continue;
        found = 1;
        double s = 4 * 50 / 255.0;
        CU_ASSERT_EQUAL(label, 0);
        CU_ASSERT_EQUAL(pred, 1);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(r, "probability")),
                               1 / (1 + exp(2 * s - 4)), 1e-5);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "prediction_name")), "dark");
    }
    CU_ASSERT(found);
    CU_ASSERT_EQUAL(right, 4);
    json_decref(all);
    tc_evaluation_free(e);
}

/* A limit of 2 keeps one image of each class; the records give each one's
 * place in the split as loaded (bright images first). */
static void test_limit(void)
{
    tc_evaluation_config c = config(plain_ckpt);
    c.limit = 2;
    c.per_image = iu_path("limit.jsonl");
    tc_evaluation *e = run_ok(&c);
    CU_ASSERT_EQUAL(e->summary.total, 2);
    CU_ASSERT_EQUAL(e->per_class[0].support, 1);
    CU_ASSERT_EQUAL(e->per_class[1].support, 1);
    json_t *all = read_records(c.per_image, 2), *r;
    size_t i;
    json_array_foreach(all, i, r) {
        int64_t index = json_integer_value(json_object_get(r, "index"));
        CU_ASSERT(index >= 0 && index < 5);
        if (index < 0 || index >= 5)
            continue;
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "label")), index < 3 ? 0 : 1);
        const char *path = json_string_value(json_object_get(r, "path"));
        CU_ASSERT(path && strstr(path, IMAGES[index].file));
    }
    json_decref(all);
    tc_evaluation_free(e);
}

/* Without names in the checkpoint the folders are numbered in byte order
 * (bright 0, dark 1): the same matrix, and no names in either report. */
static void test_without_names(void)
{
    tc_evaluation_config c = config(plain_ckpt);
    tc_evaluation *e = run_ok(&c);
    CU_ASSERT_PTR_NULL(e->class_names);
    CU_ASSERT_EQUAL(e->confusion[1], 1);
    CU_ASSERT_EQUAL(e->summary.correct, 4);
    char *json = tc_evaluation_json(e), *text = tc_evaluation_text(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NULL(strstr(json, "class_name"));
    CU_ASSERT_PTR_NULL(strstr(text, "classes:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "accuracy: 80.00% (4/5)\n"));
    free(json);
    free(text);
    tc_evaluation_free(e);
}

/* No data folder given: the one the checkpoint names, reported as such. */
static void test_stored_data_dir(void)
{
    tc_evaluation_config c = config(stored_ckpt);
    c.data_dir = NULL;
    tc_evaluation *e = run_ok(&c);
    CU_ASSERT_STRING_EQUAL(e->data_dir, data_dir);
    CU_ASSERT_EQUAL(e->summary.total, 5);
    tc_evaluation_free(e);
    c.checkpoint = plain_ckpt;
    tc_error err = {{0}};
    CU_ASSERT_PTR_NULL(tc_evaluation_run(&c, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no data folder given"));
}

/* tc_evaluation_run(&c, &err) fails with a message holding needle. */
static void assert_refused(const tc_evaluation_config *c, const char *needle)
{
    tc_error err = {{0}};
    tc_evaluation *e = tc_evaluation_run(c, &err);
    CU_ASSERT_PTR_NULL(e);
    tc_evaluation_free(e);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "\n  expected '%s' in: %s\n", needle, err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle));
}

static void test_refused(void)
{
    assert_refused(NULL, "no configuration");
    tc_evaluation_config c = config(named_ckpt);
    c.registry = NULL;
    assert_refused(&c, "no configuration, registry or checkpoint");
    c = config(NULL);
    assert_refused(&c, "no configuration, registry or checkpoint");
    const char *missing = iu_path("missing.ckpt");
    c = config(missing);
    assert_refused(&c, missing);
    c = config(named_ckpt);
    c.split = "validation";
    assert_refused(&c, "split 'validation'");
    c = config(named_ckpt);
    c.data_dir = iu_path("no-such-folder");
    assert_refused(&c, c.data_dir);
    c = config(named_ckpt);
    c.per_image = iu_path("no-such-folder/out.csv");
    assert_refused(&c, c.per_image);
    c = config(named_ckpt);
    c.limit = -1;
    assert_refused(&c, "image limit must be >= 0");
    c = config(named_ckpt);
    c.batch_size = -3;
    assert_refused(&c, "batch size");
    /* a file that is no checkpoint: named */
    const char *junk = tcu_write_file("junk.ckpt", "not a checkpoint", 16);
    c = config(junk);
    assert_refused(&c, junk);
    CU_ASSERT_PTR_NULL(tc_evaluation_text(NULL));
    CU_ASSERT_PTR_NULL(tc_evaluation_json(NULL));
    tc_evaluation_free(NULL);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"confusion matrix and metrics of a hand-weighted model", test_counts},
        {"text report: header, tables, per-image line, accuracy", test_text},
        {"JSON report: fields, order, precision", test_json},
        {"per-image records: predictions and a probability by hand", test_per_image},
        {"a limit keeps a class-stratified sample; records name their images", test_limit},
        {"a checkpoint without class names", test_without_names},
        {"the data folder the checkpoint names", test_stored_data_dir},
        {"bad input: NULLs, missing files, a wrong split, bad numbers", test_refused},
        {NULL, NULL}};
    return tcu_run("evaluation", tests);
}
