/* ONNX export and import: the refusals. A small model is exported, then the
 * file is broken one way at a time (through the protobuf-c code generated
 * from onnx.proto, so each case is a well-formed protobuf with one hostile
 * thing in it, or a truncated one) and imported; each case must fail with a
 * message naming the file and what is wrong, leave no output file and not
 * crash (the sanitizer build adds leaks and undefined behaviour). The
 * comparisons with ONNX Runtime and PyTorch are tests/onnx/onnx_peers.py.
 *
 * case                                          expected in the message
 * -------------------------------------------   ----------------------------------
 * every prefix of the file (truncation)         the file's name; half: "truncated"
 * random bytes                                  "truncated or corrupt"
 * a file over TC_ONNX_MAX_BYTES (sparse)        "more than"
 * initializer dims that overflow int64          "overflows"
 * a negative dim                                "is negative"
 * dims that disagree with the data              "its dims make"
 * external data                                 "external file"
 * int32 initializer                             "data type 6"
 * a cycle (Conv reads Relu's output)            "cycle"
 * a dangling name                               "which no node"
 * a value defined twice                         "defined twice"
 * 100,000 ints in one attribute                 "too many values"
 * 65 attributes on a node                       "attributes (at most"
 * an unsupported op type                        node name and "op type 'Gelu'"
 * a custom domain                               "domain"
 * opset 7                                       "opset 7"
 * no graph                                      "no graph"
 * asymmetric pads                               "not symmetric"
 * a Reshape to [-1, 7] of 64 features          "a Reshape to [-1, 7]"
 * the exported graph without its changes        imports (the control)
 * export of a layer type with no mapping        node and type; no file left
 * export or import into a missing folder        the path, "cannot create"
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "testutil.h"
#include "tinycnn/onnx.h"

#define TC_FUZZ_PLUGIN_DIR TC_TEST_PLUGIN_DIR
#include "fuzz/fuzz_onnx.c"

static const char small_model[] =
    "{\"name\": \"small\", \"inputs\": [{\"name\": \"x\", \"shape\": [1, 8, 8]},"
    " {\"name\": \"label\", \"shape\": [], \"role\": \"label\"}],"
    " \"nodes\": [{\"name\": \"conv\", \"type\": \"Conv2d\", \"inputs\": [\"x\"],"
    "  \"params\": {\"out_channels\": 4, \"kernel_size\": 3, \"padding\": 1}},"
    " {\"name\": \"relu\", \"type\": \"ReLU\", \"inputs\": [\"conv\"]},"
    " {\"name\": \"pool\", \"type\": \"MaxPool2d\", \"inputs\": [\"relu\"], \"params\": {\"kernel_size\": 2}},"
    " {\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"pool\"]},"
    " {\"name\": \"fc\", \"type\": \"Linear\", \"inputs\": [\"flat\"], \"params\": {\"out_features\": 10}},"
    " {\"name\": \"loss\", \"type\": \"SoftmaxCrossEntropy\", \"inputs\": [\"fc\", \"label\"]}],"
    " \"output\": \"fc\", \"loss\": \"loss\"}";

static uint8_t *sample;
static size_t sample_len;

/* The small model exported (weights from seed 1), made once. */
static void make_sample(void)
{
    if (sample)
        return;
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_string(tcu_registry(), small_model, "small.json", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 1);
    TCU_ASSERT_OK(tc_onnx_export(g, NULL, &sample, &sample_len, &err), &err);
    tc_graph_free(g);
}

/* The sample with fn applied to its unpacked form. Owner: the caller. */
static uint8_t *mutate(void (*fn)(Onnx__ModelProto *), size_t *len)
{
    make_sample();
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, sample_len, sample);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    fn(m);
    *len = onnx__model_proto__get_packed_size(m);
    uint8_t *b = malloc(*len);
    onnx__model_proto__pack(m, b);
    onnx__model_proto__free_unpacked(m, NULL);
    return b;
}

/* FN(m, name): the graph's FIELD entry called name (N_FIELD of them); fatal when there is none. */
#define DEFINE_FIND_NAMED(fn, type, field, n_field)                                               \
    static type *fn(Onnx__ModelProto *m, const char *name)                                        \
    {                                                                                             \
        for (size_t i = 0; i < m->graph->n_field; i++)                                            \
            if (strcmp(m->graph->field[i]->name, name) == 0)                                      \
                return m->graph->field[i];                                                        \
        CU_FAIL_FATAL("no such " #field " in the sample");                                        \
        return NULL;                                                                              \
    }
DEFINE_FIND_NAMED(node, Onnx__NodeProto, node, n_node)
DEFINE_FIND_NAMED(init, Onnx__TensorProto, initializer, n_initializer)

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = strdup(v);
}

