/* The JSON graph: loading, every load error, topological order independent
 * of file order, deterministic initialisation, fan-out gradient sums, and
 * inference skipping the loss. Small layer types defined here keep these
 * tests independent of the standard plugins; the LeNet-5 tests use those. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/test_plugin_util.h"
#include "testutil.h"

/* ---- test layer types -------------------------------------------------- */

/* TScale: y = w * x, one weight "w" [1] initialised to the constant `init`
 * (the instance is a tpu_value holding init). */
static const tc_param_desc scale_params[] = {
    {"init", TC_VALUE_FLOAT, 0, 2.0, -100, 100, "initial w"},
};
static int scale_create(const tc_host *h, const double *v, void **self, tc_error *err)
{
    return tpu_create_value(h, v, self, "TScale", err);
}
static int scale_plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt, tc_plan *p, tc_error *err)
{
    TPU_UNUSED(host, n, nt);
    (void)err;
    p->output = in[0];
    p->n_weights = 1;
    p->weights[0] = (tc_weight_decl){.name = "w", .shape = {1, 0, {1}}, .init = TC_INIT_CONSTANT,
                                     .a = ((const tpu_value *)self)->v};
    return 0;
}
static int scale_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->output->shape);
    for (int64_t i = 0; i < n; i++)
        x->output->data[i] = x->weights[0].data[0] * x->inputs[0].data[i];
    return 0;
}
static int scale_bwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->output->shape);
    float gw = 0;
    for (int64_t i = 0; i < n; i++) {
        gw += x->grad_output->data[i] * x->inputs[0].data[i];
        if (x->grad_inputs[0].data)
            x->grad_inputs[0].data[i] = x->weights[0].data[0] * x->grad_output->data[i];
    }
    x->grad_weights[0].data[0] = gw;
    return 0;
}
static const tc_layer_type t_scale = {
    TPU_TYPE_HEAD("TScale", "y = w x", 1, 1),
    TPU_TYPE_PARAMS(scale_params),
    TPU_TYPE_FUNCS(scale_create, scale_plan, scale_fwd, scale_bwd),
};

/* TAdd: y = a + b */
static int add_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->output->shape);
    for (int64_t i = 0; i < n; i++)
        x->output->data[i] = x->inputs[0].data[i] + x->inputs[1].data[i];
    return 0;
}
static int add_bwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    for (int j = 0; j < 2; j++)
        if (x->grad_inputs[j].data)
            tpu_copy(x->grad_inputs[j].data, x->grad_output->data, &x->output->shape);
    return 0;
}
static const tc_layer_type t_add = {
    TPU_TYPE_HEAD("TAdd", "a + b", 2, 2),
    TPU_TYPE_STATELESS(tpu_plan_same, add_fwd, add_bwd),
};

/* TIdent: y = x */
static int ident_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    tpu_copy(x->output->data, x->inputs[0].data, &x->output->shape);
    return 0;
}
static const tc_layer_type t_ident = {
    TPU_TYPE_HEAD("TIdent", "y = x", 1, 1),
    TPU_TYPE_STATELESS(tpu_plan_same, ident_fwd, tpu_identity_backward),
};

/* TLoss: loss = sum(x) (ignores the label); counts its forward calls. */
static int loss_calls;
static int loss_plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt, tc_plan *p, tc_error *err)
{
    TPU_UNUSED(host, self, in);
    TPU_UNUSED(n, nt, err);
    p->output.ndim = 1;
    p->output.dims[0] = 1;
    return 0;
}
static int loss_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    loss_calls++;
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x->inputs[0].data[i];
    x->output->data[0] = s;
    return 0;
}
static int loss_bwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++)
        x->grad_inputs[0].data[i] = x->grad_output->data[0];
    CU_ASSERT_PTR_NULL(x->grad_inputs[1].data); /* labels get no gradient */
    return 0;
}
static const tc_layer_type t_loss = {
    TPU_TYPE_HEAD("TLoss", "sum", 2, 2),
    .flags = TC_LAYER_LOSS,
    TPU_TYPE_STATELESS(loss_plan, loss_fwd, loss_bwd),
};

