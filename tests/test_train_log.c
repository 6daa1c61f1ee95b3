/* train --log: the streamed training log in JSON lines and CSV, one line
 * per epoch and every N steps, against the run's own --json history;
 * a resumed run appends (CSV without a second header); a log that cannot
 * be written stops the run with exit status 1 and the checkpoint kept. */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <math.h>

#include "hostile_util.h"
#include "image_util.h"

#define SIDE 6
#define N_TRAIN 8 /* images per class: 24 in all, 6 batches of 4 */
#define N_TEST 4
#define BATCHES 6

static const int LEVEL[3] = {220, 30, 125};

static void make_split(const char *split, int n, uint32_t seed)
{
    iu_mkdir(iu_path("data/%s", split));
    for (int k = 0; k < 3; k++) {
        iu_mkdir(iu_path("data/%s/%d", split, k));
        for (int i = 0; i < n; i++) {
            uint8_t px[SIDE * SIDE];
            iu_noise(px, SIDE * SIDE, seed + (uint32_t)(100 * k + i));
            for (int j = 0; j < SIDE * SIDE; j++)
                px[j] = (uint8_t)(LEVEL[k] - 20 + px[j] % 40);
            iu_write_png(iu_path("data/%s/%d/img%d.png", split, k, i), 1, SIDE, SIDE, px);
        }
    }
}

static const char model[] = IU_LEVELS_MODEL;

static char data_dir[600], model_path[600];

static void setup_data(void)
{
    iu_mkdir(iu_path("data"));
    make_split("train", N_TRAIN, 1);
    make_split("test", N_TEST, 5000);
    snprintf(data_dir, sizeof data_dir, "%s", iu_path("data"));
    snprintf(model_path, sizeof model_path, "%s",
             tcu_write_file("levels.json", model, strlen(model)));
}

/* The lines of a file; *n of them. Owner: the caller (free each, then the
 * array). */
static char **read_lines(const char *path, int *n)
{
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **lines = NULL, buf[4096];
    while (fgets(buf, sizeof buf, f)) {
        lines = realloc(lines, (size_t)(*n + 1) * sizeof *lines);
        buf[strcspn(buf, "\n")] = 0;
        lines[(*n)++] = strdup(buf);
    }
    fclose(f);
    return lines;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* Checks the JSON-lines log of epochs first..last against the --json
 * history of the run that wrote them (NULL: no check of the values). */
static void check_jsonl(char **lines, int n, int first, int last, json_t *history)
{
    int per_epoch = BATCHES / 2 + 1; /* steps 2, 4, 6, then the epoch */
    CU_ASSERT_EQUAL_FATAL(n, (last - first + 1) * per_epoch);
    double wall = -1;
    for (int i = 0; i < n; i++) {
        json_error_t je;
        json_t *o = json_loads(lines[i], 0, &je);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        int epoch = first + i / per_epoch, k = i % per_epoch;
        int is_epoch = k == per_epoch - 1;
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "kind")),
                               is_epoch ? "epoch" : "step");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "epoch")), epoch);
        int64_t step = (int64_t)(epoch - 1) * BATCHES + (is_epoch ? BATCHES : 2 * (k + 1));
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "step")), step);
        double w = json_number_value(json_object_get(o, "wall_seconds"));
        CU_ASSERT(w >= wall);
        wall = w;
        CU_ASSERT(json_number_value(json_object_get(o, "lr")) > 0);
        CU_ASSERT(json_number_value(json_object_get(o, "images_per_second")) > 0);
        CU_ASSERT(isfinite(json_number_value(json_object_get(o, "loss"))));
        CU_ASSERT_EQUAL(json_object_get(o, "test_accuracy") != NULL, is_epoch);
        CU_ASSERT_PTR_NULL(json_object_get(o, "val_accuracy")); /* no validation set */
        json_t *h = history ? json_array_get(history, (size_t)(epoch - first)) : NULL;
        if (is_epoch && h) {
            CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(o, "loss")),
                                   json_number_value(json_object_get(h, "loss")), 1e-9);
            CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(o, "test_accuracy")),
                                   json_number_value(json_object_get(h, "test_accuracy")), 1e-9);
        }
        json_decref(o);
    }
}

