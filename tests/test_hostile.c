/* Hostile inputs: every file tiny-cnn reads from others (model JSON, IDX,
 * PNG, checkpoints, plugins), broken on purpose, given to the runner the way
 * a user would. Each must give exit status 1 and exactly one line on stderr,
 * "tinycnn: ...", naming the file, node or value at fault; none may crash
 * (in the sanitizer build a leak or a sanitizer report also fails the run,
 * through its exit status). The hostile files are made here, at test time.
 *
 * row  input                                              test (driver)                    result named
 * ---- -------------------------------------------------- -------------------------------- ----------------------------
 * M1   model JSON truncated half way                      test_model_files (train)         path, "malformed JSON"
 * M2   model file > 64 MiB (sparse)                       test_model_files                 path, "larger than 64 MiB"
 * M3   model file with NUL bytes (binary)                 test_model_files                 path, "NUL byte"
 * M4   empty model file                                   test_model_files                 path, "malformed JSON"
 * M5   model path is a folder                             test_model_files                 path, "is a folder"
 * M6   input dims whose product overflows 64 bits          test_model_dims                  input, "too large"
 * M7   input dims whose product overflows 32 bits          test_model_dims                  input, "too large"
 * M8   input dim zero / negative / not an integer          test_model_dims                  input, "shape[1]"
 * M9   node output > 2^31 elements per sample              test_model_dims                  node, "per sample"
 * M10  weights more than a checkpoint holds (2^29)          test_model_dims                  node, weight, "checkpoint"
 * M11  zero / negative / huge layer parameters             test_model_params                node, parameter, value
 * M12  zero / negative / huge training settings            test_model_params                "training.<key>", range
 * M13  mean/std that overflow or underflow float32         test_model_params                input, "mean"/"std", value
 * M14  NaN and Infinity literals, 1e400                     test_model_params                path:line:col
 * M15  JSON nested 100,000 deep                            test_model_graphs                path, "depth"
 * M16  self-loop                                           test_model_graphs                "cycle: a -> a"
 * M17  cycle of three                                      test_model_graphs                the three nodes
 * M18  10,000-node chain closed into a cycle               test_model_graphs                "cycle", node names
 * M19  10,000-node chain (valid): loads, trains a step     test_model_graphs (API)          no error, no crash
 * M20  unknown type, unknown input, duplicate name,        test_model_graphs                node, the name
 *      65 inputs to one node
 * I1   IDX truncated                                       test_idx (train)                 path, "truncated"
 * I2   IDX oversized (bytes after the data)                test_idx                         path, "oversized"
 * I3   IDX wrong magic (label file as image file)          test_idx                         path, "wrong IDX magic"
 * I4   IDX not IDX at all                                  test_idx                         path, "not an IDX file"
 * I5   IDX image and label counts disagree                 test_idx                         both paths, "count mismatch"
 * I6   IDX dims 65536^3 (overflow 32 bits)                 test_idx                         path, "refusing more than"
 * I7   IDX dims (2^32-1)^3 (overflow 64 bits)              test_idx                         path, "overflow a 64-bit"
 * I8   IDX zero images / zero rows                         test_idx                         path, "0 images"/"invalid"
 * I9   IDX empty file                                      test_idx                         path, "empty file"
 * I10  gzip: corrupt stream, truncated stream              test_idx                         path, "gzip"/"truncated"
 * I11  label outside the model's classes                   test_idx                         image, label value
 * I12  images of another size than the model's input       test_idx                         path, both sizes
 * P1   PNG truncated                                       test_png (predict)               path, "corrupt PNG"
 * P2   PNG wrong magic (a cut JPEG)                        test_png                         path, "corrupt JPEG"
 * P3   PNG empty                                           test_png                         path, "empty file"
 * P4   PNG IHDR 100000 x 100000, 2^31 x 2^31               test_png                         path, "limit"
 * P5   PNG IHDR width 0                                    test_png                         path, "corrupt PNG"
 * P6   PNG of another size than the model's input          test_png                         path, both sizes
 * P7   PNG oversized (bytes after IEND)                    test_png                         path, "after the IEND"
 * P8   PNG with a damaged chunk CRC                        test_png                         path, "corrupt PNG"
 * P9   PNG path is a folder                                test_png                         path, "is a folder"
 * D1   CIFAR-10 batch not a whole number of 3073-byte records test_cifar_files (train)     path, byte count
 * D2   CIFAR-10 label 10                                   test_cifar_files                 path, record, byte offset
 * D3   CIFAR-10 names file with 9 names                    test_cifar_files                 path, "9 class names"
 * D4   CIFAR-10 training batch missing                     test_cifar_files                 path, "cannot open"
 * D5   CIFAR-10 batch that is a FIFO (no writer)           test_cifar_files                 path, "is a FIFO"
 * D6   CIFAR-10 for a 1x28x28 model                        test_cifar_files                 both shapes
 * J1   JPEG truncated, in a class folder                   test_jpeg_folders (train)        path, "corrupt JPEG"
 * J2   JPEG SOF 20000 x 20000                              test_jpeg_folders                path, "limit"
 * J3   FIFO named pipe.jpg in a class folder               test_jpeg_folders                path, "is a FIFO"
 * J4   JPEG of another size than the model's input         test_jpeg_folders                path, both sizes
 * C1   checkpoint truncated                                test_checkpoint_files (eval)     path, "truncated"
 * C2   checkpoint > 2 GiB (sparse)                         test_checkpoint_files            path, "too large"
 * C3   checkpoint with bytes after the checksum            test_checkpoint_files            path, "unexpected bytes"
 * C4   checkpoint wrong magic                              test_checkpoint_files            path, "TCNNCKPT"
 * C5   checkpoint from a newer format version              test_checkpoint_files            path, "version 99"
 * C6   section length beyond the end of the file           test_checkpoint_files            path, "truncated"
 * C7   tensor count 2^32-1 in a small section              test_checkpoint_crafted          path, "corrupt"
 * C8   tensor dims overflow 64 bits                        test_checkpoint_crafted          tensor, "overflows"
 * C9   tensor dims 65536 x 65536 (overflow 32 bits)        test_checkpoint_crafted          tensor, bytes needed
 * C10  checksum mismatch (one flipped byte)                test_checkpoint_files            path, "checksum"
 * C11  NaN in a weight                                     test_checkpoint_values           weight, element, "NaN"
 * C12  +Inf in a weight, -Inf in Adam state (resume)       test_checkpoint_values           tensor, element, "Inf"
 * C13  checkpoint of another model (--resume)              test_checkpoint_other_model      weight name
 * C14  checkpoint without a model                          test_checkpoint_crafted          path, "no model"
 * C15  checkpoint whose model has a cycle                  test_checkpoint_crafted          "(model)", "cycle"
 * C16  checkpoint path is a folder                         test_checkpoint_files            path, "regular file"
 * G1   plugin layer whose forward() fails (train, predict)  test_plugin_forward_error        node, plugin's message
 * G2   plugin file that is not ELF; empty .so; empty folder test_plugin_files (--plugin-dir) path, "not a loadable"
 * G3   plugin without the entry symbol                     test_plugin_files                path, "no entry symbol"
 * G4   plugin built for an old ABI version                 test_plugin_files                path, "ABI version 1"
 * G5   plugin whose entry returns an error                 test_plugin_files                path, its message
 * G6   world-writable plugin file / folder                 test_plugin_unsafe               warning says why; not loaded
 * G7   group-writable (other group) / other owner (root)   test_plugin_unsafe               warning says why; not loaded
 * G8   plugin in the current folder, relative              test_plugin_current_folder       not loaded; warning
 *      TINYCNN_PLUGIN_PATH entries, a bare file name
 * (NaN/Inf in *data*: IDX and PNG hold uint8 pixels, which cannot be NaN;
 *  the ways a NaN reaches the data, mean/std, are rows M13/M14.)
 */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <math.h>
#include <png.h>
#include <zlib.h>

