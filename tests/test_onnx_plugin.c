/* ONNX export of plugin layers through their onnx_export callback (ABI 2.2,
 * runtime/src/onnx_export_plugin.c). Layer types defined here, each mapped
 * (or not) in one way; the graph is x [2,3,3] -> the layer -> Flatten.
 *
 * case                                          expected
 * -------------------------------------------   ----------------------------------
 * no callback                                   node and type, "no ONNX mapping"
 * a callback past the type's struct_size        the same (never called)
 * a callback that fails with a message          node, type and the message
 * a callback that returns 0 without the output  node, type, "no ONNX node writes"
 * weight() of a weight it does not have         node, type, "no such weight"
 * weight() reshaped to another element count    node, type, "another number"
 * a correct callback (weight as [C,1,1], Mul,   exports; the file holds its nodes,
 *   a constant, a temp, Add, an attribute)      initializers and attribute
 * The numbers (the example plugin's ELU and Scale in ONNX Runtime) are
 * tests/onnx/onnx_peers.py's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "plugins/test_plugin_util.h"
#include "testutil.h"
#include "tinycnn/onnx.h"

static int ident_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    tpu_copy(x->output->data, x->inputs[0].data, &x->output->shape);
    return 0;
}

/* One weight [C] (2.0 everywhere), as the channel scale of a Scale. */
static int weighted_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                         int n_threads, tc_plan *plan, tc_error *err)
{
    tpu_plan_same(host, self, in, n_inputs, n_threads, plan, err);
    plan->n_weights = 1;
    plan->weights[0] = (tc_weight_decl){.name = "weight",
                                        .shape = {.ndim = 1, .dims = {in[0].dims[1]}},
                                        .init = TC_INIT_CONSTANT, .a = 2.0,
                                        .fan_in = 1, .fan_out = 1};
    return 0;
}

static int fail_export(const tc_host *host, void *self, const tc_onnx_writer *w, tc_error *err)
{
    (void)self;
    (void)w;
    host->set_error(err, "cannot map mode %d", 7);
    return 1;
}

/* Writes an intermediate value, never w->output. */
static int forget_export(const tc_host *host, void *self, const tc_onnx_writer *w, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    return w->node(w->ctx, "Identity", w->inputs, 1, w->temp(w->ctx, "copy")) < 0;
}

static int no_weight_export(const tc_host *host, void *self, const tc_onnx_writer *w,
                            tc_error *err)
{
    TPU_UNUSED(host, self, err);
    const char *in[2] = {w->inputs[0], w->weight(w->ctx, 1, NULL)};
    return !in[1] || w->node(w->ctx, "Mul", in, 2, w->output) < 0;
}

static int bad_reshape_export(const tc_host *host, void *self, const tc_onnx_writer *w,
                              tc_error *err)
{
    TPU_UNUSED(host, self, err);
    tc_shape as = {.ndim = 2, .dims = {w->input_shapes[0].dims[1], 2}};
    const char *in[2] = {w->inputs[0], w->weight(w->ctx, 0, &as)};
    return !in[1] || w->node(w->ctx, "Mul", in, 2, w->output) < 0;
}

/* y = x * weight[c] + 0.5 through a Mul to a temp and an Add, and an
 * attribute on the Mul the checks below look for. */
static int good_export(const tc_host *host, void *self, const tc_onnx_writer *w, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    const tc_shape *s = &w->input_shapes[0];
    tc_shape per_c = {.ndim = 3, .dims = {s->dims[1], 1, 1}}, one = {.ndim = 1, .dims = {1}};
    const float half = 0.5f;
    const char *mul_in[2] = {w->inputs[0], w->weight(w->ctx, 0, &per_c)};
    const char *mid = w->temp(w->ctx, "scaled");
    const char *add_in[2] = {mid, w->constant(w->ctx, "shift", &one, &half)};
    if (!mul_in[1] || !mid || !add_in[1])
        return 1;
    int m = w->node(w->ctx, "Mul", mul_in, 2, mid);
    return m < 0 || w->attr_int(w->ctx, m, "tag", 42) != 0 ||
           w->node(w->ctx, "Add", add_in, 2, w->output) < 0;
}

#define TYPE(layer, plan_fn, export_fn)                                                  \
    {TPU_TYPE_HEAD(layer, "test", 1, 1), TPU_TYPE_STATELESS(plan_fn, ident_fwd, NULL),    \
     .onnx_export = (export_fn)}
static const tc_layer_type types[] = {
    TYPE("TNoExport", tpu_plan_same, NULL),
    TYPE("TFailExport", tpu_plan_same, fail_export),
    TYPE("TForgetExport", tpu_plan_same, forget_export),
    TYPE("TNoWeight", weighted_plan, no_weight_export),
    TYPE("TBadReshape", weighted_plan, bad_reshape_export),
    TYPE("TGoodExport", weighted_plan, good_export),
};
/* A type built with a tc_layer_type that ends before onnx_export. */
static const tc_layer_type short_type = {
    .struct_size = offsetof(tc_layer_type, onnx_export), .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "TShort", .summary = "test", .min_inputs = 1, .max_inputs = 1,
    TPU_TYPE_STATELESS(tpu_plan_same, ident_fwd, NULL), .onnx_export = good_export};

