/* tinycnn-bench - speed of models/lenet5.json (issue 4) or of another model
 * (--model): training images/s at batch 32 and 128 (forward + backward +
 * optimiser step), inference images/s at batch 1 and 1000 (or another
 * batch: --only infer256), a per-layer time table of one training step,
 * peak RSS and the bytes of the graph's planned buffers.
 *
 *   tinycnn-bench [--threads N] [--images N] [--only LIST] [--json] ...
 *
 * A program to run by hand (bench/README.md), not a test. It drives the
 * public API the way the training loop does (prepare, fill the batch from
 * uint8 images, forward, backward, optimiser step), so the figures include
 * batch filling but no progress reporting or evaluation.
 *
 * The timed parts are separate from the setup: loading the data and the
 * model, and a few warm-up steps per figure (which plan the buffers for the
 * batch size and bring caches and thread pool up) are not timed. */
#define _XOPEN_SOURCE 700
#include "tinycnn/tinycnn.h"

#include <jansson.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef TINYCNN_BENCH_DEFAULT_MODEL
#define TINYCNN_BENCH_DEFAULT_MODEL "models/lenet5.json"
#endif

enum {
    F_TRAIN32 = 1,
    F_TRAIN128 = 2,
    F_INFER1 = 4,
    F_INFER1000 = 8,
    F_PROFILE = 16,
    F_ALL = 31
};

typedef struct options {
    const char *model;
    const char *plugin_dir;
    const char *data;
    int threads;
    int64_t images;       /* training images per training figure */
    int64_t infer_images; /* at least this many per inference figure */
    double min_seconds;   /* inference figures repeat until this long */
    int warmup;           /* untimed steps before each figure */
    int profile_steps;
    int only;
    int big_batch;        /* batch of the batched inference figure */
    int model_optim;      /* 1: the model's optimiser and lr; 0: Adam, lr 1e-3 */
    int64_t synthetic;    /* > 0: this many random training images, no data set */
    const char *dump;     /* --dump-check FILE */
    int json;
    uint64_t seed;
} options;

typedef struct bench {
    options o;
    tc_registry *reg;
    tc_graph *g;
    tc_dataset train, test;
    int synthetic;
    int image_in, label_in;
    float mean[3], std[3]; /* per data channel (1 or 3) */
    int64_t *order; /* shuffled training indices, drawn before any timing */
    tc_optim_config optim;
    float lr;
    tc_train_config cfg; /* --optimizer model: its lr schedule */
    int64_t steps_per_epoch; /* of the training figure running */
    json_t *out;
} bench;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* splitmix64: the shuffle and the synthetic data only need to be repeatable. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tinycnn-bench [options]\n"
            "Speed of a model (default LeNet-5): training and inference images/s, per-layer\n"
            "times, peak RSS, planned buffer bytes.\n"
            "  --model FILE        model (default: %s)\n"
            "  --plugin-dir DIR    layer plugins (default: those the runner finds)\n"
            "  --data DIR          MNIST IDX files (default: $TINYCNN_DATA, else data/mnist;\n"
            "                      random bytes of the same shape when absent)\n"
            "  --threads N         worker threads (default 0: the cores available)\n"
            "  --images N          training images per training figure (default 60000)\n"
            "  --infer-images N    images per inference figure, at least (default 10000)\n"
            "  --min-seconds S     inference figures repeat for at least S s (default 0.5)\n"
            "  --warmup N          untimed steps before each figure (default 20)\n"
            "  --profile-steps N   training steps in the per-layer table (default 200)\n"
            "  --only LIST         comma-separated subset of train32,train128,infer1,\n"
            "                      infer1000,profile (default: all); inferN (N 2..1024)\n"
            "                      in place of infer1000 times batch N instead\n"
            "  --optimizer WHICH   adam (default: Adam, lr 0.001) or model (the optimiser,\n"
            "                      momentum, weight decay, lr and lr schedule of the model's\n"
            "                      training settings, an epoch being the training images)\n"
            "  --synthetic N       no data set: N random training images (and N/6 test\n"
            "                      images, at least 1) of the model's input shape\n"
            "  --dump-check FILE   write the initialised weights, 4 input images, the\n"
            "                      outputs (inference and a training forward) and the\n"
            "                      weights after two optimiser steps to FILE and FILE.bin\n"
            "                      for bench/pytorch_model.py --check, then exit\n"
            "  --seed N            weights and shuffle seed (default 1)\n"
            "  --json              one JSON object on stdout instead of the text report\n",
            TINYCNN_BENCH_DEFAULT_MODEL);
}

static int parse_int64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) {
        fprintf(stderr, "tinycnn-bench: %s wants an integer from %lld to %lld, not '%s'\n", opt,
                (long long)lo, (long long)hi, s);
        return 1;
    }
    *v = x;
    return 0;
}

/* "inferN" for 2 <= N <= 1024: the batched inference figure at batch N
 * (infer1000 by default; the last one named wins). */
