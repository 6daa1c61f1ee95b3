/* The summary table (tc_summary_text) of models whose every figure is
 * worked out by hand, and tc_summary_open on model files and checkpoints. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/summary.h"

/* 100 pixels -> Linear 1000 -> the loss */
static const char tiny[] =
    "{\"name\": \"tiny\", \"inputs\": [{\"name\": \"image\", \"shape\": [1, 10, 10]},"
    " {\"name\": \"label\", \"shape\": [], \"role\": \"label\"}],"
    " \"nodes\": [{\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"image\"]},"
    "  {\"name\": \"fc\", \"type\": \"Linear\", \"inputs\": [\"flat\"],"
    "   \"params\": {\"out_features\": 1000}},"
    "  {\"name\": \"loss\", \"type\": \"SoftmaxCrossEntropy\", \"inputs\": [\"fc\", \"label\"]}],"
    " \"output\": \"fc\", \"loss\": \"loss\"}";

/* Column widths: node 4 ("node", "flat", "loss"), type 19
 * ("SoftmaxCrossEntropy"), inputs 8 ("fc,label"), output 6 ("output",
 * "[1000]"), then 11, 9 and 10 right-aligned. fc: 100 x 1000 + 1000
 * weights, 1000 x (2 x 100 + 1) FLOPs; the loss counts 4 per logit and 2
 * per image: 4002; Flatten 0. */
static const char tiny_table[] =
    "model tiny: 3 nodes\n"
    "node  type                 inputs    output      weights      state      MFLOPs\n"
    "flat  Flatten              image     [100]             0          0       0.000\n"
    "fc    Linear               flat      [1000]      101,000          0       0.201\n"
    "loss  SoftmaxCrossEntropy  fc,label  [1]               0          0       0.004"
    "  (training only)\n"
    "total: 101,000 weights, 0 state elements, 0.205 forward MFLOPs per image\n";

/* tc_summary_text of the model text, which must succeed. */
static char *table_of(const char *model)
{
    tc_summary s;
    tc_error err = {{0}};
    tc_graph *g = tcu_graph_ok(tc_graph_load_string(tcu_registry(), model, "model", &err), &err);
    TCU_ASSERT_OK(tc_summary_make(g, &s, &err), &err);
    char *text = tc_summary_text(g, &s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    tc_summary_free(&s);
    tc_graph_free(g);
    return text;
}

static void test_table(void)
{
    char *text = table_of(tiny);
    CU_ASSERT_STRING_EQUAL(text, tiny_table);
    if (strcmp(text, tiny_table) != 0)
        fprintf(stderr, "\n  got:\n%s  expected:\n%s", text, tiny_table);
    free(text);
}

/* ---- a type that does not count its FLOPs --------------------------------- */

static int identity_plan(const tc_host *host, void *self, const tc_shape *inputs,
                         int n_inputs, int n_threads, tc_plan *plan, tc_error *err)
{
    (void)host, (void)self, (void)n_inputs, (void)n_threads, (void)err;
    plan->output = inputs[0];
    return 0;
}

static int identity_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)self, (void)err;
    size_t n = (size_t)tc_shape_count(&x->inputs[0].shape);
    memmove(x->output->data, x->inputs[0].data, n * sizeof *x->output->data);
    return 0;
}

static const tc_layer_type uncounted_type = {
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "Same", .summary = "identity without flops()", .min_inputs = 1, .max_inputs = 1,
    .plan = identity_plan, .forward = identity_forward};

static void add_uncounted_type(void)
{
    static int added;
    tc_error err = {{0}};
    if (!added++)
        TCU_ASSERT_OK(tc_registry_add(tcu_registry(), &uncounted_type, "test", &err), &err);
}

/* image [3] -> Same -> Same -> Linear 2: the Linear's 2 x (2 x 3 + 1) = 14
 * FLOPs are 0.000014 MFLOPs, "at least" as two nodes do not count */
