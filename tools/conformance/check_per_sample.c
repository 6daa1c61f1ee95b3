/* The per-sample check: what a layer promises with TC_LAYER_PER_SAMPLE.
 *
 * The graph runs a large inference batch of such layers as several passes
 * over slices of its rows, so at inference row i of the output must depend
 * only on row i of each input, and forward() must read no other row. For
 * every configuration, at training = 0:
 *   - each row of a batch of CF_PS_ROWS must equal that row run alone at
 *     batch 1 by an instance with the same weights and state (within a
 *     relative CF_PS_RTOL: batch 1 may take another code path, e.g. other
 *     blocking, with other rounding);
 *   - row 0 must stay bit-identical when only the other rows' inputs change
 *     (the same batch and code path, so any difference is a read of another
 *     row, however weak its effect).
 * The state is first moved by one training forward, so that a layer using
 * running statistics at inference uses values other than its initial ones.
 * A layer without the flag gets whole batches and is not checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define C_PS "per sample"

/* Rows of the batched run (more than 2, so a row in the middle is seen). */
#define CF_PS_ROWS 3
/* Relative difference allowed between a row in the batch and alone, of
 * max(|a|, |b|, CF_PS_FLOOR * the output's largest |value|): the floor
 * judges an element near zero (a cancellation) against the output's own
 * scale instead of its tiny magnitude. */
#define CF_PS_RTOL 1e-5
#define CF_PS_FLOOR 1e-2

/* Elements of one row of t (dims[0] is the batch). */
static int64_t row_len(const tc_tensor *t)
{
    return t->shape.dims[0] > 0 ? cf_count(t) / t->shape.dims[0] : 0;
}

/* Row si of src into row di of dst (tensors of the same row length). */
static void copy_row(tc_tensor *dst, int64_t di, const tc_tensor *src, int64_t si)
{
    int64_t n = row_len(src);
    memcpy(dst->data + di * n, src->data + si * n, sizeof(float) * (size_t)n);
}

/* One tensor's contents into another of as many elements; 1 when they differ
 * in size. */
static int copy_tensor(tc_tensor *dst, const tc_tensor *src)
{
    if (cf_count(dst) != cf_count(src))
        return 1;
    if (cf_count(src) > 0)
        memcpy(dst->data, src->data, sizeof(float) * (size_t)cf_count(src));
    return 0;
}

/* The weights and state of src into dst (the same layer at another batch
 * size); 1 when a tensor's size depends on the batch. */
static int copy_params(tc_layer_check *dst, const tc_layer_check *src)
{
    if (dst->plan.n_weights != src->plan.n_weights || dst->plan.n_state != src->plan.n_state)
        return 1;
    for (int k = 0; k < src->plan.n_weights; k++)
        if (copy_tensor(&dst->weights[k], &src->weights[k]))
            return 1;
    for (int k = 0; k < src->plan.n_state; k++)
        if (copy_tensor(&dst->state[k], &src->state[k]))
            return 1;
    return 0;
}

/* Largest |value| of n floats. */
static double scale_of(const float *v, int64_t n)
{
    double m = 0;
    for (int64_t k = 0; k < n; k++)
        m = fmax(m, fabs((double)v[k]));
    return m;
}

/* Relative difference of a and b as the check judges it (inf for NaN). */
static double rel_diff(double a, double b, double low)
{
    double d = fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), low);
    return isnan(d) ? INFINITY : d;
}

/* Row `row` of the batched output `batched` against `alone` (that row run at
 * batch 1). Reports the worst element past the tolerance; returns 1 then.
 * *worst: the largest difference seen so far. */
static int compare_row(const cf_subject *s, const float *batched, const float *alone,
                       int64_t n, int64_t row, double low, double *worst, const char *where)
{
    int64_t bad = -1;
    double bad_d = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = rel_diff(batched[row * n + k], alone[k], low);
        *worst = fmax(*worst, d);
        if (d > CF_PS_RTOL && d > bad_d) {
            bad = k;
            bad_d = d;
        }
    }
    if (bad < 0)
        return 0;
    cf_fail(s, C_PS, "row %lld of a batch of %d differs from the same row run alone at batch "
                     "1: output element %lld of the row (output[%lld]) is %.9g in the batch "
                     "and %.9g alone (relative difference %.3g, tolerance %g); "
                     "TC_LAYER_PER_SAMPLE promises that at inference output row i depends "
                     "only on row i of each input (%s)",
            (long long)row, CF_PS_ROWS, (long long)bad, (long long)(row * n + bad),
            (double)batched[row * n + bad], (double)alone[bad], bad_d, CF_PS_RTOL, where);
    return 1;
}

/* An inference forward; "<error> (<where>)" reported on failure. */
static int infer(const cf_subject *s, tc_layer_check *lc, const char *where)
{
    tc_error err = {{0}};
    lc->training = 0;
    if (tc_layer_check_forward(lc, &err) == 0)
        return 0;
    cf_fail(s, C_PS, "%s (inference forward, %s)", err.msg, where);
    return 1;
}

/* Each row of lc (whose inference output is out) run alone at batch 1 by
 * an instance with lc's weights and state. 0 when every row agreed. */
