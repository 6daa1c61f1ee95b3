/* Snapshots: a graph and its optimiser to a checkpoint and back, by name,
 * refusing missing tensors, shape mismatches and other models' checkpoints;
 * and a resumed training run that matches an uninterrupted one bit for bit.
 * A layer type defined here keeps most tests independent of the plugins. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tinycnn/snapshot.h"

/* ---- TDense: y = W x + b over the flattened input ---------------------- */

static const tc_param_desc dense_params[] = {
    {"out", TC_VALUE_INT, 1, 0, 1, 1 << 20, "output features"},
};

static int dense_create(const tc_host *h, const double *v, void **self, tc_error *err)
{
    (void)h;
    (void)err;
    int64_t *p = malloc(sizeof *p);
    *p = (int64_t)v[0];
    *self = p;
    return 0;
}

static void dense_destroy(const tc_host *host, void *self)
{
    (void)host;
    free(self);
}

static int dense_plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt, tc_plan *p, tc_error *err)
{
    (void)host;
    (void)n;
    (void)nt;
    (void)err;
    int64_t out = *(int64_t *)self, fin = 1;
    for (int i = 1; i < in[0].ndim; i++)
        fin *= in[0].dims[i];
    p->output.ndim = 2;
    p->output.dims[0] = in[0].dims[0];
    p->output.dims[1] = out;
    p->n_weights = 2;
    p->weights[0].name = "weight";
    p->weights[0].shape.ndim = 2;
    p->weights[0].shape.dims[0] = out;
    p->weights[0].shape.dims[1] = fin;
    p->weights[0].init = TC_INIT_UNIFORM;
    p->weights[0].a = -1;
    p->weights[0].b = 1;
    p->weights[1].name = "bias";
    p->weights[1].shape.ndim = 1;
    p->weights[1].shape.dims[0] = out;
    p->weights[1].init = TC_INIT_UNIFORM;
    p->weights[1].a = -0.5;
    p->weights[1].b = 0.5;
    p->weights[1].no_decay = 1;
    return 0;
}

/* The layer's outputs per sample, the batch and the inputs per sample. */
static void dense_dims(const void *self, const tc_exec *x, int64_t *out, int64_t *nb,
                       int64_t *fin)
{
    *out = *(const int64_t *)self;
    *nb = x->output->shape.dims[0];
    *fin = tc_shape_count(&x->inputs[0].shape) / *nb;
}

static int dense_fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)err;
    int64_t out, nb, fin;
    dense_dims(self, x, &out, &nb, &fin);
    for (int64_t s = 0; s < nb; s++)
        for (int64_t o = 0; o < out; o++) {
            float acc = x->weights[1].data[o];
            for (int64_t i = 0; i < fin; i++)
                acc += x->weights[0].data[o * fin + i] * x->inputs[0].data[s * fin + i];
            x->output->data[s * out + o] = acc;
        }
    return 0;
}

static int dense_bwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)err;
    int64_t out, nb, fin;
    dense_dims(self, x, &out, &nb, &fin);
    memset(x->grad_weights[0].data, 0, (size_t)(out * fin) * sizeof(float));
    memset(x->grad_weights[1].data, 0, (size_t)out * sizeof(float));
    if (x->grad_inputs[0].data)
        memset(x->grad_inputs[0].data, 0, (size_t)(nb * fin) * sizeof(float));
    for (int64_t s = 0; s < nb; s++)
        for (int64_t o = 0; o < out; o++) {
            float go = x->grad_output->data[s * out + o];
            x->grad_weights[1].data[o] += go;
            for (int64_t i = 0; i < fin; i++) {
                x->grad_weights[0].data[o * fin + i] += go * x->inputs[0].data[s * fin + i];
                if (x->grad_inputs[0].data)
                    x->grad_inputs[0].data[s * fin + i] += go * x->weights[0].data[o * fin + i];
            }
        }
    return 0;
}

static const tc_layer_type t_dense = {
    sizeof(tc_layer_type), TC_PLUGIN_ABI_VERSION, "TDense", "y = W x + b", 0, 1, 1, 1,
    dense_params, dense_create, dense_destroy, dense_plan, dense_fwd, dense_bwd, NULL, NULL,
    NULL, {0}};

