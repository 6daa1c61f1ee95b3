/* Plugin ABI 2 in the graph: persistent layer state (allocation, initial
 * values, updates only in training, never touched by optimisers, saved and
 * restored by snapshots, named in a checkpoint that lacks it), the host
 * reaching every callback, static registration of a plugin linked into the
 * program (the standard ReLU, compiled here with TC_PLUGIN_STATIC), and the
 * refusal of a layer type built for ABI 1. */
#define _POSIX_C_SOURCE 200809L
/* the entries defined here are registered statically, not dlopen()ed */
#define TC_PLUGIN_STATIC
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/test_plugin_util.h"
#include "testutil.h"

/* ---- TTally: y = w * x + count, with state --------------------------------
 * Weight "w" [1] (constant 1). State "count" [1] (initial 0) counts training
 * forwards; state "sum" [F] (initial 2.5) adds the batch's per-feature mean
 * on every training forward. At inference y also adds count, so a lost or
 * stale state shows in the output. Every callback checks that it got the
 * host table. */

static const tc_host *expected_host;
static int host_mismatches;

static void see_host(const tc_host *host)
{
    if (host != expected_host)
        host_mismatches++;
}

static int tally_plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt,
                      tc_plan *p, tc_error *err)
{
    (void)self, (void)n, (void)nt, (void)err;
    see_host(host);
    p->output = in[0];
    p->n_weights = 1;
    p->weights[0] = (tc_weight_decl){.name = "w", .shape = {1, 0, {1}}, .init = TC_INIT_CONSTANT,
                                     .a = 1.0};
    p->n_state = 2;
    p->state[0] = (tc_state_decl){.name = "count", .shape = {1, 0, {1}}, .init_value = 0.0};
    p->state[1] = (tc_state_decl){.name = "sum", .shape = {1, 0, {in[0].dims[1]}},
                                  .init_value = 2.5};
    return 0;
}

static int tally_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self, (void)err;
    see_host(host);
    int64_t b = x->inputs[0].shape.dims[0], f = x->inputs[0].shape.dims[1];
    float w = x->weights[0].data[0], c = x->state[0].data[0];
    for (int64_t i = 0; i < b * f; i++)
        x->output->data[i] = w * x->inputs[0].data[i] + (x->training ? 0.0f : c);
    if (!x->training)
        return 0;
    x->state[0].data[0] += 1.0f;
    for (int64_t j = 0; j < f; j++) {
        float m = 0;
        for (int64_t i = 0; i < b; i++)
            m += x->inputs[0].data[i * f + j];
        x->state[1].data[j] += m / (float)b;
    }
    return 0;
}

static int tally_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self, (void)err;
    see_host(host);
    int64_t n = tc_shape_count(&x->output->shape);
    float gw = 0, w = x->weights[0].data[0];
    for (int64_t i = 0; i < n; i++) {
        gw += x->grad_output->data[i] * x->inputs[0].data[i];
        if (x->grad_inputs[0].data)
            x->grad_inputs[0].data[i] = w * x->grad_output->data[i];
    }
    x->grad_weights[0].data[0] = gw;
    return 0;
}

static const tc_layer_type t_tally = {
    TPU_TYPE_HEAD("TTally", "test layer with state", 1, 1),
    TPU_TYPE_STATELESS(tally_plan, tally_forward, tally_backward),
};

/* TSumLoss: mean of the logits (the label is ignored): a loss with no
 * parameters, so no create/destroy. */
static int sl_plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt,
                   tc_plan *p, tc_error *err)
{
    (void)self, (void)in, (void)n, (void)nt, (void)err;
    see_host(host);
    p->output = (tc_shape){1, 0, {1}};
    return 0;
}

static int sl_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self, (void)err;
    see_host(host);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x->inputs[0].data[i];
    x->output->data[0] = (float)(s / (double)n);
    return 0;
}

static int sl_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self, (void)err;
    see_host(host);
    int64_t n = tc_shape_count(&x->inputs[0].shape);
    for (int64_t i = 0; i < n; i++)
        x->grad_inputs[0].data[i] = x->grad_output->data[0] / (float)n;
    return 0;
}

static const tc_layer_type t_sumloss = {
    TPU_TYPE_HEAD("TSumLoss", "test loss", 2, 2),
    .flags = TC_LAYER_LOSS,
    TPU_TYPE_STATELESS(sl_plan, sl_forward, sl_backward),
};

/* ---- a test plugin registered statically, through TC_PLUGIN_DEFINE ------ */

