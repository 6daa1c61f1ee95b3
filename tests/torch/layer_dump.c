/*
 * layer_dump.c - runs every standard layer type on a fixed list of cases and
 * writes what went in and what came out, for tests/torch/compare_layers.py
 * to recompute with PyTorch.
 *
 *   layer_dump <plugin-folder> <output-folder> [<plugin-file>...]
 *
 * (The extra plugin files are loaded after the folder; the test suite adds
 * one whose type has no case, to see the comparison fail for it.)
 *
 * Each case instantiates one layer type through the single-layer harness
 * (tinycnn/layer_check.h), fills weights and grad_output from the harness's
 * seeded generator, inputs from this file's own (uniform, so sigmoid, tanh
 * and softmax see their curved parts, not the harness's widening lattice),
 * runs forward (several times for a case with `steps` > 1, a new input
 * each time, so running statistics move) and one backward, and writes every
 * tensor as raw native float32 "<case>.<tensor>.f32". manifest.json lists
 * the cases, the tensors with their shapes, every parameter's value (the
 * defaults included, so the reference never guesses one), and the layer
 * types the plugin folder registered: the comparison fails for a registered
 * type without a case, so a new layer cannot go untested.
 *
 * A case that cannot run (type missing, create or a call failing) is
 * written with its error and fails the comparison. Exit status: 0 when the
 * manifest was written, 1 for bad usage, a plugin folder that does not load
 * or a file that cannot be written.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/kernels.h"
#include "tinycnn/layer_check.h"
#include "tinycnn/registry.h"
#include "tinycnn/status.h"

#define S1(a) {.ndim = 1, .dims = {a}}
#define S2(a, b) {.ndim = 2, .dims = {a, b}}
#define S3(a, b, c) {.ndim = 3, .dims = {a, b, c}}
#define S4(a, b, c, d) {.ndim = 4, .dims = {a, b, c, d}}

#define DUMP_SEED 20240611u
#define DUMP_THREADS 2 /* fixed, so that chunked loops split the same way everywhere */
#define DUMP_MAX_INPUTS 4
#define DUMP_MAX_STEPS 4

typedef struct dump_case {
    const char *name;
    const char *type;
    const char *params;  /* "name=value name=value", over the declared defaults */
    int n_inputs;
    tc_shape inputs[DUMP_MAX_INPUTS];
    int inference;       /* 1: x->training = 0 */
    int steps;           /* forwards before the backward (0 counts as 1) */
    int random_state;    /* 1: random running statistics before the first forward */
} dump_case;

#define CASE(nm, ty, pa, n) .name = nm, .type = ty, .params = pa, .n_inputs = n
#define IN(...) .inputs = {__VA_ARGS__}

