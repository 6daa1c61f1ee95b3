/*
 * tinycnn/layer_check.h - runs one layer type on its own, outside any graph:
 * instantiate it with given parameter values and input shapes, plan, run
 * forward and backward on harness-owned buffers, and compare its gradients
 * with central finite differences. Used by the layer tests and by plugin
 * conformance checks.
 *
 * Typical use:
 *     double v[TC_LAYER_CHECK_MAX_PARAMS];
 *     tc_layer_check_defaults(type, v);
 *     tc_layer_check_set_param(type, v, "out_channels", 4, &err);
 *     tc_layer_check lc;
 *     tc_layer_check_create(&lc, type, v, shapes, 1, 2, &err);
 *     tc_layer_check_fill(&lc, seed, 0);
 *     tc_layer_check_gradients(&lc, NULL, &report, &err);
 *     tc_layer_check_free(&lc);
 *
 * Gradient check. loss = sum(output * R) for the fixed random R held in
 * grad_output, accumulated in double; each element e of every input that
 * needs a gradient and of every weight is moved by +-step and
 *     numeric = (loss(e + step) - loss(e - step)) / (actual distance moved),
 * compared with the analytic gradient from backward through
 *     err = |analytic - numeric| / max(|analytic|, |numeric|, floor * scale)
 * where scale is the largest |gradient| in that tensor. A tensor fails when
 * its worst err exceeds the tolerance.
 *
 * Why step 1e-2 and tolerance 1e-2 (float32): the truncation error of a
 * central difference is O(step^2 f''') ~ 1e-5 relative for the smooth layers
 * and zero for the piecewise-linear ones (inputs are kept away from kinks,
 * below). Rounding: the loss is summed in double and only the outputs that
 * depend on the moved element change, each carrying ~6e-8 relative float32
 * error, so the numeric gradient is off by roughly
 * 6e-8 * sum|affected output * R| / (2 step), about 1e-4 for the well-scaled
 * tensors of the tests. 1e-2 leaves two orders of magnitude of headroom while
 * any real backward bug (sign, missing factor, wrong index, accumulation into
 * a stale buffer) gives errors of order 1. The floor (10% of the tensor's
 * largest gradient) judges near-zero entries, e.g. saturated tanh, against
 * the tensor's own scale instead of their own tiny magnitude.
 *
 * Kinks: tc_layer_check_fill puts every non-label input on a shuffled
 * lattice: each value is at least 2*step away from 0 and from every other
 * value of the same tensor (twice the step, so neither a ReLU threshold nor
 * a max-pool tie can be crossed by a +-step move). Labels of a loss get valid
 * class indices and no gradient.
 *
 * Besides gradients, the check verifies that forward leaves its inputs
 * alone, is repeatable (same stream, same result), writes finite outputs,
 * that backward leaves grad_output alone and overwrites every gradient
 * buffer (they are pre-filled with NaN), and it fills workspace (before every
 * call) and saved (before forward) with NaN bytes so reading stale scratch
 * shows up.
 */
#ifndef TINYCNN_LAYER_CHECK_H
#define TINYCNN_LAYER_CHECK_H

#include <stdint.h>

#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_LAYER_CHECK_MAX_INPUTS 16
#define TC_LAYER_CHECK_MAX_PARAMS 32
#define TC_GRADCHECK_STEP 1e-2
#define TC_GRADCHECK_TOLERANCE 1e-2
#define TC_GRADCHECK_FLOOR 0.1

/* One layer instance and every buffer it runs on. All tensors are owned by
 * the harness (freed by tc_layer_check_free); callers may read and write
 * their data between calls. */
typedef struct tc_layer_check {
    const tc_layer_type *type;
    const tc_host *host;
    void *self;                        /* from type->create */
    int n_inputs;
    int n_threads;                     /* handed to plan() and to every call */
    int training;                      /* x->training; 1 after create */
    int is_label[TC_LAYER_CHECK_MAX_INPUTS];   /* a loss's input 1: class indices */
    int needs_grad[TC_LAYER_CHECK_MAX_INPUTS]; /* 1: backward gets a gradient buffer
                                                  (0 for labels); callers may clear it */
    tc_plan plan;                      /* at the checked batch size */
    tc_tensor inputs[TC_LAYER_CHECK_MAX_INPUTS];
    tc_tensor grad_inputs[TC_LAYER_CHECK_MAX_INPUTS]; /* handed over where needs_grad */
    tc_tensor output;
    tc_tensor grad_output;             /* what backward receives (R of the check) */
    tc_tensor weights[TC_MAX_WEIGHTS];
    tc_tensor grad_weights[TC_MAX_WEIGHTS];
    tc_tensor state[TC_MAX_STATE];     /* plan.n_state, set to their initial values */
    void *workspace;
    size_t workspace_bytes;
    void *saved;
    size_t saved_bytes;
    tc_rng rng_start;                  /* every forward starts its stream here */
    tc_rng rng;                        /* the stream the last call used */
    double fill_step;                  /* kink margin of the last fill, 0 if none */
    uint32_t scratch_poison;           /* bit pattern workspace (before every call)
                                          and saved (before forward) are filled
                                          with; create sets 0xffffffff, a NaN.
                                          Callers may change it, e.g. to a huge
                                          finite value, to expose stale reads that
                                          fmax/fmin would hide from a NaN */
} tc_layer_check;

