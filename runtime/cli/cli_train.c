/* tinycnn train: the training loop with per-epoch evaluation, atomic
 * checkpoints, resumption, progress display and clean interruption. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "tinycnn/augment.h"

static const char help[] =
    "usage: tinycnn train MODEL.json [options]\n"
    "       tinycnn train --resume CHECKPOINT [MODEL.json] [options]\n"
    "\n"
    "Trains the model on the train split, evaluates it on the test split after\n"
    "every epoch and then writes the checkpoint (atomically). Options override\n"
    "the model's \"training\" object; when resuming, they override the settings\n"
    "stored in the checkpoint, and the model comes from the checkpoint unless\n"
    "MODEL.json is given.\n"
    "\n"
    "options:\n"
    "  --data DIR            data folder (default: $TINYCNN_DATA, else data/mnist)\n"
    "  --epochs N            number of epochs (default 10)\n"
    "  --batch-size N        images per step (default 64)\n"
    "  --lr F                learning rate (default 0.001)\n"
    "  --optimizer NAME      sgd or adam (default adam)\n"
    "  --momentum F          SGD momentum, in [0, 1) (default 0.9)\n"
    "  --weight-decay F      L2 weight decay (default 0)\n"
    "  --lr-schedule NAME    constant, cosine or step (default constant)\n"
    "  --warmup-epochs F     linear warm-up length in epochs (default 0)\n"
    "  --seed N              seed of the weights, the shuffle and dropout (default 42)\n"
    "  --threads N           worker threads (default: all cores); results are\n"
    "                        reproducible for a given seed and thread count\n"
    "  --limit N             train on the first N training images only (0: all)\n"
    "  --test-limit N        evaluate on the first N test images only (0: all)\n"
    "  --no-shuffle          visit the training images in file order\n"
    "  --augment-shift N     shift each training image by a random 0..N pixels\n"
    "                        each way (default: the model's, else 0)\n"
    "  -o, --output FILE     checkpoint to write (default: <model name>.ckpt, or the\n"
    "                        --resume checkpoint)\n"
    "  --resume CHECKPOINT   continue a run where its checkpoint left off\n"
    "  --profile             print per-node forward/backward times at the end\n"
    "  --json                print one JSON object (epochs and summary) to stdout\n"
    "  --quiet               no progress bar and no per-epoch lines\n"
    "  --plugin-dir DIR      also load the plugins in DIR (repeatable)\n"
    "\n"
    "SIGINT or SIGTERM stops at the end of the current batch and writes the\n"
    "checkpoint (exit status 130 or 143); --resume continues from that batch with\n"
    "the same results as an uninterrupted run. A NaN or infinite loss stops with\n"
    "exit status 1 and leaves the last good checkpoint in place.\n";

/* The signal that asked us to stop (0: none). A static because a signal
 * handler can reach nothing else; the library only ever sees a pointer. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct train_opts {
    const char *model_path, *data_opt, *out_path, *resume_path;
    int has_epochs, has_batch, has_lr, has_optimizer, has_momentum, has_wd, has_schedule,
        has_warmup, has_seed, has_limit, has_shuffle, has_augment;
    int64_t epochs, batch, seed, limit, test_limit, threads, augment;
    double lr, momentum, wd, warmup;
    tc_optim_kind optimizer;
    tc_lr_schedule schedule;
    int shuffle, profile, json, quiet;
} train_opts;

static int parse_opts(cli_globals *g, int argc, char **argv, train_opts *o)
{
    memset(o, 0, sizeof *o);
    cli_args a;
    cli_args_init(&a, "train", argc, argv, g);
    const char *pos, *v;
    int k;
    while ((k = cli_next(&a, &pos)) != CLI_ARG_END) {
        if (k == CLI_ARG_ERROR)
            return 1;
        if (k == CLI_ARG_POSITIONAL) {
            if (o->model_path) {
                cli_usage("train", "unexpected argument '%s'", pos);
                return 1;
            }
            o->model_path = pos;
            continue;
        }
        const char *opt = a.opt;
        if (strcmp(opt, "--data") == 0) {
            if (cli_value(&a, &o->data_opt))
                return 1;
        } else if (strcmp(opt, "--epochs") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 1000000, &o->epochs))
                return 1;
            o->has_epochs = 1;
        } else if (strcmp(opt, "--batch-size") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 65536, &o->batch))
                return 1;
            o->has_batch = 1;
        } else if (strcmp(opt, "--lr") == 0) {
            if (cli_value(&a, &v) || cli_double(&a, v, 0.0, 1, INFINITY, 0, &o->lr))
                return 1;
            o->has_lr = 1;
        } else if (strcmp(opt, "--optimizer") == 0) {
            if (cli_value(&a, &v))
                return 1;
            if (tc_optim_kind_parse(v, &o->optimizer) != 0) {
                cli_usage("train", "invalid value '%s' for --optimizer (expected sgd or adam)", v);
                return 1;
            }
            o->has_optimizer = 1;
        } else if (strcmp(opt, "--momentum") == 0) {
            if (cli_value(&a, &v) || cli_double(&a, v, 0.0, 0, 1.0, 1, &o->momentum))
                return 1;
            o->has_momentum = 1;
        } else if (strcmp(opt, "--weight-decay") == 0) {
            if (cli_value(&a, &v) || cli_double(&a, v, 0.0, 0, INFINITY, 0, &o->wd))
                return 1;
            o->has_wd = 1;
        } else if (strcmp(opt, "--lr-schedule") == 0) {
            if (cli_value(&a, &v))
                return 1;
            if (tc_lr_schedule_parse(v, &o->schedule) != 0) {
                cli_usage("train",
                          "invalid value '%s' for --lr-schedule (expected constant, cosine or step)",
                          v);
                return 1;
            }
            o->has_schedule = 1;
        } else if (strcmp(opt, "--warmup-epochs") == 0) {
            if (cli_value(&a, &v) || cli_double(&a, v, 0.0, 0, 1e6, 0, &o->warmup))
                return 1;
            o->has_warmup = 1;
        } else if (strcmp(opt, "--augment-shift") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 0, TC_AUGMENT_MAX_SHIFT, &o->augment))
                return 1;
            o->has_augment = 1;
        } else if (strcmp(opt, "--seed") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 0, INT64_MAX, &o->seed))
                return 1;
            o->has_seed = 1;
        } else if (strcmp(opt, "--threads") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 1024, &o->threads))
                return 1;
        } else if (strcmp(opt, "--limit") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 0, INT64_MAX, &o->limit))
                return 1;
            o->has_limit = 1;
        } else if (strcmp(opt, "--test-limit") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 0, INT64_MAX, &o->test_limit))
                return 1;
        } else if (strcmp(opt, "--no-shuffle") == 0) {
            if (cli_no_value(&a))
                return 1;
            o->has_shuffle = 1;
            o->shuffle = 0;
        } else if (strcmp(opt, "-o") == 0 || strcmp(opt, "--output") == 0) {
            if (cli_value(&a, &o->out_path))
                return 1;
            if (!*o->out_path) {
                cli_usage("train", "option %s needs a file name, got ''", opt);
                return 1;
            }
        } else if (strcmp(opt, "--resume") == 0) {
            if (cli_value(&a, &o->resume_path))
                return 1;
        } else if (strcmp(opt, "--profile") == 0) {
            if (cli_no_value(&a))
                return 1;
            o->profile = 1;
        } else if (strcmp(opt, "--json") == 0) {
            if (cli_no_value(&a))
                return 1;
            o->json = 1;
        } else if (strcmp(opt, "--quiet") == 0 || strcmp(opt, "-q") == 0) {
            if (cli_no_value(&a))
                return 1;
            o->quiet = 1;
        } else {
            return cli_unknown(&a);
        }
    }
    if (!o->model_path && !o->resume_path) {
        cli_usage("train", "missing MODEL.json");
        return 1;
    }
    return 0;
}

static void apply_opts(const train_opts *o, tc_train_config *c)
{
    if (o->has_epochs)
        c->epochs = (int)o->epochs;
    if (o->has_batch)
        c->batch_size = (int)o->batch;
    if (o->has_lr)
        c->lr = o->lr;
    if (o->has_optimizer)
        c->optim.kind = o->optimizer;
    if (o->has_momentum)
        c->optim.momentum = (float)o->momentum;
    if (o->has_wd)
        c->optim.weight_decay = (float)o->wd;
    if (o->has_schedule)
        c->schedule = o->schedule;
    if (o->has_warmup)
        c->warmup_epochs = o->warmup;
    if (o->has_seed)
        c->seed = (uint64_t)o->seed;
    if (o->has_limit)
        c->limit = o->limit;
    if (o->has_shuffle)
        c->shuffle = o->shuffle;
    if (o->has_augment)
        c->augment_shift = (int)o->augment;
}

/* ---- the training state kept in the checkpoint's metadata -------------- */

