/* Shared helpers for the CUnit test programs. */
#ifndef TC_TESTUTIL_H
#define TC_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>
#include "tinycnn/tinycnn.h"
#include "tinycnn/layer_check.h"

typedef struct tcu_test {
    const char *name;
    void (*fn)(void);
} tcu_test;

/* Runs one suite of tests (NULL-terminated array) verbosely and prints the
 * CUnit summary. Returns the process exit status: 0 only if every test ran
 * and passed. */
int tcu_run(const char *suite, const tcu_test *tests);

/* A registry with the standard layer plugins of this build loaded; cached
 * for the life of the process. Fails the current test if loading fails. */
tc_registry *tcu_registry(void);

/* A fresh temporary folder (removed at exit, with its files). */
const char *tcu_tmpdir(void);

/* Writes len bytes to dir/name, returning the path (static buffer rotated
 * among 8 slots). */
const char *tcu_write_file(const char *name, const void *data, size_t len);

/* dir/name in the temporary folder, nothing written (static buffer rotated
 * among 8 slots). */
const char *tcu_tmp_path(const char *name);

/* Returns g, a graph just loaded; where it is NULL, prints err's message
 * and fails the current test (fatally). */
tc_graph *tcu_graph_ok(tc_graph *g, const tc_error *err);

/* Makes ds a set of n gray h x w images with uninitialised pixels and labels
 * for the caller to fill; aborts when out of memory. Owner: the caller, via
 * tc_dataset_free. */
void tcu_gray_dataset(tc_dataset *ds, int n, int h, int w);

/* Saves models/lenet5.json with weights initialised from seed and the
 * metadata meta (NULL: none) as the checkpoint path; fails the current
 * test (fatally) where it cannot. */
void tcu_save_lenet(const char *path, uint64_t seed, const char *meta);

/* Runs the shell command cmd and reads its standard output to the end;
 * *status gets pclose()'s status. Fails the current test (fatally) if the
 * command cannot start. Owner of the text: the caller (free()). */
char *tcu_read_command(const char *cmd, int *status);

/* Runs the shell command made from fmt; its standard output goes to *out
 * (NULL: dropped; owner: the caller). Returns its exit status, -1 if it
 * did not exit. */
int tcu_shell(char **out, const char *fmt, ...) TC_PRINTF(2, 3);

/* Adds key = text to o through the settings table; fails the current test
 * if the key is unknown or the text does not parse. */
void tcu_put_setting(tc_train_overrides *o, const char *key, const char *text);

/* The MNIST folder of the test environment. */
const char *tcu_data_dir(void);

/* 1 if the checkpoints a and b hold the same tensors (weights and optimiser
 * state), bit for bit; unless quiet, names the first difference on stderr.
 * Fails the current test if either cannot be read. */
int tcu_same_tensors(const char *a, const char *b, int quiet);

/* Starts argv[0] with argv in a child process whose standard output and
 * error go to the file `log` (truncated); returns its pid (waitpid is the
 * caller's), or -1 if fork failed. For tests that signal a running runner. */
int tcu_spawn_logged(const char *log, char *const argv[]);

/* Runs the build's runner, "tinycnn ARGS" (ARGS from fmt, through the
 * shell), with stdout and stderr captured together into *out (malloc'd, the
 * caller frees it; with out NULL the output is dropped). Returns the exit
 * status, or -1 if it died from a signal (named on stderr). */
int tcu_tinycnn(char **out, const char *fmt, ...) TC_PRINTF(2, 3);

/* 1 if out contains needle; else shows both on stderr and returns 0. */
int tcu_has_text(const char *out, const char *needle);

/* Asserts that loading `split` of dir with opt fails with a message that
 * contains needle. */
void tcu_assert_load_fails(const char *dir, const char *split, const tc_data_options *opt,
                           const char *needle);

/* Relative error |a-b| / max(1, |a|, |b|). */
double tcu_rel_err(double a, double b);

