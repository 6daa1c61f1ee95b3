/* The inference-mode check: what forward does when x->training is 0.
 *
 *   - It must leave the state tensors bit-identical (state may change only
 *     in training), and so must backward.
 *   - It must not depend on the random stream (dropout is off).
 *   - For a layer without state, inference must be what training implies:
 *     when two training forwards with different random streams agree, the
 *     layer does not use randomness, and inference must give the training
 *     output; when they differ, the layer is random in training (dropout),
 *     and inference must give the mean of many training outputs (z-test
 *     per element and over all elements).
 * A layer with state (BatchNorm) may legitimately differ between the modes
 * (batch against running statistics); its state's round trip through a
 * checkpoint is what the save/load check compares. A loss is never run at
 * inference by a graph, so only the first two rules apply to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "tinycnn/status.h"

#define C_INF "inference"

/* Training forwards averaged for a random layer. */
#define CF_MEAN_SAMPLES 1000
/* Largest |z| of one element, and mean z^2 over all of them (1 expected),
 * that still pass. Under a correct layer max |z| over a few hundred
 * elements is about 3.5 and mean z^2 1 +- 0.1; halving the inference output
 * gives |z| about 16. */
#define CF_MAX_Z 7.0
#define CF_MAX_MEAN_Z2 2.0
/* Relative difference allowed between inference and training output of a
 * deterministic layer (a different but equivalent code path). */
#define CF_MODE_RTOL 1e-5

/* Points lc's stream at the k-th of a family of unrelated streams. */
static void set_stream(tc_layer_check *lc, uint64_t k)
{
    uint64_t x = 0x243f6a8885a308d3ULL ^ (k * 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        lc->rng_start.s[i] = z ^ (z >> 31);
    }
    lc->rng = lc->rng_start;
}

/* A forward in the given mode, from state st, with stream k. */
static int run(tc_layer_check *lc, int training, const cf_states *st, uint64_t k,
               tc_error *err)
{
    cf_states_restore(lc, st);
    set_stream(lc, k);
    lc->training = training;
    return tc_layer_check_forward(lc, err);
}

/* A batch with at least 256 output elements (the z-test needs them). */
static int64_t pick_batch(const cf_subject *s, const cf_config *cfg)
{
    int64_t b = 3, per;
    if (cf_sample_elements(s, cfg, 0, &per) == 0 && per > 0 &&
        !(s->type->flags & TC_LAYER_LOSS))
        b = (256 + per - 1) / per;
    return b < 3 ? 3 : b > 64 ? 64 : b;
}

/* Inference leaves state alone and ignores the stream; backward leaves
 * state alone. Returns 0 when both held. */
static int state_and_stream(cf_subject *s, tc_layer_check *lc, const cf_states *st0,
                            float **inf, const char *where)
{
    tc_error err = {{0}};
    int64_t at;
    int k;
    if (run(lc, 0, st0, 1, &err) || !(*inf = cf_copy(&lc->output)))
        goto failed;
    if ((k = cf_states_differ(lc, st0, &at)) >= 0) {
        cf_fail(s, C_INF, "forward with training = 0 modified state '%s'[%lld]: %.9g became "
                          "%.9g; state may change only in training (%s)",
                lc->plan.state[k].name, (long long)at, (double)st0->v[k][at],
                (double)lc->state[k].data[at], where);
        return 1;
    }
    if (run(lc, 0, st0, 2, &err))
        goto failed;
    if ((at = cf_first_diff(&lc->output, *inf)) >= 0) {
        cf_fail(s, C_INF, "the inference output depends on the random stream: output[%lld] is "
                          "%.9g with one stream, %.9g with another; randomness (dropout) must "
                          "be off when training = 0 (%s)",
                (long long)at, (double)(*inf)[at], (double)lc->output.data[at], where);
        return 1;
    }
    cf_states st1;
    if (run(lc, 1, st0, 1, &err) || cf_states_copy(lc, &st1))
        goto failed;
    int bad = tc_layer_check_backward(lc, &err);
    if (!bad && (k = cf_states_differ(lc, &st1, &at)) >= 0) {
        cf_fail(s, C_INF, "backward modified state '%s'[%lld]: %.9g became %.9g; state is "
                          "read-only in backward (%s)", lc->plan.state[k].name, (long long)at,
                (double)st1.v[k][at], (double)lc->state[k].data[at], where);
        bad = 2;
    }
    cf_states_free(&st1);
    if (bad == 1)
        goto failed;
    return bad;
failed:
    cf_fail(s, C_INF, "%s (%s)", err.msg[0] ? err.msg : "out of memory", where);
    return 1;
}

/* A deterministic layer: inference must give the training output. */
static void same_as_training(cf_subject *s, const tc_layer_check *lc, const float *inf,
                             const float *train, const char *where)
{
    int64_t n = cf_count(&lc->output), worst_at = 0;
    double scale = 0, worst = 0;
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs((double)train[k]));
    for (int64_t k = 0; k < n; k++) {
        double d = fabs((double)inf[k] - (double)train[k]) / (scale > 0 ? scale : 1);
        if (d > worst || isnan(d)) {
            worst = isnan(d) ? INFINITY : d;
            worst_at = k;
        }
    }
    if (worst > CF_MODE_RTOL)
        cf_fail(s, C_INF, "two training forwards with different random streams agree (the layer "
                          "does not use randomness), so inference must compute the same "
                          "function; but output[%lld] is %.9g at inference and %.9g in training "
                          "(%s)", (long long)worst_at, (double)inf[worst_at],
                (double)train[worst_at], where);
    else
        printf("\n    deterministic in training: inference output equals the training output "
               "(largest difference %.3g of the output's scale)", worst);
}