/* Imports bytes, expecting failure with needle, and through the file API
 * expecting no output left. */
static void expect_refused(const uint8_t *b, size_t len, const char *needle)
{
    tc_error err = {{0}};
    tc_checkpoint ck;
    TCU_ASSERT_FAILS_WITH(tc_onnx_import(tcu_registry(), b, len, "t.onnx", &ck, &err), &err,
                          needle);
    CU_ASSERT_PTR_NULL(ck.model_json);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t.onnx"));
    const char *path = tcu_write_file("t.onnx", b, len);
    char json[1100], ckpt[1100];
    snprintf(json, sizeof json, "%s/out.json", tcu_tmpdir());
    snprintf(ckpt, sizeof ckpt, "%s/out.ckpt", tcu_tmpdir());
    TCU_ASSERT_FAILS_WITH(tc_onnx_import_file(tcu_registry(), path, json, ckpt, &err), &err,
                          needle);
    CU_ASSERT_NOT_EQUAL(access(json, F_OK), 0);
    CU_ASSERT_NOT_EQUAL(access(ckpt, F_OK), 0);
}

static void expect_mutation_refused(void (*fn)(Onnx__ModelProto *), const char *needle)
{
    size_t len;
    uint8_t *b = mutate(fn, &len);
    expect_refused(b, len, needle);
    free(b);
}

static void nothing(Onnx__ModelProto *m)
{
    (void)m;
}

/* The control: the unchanged file imports, with its names and weights. */
static void test_control(void)
{
    size_t len;
    uint8_t *b = mutate(nothing, &len);
    tc_error err = {{0}};
    tc_checkpoint ck;
    TCU_ASSERT_OK(tc_onnx_import(tcu_registry(), b, len, "t.onnx", &ck, &err), &err);
    CU_ASSERT_PTR_NOT_NULL(strstr(ck.model_json, "\"Conv2d\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(ck.model_json, "\"output\": \"fc\""));
    CU_ASSERT_PTR_NOT_NULL(tc_checkpoint_find(&ck, "conv.weight"));
    CU_ASSERT_PTR_NOT_NULL(tc_checkpoint_find(&ck, "fc.bias"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ck.meta_json, "\"class_names\""));
    tc_checkpoint_free(&ck);
    free(b);
}

static void test_truncated_and_garbage(void)
{
    make_sample();
    tc_error err = {{0}};
    tc_checkpoint ck;
    int failed = 0;
    for (size_t n = 0; n < sample_len; n++) {
        err.msg[0] = 0;
        if (tc_onnx_import(tcu_registry(), sample, n, "t.onnx", &ck, &err) == 0) {
            tc_checkpoint_free(&ck); /* a prefix ending between top-level fields */
            continue;
        }
        failed++;
        if (!strstr(err.msg, "t.onnx"))
            fprintf(stderr, "\n  prefix %zu: message without the file name: %s\n", n, err.msg);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t.onnx"));
    }
    CU_ASSERT(failed > (int)sample_len / 2);
    expect_refused(sample, sample_len / 2, "truncated");
    uint8_t junk[4096];
    uint64_t s = 42;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(tcu_rnd(&s) * 256);
    expect_refused(junk, sizeof junk, "truncated or corrupt");
}

static void test_oversized(void)
{
    char path[1100], json[1100];
    snprintf(path, sizeof path, "%s/big.onnx", tcu_tmpdir());
    snprintf(json, sizeof json, "%s/big.json", tcu_tmpdir());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ftruncate(fd, (off_t)TC_ONNX_MAX_BYTES + 1), 0); /* sparse */
    close(fd);
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(tc_onnx_import_file(tcu_registry(), path, json, NULL, &err), &err,
                          "more than");
    CU_ASSERT_NOT_EQUAL(access(json, F_OK), 0);
    unlink(path);
}

static void dims_overflow(Onnx__ModelProto *m)
{
    Onnx__TensorProto *t = init(m, "fc.weight");
    t->dims[0] = (int64_t)1 << 40;
    t->dims[1] = (int64_t)1 << 40;
}
static void dims_negative(Onnx__ModelProto *m)
{
    init(m, "fc.weight")->dims[0] = -3;
}
static void dims_disagree(Onnx__ModelProto *m)
{
    init(m, "conv.weight")->dims[0] = 5;
}
static void external_data(Onnx__ModelProto *m)
{
    Onnx__TensorProto *t = init(m, "conv.weight");
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}
static void int32_init(Onnx__ModelProto *m)
{
    init(m, "conv.bias")->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
}