TPU_PLUGIN_ENTRY2(test_state_types, t_tally, t_sumloss)

/* An entry that asks for a feature level no host offers yet. */
TC_PLUGIN_DEFINE(test_future)
{
    (void)ctx;
    return tc_host_check(host, TC_HOST_LEVEL + 1, "test_future", err);
}

/* The standard ReLU, compiled into this program (see tests/CMakeLists.txt). */
int tc_plugin_init_relu(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err);

static tc_registry *test_registry(void)
{
    static tc_registry *reg;
    if (!reg) {
        tc_error err = {{0}};
        expected_host = tc_host_table();
        reg = tc_registry_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
        TCU_ASSERT_OK(tc_registry_add_static(reg, tc_plugin_init_test_state_types, "test",
                                             &err), &err);
        TCU_ASSERT_OK(tc_registry_add_static(reg, tc_plugin_init_relu, "relu (static)", &err),
                      &err);
    }
    return reg;
}

static const char *model =
    "{\"name\":\"tally\",\"inputs\":[{\"name\":\"x\",\"shape\":[3]},"
    "{\"name\":\"y\",\"shape\":[],\"role\":\"label\"}],"
    "\"nodes\":[{\"name\":\"t\",\"type\":\"TTally\",\"inputs\":[\"x\"]},"
    "{\"name\":\"r\",\"type\":\"ReLU\",\"inputs\":[\"t\"]},"
    "{\"name\":\"L\",\"type\":\"TSumLoss\",\"inputs\":[\"r\",\"y\"]}],"
    "\"output\":\"r\",\"loss\":\"L\"}";

/* The model, loaded and initialised; fatal (with the message) when it is refused. */
static tc_graph *load(void)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_string(test_registry(), model, "tally.json", &err);
    tcu_graph_ok(g, &err);
    tc_graph_init_weights(g, 7);
    return g;
}

/* Fills the prepared image input with x[i] = base + i. */
static void fill_input(tc_graph *g, float base)
{
    float *x = tc_graph_input_data(g, 0);
    for (int i = 0; i < tc_graph_batch(g) * 3; i++)
        x[i] = base + (float)i;
}

static void test_state_declared_and_initialised(void)
{
    tc_graph *g = load();
    CU_ASSERT_EQUAL(tc_graph_n_weights(g), 1);
    CU_ASSERT_EQUAL_FATAL(tc_graph_n_states(g), 2);
    CU_ASSERT_STRING_EQUAL(tc_graph_state(g, 0)->name, "t.count");
    CU_ASSERT_STRING_EQUAL(tc_graph_state(g, 1)->name, "t.sum");
    CU_ASSERT_PTR_EQUAL(tc_graph_find_state(g, "t.sum"), tc_graph_state(g, 1));
    CU_ASSERT_PTR_NULL(tc_graph_find_state(g, "t.w"));
    CU_ASSERT_PTR_NULL(tc_graph_find_weight(g, "t.count"));
    CU_ASSERT_EQUAL(tc_graph_state(g, 0)->value.data[0], 0.0f);
    for (int j = 0; j < 3; j++)
        CU_ASSERT_EQUAL(tc_graph_state(g, 1)->value.data[j], 2.5f);
    CU_ASSERT_PTR_NULL(tc_graph_state(g, 0)->grad.data);
    CU_ASSERT_EQUAL(host_mismatches, 0);
    tc_graph_free(g);
}

static void test_state_updates_only_in_training(void)
{
    tc_error err = {{0}};
    tc_graph *g = load();
    TCU_ASSERT_OK(tc_graph_prepare(g, 2, 1, &err), &err);
    fill_input(g, 1.0f); /* columns 1,4 / 2,5 / 3,6: means 2.5, 3.5, 4.5 */
    for (int s = 0; s < 3; s++)
        TCU_ASSERT_OK(tc_graph_forward(g, 1, (uint64_t)s, &err), &err);
    const float *count = tc_graph_state(g, 0)->value.data, *sum = tc_graph_state(g, 1)->value.data;
    CU_ASSERT_EQUAL(count[0], 3.0f);
    CU_ASSERT_DOUBLE_EQUAL(sum[0], 2.5 + 3 * 2.5, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(sum[2], 2.5 + 3 * 4.5, 1e-5);
    float before[4] = {count[0], sum[0], sum[1], sum[2]};
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 3, &err), &err);
    TCU_ASSERT_OK(tc_graph_forward(g, 0, 4, &err), &err);
    CU_ASSERT_EQUAL(count[0], before[0]);
    CU_ASSERT_EQUAL(sum[0], before[1]);
    CU_ASSERT_EQUAL(sum[2], before[3]);
    /* inference adds count: y = 1 * x + 3 */
    CU_ASSERT_DOUBLE_EQUAL(tc_graph_output(g)->data[0], 1.0 + 3.0, 1e-6);
    CU_ASSERT_EQUAL(host_mismatches, 0);
    tc_graph_free(g);
}