/* Odd sizes on purpose: vector loops get tails, pools get leftover rows. */
static const dump_case cases[] = {
    /* Conv2d: the square plain case at batch 2-4 takes the single-image
     * kernels, at 4+ images per thread the eight-images-in-lanes ones
     * (AVX2), above their cache budget im2col + GEMM; everything not plain
     * (groups, dilation, per-axis sizes) the general im2col + GEMM. */
    {CASE("conv_plain", "Conv2d", "out_channels=4 kernel_size=3", 1), IN(S4(2, 3, 9, 11))},
    {CASE("conv_stride2", "Conv2d", "out_channels=5 kernel_size=3 stride=2", 1),
     IN(S4(2, 3, 10, 9))},
    {CASE("conv_pad", "Conv2d", "out_channels=4 kernel_size=5 padding=2", 1), IN(S4(2, 3, 7, 8))},
    {CASE("conv_groups2", "Conv2d", "out_channels=6 kernel_size=3 padding=1 groups=2", 1),
     IN(S4(2, 4, 8, 7))},
    {CASE("conv_depthwise", "Conv2d", "out_channels=6 kernel_size=3 padding=1 groups=6", 1),
     IN(S4(2, 6, 9, 9))},
    {CASE("conv_depthwise_x2", "Conv2d", "out_channels=10 kernel_size=3 stride=2 groups=5", 1),
     IN(S4(2, 5, 9, 8))},
    {CASE("conv_dilation2", "Conv2d", "out_channels=4 kernel_size=3 dilation=2 padding=2", 1),
     IN(S4(2, 3, 11, 10))},
    {CASE("conv_3x1", "Conv2d", "out_channels=4 kernel_size=3 kernel_w=1 pad_h=1", 1),
     IN(S4(2, 3, 8, 7))},
    {CASE("conv_asym", "Conv2d",
          "out_channels=3 kernel_size=3 kernel_h=2 stride_h=2 dilation_w=2 pad_w=2 bias=0", 1),
     IN(S4(2, 2, 9, 10))},
    {CASE("conv_1x1", "Conv2d", "out_channels=7 kernel_size=1", 1), IN(S4(3, 5, 6, 5))},
    {CASE("conv_mid", "Conv2d", "out_channels=32 kernel_size=3 padding=1", 1),
     IN(S4(4, 16, 17, 15))},
    {CASE("conv_lanes", "Conv2d", "out_channels=4 kernel_size=3 padding=1", 1),
     IN(S4(9, 3, 9, 11))},
    {CASE("conv_lanes_s2", "Conv2d", "out_channels=6 kernel_size=3 stride=2", 1),
     IN(S4(10, 4, 8, 9))},
    {CASE("conv_gemm", "Conv2d", "out_channels=8 kernel_size=3 padding=1", 1),
     IN(S4(2, 8, 130, 130))},
    {CASE("linear", "Linear", "out_features=7", 1), IN(S2(5, 13))},
    {CASE("linear_nobias", "Linear", "out_features=4 bias=0", 1), IN(S2(3, 20))},
    {CASE("linear_large", "Linear", "out_features=33", 1), IN(S2(17, 130))},
    {CASE("maxpool_2x2_odd", "MaxPool2d", "kernel_size=2", 1), IN(S4(2, 3, 7, 9))},
    {CASE("maxpool_3s2p1", "MaxPool2d", "kernel_size=3 stride=2 padding=1", 1),
     IN(S4(2, 3, 8, 11))},
    {CASE("maxpool_2s1", "MaxPool2d", "kernel_size=2 stride=1", 1), IN(S4(2, 2, 5, 6))},
    {CASE("maxpool_large", "MaxPool2d", "kernel_size=2", 1), IN(S4(4, 8, 34, 35))},
    {CASE("avgpool_2x2_odd", "AvgPool2d", "kernel_size=2", 1), IN(S4(2, 3, 7, 9))},
    {CASE("avgpool_3s2p1", "AvgPool2d", "kernel_size=3 stride=2 padding=1", 1),
     IN(S4(2, 3, 8, 11))},
    {CASE("gap", "GlobalAvgPool2d", "", 1), IN(S4(3, 5, 7, 6))},
    {CASE("relu", "ReLU", "", 1), IN(S3(3, 5, 7))},
    {CASE("relu_large", "ReLU", "", 1), IN(S4(2, 3, 300, 301))}, /* on the worker threads */
    {CASE("leaky_relu", "LeakyReLU", "", 1), IN(S3(3, 5, 7))},
    {CASE("leaky_relu_0.2", "LeakyReLU", "negative_slope=0.2", 1), IN(S4(4, 9, 31, 31))},
    {CASE("sigmoid", "Sigmoid", "", 1), IN(S4(4, 9, 31, 31))},
    {CASE("tanh", "Tanh", "", 1), IN(S3(3, 5, 7))},
    {CASE("softmax_last", "Softmax", "", 1), IN(S2(6, 11))},
    {CASE("softmax_axis1", "Softmax", "axis=1", 1), IN(S4(2, 5, 3, 4))},
    {CASE("add2", "Add", "", 2), IN(S3(3, 5, 7), S3(3, 5, 7))},
    {CASE("add3", "Add", "", 3), IN(S4(2, 3, 4, 5), S4(2, 3, 4, 5), S4(2, 3, 4, 5))},
    {CASE("concat_ch", "Concat", "", 3), IN(S4(2, 3, 4, 5), S4(2, 1, 4, 5), S4(2, 2, 4, 5))},
    {CASE("concat_axis3", "Concat", "axis=3", 2), IN(S4(2, 3, 4, 5), S4(2, 3, 4, 2))},
    {CASE("flatten", "Flatten", "", 1), IN(S4(2, 3, 4, 5))},
    {CASE("dropout_eval", "Dropout", "p=0.3", 1), IN(S4(8, 16, 17, 16)), .inference = 1},
    {CASE("dropout_train", "Dropout", "p=0.3", 1), IN(S4(8, 16, 17, 16))},
    /* BatchNorm: three training steps move the running statistics */
    {CASE("bn2d_train", "BatchNorm2d", "", 1), IN(S4(4, 3, 5, 7)), .steps = 3},
    {CASE("bn2d_train_m0.3", "BatchNorm2d", "momentum=0.3 eps=0.001", 1), IN(S4(2, 5, 3, 3)),
     .steps = 3},
    {CASE("bn2d_train_large", "BatchNorm2d", "", 1), IN(S4(8, 16, 17, 15)), .steps = 3},
    {CASE("bn2d_eval", "BatchNorm2d", "", 1), IN(S4(4, 3, 5, 7)), .inference = 1,
     .random_state = 1},
    {CASE("bn1d_train_nc", "BatchNorm1d", "", 1), IN(S2(6, 10)), .steps = 3},
    {CASE("bn1d_train_ncl", "BatchNorm1d", "", 1), IN(S3(4, 3, 9)), .steps = 3},
    {CASE("bn1d_train_noaffine", "BatchNorm1d", "affine=0 momentum=0.2", 1), IN(S2(7, 5)),
     .steps = 3},
    {CASE("bn1d_eval", "BatchNorm1d", "", 1), IN(S2(6, 10)), .inference = 1, .random_state = 1},
    {CASE("softmax_ce", "SoftmaxCrossEntropy", "", 2), IN(S2(6, 10), S1(6))},
    {CASE("softmax_ce_wide", "SoftmaxCrossEntropy", "", 2), IN(S2(3, 101), S1(3))},
};