static int parse_infer_batch(const char *p, size_t len, int *big)
{
    if (len < 6 || len > 9 || strncmp(p, "infer", 5) != 0)
        return 0;
    int n = 0;
    for (size_t i = 5; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        n = 10 * n + (p[i] - '0');
    }
    if (n < 2 || n > 1024 || p[5] == '0')
        return 0;
    *big = n;
    return 1;
}

static int parse_only(const char *s, int *mask, int *big)
{
    static const struct { const char *name; int bit; } names[] = {
        {"train32", F_TRAIN32}, {"train128", F_TRAIN128}, {"infer1", F_INFER1},
        {"profile", F_PROFILE}, {"all", F_ALL},
    };
    *mask = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0) {
                *mask |= names[i].bit;
                found = 1;
            }
        if (!found && parse_infer_batch(p, len, big)) {
            *mask |= F_INFER1000;
            found = 1;
        }
        if (!found) {
            fprintf(stderr, "tinycnn-bench: --only: unknown figure '%.*s' (want train32, "
                            "train128, infer1, infer1000, inferN, profile or all)\n", (int)len, p);
            return 1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (!*mask) {
        fprintf(stderr, "tinycnn-bench: --only needs at least one figure\n");
        return 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.model = TINYCNN_BENCH_DEFAULT_MODEL, .images = 60000,
                   .infer_images = 10000, .min_seconds = 0.5, .warmup = 20,
                   .profile_steps = 200, .only = F_ALL, .big_batch = 1000, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tinycnn-bench: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 1;
        }
        const char *v = argv[++i];
        int64_t x;
        if (!strcmp(a, "--model")) {
            o->model = v;
        } else if (!strcmp(a, "--plugin-dir")) {
            o->plugin_dir = v;
        } else if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "--threads")) {
            if (parse_int64(a, v, 0, 1024, &x))
                return 1;
            o->threads = (int)x;
        } else if (!strcmp(a, "--images")) {
            if (parse_int64(a, v, 1, INT64_MAX / 2, &o->images))
                return 1;
        } else if (!strcmp(a, "--infer-images")) {
            if (parse_int64(a, v, 1, INT64_MAX / 2, &o->infer_images))
                return 1;
        } else if (!strcmp(a, "--min-seconds")) {
            char *end;
            o->min_seconds = strtod(v, &end);
            if (end == v || *end || o->min_seconds < 0) {
                fprintf(stderr, "tinycnn-bench: --min-seconds wants a number >= 0, not '%s'\n", v);
                return 1;
            }
        } else if (!strcmp(a, "--warmup")) {
            if (parse_int64(a, v, 0, 1000000, &x))
                return 1;
            o->warmup = (int)x;
        } else if (!strcmp(a, "--profile-steps")) {
            if (parse_int64(a, v, 1, 1000000, &x))
                return 1;
            o->profile_steps = (int)x;
        } else if (!strcmp(a, "--only")) {
            if (parse_only(v, &o->only, &o->big_batch))
                return 1;
        } else if (!strcmp(a, "--optimizer")) {
            if (strcmp(v, "adam") != 0 && strcmp(v, "model") != 0) {
                fprintf(stderr, "tinycnn-bench: --optimizer wants adam or model, not '%s'\n", v);
                return 1;
            }
            o->model_optim = !strcmp(v, "model");
        } else if (!strcmp(a, "--synthetic")) {
            if (parse_int64(a, v, 1, 100000000, &o->synthetic))
                return 1;
        } else if (!strcmp(a, "--dump-check")) {
            o->dump = v;
        } else if (!strcmp(a, "--seed")) {
            if (parse_int64(a, v, 0, INT64_MAX, &x))
                return 1;
            o->seed = (uint64_t)x;
        } else {
            fprintf(stderr, "tinycnn-bench: unknown option: %s\n", a);
            usage(stderr);
            return 1;
        }
    }
    return 0;
}

/* ---- setup -------------------------------------------------------------- */

