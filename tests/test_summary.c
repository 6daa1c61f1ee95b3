/* The model summary (tinycnn/summary.h, `tinycnn summary`): per-node shapes,
 * weights and state against hand-computed figures and the graph's own
 * counts; FLOPs from a type's flops() (ABI 2.1), unknown for a type
 * without it (or built before 2.1), with totals that say so. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/summary.h"

/* conv 3->4, 3x3, padding 1 on 3x8x8; BN; ReLU; 2x2 max pool; Linear 64->10 */
static const char convnet[] =
    "{\"name\": \"convnet\", \"inputs\": [{\"name\": \"image\", \"shape\": [3, 8, 8]},"
    " {\"name\": \"label\", \"shape\": [], \"role\": \"label\"}],"
    " \"nodes\": ["
    "  {\"name\": \"conv\", \"type\": \"Conv2d\", \"inputs\": [\"image\"],"
    "   \"params\": {\"out_channels\": 4, \"kernel_size\": 3, \"padding\": 1}},"
    "  {\"name\": \"bn\", \"type\": \"BatchNorm2d\", \"inputs\": [\"conv\"]},"
    "  {\"name\": \"relu\", \"type\": \"ReLU\", \"inputs\": [\"bn\"]},"
    "  {\"name\": \"pool\", \"type\": \"MaxPool2d\", \"inputs\": [\"relu\"],"
    "   \"params\": {\"kernel_size\": 2, \"stride\": 2}},"
    "  {\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"pool\"]},"
    "  {\"name\": \"fc\", \"type\": \"Linear\", \"inputs\": [\"flat\"],"
    "   \"params\": {\"out_features\": 10}},"
    "  {\"name\": \"loss\", \"type\": \"SoftmaxCrossEntropy\", \"inputs\": [\"fc\", \"label\"]}],"
    " \"output\": \"fc\", \"loss\": \"loss\"}";

static tc_graph *load(const char *text)
{
    tc_error err = {{0}};
    tc_graph *g =
        tcu_graph_ok(tc_graph_load_string(tcu_registry(), text, "test model", &err), &err);
    return g;
}

static int64_t state_elements(tc_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < tc_graph_n_states(g); i++)
        n += tc_shape_count(&tc_graph_state(g, i)->value.shape);
    return n;
}

/* The summary of g into *s; g must have n_nodes nodes. */
static void summarize(const tc_graph *g, tc_summary *s, int n_nodes)
{
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_summary_make(g, s, &err), &err);
    CU_ASSERT_EQUAL_FATAL(s->n_nodes, n_nodes);
}

static void test_shapes_weights_state(void)
{
    tc_graph *g = load(convnet);
    tc_summary s;
    summarize(g, &s, 7);
    /* weights by hand: conv 4*3*3*3 + 4, BN gamma and beta 2*4, fc 64*10 + 10 */
    const int64_t weights[7] = {112, 8, 0, 0, 0, 650, 0};
    const int64_t state[7] = {0, 8, 0, 0, 0, 0, 0}; /* BN's running mean and variance */
    const int depth[7] = {1, 2, 3, 4, 5, 6, 7};
    int64_t wsum = 0, ssum = 0;
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL(s.nodes[i].weights, weights[i]);
        CU_ASSERT_EQUAL(s.nodes[i].state, state[i]);
        CU_ASSERT_EQUAL(s.nodes[i].depth, depth[i]);
        wsum += s.nodes[i].weights;
        ssum += s.nodes[i].state;
    }
    CU_ASSERT(tcu_assert_shape(&s.nodes[0].output, (tc_shape){3, 0, {4, 8, 8}}));
    CU_ASSERT(tcu_assert_shape(&s.nodes[3].output, (tc_shape){3, 0, {4, 4, 4}}));
    CU_ASSERT(tcu_assert_shape(&s.nodes[4].output, (tc_shape){1, 0, {64}}));
    CU_ASSERT(tcu_assert_shape(&s.nodes[5].output, (tc_shape){1, 0, {10}}));
    CU_ASSERT(s.nodes[6].is_loss && !s.nodes[5].is_loss);
    CU_ASSERT_EQUAL(s.nodes[6].n_inputs, 2);
    CU_ASSERT_STRING_EQUAL(s.nodes[6].inputs[1].name, "label");
    CU_ASSERT(s.nodes[6].inputs[1].is_graph_input);
    CU_ASSERT_EQUAL(s.nodes[6].inputs[0].index, 5);
    CU_ASSERT_EQUAL(s.weights, wsum);
    CU_ASSERT_EQUAL(s.weights, tc_graph_n_weight_elements(g));
    CU_ASSERT_EQUAL(s.state, ssum);
    CU_ASSERT_EQUAL(s.state, state_elements(g));
    tc_summary_free(&s);
    tc_graph_free(g);
}