/* ---- random inputs (splitmix64, independent of the harness's stream) --- */

static uint64_t mix_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double mix_uniform(uint64_t *x, double lo, double hi)
{
    return lo + (hi - lo) * (double)(mix_next(x) >> 11) * (1.0 / 9007199254740992.0);
}

/* U(-2, 2) + 0.25: an off-centre mean, so BatchNorm's mean matters. */
static void fill_inputs(tc_layer_check *lc, uint64_t seed)
{
    for (int i = 0; i < lc->n_inputs; i++) {
        if (lc->is_label[i])
            continue; /* the harness drew valid class indices */
        int64_t n = tc_shape_count(&lc->inputs[i].shape);
        for (int64_t k = 0; k < n; k++)
            lc->inputs[i].data[k] = (float)(mix_uniform(&seed, -2.0, 2.0) + 0.25);
    }
}

/* Running statistics away from their initial 0 and 1. */
static void fill_state(tc_layer_check *lc, uint64_t seed)
{
    for (int i = 0; i < lc->plan.n_state; i++) {
        int var = strstr(lc->plan.state[i].name, "var") != NULL;
        int64_t n = tc_shape_count(&lc->state[i].shape);
        for (int64_t k = 0; k < n; k++)
            lc->state[i].data[k] = (float)(var ? mix_uniform(&seed, 0.5, 2.0)
                                               : mix_uniform(&seed, -0.5, 0.5));
    }
}

