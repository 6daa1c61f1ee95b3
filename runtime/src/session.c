/* A training session (see tinycnn/session.h): the epoch loop, evaluation,
 * the checkpoint schedule, resumption, and the training state that the
 * checkpoints carry - written and read here only. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "tinycnn/session.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h> /* offsetof */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tinycnn/checkpoint.h"
#include "tinycnn/dist.h"
#include "tinycnn/kernels.h"
#include "tinycnn/snapshot.h"
#include "shape.h" /* tc_monotonic_seconds */
#include "tinycnn/status.h"
#include "session_internal.h"
#include "train_settings_json.h"

#define STATE_FORMAT "tinycnn-training-state"
#define STATE_VERSION 2

struct tc_session {
    tc_graph *graph;
    tc_optimizer *opt;
    tc_dataset own_train, own_test, own_val; /* loaded from data_dir, or held out */
    const tc_dataset *train, *test, *val;    /* val NULL: no validation set */
    tc_val_source val_from;
    tc_train_config cfg;
    char *out_path, *resume_path, *best_path;
    char *data_dir;        /* the folder read (absolute); NULL: data sets in memory */
    int64_t test_limit;
    int profile;

    int epoch;             /* epochs completed */
    int64_t batch;         /* batches done of epoch `epoch` (0: at a boundary) */
    int64_t n_batches;
    tc_epoch_record *history;
    int n_history, cap_history;
    double best_acc, last_acc, last_val; /* -1: none yet; best_acc on val, else test */
    int best_epoch;
    int stopped_early;     /* the epoch early_stop ended the run at; 0: none */
    int best_written;      /* best_path holds this run's best epoch */
    /* sums over the finished batches of an interrupted epoch, so that its
     * record, once the epoch is done, covers all of it */
    double part_loss_sum, part_seconds;
    int64_t part_correct, part_images;
    double wall_before;    /* seconds spent in earlier runs and saved */
    double t_start;        /* when the unsaved wall time began */

    int threads, threads_before;
    int switched;
    tc_optim_kind saved_kind;
    int have_good;         /* out_path holds a sound checkpoint */
    tc_checkpoint_lock *lock, *best_lock; /* of out_path and best_path, held while open */
    int saved_on_val;      /* the resumed checkpoint chose its best on validation */
    tc_dist *dist;         /* data-parallel group; NULL: alone */
    int rank, ranks;       /* rank 0 (or alone) evaluates and writes checkpoints */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- the training state in the checkpoint's metadata ------------------- */

static json_t *acc_json(double a)
{
    return a < 0 ? json_null() : json_real(a);
}

/* The history fields a checkpoint keeps, in their order there: R_INT the
 * int epoch, R_I64 an int64_t, R_REAL a double; val: written only when the
 * epoch had a validation set. One table for writing and reading. */
enum { R_INT, R_I64, R_REAL };
static const struct {
    const char *key;
    size_t offset;
    unsigned char kind, val;
} record_fields[] = {
    {"epoch", offsetof(tc_epoch_record, epoch), R_INT, 0},
    {"loss", offsetof(tc_epoch_record, loss), R_REAL, 0},
    {"train_accuracy", offsetof(tc_epoch_record, train_accuracy), R_REAL, 0},
    {"test_accuracy", offsetof(tc_epoch_record, test_accuracy), R_REAL, 0},
    {"test_correct", offsetof(tc_epoch_record, test_correct), R_I64, 0},
    {"test_total", offsetof(tc_epoch_record, test_total), R_I64, 0},
    {"val_loss", offsetof(tc_epoch_record, val_loss), R_REAL, 1},
    {"val_accuracy", offsetof(tc_epoch_record, val_accuracy), R_REAL, 1},
    {"val_correct", offsetof(tc_epoch_record, val_correct), R_I64, 1},
    {"val_total", offsetof(tc_epoch_record, val_total), R_I64, 1},
    {"lr", offsetof(tc_epoch_record, lr), R_REAL, 0},
    {"train_seconds", offsetof(tc_epoch_record, train_seconds), R_REAL, 0},
    {"images_per_second", offsetof(tc_epoch_record, images_per_second), R_REAL, 0},
    {"seconds", offsetof(tc_epoch_record, seconds), R_REAL, 0},
};
#define N_RECORD_FIELDS (sizeof record_fields / sizeof record_fields[0])

static json_t *record_json(const tc_epoch_record *r)
{
    json_t *o = json_object();
    for (size_t i = 0; i < N_RECORD_FIELDS; i++) {
        if (record_fields[i].val && r->val_total <= 0)
            continue;
        const char *p = (const char *)r + record_fields[i].offset;
        json_t *v = record_fields[i].kind == R_INT   ? json_integer(*(const int *)p)
                    : record_fields[i].kind == R_I64 ? json_integer(*(const int64_t *)p)
                                                     : json_real(*(const double *)p);
        json_object_set_new(o, record_fields[i].key, v);
    }
    return o;
}

/* History records are informational: a missing field reads as 0. */
void tc_epoch_record_from_json(json_t *o, tc_epoch_record *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < N_RECORD_FIELDS; i++) {
        json_t *v = json_object_get(o, record_fields[i].key);
        char *p = (char *)r + record_fields[i].offset;
        if (record_fields[i].kind == R_INT)
            *(int *)p = (int)json_integer_value(v);
        else if (record_fields[i].kind == R_I64)
            *(int64_t *)p = json_integer_value(v);
        else
            *(double *)p = json_number_value(v);
    }
}

