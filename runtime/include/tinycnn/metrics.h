/* tinycnn/metrics.h - classification metrics from a confusion matrix, and
 * evaluation with one result per image.
 *
 * The confusion matrix is k x k int64, row-major, rows the true class and
 * columns the prediction, as tc_evaluate fills it. For class c:
 *   support   = row sum (images of class c),
 *   predicted = column sum (images predicted as c),
 *   precision = m[c][c] / predicted, recall = m[c][c] / support,
 *   f1        = 2 * precision * recall / (precision + recall).
 * The 0/0 cases are defined as 0 (scikit-learn's zero_division=0): a class
 * never predicted has precision 0, a class without images has recall 0,
 * and F1 is 0 when precision and recall are both 0. Such a class is
 * flagged (no_predictions, no_support) so that a report can say why. */
#ifndef TINYCNN_METRICS_H
#define TINYCNN_METRICS_H

#include <stdint.h>
#include "tinycnn/dataset.h"
#include "tinycnn/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_class_metrics {
    double precision, recall, f1; /* 0..1; 0 for the 0/0 cases above */
    int64_t support;              /* images whose true class this is */
    int64_t predicted;            /* images predicted as this class */
    int64_t true_positives;       /* the diagonal entry */
    int no_predictions;           /* 1: predicted == 0, precision set to 0 */
    int no_support;               /* 1: support == 0, recall set to 0 */
} tc_class_metrics;

typedef struct tc_metrics_summary {
    int64_t correct, total;        /* the diagonal's sum and the matrix's sum */
    double accuracy;               /* correct / total; 0 when total is 0 */
    /* Unweighted means over the classes that occur: those with support or
     * predictions (scikit-learn's default labels, the union of the true
     * and predicted classes). A class neither present in the data nor ever
     * predicted (a class missing from a split) does not count; 0 when no
     * class occurs. */
    double macro_precision, macro_recall, macro_f1;
    int64_t classes_averaged;
} tc_metrics_summary;

/* Per-class metrics (per_class: k entries, may be NULL) and the summary
 * (may be NULL) of the k x k matrix m. k must be >= 1 and every entry >= 0;
 * otherwise an error naming the entry. */
int tc_metrics_from_confusion(const int64_t *m, int64_t k, tc_class_metrics *per_class,
                              tc_metrics_summary *summary, tc_error *err);

/* One evaluated image. */
typedef struct tc_image_result {
    int64_t index;      /* position in the data set (its load order) */
    int label;          /* the true class */
    int prediction;     /* the output's argmax (tc_argmax: the first on ties) */
    float probability;  /* softmax probability of the prediction; NaN when the
                           output holds a NaN or infinity */
} tc_image_result;

/* Called once per image, in index order. A non-zero return stops the
 * evaluation; tc_evaluate_each then returns non-zero with the callback's
 * err (which the callback should fill). */
typedef int (*tc_image_result_fn)(void *user, const tc_image_result *r, tc_error *err);

/* tc_evaluate (tinycnn/train.h) with a result per image: inference over the
 * first `limit` images of ds (0: all) in batches of `batch`, the same
 * inputs and the same predictions. confusion (n_classes^2, may be NULL) is
 * added to; correct and total (may be NULL) are set; fn (may be NULL) gets
 * each image. Errors as tc_evaluate's: no image input, an input other than
 * the image and label, a size other than the data set's, a label outside
 * [0, n_classes) (naming the image), an output of another size than
 * n_classes per image, a failing forward (naming the images). */
int tc_evaluate_each(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                     int64_t *confusion, int64_t *correct, int64_t *total,
                     tc_image_result_fn fn, void *user, tc_error *err);

/* The text tables of the k x k matrix m and its metrics (per_class: k
 * entries, summary: as tc_metrics_from_confusion made them): the legend
 * "classes: 0 = a, 1 = b" (only with names), the confusion matrix with each
 * row's recall, then precision, recall, F1 and support per class and their
 * macro averages; rows are labelled with names (k strings, NULL: the
 * numbers). Owner of the string: the caller (free); NULL when out of
 * memory. */
char *tc_metrics_format(const int64_t *m, int64_t k, const tc_class_metrics *per_class,
                        const tc_metrics_summary *summary, const char *const *names);

/* A file of per-image results, CSV when path ends in .csv (a header line,
 * then index[,path],label,prediction,probability[,label_name,prediction_name]),
 * else JSON lines with those keys. The index written is origin[index]
 * (origin may be NULL: the index itself), the path paths[index] (NULL: no
 * path column), the names names[label] (NULL: no name columns); the three
 * arrays must outlive the writer. tc_per_image_write is a tc_image_result_fn
 * (user: the writer). tc_per_image_close flushes and closes it, failing
 * when a write did (a full disk); it frees w. Owner of the writer: the
 * caller (tc_per_image_close); NULL with err set when path cannot be
 * written. */
typedef struct tc_per_image tc_per_image;
tc_per_image *tc_per_image_open(const char *path, const char *const *names,
                                const int64_t *origin, const char *const *paths, tc_error *err);
int tc_per_image_write(void *user, const tc_image_result *r, tc_error *err);
int tc_per_image_close(tc_per_image *w, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