/* NaN everywhere, so a gradient element backward does not write shows. */
static void poison_grads(tc_layer_check *lc)
{
    for (int i = 0; i < lc->n_inputs; i++)
        for (int64_t k = 0; k < tc_shape_count(&lc->grad_inputs[i].shape); k++)
            lc->grad_inputs[i].data[k] = NAN;
    for (int i = 0; i < lc->plan.n_weights; i++)
        for (int64_t k = 0; k < tc_shape_count(&lc->grad_weights[i].shape); k++)
            lc->grad_weights[i].data[k] = NAN;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct dumper {
    const char *dir;
    const char *case_name;
    int failed; /* a file could not be written */
} dumper;

/* Writes t as "<case>.<tag>.f32" and returns its manifest entry
 * {"name", "file", "shape"}; name may be NULL. */
static json_t *dump_tensor(dumper *d, const char *tag, const char *name, const tc_tensor *t)
{
    char file[256], path[1024];
    snprintf(file, sizeof file, "%s.%s.f32", d->case_name, tag);
    snprintf(path, sizeof path, "%s/%s", d->dir, file);
    FILE *f = fopen(path, "wb");
    size_t n = (size_t)tc_shape_count(&t->shape);
    if (!f || fwrite(t->data, sizeof(float), n, f) != n) {
        fprintf(stderr, "layer_dump: cannot write %s\n", path);
        d->failed = 1;
    }
    if (f && fclose(f) != 0 && !d->failed) {
        fprintf(stderr, "layer_dump: cannot write %s\n", path);
        d->failed = 1;
    }
    json_t *shape = json_array();
    for (int i = 0; i < t->shape.ndim; i++)
        json_array_append_new(shape, json_integer(t->shape.dims[i]));
    json_t *e = json_pack("{s:s, s:o}", "file", file, "shape", shape);
    if (name)
        json_object_set_new(e, "name", json_string(name));
    return e;
}

static json_t *dump_inputs(dumper *d, tc_layer_check *lc, const char *prefix)
{
    json_t *a = json_array();
    for (int i = 0; i < lc->n_inputs; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "%sinput%d", prefix, i);
        json_t *e = dump_tensor(d, tag, NULL, &lc->inputs[i]);
        json_object_set_new(e, "label", json_boolean(lc->is_label[i]));
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *dump_grad_inputs(dumper *d, tc_layer_check *lc)
{
    json_t *a = json_array();
    for (int i = 0; i < lc->n_inputs; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "grad_input%d", i);
        json_array_append_new(a, lc->needs_grad[i]
                                     ? dump_tensor(d, tag, NULL, &lc->grad_inputs[i])
                                     : json_null());
    }
    return a;
}

/* kind: "weight", "grad_weight", "state" or "state_initial" */
static json_t *dump_named(dumper *d, tc_layer_check *lc, const char *kind)
{
    int state = strncmp(kind, "state", 5) == 0;
    int n = state ? lc->plan.n_state : lc->plan.n_weights;
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        const char *name = state ? lc->plan.state[i].name : lc->plan.weights[i].name;
        const tc_tensor *t = state ? &lc->state[i]
                             : strcmp(kind, "weight") == 0 ? &lc->weights[i]
                                                           : &lc->grad_weights[i];
        char tag[128];
        snprintf(tag, sizeof tag, "%s.%s", kind, name);
        json_array_append_new(a, dump_tensor(d, tag, name, t));
    }
    return a;
}

/* ---- one case ----------------------------------------------------------- */

/* Sets the case's parameters ("name=value name=value") over the defaults
 * and records every value. */
static int set_params(const dump_case *c, const tc_layer_type *t, double *v, json_t *out,
                      tc_error *err)
{
    char name[64];
    double value;
    int used = 0;
    tc_layer_check_defaults(t, v);
    for (const char *p = c->params; *p; p += used) {
        if (sscanf(p, " %63[^= ]=%lf %n", name, &value, &used) != 2 || used == 0)
            return tc_error_set(err, "case %s: cannot read parameters at '%s'", c->name, p);
        if (tc_layer_check_set_param(t, v, name, value, err))
            return 1;
    }
    for (int i = 0; i < t->n_params; i++)
        json_object_set_new(out, t->params[i].name, json_real(v[i]));
    return 0;
}

/* Forward `steps` times (earlier steps' inputs written as "stepK.inputI"),
 * then backward; fills the case's manifest entry. */