static tc_registry *test_registry(void)
{
    static tc_registry *reg;
    if (!reg) {
        tc_error err;
        reg = tc_registry_new();
        CU_ASSERT_FATAL(reg != NULL);
        CU_ASSERT_FATAL(tc_registry_add(reg, &t_scale, "test", &err) == 0);
        CU_ASSERT_FATAL(tc_registry_add(reg, &t_add, "test", &err) == 0);
        CU_ASSERT_FATAL(tc_registry_add(reg, &t_ident, "test", &err) == 0);
        CU_ASSERT_FATAL(tc_registry_add(reg, &t_loss, "test", &err) == 0);
    }
    return reg;
}

/* Loads a graph of the test types; fatal (with the message) when it is refused. */
static tc_graph *load_ok(const char *text, const char *file)
{
    tc_error err = {{0}};
    return tcu_graph_ok(tc_graph_load_string(test_registry(), text, file, &err), &err);
}

#define HEAD "{\"name\":\"t\",\"inputs\":[{\"name\":\"x\",\"shape\":[1]}," \
             "{\"name\":\"y\",\"shape\":[],\"role\":\"label\"}],"

/* x -> s -> (i1, i2) -> sum -> L: a fan-out summed again. */
#define FANOUT                                                                              \
    HEAD "\"nodes\":["                                                                      \
         "{\"name\":\"s\",\"type\":\"TScale\",\"inputs\":[\"x\"]},"                        \
         "{\"name\":\"i1\",\"type\":\"TIdent\",\"inputs\":[\"s\"]},"                       \
         "{\"name\":\"i2\",\"type\":\"TIdent\",\"inputs\":[\"s\"]},"                       \
         "{\"name\":\"sum\",\"type\":\"TAdd\",\"inputs\":[\"i1\",\"i2\"]},"               \
         "{\"name\":\"L\",\"type\":\"TLoss\",\"inputs\":[\"sum\",\"y\"]}],"              \
         "\"output\":\"sum\",\"loss\":\"L\"}"

/* ---- tests ------------------------------------------------------------- */

static void test_load_ok_and_order(void)
{
    /* the same graph with its nodes in two different file orders */
    const char *a = FANOUT;
    const char *b = HEAD "\"nodes\":["
                         "{\"name\":\"L\",\"type\":\"TLoss\",\"inputs\":[\"sum\",\"y\"]},"
                         "{\"name\":\"sum\",\"type\":\"TAdd\",\"inputs\":[\"i1\",\"i2\"]},"
                         "{\"name\":\"i2\",\"type\":\"TIdent\",\"inputs\":[\"s\"]},"
                         "{\"name\":\"i1\",\"type\":\"TIdent\",\"inputs\":[\"s\"]},"
                         "{\"name\":\"s\",\"type\":\"TScale\",\"inputs\":[\"x\"]}],"
                         "\"output\":\"sum\",\"loss\":\"L\"}";
    tc_graph *ga = load_ok(a, "a.json");
    tc_graph *gb = load_ok(b, "b.json");
    CU_ASSERT_EQUAL(tc_graph_n_nodes(ga), 5);
    CU_ASSERT_EQUAL(tc_graph_n_nodes(gb), 5);
    /* identical execution order, and each node after the nodes it reads */
    for (int i = 0; i < 5; i++)
        CU_ASSERT_STRING_EQUAL(tc_graph_node_name(ga, i), tc_graph_node_name(gb, i));
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(ga, 0), "s");
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(ga, 1), "i1");
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(ga, 2), "i2");
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(ga, 3), "sum");
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(ga, 4), "L");
    CU_ASSERT_EQUAL(tc_graph_n_weights(ga), 1);
    CU_ASSERT_STRING_EQUAL(tc_graph_weight(ga, 0)->name, "s.w");
    CU_ASSERT_EQUAL(tc_graph_image_input(ga), 0);
    CU_ASSERT_EQUAL(tc_graph_label_input(ga), 1);
    tc_graph_free(ga);
    tc_graph_free(gb);
}