#include "hostile_util.h"
#include "image_util.h"

#define LENET TC_TEST_SOURCE_DIR "/models/lenet5.json"

static const char *syn_data; /* synthetic 28x28 data, made once */
static const char *empty_dir;

/* Kept in buffers of their own: hu_mkdir's rotate among 8 and are reused. */
static const char *data(void)
{
    static char buf[600];
    if (!syn_data)
        syn_data = strcpy(buf, hu_synth_mnist("syn", 64, 32));
    return syn_data;
}

static const char *nowhere(void)
{
    static char buf[600];
    if (!empty_dir)
        empty_dir = strcpy(buf, hu_mkdir("empty"));
    return empty_dir;
}

/* Writes text as dir/name and runs "train" on it; returns the result. */
static hu_run train_model_text(const char *name, const char *text)
{
    const char *p = hu_path(tcu_tmpdir(), name);
    hu_write(p, text, strlen(text));
    return hu_tinycnn("train %s --data %s --quiet", p, nowhere());
}

/* LeNet with one substitution: the text `from` replaced by `to`. */
static char *lenet_with(const char *from, const char *to)
{
    char *src = hu_slurp(LENET, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    char *at = strstr(src, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t n = strlen(src) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
    free(src);
    return out;
}

/* A LeNet edit (lenet_with(from, to)) and the needles of its refusal (n2
 * NULL for one). */
typedef struct lenet_edit {
    const char *from, *to, *n1, *n2;
} lenet_edit;

/* Trains each edited LeNet, written as `name`: each must be refused with a
 * message naming the file and the edit's needles. */
static void expect_lenet_edits(const lenet_edit *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        char *m = lenet_with(rows[i].from, rows[i].to);
        hu_run r = train_model_text(name, m);
        if (rows[i].n2) {
            HU_EXPECT_ERROR(r, name, rows[i].n1, rows[i].n2);
        } else {
            HU_EXPECT_ERROR(r, name, rows[i].n1);
        }
        hu_run_free(&r);
        free(m);
    }
}

/* ---- model files ---------------------------------------------------------- */

static void test_model_files(void)
{
    size_t n = 0;
    char *src = hu_slurp(LENET, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    src[n / 2] = 0; /* M1 */
    hu_run r = train_model_text("half.json", src);
    HU_EXPECT_ERROR(r, "half.json", "malformed JSON");
    hu_run_free(&r);
    free(src);

    /* M2: 64 MiB + 1, sparse: refused by its size, before any of it is read */
    const char *big = hu_path(tcu_tmpdir(), "big.json");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(ftruncate(fd, ((off_t)64 << 20) + 1) == 0);
    close(fd);
    r = hu_tinycnn("train %s --data %s", big, nowhere());
    HU_EXPECT_ERROR(r, "big.json", "larger than 64 MiB");
    hu_run_free(&r);

    static const char binary[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const char *p = hu_path(tcu_tmpdir(), "binary.json"); /* M3 */
    hu_write(p, binary, sizeof binary - 1);
    r = hu_tinycnn("train %s --data %s", p, nowhere());
    HU_EXPECT_ERROR(r, "binary.json", "NUL byte");
    hu_run_free(&r);

    r = train_model_text("empty.json", ""); /* M4 */
    HU_EXPECT_ERROR(r, "empty.json", "malformed JSON");
    hu_run_free(&r);

    r = hu_tinycnn("train %s --data %s", nowhere(), nowhere()); /* M5 */
    HU_EXPECT_ERROR(r, nowhere(), "is a folder");
    hu_run_free(&r);
}

static void test_model_dims(void)
{
    static const struct {
        const char *shape, *needle;
    } inputs[] = {
        {"[2147483648, 2147483648, 2147483648]", "too large"}, /* M6: 2^93 */
        {"[1, 65536, 65536]", "too large"},                    /* M7: 2^32 */
        {"[1, 0, 28]", "shape[1] must be an integer in [1, "},   /* M8 */
        {"[1, -28, 28]", "shape[1] must be an integer in [1, "},
        {"[1, 28.5, 28]", "shape[1] must be an integer in [1, "},
        {"[1, 1e300, 28]", "shape[1] must be an integer in [1, "},
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char *m = lenet_with("[1, 28, 28]", inputs[i].shape);
        hu_run r = train_model_text("dims.json", m);
        HU_EXPECT_ERROR(r, "dims.json", "input 'image'", inputs[i].needle);
        hu_run_free(&r);
        free(m);
    }

    /* M9: 64 channels of 16384 x 16384 is 2^34 values per image */
    char *m = lenet_with("[1, 28, 28]", "[1, 16384, 16384]");
    char *m2 = NULL;
    {
        char *at = strstr(m, "\"kernel_size\": 5");
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        at[15] = '1'; /* conv1 kernel 5 -> 1 keeps 16384 x 16384 */
        m2 = strdup(m);
        char *oc = strstr(m2, "\"out_channels\": 6");
        CU_ASSERT_PTR_NOT_NULL_FATAL(oc);
        memcpy(oc, "\"out_channels\":64", 17);
    }
    hu_run r = train_model_text("wide.json", m2);
    HU_EXPECT_ERROR(r, "wide.json", "node 'conv1'", "per sample");
    hu_run_free(&r);
    free(m);
    free(m2);

    /* M10: 400 x 2^24 weights in one Linear: 6.7e9 > 2^29 */
    m = lenet_with("\"out_features\": 120", "\"out_features\": 16777216");
    r = train_model_text("heavy.json", m);
    HU_EXPECT_ERROR(r, "heavy.json", "node 'fc1'", "weight 'weight'", "checkpoint");
    hu_run_free(&r);
    free(m);
}

static void test_model_params(void)
{
    static const lenet_edit rows[] = {
        /* M11: layer parameters */
        {"\"kernel_size\": 5", "\"kernel_size\": 0", "node 'conv1'", "'kernel_size' = 0"},
        {"\"kernel_size\": 5", "\"kernel_size\": -3", "node 'conv1'", "'kernel_size' = -3"},
        {"\"kernel_size\": 5", "\"kernel_size\": 4294967297", "node 'conv1'", "4.29497e+09"},
        {"\"out_features\": 120", "\"out_features\": 1e15", "node 'fc1'", "'out_features'"},
        {"\"out_features\": 120", "\"out_features\": -1", "node 'fc1'", "'out_features' = -1"},
        {"\"out_features\": 120", "\"out_features\": \"NaN\"", "node 'fc1'", "\"NaN\""},
        {"\"kernel_size\": 5", "\"kernel_size\": 40", "node 'conv1'", NULL}, /* kernel > image */
        /* M13: mean/std as float32 */
        {"\"mean\": 0.1307", "\"mean\": 1e39", "input 'image'", "\"mean\""},
        {"\"std\": 0.3081", "\"std\": 0", "input 'image'", "\"std\""},
        {"\"std\": 0.3081", "\"std\": -1", "input 'image'", "\"std\""},
        {"\"std\": 0.3081", "\"std\": 1e-50", "input 'image'", "\"std\""},
        {"\"std\": 0.3081", "\"std\": 1e39", "input 'image'", "\"std\""},
        /* M14: not JSON numbers at all */
        {"\"mean\": 0.1307", "\"mean\": NaN", "malformed JSON", NULL},
        {"\"mean\": 0.1307", "\"mean\": Infinity", "malformed JSON", NULL},
        {"\"mean\": 0.1307", "\"mean\": 1e400", "malformed JSON", NULL},
    };
    expect_lenet_edits(rows, sizeof rows / sizeof rows[0], "param.json");
    /* M12: the model's own training settings */
    static const struct {
        const char *training, *needle;
    } tr[] = {
        {"{\"epochs\": 0}", "training.epochs"},
        {"{\"epochs\": -5}", "training.epochs"},
        {"{\"epochs\": 1e12}", "training.epochs"},
        {"{\"batch_size\": 0}", "training.batch_size"},
        {"{\"batch_size\": 4294967296}", "training.batch_size"},
        {"{\"lr\": -1}", "training.lr"},
        {"{\"lr\": 1e300}", "training.lr"},
        {"{\"momentum\": 1}", "training.momentum"},
        {"{\"warmup_epochs\": -1}", "training.warmup_epochs"},
    };
    for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
        json_error_t je;
        json_t *root = json_load_file(LENET, 0, &je);
        CU_ASSERT_PTR_NOT_NULL_FATAL(root);
        json_object_set_new(root, "training", json_loads(tr[i].training, 0, &je));
        char *m = json_dumps(root, JSON_INDENT(1));
        json_decref(root);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        hu_run r = train_model_text("training.json", m);
        HU_EXPECT_ERROR(r, "training.json", tr[i].needle);
        hu_run_free(&r);
        free(m);
    }
}

/* A model text of n ReLU nodes in a chain r0 <- image ... (r<i> reads
 * r<i-1>), then flatten, fc, loss; when cycle, r0 reads r<n-1>. */
static char *chain_model(int n, int cycle)
{
    size_t cap = (size_t)n * 80 + 1024, o = 0;
    char *m = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    o += (size_t)snprintf(m + o, cap - o,
                          "{\"name\":\"chain\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
                          "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],\"nodes\":[");
    for (int i = 0; i < n; i++) {
        char in[32];
        if (i == 0)
            snprintf(in, sizeof in, cycle ? "r%d" : "image", n - 1);
        else
            snprintf(in, sizeof in, "r%d", i - 1);
        o += (size_t)snprintf(m + o, cap - o,
                              "{\"name\":\"r%d\",\"type\":\"ReLU\",\"inputs\":[\"%s\"]},", i, in);
    }
    snprintf(m + o, cap - o,
             "{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"r%d\"]},"
             "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],\"params\":{\"out_features\":3}},"
             "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
             "\"output\":\"fc\",\"loss\":\"loss\"}",
             n - 1);
    return m;
}

static void test_model_graphs(void)
{
    /* M15: 100,000 nested arrays inside a parameter */
    enum { DEPTH = 100000 };
    char *lenet = hu_slurp(LENET, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lenet);
    size_t cap = strlen(lenet) + 2 * DEPTH + 64;
    char *deep = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
    {
        char *at = strstr(lenet, "\"out_features\": 120");
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        size_t o = (size_t)snprintf(deep, cap, "%.*s\"out_features\": ", (int)(at - lenet), lenet);
        memset(deep + o, '[', DEPTH);
        memset(deep + o + DEPTH, ']', DEPTH);
        snprintf(deep + o + 2 * DEPTH, cap - o - 2 * DEPTH, "%s",
                 at + strlen("\"out_features\": 120"));
    }
    hu_run r = train_model_text("deep.json", deep);
    HU_EXPECT_ERROR(r, "deep.json", "malformed JSON", "depth");
    hu_run_free(&r);
    free(deep);
    free(lenet);

    static const lenet_edit rows[] = {
        /* M16, M17 */
        {"\"inputs\": [\"conv1\"]}", "\"inputs\": [\"relu1\"]}", "cycle: relu1 -> relu1", NULL},
        {"\"inputs\": [\"image\"]", "\"inputs\": [\"pool2\"]",
         "cycle: conv1 -> relu1 -> pool1 -> conv2 -> relu2 -> pool2 -> conv1", NULL},
        /* M20 */
        {"\"type\": \"Conv2d\"", "\"type\": \"Bogus\"", "node 'conv1'", "unknown layer type 'Bogus'"},
        {"\"inputs\": [\"image\"]", "\"inputs\": [\"imag\"]", "node 'conv1'", "unknown input 'imag'"},
        {"{\"name\": \"relu2\"", "{\"name\": \"relu1\"", "duplicate node name 'relu1'", NULL},
    };
    expect_lenet_edits(rows, sizeof rows / sizeof rows[0], "graph.json");
    /* M20: 65 inputs to one Add node */
    {
        char ins[1024];
        size_t o = 0;
        for (int i = 0; i < 65; i++)
            o += (size_t)snprintf(ins + o, sizeof ins - o, "%s\"relu3\"", i ? "," : "");
        char to[1200];
        snprintf(to, sizeof to, "{\"name\": \"sum\", \"type\": \"Add\", \"inputs\": [%s]}, "
                                "{\"name\": \"fc2\"", ins);
        char *m = lenet_with("{\"name\": \"fc2\"", to);
        r = train_model_text("fanin.json", m);
        HU_EXPECT_ERROR(r, "fanin.json", "node 'sum'", "got 65");
        hu_run_free(&r);
        free(m);
    }

    /* M18: 10,000 nodes closed into one cycle: named, from its smallest name */
    char *m = chain_model(10000, 1);
    r = train_model_text("ring.json", m);
    HU_EXPECT_ERROR(r, "ring.json", "the graph has a cycle: r0 -> r1 -> r2 -> ");
    hu_run_free(&r);
    free(m);

    /* M19: the same chain open: loads, and a training step runs */
    m = chain_model(10000, 0);
    tc_error err = {{0}};
    tc_graph *g = tcu_graph_ok(tc_graph_load_string(tcu_registry(), m, "chain.json", &err), &err);
    CU_ASSERT_EQUAL(tc_graph_n_nodes(g), 10003);
    tc_graph_init_weights(g, 7);
    TCU_ASSERT_OK(tc_graph_prepare(g, 2, 1, &err), &err);
    float *x = tc_graph_input_data(g, 0), *y = tc_graph_input_data(g, 1);
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i % 5) - 2.0f;
    y[0] = 1;
    y[1] = 2;
    TCU_ASSERT_OK(tc_graph_forward(g, 1, 0, &err), &err);
    CU_ASSERT(isfinite(tc_graph_loss(g)));
    TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
    tc_graph_free(g);
    free(m);
}

/* ---- IDX ------------------------------------------------------------------ */

/* A data folder with valid test files and train files the caller spoils. */
static const char *idx_dir(const char *name)
{
    const char *d = hu_mkdir(name);
    hu_write_idx_images(hu_path(d, "t10k-images-idx3-ubyte"), 16, 28, 28, 0, 0);
    hu_write_idx_labels(hu_path(d, "t10k-labels-idx1-ubyte"), 16, 10, UINT32_MAX, 0);
    hu_write_idx_labels(hu_path(d, "train-labels-idx1-ubyte"), 32, 10, UINT32_MAX, 0);
    return d;
}

static void idx_header(const char *path, uint32_t magic, uint32_t n, uint32_t h, uint32_t w,
                       size_t payload)
{
    uint8_t *b = calloc(16 + payload, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    hu_be32(b, magic);
    hu_be32(b + 4, n);
    hu_be32(b + 8, h);
    hu_be32(b + 12, w);
    hu_write(path, b, 16 + payload);
    free(b);
}

/* The tiny model (hu_tiny_model) as a file, written once. */
static const char *tiny_model(void)
{
    static char path[600];
    if (!path[0]) {
        char *m = hu_tiny_model(NULL, NULL);
        snprintf(path, sizeof path, "%s", hu_path(tcu_tmpdir(), "tiny.json"));
        hu_write(path, m, strlen(m));
        free(m);
    }
    return path;
}

static hu_run train_tiny(const char *dir)
{
    return hu_tinycnn("train %s --data %s --epochs 1 --quiet -o %s", tiny_model(), dir,
                      hu_path(tcu_tmpdir(), "idx.ckpt"));
}

/* Asserts that training the tiny model on dir fails with a message naming
 * every needle. */
#define EXPECT_TINY_FAILS(dir, ...)                                                         \
    do {                                                                                    \
        hu_run r_ = train_tiny(dir);                                                        \
        HU_EXPECT_ERROR(r_, __VA_ARGS__);                                                   \
        hu_run_free(&r_);                                                                   \
    } while (0)

static void test_idx(void)
{
    const char *d = idx_dir("idx");
    char imgs[700], gz[700]; /* hu_path's buffers rotate: keep copies */
    snprintf(imgs, sizeof imgs, "%s", hu_path(d, "train-images-idx3-ubyte"));
    snprintf(gz, sizeof gz, "%s", hu_path(d, "train-images-idx3-ubyte.gz"));
    hu_run r;

    hu_write_idx_images(imgs, 32, 28, 28, 0, 100); /* I1 */
    EXPECT_TINY_FAILS(d, imgs, "truncated");

    hu_write_idx_images(imgs, 32, 28, 28, 10, 0); /* I2 */
    EXPECT_TINY_FAILS(d, imgs, "oversized");

    hu_write_idx_labels(imgs, 32, 10, UINT32_MAX, 0); /* I3 */
    EXPECT_TINY_FAILS(d, imgs, "wrong IDX magic", "is this a label file?");

    hu_write(imgs, "GIF89a hello", 12); /* I4 */
    EXPECT_TINY_FAILS(d, imgs, "not an IDX file");

    hu_write_idx_images(imgs, 31, 28, 28, 0, 0); /* I5: 31 images, 32 labels */
    EXPECT_TINY_FAILS(d, imgs, "train-labels-idx1-ubyte", "count mismatch");

    idx_header(imgs, 0x803, 65536, 65536, 65536, 64); /* I6 */
    EXPECT_TINY_FAILS(d, imgs, "65536 images of 65536x65536", "refusing more than");

    idx_header(imgs, 0x803, UINT32_MAX, UINT32_MAX, UINT32_MAX, 64); /* I7 */
    EXPECT_TINY_FAILS(d, imgs, "overflow a 64-bit size");

    idx_header(imgs, 0x803, 0, 28, 28, 0); /* I8 */
    EXPECT_TINY_FAILS(d, imgs, "0 images");
    idx_header(imgs, 0x803, 32, 0, 28, 0);
    EXPECT_TINY_FAILS(d, imgs, "invalid image size");

    hu_write(imgs, "", 0); /* I9 */
    EXPECT_TINY_FAILS(d, imgs, "empty file");

    /* I10: gzip, found under the .gz name when the plain file is absent */
    CU_ASSERT_FATAL(unlink(imgs) == 0);
    static const uint8_t bad_gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x12};
    hu_write(gz, bad_gz, sizeof bad_gz);
    EXPECT_TINY_FAILS(d, gz, "gzip");
    {
        /* a valid gzip of a valid file, cut in the middle */
        const char *plain = hu_path(tcu_tmpdir(), "plain-images");
        hu_write_idx_images(plain, 32, 28, 28, 0, 0);
        size_t n = 0;
        char *raw = hu_slurp(plain, &n);
        gzFile z = gzopen(gz, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(z);
        CU_ASSERT_EQUAL(gzwrite(z, raw, (unsigned)n), (int)n);
        gzclose(z);
        free(raw);
        char *whole = hu_slurp(gz, &n);
        hu_write(gz, whole, n / 2);
        free(whole);
        r = train_tiny(d);
        HU_EXPECT_ERROR(r, gz, "truncated");
        hu_run_free(&r);
    }
    CU_ASSERT_FATAL(unlink(gz) == 0);

    /* I11: a label the model's 10 classes cannot hold */
    hu_write_idx_images(imgs, 32, 28, 28, 0, 0);
    hu_write_idx_labels(hu_path(d, "train-labels-idx1-ubyte"), 32, 10, 5, 200);
    EXPECT_TINY_FAILS(d, "image 5 has label 200", "10 classes");
    hu_write_idx_labels(hu_path(d, "train-labels-idx1-ubyte"), 32, 10, UINT32_MAX, 0);

    hu_write_idx_images(imgs, 32, 32, 32, 0, 0); /* I12 */
    EXPECT_TINY_FAILS(d, imgs, "1x32x32", "1x28x28");
}

/* ---- PNG ------------------------------------------------------------------ */

static const char *lenet_ckpt; /* LeNet-5 with initial weights, made once */

static const char *lenet_checkpoint(void)
{
    if (lenet_ckpt)
        return lenet_ckpt;
    static char path[600];
    snprintf(path, sizeof path, "%s", hu_path(tcu_tmpdir(), "lenet-init.ckpt"));
    tcu_save_lenet(path, 3, NULL);
    lenet_ckpt = path;
    return path;
}

/* A gray 8-bit PNG of h x w into memory. Owner of the result: the caller. */
static uint8_t *png_bytes(int h, int w, size_t *len)
{
    const char *p = hu_path(tcu_tmpdir(), "made.png");
    FILE *f = fopen(p, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png)))
        CU_FAIL_FATAL("libpng failed writing the test image");
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    uint8_t row[64];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w && x < 64; x++)
            row[x] = (uint8_t)(x * 9 + y * 5);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return (uint8_t *)hu_slurp(p, len);
}