static tc_registry *test_reg;

static tc_registry *reg(void)
{
    if (!test_reg) {
        tc_error err;
        test_reg = tc_registry_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(test_reg);
        TCU_ASSERT_OK(tc_registry_add(test_reg, &t_dense, "test_snapshot.c", &err), &err);
    }
    return test_reg;
}

/* Model "t": image [1,4,4] -> d1 (3) -> d2 (out2). Weights, by hand:
 * d1.weight [3,16], d1.bias [3], d2.weight [out2,3], d2.bias [out2]. */
static char *model_text(const char *name, int out1, const char *second, int out2)
{
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"name\":\"%s\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]}],"
             "\"nodes\":[{\"name\":\"d1\",\"type\":\"TDense\",\"inputs\":[\"image\"],"
             "\"params\":{\"out\":%d}},"
             "{\"name\":\"%s\",\"type\":\"TDense\",\"inputs\":[\"d1\"],\"params\":{\"out\":%d}}],"
             "\"output\":\"%s\"}",
             name, out1, second, out2, second);
    return s;
}

static tc_graph *load_model(const char *name, int out1, const char *second, int out2)
{
    tc_error err;
    char *text = model_text(name, out1, second, out2);
    tc_graph *g = tc_graph_load_string(reg(), text, name, &err);
    if (!g)
        fprintf(stderr, "\n  loading %s: %s\n", name, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    free(text);
    return g;
}

/* Saves g (opt's state too when not NULL, with metadata meta) to path and
 * reads the checkpoint back into *ck (the caller frees it). */
static void save_and_read(const char *path, tc_graph *g, tc_optimizer *opt, const char *meta,
                          tc_checkpoint *ck, tc_error *err)
{
    TCU_ASSERT_OK(tc_snapshot_save(path, g, opt, meta, err), err);
    TCU_ASSERT_OK(tc_checkpoint_read(path, ck, err), err);
}

/* Gives every weight distinct values not produced by any initialiser. */
static void fill_weights(tc_graph *g, float base)
{
    for (int i = 0; i < tc_graph_n_weights(g); i++) {
        tc_weight *w = tc_graph_weight(g, i);
        int64_t n = tc_shape_count(&w->value.shape);
        for (int64_t j = 0; j < n; j++)
            w->value.data[j] = base + 100.0f * (float)i + 0.25f * (float)j;
    }
}

static int weights_equal(tc_graph *a, tc_graph *b)
{
    if (tc_graph_n_weights(a) != tc_graph_n_weights(b))
        return 0;
    for (int i = 0; i < tc_graph_n_weights(a); i++) {
        tc_weight *x = tc_graph_weight(a, i), *y = tc_graph_find_weight(b, x->name);
        if (!y || tc_shape_count(&x->value.shape) != tc_shape_count(&y->value.shape) ||
            memcmp(x->value.data, y->value.data,
                   (size_t)tc_shape_count(&x->value.shape) * sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

/* A copy of every weight value, to check that a failed load changed nothing. */
static float *copy_weights(tc_graph *g, int64_t *n_out)
{
    int64_t n = tc_graph_n_weight_elements(g), k = 0;
    float *c = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < tc_graph_n_weights(g); i++) {
        tc_weight *w = tc_graph_weight(g, i);
        int64_t m = tc_shape_count(&w->value.shape);
        memcpy(c + k, w->value.data, (size_t)m * sizeof(float));
        k += m;
    }
    *n_out = k;
    return c;
}

static int weights_are(tc_graph *g, const float *c, int64_t n)
{
    float *now;
    int64_t m;
    now = copy_weights(g, &m);
    int same = m == n && memcmp(now, c, (size_t)n * sizeof(float)) == 0;
    free(now);
    return same;
}

static const tc_optim_config adam = {TC_OPTIM_ADAM, 0, 0, 0.9f, 0.999f, 1e-8f};
static const tc_optim_config sgd_momentum = {TC_OPTIM_SGD, 0.9f, 0, 0, 0, 0};
static const tc_optim_config sgd_plain = {TC_OPTIM_SGD, 0, 0, 0, 0, 0};

/* ---- tests -------------------------------------------------------------- */

/* Save with Adam, then rebuild graph and optimiser from the file alone. */
static void test_round_trip_adam(void)
{
    tc_error err;
    tc_graph *g = load_model("t", 3, "d2", 2);
    fill_weights(g, 1.5f);
    tc_optimizer *opt = tc_optimizer_new(g, &adam, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    CU_ASSERT_EQUAL_FATAL(tc_optimizer_n_state(opt), 8); /* m and v of 4 weights */
    for (int i = 0; i < tc_optimizer_n_state(opt); i++) {
        tc_tensor *s = tc_optimizer_state(opt, i, NULL);
        for (int64_t j = 0; j < tc_shape_count(&s->shape); j++)
            s->data[j] = -0.5f * (float)i - 0.125f * (float)j;
    }
    const uint64_t steps = 1234567890123ull; /* above 2^32 and 2^24 */
    tc_optimizer_set_steps(opt, steps);
    const char *path = tcu_tmp_path("adam.ckpt");
    TCU_ASSERT_OK(tc_snapshot_save(path, g, opt, "{\"epoch\":7,\"note\":\"x\"}", &err), &err);

    tc_checkpoint ck;
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    CU_ASSERT_STRING_EQUAL(ck.model_json, tc_graph_json(g));
    json_error_t je;
    json_t *meta = json_loads(ck.meta_json, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(meta);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "epoch")), 7);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(meta, "note")), "x");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "optimizer_steps")),
                    (json_int_t)1234567890123ll);
    json_decref(meta);

    /* The names and shapes worked out by hand from the model. */
    static const struct {
        const char *name;
        int ndim;
        int64_t d0, d1;
    } want[] = {
        {"d1.weight", 2, 3, 16}, {"d1.bias", 1, 3, 0}, {"d2.weight", 2, 2, 3}, {"d2.bias", 1, 2, 0},
        {"optim/d1.weight.m", 2, 3, 16}, {"optim/d1.weight.v", 2, 3, 16},
        {"optim/d1.bias.m", 1, 3, 0}, {"optim/d1.bias.v", 1, 3, 0},
        {"optim/d2.weight.m", 2, 2, 3}, {"optim/d2.weight.v", 2, 2, 3},
        {"optim/d2.bias.m", 1, 2, 0}, {"optim/d2.bias.v", 1, 2, 0},
    };
    CU_ASSERT_EQUAL(ck.n_tensors, 12);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const tc_named_tensor *t = tc_checkpoint_find(&ck, want[i].name);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (!t) {
            fprintf(stderr, "\n  missing %s\n", want[i].name);
            continue;
        }
        CU_ASSERT_EQUAL(t->shape.ndim, want[i].ndim);
        CU_ASSERT_EQUAL(t->shape.dims[0], want[i].d0);
        if (want[i].ndim == 2)
            CU_ASSERT_EQUAL(t->shape.dims[1], want[i].d1);
    }
    /* d1.weight[5] = 1.5 + 100*0 + 0.25*5 by fill_weights (d1 runs
     * before d2, so d1.weight is weight 0). */
    CU_ASSERT_STRING_EQUAL(tc_graph_weight(g, 0)->name, "d1.weight");
    const tc_named_tensor *w0 = tc_checkpoint_find(&ck, "d1.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w0);
    CU_ASSERT_EQUAL(w0->data[5], 1.5f + 1.25f);

    /* A fresh graph from the stored model text, a fresh optimiser. */
    tc_graph *g2 = tc_graph_load_string(reg(), ck.model_json, path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g2);
    tc_graph_init_weights(g2, 99);
    CU_ASSERT(!weights_equal(g, g2));
    tc_optimizer *opt2 = tc_optimizer_new(g2, &adam, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt2);
    TCU_ASSERT_OK(tc_snapshot_load_weights(g2, &ck, &err), &err);
    TCU_ASSERT_OK(tc_snapshot_load_optimizer(opt2, &ck, &err), &err);
    CU_ASSERT(weights_equal(g, g2));
    CU_ASSERT_EQUAL(tc_optimizer_steps(opt2), steps);
    for (int i = 0; i < tc_optimizer_n_state(opt); i++) {
        const char *n1, *n2;
        tc_tensor *a = tc_optimizer_state(opt, i, &n1), *b = tc_optimizer_state(opt2, i, &n2);
        CU_ASSERT_STRING_EQUAL(n1, n2);
        CU_ASSERT(memcmp(a->data, b->data, (size_t)tc_shape_count(&a->shape) * 4) == 0);
    }
    tc_optimizer_free(opt2);
    tc_graph_free(g2);
    tc_checkpoint_free(&ck);
    tc_optimizer_free(opt);
    tc_graph_free(g);
}