typedef struct run_state {
    tc_train_config cfg;
    int epoch;              /* epochs completed */
    int64_t batch;          /* batches done of epoch `epoch` (0: at a boundary) */
    int64_t steps_per_epoch;
    int threads;
    json_t *history;        /* one record per completed epoch */
    double best_acc;        /* -1: none yet */
    int best_epoch;
    double last_acc;        /* -1: none yet */
    /* sums over the batches of an interrupted epoch, so its line stays whole */
    double part_loss_sum, part_seconds;
    int64_t part_correct, part_images;
    double wall_before;     /* seconds spent in earlier runs */
} run_state;

static json_t *config_json(const tc_train_config *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "batch_size", json_integer(c->batch_size));
    json_object_set_new(o, "optimizer", json_string(tc_optimizer_kind_name(c->optim.kind)));
    json_object_set_new(o, "lr", json_real(c->lr));
    json_object_set_new(o, "momentum", json_real(c->optim.momentum));
    json_object_set_new(o, "weight_decay", json_real(c->optim.weight_decay));
    json_object_set_new(o, "beta1", json_real(c->optim.beta1));
    json_object_set_new(o, "beta2", json_real(c->optim.beta2));
    json_object_set_new(o, "eps", json_real(c->optim.eps));
    json_object_set_new(o, "lr_schedule", json_string(tc_lr_schedule_name(c->schedule)));
    json_object_set_new(o, "warmup_epochs", json_real(c->warmup_epochs));
    json_object_set_new(o, "step_epochs", json_integer(c->step_epochs));
    json_object_set_new(o, "step_gamma", json_real(c->step_gamma));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(o, "limit", json_integer(c->limit));
    json_object_set_new(o, "shuffle", json_boolean(c->shuffle));
    json_object_set_new(o, "augment_shift", json_integer(c->augment_shift));
    return o;
}