static tc_registry *reg;

static tc_registry *test_registry(void)
{
    tc_error err = {{0}};
    if (reg)
        return reg;
    reg = tc_registry_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
    TCU_ASSERT_OK(tc_registry_load_dir(reg, TC_TEST_PLUGIN_DIR, &err), &err);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        TCU_ASSERT_OK(tc_registry_add(reg, &types[i], "test", &err), &err);
    TCU_ASSERT_OK(tc_registry_add(reg, &short_type, "test", &err), &err);
    return reg;
}

/* The graph x [2,3,3] -> node "p" of type `type` -> Flatten, exported:
 * tc_onnx_export's status, err filled, *bytes the file (Owner: the caller). */
static int export_type(const char *type, uint8_t **bytes, size_t *len, tc_error *err)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 3, 3]}],"
             " \"nodes\": [{\"name\": \"p\", \"type\": \"%s\", \"inputs\": [\"x\"]},"
             " {\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"p\"]}],"
             " \"output\": \"flat\"}", type);
    tc_graph *g = tc_graph_load_string(test_registry(), json, "plugin.json", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 1);
    *bytes = NULL;
    int rc = tc_onnx_export(g, NULL, bytes, len, err);
    tc_graph_free(g);
    return rc;
}

static void expect_refused(const char *type, const char *needle)
{
    tc_error err = {{0}};
    uint8_t *b = NULL;
    size_t len = 0;
    TCU_ASSERT_FAILS_WITH(export_type(type, &b, &len, &err), &err, needle);
    char label[128];
    snprintf(label, sizeof label, "node 'p' (%s): ", type);
    if (!strstr(needle, "no ONNX mapping")) /* that message names both in its own words */
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, label));
    CU_ASSERT_PTR_NULL(b);
    free(b);
}

static void test_refusals(void)
{
    expect_refused("TNoExport", "node 'p': layer type 'TNoExport' has no ONNX mapping");
    expect_refused("TShort", "node 'p': layer type 'TShort' has no ONNX mapping");
    expect_refused("TFailExport", "onnx_export failed: cannot map mode 7");
    expect_refused("TForgetExport", "returned 0 but no ONNX node writes its output 'p'");
    expect_refused("TNoWeight", "weight(): no such weight");
    expect_refused("TBadReshape", "weight(): the shape asked for holds another number");
}

static const Onnx__NodeProto *node_writing(const Onnx__GraphProto *g, const char *out)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->n_output == 1 && strcmp(g->node[i]->output[0], out) == 0)
            return g->node[i];
    return NULL;
}

static const Onnx__TensorProto *initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

static void test_good_export(void)
{
    tc_error err = {{0}};
    uint8_t *b = NULL;
    size_t len = 0;
    TCU_ASSERT_OK(export_type("TGoodExport", &b, &len, &err), &err);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const Onnx__GraphProto *g = m->graph;
    const Onnx__NodeProto *add = node_writing(g, "p");
    CU_ASSERT_PTR_NOT_NULL_FATAL(add);
    CU_ASSERT_STRING_EQUAL(add->op_type, "Add");
    CU_ASSERT_EQUAL_FATAL(add->n_input, 2);
    const Onnx__NodeProto *mul = node_writing(g, add->input[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mul);
    CU_ASSERT_STRING_EQUAL(mul->op_type, "Mul");
    CU_ASSERT_STRING_EQUAL(mul->name, "p");
    CU_ASSERT_PTR_NOT_NULL(strstr(add->input[0], "p/scaled"));
    CU_ASSERT_EQUAL_FATAL(mul->n_attribute, 1);
    CU_ASSERT_STRING_EQUAL(mul->attribute[0]->name, "tag");
    CU_ASSERT_EQUAL(mul->attribute[0]->i, 42);
    const Onnx__TensorProto *w = initializer(g, mul->input[1]);
    const Onnx__TensorProto *shift = initializer(g, "p/shift");
    CU_ASSERT_STRING_EQUAL(mul->input[1], "p.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_EQUAL_FATAL(w->n_dims, 3);
    CU_ASSERT(w->dims[0] == 2 && w->dims[1] == 1 && w->dims[2] == 1);
    CU_ASSERT_EQUAL_FATAL(w->raw_data.len + w->n_float_data * 4, 2 * sizeof(float));
    float wv[2];
    memcpy(wv, w->raw_data.len ? (const void *)w->raw_data.data : (const void *)w->float_data,
           sizeof wv);
    CU_ASSERT(wv[0] == 2.0f && wv[1] == 2.0f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(shift);
    CU_ASSERT_STRING_EQUAL(add->input[1], "p/shift");
    /* the next layer reads the plugin's output */
    const Onnx__NodeProto *flat = node_writing(g, "flat");
    CU_ASSERT_PTR_NOT_NULL_FATAL(flat);
    CU_ASSERT_STRING_EQUAL(flat->input[0], "p");
    onnx__model_proto__free_unpacked(m, NULL);
    free(b);
}

int main(void)
{
    const tcu_test tests[] = {
        {"refusals name node and type", test_refusals},
        {"a plugin's mapping in the file", test_good_export},
        {NULL, NULL},
    };
    int rc = tcu_run("onnx_plugin", tests);
    tc_registry_free(reg);
    return rc;
}