json_t *tc_session_history_value(const tc_session *s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s->n_history; i++)
        json_array_append_new(a, record_json(&s->history[i]));
    return a;
}

static int push_record(tc_session *s, const tc_epoch_record *r)
{
    if (s->n_history == s->cap_history) {
        int cap = s->cap_history ? 2 * s->cap_history : 16;
        tc_epoch_record *h = realloc(s->history, (size_t)cap * sizeof *h);
        if (!h)
            return 1;
        s->history = h;
        s->cap_history = cap;
    }
    s->history[s->n_history++] = *r;
    return 0;
}

/* The training set's class names, one per output class of the model (a
 * class the data lacks keeps its number as its name, so that readers find
 * one name per class); NULL when the data has only numbers. */
static json_t *class_names_json(const tc_session *s)
{
    if (!s->train->class_names)
        return NULL;
    json_t *names = json_array();
    int64_t n = tc_graph_n_classes(s->graph);
    for (int64_t i = 0; i < n; i++) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)i);
        const char *name = i < s->train->n_classes ? s->train->class_names[i] : num;
        json_array_append_new(names, json_string(name));
    }
    return names;
}

/* The metadata text of the session's current position. The optimiser's
 * step count is not here: tc_snapshot_save adds it, the one copy. */
static char *state_text(const tc_session *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string(STATE_FORMAT));
    json_object_set_new(o, "version", json_integer(STATE_VERSION));
    json_object_set_new(o, "model", json_string(tc_graph_name(s->graph)));
    json_object_set_new(o, "epoch", json_integer(s->epoch));
    json_object_set_new(o, "batch", json_integer(s->batch));
    json_object_set_new(o, "steps_per_epoch", json_integer(s->n_batches));
    json_object_set_new(o, "threads", json_integer(s->threads));
    json_object_set_new(o, "ranks", json_integer(s->ranks));
    json_object_set_new(o, "finished", json_boolean(s->batch == 0 && (s->epoch >= s->cfg.epochs ||
                                                                     s->stopped_early)));
    json_object_set_new(o, "accuracy", acc_json(s->last_acc));
    json_object_set_new(o, "val_accuracy", acc_json(s->last_val));
    json_object_set_new(o, "selection", json_string(s->val ? "val" : "test"));
    json_object_set_new(o, "stopped_early", json_integer(s->stopped_early));
    static const char *const sources[] = {"none", "folder", "split", "given"};
    json_object_set_new(o, "validation", json_string(sources[s->val_from]));
    if (s->data_dir)
        json_object_set_new(o, "data", json_string(s->data_dir));
    json_object_set_new(o, "best_accuracy", acc_json(s->best_acc));
    json_object_set_new(o, "best_epoch", json_integer(s->best_epoch));
    json_object_set_new(o, "wall_seconds", json_real(s->wall_before));
    json_object_set_new(o, "config", tc_train_settings_to_json(&s->cfg));
    json_object_set_new(o, "history", tc_session_history_value(s));
    json_t *names = class_names_json(s);
    if (names)
        json_object_set_new(o, "class_names", names);
    if (s->batch > 0) {
        json_t *p = json_object();
        json_object_set_new(p, "loss_sum", json_real(s->part_loss_sum));
        json_object_set_new(p, "correct", json_integer(s->part_correct));
        json_object_set_new(p, "images", json_integer(s->part_images));
        json_object_set_new(p, "seconds", json_real(s->part_seconds));
        json_object_set_new(o, "partial", p);
    }
    /* default real precision (17 digits): every double survives the trip */
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* Field getters; each failure names the checkpoint and the key. */
static int get_num(json_t *o, const char *key, const char *path, double *out, tc_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return tc_error_set(err, "%s: training state has no number '%s'", path, key);
    *out = json_number_value(v);
    return 0;
}

static int get_int(json_t *o, const char *key, const char *path, int64_t lo, int64_t hi,
                   int64_t *out, tc_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return tc_error_set(err, "%s: training state has no valid integer '%s'", path, key);
    *out = json_integer_value(v);
    return 0;
}