static int load_plugins(bench *b)
{
    tc_error err = {{0}};
    b->reg = tc_registry_new();
    if (!b->reg) {
        fprintf(stderr, "tinycnn-bench: out of memory\n");
        return 1;
    }
    /* --plugin-dir names the one set to measure; else as the runner finds them */
    int rc = b->o.plugin_dir ? tc_registry_load_dir(b->reg, b->o.plugin_dir, &err)
                             : tc_plugin_discover(b->reg, NULL, 0, &err);
    for (int i = 0; i < tc_registry_n_warnings(b->reg); i++)
        fprintf(stderr, "tinycnn-bench: warning: %s\n", tc_registry_warning(b->reg, i));
    if (rc != 0) {
        fprintf(stderr, "tinycnn-bench: plugins: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int synthetic_set(tc_dataset *ds, int64_t count, int c, int h, int w, uint64_t seed)
{
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    *ds = (tc_dataset){.count = count, .channels = c, .height = h, .width = w};
    ds->pixels = malloc((size_t)count * per);
    ds->labels = malloc((size_t)count);
    if (!ds->pixels || !ds->labels) {
        tc_dataset_free(ds);
        return 1;
    }
    uint64_t s = seed;
    for (size_t i = 0; i < (size_t)count * per; i++)
        ds->pixels[i] = (uint8_t)(next_rand(&s) >> 56);
    for (int64_t i = 0; i < count; i++)
        ds->labels[i] = (uint8_t)(next_rand(&s) % 10);
    return 0;
}

static int load_data(bench *b)
{
    const tc_input_info *in = tc_graph_input(b->g, b->image_in);
    int c = (int)in->shape.dims[0], h = (int)in->shape.dims[1], w = (int)in->shape.dims[2];
    const char *dir = b->o.data;
    if (!dir)
        dir = getenv("TINYCNN_DATA");
    if (!dir || !*dir)
        dir = "data/mnist";
    tc_error err = {{0}};
    int64_t n_train = 60000, n_test = 10000;
    if (b->o.synthetic > 0) {
        n_train = b->o.synthetic;
        n_test = n_train / 6 > 0 ? n_train / 6 : 1;
    } else if (tc_dataset_load(dir, "train", c, h, w, &b->train, &err) == 0 &&
               tc_dataset_load(dir, "test", c, h, w, &b->test, &err) == 0) {
        json_object_set_new(b->out, "data", json_string(dir));
        return 0;
    } else {
        tc_dataset_free(&b->train);
        fprintf(stderr, "tinycnn-bench: note: no MNIST (%s); using random bytes of the same "
                        "shape (60000 + 10000 images). Speed does not depend on the pixel "
                        "values.\n", err.msg);
    }
    b->synthetic = 1;
    json_object_set_new(b->out, "data", json_string("synthetic"));
    if (synthetic_set(&b->train, n_train, c, h, w, b->o.seed) != 0 ||
        synthetic_set(&b->test, n_test, c, h, w, b->o.seed + 1) != 0) {
        fprintf(stderr, "tinycnn-bench: out of memory for the synthetic data\n");
        return 1;
    }
    return 0;
}

/* The optimiser of the training figures: Adam at lr 1e-3 (the LeNet-5
 * figures since issue 4), or the model's own settings and lr schedule, an
 * epoch being a pass over the training images (so a warm-up keeps the
 * first steps on random labels from diverging, as in a real run). */
static int setup_optim(bench *b)
{
    b->optim = (tc_optim_config){.kind = TC_OPTIM_ADAM, .beta1 = 0.9f, .beta2 = 0.999f,
                                 .eps = 1e-8f};
    b->lr = 1e-3f;
    if (!b->o.model_optim)
        return 0;
    tc_error err = {{0}};
    if (tc_train_config_from_graph(b->g, &b->cfg, &err) != 0) {
        fprintf(stderr, "tinycnn-bench: %s: training settings: %s\n", b->o.model, err.msg);
        return 1;
    }
    b->optim = b->cfg.optim;
    b->lr = (float)b->cfg.lr;
    return 0;
}

static int setup(bench *b)
{
    tc_error err = {{0}};
    /* before the graph plans anything: the plan records the thread count */
    tc_set_threads(b->o.threads);
    if (load_plugins(b) != 0)
        return 1;
    b->g = tc_graph_load_file(b->reg, b->o.model, &err);
    if (!b->g) {
        fprintf(stderr, "tinycnn-bench: %s\n", err.msg);
        return 1;
    }
    b->image_in = tc_graph_image_input(b->g);
    b->label_in = tc_graph_label_input(b->g);
    if (b->image_in < 0 || b->label_in < 0 ||
        tc_graph_input(b->g, b->image_in)->shape.ndim != 3) {
        fprintf(stderr, "tinycnn-bench: %s: want one CxHxW image input and a label input\n",
                b->o.model);
        return 1;
    }
    const tc_input_info *in = tc_graph_input(b->g, b->image_in);
    for (int c = 0; c < 3; c++) {
        b->mean[c] = tc_input_mean(in, c < in->n_norm ? c : 0);
        b->std[c] = tc_input_std(in, c < in->n_norm ? c : 0);
    }
    if (load_data(b) != 0 || setup_optim(b) != 0)
        return 1;
    b->order = malloc((size_t)b->train.count * sizeof *b->order);
    if (!b->order) {
        fprintf(stderr, "tinycnn-bench: out of memory\n");
        return 1;
    }
    /* Fisher-Yates: batches gather scattered images, as in real training */
    for (int64_t i = 0; i < b->train.count; i++)
        b->order[i] = i;
    uint64_t s = b->o.seed ^ 0x5eedull;
    for (int64_t i = b->train.count - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_rand(&s) % (uint64_t)(i + 1));
        int64_t t = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = t;
    }
    return 0;
}

/* ---- training ----------------------------------------------------------- */

typedef struct step_times {
    double fill, forward, backward, update;
} step_times;

/* One training step on `cnt` images starting at position `pos` of the
 * shuffled order (wrapping round). times may be NULL. */
static int train_step(bench *b, tc_optimizer *opt, int cnt, int64_t pos, uint64_t step,
                      step_times *times)
{
    tc_error err = {{0}};
    int64_t idx[1024];
    int64_t n = b->train.count;
    for (int i = 0; i < cnt; i++)
        idx[i] = b->order[(pos + i) % n];
    double t0 = times ? now() : 0;
    if (tc_graph_prepare(b->g, cnt, 1, &err) != 0)
        goto fail;
    tc_dataset_fill_batch_channels(&b->train, idx, cnt, b->mean, b->std,
                                   tc_graph_input_data(b->g, b->image_in),
                                   tc_graph_input_data(b->g, b->label_in));
    double t1 = times ? now() : 0;
    if (tc_graph_forward(b->g, 1, step, &err) != 0)
        goto fail;
    double t2 = times ? now() : 0;
    if (tc_graph_backward(b->g, &err) != 0)
        goto fail;
    double t3 = times ? now() : 0;
    float lr = b->lr;
    if (b->o.model_optim)
        lr = (float)tc_lr_at(&b->cfg, (int)(step / (uint64_t)b->steps_per_epoch),
                             (int64_t)(step % (uint64_t)b->steps_per_epoch), b->steps_per_epoch);
    tc_optimizer_step(opt, lr);
    if (times) {
        double t4 = now();
        times->fill += t1 - t0;
        times->forward += t2 - t1;
        times->backward += t3 - t2;
        times->update += t4 - t3;
    }
    return 0;
fail:
    fprintf(stderr, "tinycnn-bench: training step %llu: %s\n", (unsigned long long)step, err.msg);
    return 1;
}

static tc_optimizer *fresh_model(bench *b, int bs)
{
    tc_error err = {{0}};
    b->steps_per_epoch = (b->train.count + bs - 1) / bs;
    tc_graph_init_weights(b->g, b->o.seed);
    tc_optimizer *opt = tc_optimizer_new(b->g, &b->optim, &err);
    if (!opt)
        fprintf(stderr, "tinycnn-bench: optimiser: %s\n", err.msg);
    return opt;
}

/* Training images/s over b->o.images images (the last batch may be short,
 * as in an epoch), after the warm-up steps. */
static int bench_train(bench *b, int bs, const char *key)
{
    tc_optimizer *opt = fresh_model(b, bs);
    if (!opt)
        return 1;
    uint64_t step = 0;
    int64_t pos = 0;
    double first_loss = 0;
    for (int i = 0; i < b->o.warmup; i++, step++, pos += bs) {
        if (train_step(b, opt, bs, pos, step, NULL) != 0)
            goto fail;
        if (i == 0)
            first_loss = tc_graph_loss(b->g);
    }
    int64_t done = 0;
    double t0 = now();
    while (done < b->o.images) {
        int cnt = (int)(b->o.images - done < bs ? b->o.images - done : bs);
        if (train_step(b, opt, cnt, pos, step, NULL) != 0)
            goto fail;
        if (step == 0)
            first_loss = tc_graph_loss(b->g);
        done += cnt;
        pos += cnt;
        step++;
    }
    double sec = now() - t0;
    json_t *r = json_object();
    json_object_set_new(r, "batch", json_integer(bs));
    json_object_set_new(r, "images", json_integer(done));
    json_object_set_new(r, "seconds", json_real(sec));
    json_object_set_new(r, "images_per_s", json_real((double)done / sec));
    json_object_set_new(r, "loss_first", json_real(first_loss));
    json_object_set_new(r, "loss_last", json_real(tc_graph_loss(b->g)));
    json_object_set_new(b->out, key, r);
    if (!b->o.json)
        printf("train   batch %4d: %9.0f images/s  (%lld images in %.2f s; loss %.3f -> %.3f)\n",
               bs, (double)done / sec, (long long)done, sec, first_loss, tc_graph_loss(b->g));
    tc_optimizer_free(opt);
    return 0;
fail:
    tc_optimizer_free(opt);
    return 1;
}

/* ---- inference ---------------------------------------------------------- */

static int infer_batch(bench *b, int cnt, int64_t first)
{
    tc_error err = {{0}};
    int64_t idx[1024];
    for (int i = 0; i < cnt; i++)
        idx[i] = (first + i) % b->test.count;
    if (tc_graph_prepare(b->g, cnt, 0, &err) != 0)
        goto fail;
    tc_dataset_fill_batch_channels(&b->test, idx, cnt, b->mean, b->std,
                                   tc_graph_input_data(b->g, b->image_in), NULL);
    if (tc_graph_forward(b->g, 0, 0, &err) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "tinycnn-bench: inference: %s\n", err.msg);
    return 1;
}

/* Inference images/s: passes over the test set (training = 0) until at
 * least infer_images images and min_seconds have gone by. */
static int bench_infer(bench *b, int bs, const char *key)
{
    tc_graph_init_weights(b->g, b->o.seed);
    int64_t pos = 0;
    int warm = b->o.warmup * (bs == 1 ? 10 : 1);
    for (int i = 0; i < warm; i++, pos += bs)
        if (infer_batch(b, bs, pos) != 0)
            return 1;
    int64_t done = 0;
    double t0 = now(), sec = 0;
    while (done < b->o.infer_images || sec < b->o.min_seconds) {
        if (infer_batch(b, bs, pos) != 0)
            return 1;
        pos += bs;
        done += bs;
        sec = now() - t0;
    }
    json_t *r = json_object();
    json_object_set_new(r, "batch", json_integer(bs));
    json_object_set_new(r, "images", json_integer(done));
    json_object_set_new(r, "seconds", json_real(sec));
    json_object_set_new(r, "images_per_s", json_real((double)done / sec));
    int slice = tc_graph_slice_rows(b->g); /* 0: one pass */
    json_object_set_new(r, "slice_rows", json_integer(slice));
    json_object_set_new(b->out, key, r);
    if (!b->o.json)
        printf("infer   batch %4d: %9.0f images/s  (%lld images in %.2f s; %.1f us/image; "
               "%d rows a pass)\n",
               bs, (double)done / sec, (long long)done, sec, 1e6 * sec / (double)done,
               slice ? slice : bs);
    return 0;
}

/* ---- per-layer profile -------------------------------------------------- */

/* Per-node forward seconds of `batches` inference batches of bs images
 * (after untimed warm-up batches) into per_node; *total: all of it. */
static int profile_infer(bench *b, int bs, int batches, double *per_node, double *total)
{
    int n_nodes = tc_graph_n_nodes(b->g);
    tc_graph_set_profiling(b->g, 0);
    int warm = bs == 1 ? b->o.warmup : 1;
    for (int i = 0; i < warm; i++)
        if (infer_batch(b, bs, (int64_t)i * bs) != 0)
            return 1;
    tc_graph_profile_reset(b->g);
    tc_graph_set_profiling(b->g, 1);
    double t0 = now();
    for (int i = 0; i < batches; i++)
        if (infer_batch(b, bs, (int64_t)i * bs) != 0)
            return 1;
    *total = now() - t0;
    tc_graph_set_profiling(b->g, 0);
    for (int k = 0; k < n_nodes; k++)
        tc_graph_profile(b->g, k, &per_node[k], NULL, NULL);
    tc_graph_profile_reset(b->g);
    return 0;
}

/* Per-node forward/backward time of training steps at batch 32, with the
 * parts outside the graph (batch filling, optimiser step) measured here;
 * and per-node forward time of batch-1 inference. */
/* Seconds per batch of bs to fill the training batch on one thread, with
 * aug (NULL: plain), over the batches of `steps` steps: what augmentation
 * adds to a training step (which fills its batch the same way, split over
 * the worker threads). */
static double fill_seconds(bench *b, int bs, int steps, const tc_augment_spec *aug)
{
    int64_t idx[1024], n = b->train.count;
    float *x = tc_graph_input_data(b->g, b->image_in), *y = tc_graph_input_data(b->g, b->label_in);
    double t0 = now();
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < bs; i++)
            idx[i] = b->order[((int64_t)s * bs + i) % n];
        tc_augment_fill(&b->train, idx, 0, bs, b->mean, b->std, aug, (uint64_t)s, x, y);
    }
    return (now() - t0) / steps;
}