/* A PNG of just signature, IHDR (w x h, gray 8) and IEND. */
static void png_header_only(const char *path, uint32_t w, uint32_t h)
{
    uint8_t b[8 + 25 + 12];
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    hu_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    hu_be32(b + 16, w);
    hu_be32(b + 20, h);
    b[24] = 8, b[25] = 0, b[26] = 0, b[27] = 0, b[28] = 0;
    hu_be32(b + 29, (uint32_t)crc32(0, b + 12, 17));
    hu_be32(b + 33, 0);
    memcpy(b + 37, "IEND", 4);
    hu_be32(b + 41, (uint32_t)crc32(0, b + 37, 4));
    hu_write(path, b, sizeof b);
}

static hu_run predict(const char *image)
{
    return hu_tinycnn("predict %s %s", lenet_checkpoint(), image);
}

static void test_png(void)
{
    size_t n = 0;
    uint8_t *good = png_bytes(28, 28, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    const char *p = hu_path(tcu_tmpdir(), "good.png");
    hu_write(p, good, n);
    hu_run r = predict(p); /* the control: the same file unspoiled works */
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "cut.png"); /* P1 */
    hu_write(p, good, n - 20);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "corrupt PNG");
    hu_run_free(&r);

    /* P2: predict reads PNG and JPEG by content, so a cut JPEG named .png
     * is reported as the JPEG it is */
    p = hu_path(tcu_tmpdir(), "jpeg.png");
    hu_write(p, "\xff\xd8\xff\xe0\0\x10JFIF\0\1\1\0", 15);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "corrupt JPEG");
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "empty.png"); /* P3 */
    hu_write(p, "", 0);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "empty file");
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "huge.png"); /* P4 */
    png_header_only(p, 100000, 100000);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "100000x100000", "limit");
    hu_run_free(&r);
    png_header_only(p, 0x80000000u, 0x80000000u);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "2147483648x2147483648", "limit");
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "zero.png"); /* P5 */
    png_header_only(p, 0, 28);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "corrupt PNG");
    hu_run_free(&r);

    size_t n10 = 0;
    uint8_t *small = png_bytes(10, 12, &n10); /* P6 */
    p = hu_path(tcu_tmpdir(), "small.png");
    hu_write(p, small, n10);
    free(small);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "10x12", "28x28 was expected");
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "tail.png"); /* P7 */
    uint8_t *tail = malloc(n + 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tail);
    memcpy(tail, good, n);
    memcpy(tail + n, "garbage", 7);
    hu_write(p, tail, n + 7);
    free(tail);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "7 bytes after the IEND");
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "crc.png"); /* P8: a byte of IDAT flipped */
    uint8_t *bad = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    memcpy(bad, good, n);
    uint8_t *idat = NULL;
    for (size_t i = 8; i + 4 <= n && !idat; i++)
        if (memcmp(bad + i, "IDAT", 4) == 0)
            idat = bad + i;
    CU_ASSERT_PTR_NOT_NULL_FATAL(idat);
    idat[6] ^= 0x55;
    hu_write(p, bad, n);
    free(bad);
    r = predict(p);
    HU_EXPECT_ERROR(r, p, "corrupt PNG");
    hu_run_free(&r);

    r = predict(nowhere()); /* P9 */
    HU_EXPECT_ERROR(r, nowhere(), "is a folder");
    hu_run_free(&r);
    free(good);
}