static int read_partial(json_t *p, const char *path, tc_session *s, tc_error *err)
{
    if (s->batch == 0 || !json_is_object(p))
        return 0;
    return get_num(p, "loss_sum", path, &s->part_loss_sum, err) ||
           get_int(p, "correct", path, 0, INT64_MAX, &s->part_correct, err) ||
           get_int(p, "images", path, 0, INT64_MAX, &s->part_images, err) ||
           get_num(p, "seconds", path, &s->part_seconds, err);
}

static void read_results(json_t *o, tc_session *s)
{
    json_t *a = json_object_get(o, "accuracy"), *b = json_object_get(o, "best_accuracy");
    json_t *be = json_object_get(o, "best_epoch"), *w = json_object_get(o, "wall_seconds");
    json_t *v = json_object_get(o, "val_accuracy"), *d = json_object_get(o, "data");
    s->last_acc = json_is_number(a) ? json_number_value(a) : -1;
    s->last_val = json_is_number(v) ? json_number_value(v) : -1;
    json_t *sel = json_object_get(o, "selection");
    s->saved_on_val = json_is_string(sel) ? strcmp(json_string_value(sel), "val") == 0 : 0;
    if (json_is_string(d))
        s->data_dir = strdup(json_string_value(d)); /* NULL (out of memory): as if none */
    s->best_acc = json_is_number(b) ? json_number_value(b) : -1;
    s->best_epoch = json_is_integer(be) ? (int)json_integer_value(be) : 0;
    s->wall_before = json_is_number(w) ? json_number_value(w) : 0.0;
}

static int read_history(json_t *h, tc_session *s, tc_error *err)
{
    size_t i;
    json_t *e;
    json_array_foreach(h, i, e) {
        tc_epoch_record r;
        tc_epoch_record_from_json(e, &r);
        if (push_record(s, &r))
            return tc_error_set(err, "out of memory");
    }
    return 0;
}

static int check_version(json_t *o, const char *path, tc_error *err)
{
    json_t *v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > STATE_VERSION)
        return tc_error_set(err, "%s: the training state's version is not 1 to %d (written by "
                                 "a newer tinycnn?)",
                            path, STATE_VERSION);
    return 0;
}

static int read_config(json_t *o, const char *path, tc_train_config *cfg, tc_error *err)
{
    json_t *c = json_object_get(o, "config");
    if (!json_is_object(c))
        return tc_error_set(err, "%s: training state has no 'config' object", path);
    char origin[TC_ERROR_CAP];
    snprintf(origin, sizeof origin, "%s: training state", path);
    return tc_train_settings_from_json(c, 0, origin, "config", cfg, err);
}

static int read_position(json_t *o, const char *path, tc_session *s, int64_t *steps_per_epoch,
                         tc_error *err)
{
    int64_t epoch = 0, threads = 0;
    if (get_int(o, "epoch", path, 0, TC_TRAIN_MAX_EPOCHS, &epoch, err) ||
        get_int(o, "batch", path, 0, INT64_MAX, &s->batch, err) ||
        get_int(o, "steps_per_epoch", path, 0, INT64_MAX, steps_per_epoch, err) ||
        get_int(o, "threads", path, 0, 1 << 20, &threads, err))
        return 1;
    s->epoch = (int)epoch;
    s->threads_before = (int)threads;
    return read_partial(json_object_get(o, "partial"), path, s, err);
}

/* Restores the settings and the position (not the weights) from a
 * checkpoint's metadata; *steps_per_epoch is the stored epoch length. */
static int read_state(tc_session *s, const char *path, const char *meta,
                      int64_t *steps_per_epoch, tc_error *err)
{
    json_error_t je;
    json_t *o = json_loads(meta ? meta : "", 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return tc_error_set(err, "%s: the checkpoint holds no training state (was it written by "
                                 "tinycnn train?)",
                            path);
    }
    int rc = check_version(o, path, err) || read_config(o, path, &s->cfg, err) ||
             read_position(o, path, s, steps_per_epoch, err) ||
             read_history(json_object_get(o, "history"), s, err);
    if (rc == 0)
        read_results(o, s);
    json_decref(o);
    return rc;
}

/* ---- opening ------------------------------------------------------------- */

/* The model file, or the checkpoint and (unless a model file is given)
 * the model it holds. */
static int open_model(tc_session *s, const tc_session_config *c, tc_checkpoint *ck,
                      tc_error *err)
{
    if (!c->registry || (!c->model_path && !c->resume_path))
        return tc_error_set(err, "tc_session_new: a registry and a model file or a checkpoint "
                                 "to resume are needed");
    if (c->resume_path && tc_checkpoint_read(c->resume_path, ck, err) != 0)
        return 1;
    if (c->model_path) {
        s->graph = tc_graph_load_file(c->registry, c->model_path, err);
    } else {
        char origin[1100];
        snprintf(origin, sizeof origin, "%s (model)", c->resume_path);
        s->graph = tc_graph_load_string(c->registry, ck->model_json ? ck->model_json : "",
                                        origin, err);
    }
    return s->graph ? 0 : 1;
}

