/* What the runner asks of the library rather than doing itself: the class
 * list of a checkpoint's metadata, the text tables of eval, the per-image
 * results file and the settings' help lines. Expected texts written by
 * hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/format.h"
#include "tinycnn/metrics.h"
#include "tinycnn/session.h"
#include "tinycnn/train_settings.h"

static void test_class_names(void)
{
    char **n = tc_session_class_names("{\"class_names\": [\"cat\", \"dog\"]}", 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_STRING_EQUAL(n[0], "cat");
    CU_ASSERT_STRING_EQUAL(n[1], "dog");
    tc_class_names_free(n, 2);
    CU_ASSERT_PTR_NULL(tc_session_class_names("{\"class_names\": [\"cat\", \"dog\"]}", 3));
    CU_ASSERT_PTR_NULL(tc_session_class_names("{\"class_names\": [\"cat\", 1]}", 2));
    CU_ASSERT_PTR_NULL(tc_session_class_names("{}", 2));
    CU_ASSERT_PTR_NULL(tc_session_class_names("", 2));
    CU_ASSERT_PTR_NULL(tc_session_class_names(NULL, 2));
}

static void test_format_numbers(void)
{
    char b[48];
    CU_ASSERT_STRING_EQUAL(tc_format_count(b, sizeof b, 0), "0");
    CU_ASSERT_STRING_EQUAL(tc_format_count(b, sizeof b, 999), "999");
    CU_ASSERT_STRING_EQUAL(tc_format_count(b, sizeof b, 61706), "61,706");
    CU_ASSERT_STRING_EQUAL(tc_format_count(b, sizeof b, -1234567), "-1,234,567");
    CU_ASSERT_STRING_EQUAL(tc_format_count(b, sizeof b, INT64_MIN), "-9,223,372,036,854,775,808");
    CU_ASSERT_STRING_EQUAL(tc_format_count(b, 4, 61706), "61,");
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, sizeof b, 41.6), "42s");
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, sizeof b, 185), "3m05s");
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, sizeof b, 7620), "2h07m");
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, sizeof b, -3), "0s");
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, sizeof b, NAN), "0s");
    /* 1e15 s = 277,777,777,777h46m40s; beyond that capped, never overflowed */
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, sizeof b, 1e300), "277777777777h46m");
    CU_ASSERT_STRING_EQUAL(tc_format_duration(b, 3, 185), "3m");
    /* cap 0: nothing written, NULL allowed */
    strcpy(b, "x");
    CU_ASSERT_PTR_EQUAL(tc_format_count(b, 0, 61706), b);
    CU_ASSERT_PTR_EQUAL(tc_format_duration(b, 0, 185), b);
    CU_ASSERT_STRING_EQUAL(b, "x");
    CU_ASSERT_PTR_NULL(tc_format_count(NULL, 0, 61706));
    CU_ASSERT_PTR_NULL(tc_format_duration(NULL, 0, 185));
}

static void test_metrics_format(void)
{
    const int64_t m[4] = {3, 1, 0, 2};
    const char *names[2] = {"cat", "dog"};
    tc_class_metrics pc[2];
    tc_metrics_summary sum;
    tc_error err = {{0}};
    CU_ASSERT_EQUAL_FATAL(tc_metrics_from_confusion(m, 2, pc, &sum, &err), 0);
    char *t = tc_metrics_format(m, 2, pc, &sum, names);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(strncmp(t, "classes: 0 = cat, 1 = dog\n"
                         "confusion matrix (rows: true class, columns: predicted)\n"
                         "         0   1\n"
                         "  cat:   3   1    75.00%\n"
                         "  dog:   0   2   100.00%\n"
                         "per class\n", strlen(t) < 150 ? strlen(t) : 150) == 0);
    CU_ASSERT(tcu_has_text(t, "\n  cat:    1.0000  0.7500  0.8571        4\n"));
    CU_ASSERT(tcu_has_text(t, "\n  dog:    0.6667  1.0000  0.8000        2\n"));
    CU_ASSERT(tcu_has_text(t, "\nmacro:    0.8333  0.8750  0.8286   (mean of 2 classes)\n"));
    free(t);
    t = tc_metrics_format(m, 2, pc, &sum, NULL); /* numbers label the rows */
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(strncmp(t, "confusion matrix", 16) == 0);
    CU_ASSERT(tcu_has_text(t, "\n    1:   0   2   100.00%\n"));
    free(t);
}

static void test_per_image(void)
{
    const char *names[2] = {"cat", "dog"};
    const char *paths[2] = {"a,b.png", "c.png"};
    const int64_t origin[2] = {7, 9};
    const char *path = tcu_tmp_path("per_image.csv");
    tc_error err = {{0}};
    tc_per_image *w = tc_per_image_open(path, names, origin, paths, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    tc_image_result r0 = {0, 1, 0, 0.5f}, r1 = {1, 0, 1, 0.25f};
    CU_ASSERT_EQUAL(tc_per_image_write(w, &r0, &err), 0);
    CU_ASSERT_EQUAL(tc_per_image_write(w, &r1, &err), 0);
    CU_ASSERT_EQUAL(tc_per_image_close(w, &err), 0);
    int status;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cat '%s'", path);
    char *text = tcu_read_command(cmd, &status);
    CU_ASSERT_STRING_EQUAL(text, "index,path,label,prediction,probability,label_name,"
                                 "prediction_name\n"
                                 "7,\"a,b.png\",1,0,0.5,dog,cat\n"
                                 "9,c.png,0,1,0.25,cat,dog\n");
    free(text);
    CU_ASSERT_PTR_NULL(tc_per_image_open("/nonexistent/dir/x.csv", NULL, NULL, NULL, &err));
    CU_ASSERT(tcu_has_text(err.msg, "cannot open for writing"));
    w = tc_per_image_open("/dev/full", NULL, NULL, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_EQUAL(tc_per_image_write(w, &r0, &err), 0); /* buffered */
    CU_ASSERT_NOT_EQUAL(tc_per_image_close(w, &err), 0);
    CU_ASSERT(tcu_has_text(err.msg, "cannot write the per-image results"));
}

static void test_settings_help(void)
{
    char buf[8192];
    size_t n = tc_train_settings_help(buf, sizeof buf);
    CU_ASSERT(n > 0 && n < sizeof buf);
    CU_ASSERT_EQUAL(strlen(buf), n);
    CU_ASSERT(strncmp(buf, "  --", 4) == 0);
    CU_ASSERT(tcu_has_text(buf, "  --epochs N "));
    CU_ASSERT(tcu_has_text(buf, "(default 10)"));
    for (const char *l = buf; *l;) { /* wrapped at 80 columns */
        size_t len = strcspn(l, "\n");
        CU_ASSERT(len <= 80);
        l += len + (l[len] == '\n');
    }
    char small[16];
    CU_ASSERT_EQUAL(tc_train_settings_help(small, sizeof small), n); /* as snprintf */
    CU_ASSERT_EQUAL(strlen(small), sizeof small - 1);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"class names of checkpoint metadata", test_class_names},
        {"counts and durations as reports show them", test_format_numbers},
        {"eval's text tables", test_metrics_format},
        {"per-image results file", test_per_image},
        {"help lines of the training settings", test_settings_help},
        {NULL, NULL},
    };
    return tcu_run("cli_lib", tests);
}
