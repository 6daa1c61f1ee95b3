/* tinycnn-bench - speed of models/lenet5.json (issue 4): training images/s
 * at batch 32 and 128 (forward + backward + Adam step), inference images/s at
 * batch 1 and 1000, a per-layer time table of one training step, peak RSS.
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
            "Speed of a LeNet-5 model: training and inference images/s, per-layer times,\n"
            "peak RSS.\n"
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
            "                      infer1000,profile (default: all)\n"
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

static int parse_only(const char *s, int *mask)
{
    static const struct { const char *name; int bit; } names[] = {
        {"train32", F_TRAIN32}, {"train128", F_TRAIN128}, {"infer1", F_INFER1},
        {"infer1000", F_INFER1000}, {"profile", F_PROFILE}, {"all", F_ALL},
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
        if (!found) {
            fprintf(stderr, "tinycnn-bench: --only: unknown figure '%.*s' (want train32, "
                            "train128, infer1, infer1000, profile or all)\n", (int)len, p);
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
                   .profile_steps = 200, .only = F_ALL, .seed = 1};
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
            if (parse_only(v, &o->only))
                return 1;
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
    if (tc_dataset_load(dir, "train", c, h, w, &b->train, &err) == 0 &&
        tc_dataset_load(dir, "test", c, h, w, &b->test, &err) == 0) {
        json_object_set_new(b->out, "data", json_string(dir));
        return 0;
    }
    tc_dataset_free(&b->train);
    fprintf(stderr, "tinycnn-bench: note: no MNIST (%s); using random bytes of the same shape "
                    "(60000 + 10000 images). Speed does not depend on the pixel values.\n",
            err.msg);
    b->synthetic = 1;
    json_object_set_new(b->out, "data", json_string("synthetic"));
    if (synthetic_set(&b->train, 60000, c, h, w, b->o.seed) != 0 ||
        synthetic_set(&b->test, 10000, c, h, w, b->o.seed + 1) != 0) {
        fprintf(stderr, "tinycnn-bench: out of memory for the synthetic data\n");
        return 1;
    }
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
    if (load_data(b) != 0)
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
    tc_optimizer_step(opt, 1e-3f);
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

static tc_optimizer *fresh_model(bench *b)
{
    tc_error err = {{0}};
    tc_graph_init_weights(b->g, b->o.seed);
    tc_optim_config cfg = {.kind = TC_OPTIM_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    tc_optimizer *opt = tc_optimizer_new(b->g, &cfg, &err);
    if (!opt)
        fprintf(stderr, "tinycnn-bench: optimiser: %s\n", err.msg);
    return opt;
}

/* Training images/s over b->o.images images (the last batch may be short,
 * as in an epoch), after the warm-up steps. */
static int bench_train(bench *b, int bs, const char *key)
{
    tc_optimizer *opt = fresh_model(b);
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
    json_object_set_new(b->out, key, r);
    if (!b->o.json)
        printf("infer   batch %4d: %9.0f images/s  (%lld images in %.2f s; %.1f us/image)\n", bs,
               (double)done / sec, (long long)done, sec, 1e6 * sec / (double)done);
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
    tc_optimizer *opt = fresh_model(b);
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
        printf("  %-28s %8s %8.1f %8.1f %5.1f%% |\n", "(Adam step)", "", upd, upd,
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
    if ((b.o.only & F_INFER1000) && bench_infer(&b, 1000, "infer1000") != 0)
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