static void test_jsonl_and_resume(void)
{
    setup_data();
    const char *log = iu_path("run.jsonl"), *ck = iu_path("run.ckpt");
    hu_run r = hu_tinycnn("train %s --data %s -o %s --threads 1 --json --log %s --log-every 2",
                          model_path, data_dir, ck, log);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    json_t *root = json_loads(r.out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int n;
    char **lines = read_lines(log, &n);
    check_jsonl(lines, n, 1, 3, json_object_get(root, "epochs"));
    free_lines(lines, n);
    json_decref(root);
    hu_run_free(&r);

    /* resumed: epochs 4 and 5 appended after the first three */
    r = hu_tinycnn("train --resume %s --epochs 5 --threads 1 --quiet --log %s --log-every 2", ck,
                   log);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    lines = read_lines(log, &n);
    CU_ASSERT_EQUAL_FATAL(n, 5 * 4);
    check_jsonl(lines, 12, 1, 3, NULL);
    check_jsonl(lines + 12, 8, 4, 5, NULL);
    free_lines(lines, n);
}

static void test_csv(void)
{
    const char *log = iu_path("run.csv"), *ck = iu_path("csv.ckpt");
    hu_run r = hu_tinycnn("train %s --data %s -o %s --threads 1 --quiet --log %s", model_path,
                          data_dir, ck, log);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    r = hu_tinycnn("train --resume %s --epochs 4 --threads 1 --quiet --log %s", ck, log);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    int n;
    char **lines = read_lines(log, &n);
    CU_ASSERT_EQUAL_FATAL(n, 1 + 4); /* one header, one line per epoch, no --log-every */
    CU_ASSERT_STRING_EQUAL(lines[0], "kind,epoch,step,loss,train_accuracy,val_accuracy,val_loss,"
                                     "test_accuracy,lr,images_per_second,wall_seconds");
    for (int i = 1; i < n; i++) {
        char kind[16];
        int epoch;
        long long step;
        /* kind,epoch,step,loss,train,(val empty),(val loss empty),test,... */
        double loss, train, test;
        int got = sscanf(lines[i], "%15[^,],%d,%lld,%lf,%lf,,,%lf", kind, &epoch, &step, &loss,
                         &train, &test);
        CU_ASSERT_EQUAL(got, 6);
        CU_ASSERT_STRING_EQUAL(kind, "epoch");
        CU_ASSERT_EQUAL(epoch, i);
        CU_ASSERT_EQUAL(step, (long long)i * BATCHES);
        CU_ASSERT(train >= 0 && train <= 1 && test >= 0 && test <= 1);
    }
    free_lines(lines, n);
}

static void test_log_write_fails(void)
{
    const char *ck = iu_path("full.ckpt");
    hu_run r = hu_tinycnn("train %s --data %s -o %s --threads 1 --quiet --log /dev/full",
                          model_path, data_dir, ck);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "/dev/full: cannot write the training log"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "training stopped after epoch 1 of 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "tinycnn train --resume"));
    CU_ASSERT_EQUAL(access(ck, F_OK), 0); /* the epoch's checkpoint is kept */
    hu_run_free(&r);
    r = hu_tinycnn("train %s --data %s -o %s --log %s", model_path, data_dir, ck,
                   iu_path("no/such/folder/x.jsonl"));
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "x.jsonl: cannot open the training log"));
    hu_run_free(&r);
    r = hu_tinycnn("train %s --data %s -o %s --log-every 0", model_path, data_dir, ck);
    CU_ASSERT_EQUAL(r.status, 2);
    hu_run_free(&r);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"--log JSON lines, --log-every, resume appends", test_jsonl_and_resume},
        {"--log CSV with one header across a resume", test_csv},
        {"--log that cannot be written", test_log_write_fails},
        {NULL, NULL},
    };
    return tcu_run("train_log", tests);
}