/* ---- CIFAR-10 batches and JPEG folders, through `train --data` ------------ */

enum { CIFAR_REC = 3073 };

/* A batch of n CIFAR-10 records, labels i % 10 (or 10 at bad_at). */
static void cifar_batch(const char *path, int n, int bad_at)
{
    uint8_t *b = calloc((size_t)n, CIFAR_REC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (int i = 0; i < n; i++)
        b[(size_t)i * CIFAR_REC] = (uint8_t)(i == bad_at ? 10 : i % 10);
    hu_write(path, b, (size_t)n * CIFAR_REC);
    free(b);
}

/* A CIFAR-10 folder of 2 records per batch, which the caller spoils. */
static const char *cifar_dir(const char *name)
{
    const char *d = hu_mkdir(name);
    char p[700];
    for (int k = 1; k <= 5; k++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", d, k);
        cifar_batch(p, 2, -1);
    }
    cifar_batch(hu_path(d, "test_batch.bin"), 2, -1);
    static const char names[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\n"
                                "ship\ntruck\n";
    hu_write(hu_path(d, "batches.meta.txt"), names, sizeof names - 1);
    return d;
}

static hu_run train_model(const char *model, const char *dir)
{
    return hu_tinycnn("train %s --data %s --epochs 1 --quiet -o %s", model, dir,
                      hu_path(tcu_tmpdir(), "data.ckpt"));
}

/* The tiny model with 3x32x32 inputs. */
static const char *rgb_model(void)
{
    static char path[600];
    if (!path[0]) {
        char *m = hu_tiny_model(NULL, NULL), *at = strstr(m, "[1,28,28]");
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        memcpy(at, "[3,32,32]", 9);
        snprintf(path, sizeof path, "%s", hu_path(tcu_tmpdir(), "tiny-rgb.json"));
        hu_write(path, m, strlen(m));
        free(m);
    }
    return path;
}

static void test_cifar_files(void)
{
    const char *d = cifar_dir("cifar-good");
    hu_run r = train_model(rgb_model(), d); /* the control: found and trained on */
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status != 0)
        fprintf(stderr, "\n  %s\n", r.err);
    hu_run_free(&r);

    char p[700];
    d = cifar_dir("cifar-size"); /* D1 */
    snprintf(p, sizeof p, "%s/data_batch_2.bin", d);
    uint8_t junk[2 * CIFAR_REC] = {0};
    hu_write(p, junk, 2 * CIFAR_REC - 5);
    r = train_model(rgb_model(), d);
    HU_EXPECT_ERROR(r, p, "6141 bytes is not a whole number of 3073-byte records");
    hu_run_free(&r);

    d = cifar_dir("cifar-label"); /* D2 */
    snprintf(p, sizeof p, "%s/test_batch.bin", d);
    cifar_batch(p, 2, 1);
    r = train_model(rgb_model(), d);
    HU_EXPECT_ERROR(r, p, "record 1 (byte 3073) has label 10", "labels are 0..9");
    hu_run_free(&r);

    d = cifar_dir("cifar-names"); /* D3 */
    snprintf(p, sizeof p, "%s/batches.meta.txt", d);
    hu_write(p, "a\nb\nc\nd\ne\nf\ng\nh\ni\n", 18);
    r = train_model(rgb_model(), d);
    HU_EXPECT_ERROR(r, p, "9 class names, CIFAR-10 has 10");
    hu_run_free(&r);

    d = cifar_dir("cifar-missing"); /* D4 */
    snprintf(p, sizeof p, "%s/data_batch_4.bin", d);
    CU_ASSERT_FATAL(unlink(p) == 0);
    r = train_model(rgb_model(), d);
    HU_EXPECT_ERROR(r, p, "cannot open");
    hu_run_free(&r);

    d = cifar_dir("cifar-fifo"); /* D5: must not wait for a writer */
    snprintf(p, sizeof p, "%s/test_batch.bin", d);
    CU_ASSERT_FATAL(unlink(p) == 0 && mkfifo(p, 0644) == 0);
    r = train_model(rgb_model(), d);
    HU_EXPECT_ERROR(r, p, "is a FIFO, not a CIFAR-10 batch file");
    hu_run_free(&r);

    r = train_model(tiny_model(), cifar_dir("cifar-shape")); /* D6 */
    HU_EXPECT_ERROR(r, "images are 3x32x32", "1x28x28 was asked for");
    hu_run_free(&r);
}

/* dir/{train,test}/{cat,dog}/ with one good 28x28 JPEG each. */
static const char *jpeg_dir(const char *name)
{
    const char *d = hu_mkdir(name);
    static uint8_t px[3 * 28 * 28];
    iu_noise(px, sizeof px, 1);
    const char *split[2] = {"train", "test"}, *cls[2] = {"cat", "dog"};
    char p[700];
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s", d, split[s]);
        iu_mkdir(p);
        for (int c = 0; c < 2; c++) {
            snprintf(p, sizeof p, "%s/%s/%s", d, split[s], cls[c]);
            iu_mkdir(p);
            snprintf(p, sizeof p, "%s/%s/%s/a.jpg", d, split[s], cls[c]);
            iu_write_jpeg(p, 3, 28, 28, px, 90);
        }
    }
    return d;
}