/* The standard layers count their FLOPs (a multiply-add is 2). */
static void test_standard_flops(void)
{
    tc_graph *g = load(convnet);
    tc_summary s;
    summarize(g, &s, 7);
    /* conv: 4*8*8 outputs, each 3*3*3 multiply-adds and a bias */
    CU_ASSERT_EQUAL(s.nodes[0].flops, 256 * (2 * 27 + 1));
    /* fc: 10 outputs, each 64 multiply-adds and a bias */
    CU_ASSERT_EQUAL(s.nodes[5].flops, 10 * (2 * 64 + 1));
    CU_ASSERT_EQUAL(s.nodes[2].flops, 256);  /* ReLU: a comparison per element */
    CU_ASSERT_EQUAL(s.nodes[4].flops, 0);    /* Flatten: a copy */
    int64_t sum = 0;
    for (int i = 0; i < s.n_nodes; i++) {
        CU_ASSERT(s.nodes[i].flops >= 0);
        sum += s.nodes[i].flops;
    }
    CU_ASSERT_EQUAL(s.flops_unknown, 0);
    CU_ASSERT_EQUAL(s.flops, sum);
    tc_summary_free(&s);
    tc_graph_free(g);
}

/* ---- FLOPs through the ABI: types registered here -------------------- */

static int same_plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt,
                     tc_plan *p, tc_error *err)
{
    (void)host, (void)self, (void)n, (void)nt, (void)err;
    p->output = in[0];
    return 0;
}

static int copy_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)self, (void)err;
    memcpy(x->output->data, x->inputs[0].data,
           sizeof(float) * (size_t)tc_shape_count(&x->inputs[0].shape));
    return 0;
}

/* 5 per element, asked at batch 1 (anything else counts wrong on purpose) */
static int64_t five_flops(const tc_host *host, void *self, const tc_shape *in, int n)
{
    (void)self;
    CU_ASSERT_PTR_NOT_NULL(host);
    CU_ASSERT_EQUAL(n, 1);
    return in[0].dims[0] == 1 ? 5 * tc_shape_count(&in[0]) : -1000000;
}

static const tc_layer_type t_counted = {
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "TCounted", .summary = "copy, counts 5 per element", .min_inputs = 1,
    .max_inputs = 1, .plan = same_plan, .forward = copy_fwd, .flops = five_flops};
static const tc_layer_type t_uncounted = {
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "TUncounted", .summary = "copy, no flops()", .min_inputs = 1, .max_inputs = 1,
    .plan = same_plan, .forward = copy_fwd};
/* a type built before 2.1: its struct ends where flops() would begin, and
 * what lies past it (here a function that would count) is never read */
static const struct {
    tc_layer_type t;
} t_old_holder = {{.struct_size = offsetof(tc_layer_type, flops),
                   .abi_version = TC_PLUGIN_ABI_VERSION, .name = "TOld", .summary = "2.0 type",
                   .min_inputs = 1, .max_inputs = 1, .plan = same_plan, .forward = copy_fwd,
                   .flops = five_flops}};

