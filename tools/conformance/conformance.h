/*
 * conformance.h - the plugin conformance suite shared between its files.
 *
 * A "subject" is one registered layer type. Before it is checked, probe
 * finds a working configuration for it without knowing anything about the
 * layer: parameter values from its own declarations (defaults, and a small
 * in-range value for each required parameter) and input shapes from a fixed
 * list of candidates, keeping those whose plan() succeeds. Every check then
 * runs the layer through the single-layer harness (tinycnn/layer_check.h) or
 * through a one-node model, and reports each problem as one CUnit failure
 * whose message names the layer, the check and the tensor or parameter.
 */
#ifndef TC_CONFORMANCE_H
#define TC_CONFORMANCE_H

#include <stdint.h>

#include "tinycnn/layer_check.h"
#include "tinycnn/registry.h"

#define CF_MAX_CONFIGS 8

/* Seeds of the random inputs, weights and output gradients. */
#define CF_N_SEEDS 3

/* Elements checked per tensor by finite differences (evenly spaced); keeps
 * big layers quick while every tensor is still covered. */
#define CF_GRAD_MAX_ELEMENTS 256

/* How long (seconds) two instances run at once in the thread check, per
 * input size: enough for the threads to overlap for many calls. */
#define CF_THREAD_SECONDS 0.05

/* One working input configuration: per-sample shapes (no batch dimension;
 * a label has ndim 0 and becomes [batch]). */
typedef struct cf_config {
    int n_inputs;
    tc_shape sample[TC_LAYER_CHECK_MAX_INPUTS];
} cf_config;

typedef struct cf_subject {
    const tc_layer_type *type;
    const char *origin;         /* plugin file it came from */
    int probed;
    int usable;                 /* a working configuration was found */
    char why[TC_ERROR_CAP];     /* why not, when !usable */
    double values[TC_LAYER_CHECK_MAX_PARAMS]; /* defaults + required sample values */
    int n_configs;
    cf_config configs[CF_MAX_CONFIGS];
} cf_subject;

/* The helper layer type that lets a one-node model hold a loss (a model's
 * output may not be the loss node): y = x. Registered by main, never checked. */
extern const tc_layer_type cf_identity_type;

/* The registry every model of the checks is built from; set by main. */
extern tc_registry *cf_registry;
/* A private temporary folder for checkpoint files; set by main. */
extern const char *cf_tmpdir;

/* ---- probe.c ---- */

/* Finds parameter values and input shapes that work (once per subject). */
void cf_probe(cf_subject *s);

/* The shapes of configuration cfg at a batch size. */
void cf_batched(const cf_config *cfg, int64_t batch, tc_shape *out);

/* A harness instance of s in configuration cfg. Owner of lc: the caller,
 * tc_layer_check_free (also after a failure). */
int cf_make(tc_layer_check *lc, const cf_subject *s, const cf_config *cfg, int64_t batch,
            int n_threads, tc_error *err);

/* "[3,2,7,7]" or "[3,2,7,7] + [3]" for the inputs of cfg at a batch size. */
const char *cf_shapes_str(const cf_config *cfg, int64_t batch, char *buf, size_t cap);
const char *cf_shape_str(const tc_shape *s, char *buf, size_t cap);

/* Name of gradient tensor k as the harness orders them (inputs that get a
 * gradient, then weights): "input 0", "weight", "bias". */
const char *cf_grad_tensor_name(const tc_layer_check *lc, int k, char *buf, size_t cap);

/* ---- checks.c: one function per CUnit test ---- */

/* Records one CUnit failure with a formatted message and prints it. */
void cf_fail(const cf_subject *s, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Failures recorded since the current CUnit test began (reset by main). */
extern int cf_fails_in_test;

/* Records the sub-checks of the current test that passed (performed minus
 * those that failed) as passing CUnit asserts, so the summary counts them. */
void cf_done(const cf_subject *s, int performed);

void cf_check_metadata(cf_subject *s);
void cf_check_defaults(cf_subject *s);
void cf_check_bad_params(cf_subject *s);
void cf_check_shapes(cf_subject *s);
void cf_check_gradients(cf_subject *s);
void cf_check_determinism(cf_subject *s);
void cf_check_threads(cf_subject *s);
void cf_check_save_load(cf_subject *s);

#endif