/* The augmentation figure: plain and augmented filling against the step. */
static void report_augment(bench *b, int bs, int steps, double step_us, json_t *r)
{
    tc_augment_spec aug = {.seed = b->o.seed, .shift = 2, .crop_pad = 4, .flip = 1};
    double plain = 1e6 * fill_seconds(b, bs, steps, NULL);
    double with = 1e6 * fill_seconds(b, bs, steps, &aug);
    json_object_set_new(r, "fill_plain_us", json_real(plain));
    json_object_set_new(r, "fill_augmented_us", json_real(with));
    json_object_set_new(r, "augment_share_of_step", json_real((with - plain) / step_us));
    if (!b->o.json)
        printf("  augmentation (shift 2, crop with padding 4, flip), one thread: filling a batch "
               "of %d\n  takes %.1f us plain and %.1f us augmented: +%.1f us, %.1f%% of a "
               "training step\n",
               bs, plain, with, with - plain, 100.0 * (with - plain) / step_us);
}

static int bench_profile(bench *b)
{
    const int bs = 32;
    tc_optimizer *opt = fresh_model(b, bs);
    if (!opt)
        return 1;
    int64_t pos = 0;
    uint64_t step = 0;
    for (int i = 0; i < b->o.warmup; i++, step++, pos += bs)
        if (train_step(b, opt, bs, pos, step, NULL) != 0)
            goto fail;
    int n_nodes = tc_graph_n_nodes(b->g);
    double *fwd = calloc((size_t)n_nodes * 4, sizeof *fwd);
    if (!fwd)
        goto fail;
    double *bwd = fwd + n_nodes, *inf = fwd + 2 * n_nodes, *inf_big = fwd + 3 * n_nodes;

    step_times st = {0};
    tc_graph_profile_reset(b->g);
    tc_graph_set_profiling(b->g, 1);
    int steps = b->o.profile_steps;
    double t0 = now();
    for (int i = 0; i < steps; i++, step++, pos += bs)
        if (train_step(b, opt, bs, pos, step, &st) != 0) {
            free(fwd);
            goto fail;
        }
    double total = now() - t0;
    for (int k = 0; k < n_nodes; k++)
        tc_graph_profile(b->g, k, &fwd[k], &bwd[k], NULL);

    /* inference, forward only: batch 1 and batch 1000 */
    int infer_n = 10 * steps;
    double infer_total = 0;
    if (profile_infer(b, 1, infer_n, inf, &infer_total) != 0) {
        free(fwd);
        goto fail;
    }
    int big_n = steps / 20 > 2 ? steps / 20 : 2;
    double big_total = 0;
    if (profile_infer(b, 1000, big_n, inf_big, &big_total) != 0) {
        free(fwd);
        goto fail;
    }

    double step_us = 1e6 * total / steps;
    double b1_us = 1e6 * infer_total / infer_n;            /* per image */
    double big_us = 1e6 * big_total / (1000.0 * big_n);    /* per image */
    json_t *r = json_object();
    json_object_set_new(r, "batch", json_integer(bs));
    json_object_set_new(r, "steps", json_integer(steps));
    json_object_set_new(r, "step_us", json_real(step_us));
    json_object_set_new(r, "fill_us", json_real(1e6 * st.fill / steps));
    json_object_set_new(r, "forward_us", json_real(1e6 * st.forward / steps));
    json_object_set_new(r, "backward_us", json_real(1e6 * st.backward / steps));
    json_object_set_new(r, "update_us", json_real(1e6 * st.update / steps));
    json_object_set_new(r, "infer1_image_us", json_real(b1_us));
    json_object_set_new(r, "infer1000_image_us", json_real(big_us));
    json_t *nodes = json_array();
    double node_sum = 0;
    for (int k = 0; k < n_nodes; k++) {
        json_t *nd = json_object();
        json_object_set_new(nd, "name", json_string(tc_graph_node_name(b->g, k)));
        json_object_set_new(nd, "type", json_string(tc_graph_node_type(b->g, k)));
        json_object_set_new(nd, "forward_us", json_real(1e6 * fwd[k] / steps));
        json_object_set_new(nd, "backward_us", json_real(1e6 * bwd[k] / steps));
        json_object_set_new(nd, "infer1_forward_us", json_real(1e6 * inf[k] / infer_n));
        json_object_set_new(nd, "infer1000_forward_us_per_image",
                            json_real(1e6 * inf_big[k] / (1000.0 * big_n)));
        json_array_append_new(nodes, nd);
        node_sum += fwd[k] + bwd[k];
    }
    json_object_set_new(r, "nodes", nodes);
    json_object_set_new(b->out, "profile", r);

    if (!b->o.json) {
        printf("\nper-layer times, %d thread%s: a training step at batch %d (us per step, mean of\n"
               "%d steps); inference forward at batch 1 (us per image, %d images) and at batch\n"
               "1000 (us per image, %d batches); share = of the column's total\n\n",
               tc_get_threads(), tc_get_threads() == 1 ? "" : "s", bs, steps, infer_n, big_n);
        printf("  %-8s %-19s %8s %8s %8s %6s | %7s %6s | %7s %6s\n", "node", "type", "fwd",
               "bwd", "fwd+bwd", "share", "b1", "share", "b1000", "share");
        for (int k = 0; k < n_nodes; k++) {
            double f = 1e6 * fwd[k] / steps, bw = 1e6 * bwd[k] / steps;
            double i1 = 1e6 * inf[k] / infer_n, ib = 1e6 * inf_big[k] / (1000.0 * big_n);
            printf("  %-8s %-19s %8.1f %8.1f %8.1f %5.1f%% | %7.2f %5.1f%% | %7.2f %5.1f%%\n",
                   tc_graph_node_name(b->g, k), tc_graph_node_type(b->g, k), f, bw, f + bw,
                   100.0 * (f + bw) / step_us, i1, 100.0 * i1 / b1_us, ib,
                   100.0 * ib / big_us);
        }
        double fill = 1e6 * st.fill / steps, upd = 1e6 * st.update / steps;
        double other = step_us - 1e6 * node_sum / steps - fill - upd;
        printf("  %-28s %8.1f %8s %8.1f %5.1f%% |\n", "(batch filling)", fill, "", fill,
               100.0 * fill / step_us);
        printf("  %-28s %8s %8.1f %8.1f %5.1f%% |\n",
               b->optim.kind == TC_OPTIM_ADAM ? "(Adam step)" : "(SGD step)", "", upd, upd,
               100.0 * upd / step_us);
        printf("  %-28s %8s %8s %8.1f %5.1f%% |\n", "(rest: graph, timing)", "", "", other,
               100.0 * other / step_us);
        printf("  %-28s %8.1f %8.1f %8.1f %5.1f%% | %7.2f %5.1f%% | %7.2f %5.1f%%\n", "total",
               1e6 * st.forward / steps, 1e6 * st.backward / steps, step_us, 100.0, b1_us,
               100.0, big_us, 100.0);
        printf("  (with profiling on: %.0f training images/s; inference %.0f and %.0f images/s;\n"
               "   inference totals include batch filling)\n",
               bs * 1e6 / step_us, 1e6 / b1_us, 1e6 / big_us);
    }
    tc_graph_prepare(b->g, bs, 1, NULL);
    report_augment(b, bs, steps, step_us, r);
    free(fwd);
    tc_optimizer_free(opt);
    return 0;
fail:
    tc_optimizer_free(opt);
    return 1;
}