/* Without an optimiser: the metadata is stored as given, no optim/ tensors,
 * and loading optimiser state from it is refused. */
static void test_no_optimizer(void)
{
    tc_error err;
    tc_graph *g = load_model("t", 3, "d2", 2);
    fill_weights(g, -7.0f);
    const char *path = tcu_tmp_path("plain.ckpt");
    const char *meta = "{ \"b\" : 2, \"a\" : [1, 2.5] }";
    tc_checkpoint ck;
    save_and_read(path, g, NULL, meta, &ck, &err);
    CU_ASSERT_STRING_EQUAL(ck.meta_json, meta);
    CU_ASSERT_EQUAL(ck.n_tensors, 4);
    tc_optimizer *opt = tc_optimizer_new(g, &sgd_momentum, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    tc_optimizer_set_steps(opt, 5);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(opt, &ck, &err), &err,
                          "lacks \"optimizer_steps\"");
    CU_ASSERT_EQUAL(tc_optimizer_steps(opt), 5);
    tc_checkpoint_free(&ck);

    /* NULL metadata becomes "{}". */
    save_and_read(path, g, NULL, NULL, &ck, &err);
    CU_ASSERT_STRING_EQUAL(ck.meta_json, "{}");
    tc_checkpoint_free(&ck);

    /* Plain SGD has no state tensors; its step count still round-trips. */
    tc_optimizer *plain = tc_optimizer_new(g, &sgd_plain, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_EQUAL(tc_optimizer_n_state(plain), 0);
    tc_optimizer_set_steps(plain, 42);
    save_and_read(path, g, plain, "{}", &ck, &err);
    CU_ASSERT_STRING_EQUAL(ck.meta_json, "{\"optimizer_steps\":42}");
    tc_optimizer_set_steps(plain, 0);
    TCU_ASSERT_OK(tc_snapshot_load_optimizer(plain, &ck, &err), &err);
    CU_ASSERT_EQUAL(tc_optimizer_steps(plain), 42);
    /* ... and state for momentum is then missing. */
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(opt, &ck, &err), &err,
                          "lacks optimiser state 'optim/d1.weight.momentum' (shape [3,16])");
    tc_checkpoint_free(&ck);
    tc_optimizer_free(plain);
    tc_optimizer_free(opt);
    tc_graph_free(g);
}

