/* tinycnn/train_log.h - a training log streamed while training runs: one
 * line per epoch and, if asked, one every N steps, flushed as written so
 * that `tail -f` or a plotting script sees it at once.
 *
 * Formats, by the file name: ".csv" gives CSV with a header line; anything
 * else JSON lines (one object per line). Every line has the same fields:
 *   kind           "epoch" or "step"
 *   epoch          1-based
 *   step           optimiser steps done since the run began (resumed ones
 *                  counted), after this line's batch or epoch
 *   loss           epoch lines: the epoch's mean training loss; step lines:
 *                  the mean over the epoch's batches so far in this run
 *   train_accuracy the same images' accuracy, 0..1
 *   val_accuracy, val_loss, test_accuracy   epoch lines with such a set;
 *                  absent (JSON) or empty (CSV) otherwise
 *   lr             learning rate of the last step
 *   images_per_second  of training
 *   wall_seconds   since training began, earlier runs of a resumed
 *                  checkpoint included */
#ifndef TINYCNN_TRAIN_LOG_H
#define TINYCNN_TRAIN_LOG_H

#include "tinycnn/status.h"
#include "tinycnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_train_log tc_train_log;

/* Opens (creates or truncates; append = 1: appends, as a resumed run does,
 * writing no second CSV header into a non-empty file) the log at path.
 * wall_before: seconds of training before this run (tc_session_state's
 * wall_seconds). Owner: the caller (tc_train_log_close). */
tc_train_log *tc_train_log_open(const char *path, int append, double wall_before,
                                tc_error *err);

/* One epoch line. steps: optimiser steps done in all. Errors (a full disk)
 * name the file. */
int tc_train_log_epoch(tc_train_log *log, const tc_epoch_record *r, int64_t steps,
                       tc_error *err);

/* One step line from a progress report; steps as above. */
int tc_train_log_step(tc_train_log *log, const tc_train_progress *p, int64_t steps,
                      tc_error *err);

/* Closes the log; non-zero when a write or the close failed (err names the
 * file). NULL is fine. */
int tc_train_log_close(tc_train_log *log, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