static json_t *acc_json(double a)
{
    return a < 0 ? json_null() : json_real(a);
}

static char *meta_text(const run_state *s, tc_optimizer *opt, const char *model_name)
{
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string("tinycnn-training-state"));
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "model", json_string(model_name));
    json_object_set_new(o, "epoch", json_integer(s->epoch));
    json_object_set_new(o, "batch", json_integer(s->batch));
    json_object_set_new(o, "steps_per_epoch", json_integer(s->steps_per_epoch));
    json_object_set_new(o, "step", json_integer((json_int_t)tc_optimizer_steps(opt)));
    json_object_set_new(o, "seed", json_integer((json_int_t)s->cfg.seed));
    json_object_set_new(o, "threads", json_integer(s->threads));
    json_object_set_new(o, "finished", json_boolean(s->batch == 0 && s->epoch >= s->cfg.epochs));
    json_object_set_new(o, "accuracy", acc_json(s->last_acc));
    json_object_set_new(o, "best_accuracy", acc_json(s->best_acc));
    json_object_set_new(o, "best_epoch", json_integer(s->best_epoch));
    json_object_set_new(o, "wall_seconds", json_real(s->wall_before));
    json_object_set_new(o, "config", config_json(&s->cfg));
    json_object_set(o, "history", s->history);
    if (s->batch > 0) {
        json_t *p = json_object();
        json_object_set_new(p, "loss_sum", json_real(s->part_loss_sum));
        json_object_set_new(p, "correct", json_integer(s->part_correct));
        json_object_set_new(p, "images", json_integer(s->part_images));
        json_object_set_new(p, "seconds", json_real(s->part_seconds));
        json_object_set_new(o, "partial", p);
    }
    /* Default real precision is 17 digits: every double survives the trip. */
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* Field getters for the metadata; each failure names the checkpoint and key. */
static int meta_num(json_t *o, const char *key, const char *path, double *out, tc_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return tc_error_set(err, "%s: training state has no number '%s'", path, key);
    *out = json_number_value(v);
    return 0;
}

static int meta_int(json_t *o, const char *key, const char *path, int64_t lo, int64_t hi,
                    int64_t *out, tc_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return tc_error_set(err, "%s: training state has no valid integer '%s'", path, key);
    *out = json_integer_value(v);
    return 0;
}

static int meta_config(json_t *c, const char *path, tc_train_config *cfg, tc_error *err)
{
    int64_t i = 0;
    double d = 0;
    if (!json_is_object(c))
        return tc_error_set(err, "%s: training state has no 'config' object", path);
    if (meta_int(c, "epochs", path, 1, 1000000, &i, err))
        return 1;
    cfg->epochs = (int)i;
    if (meta_int(c, "batch_size", path, 1, 65536, &i, err))
        return 1;
    cfg->batch_size = (int)i;
    if (tc_optim_kind_parse(json_string_value(json_object_get(c, "optimizer")), &cfg->optim.kind))
        return tc_error_set(err, "%s: training state has no valid 'optimizer'", path);
    if (tc_lr_schedule_parse(json_string_value(json_object_get(c, "lr_schedule")), &cfg->schedule))
        return tc_error_set(err, "%s: training state has no valid 'lr_schedule'", path);
    if (meta_num(c, "lr", path, &cfg->lr, err) || meta_num(c, "warmup_epochs", path,
                                                           &cfg->warmup_epochs, err) ||
        meta_num(c, "step_gamma", path, &cfg->step_gamma, err))
        return 1;
    float *fs[] = {&cfg->optim.momentum, &cfg->optim.weight_decay, &cfg->optim.beta1,
                   &cfg->optim.beta2, &cfg->optim.eps};
    const char *fk[] = {"momentum", "weight_decay", "beta1", "beta2", "eps"};
    for (int j = 0; j < 5; j++) {
        if (meta_num(c, fk[j], path, &d, err))
            return 1;
        *fs[j] = (float)d;
    }
    if (meta_int(c, "step_epochs", path, 0, 1000000, &i, err))
        return 1;
    cfg->step_epochs = (int)i;
    if (meta_int(c, "seed", path, 0, INT64_MAX, &i, err))
        return 1;
    cfg->seed = (uint64_t)i;
    if (meta_int(c, "limit", path, 0, INT64_MAX, &i, err))
        return 1;
    cfg->limit = i;
    json_t *sh = json_object_get(c, "shuffle");
    if (!json_is_boolean(sh))
        return tc_error_set(err, "%s: training state has no boolean 'shuffle'", path);
    cfg->shuffle = json_is_true(sh);
    /* Absent in checkpoints written before augmentation existed: none. */
    cfg->augment_shift = 0;
    if (json_object_get(c, "augment_shift")) {
        if (meta_int(c, "augment_shift", path, 0, TC_AUGMENT_MAX_SHIFT, &i, err))
            return 1;
        cfg->augment_shift = (int)i;
    }
    return 0;
}