/* ---- the check against PyTorch (--dump-check) --------------------------- */

/* Appends t's shape as a JSON array to entry e (key "shape"), and its
 * floats to f; 1 on a write error. */
static int dump_tensor(FILE *f, json_t *list, const char *name, const tc_tensor *t)
{
    json_t *e = json_object(), *shape = json_array();
    for (int d = 0; d < t->shape.ndim; d++)
        json_array_append_new(shape, json_integer(t->shape.dims[d]));
    json_object_set_new(e, "name", json_string(name));
    json_object_set_new(e, "shape", shape);
    json_array_append_new(list, e);
    size_t n = (size_t)tc_shape_count(&t->shape);
    return fwrite(t->data, sizeof(float), n, f) != n;
}

/* One forward of the first 4 test images (training: also their labels);
 * appends the input and the logits. */
static int dump_forward(bench *b, FILE *f, json_t *list, int training, json_t *hdr)
{
    enum { N = 4 };
    int64_t idx[N] = {0, 1, 2, 3};
    tc_error err = {{0}};
    for (int i = 0; i < N; i++)
        idx[i] = i % b->test.count;
    if (tc_graph_prepare(b->g, N, training, &err) != 0)
        goto fail;
    float *x = tc_graph_input_data(b->g, b->image_in);
    tc_dataset_fill_batch_channels(&b->test, idx, N, b->mean, b->std, x,
                                   training ? tc_graph_input_data(b->g, b->label_in) : NULL);
    tc_tensor in = {.data = x, .shape = tc_graph_input(b->g, b->image_in)->shape};
    in.shape.ndim = 4;
    for (int d = 3; d > 0; d--)
        in.shape.dims[d] = in.shape.dims[d - 1];
    in.shape.dims[0] = N;
    if (tc_graph_forward(b->g, training, 0, &err) != 0)
        goto fail;
    const char *what = training ? "train" : "eval";
    char name[32];
    snprintf(name, sizeof name, "%s.input", what);
    int rc = dump_tensor(f, list, name, &in);
    snprintf(name, sizeof name, "%s.output", what);
    rc |= dump_tensor(f, list, name, tc_graph_output(b->g));
    if (training) {
        json_t *labels = json_array();
        for (int i = 0; i < N; i++)
            json_array_append_new(labels, json_integer(b->test.labels[idx[i]]));
        json_object_set_new(hdr, "labels", labels);
        json_object_set_new(hdr, "train_loss", json_real(tc_graph_loss(b->g)));
    }
    return rc;
fail:
    fprintf(stderr, "tinycnn-bench: --dump-check: %s\n", err.msg);
    return -1;
}