static void test_tensors(void)
{
    expect_mutation_refused(dims_overflow, "overflows");
    expect_mutation_refused(dims_negative, "is negative");
    expect_mutation_refused(dims_disagree, "its dims make");
    expect_mutation_refused(external_data, "external file");
    expect_mutation_refused(int32_init, "data type 6");
}

static void cycle(Onnx__ModelProto *m)
{
    set_str(&node(m, "conv")->input[0], "relu");
}
static void dangling(Onnx__ModelProto *m)
{
    set_str(&node(m, "relu")->input[0], "ghost");
}
static void twice(Onnx__ModelProto *m)
{
    set_str(&node(m, "relu")->output[0], "conv");
}

static void test_graph_structure(void)
{
    expect_mutation_refused(cycle, "cycle");
    expect_mutation_refused(dangling, "which no node");
    expect_mutation_refused(twice, "defined twice");
}

static void huge_ints(Onnx__ModelProto *m)
{
    Onnx__AttributeProto *a = node(m, "conv")->attribute[0];
    free(a->ints);
    a->n_ints = 100000;
    a->ints = calloc(a->n_ints, sizeof *a->ints);
}
static void many_attributes(Onnx__ModelProto *m)
{
    Onnx__NodeProto *n = node(m, "relu");
    n->attribute = realloc(n->attribute, 65 * sizeof *n->attribute);
    for (int i = 0; i < 65; i++) {
        Onnx__AttributeProto *a = malloc(sizeof *a);
        onnx__attribute_proto__init(a);
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        a->name = strdup(name);
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        n->attribute[n->n_attribute++] = a;
    }
}
static void asymmetric_pads(Onnx__ModelProto *m)
{
    Onnx__NodeProto *n = node(m, "conv");
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, "pads") == 0)
            n->attribute[i]->ints[2] = 0;
}

/* Flatten as Reshape to [-1, 7]: the features are 64. */
static void reshape_wrong(Onnx__ModelProto *m)
{
    Onnx__NodeProto *n = node(m, "flat");
    set_str(&n->op_type, "Reshape");
    n->attribute[0]->name[0] = 'x'; /* Flatten's "axis" means nothing to Reshape */
    n->input = realloc(n->input, 2 * sizeof *n->input);
    n->input[n->n_input++] = strdup("flat.shape");
    Onnx__TensorProto *t = malloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = strdup("flat.shape");
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_dims = 1;
    t->dims = malloc(sizeof *t->dims);
    t->dims[0] = 2;
    t->n_int64_data = 2;
    t->int64_data = malloc(2 * sizeof *t->int64_data);
    t->int64_data[0] = -1;
    t->int64_data[1] = 7;
    Onnx__GraphProto *g = m->graph;
    g->initializer = realloc(g->initializer, (g->n_initializer + 1) * sizeof *g->initializer);
    g->initializer[g->n_initializer++] = t;
}

static void test_attributes(void)
{
    expect_mutation_refused(huge_ints, "too many values");
    expect_mutation_refused(many_attributes, "attributes (at most");
    expect_mutation_refused(asymmetric_pads, "not symmetric");
    expect_mutation_refused(reshape_wrong, "a Reshape to [-1, 7] after 'flat', which has 64");
}

static void gelu(Onnx__ModelProto *m)
{
    set_str(&node(m, "relu")->op_type, "Gelu");
}
static void custom_domain(Onnx__ModelProto *m)
{
    set_str(&node(m, "relu")->domain, "com.example");
}
static void opset7(Onnx__ModelProto *m)
{
    m->opset_import[0]->version = 7;
}
static void no_graph(Onnx__ModelProto *m)
{
    onnx__graph_proto__free_unpacked(m->graph, NULL);
    m->graph = NULL;
}

static void test_operators(void)
{
    expect_mutation_refused(gelu, "node 'relu' (Gelu): op type 'Gelu' is not supported");
    expect_mutation_refused(custom_domain, "domain");
    expect_mutation_refused(opset7, "opset 7");
    expect_mutation_refused(no_graph, "no graph");
}

/* A layer type without a mapping: refused naming node and type, and the
 * file API leaves no file. */
