/* Classification metrics and per-image evaluation (see tinycnn/metrics.h). */
#include "tinycnn/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/model.h" /* tc_softmax_rows */
#include "tinycnn/status.h"
#include "tinycnn/train.h" /* tc_argmax */
#include "train_internal.h"

/* a / b, with 0/0 (and x/0) defined as 0 */
static double ratio(int64_t a, int64_t b)
{
    return b > 0 ? (double)a / (double)b : 0.0;
}

static void class_metrics(const int64_t *m, int64_t k, int64_t c, tc_class_metrics *out)
{
    memset(out, 0, sizeof *out);
    for (int64_t j = 0; j < k; j++) {
        out->support += m[c * k + j];
        out->predicted += m[j * k + c];
    }
    out->true_positives = m[c * k + c];
    out->no_predictions = out->predicted == 0;
    out->no_support = out->support == 0;
    out->precision = ratio(out->true_positives, out->predicted);
    out->recall = ratio(out->true_positives, out->support);
    double pr = out->precision + out->recall;
    out->f1 = pr > 0 ? 2.0 * out->precision * out->recall / pr : 0.0;
}

int tc_metrics_from_confusion(const int64_t *m, int64_t k, tc_class_metrics *per_class,
                              tc_metrics_summary *summary, tc_error *err)
{
    if (!m || k < 1)
        return tc_error_set(err, "a confusion matrix needs at least one class (got %lld)",
                            (long long)k);
    for (int64_t i = 0; i < k * k; i++)
        if (m[i] < 0)
            return tc_error_set(err, "confusion matrix entry [%lld][%lld] is negative (%lld)",
                                (long long)(i / k), (long long)(i % k), (long long)m[i]);
    tc_metrics_summary s;
    memset(&s, 0, sizeof s);
    for (int64_t c = 0; c < k; c++) {
        tc_class_metrics cm;
        class_metrics(m, k, c, &cm);
        if (per_class)
            per_class[c] = cm;
        s.correct += cm.true_positives;
        s.total += cm.support;
        if (cm.no_support && cm.no_predictions)
            continue; /* absent from the data and never predicted */
        s.macro_precision += cm.precision;
        s.macro_recall += cm.recall;
        s.macro_f1 += cm.f1;
        s.classes_averaged++;
    }
    s.accuracy = ratio(s.correct, s.total);
    if (s.classes_averaged > 0) {
        s.macro_precision /= (double)s.classes_averaged;
        s.macro_recall /= (double)s.classes_averaged;
        s.macro_f1 /= (double)s.classes_averaged;
    }
    if (summary)
        *summary = s;
    return 0;
}

/* ---- per-image evaluation ------------------------------------------------ */

/* One batch's outputs: the confusion counts and a result per image. prob
 * holds n_classes floats of scratch. */
static int score_batch(const tc_graph *g, const tc_dataset *ds, const tc_io_plan *p,
                       int64_t first, int cnt, float *prob, int64_t *confusion, int64_t *ok,
                       tc_image_result_fn fn, void *user, tc_error *err)
{
    const tc_tensor *out = tc_graph_output(g);
    int64_t per = tc_shape_count(&out->shape) / cnt;
    if (per != p->n_classes)
        return tc_error_set(err, "model %s: the output has %lld values per image, expected %lld",
                            tc_graph_name(g), (long long)per, (long long)p->n_classes);
    for (int i = 0; i < cnt; i++) {
        const float *lg = out->data + (int64_t)i * per;
        tc_image_result r = {.index = first + i, .label = ds->labels[first + i],
                             .prediction = tc_argmax(lg, per)};
        memcpy(prob, lg, sizeof(float) * (size_t)per);
        tc_softmax_rows(prob, 1, (int)per);
        r.probability = prob[r.prediction];
        *ok += r.prediction == r.label;
        if (confusion)
            confusion[(int64_t)r.label * p->n_classes + r.prediction]++;
        if (fn && fn(user, &r, err) != 0)
            return 1;
    }
    return 0;
}

/* Loads images [first, first + cnt) into the graph's inputs, as
 * tc_evaluate does (so the same predictions), and runs it. */
static int forward_batch(tc_graph *g, const tc_dataset *ds, const tc_io_plan *p, int64_t *idx,
                         int64_t first, int cnt, tc_error *err)
{
    for (int i = 0; i < cnt; i++)
        idx[i] = first + i;
    return tc_graph_prepare(g, cnt, 0, err) || tc_fill_inputs(g, ds, p, idx, cnt, NULL, 0, err) ||
           tc_graph_forward(g, 0, 0, err);
}

int tc_evaluate_each(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit,
                     int64_t *confusion, int64_t *correct, int64_t *total,
                     tc_image_result_fn fn, void *user, tc_error *err)
{
    int64_t n;
    tc_io_plan p;
    if (tc_eval_begin(g, ds, batch, limit, correct, total, &n, &p, err) != 0)
        return 1;
    int64_t *idx = malloc((size_t)batch * sizeof *idx);
    float *prob = malloc((size_t)p.n_classes * sizeof *prob);
    int64_t ok = 0, done = 0;
    int rc = !idx || !prob ? tc_error_set(err, "out of memory") : 0;
    for (int64_t first = 0; rc == 0 && first < n; first += batch) {
        int cnt = (int)(first + batch <= n ? batch : n - first);
        if (forward_batch(g, ds, &p, idx, first, cnt, err) != 0) {
            rc = tc_error_prefix(err, "evaluating images %lld..%lld", (long long)first,
                                 (long long)(first + cnt - 1));
            break;
        }
        rc = score_batch(g, ds, &p, first, cnt, prob, confusion, &ok, fn, user, err);
        done += rc == 0 ? cnt : 0;
    }
    free(idx);
    free(prob);
    if (correct)
        *correct = ok;
    if (total)
        *total = done;
    return rc;
}