static void test_bad_metadata(void)
{
    tc_error err;
    tc_graph *g = load_model("t", 3, "d2", 2);
    const char *path = tcu_tmp_path("meta.ckpt");
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(path, g, NULL, "[1,2]", &err), &err,
                          "meta.ckpt: the metadata must be a JSON object");
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(path, g, NULL, "{\"a\":", &err), &err,
                          "meta.ckpt: the metadata is not valid JSON");
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(path, g, NULL, "{\"a\":1,\"a\":2}", &err), &err,
                          "not valid JSON");
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    /* An existing optimizer_steps member is replaced by the real count. */
    tc_optimizer *opt = tc_optimizer_new(g, &sgd_momentum, &err);
    tc_optimizer_set_steps(opt, 9);
    tc_checkpoint ck;
    save_and_read(path, g, opt, "{\"optimizer_steps\":3,\"z\":1}", &ck, &err);
    CU_ASSERT_STRING_EQUAL(ck.meta_json, "{\"optimizer_steps\":9,\"z\":1}");
    tc_checkpoint_free(&ck);

    /* Step counts that are not non-negative integers are refused. */
    tc_checkpoint bad = {0};
    bad.meta_json = strdup("{\"optimizer_steps\":-1}");
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(opt, &bad, &err), &err,
                          "\"optimizer_steps\" must be a non-negative integer");
    free(bad.meta_json);
    bad.meta_json = strdup("{\"optimizer_steps\":1.5}");
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(opt, &bad, &err), &err,
                          "must be a non-negative integer");
    free(bad.meta_json);
    bad.meta_json = strdup("not json");
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(opt, &bad, &err), &err,
                          "metadata is not a JSON object");
    CU_ASSERT_EQUAL(tc_optimizer_steps(opt), 9);
    tc_checkpoint_free(&bad);
    tc_optimizer_free(opt);
    tc_graph_free(g);
}