static void test_export_unmapped(void)
{
    tc_error err = {{0}};
    tc_registry *reg = tc_registry_new();
    TCU_ASSERT_OK(tc_registry_load_dir(reg, TC_TEST_PLUGIN_DIR, &err), &err);
    TCU_ASSERT_OK(tc_registry_load_file(reg, TC_TEST_BAD_PLUGIN_DIR "/broken_scale.so", &err),
                  &err);
    const char *json =
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 4, 4]}],"
        " \"nodes\": [{\"name\": \"sc\", \"type\": \"BrokenScale\", \"inputs\": [\"x\"]},"
        " {\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"sc\"]}], \"output\": \"flat\"}";
    tc_graph *g = tc_graph_load_string(reg, json, "scale.json", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 1);
    uint8_t *b = (uint8_t *)"x";
    size_t len = 1;
    TCU_ASSERT_FAILS_WITH(tc_onnx_export(g, NULL, &b, &len, &err), &err,
                          "node 'sc': layer type 'BrokenScale' has no ONNX mapping");
    CU_ASSERT_PTR_NULL(b);
    char ckpt[1100], onnx[1100];
    snprintf(ckpt, sizeof ckpt, "%s/scale.ckpt", tcu_tmpdir());
    snprintf(onnx, sizeof onnx, "%s/scale.onnx", tcu_tmpdir());
    TCU_ASSERT_OK(tc_snapshot_save(ckpt, g, NULL, NULL, &err), &err);
    TCU_ASSERT_FAILS_WITH(tc_onnx_export_file(reg, ckpt, onnx, &err), &err, "BrokenScale");
    CU_ASSERT_NOT_EQUAL(access(onnx, F_OK), 0);
    tc_graph_free(g);
    tc_registry_free(reg);
}

/* The file API: a checkpoint exported, imported back by file, and an
 * unwritable destination refused with nothing left. */
static void test_files(void)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_string(tcu_registry(), small_model, "small.json", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 3);
    char ckpt[1100], onnx[1100], json[1100], back[1100], bad[1100];
    snprintf(ckpt, sizeof ckpt, "%s/small.ckpt", tcu_tmpdir());
    snprintf(onnx, sizeof onnx, "%s/small.onnx", tcu_tmpdir());
    snprintf(json, sizeof json, "%s/small_back.json", tcu_tmpdir());
    snprintf(back, sizeof back, "%s/small_back.ckpt", tcu_tmpdir());
    snprintf(bad, sizeof bad, "%s/no/such/folder/small.onnx", tcu_tmpdir());
    TCU_ASSERT_OK(tc_snapshot_save(ckpt, g, NULL, NULL, &err), &err);
    TCU_ASSERT_OK(tc_onnx_export_file(tcu_registry(), ckpt, onnx, &err), &err);
    TCU_ASSERT_OK(tc_onnx_import_file(tcu_registry(), onnx, json, back, &err), &err);
    CU_ASSERT(tcu_same_tensors(ckpt, back, 0)); /* the same weights, bit for bit */
    TCU_ASSERT_FAILS_WITH(tc_onnx_export_file(tcu_registry(), ckpt, bad, &err), &err,
                          "no/such/folder/small.onnx: cannot create");
    TCU_ASSERT_FAILS_WITH(tc_onnx_import_file(tcu_registry(), onnx, bad, NULL, &err), &err,
                          "cannot create");
    tc_graph_free(g);
}

/* Runs every file of dir through the fuzz target's code; with must_import,
 * each must also import (the seeds are valid models). Returns the count. */
static int replay(const char *dir, int must_import)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        static uint8_t buf[1 << 16]; /* the fuzzer runs with -max_len=65536 */
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (must_import) {
            tc_error err = {{0}};
            tc_checkpoint ck;
            TCU_ASSERT_OK(tc_onnx_import(tcu_registry(), buf, len, path, &ck, &err), &err);
            tc_checkpoint_free(&ck);
        }
        LLVMFuzzerTestOneInput(buf, len);
        n++;
    }
    closedir(d);
    return n;
}

/* The fuzzing seeds and past findings (tests/fuzz/regressions/onnx, when
 * there are any) through the fuzz target's code. */
static void test_fuzz_corpus(void)
{
    CU_ASSERT(replay(TC_TEST_SOURCE_DIR "/tests/fuzz/corpus/onnx", 1) >= 4);
    replay(TC_TEST_SOURCE_DIR "/tests/fuzz/regressions/onnx", 0);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"control: the exported sample imports", test_control},
        {"truncated files and random bytes", test_truncated_and_garbage},
        {"a file over the size limit", test_oversized},
        {"hostile tensors", test_tensors},
        {"cycles, dangling names, values defined twice", test_graph_structure},
        {"huge attribute lists, asymmetric pads, a wrong Reshape", test_attributes},
        {"unsupported operators, domains, opsets", test_operators},
        {"export of a type without a mapping", test_export_unmapped},
        {"export and import through files", test_files},
        {"fuzzing seeds", test_fuzz_corpus},
        {NULL, NULL}};
    int rc = tcu_run("onnx", tests);
    free(sample);
    return rc;
}