/* x -> s (w=2) fans out to i1 and i2, summed: L = sum(2 w x) so dL/dw = 2 sum(x). */
static void test_fanout_gradient_sum(void)
{
    const char *a = FANOUT;
    /* the same value twice as the inputs of one node */
    const char *b = HEAD "\"nodes\":["
                         "{\"name\":\"s\",\"type\":\"TScale\",\"inputs\":[\"x\"]},"
                         "{\"name\":\"sum\",\"type\":\"TAdd\",\"inputs\":[\"s\",\"s\"]},"
                         "{\"name\":\"L\",\"type\":\"TLoss\",\"inputs\":[\"sum\",\"y\"]}],"
                         "\"output\":\"sum\",\"loss\":\"L\"}";
    const char *models[] = {a, b};
    for (int m = 0; m < 2; m++) {
        tc_error err = {{0}};
        tc_graph *g = load_ok(models[m], "fan.json");
        tc_graph_init_weights(g, 1);
        CU_ASSERT_EQUAL(tc_graph_weight(g, 0)->value.data[0], 2.0f);
        TCU_ASSERT_OK(tc_graph_prepare(g, 3, 1, &err), &err);
        float *x = tc_graph_input_data(g, 0);
        x[0] = 1;
        x[1] = 2;
        x[2] = 3;
        TCU_ASSERT_OK(tc_graph_forward(g, 1, 0, &err), &err);
        CU_ASSERT_DOUBLE_EQUAL(tc_graph_loss(g), 24.0, 1e-6); /* 2 * 2 * 6 */
        TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
        CU_ASSERT_DOUBLE_EQUAL(tc_graph_weight(g, 0)->grad.data[0], 12.0, 1e-6);
        /* a second backward gives the same, not a doubled, gradient */
        TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
        CU_ASSERT_DOUBLE_EQUAL(tc_graph_weight(g, 0)->grad.data[0], 12.0, 1e-6);
        tc_graph_free(g);
    }
}

static void test_inference_skips_loss(void)
{
    const char *a = HEAD "\"nodes\":["
                         "{\"name\":\"s\",\"type\":\"TScale\",\"inputs\":[\"x\"],"
                         "\"params\":{\"init\":3}},"
                         "{\"name\":\"L\",\"type\":\"TLoss\",\"inputs\":[\"s\",\"y\"]}],"
                         "\"output\":\"s\",\"loss\":\"L\"}";
    tc_error err = {{0}};
    tc_graph *g = load_ok(a, "inf.json");
    tc_graph_init_weights(g, 7);
    TCU_ASSERT_OK(tc_graph_prepare(g, 2, 0, &err), &err);
    tc_graph_input_data(g, 0)[0] = 1.5f;
    tc_graph_input_data(g, 0)[1] = -1.0f;
    loss_calls = 0;
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 0, &err), &err);
    CU_ASSERT_EQUAL(loss_calls, 0);
    const tc_tensor *out = tc_graph_output(g);
    CU_ASSERT_EQUAL(out->shape.dims[0], 2);
    CU_ASSERT_DOUBLE_EQUAL(out->data[0], 4.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(out->data[1], -3.0, 1e-6);
    /* a training forward without a training prepare is refused */
    CU_ASSERT_NOT_EQUAL(tc_graph_forward(g, 1, 0, &err), 0);
    TCU_ASSERT_OK(tc_graph_prepare(g, 2, 1, &err), &err);
    TCU_ASSERT_OK(tc_graph_forward(g, 1, 0, &err), &err);
    CU_ASSERT_EQUAL(loss_calls, 1);
    tc_graph_free(g);
}

typedef struct bad_case {
    const char *json;
    const char *needle1, *needle2;
} bad_case;

/* Each case's JSON, loaded from `file`, must be refused with a message holding
 * its two needles and `also` ("" for nothing more). */
static void expect_load_errors(tc_registry *reg, const bad_case *cases, size_t n,
                               const char *file, const char *also)
{
    for (size_t i = 0; i < n; i++) {
        tc_error err = {{0}};
        tc_graph *g = tc_graph_load_string(reg, cases[i].json, file, &err);
        CU_ASSERT_PTR_NULL(g);
        tc_graph_free(g);
        int ok = strstr(err.msg, also) && strstr(err.msg, cases[i].needle1) &&
                 strstr(err.msg, cases[i].needle2);
        if (!ok)
            fprintf(stderr, "\n  case %zu: expected '%s' and '%s' in: %s\n", i, cases[i].needle1,
                    cases[i].needle2, err.msg);
        CU_ASSERT(ok);
    }
}