static void test_jpeg_folders(void)
{
    const char *d = jpeg_dir("jpeg-good");
    hu_run r = train_model(tiny_model(), d); /* the control */
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status != 0)
        fprintf(stderr, "\n  %s\n", r.err);
    hu_run_free(&r);

    char p[700];
    size_t n = 0;
    d = jpeg_dir("jpeg-cut"); /* J1 */
    snprintf(p, sizeof p, "%s/train/dog/a.jpg", d);
    char *whole = hu_slurp(p, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
    hu_write(p, whole, n / 2);
    r = train_model(tiny_model(), d);
    HU_EXPECT_ERROR(r, p, "corrupt JPEG");
    hu_run_free(&r);

    d = jpeg_dir("jpeg-huge"); /* J2: 20000 x 20000 in the SOF header */
    snprintf(p, sizeof p, "%s/test/cat/a.jpg", d);
    int patched = 0;
    for (size_t i = 2; i + 9 < n && !patched; i++)
        if ((uint8_t)whole[i] == 0xFF && (uint8_t)whole[i + 1] == 0xC0) {
            whole[i + 5] = (char)(20000 >> 8);
            whole[i + 6] = (char)(20000 & 0xFF);
            whole[i + 7] = (char)(20000 >> 8);
            whole[i + 8] = (char)(20000 & 0xFF);
            patched = 1;
        }
    CU_ASSERT_FATAL(patched);
    hu_write(p, whole, n);
    free(whole);
    r = train_model(tiny_model(), d);
    HU_EXPECT_ERROR(r, p, "image is 20000x20000", "16384x16384 limit");
    hu_run_free(&r);

    d = jpeg_dir("jpeg-fifo"); /* J3 */
    snprintf(p, sizeof p, "%s/train/cat/pipe.jpg", d);
    CU_ASSERT_FATAL(mkfifo(p, 0644) == 0);
    r = train_model(tiny_model(), d);
    HU_EXPECT_ERROR(r, p, "is a FIFO, not a regular file");
    hu_run_free(&r);

    d = jpeg_dir("jpeg-size"); /* J4 */
    snprintf(p, sizeof p, "%s/train/cat/b.jpeg", d);
    static uint8_t small[3 * 20 * 24];
    iu_write_jpeg(p, 3, 20, 24, small, 90);
    r = train_model(tiny_model(), d);
    HU_EXPECT_ERROR(r, p, "image is 20x24 (height x width) but 28x28 was expected");
    hu_run_free(&r);
}

/* ---- checkpoints ---------------------------------------------------------- */

