/* The registered layer types described (tinycnn/registry_describe.h), on a
 * registry of two types made here whose every line is known: a type with
 * an int, a float, a bool and an int with an unbounded and a huge bound,
 * and a loss without parameters or summary. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/registry_describe.h"

/* never run: the types are only listed */
static int never_plan(const tc_host *host, void *self, const tc_shape *in, int n_in,
                      int n_threads, tc_plan *plan, tc_error *err)
{
    (void)host, (void)self, (void)in, (void)n_in, (void)n_threads, (void)plan;
    return tc_error_set(err, "not planned in this test");
}

static int never_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)self, (void)x;
    return tc_error_set(err, "not run in this test");
}

static const tc_param_desc demo_params[] = {
    {"size", TC_VALUE_INT, 1, 0, 1, 1e300, "the size"},
    {"rate", TC_VALUE_FLOAT, 0, 0.5, 0, 1, "a rate"},
    {"flag", TC_VALUE_BOOL, 0, 1, 0, 1, "a switch"},
    {"big", TC_VALUE_INT, 0, -1, -INFINITY, 1e16, NULL}, /* past 2^53: a real */
};

static const tc_layer_type demo_type = {
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "TDemo", .summary = "demo type", .min_inputs = 1, .max_inputs = 2,
    .params = demo_params, .n_params = 4, .plan = never_plan, .forward = never_forward};

static const tc_layer_type loss_type = {
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "TLoss", .flags = TC_LAYER_LOSS, .min_inputs = 2, .max_inputs = 2,
    .plan = never_plan, .forward = never_forward};

static tc_registry *two_types(void)
{
    tc_registry *reg = tc_registry_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_registry_add(reg, &demo_type, "demo.so", &err), &err);
    TCU_ASSERT_OK(tc_registry_add(reg, &loss_type, NULL, &err), &err);
    return reg;
}

/* columns: 4 spaces, name in 16, type in 5, default in 16, range in 22, help */
static const char want_text[] =
    "TDemo\n"
    "  demo type\n"
    "  file:   demo.so\n"
    "  inputs: 1 to 2\n"
    "  params:\n"
    "    size             int   required         [1, inf]               the size\n"
    "    rate             float default 0.5      [0, 1]                 a rate\n"
    "    flag             bool  default true     true|false             a switch\n"
    "    big              int   default -1       [-inf, 1e+16]          \n"
    "\n"
    "TLoss  (loss)\n"
    "  file:   (built in)\n"
    "  inputs: 2\n"
    "  params: none\n";

static void test_text(void)
{
    tc_registry *reg = two_types();
    char *text = tc_registry_describe_text(reg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, want_text);
    if (strcmp(text, want_text) != 0)
        fprintf(stderr, "\n  got:\n%s\n  expected:\n%s\n", text, want_text);
    free(text);
    tc_registry_free(reg);
}

static json_t *param(json_t *type, size_t i)
{
    return json_array_get(json_object_get(type, "params"), i);
}

static void test_json(void)
{
    tc_registry *reg = two_types();
    char *text = tc_registry_describe_json(reg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    static const char head[] = "{\n  \"types\": [\n    {\n      \"name\": \"TDemo\",\n";
    CU_ASSERT_EQUAL(strncmp(text, head, strlen(head)), 0);
    CU_ASSERT_NOT_EQUAL(text[strlen(text) - 1], '\n');
    json_t *o = json_loads(text, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    json_t *types = json_object_get(o, "types");
    CU_ASSERT_EQUAL_FATAL(json_array_size(types), 2);
    json_t *demo = json_array_get(types, 0), *loss = json_array_get(types, 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(demo, "file")), "demo.so");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(demo, "summary")), "demo type");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(demo, "min_inputs")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(demo, "max_inputs")), 2);
    CU_ASSERT(json_is_false(json_object_get(demo, "loss")));
    /* size: required, so no default; 1e300 is unbounded */
    CU_ASSERT(json_is_true(json_object_get(param(demo, 0), "required")));
    CU_ASSERT(json_is_null(json_object_get(param(demo, 0), "default")));
    CU_ASSERT(json_is_integer(json_object_get(param(demo, 0), "min")));
    CU_ASSERT(json_is_null(json_object_get(param(demo, 0), "max")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(param(demo, 0), "type")), "int");
    /* rate: reals, even where whole */
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(param(demo, 1), "default")), 0.5, 0);
    CU_ASSERT(json_is_real(json_object_get(param(demo, 1), "max")));
    CU_ASSERT(json_is_true(json_object_get(param(demo, 2), "default")));
    /* big: -inf is null, 1e16 an int too large to be exact */
    CU_ASSERT(json_is_null(json_object_get(param(demo, 3), "min")));
    CU_ASSERT(json_is_real(json_object_get(param(demo, 3), "max")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(param(demo, 3), "default")), -1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(param(demo, 3), "help")), "");
    CU_ASSERT(json_is_true(json_object_get(loss, "loss")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(loss, "file")), "(built in)");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(loss, "summary")), "");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(loss, "params")), 0);
    json_decref(o);
    free(text);
    tc_registry_free(reg);
}

/* The standard layers: one block per registered type, in order. */
static void test_standard_types(void)
{
    const tc_registry *reg = tcu_registry();
    char *text = tc_registry_describe_text(reg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int n = tc_registry_count(reg), blocks = 1;
    CU_ASSERT(n > 10);
    for (const char *p = text; (p = strstr(p, "\n\n")); p += 2)
        blocks++;
    CU_ASSERT_EQUAL(blocks, n);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "SoftmaxCrossEntropy  (loss)\n"));
    free(text);
}

static void test_empty_and_null(void)
{
    tc_registry *reg = tc_registry_new();
    char *text = tc_registry_describe_text(reg), *json = tc_registry_describe_json(reg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_STRING_EQUAL(text, "");
    CU_ASSERT_STRING_EQUAL(json, "{\n  \"types\": []\n}");
    free(text);
    free(json);
    tc_registry_free(reg);
    CU_ASSERT_PTR_NULL(tc_registry_describe_text(NULL));
    CU_ASSERT_PTR_NULL(tc_registry_describe_json(NULL));
}

int main(void)
{
    static const tcu_test tests[] = {
        {"text: every line of two types", test_text},
        {"JSON: inputs, loss, defaults, unbounded and huge bounds", test_json},
        {"text of the standard layers: a block per type", test_standard_types},
        {"an empty registry; NULL", test_empty_and_null},
        {NULL, NULL}};
    return tcu_run("registry_describe", tests);
}