/* Each refused load names the tensor and both shapes, and leaves the graph
 * exactly as it was. */
static void test_weight_mismatches(void)
{
    tc_error err;
    tc_graph *g = load_model("t", 3, "d2", 2);
    fill_weights(g, 4.0f);
    int64_t n;
    float *before = copy_weights(g, &n);
    CU_ASSERT_EQUAL(n, 48 + 3 + 6 + 2);

    /* Same node names, wider d1: shapes differ. */
    tc_graph *wide = load_model("wide", 5, "d2", 2);
    fill_weights(wide, 0.0f);
    const char *path = tcu_tmp_path("wide.ckpt");
    tc_checkpoint ck;
    save_and_read(path, wide, NULL, NULL, &ck, &err);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_weights(g, &ck, &err), &err,
                          "weight 'd1.weight': the checkpoint has shape [5,16], model 't' has "
                          "[3,16]");
    CU_ASSERT(weights_are(g, before, n));
    tc_checkpoint_free(&ck);
    tc_graph_free(wide);

    /* Another model (its second node is "head"): d2.* are missing. */
    tc_graph *other = load_model("other", 3, "head", 2);
    path = tcu_tmp_path("other.ckpt");
    save_and_read(path, other, NULL, NULL, &ck, &err);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_weights(g, &ck, &err), &err,
                          "the checkpoint lacks weight 'd2.weight' (shape [2,3] in model 't')");
    CU_ASSERT(weights_are(g, before, n));
    tc_checkpoint_free(&ck);
    tc_graph_free(other);

    /* Every weight present plus one the graph lacks: another model too. */
    path = tcu_tmp_path("extra.ckpt");
    save_and_read(path, g, NULL, NULL, &ck, &err);
    for (size_t i = 0; i < ck.n_tensors; i++)
        for (int64_t j = 0; j < tc_shape_count(&ck.tensors[i].shape); j++)
            ck.tensors[i].data[j] = 0.0f;
    float extra[6] = {0};
    int64_t ed[2] = {2, 3};
    tc_shape es = {.ndim = 2};
    es.dims[0] = ed[0];
    es.dims[1] = ed[1];
    TCU_ASSERT_OK(tc_checkpoint_add(&ck, "d3.weight", &es, extra, &err), &err);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_weights(g, &ck, &err), &err,
                          "the checkpoint has weight 'd3.weight' (shape [2,3]) that model 't' "
                          "lacks: it is a checkpoint of another model");
    CU_ASSERT(weights_are(g, before, n));
    tc_checkpoint_free(&ck);

    /* A 1-D tensor where a 2-D one belongs, and a missing d1.weight. */
    tc_checkpoint hand = {0};
    float zeros[48] = {0};
    tc_shape s1 = {.ndim = 1};
    s1.dims[0] = 48;
    TCU_ASSERT_OK(tc_checkpoint_add(&hand, "d1.weight", &s1, zeros, &err), &err);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_weights(g, &hand, &err), &err,
                          "weight 'd1.weight': the checkpoint has shape [48], model 't' has [3,16]");
    tc_checkpoint_free(&hand);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_weights(g, &hand, &err), &err,
                          "the checkpoint lacks weight 'd1.weight' (shape [3,16] in model 't')");
    CU_ASSERT(weights_are(g, before, n));

    /* optim/ tensors are not weights: a weights-only load ignores them. */
    tc_optimizer *opt = tc_optimizer_new(g, &adam, &err);
    path = tcu_tmp_path("withopt.ckpt");
    save_and_read(path, g, opt, NULL, &ck, &err);
    fill_weights(g, 11.0f);
    TCU_ASSERT_OK(tc_snapshot_load_weights(g, &ck, &err), &err);
    CU_ASSERT(weights_are(g, before, n));
    tc_checkpoint_free(&ck);
    tc_optimizer_free(opt);
    free(before);
    tc_graph_free(g);
}