static hu_run eval(const char *ckpt)
{
    return hu_tinycnn("eval %s --data %s", ckpt, data());
}

/* Asserts that eval of the checkpoint file ckpt fails naming it and every
 * needle. */
#define EXPECT_EVAL_FAILS(ckpt, ...)                                                        \
    do {                                                                                    \
        hu_run r_ = eval(ckpt);                                                             \
        HU_EXPECT_ERROR(r_, (ckpt), __VA_ARGS__);                                           \
        hu_run_free(&r_);                                                                   \
    } while (0)

static void test_checkpoint_files(void)
{
    size_t n = 0;
    uint8_t *good = (uint8_t *)hu_slurp(lenet_checkpoint(), &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    hu_run r = eval(lenet_checkpoint()); /* the control */
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);

    const char *p = hu_path(tcu_tmpdir(), "cut.ckpt"); /* C1 */
    hu_write(p, good, n / 2);
    EXPECT_EVAL_FAILS(p, "truncated");

    p = hu_path(tcu_tmpdir(), "huge.ckpt"); /* C2 */
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, good, 64) == 64);
    CU_ASSERT_FATAL(ftruncate(fd, (off_t)TC_CHECKPOINT_MAX_BYTES + 1) == 0);
    close(fd);
    EXPECT_EVAL_FAILS(p, "too large");
    unlink(p);

    p = hu_path(tcu_tmpdir(), "long.ckpt"); /* C3 */
    uint8_t *b = malloc(n + 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    memcpy(b, good, n);
    memset(b + n, 0xab, 9);
    hu_write(p, b, n + 9);
    EXPECT_EVAL_FAILS(p, "9 unexpected bytes");

    memcpy(b, good, n);
    memcpy(b, "TCNNCKPX", 8); /* C4 */
    p = hu_path(tcu_tmpdir(), "magic.ckpt");
    hu_write(p, b, n);
    EXPECT_EVAL_FAILS(p, "TCNNCKPT");

    memcpy(b, good, n);
    b[8] = 99; /* C5 */
    p = hu_path(tcu_tmpdir(), "version.ckpt");
    hu_write(p, b, n);
    EXPECT_EVAL_FAILS(p, "version 99");

    memcpy(b, good, n);
    b[16 + 4 + 7] = 0x7f; /* C6: the model section's length, top byte */
    p = hu_path(tcu_tmpdir(), "length.ckpt");
    hu_write(p, b, n);
    EXPECT_EVAL_FAILS(p, "truncated", "model JSON section");

    memcpy(b, good, n);
    b[n / 2] ^= 1; /* C10 */
    p = hu_path(tcu_tmpdir(), "flip.ckpt");
    hu_write(p, b, n);
    EXPECT_EVAL_FAILS(p, "checksum mismatch");
    free(b);
    free(good);

    r = eval(nowhere()); /* C16 */
    HU_EXPECT_ERROR(r, nowhere(), "not a regular file");
    hu_run_free(&r);
}

/* A checkpoint file built by hand: model and metadata texts, then a tensors
 * section of `tensors` (its count first), then the right CRC. */
static void write_raw_checkpoint(const char *path, const char *model, const uint8_t *tensors,
                                 size_t tlen)
{
    size_t ml = strlen(model), len = 16 + 3 * 12 + ml + 2 + tlen + 4, o = 0;
    uint8_t *b = calloc(len, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
#define LE32(v) (b[o] = (uint8_t)(v), b[o + 1] = (uint8_t)((v) >> 8), \
                 b[o + 2] = (uint8_t)((v) >> 16), b[o + 3] = (uint8_t)((uint32_t)(v) >> 24), o += 4)
#define LE64(v) (LE32((uint32_t)(v)), LE32((uint32_t)((uint64_t)(v) >> 32)))
    memcpy(b, "TCNNCKPT", 8);
    o = 8;
    LE32(1u);
    LE32(3u);
    LE32(1u);
    LE64(ml);
    memcpy(b + o, model, ml);
    o += ml;
    LE32(2u);
    LE64(2u);
    memcpy(b + o, "{}", 2);
    o += 2;
    LE32(3u);
    LE64(tlen);
    memcpy(b + o, tensors, tlen);
    o += tlen;
    uint32_t crc = (uint32_t)crc32(0, b, (uInt)o);
    LE32(crc);
#undef LE32
#undef LE64
    hu_write(path, b, o);
    free(b);
}

/* Tensor section bytes: count, then one tensor (name, dims) with no data. */
static size_t tensor_header(uint8_t *t, uint32_t count, const char *name, int ndim,
                            const uint64_t *dims)
{
    size_t o = 0, nl = strlen(name);
    uint32_t v[3] = {count, (uint32_t)nl, (uint32_t)ndim};
    memcpy(t + o, &v[0], 4), o += 4; /* little-endian host (x86-64, arm64) */
    memcpy(t + o, &v[1], 4), o += 4;
    memcpy(t + o, name, nl), o += nl;
    memcpy(t + o, &v[2], 4), o += 4;
    for (int d = 0; d < ndim; d++)
        memcpy(t + o, &dims[d], 8), o += 8;
    return o;
}

static void test_checkpoint_crafted(void)
{
    uint8_t t[256];
    const char *p = hu_path(tcu_tmpdir(), "crafted.ckpt");
    char *model = hu_slurp(LENET, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);

    uint64_t d1[1] = {1};
    size_t n = tensor_header(t, 0xffffffffu, "conv1.weight", 1, d1); /* C7 */
    memset(t + n, 0, 4), n += 4;
    write_raw_checkpoint(p, model, t, n);
    hu_run r = eval(p);
    HU_EXPECT_ERROR(r, p, "corrupt tensors section");
    hu_run_free(&r);

    uint64_t d64[3] = {1ull << 32, 1ull << 32, 1ull << 32}; /* C8 */
    n = tensor_header(t, 1, "conv1.weight", 3, d64);
    write_raw_checkpoint(p, model, t, n);
    EXPECT_EVAL_FAILS(p, "tensor 'conv1.weight'", "overflows");

    uint64_t d32[2] = {65536, 65536}; /* C9 */
    n = tensor_header(t, 1, "conv1.weight", 2, d32);
    write_raw_checkpoint(p, model, t, n);
    EXPECT_EVAL_FAILS(p, "tensor 'conv1.weight'", "needs 17179869184 bytes");

    n = tensor_header(t, 0, "", 0, NULL); /* C14 */
    write_raw_checkpoint(p, "", t, 4);
    EXPECT_EVAL_FAILS(p, "holds no model");

    char *cyc = lenet_with("\"inputs\": [\"image\"]", "\"inputs\": [\"pool2\"]"); /* C15 */
    write_raw_checkpoint(p, cyc, t, 4);
    r = eval(p);
    HU_EXPECT_ERROR(r, "crafted.ckpt (model)", "cycle");
    hu_run_free(&r);
    free(cyc);
    free(model);
}

/* Rewrites ckpt with element `at` of tensor `name` set to v. */
static void poke(const char *ckpt, const char *out, const char *name, int64_t at, float v)
{
    tc_checkpoint ck = {0};
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(ckpt, &ck, &err), &err);
    const tc_named_tensor *t = tc_checkpoint_find(&ck, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_FATAL(at < tc_shape_count(&t->shape));
    t->data[at] = v;
    TCU_ASSERT_OK(tc_checkpoint_write(out, &ck, &err), &err);
    tc_checkpoint_free(&ck);
}

static const char *trained_lenet; /* 1 epoch on the synthetic data, with Adam state */

static const char *trained_checkpoint(void)
{
    if (trained_lenet)
        return trained_lenet;
    static char path[600];
    snprintf(path, sizeof path, "%s", hu_path(tcu_tmpdir(), "lenet-trained.ckpt"));
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 --batch-size 16 --threads 1 --quiet -o %s",
                          LENET, data(), path);
    if (r.status != 0)
        fprintf(stderr, "\n  training failed: %s%s\n", r.out, r.err);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    trained_lenet = path;
    return path;
}