static void test_optimiser_leaves_state_alone(void)
{
    tc_error err = {{0}};
    tc_graph *g = load();
    for (int kind = 0; kind < 2; kind++) {
        tc_optim_config cfg = {.kind = kind ? TC_OPTIM_ADAM : TC_OPTIM_SGD, .momentum = 0.9f,
                               .weight_decay = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f,
                               .eps = 1e-8f};
        tc_optimizer *opt = tc_optimizer_new(g, &cfg, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
        for (int i = 0; i < tc_optimizer_n_state(opt); i++) {
            const char *name = NULL;
            tc_optimizer_state(opt, i, &name);
            CU_ASSERT_PTR_NULL(strstr(name, "count"));
            CU_ASSERT_PTR_NULL(strstr(name, "sum"));
        }
        TCU_ASSERT_OK(tc_graph_prepare(g, 2, 1, &err), &err);
        fill_input(g, 1.0f);
        TCU_ASSERT_OK(tc_graph_forward(g, 1, 0, &err), &err);
        TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
        float c = tc_graph_state(g, 0)->value.data[0], s = tc_graph_state(g, 1)->value.data[1];
        float w = tc_graph_weight(g, 0)->value.data[0];
        tc_optimizer_step(opt, 0.1f);
        CU_ASSERT_NOT_EQUAL(tc_graph_weight(g, 0)->value.data[0], w); /* it did step */
        CU_ASSERT_EQUAL(tc_graph_state(g, 0)->value.data[0], c);
        CU_ASSERT_EQUAL(tc_graph_state(g, 1)->value.data[1], s);
        tc_optimizer_free(opt);
    }
    tc_graph_free(g);
}

static void test_state_survives_a_checkpoint(void)
{
    tc_error err = {{0}};
    tc_graph *a = load(), *b = load();
    TCU_ASSERT_OK(tc_graph_prepare(a, 2, 1, &err), &err);
    fill_input(a, -1.0f);
    for (int s = 0; s < 5; s++)
        TCU_ASSERT_OK(tc_graph_forward(a, 1, (uint64_t)s, &err), &err);
    char path[512];
    snprintf(path, sizeof path, "%s/state.ckpt", tcu_tmpdir());
    TCU_ASSERT_OK(tc_snapshot_save(path, a, NULL, NULL, &err), &err);

    tc_checkpoint ck = {0};
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    const tc_named_tensor *t = tc_checkpoint_find(&ck, "t.count");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->data[0], 5.0f);
    CU_ASSERT_PTR_NOT_NULL(tc_checkpoint_find(&ck, "t.sum"));
    TCU_ASSERT_OK(tc_snapshot_load_weights(b, &ck, &err), &err);
    tc_checkpoint_free(&ck);
    for (int i = 0; i < 2; i++) {
        int64_t n = tc_shape_count(&tc_graph_state(a, i)->value.shape);
        CU_ASSERT_EQUAL(memcmp(tc_graph_state(a, i)->value.data, tc_graph_state(b, i)->value.data,
                               sizeof(float) * (size_t)n), 0);
    }
    /* the same inference output from the original and the restored graph */
    TCU_ASSERT_OK(tc_graph_prepare(a, 2, 0, &err), &err);
    TCU_ASSERT_OK(tc_graph_prepare(b, 2, 0, &err), &err);
    fill_input(a, 0.5f);
    fill_input(b, 0.5f);
    TCU_ASSERT_OK(tc_graph_forward(a, 0, 0, &err), &err);
    TCU_ASSERT_OK(tc_graph_forward(b, 0, 0, &err), &err);
    CU_ASSERT_EQUAL(memcmp(tc_graph_output(a)->data, tc_graph_output(b)->data, 6 * sizeof(float)),
                    0);
    CU_ASSERT_DOUBLE_EQUAL(tc_graph_output(b)->data[0], 0.5 + 5.0, 1e-6);
    tc_graph_free(a);
    tc_graph_free(b);
}

