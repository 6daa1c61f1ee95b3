/* tinycnn/session.h - a whole training run: the model, its settings, the
 * data, the epoch loop with an evaluation after every epoch, the checkpoint
 * schedule and resumption.
 *
 * Checkpoints: after every epoch the session writes its checkpoint
 * atomically (tinycnn/snapshot.h: weights, optimiser state, and the training
 * state described below as the metadata), so a crash never leaves a torn
 * file. When the hooks' cancel flag becomes non-zero the session stops at
 * the next batch boundary and writes the checkpoint there, mid-epoch;
 * resuming from it gives the same weights, bit for bit, as a run never
 * interrupted (same seed and thread count). The library installs no signal
 * handler: a program sets the flag from its own (the runner does for SIGINT
 * and SIGTERM). A failed training step (a NaN or infinite loss, a layer's
 * error) writes nothing: the last good checkpoint stays as it was.
 *
 * Validation: the data folder's val/ split (class folders or numbered
 * folders, read with the training split's class list), or the setting
 * val_split F, a seeded (by the setting seed), stratified hold-out of F of
 * the training split (tc_session_hold_out), which then trains on the rest;
 * both at once is an error. After every epoch the session evaluates the
 * validation set (loss and accuracy) as well as the test set. With a
 * validation set the best epoch is the one of the highest validation
 * accuracy, and the test set is only reported; without one it is the
 * highest test accuracy. A best_path receives a full checkpoint of the best
 * epoch (atomically) whenever the best improves; the output keeps the last
 * weights. The setting early_stop N ends the run, completed, once N epochs
 * have passed without a better selection accuracy (state.stopped_early).
 * Labels beyond the model's classes are refused when the session opens
 * (tc_session_check_labels).
 *
 * The training state (the checkpoint's metadata, one JSON object, written
 * and read by this module only):
 *   "format": "tinycnn-training-state", "version": 2, "model": name,
 *   "epoch": epochs completed, "batch": batches done of the next one (0: at
 *   an epoch boundary), "steps_per_epoch", "threads" (per rank), "ranks" (the
 *   processes of a data-parallel run, tinycnn/dist.h; 1: one), "finished",
 *   "accuracy" / "best_accuracy" (null: none yet), "best_epoch",
 *   "wall_seconds", "config": every setting (tinycnn/train_settings.h),
 *   "data": the data folder (absent for data sets given in memory),
 *   "validation": "folder", "split", "given" or "none", "selection": "val" or
 *   "test" (what best_accuracy is), "val_accuracy" (the last one; null:
 *   none), "stopped_early": the epoch it stopped at (0: did not),
 *   "history": one object per epoch (the fields of tc_epoch_record but
 *   overhead_seconds; the val_ ones only with a validation set), "partial" (mid-epoch only: "loss_sum", "correct",
 *   "images", "seconds" of the epoch's finished batches), and
 *   "optimizer_steps", the one step count (set by tc_snapshot_save).
 * Version 1 (which also held "step" and "seed") is read as well. */
#ifndef TINYCNN_SESSION_H
#define TINYCNN_SESSION_H

#include <stdint.h>
#include "tinycnn/dataset.h"
#include "tinycnn/graph.h"
#include "tinycnn/registry.h"
#include "tinycnn/train.h"
#include "tinycnn/train_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_session tc_session;