static void test_checkpoint_values(void)
{
    const char *p = hu_path(tcu_tmpdir(), "nan.ckpt"); /* C11 */
    poke(lenet_checkpoint(), p, "fc2.weight", 17, NAN);
    hu_run r = eval(p);
    HU_EXPECT_ERROR(r, "weight 'fc2.weight'", "NaN at element 17");
    hu_run_free(&r);
    r = hu_tinycnn("predict %s %s", p, p); /* the image is never reached */
    HU_EXPECT_ERROR(r, "weight 'fc2.weight'", "NaN at element 17");
    hu_run_free(&r);

    p = hu_path(tcu_tmpdir(), "inf.ckpt"); /* C12 */
    poke(lenet_checkpoint(), p, "conv1.bias", 2, INFINITY);
    r = eval(p);
    HU_EXPECT_ERROR(r, "weight 'conv1.bias'", "+Inf at element 2");
    hu_run_free(&r);

    /* C12: -Inf in Adam's state refuses the resume, and the file stays */
    const char *adam = hu_path(tcu_tmpdir(), "adam-inf.ckpt");
    poke(trained_checkpoint(), adam, "optim/fc1.bias.v", 3, -INFINITY);
    size_t nb = 0, na = 0;
    char *before = hu_slurp(adam, &nb);
    r = hu_tinycnn("train --resume %s --data %s --epochs 2 --quiet", adam, data());
    HU_EXPECT_ERROR(r, adam, "optimiser state", "fc1.bias.v", "-Inf at element 3");
    hu_run_free(&r);
    char *after = hu_slurp(adam, &na);
    /* binary: compare every byte, not up to the first zero */
    CU_ASSERT(before && after && na == nb && memcmp(before, after, nb) == 0);
    free(before);
    free(after);
}

static void test_checkpoint_other_model(void)
{
    /* C13: resuming LeNet's checkpoint with another model named explicitly */
    char *m = hu_tiny_model(NULL, NULL);
    const char *tiny = hu_path(tcu_tmpdir(), "other.json");
    hu_write(tiny, m, strlen(m));
    free(m);
    const char *out = hu_path(tcu_tmpdir(), "other-out.ckpt");
    hu_run r = hu_tinycnn("train --resume %s %s --data %s --epochs 2 --quiet -o %s",
                          trained_checkpoint(), tiny, data(), out);
    HU_EXPECT_ERROR(r, trained_checkpoint(), "node 'conv1' removed", "--allow-changes");
    hu_run_free(&r);
    /* allowed, the weights still have to fit */
    r = hu_tinycnn("train --resume %s %s --allow-changes --data %s --epochs 2 --quiet -o %s",
                   trained_checkpoint(), tiny, data(), out);
    HU_EXPECT_ERROR(r, trained_checkpoint(), "weight 'fc.weight'");
    hu_run_free(&r);

    /* the other way: a checkpoint with every weight of the model plus more */
    char *big = lenet_with("{\"name\": \"fc3\"", "{\"name\": \"extra\", \"type\": \"ReLU\", "
                                                  "\"inputs\": [\"relu4\"]}, {\"name\": \"fc3\"");
    const char *bigp = hu_path(tcu_tmpdir(), "lenet-plus.json");
    hu_write(bigp, big, strlen(big));
    free(big);
    r = hu_tinycnn("train --resume %s %s --allow-changes --data %s --epochs 2 --quiet -o %s",
                   trained_checkpoint(), bigp, data(), out);
    CU_ASSERT_EQUAL(r.status, 0); /* same weights, one more weightless node: compatible */
    hu_run_free(&r);
}

/* ---- plugins -------------------------------------------------------------- */

/* A fresh plugin folder (mode 0755) holding a copy of the given test plugin
 * (NULL: empty). */
static const char *plugin_dir(const char *name, const char *test_plugin)
{
    const char *d = hu_mkdir(name);
    CU_ASSERT_FATAL(chmod(d, 0755) == 0);
    if (test_plugin) {
        char from[600];
        snprintf(from, sizeof from, "%s/%s", TC_TEST_BAD_PLUGIN_DIR, test_plugin);
        hu_copy(from, hu_path(d, test_plugin), 0755);
    }
    return d;
}

static void test_plugin_forward_error(void)
{
    const char *d = plugin_dir("plug-fwd", "bad_forward_error.so"); /* G1 */
    char *m = hu_tiny_model("{\"name\":\"extra\",\"type\":\"FailForward\",\"inputs\":[\"flat\"],"
                            "\"params\":{\"fail_at\":3}}",
                            NULL);
    char mp[700], ck[700], img[700];
    snprintf(mp, sizeof mp, "%s", hu_path(tcu_tmpdir(), "failing.json"));
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "failing.ckpt"));
    snprintf(img, sizeof img, "%s", hu_path(tcu_tmpdir(), "digit.png"));
    hu_write(mp, m, strlen(m));
    free(m);
    hu_run r = hu_tinycnn("--plugin-dir %s train %s --data %s --epochs 1 --quiet -o %s", d, mp,
                          data(), ck);
    HU_EXPECT_ERROR(r, "node 'extra' (FailForward)", "deliberate failure at forward call 3",
                    "epoch 1, step 3", "no checkpoint was written");
    hu_run_free(&r);
    CU_ASSERT_NOT_EQUAL(access(ck, F_OK), 0);

    /* at inference: a checkpoint with the failing node, then predict */
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_registry_load_dir(reg, TC_TEST_PLUGIN_DIR, &err), &err);
    TCU_ASSERT_OK(tc_registry_load_dir(reg, d, &err), &err);
    tc_graph *g = tc_graph_load_file(reg, mp, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 1);
    TCU_ASSERT_OK(tc_snapshot_save(ck, g, NULL, NULL, &err), &err);
    tc_graph_free(g);
    tc_registry_free(reg);
    size_t n = 0;
    uint8_t *png = png_bytes(28, 28, &n);
    hu_write(img, png, n);
    free(png);
    /* fail_at 3: predict makes one forward call, which passes */
    r = hu_tinycnn("--plugin-dir %s predict %s %s", d, ck, img);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    m = hu_tiny_model("{\"name\":\"extra\",\"type\":\"FailForward\",\"inputs\":[\"flat\"]}", NULL);
    hu_write(mp, m, strlen(m)); /* fail_at defaults to 1 */
    free(m);
    reg = tc_registry_new();
    TCU_ASSERT_OK(tc_registry_load_dir(reg, TC_TEST_PLUGIN_DIR, &err), &err);
    TCU_ASSERT_OK(tc_registry_load_dir(reg, d, &err), &err);
    g = tc_graph_load_file(reg, mp, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 1);
    TCU_ASSERT_OK(tc_snapshot_save(ck, g, NULL, NULL, &err), &err);
    tc_graph_free(g);
    tc_registry_free(reg);
    r = hu_tinycnn("--plugin-dir %s predict %s %s", d, ck, img);
    HU_EXPECT_ERROR(r, "node 'extra' (FailForward)", "deliberate failure at forward call 1");
    hu_run_free(&r);
    r = hu_tinycnn("--plugin-dir %s eval %s --data %s", d, ck, data());
    HU_EXPECT_ERROR(r, "node 'extra' (FailForward)", "deliberate failure");
    hu_run_free(&r);
}