static void test_optimizer_mismatches(void)
{
    tc_error err;
    tc_graph *g = load_model("t", 3, "d2", 2);
    tc_optimizer *a = tc_optimizer_new(g, &adam, &err);
    tc_optimizer *m = tc_optimizer_new(g, &sgd_momentum, &err);
    tc_optimizer *p = tc_optimizer_new(g, &sgd_plain, &err);
    CU_ASSERT_FATAL(a && m && p);
    tc_optimizer_set_steps(a, 17);
    tc_optimizer_set_steps(m, 3);
    tc_optimizer_set_steps(p, 4);

    const char *path = tcu_tmp_path("opt.ckpt");
    tc_checkpoint ck;
    save_and_read(path, g, a, NULL, &ck, &err);
    /* Adam state into momentum SGD: its slot is missing. */
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(m, &ck, &err), &err,
                          "lacks optimiser state 'optim/d1.weight.momentum' (shape [3,16])");
    /* Adam state into plain SGD: state the optimiser does not have. */
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(p, &ck, &err), &err,
                          "the checkpoint has optimiser state 'optim/d1.weight.m' (shape [3,16]) "
                          "that this optimiser lacks");
    CU_ASSERT_EQUAL(tc_optimizer_steps(m), 3);
    CU_ASSERT_EQUAL(tc_optimizer_steps(p), 4);

    /* A state tensor of the wrong shape; the optimiser stays unchanged. */
    tc_tensor *s0 = tc_optimizer_state(a, 0, NULL);
    s0->data[0] = 123.0f;
    for (size_t i = 0; i < ck.n_tensors; i++)
        if (strcmp(ck.tensors[i].name, "optim/d2.bias.v") == 0)
            ck.tensors[i].shape.dims[0] = 1;
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(a, &ck, &err), &err,
                          "optimiser state 'optim/d2.bias.v': the checkpoint has shape [1], the "
                          "optimiser [2]");
    CU_ASSERT_EQUAL(s0->data[0], 123.0f);
    tc_checkpoint_free(&ck);

    /* All of Adam's state plus one more "optim/" tensor: refused too. */
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    float one = 1.0f;
    tc_shape scalar = {.ndim = 0};
    TCU_ASSERT_OK(tc_checkpoint_add(&ck, "optim/d1.weight.extra", &scalar, &one, &err), &err);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_load_optimizer(a, &ck, &err), &err,
                          "the checkpoint has optimiser state 'optim/d1.weight.extra' (shape []) "
                          "that this optimiser lacks");
    CU_ASSERT_EQUAL(s0->data[0], 123.0f);
    CU_ASSERT_EQUAL(tc_optimizer_steps(a), 17);
    tc_checkpoint_free(&ck);
    tc_optimizer_free(a);
    tc_optimizer_free(m);
    tc_optimizer_free(p);
    tc_graph_free(g);
}

/* Save errors are the checkpoint writer's, naming the path. */
static void test_save_errors(void)
{
    tc_error err;
    tc_graph *g = load_model("t", 3, "d2", 2);
    char path[600];
    snprintf(path, sizeof path, "%s/missing-folder/x.ckpt", tcu_tmpdir());
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(path, g, NULL, NULL, &err), &err, path);
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(path, g, NULL, NULL, &err), &err,
                          "No such file or directory");
    tc_graph_free(g);
}

/* ---- resume with the standard plugins ----------------------------------- */

static const char *example_model =
    "{\"name\":\"t\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
    "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
    "\"nodes\":[{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
    "\"params\":{\"out_features\":3}},"
    "{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
    "\"output\":\"fc\",\"loss\":\"loss\"}";