typedef struct tc_session_config {
    const tc_registry *registry;  /* layer types; must outlive the session */
    const char *model_path;       /* model file; NULL when resuming: the checkpoint's model */
    const char *resume_path;      /* checkpoint to continue; NULL: a fresh run */
    const char *output_path;      /* checkpoint to write; NULL: resume_path, else
                                     "<model name>.ckpt" */
    const char *data_dir;         /* the "train", "test" and "val" splits (tc_dataset_load_with);
                                     NULL when resuming: the checkpoint's folder */
    const tc_dataset *train;      /* borrowed, with test; NULL: loaded from data_dir */
    const tc_dataset *test;
    const tc_dataset *val;        /* borrowed, may be NULL (with train and test only) */
    const char *best_path;        /* checkpoint of the best epoch; NULL: none */
    const tc_train_overrides *overrides; /* over the model's or the checkpoint's settings;
                                            may be NULL */
    int64_t test_limit;           /* evaluate on N test images (tc_dataset_limit); 0: all */
    int profile;                  /* time the nodes during training steps (not evaluation) */
    int allow_changes;            /* resume although the model file, the data folder, limit
                                     or val_split differ from the checkpoint's */
    struct tc_dist *dist;         /* train data-parallel with this group (tinycnn/dist.h):
                                     every rank opens the same session; rank 0 alone
                                     evaluates and writes checkpoints; NULL: alone */
} tc_session_config;

/* Opens a session: loads the model (or the checkpoint and its model),
 * takes the settings (built-in defaults < the model's "training" < the
 * checkpoint's < overrides, all checked), checks that the output can be
 * written and takes its advisory lock (and best_path's: a second session
 * writing one is refused, naming the holder's pid; the temporary files of
 * writers killed mid-write are removed; tc_checkpoint_lock_take, released
 * by tc_session_free); when resuming, refuses a model file, data folder,
 * limit or val_split other than the checkpoint's, listing what differs,
 * unless allow_changes; loads the data and keeps of it what the image
 * limits (the setting limit, test_limit) ask for, the stratified sample of
 * tc_dataset_limit; creates the optimiser and initialises the weights or
 * restores them, the optimiser state and the position from the
 * checkpoint. Resuming with another optimizer kind starts its state afresh
 * (state.optimizer_switched); resuming mid-epoch with settings that change
 * the batches of an epoch is refused. Errors name the file and value.
 * Owner: the caller (tc_session_free). Reads tc_get_threads() now. */
tc_session *tc_session_new(const tc_session_config *c, tc_error *err);
void tc_session_free(tc_session *s);

typedef enum tc_session_status {
    TC_SESSION_COMPLETED = 0,   /* every epoch trained (or none was left) */
    TC_SESSION_INTERRUPTED = 1, /* stopped by the cancel flag; checkpoint written unless the
                                   call failed */
    TC_SESSION_DIVERGED = 2,    /* the loss became NaN or infinite: err names the epoch and
                                   step and the last good checkpoint (or that none was
                                   written) */
    TC_SESSION_FAILED = 3       /* another error: a training step's (out of memory, a layer's
                                   error; err then names the last good checkpoint too),
                                   evaluation, or writing the epoch's checkpoint */
} tc_session_status;

/* Trains the remaining epochs. hooks (may be NULL): progress and cancel as
 * for tc_train_epoch, epoch_end after each epoch's checkpoint. Returns 0
 * when completed or interrupted with the checkpoint written; otherwise
 * non-zero with *status saying what failed and err why (a failed write
 * names the last good checkpoint, left unchanged). */
int tc_session_run(tc_session *s, const tc_train_hooks *hooks, tc_session_status *status,
                   tc_error *err);

