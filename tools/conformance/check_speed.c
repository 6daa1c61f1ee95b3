/* The speed check: is a layer far slower than the work it has to do?
 *
 * The work is estimated without knowing the layer: every output element
 * costs 2 FLOPs for each input or weight element it depends on (its
 * receptive field, measured as the number of non-zero gradients backward
 * gives for a one-hot output gradient: 1 for ReLU, C*k*k for a convolution,
 * the features for Linear), plus 10 for each element read or written;
 * backward counts twice as much as forward. The time of forward + backward
 * is compared with that of a plain elementwise pass (y = a*y + x) doing the
 * same number of FLOPs on a buffer of the layer's size, timed alongside.
 * Both are the fastest of several repetitions, so another process taking a
 * core now and then does not make a layer look slow. Far slower is a
 * WARNING; only an extreme ratio fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "tinycnn/status.h"

/* Ratios to the reference pass: the standard layers stay below about 6
 * (a scalar expf per element is the costliest). */
#define CF_SPEED_WARN 30.0
#define CF_SPEED_FAIL 1000.0
#define CF_SPEED_REPS 5
#define CF_REF_REPS 4 /* reference passes per repetition */
#define CF_SPEED_BUDGET 1.0 /* seconds of repetitions at most, after the first */
#define CF_SPEED_ELEMENTS 65536 /* inputs + output elements timed, at least */
/* FLOPs allowed per element read or written: room for an exp() or tanh()
 * per element, which an elementwise layer may well need. */
#define CF_FLOPS_PER_ELEMENT 10.0

/* Input elements of the sample that output element p belongs to: [lo, hi)
 * of input i. A loss (one output) depends on every sample. */
static void sample_range(const tc_layer_check *lc, int i, int64_t p, int64_t *lo, int64_t *hi)
{
    int64_t n_in = cf_count(&lc->inputs[i]), n_out = cf_count(&lc->output);
    int64_t batch = lc->inputs[i].shape.dims[0];
    *lo = 0;
    *hi = n_in;
    if ((lc->type->flags & TC_LAYER_LOSS) || lc->output.shape.dims[0] != batch || batch < 1)
        return;
    int64_t b = p / (n_out / batch), per = n_in / batch;
    *lo = b * per;
    *hi = *lo + per;
}

/* Largest non-zero gradient count of a one-hot output gradient, over a few
 * output positions: inputs together (within the output's own sample: what
 * couples samples, batch statistics, is computed once for all), weights
 * together. */
static double receptive_field(tc_layer_check *lc, tc_error *err)
{
    int64_t n = cf_count(&lc->output), pos[3] = {0, n / 2, n - 1};
    float *r = cf_copy(&lc->grad_output);
    double best = 1;
    if (!r)
        return tc_error_set(err, "out of memory"), -1;
    /* one forward for the three backward calls: a slow forward is what
     * this check is looking for */
    if (tc_layer_check_forward(lc, err))
        best = -1;
    for (int p = 0; p < 3 && best > 0; p++) {
        memset(lc->grad_output.data, 0, sizeof(float) * (size_t)n);
        lc->grad_output.data[pos[p]] = 1;
        if (tc_layer_check_backward(lc, err)) {
            best = -1;
            break;
        }
        double in = 0, w = 0;
        for (int i = 0; i < lc->n_inputs; i++) {
            int64_t lo, hi;
            sample_range(lc, i, pos[p], &lo, &hi);
            for (int64_t k = lo; lc->needs_grad[i] && k < hi; k++)
                in += lc->grad_inputs[i].data[k] != 0;
        }
        for (int i = 0; i < lc->plan.n_weights; i++)
            for (int64_t k = 0; k < cf_count(&lc->grad_weights[i]); k++)
                w += lc->grad_weights[i].data[k] != 0;
        best = fmax(best, fmax(in, w));
    }
    memcpy(lc->grad_output.data, r, sizeof(float) * (size_t)n);
    free(r);
    return best;
}

/* Inputs of moderate size: the harness's kink-free lattice grows with the
 * tensor, and exp() of hundreds would time denormals and overflow. */
static void moderate_inputs(tc_layer_check *lc)
{
    for (int i = 0; i < lc->n_inputs; i++) {
        if (lc->is_label[i])
            continue;
        int64_t n = cf_count(&lc->inputs[i]);
        float m = 0;
        for (int64_t k = 0; k < n; k++)
            m = fmaxf(m, fabsf(lc->inputs[i].data[k]));
        for (int64_t k = 0; m > 2 && k < n; k++)
            lc->inputs[i].data[k] *= 2 / m;
    }
}

/* The reference: `passes` sweeps of y = a*y + x over n floats (2 FLOPs per
 * element). noinline: the sweeps must really run, one after another. */