static char *default_output(const char *model_name)
{
    size_t n = strlen(model_name);
    char *p = malloc(n + 11);
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

/* Settings, in rising precedence: defaults, the model's, the checkpoint's,
 * the overrides. Then the output path. */
static int take_settings(tc_session *s, const tc_session_config *c, const tc_checkpoint *ck,
                         int64_t *steps_per_epoch, tc_error *err)
{
    if (tc_train_config_from_graph(s->graph, &s->cfg, err) != 0)
        return 1;
    if (c->resume_path && read_state(s, c->resume_path, ck->meta_json, steps_per_epoch, err))
        return 1;
    s->saved_kind = s->cfg.optim.kind;
    tc_train_config stored = s->cfg;
    if (tc_train_overrides_apply(c->overrides, &s->cfg, err) != 0 ||
        tc_train_config_check(&s->cfg, err) != 0)
        return 1;
    tc_resume_check rc = {c->resume_path, ck->model_json,
                          c->model_path ? tc_graph_json(s->graph) : NULL,
                          s->data_dir, c->data_dir, &stored, &s->cfg, c->allow_changes};
    if (c->resume_path && tc_session_check_resume(&rc, err) != 0)
        return 1;
    const char *out = c->output_path ? c->output_path : c->resume_path;
    s->out_path = out ? strdup(out) : default_output(tc_graph_name(s->graph));
    s->resume_path = dup_or_null(c->resume_path);
    if (!s->out_path || (c->resume_path && !s->resume_path))
        return tc_error_set(err, "out of memory");
    if (s->rank != 0)
        return 0; /* the other ranks of a group write nothing */
    /* one writer per checkpoint: a second run with the same output stops
     * here, and the temporary files of a writer killed mid-write go */
    if (check_output_dir(s->out_path, err) != 0 ||
        !(s->lock = tc_checkpoint_lock_take(s->out_path, NULL, err)))
        return 1;
    if (c->best_path) {
        if (!*c->best_path || strcmp(c->best_path, s->out_path) == 0)
            return tc_error_set(err, "the best checkpoint needs a file of its own, not '%s' (the "
                                     "last checkpoint is %s)", c->best_path, s->out_path);
        if (!(s->best_path = strdup(c->best_path)))
            return tc_error_set(err, "out of memory");
        if (check_output_dir(s->best_path, err) != 0 ||
            !(s->best_lock = tc_checkpoint_lock_take(s->best_path, NULL, err)))
            return 1;
    }
    s->have_good = s->resume_path && strcmp(s->out_path, s->resume_path) == 0;
    return 0;
}

/* Data sets given in memory: borrowed, the training set copied only to
 * hold out a validation split. */
static int take_data_sets(tc_session *s, const tc_session_config *c, tc_error *err)
{
    if (!c->train || !c->test)
        return tc_error_set(err, "tc_session_new: give both data sets, or a data folder");
    if (c->val && s->cfg.val_split > 0)
        return tc_error_set(err, "tc_session_new: a validation set was given and a validation "
                                 "split of %g asked for: use one of them", s->cfg.val_split);
    s->train = c->train;
    s->test = c->test;
    s->val = c->val;
    s->val_from = c->val ? TC_VAL_GIVEN : TC_VAL_NONE;
    if (tc_session_check_labels(s->graph, c->train, "the training set", err) ||
        tc_session_check_labels(s->graph, c->test, "the test set", err) ||
        (c->val && tc_session_check_labels(s->graph, c->val, "the validation set", err)))
        return 1;
    if (s->cfg.val_split > 0) {
        int64_t *all = malloc((size_t)(c->train->count ? c->train->count : 1) * sizeof *all);
        if (!all)
            return tc_error_set(err, "out of memory");
        for (int64_t i = 0; i < c->train->count; i++)
            all[i] = i;
        int rc = tc_dataset_subset(c->train, all, c->train->count, &s->own_train, err);
        free(all);
        if (rc || tc_session_hold_out(&s->own_train, s->cfg.val_split, s->cfg.seed, &s->own_val,
                                      err))
            return 1;
        s->train = &s->own_train;
        s->val = &s->own_val;
        s->val_from = TC_VAL_SPLIT;
    }
    return 0;
}

/* The folder read, absolute where it resolves, so that a resume from
 * elsewhere finds it. */
static int keep_data_dir(tc_session *s, const char *dir, tc_error *err)
{
    char *abs = realpath(dir, NULL);
    free(s->data_dir);
    s->data_dir = abs ? abs : strdup(dir);
    return s->data_dir ? 0 : tc_error_set(err, "out of memory");
}

/* The splits of a data folder: given, or (resuming) the checkpoint's. */
static int load_data(tc_session *s, const tc_session_config *c, tc_error *err)
{
    if (c->train || c->test)
        return take_data_sets(s, c, err);
    const char *dir = c->data_dir ? c->data_dir : s->data_dir;
    if (!dir && c->resume_path)
        return tc_error_set(err, "%s names no data folder (written before checkpoints kept "
                                 "it): give one (--data DIR)", c->resume_path);
    if (!dir)
        return tc_error_set(err, "tc_session_new: no data sets and no data folder");
    tc_data_options opt;
    if (tc_session_data_options(s->graph, &opt, err) != 0 ||
        tc_session_load_train_val(s->graph, dir, &opt, s->cfg.val_split, s->cfg.seed,
                                  &s->own_train, &s->own_val, &s->val_from, err) != 0)
        return 1;
    s->train = &s->own_train;
    s->val = s->val_from != TC_VAL_NONE ? &s->own_val : NULL;
    /* the test split takes the training split's class list, so that a class
     * missing from one folder cannot shift the labels of the others */
    opt.class_names = (const char *const *)s->own_train.class_names;
    opt.n_class_names = s->own_train.class_names ? s->own_train.n_classes : 0;
    char what[4200];
    snprintf(what, sizeof what, "%s (test split)", dir);
    if (tc_dataset_load_with(dir, "test", &opt, &s->own_test, err) != 0 ||
        tc_session_check_labels(s->graph, &s->own_test, what, err) != 0)
        return 1;
    s->test = &s->own_test;
    return keep_data_dir(s, dir, err);
}

/* The image limits (the setting limit on the training set, test_limit on
 * the test set) keep the seeded stratified sample of tc_dataset_sample,
 * never the first N of the listing; a borrowed data set is copied. */
static int limit_one(const tc_dataset **ds, tc_dataset *own, int64_t n, tc_error *err)
{
    if (n <= 0 || n >= (*ds)->count)
        return 0;
    if (*ds == own)
        return tc_dataset_limit(own, n, NULL, err);
    int64_t *kept, m;
    if (tc_dataset_sample((*ds)->labels, (*ds)->count, n, &kept, &m, err) != 0)
        return 1;
    int rc = tc_dataset_subset(*ds, kept, m, own, err);
    free(kept);
    if (rc == 0)
        *ds = own;
    return rc;
}

static int apply_limits(tc_session *s, tc_error *err)
{
    return limit_one(&s->train, &s->own_train, s->cfg.limit, err) ||
           limit_one(&s->test, &s->own_test, s->test_limit, err);
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
    for (int i = 0; i < tc_graph_n_states(g); i++)
        elements += (uint64_t)tc_shape_count(&tc_graph_state(g, i)->value.shape);
    uint64_t bytes = 4 * elements + strlen(tc_graph_json(g)) + 4096 +
                     256 * (uint64_t)(tc_graph_n_weights(g) + tc_graph_n_states(g) +
                                      tc_optimizer_n_state(opt));
    if (bytes > TC_CHECKPOINT_MAX_BYTES)
        return tc_error_set(err, "model %s: its weights and %s state need about %llu MiB, more "
                                 "than a checkpoint holds (%llu MiB)",
                            tc_graph_name(g), tc_optimizer_kind_name(kind),
                            (unsigned long long)(bytes >> 20),
                            (unsigned long long)(TC_CHECKPOINT_MAX_BYTES >> 20));
    return 0;
}

/* Weights and optimiser state from the checkpoint, which must fit these
 * settings; another optimizer kind than the checkpoint's starts afresh. */
static int restore(tc_session *s, const tc_checkpoint *ck, int64_t steps_per_epoch,
                   tc_error *err)
{
    s->switched = s->cfg.optim.kind != s->saved_kind;
    if (tc_snapshot_load_weights(s->graph, ck, err) != 0 ||
        (!s->switched && tc_snapshot_load_optimizer(s->opt, ck, err) != 0))
        return tc_error_prefix(err, "%s", s->resume_path);
    if (s->batch > 0 && steps_per_epoch != s->n_batches)
        return tc_error_set(err, "%s stopped at batch %lld of %lld in epoch %d, but with these "
                                 "settings an epoch has %lld batches; resume with the same "
                                 "--batch-size and --limit",
                            s->resume_path, (long long)s->batch, (long long)steps_per_epoch,
                            s->epoch + 1, (long long)s->n_batches);
    return 0;
}

/* early_stop epochs since the best one, at an epoch boundary. */
static int early_stop_due(const tc_session *s)
{
    return s->cfg.early_stop > 0 && s->batch == 0 && s->best_epoch > 0 &&
           s->epoch - s->best_epoch >= s->cfg.early_stop;
}

/* Plans the training batch now, so that a batch size the memory cannot
 * hold is refused (naming the node and the bytes) before the first epoch,
 * not called a failed step. */
static int plan_training_batch(tc_session *s, tc_error *err)
{
    int64_t n = s->train->count;
    if (s->cfg.limit > 0 && s->cfg.limit < n)
        n = s->cfg.limit;
    int64_t bs = s->cfg.batch_size < n ? s->cfg.batch_size : n;
    return bs < 1 ? 0 : tc_graph_prepare(s->graph, (int)bs, 1, err);
}

static int start(tc_session *s, const tc_session_config *c, tc_error *err)
{
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    int64_t steps_per_epoch = 0;
    int rc = 1;
    if (open_model(s, c, &ck, err) || take_settings(s, c, &ck, &steps_per_epoch, err) ||
        load_data(s, c, err) || apply_limits(s, err))
        goto out;
    if (!(s->opt = tc_optimizer_new(s->graph, &s->cfg.optim, err)) ||
        check_checkpoint_size(s->graph, s->opt, s->cfg.optim.kind, err))
        goto out;
    s->n_batches = tc_train_batches(&s->cfg, s->train);
    if (plan_training_batch(s, err))
        goto out;
    if (c->resume_path) {
        if (restore(s, &ck, steps_per_epoch, err))
            goto out;
        if (s->saved_on_val != (s->val != NULL)) {
            /* the best was chosen on another set: choose afresh */
            s->best_acc = -1;
            s->best_epoch = 0;
        }
        s->stopped_early = early_stop_due(s) ? s->epoch : 0;
    } else {
        tc_graph_init_weights(s->graph, s->cfg.seed);
    }
    /* a group starts from rank 0's weights, whatever each rank read */
    if (s->ranks > 1 && tc_dist_broadcast_weights(s->dist, s->graph, err) != 0)
        goto out;
    tc_graph_set_seed(s->graph, s->cfg.seed);
    if (s->profile)
        tc_graph_set_profiling(s->graph, 1);
    rc = 0;
out:
    tc_checkpoint_free(&ck);
    return rc;
}

tc_session *tc_session_new(const tc_session_config *c, tc_error *err)
{
    tc_session *s = calloc(1, sizeof *s);
    if (!s) {
        tc_error_set(err, "out of memory");
        return NULL;
    }
    s->t_start = tc_monotonic_seconds();
    s->best_acc = s->last_acc = s->last_val = -1;
    s->test_limit = c->test_limit;
    s->profile = c->profile;
    s->threads = tc_get_threads();
    s->dist = c->dist;
    s->rank = tc_dist_rank(c->dist);
    s->ranks = c->dist ? tc_dist_size(c->dist) : 1;
    if (c->test_limit < 0) {
        tc_error_set(err, "test image limit must be >= 0 (got %lld)", (long long)c->test_limit);
        tc_session_free(s);
        return NULL;
    }
    if (start(s, c, err) != 0) {
        tc_session_free(s);
        return NULL;
    }
    return s;
}

void tc_session_free(tc_session *s)
{
    if (!s)
        return;
    if (s->opt)
        tc_optimizer_free(s->opt);
    if (s->graph)
        tc_graph_free(s->graph);
    tc_checkpoint_unlock(s->lock);
    tc_checkpoint_unlock(s->best_lock);
    tc_dataset_free(&s->own_train);
    tc_dataset_free(&s->own_test);
    tc_dataset_free(&s->own_val);
    free(s->history);
    free(s->data_dir);
    free(s->best_path);
    free(s->out_path);
    free(s->resume_path);
    free(s);
}

/* ---- running -------------------------------------------------------------- */

/* Appends to err's message the last good checkpoint the user still has;
 * intact says so of it (after a failed write, which never touches it). */
static int note_checkpoint_left(const tc_session *s, tc_error *err, int intact)
{
    char msg[TC_ERROR_CAP];
    snprintf(msg, sizeof msg, "%s", err->msg);
    const char *good = s->have_good ? s->out_path : s->resume_path;
    if (!good)
        return tc_error_set(err, "%s; no checkpoint was written", msg);
    if (intact)
        return tc_error_set(err, "%s; the last good checkpoint %s is unchanged", msg, good);
    return tc_error_set(err, "%s; the last good checkpoint is %s", msg, good);
}

/* Writes the checkpoint of the current position (atomically). */
static int save(tc_session *s, tc_error *err)
{
    if (s->rank != 0)
        return 0; /* rank 0 writes a group's checkpoints */
    double now = tc_monotonic_seconds();
    s->wall_before += now - s->t_start;
    s->t_start = now;
    char *meta = state_text(s);
    int rc = meta ? tc_snapshot_save(s->out_path, s->graph, s->opt, meta, err)
                  : tc_error_set(err, "out of memory");
    free(meta);
    if (rc != 0)
        return note_checkpoint_left(s, err, 1);
    s->have_good = 1;
    return 0;
}

/* Evaluation is no part of the training profile. The validation set
 * (when there is one) with its loss, then the test set. */
static int evaluate(tc_session *s, tc_epoch_record *r, int64_t *correct, int64_t *total,
                    tc_error *err)
{
    if (s->profile)
        tc_graph_set_profiling(s->graph, 0);
    int bs = s->cfg.batch_size < 256 ? 256 : s->cfg.batch_size;
    double loss_sum = 0;
    int rc = 0;
    memset(r, 0, sizeof *r);
    if (s->val && (rc = tc_evaluate_loss(s->graph, s->val, bs, 0, NULL, &r->val_correct,
                                         &r->val_total, &loss_sum, err)) != 0)
        tc_error_prefix(err, "validation set");
    if (rc == 0)
        rc = tc_evaluate(s->graph, s->test, bs, s->test_limit, NULL, correct, total, err);
    if (r->val_total > 0) {
        r->val_loss = loss_sum / (double)r->val_total;
        r->val_accuracy = (double)r->val_correct / (double)r->val_total;
    }
    if (s->profile)
        tc_graph_set_profiling(s->graph, 1);
    return rc;
}

/* The epoch's record (its validation part filled by evaluate) from the
 * sums of its batches and the test evaluation; the position moves to the
 * next epoch. Returns 1 when the best improved. */
static int close_epoch(tc_session *s, int64_t correct, int64_t total, tc_epoch_record *r)
{
    double images = (double)s->part_images;
    r->epoch = s->epoch + 1;
    r->loss = s->part_images ? s->part_loss_sum / images : 0.0;
    r->train_accuracy = s->part_images ? (double)s->part_correct / images : 0.0;
    r->test_accuracy = total ? (double)correct / (double)total : 0.0;
    r->test_correct = correct;
    r->test_total = total;
    r->lr = tc_lr_at(&s->cfg, s->epoch, s->n_batches - 1, s->n_batches);
    r->train_seconds = s->part_seconds;
    r->images_per_second = s->part_seconds > 0 ? images / s->part_seconds : 0.0;
    s->epoch++;
    s->batch = 0;
    s->part_loss_sum = s->part_seconds = 0;
    s->part_correct = s->part_images = 0;
    s->last_acc = r->test_accuracy;
    s->last_val = s->val ? r->val_accuracy : -1;
    /* with a validation set the test set is only reported */
    double chosen = s->val ? r->val_accuracy : r->test_accuracy;
    if (chosen <= s->best_acc)
        return 0;
    s->best_acc = chosen;
    s->best_epoch = s->epoch;
    return 1;
}

/* The best epoch's full checkpoint, beside the last one. */
static int save_best(tc_session *s, tc_error *err)
{
    char *meta = state_text(s);
    int rc = meta ? tc_snapshot_save(s->best_path, s->graph, s->opt, meta, err)
                  : tc_error_set(err, "out of memory");
    free(meta);
    if (rc != 0)
        return tc_error_prefix(err, "writing the best checkpoint %s (the last checkpoint %s is "
                                    "written)", s->best_path, s->out_path);
    s->best_written = 1;
    return 0;
}

/* After an epoch's training: evaluate, record, write the checkpoint (and
 * the best one when it improved). */
static int end_epoch(tc_session *s, double ep_start, tc_epoch_record *r, tc_error *err)
{
    double ev_start = tc_monotonic_seconds();
    int64_t correct = 0, total = 0;
    if (s->rank != 0) {
        /* only rank 0 evaluates; the others keep the position only */
        memset(r, 0, sizeof *r);
        close_epoch(s, 0, 0, r);
        return 0;
    }
    if (evaluate(s, r, &correct, &total, err) != 0)
        return 1;
    int improved = close_epoch(s, correct, total, r);
    if (early_stop_due(s) && s->epoch < s->cfg.epochs)
        s->stopped_early = s->epoch;
    r->seconds = tc_monotonic_seconds() - ep_start; /* as the checkpoint keeps it */
    if (push_record(s, r) != 0)
        return tc_error_set(err, "out of memory");
    if (save(s, err) != 0 || (improved && s->best_path && save_best(s, err) != 0))
        return 1;
    r->overhead_seconds = tc_monotonic_seconds() - ev_start;
    r->seconds = tc_monotonic_seconds() - ep_start;
    s->history[s->n_history - 1].seconds = r->seconds;
    return 0;
}

static int cancelled(const tc_train_hooks *hooks)
{
    return hooks && hooks->cancel && *hooks->cancel;
}

/* After an epoch: a group learns from rank 0 whether its evaluation and
 * checkpoint succeeded and whether early_stop ends the run, and from every
 * rank whether one was cancelled, so that all go on or stop together.
 * Alone: the cancel flag. err keeps rank 0's own message on rank 0. */
static int agree_epoch_end(tc_session *s, const tc_train_hooks *hooks, int failed, int *stop,
                           tc_error *err)
{
    *stop = cancelled(hooks);
    if (s->ranks < 2)
        return failed;
    double x[3] = {s->rank == 0 && failed, s->rank == 0 ? s->stopped_early : 0, *stop};
    tc_error mine = *err;
    if (tc_dist_sum_f64(s->dist, x, 3, err) != 0)
        return 1;
    *err = mine; /* rank 0's own message, when it failed */
    s->stopped_early = (int)x[1];
    *stop = x[2] > 0;
    if (x[0] > 0 && s->rank != 0)
        return tc_error_set(err, "rank 0 failed to evaluate or write the checkpoint after "
                                 "epoch %d (its own message says why)", s->epoch);
    return x[0] > 0;
}

int tc_session_run(tc_session *s, const tc_train_hooks *hooks, tc_session_status *status,
                   tc_error *err)
{
    tc_session_status ignored;
    if (!status)
        status = &ignored;
    *status = TC_SESSION_COMPLETED;
    while (s->epoch < s->cfg.epochs && !s->stopped_early) {
        double ep_start = tc_monotonic_seconds();
        tc_epoch_stats es;
        if (tc_train_epoch_dist(s->graph, s->opt, s->train, &s->cfg, s->epoch, s->batch, hooks,
                                s->dist, &es, err) != 0) {
            /* only a non-finite loss is divergence; out of memory or a
             * layer's error is a failure of the run, said as such */
            *status = es.diverged ? TC_SESSION_DIVERGED : TC_SESSION_FAILED;
            return note_checkpoint_left(s, err, 0); /* a failed step */
        }
        s->part_loss_sum += es.loss_sum;
        s->part_correct += es.correct;
        s->part_images += es.images;
        s->part_seconds += es.seconds;
        s->batch = es.batches_done;
        if (es.cancelled) {
            *status = TC_SESSION_INTERRUPTED;
            if (save(s, err) != 0)
                return tc_error_prefix(err, "interrupted, and writing the checkpoint failed");
            return 0;
        }
        tc_epoch_record r;
        int stop = 0;
        int failed = end_epoch(s, ep_start, &r, err);
        if (agree_epoch_end(s, hooks, failed, &stop, err) != 0) {
            *status = TC_SESSION_FAILED;
            return 1;
        }
        if (hooks && hooks->epoch_end)
            hooks->epoch_end(hooks->user, &r);
        /* stopped during evaluation: the checkpoint just written is at an
         * epoch boundary */
        if (stop && s->epoch < s->cfg.epochs && !s->stopped_early) {
            *status = TC_SESSION_INTERRUPTED;
            return 0;
        }
    }
    return 0;
}

/* ---- queries -------------------------------------------------------------- */

static int64_t used(const tc_dataset *ds, int64_t limit)
{
    return limit > 0 && limit < ds->count ? limit : ds->count;
}

void tc_session_get_state(const tc_session *s, tc_session_state *st)
{
    memset(st, 0, sizeof *st);
    st->epoch = s->epoch;
    st->batch = s->batch;
    st->n_batches = s->n_batches;
    st->train_images = used(s->train, s->cfg.limit);
    st->test_images = used(s->test, s->test_limit);
    st->val_images = s->val ? s->val->count : 0;
    st->val_from = (int)s->val_from;
    st->last_accuracy = s->last_acc;
    st->last_val_accuracy = s->last_val;
    st->best_accuracy = s->best_acc;
    st->best_epoch = s->best_epoch;
    st->stopped_early = s->stopped_early;
    st->data_dir = s->data_dir;
    st->best_checkpoint = s->best_written ? s->best_path : NULL;
    st->wall_seconds = s->wall_before + (tc_monotonic_seconds() - s->t_start);
    st->resumed = s->resume_path != NULL;
    st->threads = s->threads;
    st->ranks = s->ranks;
    st->threads_before = s->threads_before;
    st->optimizer_switched = s->switched;
    st->saved_optimizer = s->saved_kind;
    st->checkpoint = s->out_path;
    st->checkpoint_written = s->have_good;
    st->last_good = s->have_good ? s->out_path : s->resume_path;
}

const tc_train_config *tc_session_settings(const tc_session *s)
{
    return &s->cfg;
}

tc_graph *tc_session_graph(tc_session *s)
{
    return s->graph;
}

const tc_epoch_record *tc_session_history(const tc_session *s, int *n)
{
    *n = s->n_history;
    return s->history;
}

char *tc_session_history_json(const tc_session *s)
{
    json_t *a = tc_session_history_value(s);
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(a);
    return text;
}