static void test_load_errors(void)
{
    static const bad_case cases[] = {
        {"{\"name\": \"t\",\n \"inputs\": [\n  {\"name\": }", "bad.json:3:", "malformed JSON"},
        {"[1,2]", "bad.json", "must be a JSON object"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"Nope\",\"inputs\":[\"x\"]}],\"output\":\"a\"}",
         "node 'a'", "unknown layer type 'Nope'"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"q\"]}],\"output\":\"a\"}",
         "node 'a'", "unknown input 'q'"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"]},"
              "{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"]}],\"output\":\"a\"}",
         "duplicate node name 'a'", "bad.json"},
        {HEAD "\"nodes\":[{\"name\":\"x\",\"type\":\"TIdent\",\"inputs\":[\"y\"]}],\"output\":\"x\"}",
         "node 'x'", "name of a graph input"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"c\"]},"
              "{\"name\":\"b\",\"type\":\"TIdent\",\"inputs\":[\"a\"]},"
              "{\"name\":\"c\",\"type\":\"TIdent\",\"inputs\":[\"b\"]},"
              "{\"name\":\"d\",\"type\":\"TIdent\",\"inputs\":[\"x\"]}],\"output\":\"d\"}",
         "cycle", "a -> b -> c -> a"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"a\"]}],\"output\":\"a\"}",
         "cycle", "a -> a"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TScale\",\"inputs\":[\"x\"],"
              "\"params\":{\"init\":\"big\"}}],\"output\":\"a\"}",
         "node 'a' (TScale)", "parameter 'init' must be a number, got \"big\""},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TScale\",\"inputs\":[\"x\"],"
              "\"params\":{\"init\":1000}}],\"output\":\"a\"}",
         "node 'a' (TScale)", "'init' = 1000 is out of range [-100, 100]"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TScale\",\"inputs\":[\"x\"],"
              "\"params\":{\"inti\":1}}],\"output\":\"a\"}",
         "node 'a' (TScale)", "unknown parameter 'inti'"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TAdd\",\"inputs\":[\"x\"]}],\"output\":\"a\"}",
         "node 'a' (TAdd)", "takes 2 inputs, got 1"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"]}],\"output\":\"b\"}",
         "\"output\" names 'b'", "not a node"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"]}],"
              "\"output\":\"a\",\"loss\":\"a\"}",
         "node 'a' of type TIdent", "not a loss"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"y\"]}],\"output\":\"a\"}",
         "node 'a' (TIdent)", "label input 'y'"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[2147483648,2147483648,2147483648]}],"
         "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"]}],\"output\":\"a\"}",
         "input 'x'", "too large"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"],\"parms\":{}}],"
              "\"output\":\"a\"}",
         "node 'a'", "unknown key 'parms'"},
        {HEAD "\"nodes\":[],\"output\":\"a\"}", "bad.json", "non-empty array"},
        {HEAD "\"nodes\":[{\"name\":\"a\",\"type\":\"TIdent\",\"inputs\":[\"x\"]}],\"output\":\"a\","
              "\"training\":{\"epochs\":0}}",
         "training.epochs", "[1, 100000]"},
    };
    expect_load_errors(test_registry(), cases, sizeof cases / sizeof cases[0], "bad.json", "");
}

static void test_load_file_errors(void)
{
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(tc_graph_load_file(test_registry(), "/nonexistent/m.json", &err) == NULL,
                          &err, "/nonexistent/m.json");
    const char *p = tcu_write_file("trunc.json", "{\"name\": \"t\", \"inputs\": [", 25);
    TCU_ASSERT_FAILS_WITH(tc_graph_load_file(test_registry(), p, &err) == NULL, &err, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "malformed JSON"));
}