__attribute__((noinline)) static void reference_pass(float *y, const float *x, int64_t n,
                                                     int64_t passes, float a)
{
    for (int64_t p = 0; p < passes; p++)
        for (int64_t i = 0; i < n; i++)
            y[i] = a * y[i] + x[i];
}

typedef struct timing {
    double fwd, bwd, ref; /* seconds, fastest repetition */
} timing;

static int time_all(tc_layer_check *lc, double flops, timing *t, tc_error *err)
{
    int64_t n = 0;
    for (int i = 0; i < lc->n_inputs; i++)
        n += cf_count(&lc->inputs[i]);
    n += cf_count(&lc->output);
    int64_t passes = (int64_t)ceil(3 * flops / (2.0 * (double)n));
    float *x = malloc(sizeof(float) * (size_t)n), *y = calloc((size_t)n, sizeof(float));
    if (!x || !y) {
        free(x);
        free(y);
        return tc_error_set(err, "out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 7) * 0.125f;
    t->fwd = t->bwd = t->ref = INFINITY;
    double start = tc_monotonic_seconds();
    int rc = 0;
    for (int r = 0;
         r < CF_SPEED_REPS && (r == 0 || tc_monotonic_seconds() - start < CF_SPEED_BUDGET); r++) {
        double t0 = tc_monotonic_seconds();
        if ((rc = tc_layer_check_forward(lc, err)) != 0)
            break;
        double t1 = tc_monotonic_seconds();
        if ((rc = tc_layer_check_backward(lc, err)) != 0)
            break;
        double t2 = tc_monotonic_seconds();
        t->fwd = fmin(t->fwd, t1 - t0);
        t->bwd = fmin(t->bwd, t2 - t1);
        /* the reference is cheap: its fastest of many is a steady yardstick */
        for (int k = 0; k < CF_REF_REPS; k++) {
            double t3 = tc_monotonic_seconds();
            reference_pass(y, x, n, passes, 0.5f);
            t->ref = fmin(t->ref, tc_monotonic_seconds() - t3);
        }
    }
    volatile float sink = y[n / 2]; /* the reference's result is used */
    (void)sink;
    free(x);
    free(y);
    return rc;
}

/* A batch with at least CF_SPEED_ELEMENTS input and output elements. */
static int64_t speed_batch(const cf_subject *s, const cf_config *cfg)
{
    int64_t b = 4, per;
    if (cf_sample_elements(s, cfg, 1, &per) == 0)
        b = (CF_SPEED_ELEMENTS + per - 1) / (per > 0 ? per : 1);
    return b < 4 ? 4 : b > 4096 ? 4096 : b;
}

void cf_check_speed(cf_subject *s)
{
    const char *C = "speed";
    if (cf_not_usable(s, C))
        return;
    const cf_config *cfg = &s->configs[0];
    int64_t batch = speed_batch(s, cfg);
    char where[300];
    tc_error err = {{0}};
    tc_layer_check lc;
    timing t = {0, 0, 0};
    if (cf_make_filled(&lc, s, C, cfg, batch, 81, where, sizeof where))
        return;
    moderate_inputs(&lc);
    double rf = receptive_field(&lc, &err), io = 0;
    for (int i = 0; i < lc.n_inputs; i++)
        io += (double)cf_count(&lc.inputs[i]);
    io += (double)cf_count(&lc.output);
    double flops = CF_FLOPS_PER_ELEMENT * io + 2.0 * (double)cf_count(&lc.output) * rf;
    if (rf < 0 || time_all(&lc, flops, &t, &err)) {
        cf_fail(s, C, "%s (%s)", err.msg, where);
        tc_layer_check_free(&lc);
        return;
    }
    double ratio = (t.fwd + t.bwd) / fmax(t.ref, 1e-9);
    char line[900];
    snprintf(line, sizeof line, "forward %.3g ms + backward %.3g ms at %s for an estimated "
                                "%.3g MFLOP (forward; backward twice that; receptive field %.0f "
                                "elements): %.2f GFLOP/s; a plain elementwise pass doing the same "
                                "work takes %.3g ms: %.1fx that",
             1e3 * t.fwd, 1e3 * t.bwd, where, flops / 1e6, rf,
             3 * flops / (t.fwd + t.bwd) / 1e9, 1e3 * t.ref, ratio);
    if (ratio > CF_SPEED_FAIL)
        cf_fail(s, C, "%s, above the limit of %gx: far more work than the layer's output and "
                      "receptive field imply (an accidental O(n^2) loop?)", line, CF_SPEED_FAIL);
    else if (ratio > CF_SPEED_WARN)
        cf_warn(s, C, "%s (warning above %gx, failure above %gx)", line, CF_SPEED_WARN,
                CF_SPEED_FAIL);
    else
        printf("\n    %s (warning above %gx)", line, CF_SPEED_WARN);
    cf_done(s, 1);
    tc_layer_check_free(&lc);
}
