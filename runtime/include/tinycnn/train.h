/* tinycnn/train.h - the training and evaluation loops.
 *
 * The library never prints: progress reaches the caller through a callback,
 * and cancellation (SIGINT/SIGTERM in the runner) through a flag the loop
 * reads between batches. Given the same seed and thread count, training is
 * deterministic: the shuffle order of epoch e comes from (seed, "shuffle", e)
 * and the forward pass's random streams from the global step number, so a
 * run resumed from any batch boundary gives the same weights as one that was
 * never interrupted. */
#ifndef TINYCNN_TRAIN_H
#define TINYCNN_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include "tinycnn/dataset.h"
#include "tinycnn/graph.h"
#include "tinycnn/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_lr_schedule {
    TC_LR_CONSTANT = 0, /* lr throughout */
    TC_LR_COSINE = 1,   /* lr * (1 + cos(pi * t)) / 2, t from 0 to 1 after warmup */
    TC_LR_STEP = 2      /* lr * step_gamma ^ floor(epoch / step_epochs) */
} tc_lr_schedule;

/* Largest batch and number of epochs a training run takes (the ranges of
 * the table of settings, tinycnn/train_settings.h). */
#define TC_TRAIN_MAX_BATCH 65536
#define TC_TRAIN_MAX_EPOCHS 100000

typedef struct tc_train_config {
    int epochs;
    int batch_size;
    tc_optim_config optim;   /* kind, momentum, weight decay, Adam betas/eps */
    double lr;
    tc_lr_schedule schedule;
    double warmup_epochs;    /* linear ramp from lr/W to lr over W steps; 0: none */
    int step_epochs;         /* TC_LR_STEP period; 0: a third of epochs, at least 1 */
    double step_gamma;       /* TC_LR_STEP factor */
    uint64_t seed;
    int64_t limit;           /* train on the first `limit` images only; 0: all (a
                                session first samples that many: tc_dataset_limit) */
    int shuffle;             /* 1: reshuffle every epoch */
    int augment_shift;       /* shift each training image by up to +-N pixels
                                (tinycnn/augment.h); 0: none */
    int augment_crop;        /* random crop with this padding; 0: none */
    int augment_flip;        /* 1: random horizontal flips */
    double val_split;        /* a training session holds out this fraction of the training
                                set for validation (seeded, stratified); 0: none */
    int early_stop;          /* a session stops after this many epochs without a better
                                selection accuracy; 0: never */
} tc_train_config;

/* The built-in defaults of the table of settings (tinycnn/train_settings.h):
 * 10 epochs, batch 64, Adam (0.9, 0.999, 1e-8), lr 0.001, SGD momentum 0.9,
 * no weight decay, constant schedule, no warmup, step schedule every third
 * of the run by 0.1, seed 42, no limit, shuffle on. */
void tc_train_config_defaults(tc_train_config *cfg);

/* The model's settings (tc_graph_train_defaults: the defaults above,
 * overridden by the model file's "training" object, checked when the model
 * was loaded). g may be NULL: the defaults. */
int tc_train_config_from_graph(const tc_graph *g, tc_train_config *cfg, tc_error *err);

/* Checks every field against the table's range; the message names the
 * field and the value ("batch size must be an integer in [1, 65536] (got
 * 0)"). */
int tc_train_config_check(const tc_train_config *cfg, tc_error *err);

/* Name <-> value for schedules and optimizers; the parsers return 0 on
 * success, non-zero for an unknown name. */
const char *tc_lr_schedule_name(tc_lr_schedule s);
int tc_lr_schedule_parse(const char *name, tc_lr_schedule *out);
int tc_optim_kind_parse(const char *name, tc_optim_kind *out);

/* The learning rate of step `step` (0-based) of epoch `epoch` (0-based) when
 * an epoch has steps_per_epoch steps. With warmup W = round(warmup_epochs *
 * steps_per_epoch) steps, global step s < W gets lr * (s + 1) / W; cosine
 * then decays from lr to 0 over the remaining steps of cfg->epochs. */
double tc_lr_at(const tc_train_config *cfg, int epoch, int64_t step, int64_t steps_per_epoch);

/* The order images [0, n) are visited in epoch `epoch`: a Fisher-Yates
 * shuffle drawn from (seed, "shuffle", epoch), or 0..n-1 if shuffle is 0. */
void tc_train_order(uint64_t seed, int epoch, int shuffle, int64_t *order, int64_t n);

/* Number of batches in one epoch (the last one may be smaller). */
int64_t tc_train_batches(const tc_train_config *cfg, const tc_dataset *train);

