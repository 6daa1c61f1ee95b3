/* tinycnn/session_report.h - what a training run (tinycnn/session.h) says,
 * as text: the banner, the notes of a resumed run, the progress bar and
 * epoch lines, the summary (text or JSON) and where a stopped run stopped.
 * The runner prints these strings; a program embedding a tc_session can
 * print the same report wherever it likes. Nothing here prints.
 *
 * Strings returned as char * are malloc'd and owned by the caller (free());
 * they are NULL when an argument is NULL or memory runs out. Numbers are
 * those of tinycnn/format.h ("61,706", "3m05s"); accuracies are percent
 * with two decimals. */
#ifndef TINYCNN_SESSION_REPORT_H
#define TINYCNN_SESSION_REPORT_H

#include <stddef.h>
#include "tinycnn/session.h"
#include "tinycnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The lines before training: "resuming MODEL from RESUME_PATH at epoch E,
 * batch B of N" when resume_path is not NULL, then "training MODEL: W
 * weights, T training images (N batches of B), [V validation images (val/
 * folder | held out of the training set | given), ]X test images, OPTIMIZER, lr LR
 * (SCHEDULE), [augmentations, ]K threads". Each line ends in a newline. */
char *tc_session_banner(tc_session *s, const char *resume_path);

/* The notes on a resumed run ("note: switching from sgd to adam; ...",
 * "note: the run started with 4 threads and continues with 2; ..."), one a
 * line; "" when there are none. */
char *tc_session_notes(tc_session *s);

/* The line a run with nothing left to train says instead of training (it
 * stopped early, or has trained every epoch), naming resume_path (NULL: the
 * session's checkpoint); "" when epochs are left. */
char *tc_session_finished_text(tc_session *s, const char *resume_path);

/* The summary after the run: "STATUS: E/EPOCHS epochs in DURATION" with the
 * best and final accuracies once an epoch was evaluated (validation and
 * test with a validation set, else test), then lines for an early stop, the
 * checkpoint written and the best epoch's checkpoint, then, with_profile,
 * the per-node profile (tc_session_profile_format). */
char *tc_session_summary_text(tc_session *s, const char *status, int with_profile);

/* The summary as one JSON object, indented by 2, members in order: model,
 * checkpoint, data, threads (as given), config, epochs (the history),
 * summary {status, error (when not NULL), epochs_done, batch, wall_seconds,
 * selection, best_epoch, best_val_accuracy, best_test_accuracy,
 * final_val_accuracy, final_test_accuracy, stopped_early, best_checkpoint,
 * checkpoint} and, with_profile, profile (node, type, forward_seconds,
 * backward_seconds, calls of every node); reals with 10 significant digits,
 * null for what is not known. No trailing newline. */
char *tc_session_summary_json(tc_session *s, const char *status, const char *error,
                              int threads, int with_profile);

/* The progress bar of a run of `epochs` epochs after p: "epoch E/EPOCHS
 * [=====>    ] B/N  loss L  acc A%  R img/s  ETA D", the ETA counting
 * epoch_overhead seconds (evaluation and checkpoint) for each epoch left.
 * Written to buf as snprintf does (cut short to fit cap, cap 0: nothing);
 * returns the length of the whole line. p NULL: "" (returns 0). */
size_t tc_train_progress_line(char *buf, size_t cap, const tc_train_progress *p, int epochs,
                              double epoch_overhead);

/* The line of a finished epoch of `epochs`: "epoch E/EPOCHS  loss L  train
 * A%[  val V% (loss VL)]  test T%  S s  R img/s", without a newline; written
 * and returned as tc_train_progress_line does. */
size_t tc_epoch_line(char *buf, size_t cap, const tc_epoch_record *r, int epochs);

/* Where a run stopped short, the checkpoint written or not: "training
 * stopped at epoch E, batch B of N" mid-epoch, else "training stopped after
 * epoch E of EPOCHS", then "; checkpoint written to PATH" when the output
 * holds one; after "REASON; " when reason is not NULL. */
char *tc_session_stop_text(tc_session *s, const char *reason);

/* An interrupted run, its checkpoint written: "interrupted by SIGNAL at
 * epoch E, batch B of N; checkpoint written to PATH" (or "after epoch E"
 * at an epoch boundary). signal_name: "SIGINT", "SIGTERM", ... */
char *tc_session_interrupt_text(tc_session *s, const char *signal_name);

#ifdef __cplusplus
}
#endif
#endif