static const char counted_net[] =
    "{\"name\": \"counted\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 3, 3]}],"
    " \"nodes\": ["
    "  {\"name\": \"a\", \"type\": \"TCounted\", \"inputs\": [\"x\"]},"
    "  {\"name\": \"b\", \"type\": \"TUncounted\", \"inputs\": [\"a\"]},"
    "  {\"name\": \"c\", \"type\": \"TCounted\", \"inputs\": [\"b\"]},"
    "  {\"name\": \"d\", \"type\": \"TOld\", \"inputs\": [\"c\"]}],"
    " \"output\": \"d\"}";

static void register_test_types(void)
{
    static int done;
    tc_error err = {{0}};
    if (done++)
        return;
    TCU_ASSERT_OK(tc_registry_add(tcu_registry(), &t_counted, "test_summary", &err), &err);
    TCU_ASSERT_OK(tc_registry_add(tcu_registry(), &t_uncounted, "test_summary", &err), &err);
    TCU_ASSERT_OK(tc_registry_add(tcu_registry(), &t_old_holder.t, "test_summary", &err), &err);
}

static void test_flops_through_the_abi(void)
{
    register_test_types();
    tc_graph *g = load(counted_net);
    tc_summary s;
    summarize(g, &s, 4);
    CU_ASSERT_EQUAL(s.nodes[0].flops, 90); /* 5 * 18 elements */
    CU_ASSERT_EQUAL(s.nodes[1].flops, -1);
    CU_ASSERT_EQUAL(s.nodes[2].flops, 90);
    CU_ASSERT_EQUAL(s.nodes[3].flops, -1);
    CU_ASSERT_EQUAL(s.flops, 180);
    CU_ASSERT_EQUAL(s.flops_unknown, 2);
    char *json = tc_summary_json(g, &s);
    json_t *o = json_loads(json, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    json_t *tot = json_object_get(o, "totals");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(tot, "flops")), 180);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(tot, "flops_unknown_nodes")), 2);
    CU_ASSERT(json_is_null(json_object_get(json_array_get(json_object_get(o, "nodes"), 1),
                                           "flops")));
    json_decref(o);
    free(json);
    tc_summary_free(&s);
    tc_graph_free(g);
}

/* ---- the command ------------------------------------------------------ */

static char *run_summary(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/bin/tinycnn' summary %s 2>&1", TC_TEST_BINARY_DIR, args);
    int st;
    char *buf = tcu_read_command(cmd, &st);
    CU_ASSERT_EQUAL(st, 0);
    return buf;
}

static void test_command(void)
{
    char path[600];
    snprintf(path, sizeof path, "'%s'", tcu_write_file("convnet.json", convnet, strlen(convnet)));
    char *text = run_summary(path);
    const char *names[] = {"conv", "bn", "relu", "pool", "flat", "fc", "loss"};
    for (int i = 0; i < 7; i++)
        CU_ASSERT(strstr(text, names[i]) != NULL);
    CU_ASSERT(strstr(text, "total: 770 weights, 8 state elements") != NULL);
    free(text);
    char args[700];
    snprintf(args, sizeof args, "%s --json", path);
    char *json = run_summary(args);
    json_t *o = json_loads(json, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    json_t *nodes = json_object_get(o, "nodes"), *e;
    size_t i;
    int64_t w = 0;
    json_array_foreach(nodes, i, e) w += json_integer_value(json_object_get(e, "weights"));
    CU_ASSERT_EQUAL(json_array_size(nodes), 7);
    CU_ASSERT_EQUAL(w, 770);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "totals"), "weights")),
                    770);
    json_decref(o);
    free(json);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"shapes, weights and state per node; totals", test_shapes_weights_state},
        {"FLOPs of the standard conv and linear layers by hand; totals", test_standard_flops},
        {"FLOPs from flops(); unknown without it or before 2.1", test_flops_through_the_abi},
        {"tinycnn summary: table and --json", test_command},
        {NULL, NULL}};
    return tcu_run("summary", tests);
}