/* The registered layer type `name` of tcu_registry(); fails the current
 * test (naming the type) if there is none. */
const tc_layer_type *tcu_find_type(const char *name);

/* Instantiates t in lc with parameters "name=value name=value" (NULL: none)
 * over the defaults; returns create's status (err filled on failure). */
int tcu_make_check(tc_layer_check *lc, const tc_layer_type *t, const char *params, int n_inputs,
                   const tc_shape *shapes, int n_threads, tc_error *err);

/* tcu_make_check of the registered type named `type`. */
int tcu_make(tc_layer_check *lc, const char *type, const char *params, int n_inputs,
             const tc_shape *shapes, int n_threads, tc_error *err);

/* Copies tc_shape_count(&t->shape) floats from values into t. */
void tcu_set_data(tc_tensor *t, const float *values);

/* Sets every element of t to v. */
void tcu_fill_value(tc_tensor *t, float v);

/* Asserts that s is want, naming a differing dimension; returns 1 when it is. */
int tcu_assert_shape(const tc_shape *s, tc_shape want);

/* Asserts that a gradient check of `type` (params) with `seed` passed: rc
 * is 0 (else err is shown), no tensor failed, every weight and non-label
 * input was checked, each at some element. Returns the worst relative error
 * of its tensors. */
double tcu_assert_gradcheck(const tc_layer_check *lc, const tc_gradcheck_report *rep, int rc,
                            const tc_error *err, const char *type, const char *params,
                            uint64_t seed);

/* One gradient-check case of a registered layer type. */
typedef struct tcu_gc_case {
    const char *type;
    const char *params;
    int n_inputs;
    tc_shape shapes[3];
    int threads;
    int inference;        /* run with training = 0 (and non-trivial running statistics) */
    int64_t max_elements; /* 0: every element */
    int unit_inputs;      /* 1: inputs scaled into [-1, 1] (for a smooth layer only) */
} tcu_gc_case;

/* The worst relative error of any tensor the checks saw, and where. */
typedef struct tcu_gc_worst {
    double value;
    char where[160];
} tcu_gc_worst;

/* Gradient-checks each of the n cases with the seeds 1, 2 and 3 (asserting
 * each with tcu_assert_gradcheck) and prints each case's worst relative
 * error; worst (NULL: not kept) keeps the worst tensor over all calls. */
void tcu_run_gradchecks(const tcu_gc_case *cases, size_t n, tcu_gc_worst *worst);

/* splitmix64 draw in [0, 1) from *state (advanced). */
double tcu_rnd(uint64_t *state);

/* Fills t with draws of tcu_rnd(state) mapped to [-1, 1). */
void tcu_fill_uniform(tc_tensor *t, uint64_t *state);

/* tcu_fill_uniform of lc's input 0, then each of its weights, then its
 * output gradient, in that order. */
void tcu_fill_check_uniform(tc_layer_check *lc, uint64_t *state);

#define TCU_ASSERT_OK(expr, errp)                                                  \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != 0)                                                          \
            fprintf(stderr, "\n  %s failed: %s\n", #expr, (errp)->msg);       \
        CU_ASSERT_EQUAL_FATAL(rc_, 0);                                         \
    } while (0)

/* Asserts that expr fails and its message contains needle. */
#define TCU_ASSERT_FAILS_WITH(expr, errp, needle)                                  \
    do {                                                                       \
        (errp)->msg[0] = 0;                                                    \
        int rc_ = (expr);                                                      \
        CU_ASSERT_NOT_EQUAL(rc_, 0);                                           \
        if (!strstr((errp)->msg, (needle)))                                    \
            fprintf(stderr, "\n  expected '%s' in: %s\n", (needle), (errp)->msg); \
        CU_ASSERT_PTR_NOT_NULL(strstr((errp)->msg, (needle)));                 \
    } while (0)

#endif