enum { BATCH = 4 };

/* One training step on a batch that depends only on the step number. */
static void train_step(tc_graph *g, tc_optimizer *opt, uint64_t step)
{
    tc_error err;
    TCU_ASSERT_OK(tc_graph_prepare(g, BATCH, 1, &err), &err);
    float *img = tc_graph_input_data(g, tc_graph_image_input(g));
    float *lab = tc_graph_input_data(g, tc_graph_label_input(g));
    for (int i = 0; i < BATCH * 16; i++)
        img[i] = (float)((i * 7 + (int)step * 3) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < BATCH; i++)
        lab[i] = (float)((i + (int)step) % 3);
    TCU_ASSERT_OK(tc_graph_forward(g, 1, step, &err), &err);
    TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
    tc_optimizer_step(opt, 0.05f);
}

/* Training 3 steps, snapshotting, training 3 more must equal loading the
 * snapshot into a fresh graph and optimiser and training the same 3 steps.
 * Adam's bias correction uses the step count, so a lost count or lost
 * moments would show. */
static void test_resume_matches_uninterrupted(void)
{
    tc_error err;
    tc_registry *r = tcu_registry();
    tc_graph *g = tcu_graph_ok(tc_graph_load_string(r, example_model, "example", &err), &err);
    tc_graph_init_weights(g, 5);
    tc_optimizer *opt = tc_optimizer_new(g, &adam, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    for (uint64_t s = 0; s < 3; s++)
        train_step(g, opt, s);
    const char *path = tcu_tmp_path("resume.ckpt");
    TCU_ASSERT_OK(tc_snapshot_save(path, g, opt, "{\"epoch\":1}", &err), &err);
    for (uint64_t s = 3; s < 6; s++)
        train_step(g, opt, s);

    tc_checkpoint ck;
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    tc_graph *g2 = tc_graph_load_string(r, ck.model_json, path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g2);
    tc_optimizer *opt2 = tc_optimizer_new(g2, &adam, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt2);
    TCU_ASSERT_OK(tc_snapshot_load_weights(g2, &ck, &err), &err);
    TCU_ASSERT_OK(tc_snapshot_load_optimizer(opt2, &ck, &err), &err);
    CU_ASSERT_EQUAL(tc_optimizer_steps(opt2), 3);
    CU_ASSERT(!weights_equal(g, g2)); /* the first run has moved on */
    for (uint64_t s = 3; s < 6; s++)
        train_step(g2, opt2, s);
    CU_ASSERT(weights_equal(g, g2));
    CU_ASSERT_EQUAL(tc_optimizer_steps(opt2), 6);

    /* Control: the same resume with the step count reset diverges, so the
     * comparison above can tell. */
    tc_graph *g3 = tc_graph_load_string(r, ck.model_json, path, &err);
    tc_optimizer *opt3 = tc_optimizer_new(g3, &adam, &err);
    TCU_ASSERT_OK(tc_snapshot_load_weights(g3, &ck, &err), &err);
    TCU_ASSERT_OK(tc_snapshot_load_optimizer(opt3, &ck, &err), &err);
    tc_optimizer_set_steps(opt3, 0);
    for (uint64_t s = 3; s < 6; s++)
        train_step(g3, opt3, s);
    CU_ASSERT(!weights_equal(g, g3));

    tc_optimizer_free(opt3);
    tc_graph_free(g3);
    tc_optimizer_free(opt2);
    tc_graph_free(g2);
    tc_checkpoint_free(&ck);
    tc_optimizer_free(opt);
    tc_graph_free(g);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"round trip with Adam state", test_round_trip_adam},
        {"no optimiser, plain SGD", test_no_optimizer},
        {"metadata checks", test_bad_metadata},
        {"weight mismatches are refused", test_weight_mismatches},
        {"optimiser mismatches are refused", test_optimizer_mismatches},
        {"save errors", test_save_errors},
        {"resume matches an uninterrupted run", test_resume_matches_uninterrupted},
        {NULL, NULL},
    };
    int rc = tcu_run("snapshot", tests);
    if (test_reg)
        tc_registry_free(test_reg);
    return rc;
}