/* A 10,000-node chain loads (no recursion, no quadratic blow-up) and runs. */
static void test_long_chain(void)
{
    enum { N = 10000 };
    size_t cap = (size_t)N * 80 + 512;
    char *buf = malloc(cap);
    size_t o = (size_t)snprintf(buf, cap, HEAD "\"nodes\":[");
    /* written in reverse so the loader must really order them */
    for (int i = N - 1; i >= 0; i--) {
        char prev[32];
        if (i == 0)
            snprintf(prev, sizeof prev, "x");
        else
            snprintf(prev, sizeof prev, "n%d", i - 1);
        o += (size_t)snprintf(buf + o, cap - o,
                              "{\"name\":\"n%d\",\"type\":\"TIdent\",\"inputs\":[\"%s\"]}%s", i,
                              prev, i ? "," : "");
    }
    snprintf(buf + o, cap - o, "],\"output\":\"n%d\"}", N - 1);
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_string(test_registry(), buf, "chain.json", &err);
    free(buf);
    if (!g)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(tc_graph_n_nodes(g), N);
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(g, 0), "n0");
    CU_ASSERT_STRING_EQUAL(tc_graph_node_name(g, N - 1), "n9999");
    TCU_ASSERT_OK(tc_graph_prepare(g, 1, 0, &err), &err);
    tc_graph_input_data(g, 0)[0] = 42.0f;
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 0, &err), &err);
    CU_ASSERT_EQUAL(tc_graph_output(g)->data[0], 42.0f);
    tc_graph_free(g);
}

/* models/lenet5.json with the standard plugins: shapes and weight counts
 * computed by hand (conv1 6*25+6, conv2 16*150+16, fc1 400*120+120,
 * fc2 120*84+84, fc3 84*10+10 = 61706). */
static void test_lenet5_shapes(void)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_file(tcu_registry(), TC_TEST_SOURCE_DIR "/models/lenet5.json",
                                     &err);
    if (!g)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(tc_graph_n_weights(g), 10);
    CU_ASSERT_EQUAL(tc_graph_n_weight_elements(g), 61706);
    CU_ASSERT_EQUAL(tc_graph_n_classes(g), 10);
    for (int i = 0; i < tc_graph_n_nodes(g); i++) {
        tc_shape s = tc_graph_node_shape(g, i);
        const char *n = tc_graph_node_name(g, i);
        if (strcmp(n, "conv1") == 0) {
            CU_ASSERT(s.ndim == 4 && s.dims[1] == 6 && s.dims[2] == 28 && s.dims[3] == 28);
        } else if (strcmp(n, "pool2") == 0) {
            CU_ASSERT(s.ndim == 4 && s.dims[1] == 16 && s.dims[2] == 5 && s.dims[3] == 5);
        } else if (strcmp(n, "flatten") == 0) {
            CU_ASSERT(s.ndim == 2 && s.dims[1] == 400);
        } else if (strcmp(n, "fc3") == 0) {
            CU_ASSERT(s.ndim == 2 && s.dims[1] == 10);
        }
    }
    tc_train_defaults d = {0};
    tc_graph_train_defaults(g, &d);
    CU_ASSERT(d.epochs > 0 && d.batch_size > 0 && d.lr > 0);
    tc_graph_free(g);
}