static void test_plugin_files(void)
{
    /* G2: an empty plugin folder is fine (and the standard plugins load) */
    hu_run r0 = hu_tinycnn("--plugin-dir %s plugins", plugin_dir("plug-empty", NULL));
    CU_ASSERT_EQUAL(r0.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r0.out, "Conv2d"));
    CU_ASSERT_EQUAL(r0.err[0], 0);
    hu_run_free(&r0);

    const char *d = plugin_dir("plug-garbage", NULL); /* G2 */
    const char *so = hu_path(d, "garbage.so");
    hu_write(so, "\x7f" "ELF this is not really ELF at all\n", 35);
    CU_ASSERT_FATAL(chmod(so, 0755) == 0);
    hu_run r = hu_tinycnn("--plugin-dir %s plugins", d);
    HU_EXPECT_ERROR(r, so, "not a loadable plugin");
    hu_run_free(&r);
    hu_write(so, "", 0);
    r = hu_tinycnn("--plugin-dir %s plugins", d);
    HU_EXPECT_ERROR(r, so, "not a loadable plugin");
    hu_run_free(&r);

    static const struct {
        const char *file, *needle;
    } rows[] = {
        {"bad_no_entry.so", "no entry symbol 'tc_plugin_init'"}, /* G3 */
        {"bad_old_abi.so", "ABI version 1"},                     /* G4 */
        {"bad_init_fails.so", "needs host ABI version 99"},      /* G5 */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "plug-%zu", i);
        d = plugin_dir(name, rows[i].file);
        r = hu_tinycnn("--plugin-dir %s plugins", d);
        HU_EXPECT_ERROR(r, hu_path(d, rows[i].file), rows[i].needle);
        hu_run_free(&r);
    }
}

/* `plugins` works (standard plugins) and prints one warning holding the
 * needles; the type of the refused plugin is not listed. */
static void expect_refused(const char *dir, const char *n1, const char *n2)
{
    hu_run r = hu_tinycnn("--plugin-dir %s plugins", dir);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(hu_count_lines(r.err), 1);
    CU_ASSERT(strncmp(r.err, "tinycnn: warning: ", 18) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, n1));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, n2));
    CU_ASSERT_PTR_NULL(strstr(r.out, "FailForward"));
    if (r.status != 0 || !strstr(r.err, n1) || !strstr(r.err, n2))
        fprintf(stderr, "\n  expected a warning with '%s', '%s': %s\n", n1, n2, r.err);
    hu_run_free(&r);
}

static void test_plugin_unsafe(void)
{
    const char *d = plugin_dir("plug-ww", "bad_forward_error.so"); /* G6 */
    const char *so = hu_path(d, "bad_forward_error.so");
    hu_run r = hu_tinycnn("--plugin-dir %s plugins", d); /* the control: it loads */
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "FailForward"));
    CU_ASSERT_EQUAL(r.err[0], 0);
    hu_run_free(&r);

    CU_ASSERT_FATAL(chmod(so, 0757) == 0);
    expect_refused(d, so, "every user can write");
    CU_ASSERT_FATAL(chmod(so, 0755) == 0);
    CU_ASSERT_FATAL(chmod(d, 0777) == 0);
    expect_refused(d, d, "every user can write");
    CU_ASSERT_FATAL(chmod(d, 0755) == 0);
    /* named directly, a world-writable file is an error */
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    CU_ASSERT_FATAL(chmod(so, 0666) == 0);
    TCU_ASSERT_FAILS_WITH(tc_registry_load_file(reg, so, &err), &err, "every user can write");
    CU_ASSERT_FATAL(chmod(so, 0755) == 0);
    tc_registry_free(reg);

    /* G7: writable by a group this process is not running as, or owned by
     * another user. Only root can hand a file to another owner or group. */
    if (geteuid() == 0) {
        const gid_t other_gid = 4242;
        const uid_t other_uid = 4242;
        CU_ASSERT_FATAL(chown(so, (uid_t)-1, other_gid) == 0);
        CU_ASSERT_FATAL(chmod(so, 0775) == 0);
        expect_refused(d, so, "group 4242 can write");
        CU_ASSERT_FATAL(chmod(so, 0755) == 0); /* group may own it if it cannot write */
        r = hu_tinycnn("--plugin-dir %s plugins", d);
        CU_ASSERT_EQUAL(r.status, 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "FailForward"));
        hu_run_free(&r);
        CU_ASSERT_FATAL(chown(so, other_uid, 0) == 0);
        expect_refused(d, so, "owned by another user (uid 4242)");
        CU_ASSERT_FATAL(chown(so, 0, 0) == 0);
        CU_ASSERT_FATAL(chown(d, other_uid, (gid_t)-1) == 0);
        expect_refused(d, d, "owned by another user");
        CU_ASSERT_FATAL(chown(d, 0, (gid_t)-1) == 0);
    } else {
        /* unprivileged: the own group may write (user-private groups) */
        CU_ASSERT_FATAL(chmod(so, 0775) == 0);
        r = hu_tinycnn("--plugin-dir %s plugins", d);
        CU_ASSERT_EQUAL(r.status, 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "FailForward"));
        hu_run_free(&r);
        fprintf(stderr, "\n  note: the other-owner and other-group cases need root\n");
    }
}

static void test_plugin_current_folder(void)
{
    /* G8: the current folder holds a plugin and a lib/tinycnn/plugins folder
     * with one; neither is loaded, so `plugins` lists no FailForward */
    const char *cwd = plugin_dir("cwd", "bad_forward_error.so");
    char sub[700];
    snprintf(sub, sizeof sub, "%s/lib", cwd);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/lib/tinycnn", cwd);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/lib/tinycnn/plugins", cwd);
    mkdir(sub, 0755);
    char from[600];
    snprintf(from, sizeof from, "%s/bad_forward_error.so", TC_TEST_BAD_PLUGIN_DIR);
    hu_copy(from, hu_path(sub, "x.so"), 0755);
    hu_opts o = {.cwd = cwd, .plugin_path = ""};
    hu_run r = hu_tinycnn_opt(&o, "plugins");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NULL(strstr(r.out, "FailForward"));
    CU_ASSERT_EQUAL(r.err[0], 0);
    hu_run_free(&r);

    /* relative or empty TINYCNN_PLUGIN_PATH entries: skipped with a warning */
    o.plugin_path = ".:lib/tinycnn/plugins::";
    r = hu_tinycnn_opt(&o, "plugins");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NULL(strstr(r.out, "FailForward"));
    CU_ASSERT_EQUAL(hu_count_lines(r.err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "entry '.' is relative"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "entry 'lib/tinycnn/plugins' is relative"));
    hu_run_free(&r);
    /* an absolute entry is used */
    o.plugin_path = cwd;
    r = hu_tinycnn_opt(&o, "plugins");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "FailForward"));
    hu_run_free(&r);

    /* a bare file name means that file in the current folder, not a search
     * of the library path: here "libm.so.6" is garbage, and dlopen() would
     * otherwise find the system's libm (and report a missing entry) */
    hu_write(hu_path(cwd, "libm.so.6"), "not a library\n", 14);
    char here[4096];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(here, sizeof here));
    CU_ASSERT_FATAL(chdir(cwd) == 0);
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(tc_registry_load_file(reg, "libm.so.6", &err), &err,
                          "not a loadable plugin");
    CU_ASSERT_EQUAL(tc_registry_count(reg), 0);
    tc_registry_free(reg);
    CU_ASSERT_FATAL(chdir(here) == 0);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"model files: truncated, oversized, binary, empty, folder", test_model_files},
        {"model dims: overflow 32/64 bits, zero, negative, too big", test_model_dims},
        {"model parameters and training settings out of range", test_model_params},
        {"model graphs: deep nesting, cycles, 10,000 nodes, bad names", test_model_graphs},
        {"IDX files", test_idx},
        {"PNG files", test_png},
        {"CIFAR-10 batches", test_cifar_files},
        {"JPEG files in class folders", test_jpeg_folders},
        {"checkpoint files", test_checkpoint_files},
        {"checkpoints crafted by hand", test_checkpoint_crafted},
        {"NaN and Inf in checkpoints", test_checkpoint_values},
        {"a checkpoint of another model", test_checkpoint_other_model},
        {"a plugin whose forward fails", test_plugin_forward_error},
        {"plugin files that do not load", test_plugin_files},
        {"plugins others can write to are refused", test_plugin_unsafe},
        {"never the current folder", test_plugin_current_folder},
        {NULL, NULL},
    };
    return tcu_run("hostile", tests);
}