typedef struct tc_train_progress {
    int epoch;            /* 0-based */
    int64_t batch;        /* batches finished in this epoch */
    int64_t n_batches;
    double loss;          /* mean loss over the batches run in this call */
    double accuracy;      /* running training accuracy, 0..1 */
    double images_per_s;
    double lr;            /* of the last batch */
    double seconds;       /* since the call started */
    int64_t start_batch;  /* the batch this call started at (a resumed epoch's first) */
} tc_train_progress;

typedef void (*tc_progress_fn)(void *user, const tc_train_progress *p);

/* One finished epoch, as a training session (tinycnn/session.h) reports it
 * and keeps it in its checkpoint's history. */
typedef struct tc_epoch_record {
    int epoch;                /* 1-based */
    double loss;              /* mean training loss over the epoch's images */
    double train_accuracy;    /* 0..1, of those images */
    double test_accuracy;     /* 0..1, evaluated after the epoch */
    int64_t test_correct, test_total;
    double val_loss;          /* mean cross-entropy on the validation set; val_total 0: none */
    double val_accuracy;      /* 0..1 */
    int64_t val_correct, val_total;
    double lr;                /* of the epoch's last step */
    double train_seconds;     /* training steps only, over every run of the epoch */
    double images_per_second; /* of training */
    double seconds;           /* wall time of the epoch in this run: training, evaluation and
                                 the checkpoint */
    double overhead_seconds;  /* of which evaluation and the checkpoint (not kept in history) */
} tc_epoch_record;

typedef void (*tc_epoch_fn)(void *user, const tc_epoch_record *r);

typedef struct tc_train_hooks {
    tc_progress_fn progress;          /* may be NULL */
    void *user;
    int progress_every;               /* call every N batches (and after the last); <= 0: 10 */
    volatile sig_atomic_t *cancel;    /* may be NULL; non-zero stops at the next batch boundary */
    tc_epoch_fn epoch_end;            /* sessions only (tc_session_run): after each epoch's
                                         evaluation and checkpoint; may be NULL */
} tc_train_hooks;

typedef struct tc_epoch_stats {
    double loss;          /* mean of the batch losses, weighted by batch size */
    double accuracy;      /* training accuracy of those batches, 0..1 */
    double loss_sum;      /* sum over those images of their batch's mean loss */
    int64_t correct;      /* images of those batches classified correctly */
    int64_t images;
    int64_t batches_done; /* batches of this epoch finished, counting start_batch */
    int64_t n_batches;
    double seconds;
    double images_per_s;
    int cancelled;        /* 1: stopped early by hooks->cancel */
    int diverged;         /* 1: failed because the loss became NaN or infinite (not
                             another error: out of memory, a layer's error) */
} tc_epoch_stats;

/* Trains one epoch (0-based `epoch`) of g on the first cfg->limit images of
 * train, starting at batch start_batch (resuming: the earlier batches of the
 * same shuffled order were done before). Each batch: fill the inputs,
 * tc_graph_prepare, forward (training, global step epoch * batches +
 * batch), backward, tc_optimizer_step with tc_lr_at. A NaN or infinite loss
 * stops before the weights are updated, with an error naming the epoch
 * (1-based) and the global step (1-based). A cancellation returns 0 with
 * stats->cancelled set; the weights are those after the last full batch.
 * The graph's image input must match the data set's image size. */
int tc_train_epoch(tc_graph *g, tc_optimizer *opt, const tc_dataset *train,
                   const tc_train_config *cfg, int epoch, int64_t start_batch,
                   const tc_train_hooks *hooks, tc_epoch_stats *stats, tc_error *err);

/* Inference (training = 0) over the first `limit` images of ds (0: all) in
 * batches of `batch`. confusion, if not NULL, is n_classes * n_classes
 * int64 (row: true label, column: prediction) and is added to, not cleared.
 * A label outside [0, n_classes) is an error naming the image. */
int tc_evaluate(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                int64_t *confusion, int64_t *correct, int64_t *total, tc_error *err);

/* tc_evaluate that also sums over the images the cross-entropy of the
 * softmax of the output, -log softmax(output)[label] (SoftmaxCrossEntropy's
 * loss, which inference does not run): *loss_sum / *total is the mean. */
int tc_evaluate_loss(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                     int64_t *confusion, int64_t *correct, int64_t *total, double *loss_sum,
                     tc_error *err);

/* Index of the largest of x[0..n) (the first one on ties; NaN never wins). */
int tc_argmax(const float *x, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