typedef struct zstats {
    double max_z, mean_z2, mean, se;
    int64_t at;
} zstats;

/* Per-element z of the inference output against the mean of M training
 * outputs with unrelated streams. */
static int mean_test(tc_layer_check *lc, const cf_states *st0, const float *inf, zstats *z,
                     tc_error *err)
{
    int64_t n = cf_count(&lc->output);
    double *sum = calloc((size_t)n, sizeof *sum), *sq = calloc((size_t)n, sizeof *sq);
    int rc = 1;
    if (!sum || !sq) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    for (int m = 0; m < CF_MEAN_SAMPLES; m++) {
        if (run(lc, 1, st0, 1000 + (uint64_t)m, err))
            goto out;
        for (int64_t k = 0; k < n; k++) {
            double v = lc->output.data[k];
            sum[k] += v;
            sq[k] += v * v;
        }
    }
    double scale = 0, acc = 0;
    const double M = CF_MEAN_SAMPLES;
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs(sum[k] / M));
    memset(z, 0, sizeof *z);
    for (int64_t k = 0; k < n; k++) {
        double mean = sum[k] / M, var = fmax(0.0, (sq[k] / M - mean * mean) * M / (M - 1));
        /* a floor for elements that do not vary: float rounding of the mean */
        double se = sqrt(var / M + 1e-12 * scale * scale + 1e-30);
        double zk = ((double)inf[k] - mean) / se;
        if (isnan(zk))
            zk = INFINITY;
        acc += zk * zk;
        if (fabs(zk) > z->max_z || k == 0) {
            *z = (zstats){fabs(zk), 0, mean, se, k};
        }
    }
    z->mean_z2 = acc / (double)n;
    rc = 0;
out:
    free(sum);
    free(sq);
    return rc;
}

static void mean_of_training(cf_subject *s, tc_layer_check *lc, const cf_states *st0,
                             const float *inf, const char *where)
{
    tc_error err = {{0}};
    zstats z;
    if (mean_test(lc, st0, inf, &z, &err)) {
        cf_fail(s, C_INF, "%s (%s)", err.msg, where);
        return;
    }
    int64_t n = cf_count(&lc->output);
    if (z.max_z > CF_MAX_Z || (n >= 64 && z.mean_z2 > CF_MAX_MEAN_Z2))
        cf_fail(s, C_INF, "the layer is random in training (two streams give different outputs), "
                          "so inference must give the mean training output; but output[%lld] "
                          "is %.9g at inference and %.9g +- %.3g (standard error) over %d "
                          "training forwards: z = %.1f (limit %g), mean z^2 over %lld elements "
                          "%.2f (1 expected, limit %g). Inverted dropout scales by 1/(1-p) in "
                          "training and is the identity at inference (%s)",
                (long long)z.at, (double)inf[z.at], z.mean, z.se, CF_MEAN_SAMPLES,
                z.max_z, CF_MAX_Z, (long long)n, z.mean_z2, CF_MAX_MEAN_Z2, where);
    else
        printf("\n    random in training: inference output is the mean of %d training "
               "forwards with other streams (largest |z| %.2f, mean z^2 %.2f over %lld "
               "elements)", CF_MEAN_SAMPLES, z.max_z, z.mean_z2, (long long)n);
}

/* Inference against training for a layer without state. */
static void consistency(cf_subject *s, tc_layer_check *lc, const cf_states *st0,
                        const float *inf, const char *where)
{
    tc_error err = {{0}};
    float *t1 = NULL;
    if (run(lc, 1, st0, 1, &err) || !(t1 = cf_copy(&lc->output)) || run(lc, 1, st0, 2, &err)) {
        cf_fail(s, C_INF, "%s (%s)", err.msg[0] ? err.msg : "out of memory", where);
    } else if (cf_first_diff(&lc->output, t1) < 0) {
        same_as_training(s, lc, inf, t1, where);
    } else {
        mean_of_training(s, lc, st0, inf, where);
    }
    free(t1);
}

void cf_check_inference(cf_subject *s)
{
    if (cf_not_usable(s, C_INF))
        return;
    const cf_config *cfg = &s->configs[0];
    int64_t batch = pick_batch(s, cfg);
    char where[300];
    tc_layer_check lc;
    cf_states st0;
    float *inf = NULL;
    memset(&st0, 0, sizeof st0);
    if (cf_make_filled(&lc, s, C_INF, cfg, batch, 41, where, sizeof where))
        return;
    if (cf_states_copy(&lc, &st0)) {
        cf_fail(s, C_INF, "out of memory");
        goto out;
    }
    if (state_and_stream(s, &lc, &st0, &inf, where))
        goto out;
    printf("\n    forward with training = 0 leaves the %d state tensor%s alone and ignores the "
           "random stream; backward leaves state alone", lc.plan.n_state,
           lc.plan.n_state == 1 ? "" : "s");
    if (s->type->flags & TC_LAYER_LOSS)
        printf("\n    a loss: the graph does not run it at inference, so it is not compared "
               "with training");
    else if (lc.plan.n_state > 0)
        printf("\n    declares state: training and inference may differ (batch against running "
               "statistics); the state's checkpoint round trip is compared under save/load");
    else
        consistency(s, &lc, &st0, inf, where);
out:
    cf_done(s, 1);
    free(inf);
    cf_states_free(&st0);
    tc_layer_check_free(&lc);
}