static const char uncounted[] =
    "{\"name\": \"u\", \"inputs\": [{\"name\": \"x\", \"shape\": [3]}],"
    " \"nodes\": [{\"name\": \"same_a\", \"type\": \"Same\", \"inputs\": [\"x\"]},"
    "  {\"name\": \"same_b\", \"type\": \"Same\", \"inputs\": [\"same_a\"]},"
    "  {\"name\": \"fc\", \"type\": \"Linear\", \"inputs\": [\"same_b\"],"
    "   \"params\": {\"out_features\": 2}}], \"output\": \"fc\"}";

static const char uncounted_table[] =
    "model u: 3 nodes\n"
    "node    type    inputs  output      weights      state      MFLOPs\n"
    "same_a  Same    x       [3]               0          0           -\n"
    "same_b  Same    same_a  [3]               0          0           -\n"
    "fc      Linear  same_b  [2]               8          0       0.000\n"
    "total: 8 weights, 0 state elements, at least 0.000 forward MFLOPs per image"
    " (2 nodes of types that do not count theirs)\n";

static void test_uncounted(void)
{
    add_uncounted_type();
    char *text = table_of(uncounted);
    CU_ASSERT_STRING_EQUAL(text, uncounted_table);
    if (strcmp(text, uncounted_table) != 0)
        fprintf(stderr, "\n  got:\n%s  expected:\n%s", text, uncounted_table);
    free(text);
    CU_ASSERT_PTR_NULL(tc_summary_text(NULL, NULL));
}

/* ---- tc_summary_open --------------------------------------------------------- */

static void test_open(void)
{
    tc_error err = {{0}};
    /* blanks before the '{': still a model */
    char text[2048];
    snprintf(text, sizeof text, " \n\t%s", tiny);
    const char *model = tcu_write_file("tiny.json", text, strlen(text));
    tc_graph *g = tc_summary_open(tcu_registry(), model, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_EQUAL(tc_graph_name(g), "tiny");
    /* a checkpoint: its weights come with it */
    tc_graph_init_weights(g, 7);
    const char *ckpt = tcu_tmp_path("tiny.ckpt");
    TCU_ASSERT_OK(tc_snapshot_save(ckpt, g, NULL, NULL, &err), &err);
    tc_graph *h = tc_summary_open(tcu_registry(), ckpt, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL_FATAL(tc_graph_n_weights(h), tc_graph_n_weights(g));
    for (int i = 0; i < tc_graph_n_weights(g); i++) {
        const tc_tensor *a = &tc_graph_weight(g, i)->value, *b = &tc_graph_weight(h, i)->value;
        CU_ASSERT_EQUAL(memcmp(a->data, b->data, sizeof(float) * (size_t)tc_shape_count(&a->shape)),
                        0);
    }
    tc_graph_free(h);
    tc_graph_free(g);
}

/* tc_summary_open(reg, path) fails naming needle. */
static void assert_refused(const tc_registry *reg, const char *path, const char *needle)
{
    tc_error err = {{0}};
    tc_graph *g = tc_summary_open(reg, path, &err);
    CU_ASSERT_PTR_NULL(g);
    if (g)
        tc_graph_free(g);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "\n  expected '%s' in: %s\n", needle, err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle));
}

static void test_open_refused(void)
{
    const char *missing = tcu_tmp_path("missing.ckpt");
    assert_refused(tcu_registry(), missing, missing);
    const char *broken = tcu_write_file("broken.json", "{\"name\": ", 9);
    assert_refused(tcu_registry(), broken, broken);
    const char *junk = tcu_write_file("junk.bin", "neither", 7);
    assert_refused(tcu_registry(), junk, junk);
    assert_refused(NULL, junk, "no registry or path");
    assert_refused(tcu_registry(), NULL, "no registry or path");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"the table of a model worked out by hand", test_table},
        {"nodes that do not count their FLOPs: '-' and 'at least'", test_uncounted},
        {"a model file and a checkpoint opened", test_open},
        {"missing, broken and foreign files; NULLs", test_open_refused},
        {NULL, NULL}};
    return tcu_run("summary_text", tests);
}