/* Fills values[0 .. type->n_params) with the declared defaults; required
 * parameters get NaN, which tc_layer_check_create refuses by name. */
void tc_layer_check_defaults(const tc_layer_type *type, double *values);

/* Sets the parameter called `name`; an unknown name is an error. */
int tc_layer_check_set_param(const tc_layer_type *type, double *values, const char *name,
                             double value, tc_error *err);

/* Checks the parameter values against the declarations (required, range,
 * integer, boolean), calls create(), plans at batch 1 and then at the given
 * shapes (weights must not depend on the batch), and allocates zeroed
 * inputs, output, gradients, weights, workspace and saved buffers.
 * n_threads <= 0 means tc_get_threads(). On failure *lc is left freed (safe
 * to pass to tc_layer_check_free) and err names the layer and the step.
 * Owner: the caller frees with tc_layer_check_free. */
int tc_layer_check_create(tc_layer_check *lc, const tc_layer_type *type, const double *values,
                          const tc_shape *inputs, int n_inputs, int n_threads, tc_error *err);
void tc_layer_check_free(tc_layer_check *lc);

/* The weight declared under `name`, or NULL. Points into lc. */
tc_tensor *tc_layer_check_weight(tc_layer_check *lc, const char *name);
tc_tensor *tc_layer_check_grad_weight(tc_layer_check *lc, const char *name);
/* The state tensor declared under `name`, or NULL. Points into lc. */
tc_tensor *tc_layer_check_state(tc_layer_check *lc, const char *name);
/* Sets every state tensor back to its declared initial value. */
void tc_layer_check_reset_state(tc_layer_check *lc);

/* Random contents from a local PRNG seeded by `seed`: kink-free inputs (see
 * above) with margin `step` (0: TC_GRADCHECK_STEP), class indices for
 * labels, weights U(+-sqrt(3 / fan_in)), R = grad_output U(-1, 1), and the
 * layer's random stream. */
void tc_layer_check_fill(tc_layer_check *lc, uint64_t seed, double step);

/* One forward (stream restarted from rng_start) or backward call on the
 * current buffers. Backward passes grad_inputs[i] only where needs_grad[i]. */
int tc_layer_check_forward(tc_layer_check *lc, tc_error *err);
int tc_layer_check_backward(tc_layer_check *lc, tc_error *err);

typedef struct tc_gradcheck_opts {
    double step;          /* 0: TC_GRADCHECK_STEP; at most the fill's margin */
    double tolerance;     /* 0: TC_GRADCHECK_TOLERANCE */
    int64_t max_elements; /* per tensor, evenly spaced; 0: every element */
} tc_gradcheck_opts;

typedef struct tc_gradcheck_tensor {
    char name[64];        /* "input 0", "weight 'bias'" */
    int64_t n_checked;
    double worst;         /* largest relative error (inf for NaN) */
    int64_t worst_index;
    double analytic, numeric; /* at worst_index */
    int failed;
} tc_gradcheck_tensor;

typedef struct tc_gradcheck_report {
    double step, tolerance;
    int n_tensors;
    tc_gradcheck_tensor tensors[TC_LAYER_CHECK_MAX_INPUTS + TC_MAX_WEIGHTS];
    int first_failed;     /* index into tensors, -1 when every tensor passed */
} tc_gradcheck_report;

/* Runs the checks described at the top (opts may be NULL). Returns 0 when
 * all pass; otherwise non-zero with err naming the layer, the check and the
 * tensor, e.g. "Conv2d: gradient check of weight 'weight' failed: ...".
 * report (may be NULL) receives the worst error of every tensor either way.
 * Leaves inputs, weights and state as they were (training forwards may
 * update state; it is restored afterwards). */
int tc_layer_check_gradients(tc_layer_check *lc, const tc_gradcheck_opts *opts,
                             tc_gradcheck_report *report, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
