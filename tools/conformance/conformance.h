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

#include "shape.h" /* the runtime's own: tc_shape_format, tc_monotonic_seconds */
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
 * a label has ndim 0 and becomes [batch]) and the parameter values it runs
 * with (a test hint may set parameters per case). */
typedef struct cf_config {
    int n_inputs;
    tc_shape sample[TC_LAYER_CHECK_MAX_INPUTS];
    double values[TC_LAYER_CHECK_MAX_PARAMS];
} cf_config;

/* The checks, in the order they run (one CUnit test each). */
enum {
    CF_T_METADATA, CF_T_CONSTRUCTION, CF_T_BAD_PARAMS, CF_T_SHAPES, CF_T_UNEQUAL,
    CF_T_GRADIENTS, CF_T_NULL_GRADS, CF_T_DETERMINISM, CF_T_SCRATCH, CF_T_INFERENCE,
    CF_T_PER_SAMPLE, CF_T_THREADS, CF_T_SAVE_LOAD, CF_T_SPEED, CF_N_CHECKS
};

typedef struct cf_subject {
    const tc_layer_type *type;
    const char *origin;         /* plugin file it came from */
    int probed;
    int usable;                 /* a working configuration was found */
    char why[TC_ERROR_CAP];     /* why not, when !usable */
    double values[TC_LAYER_CHECK_MAX_PARAMS]; /* those of configs[0] */
    int n_configs;
    cf_config configs[CF_MAX_CONFIGS];
    int from_hints;             /* the configurations are the type's test hints */
    char hint_errors[TC_ERROR_CAP]; /* hint cases that did not plan ("" if none) */
    double grad_step, grad_tolerance; /* the gradient check's, hints applied */
    double seconds[CF_N_CHECKS];      /* wall time of each check */
} cf_subject;

/* 1: ignore every type's test hints (--no-hints); set by main. */
extern int cf_no_hints;

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

/* Into *per, the elements of one sample of s in cfg: its output's, plus its
 * inputs' where with_inputs is set. Returns cf_make's status (*per is left
 * alone on failure). */
int cf_sample_elements(const cf_subject *s, const cf_config *cfg, int with_inputs,
                       int64_t *per);

/* cf_make at one thread for `check`, then tc_layer_check_fill(lc, seed,
 * 0); "inputs <shapes>" goes into where[cap] first. On failure reports
 * "<error> (<where>)", frees lc and returns non-zero; else the caller owns
 * lc. */
int cf_make_filled(tc_layer_check *lc, const cf_subject *s, const char *check,
                   const cf_config *cfg, int64_t batch, uint64_t seed, char *where, size_t cap);

/* "[3,2,7,7]" or "[3,2,7,7] + [3]" for the inputs of cfg at a batch size. */
const char *cf_shapes_str(const cf_config *cfg, int64_t batch, char *buf, size_t cap);

/* Name of gradient tensor k as the harness orders them (inputs that get a
 * gradient, then weights): "input 0", "weight", "bias". */
const char *cf_grad_tensor_name(const tc_layer_check *lc, int k, char *buf, size_t cap);

/* Validates a type's test hints (NULL when it has none); 0 when usable,
 * else 1 with the reason in why. */
int cf_hints_valid(const tc_layer_type *t, char *why, size_t cap);
/* The hints of t, or NULL when it has none (or --no-hints). */
const tc_test_hints *cf_hints(const tc_layer_type *t);

/* ---- child.c: running a check, or a risky part of one, in a child process
 * fn runs in a forked child: its cf_fail(), cf_done() and cf_warn() calls
 * travel back through a pipe and are recorded in the parent, so a crash (a
 * write through NULL, a read off a guard page, a fault in a thread), an
 * exit() or an endless loop becomes a failure that says what was being
 * done. Each cf_child_step() names the step a crash would be reported
 * against. The subjects live in memory shared with the children, so what
 * a child's probe finds serves the later checks. */
typedef void (*cf_child_fn)(cf_subject *s, void *arg);
/* Returns 0 when the child finished (its failures are recorded), 1 when it
 * crashed, hung or left early (recorded as a failure of `check`: "<step>
 * crashed (signal 11 SIGSEGV: Segmentation fault)", "<step> did not finish
 * within 60 s", "<step> called exit(0): ..."). A step gets at most
 * CF_CHILD_SECONDS, and never more than cf_check_seconds. */
int cf_in_child(cf_subject *s, const char *check, cf_child_fn fn, void *arg);
/* The same, and what fn passed to cf_child_result() last into result ("" when
 * it passed nothing or did not finish). */
int cf_in_child_result(cf_subject *s, const char *check, cf_child_fn fn, void *arg,
                       char *result, size_t cap);
