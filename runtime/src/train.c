/* The training and evaluation loops (see tinycnn/train.h). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "tinycnn/augment.h"
#include "train_internal.h"
#include "tinycnn/dist.h"
#include "shape.h" /* tc_monotonic_seconds */
#include "tinycnn/status.h"

const char *tc_lr_schedule_name(tc_lr_schedule s)
{
    switch (s) {
    case TC_LR_CONSTANT: return "constant";
    case TC_LR_COSINE: return "cosine";
    case TC_LR_STEP: return "step";
    }
    return "?";
}

int tc_lr_schedule_parse(const char *name, tc_lr_schedule *out)
{
    static const tc_lr_schedule all[] = {TC_LR_CONSTANT, TC_LR_COSINE, TC_LR_STEP};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, tc_lr_schedule_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return 1;
}

int tc_optim_kind_parse(const char *name, tc_optim_kind *out)
{
    if (name && strcmp(name, "sgd") == 0) {
        *out = TC_OPTIM_SGD;
        return 0;
    }
    if (name && strcmp(name, "adam") == 0) {
        *out = TC_OPTIM_ADAM;
        return 0;
    }
    return 1;
}

/* tc_train_config_defaults and tc_train_config_check go through the table
 * of settings: train_settings.c. */

int tc_train_config_from_graph(const tc_graph *g, tc_train_config *cfg, tc_error *err)
{
    if (!g) {
        tc_train_config_defaults(cfg);
        return 0;
    }
    tc_graph_train_defaults(g, cfg);
    if (tc_train_config_check(cfg, err) != 0)
        return tc_error_prefix(err, "%s: training", tc_graph_name(g));
    return 0;
}

double tc_lr_at(const tc_train_config *cfg, int epoch, int64_t step, int64_t steps_per_epoch)
{
    if (steps_per_epoch < 1)
        steps_per_epoch = 1;
    int64_t s = (int64_t)epoch * steps_per_epoch + step;
    int64_t total = (int64_t)cfg->epochs * steps_per_epoch;
    int64_t warm = (int64_t)llround(cfg->warmup_epochs * (double)steps_per_epoch);
    if (warm > total)
        warm = total;
    if (s < warm)
        return cfg->lr * (double)(s + 1) / (double)warm;
    switch (cfg->schedule) {
    case TC_LR_COSINE: {
        int64_t span = total - warm;
        if (span <= 0)
            return cfg->lr;
        double t = (double)(s - warm) / (double)span;
        if (t > 1.0)
            t = 1.0; /* past the planned end (an extended resume): stay at 0 */
        return cfg->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * t));
    }
    case TC_LR_STEP: {
        int period = cfg->step_epochs > 0 ? cfg->step_epochs : cfg->epochs / 3;
        if (period < 1)
            period = 1;
        return cfg->lr * pow(cfg->step_gamma, (double)(epoch / period));
    }
    case TC_LR_CONSTANT:
    default:
        return cfg->lr;
    }
}