typedef struct tc_session_state {
    int epoch;                /* epochs completed */
    int64_t batch;            /* batches done of the next epoch; 0: at an epoch boundary */
    int64_t n_batches;        /* batches per epoch */
    int64_t train_images;     /* images trained on per epoch (after the limit) */
    int64_t test_images;      /* images evaluated (after test_limit) */
    int64_t val_images;       /* 0: no validation set */
    int val_from;             /* 0 none, 1 the val/ folder, 2 the val_split hold-out,
                                 3 the data set given (tc_session_config.val) */
    double last_accuracy;     /* test accuracy after the last epoch; -1: none yet */
    double last_val_accuracy; /* validation accuracy after the last epoch; -1: none */
    double best_accuracy;     /* the best selection accuracy (validation, else test); -1: none */
    int best_epoch;
    int stopped_early;        /* the epoch early_stop ended the run at; 0: it did not */
    const char *data_dir;     /* the data folder; NULL: data sets given in memory */
    const char *best_checkpoint; /* best_path when one was written, else NULL */
    double wall_seconds;      /* this run and the earlier runs of the checkpoint */
    int resumed;              /* 1: continued from a checkpoint */
    int threads;              /* worker threads of this run (per rank) */
    int ranks;                /* processes training together (1: alone) */
    int threads_before;       /* of the run that wrote the checkpoint; 0: unknown */
    int optimizer_switched;   /* the checkpoint's optimizer was another kind */
    tc_optim_kind saved_optimizer; /* the checkpoint's, when resumed */
    const char *checkpoint;   /* the output path */
    int checkpoint_written;   /* 1: the output holds a sound checkpoint (written by this run,
                                 or the one resumed from) */
    const char *last_good;    /* the newest sound checkpoint, or NULL */
} tc_session_state;

void tc_session_get_state(const tc_session *s, tc_session_state *st);
const tc_train_config *tc_session_settings(const tc_session *s);
tc_graph *tc_session_graph(tc_session *s);

/* The image size a model's data sets and images must have (train, eval,
 * predict): its image input's [channels, height, width], or [height, width]
 * with 1 channel. */
int tc_session_image_size(const tc_graph *g, int *channels, int *height, int *width,
                          tc_error *err);

/* The data options the model's image input asks for (size, channels, and
 * what the model file says of resizing and classes). Pointers in *opt
 * point into g and live as long as it. */
int tc_session_data_options(const tc_graph *g, tc_data_options *opt, tc_error *err);

/* The per-node profile of a session's graph (tc_session_config.profile)
 * as the table the runner prints: forward and backward seconds and ms per
 * call of every node, its share, and the total. Owner of the string: the
 * caller (free); NULL when out of memory. */
char *tc_session_profile_format(const tc_graph *g);

/* The class names a checkpoint's metadata (meta_json, NULL or "": none)
 * holds: its "class_names" when that is an array of n strings. Owner of the
 * list: the caller (tc_class_names_free); NULL when there is none (numbers
 * then stand for the classes) or out of memory. */
char **tc_session_class_names(const char *meta_json, int64_t n);
void tc_class_names_free(char **names, int64_t n);

/* Loads split "train", "val" or "test" of data_dir (NULL: the folder the
 * checkpoint's metadata meta_json names) as the training that wrote the
 * checkpoint saw it: the model's data options, the class list of the
 * metadata (NULL or "": none), and its validation set: the val/ folder, or
 * the same hold-out of the training split with the checkpoint's val_split
 * and seed, "train" then being the part trained on. Owner of out: the
 * caller (tc_dataset_free). */
int tc_session_load_split(const tc_graph *g, const char *meta_json, const char *data_dir,
                          const char *split, tc_dataset *out, tc_error *err);

/* Splits *train (whose labels it reads) into a held-out validation set
 * *val of about fraction (in (0, 1)) of every class and the rest, which
 * replaces *train: tc_split_stratified with seed, images kept in their
 * order. Refused when the hold-out would be empty. Owner of *val: the
 * caller (tc_dataset_free). */
int tc_session_hold_out(tc_dataset *train, double fraction, uint64_t seed, tc_dataset *val,
                        tc_error *err);

/* Refuses a data set with more classes than g's output or a label beyond
 * them, naming `what`, the image's index, its label and the class count. */
int tc_session_check_labels(const tc_graph *g, const tc_dataset *ds, const char *what,
                            tc_error *err);

/* The finished epochs, resumed ones included, oldest first. */
const tc_epoch_record *tc_session_history(const tc_session *s, int *n);

/* The history as a JSON array, as the checkpoint holds it. Owner: the
 * caller (free()); NULL when out of memory. */
char *tc_session_history_json(const tc_session *s);

#ifdef __cplusplus
}
#endif
#endif