void cf_child_result(const char *text);
/* Runs one whole check in a child given cf_check_seconds; a failure of the
 * child is a failure of the check `name`. Returns as cf_in_child. */
int cf_run_check(cf_subject *s, const char *name, void (*check)(cf_subject *s));
/* The time limit of one check, in seconds (--check-timeout); set by main. */
extern int cf_check_seconds;
#define CF_CHECK_SECONDS 300
void cf_child_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 inside such a child. */
extern int cf_in_child_process;

/* Buffers whose end touches an inaccessible page (and whose start follows
 * one): a read or write past the data faults; the few bytes of alignment
 * slack before the guard page hold NaN. Used on a layer's inputs. */
typedef struct cf_fenced {
    float *orig;    /* the tensor's own buffer, put back by cf_unfence */
    void *map;
    size_t map_bytes;
    float *data;
    size_t slack;   /* floats between the data's end and the guard page */
} cf_fenced;
int cf_fence(tc_tensor *t, cf_fenced *f);
/* 1 when the slack was written (the tensor was written past its end). */
int cf_unfence(tc_tensor *t, cf_fenced *f);

/* ---- shared helpers of the checks (checks.c) ---- */

int64_t cf_count(const tc_tensor *t);
/* Copy of t's data, or NULL when t has none. Owner: the caller, free(). */
float *cf_copy(const tc_tensor *t);
/* Index of the first element whose bits differ from ref, or -1. */
int64_t cf_first_diff(const tc_tensor *t, const float *ref);
void cf_diff_fail(const cf_subject *s, const char *check, const char *what,
                  const char *tensor, const tc_tensor *t, const float *ref, int64_t i,
                  const char *where);
/* Probes s; when it has no working configuration, fails `check` and
 * returns 1. */
int cf_not_usable(cf_subject *s, const char *check);

/* Copies of every gradient buffer handed to backward. */
typedef struct cf_grads {
    float *in[TC_LAYER_CHECK_MAX_INPUTS];
    float *w[TC_MAX_WEIGHTS];
} cf_grads;
int cf_grads_copy(const tc_layer_check *lc, cf_grads *g);
void cf_grads_free(cf_grads *g);
int cf_grads_differ(const tc_layer_check *lc, const cf_grads *g, char *name, size_t cap,
                    const tc_tensor **t, const float **ref, int64_t *at);

/* Copies of the state tensors, to compare or put back. */
typedef struct cf_states {
    int n;
    float *v[TC_MAX_STATE];
} cf_states;
int cf_states_copy(const tc_layer_check *lc, cf_states *st);
void cf_states_restore(tc_layer_check *lc, const cf_states *st);
/* Index of the first state tensor that differs from st (element in *at), or -1. */
int cf_states_differ(const tc_layer_check *lc, const cf_states *st, int64_t *at);
void cf_states_free(cf_states *st);

/* Output and gradient guards of the shape-inference check, reused by the
 * unequal-shapes check: runs forward and backward on lc with every output
 * and gradient buffer pre-filled with a "never written" NaN and followed
 * by a guard; reports what was left unwritten or written past. */
void cf_guarded_pass(cf_subject *s, tc_layer_check *lc, const char *check, const char *where);

/* ---- checks.c and the check_*.c files: one function per CUnit test ---- */

/* Records one CUnit failure with a formatted message and prints it
 * ("<type>: <check>: <detail>"); in a child process (child.c) it sends the
 * message to the parent instead, which records it. */
void cf_fail(const cf_subject *s, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints "WARNING <type>: <check>: <detail>" (not a failure) and keeps it
 * for the summary at the end. */
void cf_warn(const cf_subject *s, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define CF_MAX_WARNINGS 64
extern char *cf_warnings[CF_MAX_WARNINGS];
extern int cf_n_warnings;

/* Records and prints one finished message (in a child: sends it). */
void cf_record(const cf_subject *s, const char *msg);
/* Records n passed sub-checks (in a child: sends the count). */
void cf_record_passes(const cf_subject *s, int n);
/* Keeps a printed warning for the summary (in a child: sends it). */
void cf_keep_warning(const char *msg);
/* child.c: sends one record to the parent. */
void cf_child_send(char kind, const char *text);

/* A child gets this long for one step before it counts as hung (or the
 * check's own limit, when that is shorter). */
#define CF_CHILD_SECONDS 60

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
void cf_check_unequal_shapes(cf_subject *s); /* check_hostile.c */
void cf_check_null_grads(cf_subject *s);     /* check_hostile.c */
void cf_check_scratch(cf_subject *s);        /* check_hostile.c */
void cf_check_inference(cf_subject *s);      /* check_inference.c */
void cf_check_per_sample(cf_subject *s);     /* check_per_sample.c */
void cf_check_speed(cf_subject *s);          /* check_speed.c */

#endif
