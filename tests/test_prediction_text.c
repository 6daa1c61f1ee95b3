/* One result of tc_model_classify_paths as text and JSON
 * (tc_path_result_text, tc_path_result_json), for results made by hand:
 * the expected lines follow from the format ("%.2f%%" of 100 * prob). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *const names[10] = {"zero", "one", "two", "three", "four",
                                      "five", "six", "seven", "eight", "nine"};

/* LeNet-5 with random weights, with or without class names. Owner: the
 * caller (tc_model_close). */
static tc_model *open_lenet(int named)
{
    char meta[512] = "{\"class_names\":[";
    for (int i = 0; i < 10; i++)
        snprintf(meta + strlen(meta), sizeof meta - strlen(meta), "%s\"%s\"", i ? "," : "",
                 names[i]);
    strcat(meta, "]}");
    const char *path = tcu_tmp_path(named ? "named.ckpt" : "plain.ckpt");
    tcu_save_lenet(path, 3, named ? meta : NULL);
    tc_error err = {{0}};
    tc_model *m = tc_model_open(path, NULL, &err);
    if (!m)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(tc_model_has_class_names(m), named);
    return m;
}

static const tc_prediction best[3] = {{3, 0.971f}, {8, 0.02f}, {0, 0.00449f}};

static void expect_text(const tc_model *m, const tc_path_result *r, const char *want)
{
    char *s = tc_path_result_text(m, r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s, want);
    if (strcmp(s, want) != 0)
        fprintf(stderr, "\n  got  '%s'\n  want '%s'\n", s, want);
    free(s);
}

static void test_text(void)
{
    tc_model *plain = open_lenet(0), *named = open_lenet(1);
    tc_path_result r = {.path = "img.png", .best = best, .top = 2};
    /* 100 * 0.971f = 97.1000016 -> 97.10; 100 * 0.02f = 1.99999996 -> 2.00 */
    expect_text(plain, &r, "img.png: 3  (3: 97.10%, 8: 2.00%)");
    expect_text(named, &r, "img.png: 3 three  (three: 97.10%, eight: 2.00%)");
    r.top = 3; /* 0.449 -> 0.45 */
    expect_text(plain, &r, "img.png: 3  (3: 97.10%, 8: 2.00%, 0: 0.45%)");
    r.top = 1;
    r.path = "dir/x y.jpg";
    expect_text(named, &r, "dir/x y.jpg: 3 three  (three: 97.10%)");
    tc_model_close(plain);
    tc_model_close(named);
}

/* The message loses the "PATH: " it starts with, and only that. */
static void test_error_text(void)
{
    tc_model *m = open_lenet(0);
    tc_path_result r = {.path = "a/b.png", .error = "a/b.png: cannot open: No such file"};
    expect_text(m, &r, "a/b.png: error: cannot open: No such file");
    r.error = "out of luck";
    expect_text(m, &r, "a/b.png: error: out of luck");
    r.error = "a/b.pngx: something";
    expect_text(m, &r, "a/b.png: error: a/b.pngx: something");
    r.error = "a/b.png:no space";
    expect_text(m, &r, "a/b.png: error: a/b.png:no space");
    tc_model_close(m);
}

/* The JSON text parsed back; NULL key: absent. */
static json_t *json_of(const tc_model *m, const tc_path_result *r)
{
    char *s = tc_path_result_json(m, r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NULL(strchr(s, '\n')); /* compact */
    json_t *v = json_loads(s, 0, NULL);
    free(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

static void test_json(void)
{
    tc_model *plain = open_lenet(0), *named = open_lenet(1);
    tc_path_result r = {.path = "img.png", .best = best, .top = 2};
    char *s = tc_path_result_json(plain, &r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const char *head = "{\"image\":\"img.png\",\"prediction\":3,\"top\":[{\"class\":3,"
                       "\"probability\":0.97"; /* in this order */
    CU_ASSERT_EQUAL(strncmp(s, head, strlen(head)), 0);
    free(s);
    for (int n = 0; n < 2; n++) {
        json_t *v = json_of(n ? named : plain, &r), *top = json_object_get(v, "top");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "image")), "img.png");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(v, "prediction")), 3);
        CU_ASSERT_EQUAL(json_object_size(v), n ? 4u : 3u);
        CU_ASSERT_EQUAL(json_array_size(top), 2u);
        for (size_t j = 0; j < json_array_size(top); j++) {
            json_t *e = json_array_get(top, j);
            CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "class")), best[j].label);
            /* 17 digits: the float comes back exactly */
            CU_ASSERT_EQUAL(json_real_value(json_object_get(e, "probability")),
                            (double)best[j].prob);
            const char *name = json_string_value(json_object_get(e, "class_name"));
            CU_ASSERT_EQUAL(json_object_size(e), n ? 3u : 2u);
            if (n)
                CU_ASSERT_STRING_EQUAL(name, names[best[j].label]);
        }
        if (n)
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "class_name")), "three");
        json_decref(v);
    }
    tc_model_close(plain);
    tc_model_close(named);
}

static void test_error_json(void)
{
    tc_model *m = open_lenet(1);
    tc_path_result r = {.path = "a.png", .error = "a.png: damaged"};
    json_t *v = json_of(m, &r);
    CU_ASSERT_EQUAL(json_object_size(v), 2u);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "image")), "a.png");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "error")), "damaged");
    json_decref(v);
    /* a file name that is not UTF-8 cannot be a JSON string: its key goes */
    r = (tc_path_result){.path = "n\xe9.png", .best = best, .top = 1};
    v = json_of(m, &r);
    CU_ASSERT_PTR_NULL(json_object_get(v, "image"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(v, "prediction")), 3);
    json_decref(v);
    tc_model_close(m);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"a result as text, with and without class names", test_text},
        {"an error as text", test_error_text},
        {"a result as JSON", test_json},
        {"an error as JSON; a file name that is not UTF-8", test_error_json},
        {NULL, NULL},
    };
    return tcu_run("prediction_text", tests);
}