/* After dump_forward's training forward: two optimiser steps at the base
 * lr on that batch (the second after another forward), then every weight
 * as "step2.<name>": the gradients and the update rule, checked. */
static int dump_steps(bench *b, FILE *f, json_t *list)
{
    tc_error err = {{0}};
    tc_optimizer *opt = tc_optimizer_new(b->g, &b->optim, &err);
    int rc = !opt;
    for (int s = 0; s < 2 && rc == 0; s++) {
        rc = (s > 0 && tc_graph_forward(b->g, 1, (uint64_t)s, &err) != 0) ||
             tc_graph_backward(b->g, &err) != 0;
        if (rc == 0)
            tc_optimizer_step(opt, b->lr);
    }
    tc_optimizer_free(opt);
    if (rc) {
        fprintf(stderr, "tinycnn-bench: --dump-check: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < tc_graph_n_weights(b->g) && rc == 0; i++) {
        tc_weight *w = tc_graph_weight(b->g, i);
        char name[256];
        snprintf(name, sizeof name, "step2.%s", w->name);
        rc = dump_tensor(f, list, name, &w->value);
    }
    return rc;
}

/* --dump-check FILE: writes FILE (JSON: the tensors' names and shapes, in
 * file order) and FILE.bin (their float32 values in native byte order):
 * every weight and state as initialised, then an inference forward's input
 * and output, then a training forward's, then the weights after two
 * optimiser steps. bench/pytorch_model.py --check loads the weights into
 * its net and compares. */
static int dump_check(bench *b)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s.bin", b->o.dump);
    FILE *f = fopen(bin, "wb");
    if (!f) {
        fprintf(stderr, "tinycnn-bench: %s: %s\n", bin, strerror(errno));
        return 1;
    }
    tc_graph_init_weights(b->g, b->o.seed);
    json_t *hdr = json_object(), *list = json_array();
    json_object_set_new(hdr, "model", json_string(b->o.model));
    json_object_set_new(hdr, "weights", json_integer(tc_graph_n_weight_elements(b->g)));
    int rc = 0;
    for (int i = 0; i < tc_graph_n_weights(b->g); i++) {
        tc_weight *w = tc_graph_weight(b->g, i);
        rc |= dump_tensor(f, list, w->name, &w->value);
    }
    for (int i = 0; i < tc_graph_n_states(b->g); i++) {
        tc_weight *w = tc_graph_state(b->g, i);
        rc |= dump_tensor(f, list, w->name, &w->value);
    }
    if (rc == 0)
        rc = dump_forward(b, f, list, 0, hdr);
    if (rc == 0)
        rc = dump_forward(b, f, list, 1, hdr);
    if (rc == 0)
        rc = dump_steps(b, f, list);
    json_object_set_new(hdr, "optimizer", json_string(tc_optimizer_kind_name(b->optim.kind)));
    json_object_set_new(hdr, "lr", json_real(b->lr));
    json_object_set_new(hdr, "tensors", list);
    rc |= fclose(f) != 0;
    if (rc == 0)
        rc = json_dump_file(hdr, b->o.dump, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) != 0;
    json_decref(hdr);
    if (rc)
        fprintf(stderr, "tinycnn-bench: could not write %s and %s\n", b->o.dump, bin);
    return rc != 0;
}

