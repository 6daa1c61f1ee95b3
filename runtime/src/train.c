/* The training and evaluation loops (see tinycnn/train.h). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "tinycnn/augment.h"
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

/* What both loops need to know about the graph's inputs. */
typedef struct io_plan {
    int image, label;
    float mean[3], std[3]; /* per data-set channel (1 or 3) */
    int64_t n_classes;
} io_plan;

static int plan_io(const tc_graph *g, const tc_dataset *ds, int64_t n_used, int need_label,
                   io_plan *io, tc_error *err)
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
                                     "the training loop can only feed those",
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

/* Fills the prepared input buffers from the images order[0..n); training
 * (aug non-NULL) then applies aug's augmentation, drawn for global step
 * `step`. The shift's background is what a 0 pixel becomes after
 * normalisation. */
static int fill_inputs(tc_graph *g, const tc_dataset *ds, const io_plan *io, const int64_t *idx,
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

int tc_train_epoch(tc_graph *g, tc_optimizer *opt, const tc_dataset *train,
                   const tc_train_config *cfg, int epoch, int64_t start_batch,
                   const tc_train_hooks *hooks, tc_epoch_stats *stats, tc_error *err)
{
    memset(stats, 0, sizeof *stats);
    if (tc_train_config_check(cfg, err) != 0)
        return 1;
    int64_t n = used_count(train, cfg->limit);
    if (n < 1)
        return tc_error_set(err, "the training set is empty");
    io_plan io;
    if (plan_io(g, train, n, 1, &io, err) != 0)
        return 1;
    int64_t bs = cfg->batch_size;
    int64_t n_batches = (n + bs - 1) / bs;
    stats->n_batches = n_batches;
    if (start_batch < 0 || start_batch > n_batches)
        return tc_error_set(err, "cannot start epoch %d at batch %lld of %lld", epoch + 1,
                            (long long)start_batch, (long long)n_batches);
    stats->batches_done = start_batch;

    int64_t *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return tc_error_set(err, "out of memory for %lld image indices", (long long)n);
    tc_train_order(cfg->seed, epoch, cfg->shuffle, order, n);

    int every = hooks && hooks->progress_every > 0 ? hooks->progress_every : 10;
    double t0 = tc_monotonic_seconds();
    double loss_sum = 0.0, lr = 0.0;
    int64_t correct = 0, images = 0;
    int rc = 0;
    for (int64_t b = start_batch; b < n_batches; b++) {
        if (hooks && hooks->cancel && *hooks->cancel) {
            stats->cancelled = 1;
            break;
        }
        int64_t first = b * bs;
        int cnt = (int)(first + bs <= n ? bs : n - first);
        uint64_t step = (uint64_t)epoch * (uint64_t)n_batches + (uint64_t)b;
        if (tc_graph_prepare(g, cnt, 1, err) != 0 ||
            fill_inputs(g, train, &io, order + first, cnt, cfg, step, err) != 0 ||
            tc_graph_forward(g, 1, step, err) != 0) {
            rc = tc_error_prefix(err, "epoch %d, step %llu", epoch + 1,
                                 (unsigned long long)step + 1);
            break;
        }
        float loss = tc_graph_loss(g);
        if (!isfinite(loss)) {
            /* Stop before the update so the weights stay those of the last
             * finite step; the caller keeps its last good checkpoint. */
            stats->diverged = 1;
            rc = tc_error_set(err, "the loss became %s at epoch %d, step %llu (batch %lld of %lld)",
                              isnan(loss) ? "NaN" : "infinite", epoch + 1,
                              (unsigned long long)step + 1, (long long)b + 1,
                              (long long)n_batches);
            break;
        }
        correct += count_correct(tc_graph_output(g), train, order + first, cnt, NULL, 0);
        if (tc_graph_backward(g, err) != 0) {
            rc = tc_error_prefix(err, "epoch %d, step %llu", epoch + 1,
                                 (unsigned long long)step + 1);
            break;
        }
        lr = tc_lr_at(cfg, epoch, b, n_batches);
        tc_optimizer_step(opt, (float)lr);
        loss_sum += (double)loss * cnt;
        images += cnt;
        stats->batches_done = b + 1;
        if (hooks && hooks->progress && ((b + 1) % every == 0 || b + 1 == n_batches)) {
            double el = tc_monotonic_seconds() - t0;
            tc_train_progress p = {
                .epoch = epoch,
                .batch = b + 1,
                .n_batches = n_batches,
                .loss = loss_sum / (double)images,
                .accuracy = (double)correct / (double)images,
                .images_per_s = el > 0 ? (double)images / el : 0.0,
                .lr = lr,
                .seconds = el,
                .start_batch = start_batch,
            };
            hooks->progress(hooks->user, &p);
        }
    }
    free(order);
    stats->seconds = tc_monotonic_seconds() - t0;
    stats->images = images;
    stats->loss_sum = loss_sum;
    stats->correct = correct;
    stats->loss = images ? loss_sum / (double)images : 0.0;
    stats->accuracy = images ? (double)correct / (double)images : 0.0;
    stats->images_per_s = stats->seconds > 0 ? (double)images / stats->seconds : 0.0;
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
    if (correct)
        *correct = 0;
    if (total)
        *total = 0;
    if (batch < 1)
        return tc_error_set(err, "batch size must be at least 1 (got %d)", batch);
    if (limit < 0)
        return tc_error_set(err, "image limit must be >= 0 (got %lld)", (long long)limit);
    int64_t n = used_count(ds, limit);
    io_plan io;
    if (plan_io(g, ds, n, 0, &io, err) != 0)
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
        if (tc_graph_prepare(g, cnt, 0, err) != 0 || fill_inputs(g, ds, &io, idx, cnt, NULL, 0, err) != 0 ||
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