static void test_checkpoint_lacking_state_is_refused(void)
{
    tc_error err = {{0}};
    tc_graph *g = load();
    char path[512];
    snprintf(path, sizeof path, "%s/nostate.ckpt", tcu_tmpdir());
    /* a checkpoint of the weights alone, as an ABI 1 runtime wrote them */
    tc_weight *w = tc_graph_weight(g, 0);
    tc_named_tensor only = {.name = (char *)w->name, .shape = w->value.shape,
                            .data = w->value.data};
    tc_checkpoint ck = {.model_json = (char *)tc_graph_json(g), .meta_json = "{}",
                        .n_tensors = 1, .tensors = &only};
    TCU_ASSERT_OK(tc_checkpoint_write(path, &ck, &err), &err);
    tc_checkpoint in = {0};
    TCU_ASSERT_OK(tc_checkpoint_read(path, &in, &err), &err);
    tc_graph_state(g, 0)->value.data[0] = 42.0f;
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_weights(g, &in, &err), &err,
                          "lacks state tensor 't.count'");
    CU_ASSERT_EQUAL(tc_graph_state(g, 0)->value.data[0], 42.0f); /* unchanged */
    tc_checkpoint_free(&in);
    tc_graph_free(g);
}

static void test_static_registration(void)
{
    tc_error err = {{0}};
    tc_registry *reg = test_registry();
    const char *origin = NULL;
    CU_ASSERT_PTR_NOT_NULL(tc_registry_find(reg, "ReLU", &origin));
    CU_ASSERT_STRING_EQUAL(origin, "relu (static)");
    CU_ASSERT_PTR_NOT_NULL(tc_registry_find(reg, "TTally", NULL));
    /* the same plugin again: refused by name, and nothing of it stays */
    int before = tc_registry_count(reg);
    TCU_ASSERT_FAILS_WITH(tc_registry_add_static(reg, tc_plugin_init_relu, "again", &err), &err,
                          "registered twice");
    CU_ASSERT_EQUAL(tc_registry_count(reg), before);
    TCU_ASSERT_FAILS_WITH(tc_registry_add_static(reg, tc_plugin_init_test_future, "future",
                                                 &err), &err, "feature level");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "future"));
    CU_ASSERT_EQUAL(tc_registry_count(reg), before);
    TCU_ASSERT_FAILS_WITH(tc_registry_add_static(reg, NULL, "null", &err), &err, "NULL");
}

/* A host table as an ABI 1 plugin sees it: the members it knew keep their
 * offsets, so its version check reads the truth, and its layer type is
 * refused by name. */
static void test_abi1_layer_refused(void)
{
    tc_error err = {{0}};
    CU_ASSERT_EQUAL(offsetof(tc_host, register_layer), 8);
    tc_layer_type old = t_tally;
    old.abi_version = 1;
    old.name = "OldTally";
    tc_registry *reg = tc_registry_new();
    TCU_ASSERT_FAILS_WITH(tc_registry_add(reg, &old, "old.so", &err), &err,
                          "built for plugin ABI version 1");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "old.so"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rebuild the plugin against the installed"));
    tc_host fake = *tc_host_table();
    fake.abi_version = 1;
    TCU_ASSERT_FAILS_WITH(tc_host_check(&fake, 0, "p", &err), &err,
                          "rebuild the plugin against the installed tinycnn/plugin.h");
    CU_ASSERT_EQUAL(tc_host_check(tc_host_table(), 0, "p", &err), 0);
    CU_ASSERT(TC_HOST_HAS(tc_host_table(), sgemm));
    fake = *tc_host_table();
    fake.struct_size = (uint32_t)offsetof(tc_host, sgemm); /* an older, shorter table */
    CU_ASSERT(!TC_HOST_HAS(&fake, sgemm));
    CU_ASSERT(TC_HOST_HAS(&fake, set_error));
    tc_registry_free(reg);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"state tensors: declared, named, initialised", test_state_declared_and_initialised},
        {"state updated in training forwards only", test_state_updates_only_in_training},
        {"optimisers and weight decay leave state alone", test_optimiser_leaves_state_alone},
        {"state saved and restored by snapshots", test_state_survives_a_checkpoint},
        {"a checkpoint lacking a state tensor is refused by name",
         test_checkpoint_lacking_state_is_refused},
        {"static registration (TC_PLUGIN_DEFINE, a standard layer linked in)",
         test_static_registration},
        {"ABI 1 layer types and hosts refused with a rebuild message", test_abi1_layer_refused},
        {NULL, NULL},
    };
    return tcu_run("ABI 2 state and registration", tests);
}