void tc_train_order(uint64_t seed, int epoch, int shuffle, int64_t *order, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    if (!shuffle || n < 2)
        return;
    tc_rng r;
    tc_rng_seed(&r, seed, "shuffle", NULL, (uint64_t)epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tc_rng_below(&r, (uint64_t)i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static int64_t used_count(const tc_dataset *ds, int64_t limit)
{
    return (limit > 0 && limit < ds->count) ? limit : ds->count;
}

int tc_eval_begin(const tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                  int64_t *correct, int64_t *total, int64_t *n, tc_io_plan *io, tc_error *err)
{
    if (correct)
        *correct = 0;
    if (total)
        *total = 0;
    if (batch < 1)
        return tc_error_set(err, "batch size must be at least 1 (got %d)", batch);
    if (limit < 0)
        return tc_error_set(err, "image limit must be >= 0 (got %lld)", (long long)limit);
    *n = used_count(ds, limit);
    return tc_plan_io(g, ds, *n, 0, io, err);
}

int64_t tc_train_batches(const tc_train_config *cfg, const tc_dataset *train)
{
    int64_t n = used_count(train, cfg->limit);
    int64_t b = cfg->batch_size > 0 ? cfg->batch_size : 1;
    return (n + b - 1) / b;
}

int tc_argmax(const float *x, int64_t n)
{
    int best = 0;
    float bv = -INFINITY;
    int found = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            continue;
        if (!found || x[i] > bv) {
            bv = x[i];
            best = (int)i;
            found = 1;
        }
    }
    return best;
}

int tc_plan_io(const tc_graph *g, const tc_dataset *ds, int64_t n_used, int need_label,
               tc_io_plan *io, tc_error *err)
{
    const char *model = tc_graph_name(g);
    io->image = tc_graph_image_input(g);
    io->label = tc_graph_label_input(g);
    if (io->image < 0)
        return tc_error_set(err, "model %s has no image input", model);
    if (need_label && io->label < 0)
        return tc_error_set(err, "model %s has no label input (an input with \"role\": \"label\")",
                            model);
    for (int i = 0; i < tc_graph_n_inputs(g); i++)
        if (i != io->image && i != io->label)
            return tc_error_set(err, "model %s: input '%s' is neither the image nor the label; "
                                     "training and evaluation can only feed those",
                                model, tc_graph_input(g, i)->name);
    const tc_input_info *in = tc_graph_input(g, io->image);
    int64_t want = 1;
    for (int d = 0; d < in->shape.ndim; d++)
        want *= in->shape.dims[d];
    int64_t have = (int64_t)ds->channels * ds->height * ds->width;
    if (want != have)
        return tc_error_set(err, "model %s: input '%s' wants %lld values per image but the data "
                                 "set's images are %dx%dx%d",
                            model, in->name, (long long)want, (int)ds->channels, (int)ds->height,
                            (int)ds->width);
    if (ds->channels < 1 || ds->channels > 3)
        return tc_error_set(err, "the data set's images have %d channels (1 or 3 expected)",
                            (int)ds->channels);
    if (in->n_norm > 1 && in->n_norm != ds->channels)
        return tc_error_set(err, "model %s: input '%s' has a mean and std for %d channels but "
                                 "the data set's images have %d", model, in->name, in->n_norm,
                            (int)ds->channels);
    for (int c = 0; c < ds->channels && c < 3; c++) {
        io->mean[c] = tc_input_mean(in, c);
        io->std[c] = tc_input_std(in, c);
        if (!(io->std[c] != 0.0f) || !isfinite(io->std[c]))
            return tc_error_set(err, "model %s: input '%s' has std %g", model, in->name,
                                (double)io->std[c]);
    }
    io->n_classes = tc_graph_n_classes(g);
    if (io->n_classes < 1)
        return tc_error_set(err, "model %s: the output has no classes", model);
    if (!ds->labels || !ds->pixels)
        return tc_error_set(err, "the data set has no %s (an image file without its label "
                                 "file?)", ds->pixels ? "labels" : "images");
    for (int64_t i = 0; i < n_used; i++)
        if ((int64_t)ds->labels[i] >= io->n_classes)
            return tc_error_set(err, "image %lld has label %d, but model %s has %lld classes",
                                (long long)i, (int)ds->labels[i], model,
                                (long long)io->n_classes);
    return 0;
}

/* The shift's background is what a 0 pixel becomes after normalisation. */
int tc_fill_inputs(tc_graph *g, const tc_dataset *ds, const tc_io_plan *io, const int64_t *idx,
                   int n, const tc_train_config *aug, uint64_t step, tc_error *err)
{
    float *images = tc_graph_input_data(g, io->image);
    float *labels = io->label >= 0 ? tc_graph_input_data(g, io->label) : NULL;
    if (!images)
        return tc_error_set(err, "model %s: no buffer for the image input", tc_graph_name(g));
    tc_augment_spec spec = {0};
    if (aug) {
        spec.seed = aug->seed;
        spec.shift = aug->augment_shift;
        spec.crop_pad = aug->augment_crop;
        spec.flip = aug->augment_flip;
    }
    tc_augment_fill(ds, idx, 0, n, io->mean, io->std, aug ? &spec : NULL, step, images, labels);
    return 0;
}

/* Counts the samples whose output argmax equals their label. */
static int64_t count_correct(const tc_tensor *out, const tc_dataset *ds, const int64_t *idx, int n,
                             int64_t *confusion, int64_t n_classes)
{
    int64_t per = n > 0 ? tc_shape_count(&out->shape) / n : 0;
    int64_t correct = 0;
    for (int i = 0; i < n; i++) {
        int pred = tc_argmax(out->data + (int64_t)i * per, per);
        int truth = ds->labels[idx[i]];
        correct += pred == truth;
        if (confusion && pred < n_classes)
            confusion[(int64_t)truth * n_classes + pred]++;
    }
    return correct;
}

/* One epoch's loop: what every batch needs, and the sums it keeps. */
typedef struct epoch_run {
    tc_graph *g;
    tc_optimizer *opt;
    const tc_dataset *train;
    const tc_train_config *cfg;
    tc_io_plan io;
    int64_t *order;
    int epoch;
    int64_t n, bs, n_batches;
    tc_dist *d;
    float *agree;         /* with d: per-rank codes, then cancel, loss sum, correct */
    double loss_sum, lr;
    int64_t correct, images;
} epoch_run;

/* Batch b's first image, size and global step. */
static int batch_of(const epoch_run *r, int64_t b, int64_t *first, uint64_t *step)
{
    *first = b * r->bs;
    *step = (uint64_t)r->epoch * (uint64_t)r->n_batches + (uint64_t)b;
    return (int)(*first + r->bs <= r->n ? r->bs : r->n - *first);
}

static int step_error(const epoch_run *r, uint64_t step, tc_error *err)
{
    return tc_error_prefix(err, "epoch %d, step %llu", r->epoch + 1, (unsigned long long)step + 1);
}

/* One process: the whole batch, then the update. */
static int local_step(epoch_run *r, int64_t b, tc_epoch_stats *stats, tc_error *err)
{
    int64_t first;
    uint64_t step;
    int cnt = batch_of(r, b, &first, &step);
    if (tc_graph_prepare(r->g, cnt, 1, err) != 0 ||
        tc_fill_inputs(r->g, r->train, &r->io, r->order + first, cnt, r->cfg, step, err) != 0 ||
        tc_graph_forward(r->g, 1, step, err) != 0)
        return step_error(r, step, err);
    float loss = tc_graph_loss(r->g);
    if (!isfinite(loss)) {
        /* Stop before the update so the weights stay those of the last
         * finite step; the caller keeps its last good checkpoint. */
        stats->diverged = 1;
        return tc_error_set(err, "the loss became %s at epoch %d, step %llu (batch %lld of %lld)",
                            isnan(loss) ? "NaN" : "infinite", r->epoch + 1,
                            (unsigned long long)step + 1, (long long)b + 1,
                            (long long)r->n_batches);
    }
    r->correct += count_correct(tc_graph_output(r->g), r->train, r->order + first, cnt, NULL, 0);
    if (tc_graph_backward(r->g, err) != 0)
        return step_error(r, step, err);
    r->lr = tc_lr_at(r->cfg, r->epoch, b, r->n_batches);
    tc_optimizer_step(r->opt, (float)r->lr);
    r->loss_sum += (double)loss * cnt;
    r->images += cnt;
    return 0;
}

/* A failure the ranks agreed on: this rank's own error, or the first
 * failed rank named. Code 1: an error; 2: a non-finite loss. */
static int agreed_failure(const epoch_run *r, int64_t b, uint64_t step, tc_epoch_stats *stats,
                          tc_error *err)
{
    int size = tc_dist_size(r->d), me = tc_dist_rank(r->d), who = 0;
    while (who < size && r->agree[who] == 0)
        who++;
    if (r->agree[who] == 2) {
        stats->diverged = 1;
        return tc_error_set(err, "the loss became NaN or infinite on rank %d at epoch %d, step "
                                 "%llu (batch %lld of %lld)", who, r->epoch + 1,
                            (unsigned long long)step + 1, (long long)b + 1,
                            (long long)r->n_batches);
    }
    if (r->agree[me] == 1)
        return tc_error_prefix(err, "rank %d", me);
    return tc_error_set(err, "rank %d failed at epoch %d, step %llu (its own message says why)",
                        who, r->epoch + 1, (unsigned long long)step + 1);
}

/* This rank's share of batch b, forward and backward; fills its code, loss
 * and correct answers into r->agree. */
static void share_pass(epoch_run *r, int64_t first, int64_t lo, int m, uint64_t step,
                       tc_error *err)
{
    int size = tc_dist_size(r->d), me = tc_dist_rank(r->d);
    if (m == 0)
        return;
    const int64_t *idx = r->order + first + lo;
    if (tc_graph_prepare(r->g, m, 1, err) != 0 ||
        tc_fill_inputs(r->g, r->train, &r->io, idx, m, r->cfg, step, err) != 0 ||
        tc_graph_forward(r->g, 1, step, err) != 0) {
        step_error(r, step, err);
        r->agree[me] = 1;
        return;
    }
    float loss = tc_graph_loss(r->g);
    if (!isfinite(loss)) {
        r->agree[me] = 2; /* no backward: the step is dropped on every rank */
        return;
    }
    r->agree[size + 1] = loss * (float)m;
    r->agree[size + 2] = (float)count_correct(tc_graph_output(r->g), r->train, idx, m, NULL, 0);
    if (tc_graph_backward(r->g, err) != 0) {
        step_error(r, step, err);
        r->agree[me] = 1;
    }
}

/* A group: this rank's share forward and backward, then the allreduce of
 * the gradients (one call, or buckets started during backward) - each
 * share's mean weighted by its part of the batch, so
 * that the sum is the mean over the batch - with the agreement appended
 * (each rank's failure or non-finite loss, a cancel flag, the batch's loss
 * and correct answers), and the same update on every rank unless one of
 * them stops the group. One meeting per step: the ranks wait for each
 * other once. */
static int dist_step(epoch_run *r, int64_t b, const tc_train_hooks *hooks,
                     tc_epoch_stats *stats, tc_error *err)
{
    int64_t first, lo, hi;
    uint64_t step;
    int cnt = batch_of(r, b, &first, &step);
    int size = tc_dist_size(r->d), me = tc_dist_rank(r->d);
    tc_dist_share(cnt, me, size, &lo, &hi);
    int m = (int)(hi - lo);
    memset(r->agree, 0, (size_t)(size + 3) * sizeof *r->agree);
    if (tc_dist_begin_gradients(r->d, r->g, (float)m / (float)cnt, size + 3, err) != 0)
        return 1;
    share_pass(r, first, lo, m, step, err);
    r->agree[size] = hooks && hooks->cancel && *hooks->cancel ? 1.0f : 0.0f;
    if (tc_dist_sum_gradients(r->d, r->g, (float)m / (float)cnt, m == 0 || r->agree[me] != 0,
                              r->agree, size + 3, err) != 0)
        return 1;
    for (int i = 0; i < size; i++)
        if (r->agree[i] != 0)
            return agreed_failure(r, b, step, stats, err);
    if (r->agree[size] > 0) {
        stats->cancelled = 1; /* this batch is not applied: a resume runs it again */
        return 0;
    }
    r->lr = tc_lr_at(r->cfg, r->epoch, b, r->n_batches);
    tc_optimizer_step(r->opt, (float)r->lr);
    r->loss_sum += (double)r->agree[size + 1];
    r->correct += (int64_t)r->agree[size + 2];
    r->images += cnt;
    return 0;
}

static void report_progress(const epoch_run *r, const tc_train_hooks *hooks, int64_t b,
                            int64_t start_batch, double t0)
{
    double el = tc_monotonic_seconds() - t0;
    tc_train_progress p = {
        .epoch = r->epoch,
        .batch = b + 1,
        .n_batches = r->n_batches,
        .loss = r->loss_sum / (double)r->images,
        .accuracy = (double)r->correct / (double)r->images,
        .images_per_s = el > 0 ? (double)r->images / el : 0.0,
        .lr = r->lr,
        .seconds = el,
        .start_batch = start_batch,
    };
    hooks->progress(hooks->user, &p);
}

static void finish_stats(const epoch_run *r, double t0, tc_epoch_stats *stats)
{
    stats->seconds = tc_monotonic_seconds() - t0;
    stats->images = r->images;
    stats->loss_sum = r->loss_sum;
    stats->correct = r->correct;
    stats->loss = r->images ? r->loss_sum / (double)r->images : 0.0;
    stats->accuracy = r->images ? (double)r->correct / (double)r->images : 0.0;
    stats->images_per_s = stats->seconds > 0 ? (double)r->images / stats->seconds : 0.0;
}

/* Checks the call and plans the loop; r->order and r->agree are the
 * caller's to free. */
static int open_epoch(epoch_run *r, int64_t start_batch, tc_epoch_stats *stats, tc_error *err)
{
    if (tc_train_config_check(r->cfg, err) != 0)
        return 1;
    r->n = used_count(r->train, r->cfg->limit);
    if (r->n < 1)
        return tc_error_set(err, "the training set is empty");
    if (tc_plan_io(r->g, r->train, r->n, 1, &r->io, err) != 0)
        return 1;
    r->bs = r->cfg->batch_size;
    r->n_batches = (r->n + r->bs - 1) / r->bs;
    stats->n_batches = r->n_batches;
    if (start_batch < 0 || start_batch > r->n_batches)
        return tc_error_set(err, "cannot start epoch %d at batch %lld of %lld", r->epoch + 1,
                            (long long)start_batch, (long long)r->n_batches);
    stats->batches_done = start_batch;
    r->order = malloc((size_t)r->n * sizeof *r->order);
    if (r->d)
        r->agree = malloc((size_t)(tc_dist_size(r->d) + 3) * sizeof *r->agree);
    if (!r->order || (r->d && !r->agree))
        return tc_error_set(err, "out of memory for %lld image indices", (long long)r->n);
    tc_train_order(r->cfg->seed, r->epoch, r->cfg->shuffle, r->order, r->n);
    return 0;
}

int tc_train_epoch(tc_graph *g, tc_optimizer *opt, const tc_dataset *train,
                   const tc_train_config *cfg, int epoch, int64_t start_batch,
                   const tc_train_hooks *hooks, tc_epoch_stats *stats, tc_error *err)
{
    return tc_train_epoch_dist(g, opt, train, cfg, epoch, start_batch, hooks, NULL, stats, err);
}

int tc_train_epoch_dist(tc_graph *g, tc_optimizer *opt, const tc_dataset *train,
                        const tc_train_config *cfg, int epoch, int64_t start_batch,
                        const tc_train_hooks *hooks, tc_dist *d, tc_epoch_stats *stats,
                        tc_error *err)
{
    memset(stats, 0, sizeof *stats);
    epoch_run r = {.g = g, .opt = opt, .train = train, .cfg = cfg, .epoch = epoch, .d = d};
    int rc = open_epoch(&r, start_batch, stats, err);
    int every = hooks && hooks->progress_every > 0 ? hooks->progress_every : 10;
    double t0 = tc_monotonic_seconds();
    for (int64_t b = start_batch; rc == 0 && b < r.n_batches; b++) {
        /* a group decides on the cancel flag together, in dist_step */
        if (!d && hooks && hooks->cancel && *hooks->cancel) {
            stats->cancelled = 1;
            break;
        }
        rc = d ? dist_step(&r, b, hooks, stats, err) : local_step(&r, b, stats, err);
        if (rc != 0 || stats->cancelled)
            break;
        stats->batches_done = b + 1;
        if (hooks && hooks->progress && ((b + 1) % every == 0 || b + 1 == r.n_batches))
            report_progress(&r, hooks, b, start_batch, t0);
    }
    free(r.order);
    free(r.agree);
    finish_stats(&r, t0, stats);
    return rc;
}

/* The sum over the batch of -log softmax(row)[label], in double with the
 * row maximum subtracted. */
static double cross_entropy_sum(const tc_tensor *out, const tc_dataset *ds, const int64_t *idx,
                                int n)
{
    int64_t per = n > 0 ? tc_shape_count(&out->shape) / n : 0;
    double sum = 0.0;
    for (int i = 0; i < n && per > 0; i++) {
        const float *x = out->data + (int64_t)i * per;
        double mx = x[0], e = 0.0;
        for (int64_t k = 1; k < per; k++)
            mx = x[k] > mx ? x[k] : mx;
        for (int64_t k = 0; k < per; k++)
            e += exp((double)x[k] - mx);
        sum += log(e) + mx - (double)x[ds->labels[idx[i]]];
    }
    return sum;
}

int tc_evaluate(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit, int64_t *confusion,
                int64_t *correct, int64_t *total, tc_error *err)
{
    return tc_evaluate_loss(g, ds, batch, limit, confusion, correct, total, NULL, err);
}

int tc_evaluate_loss(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                     int64_t *confusion, int64_t *correct, int64_t *total, double *loss_sum,
                     tc_error *err)
{
    if (loss_sum)
        *loss_sum = 0.0;
    int64_t n;
    tc_io_plan io;
    if (tc_eval_begin(g, ds, batch, limit, correct, total, &n, &io, err) != 0)
        return 1;
    int64_t *idx = malloc((size_t)batch * sizeof *idx);
    if (!idx)
        return tc_error_set(err, "out of memory");
    int64_t ok = 0, done = 0;
    int rc = 0;
    for (int64_t first = 0; first < n; first += batch) {
        int cnt = (int)(first + batch <= n ? batch : n - first);
        for (int i = 0; i < cnt; i++)
            idx[i] = first + i;
        if (tc_graph_prepare(g, cnt, 0, err) != 0 || tc_fill_inputs(g, ds, &io, idx, cnt, NULL, 0, err) != 0 ||
            tc_graph_forward(g, 0, 0, err) != 0) {
            rc = tc_error_prefix(err, "evaluating images %lld..%lld", (long long)first,
                                 (long long)(first + cnt - 1));
            break;
        }
        ok += count_correct(tc_graph_output(g), ds, idx, cnt, confusion, io.n_classes);
        if (loss_sum)
            *loss_sum += cross_entropy_sum(tc_graph_output(g), ds, idx, cnt);
        done += cnt;
    }
    free(idx);
    if (correct)
        *correct = ok;
    if (total)
        *total = done;
    return rc;
}
