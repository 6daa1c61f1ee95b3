/* tinycnn/evaluation.h - a checkpoint evaluated on one split of a data set
 * (`tinycnn eval`): its confusion matrix, per-class precision, recall, F1
 * and support with their macro averages, optionally a result per image in a
 * file, and the report as text or JSON, the same for every program that
 * evaluates. */
#ifndef TINYCNN_EVALUATION_H
#define TINYCNN_EVALUATION_H

#include <stdint.h>
#include "tinycnn/metrics.h"
#include "tinycnn/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_evaluation_config {
    const char *checkpoint;       /* the file to evaluate */
    const tc_registry *registry;  /* the layer types its model uses */
    const char *split;            /* "train", "val" or "test" (tc_session_load_split); NULL: test */
    const char *data_dir;         /* NULL: the folder the checkpoint's metadata names */
    const char *per_image;        /* a file of one result per image (tc_per_image_open); NULL:
                                     none */
    int batch_size;               /* images per forward pass; 0: 256 */
    int64_t limit;                /* a sample of N images keeping every class (tc_dataset_limit);
                                     0: all */
} tc_evaluation_config;

/* The results; every field is the evaluation's own (tc_evaluation_free). */
typedef struct tc_evaluation {
    char *checkpoint, *model, *split; /* the path, the model's name, the split */
    char *data_dir;                   /* the data folder evaluated */
    char *per_image;                  /* the file written, or NULL */
    int64_t n_classes;
    char **class_names;               /* n_classes names from the checkpoint, or NULL */
    int64_t *confusion;               /* n_classes x n_classes, rows the true class */
    tc_class_metrics *per_class;      /* n_classes entries */
    tc_metrics_summary summary;
} tc_evaluation;

/* Reads the checkpoint, loads its model with the weights and the split as
 * its training saw it (the class list of the checkpoint), samples it when
 * limit says so, runs the model over every image and fills the metrics.
 * Errors name the file or value at fault: a missing or damaged checkpoint,
 * a model with no classes or over 100000, an unknown split, no data folder
 * (neither given nor named by the checkpoint), a data set that does not fit
 * the model, a per-image file that cannot be written. Owner of
 * the result: the caller (tc_evaluation_free); NULL with err set on
 * failure. */
tc_evaluation *tc_evaluation_run(const tc_evaluation_config *c, tc_error *err);

/* Frees e and everything it holds; e may be NULL. */
void tc_evaluation_free(tc_evaluation *e);

/* The report as text: "model M, N SPLIT images from DIR", the tables of
 * tc_metrics_format, "per-image results: FILE" when one was written and,
 * as the last line, "accuracy: NN.NN% (C/T)"; every line ends in '\n'.
 * Owner of the string: the caller (free()); NULL when out of memory. */
char *tc_evaluation_text(const tc_evaluation *e);

/* The report as one JSON object, indented by 2, no final newline:
 * checkpoint, model, data, split, correct, total, accuracy, confusion (rows
 * of the true class), per_class (class, class_name with names, precision,
 * recall, f1, support, predicted), macro (precision, recall, f1, classes),
 * class_names (with names) and per_image (when written). Reals have 10
 * significant digits. Owner of the string: the caller (free()); NULL when
 * out of memory. */
char *tc_evaluation_json(const tc_evaluation *e);

#ifdef __cplusplus
}
#endif
#endif
