/* What training (train.c) and per-image evaluation (metrics.c) share: the
 * check of a model's inputs against a data set, and the filling of a
 * batch, so that both feed a graph the same way and say the same things
 * when they do not fit. */
#ifndef TINYCNN_TRAIN_INTERNAL_H
#define TINYCNN_TRAIN_INTERNAL_H

#include "tinycnn/train.h"

/* The graph's inputs as the loops feed them. */
typedef struct tc_io_plan {
    int image, label;      /* input indices; label -1 when the model has none */
    float mean[3], std[3]; /* per data-set channel (1 or 3) */
    int64_t n_classes;
} tc_io_plan;

/* Checks that g reads what ds holds (inputs, sizes, normalisation, the
 * labels of the first n_used images against the class count) and fills
 * *io. need_label: the model must have a label input (training). Errors
 * name the model, the input and the value. */
int tc_plan_io(const tc_graph *g, const tc_dataset *ds, int64_t n_used, int need_label,
               tc_io_plan *io, tc_error *err);

/* The start of an evaluation of g on ds: zeroes *correct and *total
 * (either may be NULL), checks batch and limit, gives in *n how many of
 * ds's images it reads and plans their input (tc_plan_io) into *io. */
int tc_eval_begin(const tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                  int64_t *correct, int64_t *total, int64_t *n, tc_io_plan *io, tc_error *err);

/* Fills the prepared input buffers with the images idx[0..n); aug
 * non-NULL (training) applies its augmentation, drawn for global step
 * `step`. */
int tc_fill_inputs(tc_graph *g, const tc_dataset *ds, const tc_io_plan *io, const int64_t *idx,
                   int n, const tc_train_config *aug, uint64_t step, tc_error *err);

#endif