/* Restores the run state (not the weights) from a checkpoint's metadata. */
static int load_state(const char *path, const char *meta, run_state *s,
                      tc_error *err)
{
    json_error_t je;
    json_t *o = json_loads(meta ? meta : "", 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return tc_error_set(err, "%s: the checkpoint holds no training state (was it written by "
                                 "tinycnn train?)",
                            path);
    }
    int rc = 1;
    int64_t i = 0;
    double d = 0;
    if (meta_config(json_object_get(o, "config"), path, &s->cfg, err))
        goto out;
    if (meta_int(o, "epoch", path, 0, 1000000, &i, err))
        goto out;
    s->epoch = (int)i;
    if (meta_int(o, "batch", path, 0, INT64_MAX, &s->batch, err) ||
        meta_int(o, "steps_per_epoch", path, 0, INT64_MAX, &s->steps_per_epoch, err) ||
        meta_int(o, "step", path, 0, INT64_MAX, &i, err))
        goto out;
    if (meta_int(o, "threads", path, 0, 1 << 20, &i, err))
        goto out;
    s->threads = (int)i;
    json_t *a = json_object_get(o, "accuracy"), *b = json_object_get(o, "best_accuracy");
    s->last_acc = json_is_number(a) ? json_number_value(a) : -1;
    s->best_acc = json_is_number(b) ? json_number_value(b) : -1;
    s->best_epoch = json_is_integer(json_object_get(o, "best_epoch"))
                        ? (int)json_integer_value(json_object_get(o, "best_epoch"))
                        : 0;
    if (meta_num(o, "wall_seconds", path, &d, err) == 0)
        s->wall_before = d;
    json_t *h = json_object_get(o, "history");
    json_decref(s->history);
    s->history = json_is_array(h) ? json_incref(h) : json_array();
    json_t *p = json_object_get(o, "partial");
    if (s->batch > 0 && json_is_object(p)) {
        if (meta_num(p, "loss_sum", path, &s->part_loss_sum, err) ||
            meta_int(p, "correct", path, 0, INT64_MAX, &s->part_correct, err) ||
            meta_int(p, "images", path, 0, INT64_MAX, &s->part_images, err) ||
            meta_num(p, "seconds", path, &s->part_seconds, err))
            goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* ---- progress display -------------------------------------------------- */

typedef struct progress_ui {
    int epochs;
    int64_t start_batch;
    double last_draw;
    double epoch_overhead; /* seconds of evaluation + saving per epoch, measured */
    int drawn;
} progress_ui;

static void clear_bar(progress_ui *ui)
{
    if (ui->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        ui->drawn = 0;
    }
}

static void draw_progress(void *user, const tc_train_progress *p)
{
    progress_ui *ui = user;
    double t = now_s();
    if (p->batch < p->n_batches && t - ui->last_draw < 0.1)
        return; /* at most ten redraws a second */
    ui->last_draw = t;
    int64_t done = p->batch - ui->start_batch;
    double per_batch = done > 0 ? p->seconds / (double)done : 0.0;
    double eta = (double)(p->n_batches - p->batch) * per_batch +
                 (double)(ui->epochs - p->epoch - 1) * ((double)p->n_batches * per_batch +
                                                        ui->epoch_overhead) +
                 ui->epoch_overhead;
    enum { width = 20 };
    int fill = p->n_batches > 0 ? (int)(width * p->batch / p->n_batches) : 0;
    char bar[width + 1];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    char ips[32], etab[32];
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f  acc %.2f%%  %s img/s  ETA %s",
            p->epoch + 1, ui->epochs, bar, (long long)p->batch, (long long)p->n_batches, p->loss,
            100.0 * p->accuracy, cli_group(ips, sizeof ips, (int64_t)(p->images_per_s + 0.5)),
            cli_duration(etab, sizeof etab, eta));
    fflush(stderr);
    ui->drawn = 1;
}

/* ---- profile ----------------------------------------------------------- */

static void print_profile(const tc_graph *g, FILE *f)
{
    int n = tc_graph_n_nodes(g);
    double total = 0;
    for (int i = 0; i < n; i++) {
        double fw, bw;
        int64_t calls;
        tc_graph_profile(g, i, &fw, &bw, &calls);
        total += fw + bw;
    }
    fprintf(f, "\nprofile (training steps only)\n");
    fprintf(f, "%-20s %-20s %10s %10s %12s %12s %7s\n", "node", "type", "fwd s", "bwd s",
            "fwd ms/call", "bwd ms/call", "share");
    for (int i = 0; i < n; i++) {
        double fw, bw;
        int64_t calls;
        tc_graph_profile(g, i, &fw, &bw, &calls);
        fprintf(f, "%-20s %-20s %10.3f %10.3f %12.3f %12.3f %6.1f%%\n", tc_graph_node_name(g, i),
                tc_graph_node_type(g, i), fw, bw, calls ? 1e3 * fw / (double)calls : 0.0,
                calls ? 1e3 * bw / (double)calls : 0.0,
                total > 0 ? 100.0 * (fw + bw) / total : 0.0);
    }
    fprintf(f, "%-20s %-20s %21.3f\n", "total", "", total);
}

static json_t *profile_json(const tc_graph *g)
{
    json_t *a = json_array();
    for (int i = 0; i < tc_graph_n_nodes(g); i++) {
        double fw, bw;
        int64_t calls;
        tc_graph_profile(g, i, &fw, &bw, &calls);
        json_t *o = json_object();
        json_object_set_new(o, "node", json_string(tc_graph_node_name(g, i)));
        json_object_set_new(o, "type", json_string(tc_graph_node_type(g, i)));
        json_object_set_new(o, "forward_seconds", json_real(fw));
        json_object_set_new(o, "backward_seconds", json_real(bw));
        json_object_set_new(o, "calls", json_integer(calls));
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- the command ------------------------------------------------------- */

static char *default_output(const char *model_name)
{
    size_t n = strlen(model_name);
    char *p = malloc(n + 6);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = (model_name[i] == '/' || model_name[i] == '\\') ? '_' : model_name[i];
    memcpy(p + n, ".ckpt", 6);
    if (n == 0)
        memcpy(p, "model.ckpt", 11);
    return p;
}

/* The folder that will receive path must exist and be writable: better to
 * learn that before the first epoch than after it. */
static int check_output_dir(const char *path, tc_error *err)
{
    char *dir = strdup(path);
    if (!dir)
        return tc_error_set(err, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        *slash = 0;
        d = slash == dir ? "/" : dir;
    }
    int rc = 0;
    struct stat st;
    if (access(d, W_OK) != 0)
        rc = tc_error_set(err, "cannot write the checkpoint %s: folder %s: %s", path, d,
                          strerror(errno));
    else if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = tc_error_set(err, "cannot write the checkpoint %s: %s: %s", path, d,
                          strerror(ENOTDIR));
    else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        rc = tc_error_set(err, "cannot write the checkpoint %s: it exists and is not a regular "
                               "file", path);
    free(dir);
    return rc;
}

/* Appends to a failed write's message what the user still has: the atomic
 * writer never touches the previous file, so it is named as intact. */
static void note_last_good(tc_error *err, const char *last_good)
{
    char msg[TC_ERROR_CAP];
    snprintf(msg, sizeof msg, "%s", err->msg);
    if (last_good)
        tc_error_set(err, "%s; the last good checkpoint %s is unchanged", msg, last_good);
    else
        tc_error_set(err, "%s; no checkpoint was written", msg);
}

/* Weights and optimiser state must fit in one checkpoint, or every epoch
 * would end in a failed write: better said before the first one. The
 * estimate counts the float data and the model text; names and headers add
 * a few bytes per tensor, covered by the margin. */
static int check_checkpoint_size(tc_graph *g, tc_optimizer *opt, tc_optim_kind kind,
                                 tc_error *err)
{
    uint64_t elements = (uint64_t)tc_graph_n_weight_elements(g);
    for (int i = 0; i < tc_optimizer_n_state(opt); i++)
        elements += (uint64_t)tc_shape_count(&tc_optimizer_state(opt, i, NULL)->shape);
    uint64_t bytes = 4 * elements + strlen(tc_graph_json(g)) + 4096 +
                     256 * (uint64_t)(tc_graph_n_weights(g) + tc_optimizer_n_state(opt));
    if (bytes > TC_CHECKPOINT_MAX_BYTES)
        return tc_error_set(err, "model %s: its weights and %s state need about %llu MiB, more "
                                 "than a checkpoint holds (%llu MiB)",
                            tc_graph_name(g), tc_optimizer_kind_name(kind),
                            (unsigned long long)(bytes >> 20),
                            (unsigned long long)(TC_CHECKPOINT_MAX_BYTES >> 20));
    return 0;
}

static void resume_hint(const train_opts *o, const cli_globals *g, const char *out_path)
{
    fprintf(stderr, "resume with: tinycnn train --resume %s", out_path);
    for (int i = 0; i < g->n_plugin_dirs; i++)
        fprintf(stderr, " --plugin-dir %s", g->plugin_dirs[i]);
    if (o->data_opt)
        fprintf(stderr, " --data %s", o->data_opt);
    if (o->threads)
        fprintf(stderr, " --threads %lld", (long long)o->threads);
    fprintf(stderr, "\n");
}

static int run(cli_globals *g, int argc, char **argv)
{
    train_opts o;
    if (parse_opts(g, argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    double t_start = now_s();
    tc_set_threads((int)o.threads);

    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_graph *graph = NULL;
    tc_optimizer *opt = NULL;
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    tc_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    char *out_alloc = NULL;
    const char *out_path = o.out_path;
    run_state st;
    memset(&st, 0, sizeof st);
    st.history = json_array();
    st.best_acc = st.last_acc = -1;
    int rc = CLI_EXIT_RUNTIME;
    int have_good_ckpt = 0; /* a checkpoint at out_path holds a sound state */
    const char *good_path = o.resume_path; /* the newest sound checkpoint, if any */
    const char *status = "failed";
    char fail_msg[TC_ERROR_CAP + 64] = "";
    int c, h, w;

    if (cli_load_registry(g, &reg, &err) != 0)
        goto fail;

    if (o.resume_path) {
        if (tc_checkpoint_read(o.resume_path, &ck, &err) != 0)
            goto fail;
        if (o.model_path) {
            graph = tc_graph_load_file(reg, o.model_path, &err);
        } else {
            char origin[1100];
            snprintf(origin, sizeof origin, "%s (model)", o.resume_path);
            graph = tc_graph_load_string(reg, ck.model_json ? ck.model_json : "", origin, &err);
        }
    } else {
        graph = tc_graph_load_file(reg, o.model_path, &err);
    }
    if (!graph)
        goto fail;
    if (tc_train_config_from_graph(graph, &st.cfg, &err) != 0)
        goto fail;
    if (o.resume_path && load_state(o.resume_path, ck.meta_json, &st, &err) != 0)
        goto fail;
    tc_optim_kind saved_kind = st.cfg.optim.kind;
    apply_opts(&o, &st.cfg);
    if (tc_train_config_check(&st.cfg, &err) != 0)
        goto fail;

    if (!out_path)
        out_path = o.resume_path ? o.resume_path
                                 : (out_alloc = default_output(tc_graph_name(graph)));
    if (!out_path) {
        tc_error_set(&err, "out of memory");
        goto fail;
    }
    if (check_output_dir(out_path, &err) != 0)
        goto fail;
    if (o.resume_path && strcmp(out_path, o.resume_path) == 0)
        have_good_ckpt = 1;

    const char *data_dir = cli_data_dir(o.data_opt);
    if (cli_image_geometry(graph, &c, &h, &w, &err) != 0 ||
        tc_dataset_load(data_dir, "train", c, h, w, &train, &err) != 0 ||
        tc_dataset_load(data_dir, "test", c, h, w, &test, &err) != 0)
        goto fail;

    opt = tc_optimizer_new(graph, &st.cfg.optim, &err);
    if (!opt)
        goto fail;
    if (check_checkpoint_size(graph, opt, st.cfg.optim.kind, &err) != 0)
        goto fail;
    int64_t n_batches = tc_train_batches(&st.cfg, &train);
    if (o.resume_path) {
        /* Another optimizer than the checkpoint's starts from fresh state. */
        int same_kind = st.cfg.optim.kind == saved_kind;
        if (tc_snapshot_load_weights(graph, &ck, &err) != 0 ||
            (same_kind && tc_snapshot_load_optimizer(opt, &ck, &err) != 0)) {
            tc_error_prefix(&err, "%s", o.resume_path);
            goto fail;
        }
        if (!same_kind && !o.json)
            fprintf(stderr, "note: switching from %s to %s; the optimizer state starts afresh\n",
                    tc_optimizer_kind_name(saved_kind), tc_optimizer_kind_name(st.cfg.optim.kind));
        if (st.batch > 0 && st.steps_per_epoch != n_batches) {
            tc_error_set(&err, "%s stopped at batch %lld of %lld in epoch %d, but with these "
                               "settings an epoch has %lld batches; resume with the same "
                               "--batch-size and --limit",
                         o.resume_path, (long long)st.batch, (long long)st.steps_per_epoch,
                         st.epoch + 1, (long long)n_batches);
            goto fail;
        }
        if (!o.json && st.threads != 0 && tc_get_threads() != st.threads)
            fprintf(stderr, "note: the run started with %d threads and continues with %d; the "
                            "results may differ in the last bits from an uninterrupted run\n",
                    st.threads, tc_get_threads());
        st.threads = tc_get_threads();
    } else {
        tc_graph_init_weights(graph, st.cfg.seed);
        st.threads = tc_get_threads();
    }
    tc_checkpoint_free(&ck);
    tc_graph_set_seed(graph, st.cfg.seed);
    st.steps_per_epoch = n_batches;
    if (o.profile)
        tc_graph_set_profiling(graph, 1);

    /* From here on a signal means: stop at the next batch boundary. One
     * shot: a second Ctrl-C kills at once (the checkpoint write is atomic). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int tty = isatty(STDERR_FILENO) && !o.quiet;
    int prose = !o.json;
    progress_ui ui = {.epochs = st.cfg.epochs};
    tc_train_hooks hooks = {
        .progress = tty ? draw_progress : NULL,
        .user = &ui,
        .progress_every = 1,
        .cancel = &stop_signal,
    };
    if (prose && !o.quiet) {
        char nb[32], aug[48] = "";
        if (st.cfg.augment_shift > 0)
            snprintf(aug, sizeof aug, "shifts up to %d px, ", st.cfg.augment_shift);
        if (o.resume_path)
            printf("resuming %s from %s at epoch %d, batch %lld of %lld\n", tc_graph_name(graph),
                   o.resume_path, st.epoch + 1, (long long)st.batch, (long long)n_batches);
        printf("training %s: %s weights, %s training images (%lld batches of %d), %s test "
               "images, %s, lr %g (%s), %s%d threads\n",
               tc_graph_name(graph), cli_group(nb, sizeof nb, tc_graph_n_weight_elements(graph)),
               cli_group((char[32]){0}, 32,
                         st.cfg.limit > 0 && st.cfg.limit < train.count ? st.cfg.limit
                                                                        : train.count),
               (long long)n_batches, st.cfg.batch_size,
               cli_group((char[32]){0}, 32,
                         o.test_limit > 0 && o.test_limit < test.count ? o.test_limit
                                                                       : test.count),
               tc_optimizer_kind_name(st.cfg.optim.kind), st.cfg.lr,
               tc_lr_schedule_name(st.cfg.schedule), aug, tc_get_threads());
        fflush(stdout);
    }
    if (st.epoch >= st.cfg.epochs) {
        if (prose)
            printf("%s has already trained %d of %d epochs; pass --epochs N (N > %d) to train "
                   "more\n",
                   o.resume_path ? o.resume_path : out_path, st.epoch, st.cfg.epochs, st.epoch);
        status = "completed";
        rc = CLI_EXIT_OK;
        goto summary;
    }

    status = "completed";
    while (st.epoch < st.cfg.epochs) {
        double ep_start = now_s();
        tc_epoch_stats es;
        ui.start_batch = st.batch;
        ui.last_draw = 0;
        int trc = tc_train_epoch(graph, opt, &train, &st.cfg, st.epoch, st.batch, &hooks, &es, &err);
        clear_bar(&ui);
        if (trc != 0) {
            status = "diverged";
            if (have_good_ckpt || good_path)
                snprintf(fail_msg, sizeof fail_msg, "%s; the last good checkpoint is %s",
                         err.msg, have_good_ckpt ? out_path : good_path);
            else
                snprintf(fail_msg, sizeof fail_msg, "%s; no checkpoint was written", err.msg);
            cli_fail("%s", fail_msg);
            rc = CLI_EXIT_RUNTIME;
            goto summary;
        }
        st.part_loss_sum += es.loss_sum;
        st.part_correct += es.correct;
        st.part_images += es.images;
        st.part_seconds += es.seconds;
        st.batch = es.batches_done;
        if (es.cancelled) {
            int sig = stop_signal;
            st.wall_before += now_s() - t_start;
            t_start = now_s();
            char *meta = meta_text(&st, opt, tc_graph_name(graph));
            int saved = meta ? tc_snapshot_save(out_path, graph, opt, meta, &err) == 0
                             : (tc_error_set(&err, "out of memory"), 0);
            if (!saved) {
                free(meta);
                note_last_good(&err, have_good_ckpt ? out_path : good_path);
                cli_fail("interrupted, and writing the checkpoint failed: %s", err.msg);
                status = "interrupted";
                rc = CLI_EXIT_RUNTIME;
                goto summary;
            }
            free(meta);
            have_good_ckpt = 1;
            fprintf(stderr, "tinycnn: interrupted by %s at epoch %d, batch %lld of %lld; "
                            "checkpoint written to %s\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", st.epoch + 1, (long long)st.batch,
                    (long long)n_batches, out_path);
            resume_hint(&o, g, out_path);
            status = "interrupted";
            rc = 128 + (sig ? sig : SIGINT);
            goto summary;
        }

        /* evaluation is not part of the training profile */
        double ev_start = now_s();
        if (o.profile)
            tc_graph_set_profiling(graph, 0);
        int64_t correct = 0, total = 0;
        int erc = tc_evaluate(graph, &test, st.cfg.batch_size < 256 ? 256 : st.cfg.batch_size,
                              o.test_limit, NULL, &correct, &total, &err);
        if (o.profile)
            tc_graph_set_profiling(graph, 1);
        if (erc != 0)
            goto fail;
        double acc = total ? (double)correct / (double)total : 0.0;
        double ep_loss = st.part_images ? st.part_loss_sum / (double)st.part_images : 0.0;
        double ep_train = st.part_images ? (double)st.part_correct / (double)st.part_images : 0.0;
        double ep_train_s = st.part_seconds;
        double ep_ips = ep_train_s > 0 ? (double)st.part_images / ep_train_s : 0.0;

        st.epoch++;
        st.batch = 0;
        st.part_loss_sum = st.part_seconds = 0;
        st.part_correct = st.part_images = 0;
        st.last_acc = acc;
        if (acc > st.best_acc) {
            st.best_acc = acc;
            st.best_epoch = st.epoch;
        }
        json_t *rec = json_object();
        json_object_set_new(rec, "epoch", json_integer(st.epoch));
        json_object_set_new(rec, "loss", json_real(ep_loss));
        json_object_set_new(rec, "train_accuracy", json_real(ep_train));
        json_object_set_new(rec, "test_accuracy", json_real(acc));
        json_object_set_new(rec, "test_correct", json_integer(correct));
        json_object_set_new(rec, "test_total", json_integer(total));
        json_object_set_new(rec, "lr", json_real(tc_lr_at(&st.cfg, st.epoch - 1, n_batches - 1,
                                                          n_batches)));
        json_object_set_new(rec, "train_seconds", json_real(ep_train_s));
        json_object_set_new(rec, "images_per_second", json_real(ep_ips));
        json_array_append_new(st.history, rec);

        double now = now_s();
        st.wall_before += now - t_start;
        t_start = now;
        char *meta = meta_text(&st, opt, tc_graph_name(graph));
        int saved = meta ? tc_snapshot_save(out_path, graph, opt, meta, &err) == 0
                         : (tc_error_set(&err, "out of memory"), 0);
        free(meta);
        if (!saved) {
            note_last_good(&err, have_good_ckpt ? out_path : good_path);
            goto fail;
        }
        have_good_ckpt = 1;
        ui.epoch_overhead = now_s() - ev_start;
        double ep_wall = now_s() - ep_start;
        json_object_set_new(rec, "seconds", json_real(ep_wall));

        if (prose && !o.quiet) {
            char ips[32];
            printf("epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  %.1f s  %s img/s\n",
                   st.epoch, st.cfg.epochs, ep_loss, 100.0 * ep_train, 100.0 * acc, ep_wall,
                   cli_group(ips, sizeof ips, (int64_t)(ep_ips + 0.5)));
            fflush(stdout);
        }
        if (stop_signal && st.epoch < st.cfg.epochs) {
            /* stopped during evaluation: the checkpoint just written is at
             * an epoch boundary */
            int sig = stop_signal;
            fprintf(stderr, "tinycnn: interrupted by %s after epoch %d; checkpoint written to %s\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", st.epoch, out_path);
            resume_hint(&o, g, out_path);
            status = "interrupted";
            rc = 128 + sig;
            goto summary;
        }
    }
    rc = CLI_EXIT_OK;

summary: {
    double wall = st.wall_before + (now_s() - t_start);
    if (o.json) {
        json_t *root = json_object();
        json_object_set_new(root, "model", json_string(tc_graph_name(graph)));
        json_object_set_new(root, "checkpoint", json_string(out_path));
        json_object_set_new(root, "data", json_string(cli_data_dir(o.data_opt)));
        json_object_set_new(root, "threads", json_integer(tc_get_threads()));
        json_object_set_new(root, "config", config_json(&st.cfg));
        json_object_set(root, "epochs", st.history);
        json_t *s = json_object();
        json_object_set_new(s, "status", json_string(status));
        if (fail_msg[0])
            json_object_set_new(s, "error", json_string(fail_msg));
        json_object_set_new(s, "epochs_done", json_integer(st.epoch));
        json_object_set_new(s, "batch", json_integer(st.batch));
        json_object_set_new(s, "wall_seconds", json_real(wall));
        json_object_set_new(s, "best_test_accuracy", acc_json(st.best_acc));
        json_object_set_new(s, "best_epoch", json_integer(st.best_epoch));
        json_object_set_new(s, "final_test_accuracy", acc_json(st.last_acc));
        json_object_set_new(s, "checkpoint", have_good_ckpt ? json_string(out_path) : json_null());
        json_object_set_new(root, "summary", s);
        if (o.profile)
            json_object_set_new(root, "profile", profile_json(graph));
        cli_print_json(root);
    } else {
        char wb[32];
        if (st.last_acc >= 0)
            printf("%s: %d/%d epochs in %s; test accuracy: best %.2f%% (epoch %d), final %.2f%%\n",
                   status, st.epoch, st.cfg.epochs, cli_duration(wb, sizeof wb, wall),
                   100.0 * st.best_acc, st.best_epoch, 100.0 * st.last_acc);
        else
            printf("%s: %d/%d epochs in %s\n", status, st.epoch, st.cfg.epochs,
                   cli_duration(wb, sizeof wb, wall));
        if (have_good_ckpt)
            printf("checkpoint: %s\n", out_path);
        if (o.profile)
            print_profile(graph, stdout);
        fflush(stdout);
    }
    goto out;
}

fail:
    cli_fail("%s", err.msg);
    rc = CLI_EXIT_RUNTIME;
out:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    json_decref(st.history);
    tc_dataset_free(&train);
    tc_dataset_free(&test);
    if (opt)
        tc_optimizer_free(opt);
    if (graph)
        tc_graph_free(graph);
    tc_checkpoint_free(&ck);
    if (reg)
        tc_registry_free(reg);
    free(out_alloc);
    return rc;
}

const cli_command cli_train_command = {"train", "train a model, writing a checkpoint each epoch",
                                       help, run};