/* ---- report ------------------------------------------------------------- */

static void cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(buf, cap, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    bench b = {0};
    if (parse_args(argc, argv, &b.o) != 0)
        return 2;
    b.out = json_object();
    int rc = 1;
    if (setup(&b) != 0)
        goto done;

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    json_object_set_new(b.out, "program", json_string("tinycnn"));
    json_object_set_new(b.out, "model", json_string(b.o.model));
    json_object_set_new(b.out, "threads", json_integer(tc_get_threads()));
    json_object_set_new(b.out, "cpu", json_string(cpu));
    json_object_set_new(b.out, "weights", json_integer(tc_graph_n_weight_elements(b.g)));
    json_object_set_new(b.out, "optimizer", json_string(tc_optimizer_kind_name(b.optim.kind)));
    json_object_set_new(b.out, "lr", json_real(b.lr));
    if (b.o.dump) {
        rc = dump_check(&b);
        goto done;
    }
    if (!b.o.json)
        printf("tinycnn-bench: %s, %d thread%s, %s data (%s), %s\n\n", b.o.model,
               tc_get_threads(), tc_get_threads() == 1 ? "" : "s",
               b.synthetic ? "synthetic" : "MNIST",
               json_string_value(json_object_get(b.out, "data")), cpu);

    long rss_loaded = peak_rss_kb();
    json_object_set_new(b.out, "rss_after_load_kb", json_integer(rss_loaded));
    /* batch 32 first, so the peak it leaves is that of a training process
     * (data, graph, buffers for batch 32, Adam state) before anything else */
    if ((b.o.only & F_TRAIN32) && bench_train(&b, 32, "train32") != 0)
        goto done;
    if (b.o.only & F_TRAIN32)
        json_object_set_new(b.out, "rss_after_train32_kb", json_integer(peak_rss_kb()));
    if ((b.o.only & F_TRAIN128) && bench_train(&b, 128, "train128") != 0)
        goto done;
    if ((b.o.only & F_INFER1) && bench_infer(&b, 1, "infer1") != 0)
        goto done;
    char big_key[16];
    snprintf(big_key, sizeof big_key, "infer%d", b.o.big_batch);
    if ((b.o.only & F_INFER1000) && bench_infer(&b, b.o.big_batch, big_key) != 0)
        goto done;
    if ((b.o.only & F_PROFILE) && bench_profile(&b) != 0)
        goto done;

    long rss = peak_rss_kb();
    json_object_set_new(b.out, "peak_rss_kb", json_integer(rss));
    json_object_set_new(b.out, "planned_bytes", json_integer((json_int_t)tc_graph_planned_bytes(b.g)));
    if (b.o.json) {
        char *s = json_dumps(b.out, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        if (s) {
            puts(s);
            free(s);
        }
    } else {
        printf("\npeak RSS: %.1f MB for this process", rss / 1024.0);
        if (b.o.only & F_TRAIN32)
            printf(" (%.1f MB after loading, %.1f MB after training at batch 32)",
                   rss_loaded / 1024.0,
                   json_integer_value(json_object_get(b.out, "rss_after_train32_kb")) / 1024.0);
        printf("; graph buffers planned: %.2f MB\n", tc_graph_planned_bytes(b.g) / 1048576.0);
        if (b.o.only != F_TRAIN32)
            printf("  (the peak of a training process alone: tinycnn-bench --only train32)\n");
    }
    rc = 0;
done:
    json_decref(b.out);
    free(b.order);
    tc_graph_free(b.g);
    tc_dataset_free(&b.train);
    tc_dataset_free(&b.test);
    tc_registry_free(b.reg);
    return rc;
}