static int rows_alone(const cf_subject *s, const tc_layer_check *lc, const cf_config *cfg,
                      const float *out, double *worst, const char *where)
{
    tc_layer_check one;
    tc_error err = {{0}};
    int bad = 0;
    if (cf_make(&one, s, cfg, 1, 1, &err) || copy_params(&one, lc)) {
        cf_fail(s, C_PS, "%s (batch 1, %s)",
                err.msg[0] ? err.msg : "a weight or state tensor's size depends on the batch",
                where);
        tc_layer_check_free(&one);
        return 1;
    }
    int64_t n = row_len(&lc->output);
    double low = CF_PS_FLOOR * scale_of(out, cf_count(&lc->output)) + 1e-30;
    for (int64_t r = 0; r < CF_PS_ROWS && !bad; r++) {
        for (int i = 0; i < lc->n_inputs; i++)
            copy_row(&one.inputs[i], 0, &lc->inputs[i], r);
        bad = infer(s, &one, where) ||
              compare_row(s, out, one.output.data, n, r, low, worst, where);
    }
    tc_layer_check_free(&one);
    return bad;
}

/* Row 0 of lc again after rows 1.. of every input are replaced by other
 * valid inputs (those of a fill with another seed): it must not change at
 * all. 0 when it did not. */
static int others_changed(const cf_subject *s, tc_layer_check *lc, const cf_config *cfg,
                          const float *out, uint64_t seed, const char *where)
{
    tc_layer_check other;
    char where2[300];
    if (cf_make_filled(&other, s, C_PS, cfg, CF_PS_ROWS, seed, where2, sizeof where2))
        return 1;
    for (int i = 0; i < lc->n_inputs; i++)
        for (int64_t r = 1; r < CF_PS_ROWS; r++)
            copy_row(&lc->inputs[i], r, &other.inputs[i], r);
    tc_layer_check_free(&other);
    if (infer(s, lc, where))
        return 1;
    int64_t n = row_len(&lc->output);
    for (int64_t k = 0; k < n; k++)
        if (memcmp(&lc->output.data[k], &out[k], sizeof(float)) != 0) {
            cf_fail(s, C_PS, "row 0's output changed when only the other rows' inputs "
                             "changed: output[%lld] was %.9g, is %.9g; with "
                             "TC_LAYER_PER_SAMPLE, forward() must read no other rows (%s)",
                    (long long)k, (double)out[k], (double)lc->output.data[k], where);
            return 1;
        }
    return 0;
}

/* A training forward of lc (moving its state, e.g. running statistics, off
 * the initial values), then the inference output, copied into *out. 0 on
 * success; otherwise reported. */
static int batched_output(const cf_subject *s, tc_layer_check *lc, float **out,
                          const char *where)
{
    tc_error err = {{0}};
    lc->training = 1;
    if (tc_layer_check_forward(lc, &err)) {
        cf_fail(s, C_PS, "%s (training forward, %s)", err.msg, where);
        return 1;
    }
    if (lc->output.shape.dims[0] != CF_PS_ROWS) {
        cf_fail(s, C_PS, "the output's dims[0] is %lld for a batch of %d: a per-sample layer "
                         "keeps the batch as dims[0] (%s)",
                (long long)lc->output.shape.dims[0], CF_PS_ROWS, where);
        return 1;
    }
    if (infer(s, lc, where))
        return 1;
    if (!(*out = cf_copy(&lc->output))) {
        cf_fail(s, C_PS, "out of memory (%s)", where);
        return 1;
    }
    return 0;
}

/* Both rules for one configuration. *performed counts the sub-checks that
 * reached a verdict, or one when the setup failed (reported). */
static void one_config(cf_subject *s, const cf_config *cfg, uint64_t seed, int *performed,
                       double *worst)
{
    char where[300];
    tc_layer_check lc;
    float *out = NULL;
    if (cf_make_filled(&lc, s, C_PS, cfg, CF_PS_ROWS, seed, where, sizeof where)) {
        ++*performed;
        return;
    }
    if (batched_output(s, &lc, &out, where)) {
        ++*performed;
    } else {
        *performed += 2;
        rows_alone(s, &lc, cfg, out, worst, where);
        others_changed(s, &lc, cfg, out, seed + 1000, where);
    }
    free(out);
    tc_layer_check_free(&lc);
}

void cf_check_per_sample(cf_subject *s)
{
    if (!(s->type->flags & TC_LAYER_PER_SAMPLE)) {
        printf("\n    not claimed: the type does not set TC_LAYER_PER_SAMPLE, so the graph "
               "runs it on whole batches; nothing to check");
        return;
    }
    if (cf_not_usable(s, C_PS))
        return;
    int performed = 0;
    double worst = 0;
    /* after a configuration that failed, more would say nothing new */
    for (int c = 0; c < s->n_configs && cf_fails_in_test == 0; c++)
        one_config(s, &s->configs[c], 51 + (uint64_t)c, &performed, &worst);
    cf_done(s, performed);
    if (cf_fails_in_test == 0)
        printf("\n    claimed (TC_LAYER_PER_SAMPLE): at inference, in %d configuration%s, "
               "each row of a batch of %d equals that row run alone at batch 1 (largest "
               "relative difference %.3g, tolerance %g), and row 0 stays bit-identical when "
               "the other rows' inputs change", s->n_configs, s->n_configs == 1 ? "" : "s",
               CF_PS_ROWS, worst, CF_PS_RTOL);
}