static int run_case(dumper *d, const dump_case *c, uint64_t seed, tc_layer_check *lc,
                    json_t *e, tc_error *err)
{
    int steps = c->steps > 0 ? c->steps : 1;
    tc_layer_check_fill(lc, seed, 0);
    lc->training = !c->inference;
    if (c->random_state)
        fill_state(lc, seed ^ 0xabcdefULL);
    json_object_set_new(e, "state_initial", dump_named(d, lc, "state_initial"));
    json_object_set_new(e, "weights", dump_named(d, lc, "weight"));
    json_object_set_new(e, "grad_output", dump_tensor(d, "grad_output", NULL, &lc->grad_output));
    json_t *earlier = json_array();
    json_object_set_new(e, "step_inputs", earlier);
    for (int s = 0; s < steps; s++) {
        fill_inputs(lc, seed + 1000u * (uint64_t)(s + 1));
        if (s + 1 < steps) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "step%d.", s);
            json_array_append_new(earlier, dump_inputs(d, lc, prefix));
        }
        if (tc_layer_check_forward(lc, err))
            return 1;
    }
    json_object_set_new(e, "inputs", dump_inputs(d, lc, ""));
    json_object_set_new(e, "output", dump_tensor(d, "output", NULL, &lc->output));
    poison_grads(lc);
    if (tc_layer_check_backward(lc, err))
        return 1;
    json_object_set_new(e, "grad_inputs", dump_grad_inputs(d, lc));
    json_object_set_new(e, "grad_weights", dump_named(d, lc, "grad_weight"));
    json_object_set_new(e, "state", dump_named(d, lc, "state"));
    return 0;
}

static json_t *dump_case_entry(dumper *d, const tc_registry *reg, const dump_case *c,
                               uint64_t seed)
{
    json_t *e = json_pack("{s:s, s:s, s:b, s:i}", "name", c->name, "type", c->type,
                          "training", !c->inference, "steps", c->steps > 0 ? c->steps : 1);
    json_t *params = json_object();
    json_object_set_new(e, "params", params);
    tc_error err = {{0}};
    tc_layer_check lc;
    memset(&lc, 0, sizeof lc);
    const tc_layer_type *t = tc_registry_find(reg, c->type, NULL);
    double v[TC_LAYER_CHECK_MAX_PARAMS];
    d->case_name = c->name;
    int bad = 0;
    if (!t)
        bad = tc_error_set(&err, "layer type %s is not registered", c->type);
    else if (set_params(c, t, v, params, &err) ||
             tc_layer_check_create(&lc, t, v, c->inputs, c->n_inputs, DUMP_THREADS, &err) ||
             run_case(d, c, seed, &lc, e, &err))
        bad = 1;
    if (bad) {
        fprintf(stderr, "layer_dump: case %s: %s\n", c->name, err.msg);
        json_object_set_new(e, "error", json_string(err.msg));
    }
    tc_layer_check_free(&lc);
    return e;
}

static json_t *registered_types(const tc_registry *reg)
{
    json_t *a = json_array();
    for (int i = 0; i < tc_registry_count(reg); i++)
        json_array_append_new(a, json_string(tc_registry_get(reg, i, NULL)->name));
    return a;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: layer_dump <plugin-folder> <output-folder> [<plugin-file>...]\n");
        return 1;
    }
    tc_error err = {{0}};
    tc_registry *reg = tc_registry_new();
    int bad = !reg || tc_registry_load_dir(reg, argv[1], &err);
    for (int i = 3; i < argc && !bad; i++)
        bad = tc_registry_load_file(reg, argv[i], &err);
    if (bad) {
        fprintf(stderr, "layer_dump: %s\n", reg ? err.msg : "out of memory");
        tc_registry_free(reg);
        return 1;
    }
    for (int i = 0; i < tc_registry_n_warnings(reg); i++)
        fprintf(stderr, "layer_dump: warning: %s\n", tc_registry_warning(reg, i));
    tc_set_threads(DUMP_THREADS);
    dumper d = {.dir = argv[2]};
    json_t *list = json_array();
    size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++)
        json_array_append_new(list, dump_case_entry(&d, reg, &cases[i], DUMP_SEED + 7919u * i));
    json_t *root = json_pack("{s:o, s:o, s:s}", "layer_types", registered_types(reg), "cases",
                             list, "plugin_folder", argv[1]);
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", argv[2]);
    if (json_dump_file(root, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "layer_dump: cannot write %s\n", path);
        d.failed = 1;
    }
    json_decref(root);
    tc_registry_free(reg);
    return d.failed ? 1 : 0;
}
