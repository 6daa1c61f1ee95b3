/* tinycnn/report.h - a training run as a page to look at: `tinycnn report`.
 *
 * tc_report_write reads a checkpoint, evaluates it on a test split and
 * writes into a folder:
 *   index.html      one self-contained page (styles inline, pictures inline:
 *                   SVG elements and the PNG as a data: URI; it requests
 *                   nothing, not even the files beside it)
 *   curves.svg      loss, accuracy and learning rate over the epochs of the
 *                   checkpoint's history (one point per epoch and series)
 *   confusion.svg   the confusion matrix as a heat map, classes named
 *   mistakes.png    the most confidently misclassified test images, a grid
 *   mistakes.json   which test image each tile is, where, and its classes
 *   graph.svg       the model's nodes laid out by depth, with their edges
 * docs/report.md describes each file. */
#ifndef TINYCNN_REPORT_H
#define TINYCNN_REPORT_H

#include <stdint.h>
#include "tinycnn/registry.h"
#include "tinycnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_report_options {
    const tc_registry *registry;  /* the layer types of the checkpoint's model */
    const char *checkpoint;       /* path */
    const char *data_dir;         /* its "test" split is evaluated (tc_session_load_split) */
    int64_t limit;                /* N test images (tc_dataset_limit); 0: all */
    int batch_size;               /* images per forward pass; 0: 256 */
    int max_mistakes;             /* tiles in mistakes.png; 0: 32 */
} tc_report_options;

typedef struct tc_report_result {
    int epochs;                   /* records in the history */
    int64_t test_images, correct;
    int n_mistakes;               /* tiles drawn */
} tc_report_result;

/* Writes the files above into out_dir (made if missing; its parent must
 * exist). Errors name the file or the value at fault. */
int tc_report_write(const tc_report_options *o, const char *out_dir, tc_report_result *res,
                    tc_error *err);

/* The "history" of a checkpoint's metadata (tinycnn/session.h) as records,
 * oldest first; a missing field reads as 0, a missing history as none.
 * Owner of *out: the caller (free()). */
int tc_history_from_meta(const char *meta_json, tc_epoch_record **out, int *n, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