/* Initialisation depends on (seed, node, weight) only: not on node order. */
static void test_init_order_independent(void)
{
    /* the same model with its node list reversed */
    json_error_t jerr;
    json_t *root = json_load_file(TC_TEST_SOURCE_DIR "/models/lenet5.json", 0, &jerr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    char *text = json_dumps(root, 0);
    json_t *nodes = json_object_get(root, "nodes"), *rev = json_array();
    for (size_t i = json_array_size(nodes); i-- > 0;)
        json_array_append(rev, json_array_get(nodes, i));
    json_object_set_new(root, "nodes", rev);
    char *moved = json_dumps(root, 0);
    json_decref(root);

    tc_error err = {{0}};
    tc_graph *a = tc_graph_load_string(tcu_registry(), text, "a.json", &err);
    tc_graph *b = tc_graph_load_string(tcu_registry(), moved, "b.json", &err);
    if (!b)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    tc_graph_init_weights(a, 42);
    tc_graph_init_weights(b, 42);
    for (int i = 0; i < tc_graph_n_weights(a); i++) {
        tc_weight *wa = tc_graph_weight(a, i);
        tc_weight *wb = tc_graph_find_weight(b, wa->name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(wb);
        int64_t n = tc_shape_count(&wa->value.shape);
        CU_ASSERT(memcmp(wa->value.data, wb->value.data, sizeof(float) * (size_t)n) == 0);
    }
    /* another seed gives other weights; He-normal has the right spread */
    tc_graph_init_weights(b, 43);
    tc_weight *w1 = tc_graph_find_weight(a, "fc1.weight"), *w2 = tc_graph_find_weight(b, "fc1.weight");
    CU_ASSERT(memcmp(w1->value.data, w2->value.data, 64) != 0);
    double ss = 0;
    int64_t n = tc_shape_count(&w1->value.shape);
    for (int64_t i = 0; i < n; i++)
        ss += (double)w1->value.data[i] * w1->value.data[i];
    double std = sqrt(ss / (double)n), want = sqrt(2.0 / 400.0);
    CU_ASSERT(fabs(std - want) < 0.03 * want);
    tc_weight *bias = tc_graph_find_weight(a, "fc1.bias");
    CU_ASSERT_PTR_NOT_NULL_FATAL(bias);
    CU_ASSERT_EQUAL(bias->value.data[0], 0.0f);
    CU_ASSERT_EQUAL(bias->no_decay, 1);
    tc_graph_free(a);
    tc_graph_free(b);
    free(text);
    free(moved);
}

/* A Conv2d "c" with the parameters PARAMS (a JSON object) on a [1,4,4] image. */
#define CONV_MODEL(params)                                                                  \
    "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]}],\"nodes\":["                    \
    "{\"name\":\"c\",\"type\":\"Conv2d\",\"inputs\":[\"image\"],\"params\":" params       \
    "}],\"output\":\"c\"}"

static void test_shape_errors_from_plugins(void)
{
    static const bad_case cases[] = {
        /* Linear fed a 4-D tensor */
        {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,28,28]}],\"nodes\":["
         "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"image\"],\"params\":{\"out_features\":10}}],"
         "\"output\":\"fc\"}",
         "node 'fc' (Linear)", "Flatten"},
        /* a kernel larger than its padded input */
        {CONV_MODEL("{\"out_channels\":2,\"kernel_size\":5}"),
         "node 'c' (Conv2d)", "5"},
        /* a missing required parameter */
        {CONV_MODEL("{\"kernel_size\":3}"),
         "node 'c' (Conv2d)", "missing required parameter 'out_channels'"},
        /* zero, negative */
        {CONV_MODEL("{\"out_channels\":0,\"kernel_size\":3}"),
         "node 'c' (Conv2d)", "'out_channels' = 0 is out of range"},
        {CONV_MODEL("{\"out_channels\":2,\"kernel_size\":-3}"),
         "node 'c' (Conv2d)", "'kernel_size' = -3 is out of range"},
        {CONV_MODEL("{\"out_channels\":2.5,\"kernel_size\":3}"),
         "node 'c' (Conv2d)", "'out_channels' must be an integer, got 2.5"},
        /* a huge fully-connected layer whose weight count overflows (the
         * input is as large as an input may be: 2^31 values) */
        {"{\"inputs\":[{\"name\":\"image\",\"shape\":[32768,65536]}],\"nodes\":["
         "{\"name\":\"f\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
         "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"f\"],\"params\":{\"out_features\":16777216}}],"
         "\"output\":\"fc\"}",
         "node 'fc' (Linear)", ""},
    };
    expect_load_errors(tcu_registry(), cases, sizeof cases / sizeof cases[0], "shape.json",
                       "shape.json");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"load, order independent of file order", test_load_ok_and_order},
        {"fan-out gradients are summed", test_fanout_gradient_sum},
        {"inference skips the loss", test_inference_skips_loss},
        {"every load error names file and node", test_load_errors},
        {"file errors name the path", test_load_file_errors},
        {"10,000-node chain", test_long_chain},
        {"LeNet-5 shapes and weight count", test_lenet5_shapes},
        {"initialisation independent of node order", test_init_order_independent},
        {"shape and parameter errors from the standard layers", test_shape_errors_from_plugins},
        {NULL, NULL},
    };
    return tcu_run("graph", tests);
}
