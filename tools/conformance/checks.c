/* The checks that run a layer through the single-layer harness: metadata,
 * shape inference, gradients, determinism and purity, concurrent use, and
 * the checkpoint round trip. Each problem is one CUnit failure naming the
 * layer, the check and the tensor. */
#define _POSIX_C_SOURCE 200809L
#include <CUnit/CUnit.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/status.h"

static const uint64_t seeds[CF_N_SEEDS] = {1, 2, 3};

int cf_fails_in_test;

void cf_done(const cf_subject *s, int performed)
{
    cf_record_passes(s, performed - cf_fails_in_test);
}

void cf_record_passes(const cf_subject *s, int n)
{
    if (cf_in_child_process && n > 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", n);
        cf_child_send('P', buf);
        return;
    }
    for (int i = 0; i < n; i++)
        CU_assertImplementation(CU_TRUE, 0, "passed", s->origin ? s->origin : "?", "", CU_FALSE);
}

/* "<type>: <check>: <detail>" into msg (CF_MSG_CAP bytes). */
#define CF_MSG_CAP 1800
static void format_msg(char *msg, const cf_subject *s, const char *check, const char *fmt,
                       va_list ap)
{
    char detail[1536];
    vsnprintf(detail, sizeof detail, fmt, ap);
    snprintf(msg, CF_MSG_CAP, "%s: %s: %s", s->type->name, check, detail);
}

/* format_msg of the variadic arguments after fmt, into a new msg. */
#define FORMAT_MSG(msg, s, check, fmt)            \
    char msg[CF_MSG_CAP];                         \
    do {                                          \
        va_list ap;                               \
        va_start(ap, fmt);                        \
        format_msg(msg, s, check, fmt, ap);       \
        va_end(ap);                               \
    } while (0)

void cf_fail(const cf_subject *s, const char *check, const char *fmt, ...)
{
    FORMAT_MSG(msg, s, check, fmt);
    cf_record(s, msg);
}

char *cf_warnings[CF_MAX_WARNINGS];
int cf_n_warnings;

void cf_warn(const cf_subject *s, const char *check, const char *fmt, ...)
{
    FORMAT_MSG(msg, s, check, fmt);
    printf("\n    WARNING %s", msg);
    cf_keep_warning(msg);
}

void cf_keep_warning(const char *msg)
{
    if (cf_in_child_process)
        cf_child_send('W', msg);
    else if (cf_n_warnings < CF_MAX_WARNINGS && (cf_warnings[cf_n_warnings] = strdup(msg)))
        cf_n_warnings++;
}

void cf_record(const cf_subject *s, const char *msg)
{
    if (cf_in_child_process) {
        cf_child_send('F', msg);
        cf_fails_in_test++; /* the child's own count */
        return;
    }
    printf("\n    FAIL %s", msg);
    cf_fails_in_test++;
    /* CUnit copies the condition text and the file name */
    CU_assertImplementation(CU_FALSE, 0, msg, s->origin ? s->origin : "?", "", CU_FALSE);
}

/* ---- small helpers ------------------------------------------------------- */

int64_t cf_count(const tc_tensor *t)
{
    return tc_shape_count(&t->shape);
}

/* Copy of t's data, or NULL when t has none. Owner: the caller, free(). */
float *cf_copy(const tc_tensor *t)
{
    if (!t->data)
        return NULL;
    size_t bytes = sizeof(float) * (size_t)cf_count(t);
    float *p = malloc(bytes ? bytes : 1);
    if (p)
        memcpy(p, t->data, bytes);
    return p;
}

/* Index of the first element whose bits differ from ref, or -1. */
int64_t cf_first_diff(const tc_tensor *t, const float *ref)
{
    int64_t n = cf_count(t);
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&t->data[i], &ref[i], sizeof(float)) != 0)
            return i;
    return -1;
}

/* Reports `what` for tensor t at element i against the reference value. */
void cf_diff_fail(const cf_subject *s, const char *check, const char *what,
                      const char *tensor, const tc_tensor *t, const float *ref, int64_t i,
                      const char *where)
{
    cf_fail(s, check, "%s: %s[%lld] is %.9g, expected %.9g (%s)", what, tensor, (long long)i,
            (double)t->data[i], (double)ref[i], where);
}

int cf_not_usable(cf_subject *s, const char *check)
{
    cf_probe(s);
    if (s->usable)
        return 0;
    cf_fail(s, check, "not run: no working configuration (%s)", s->why);
    return 1;
}

int cf_grads_copy(const tc_layer_check *lc, cf_grads *g)
{
    memset(g, 0, sizeof *g);
    for (int i = 0; i < lc->n_inputs; i++)
        if (lc->needs_grad[i] && !(g->in[i] = cf_copy(&lc->grad_inputs[i])))
            return 1;
    for (int i = 0; i < lc->plan.n_weights; i++)
        if (!(g->w[i] = cf_copy(&lc->grad_weights[i])))
            return 1;
    return 0;
}

void cf_grads_free(cf_grads *g)
{
    for (int i = 0; i < TC_LAYER_CHECK_MAX_INPUTS; i++)
        free(g->in[i]);
    for (int i = 0; i < TC_MAX_WEIGHTS; i++)
        free(g->w[i]);
    memset(g, 0, sizeof *g);
}

/* Compares every gradient with g; fills tensor name, index. Returns 1 on a
 * difference. */
int cf_grads_differ(const tc_layer_check *lc, const cf_grads *g, char *name, size_t cap,
                        const tc_tensor **t, const float **ref, int64_t *at)
{
    for (int i = 0; i < lc->n_inputs; i++)
        if (g->in[i] && (*at = cf_first_diff(&lc->grad_inputs[i], g->in[i])) >= 0) {
            snprintf(name, cap, "d(input %d)", i);
            *t = &lc->grad_inputs[i];
            *ref = g->in[i];
            return 1;
        }
    for (int i = 0; i < lc->plan.n_weights; i++)
        if ((*at = cf_first_diff(&lc->grad_weights[i], g->w[i])) >= 0) {
            snprintf(name, cap, "d(%s)", lc->plan.weights[i].name);
            *t = &lc->grad_weights[i];
            *ref = g->w[i];
            return 1;
        }
    return 0;
}

int cf_states_copy(const tc_layer_check *lc, cf_states *st)
{
    memset(st, 0, sizeof *st);
    st->n = lc->plan.n_state;
    for (int i = 0; i < st->n; i++)
        if (!(st->v[i] = cf_copy(&lc->state[i])))
            return 1;
    return 0;
}

void cf_states_restore(tc_layer_check *lc, const cf_states *st)
{
    for (int i = 0; i < st->n && i < lc->plan.n_state; i++)
        if (st->v[i])
            memcpy(lc->state[i].data, st->v[i], sizeof(float) * (size_t)cf_count(&lc->state[i]));
}

int cf_states_differ(const tc_layer_check *lc, const cf_states *st, int64_t *at)
{
    for (int i = 0; i < st->n && i < lc->plan.n_state; i++)
        if (st->v[i] && (*at = cf_first_diff(&lc->state[i], st->v[i])) >= 0)
            return i;
    return -1;
}

void cf_states_free(cf_states *st)
{
    for (int i = 0; i < TC_MAX_STATE; i++)
        free(st->v[i]);
    memset(st, 0, sizeof *st);
}

/* ---- metadata ------------------------------------------------------------ */

static int is_identifier(const char *s, int lower_only)
{
    if (!s || !isalpha((unsigned char)s[0]))
        return 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_') ||
            (lower_only && isupper((unsigned char)*p)))
            return 0;
    return strlen(s) < 64;
}

static const char *type_word(tc_value_type t)
{
    return t == TC_VALUE_INT ? "int" : t == TC_VALUE_FLOAT ? "float"
                                   : t == TC_VALUE_BOOL   ? "bool"
                                                          : "?";
}

/* Prints and validates the type's test hints; returns the checks made. */
static int metadata_hints(cf_subject *s)
{
    const tc_layer_type *t = s->type;
    const tc_test_hints *h = cf_hints(t);
    char why[TC_ERROR_CAP];
    if (!h) {
        int has = t->struct_size >= offsetof(tc_layer_type, test_hints) + sizeof t->test_hints &&
                  t->test_hints;
        printf("\n    test hints: %s", has ? "given, ignored (--no-hints)" : "none");
        return 0;
    }
    printf("\n    test hints: %d case%s, gradient tolerance %g, step %g", h->n_cases,
           h->n_cases == 1 ? "" : "s", h->grad_tolerance > 0 ? h->grad_tolerance
                                                             : TC_GRADCHECK_TOLERANCE,
           h->grad_step > 0 ? h->grad_step : TC_GRADCHECK_STEP);
    if (cf_hints_valid(t, why, sizeof why))
        cf_fail(s, "metadata", "%s", why);
    else if (h->n_cases > CF_MAX_CONFIGS - 1)
        printf(" (the first %d cases are used)", CF_MAX_CONFIGS - 1);
    return 1;
}

void cf_check_metadata(cf_subject *s)
{
    const tc_layer_type *t = s->type;
    const char *C = "metadata";
    printf("\n    type %s from %s: ABI version %u, %s, inputs %d..%d", t->name,
           s->origin ? s->origin : "?", t->abi_version,
           (t->flags & TC_LAYER_LOSS)         ? "loss"
           : (t->flags & TC_LAYER_PER_SAMPLE) ? "layer, per sample"
                                              : "layer",
           t->min_inputs, t->max_inputs);
    if (t->struct_size < offsetof(tc_layer_type, reserved))
        cf_fail(s, C, "struct_size %u is smaller than this ABI's tc_layer_type (%u bytes)",
                t->struct_size, (unsigned)offsetof(tc_layer_type, reserved));
    if (t->abi_version != TC_PLUGIN_ABI_VERSION)
        cf_fail(s, C, "ABI version %u, the runtime speaks %u", t->abi_version,
                TC_PLUGIN_ABI_VERSION);
    if (!is_identifier(t->name, 0))
        cf_fail(s, C, "the name '%s' is not an identifier ([A-Za-z][A-Za-z0-9_]*, under 64 "
                      "characters)", t->name ? t->name : "");
    if (!t->summary || !t->summary[0])
        cf_fail(s, C, "no summary (one line shown by 'tinycnn plugins')");
    const uint32_t known = TC_LAYER_LOSS | TC_LAYER_PER_SAMPLE;
    if (t->flags & ~known)
        cf_fail(s, C, "unknown flag bits 0x%x", t->flags & ~known);
    if ((t->flags & TC_LAYER_LOSS) && (t->flags & TC_LAYER_PER_SAMPLE))
        cf_fail(s, C, "a loss (the batch's mean) cannot be TC_LAYER_PER_SAMPLE");
    if ((t->flags & TC_LAYER_LOSS) && (t->min_inputs != 2 || t->max_inputs != 2))
        cf_fail(s, C, "a loss takes exactly 2 inputs [logits, label], declared %d..%d",
                t->min_inputs, t->max_inputs);
    if (t->min_inputs < 1 || t->max_inputs < t->min_inputs)
        cf_fail(s, C, "inputs %d..%d: needs at least one input and min <= max", t->min_inputs,
                t->max_inputs);
    if (!t->plan || !t->forward || !t->backward)
        cf_fail(s, C, "plan(), forward() and backward() are all required (%s%s%s missing)",
                t->plan ? "" : " plan", t->forward ? "" : " forward",
                t->backward ? "" : " backward");
    if (t->create && !t->destroy)
        cf_fail(s, C, "create() without destroy(): every instance would leak");
    if (t->n_params < 0 || t->n_params > TC_LAYER_CHECK_MAX_PARAMS ||
        (t->n_params > 0 && !t->params)) {
        cf_fail(s, C, "%d parameters declared %s", t->n_params,
                t->params ? "(0..32 supported)" : "without a table");
        return;
    }
    if (t->n_params > 0 && !t->create)
        cf_fail(s, C, "declares parameters but has no create() to receive them");
    printf("\n    parameters:%s", t->n_params ? "" : " none");
    for (int i = 0; i < t->n_params; i++) {
        const tc_param_desc *p = &t->params[i];
        const char *nm = p->name ? p->name : "";
        if (p->required)
            printf("\n      %-16s %-5s required  range [%g, %g]", nm, type_word(p->type),
                   p->min_value, p->max_value);
        else
            printf("\n      %-16s %-5s default %-8g range [%g, %g]", nm, type_word(p->type),
                   p->default_value, p->min_value, p->max_value);
        if (!is_identifier(p->name, 1))
            cf_fail(s, C, "parameter %d: the name '%s' is not a lower-case identifier", i, nm);
        for (int j = 0; j < i; j++)
            if (p->name && t->params[j].name && strcmp(p->name, t->params[j].name) == 0)
                cf_fail(s, C, "parameter '%s' is declared twice", nm);
        if (p->type != TC_VALUE_INT && p->type != TC_VALUE_FLOAT && p->type != TC_VALUE_BOOL)
            cf_fail(s, C, "parameter '%s' has the unknown type %d", nm, (int)p->type);
        if (!p->help || !p->help[0])
            cf_fail(s, C, "parameter '%s' has no help text", nm);
        if (isnan(p->min_value) || isnan(p->max_value) || p->min_value > p->max_value)
            cf_fail(s, C, "parameter '%s' has the empty range [%g, %g]", nm, p->min_value,
                    p->max_value);
        if (p->type == TC_VALUE_BOOL && (p->min_value != 0 || p->max_value != 1))
            cf_fail(s, C, "boolean parameter '%s' must have the range [0, 1], has [%g, %g]", nm,
                    p->min_value, p->max_value);
        if (p->required)
            continue;
        double d = p->default_value;
        if (!(d >= p->min_value && d <= p->max_value))
            cf_fail(s, C, "parameter '%s': default %g is outside its range [%g, %g]", nm, d,
                    p->min_value, p->max_value);
        if (p->type == TC_VALUE_INT && d != floor(d))
            cf_fail(s, C, "integer parameter '%s' has the default %g", nm, d);
        if (p->type == TC_VALUE_BOOL && d != 0 && d != 1)
            cf_fail(s, C, "boolean parameter '%s' has the default %g", nm, d);
    }
    cf_done(s, 1 + t->n_params + metadata_hints(s));
}

/* ---- shape inference ------------------------------------------------------ */

#define GUARD 64
/* NaN payloads that no arithmetic produces: "never written" and "guard". */
#define UNWRITTEN 0x7fa5a5a5u
#define GUARDBITS 0x7fb6b6b6u

typedef struct guarded {
    float *orig;
    float *buf;
} guarded;

/* Points t at a fresh buffer of its size plus GUARD floats: its elements
 * read UNWRITTEN, the guard GUARDBITS. keep: copy the old contents in. */
static int guard_swap(tc_tensor *t, guarded *g, int keep)
{
    int64_t n = cf_count(t);
    size_t bytes = (sizeof(float) * (size_t)(n + GUARD) + 63) & ~(size_t)63;
    g->orig = t->data;
    g->buf = aligned_alloc(64, bytes);
    if (!g->buf)
        return 1;
    uint32_t u = UNWRITTEN, gb = GUARDBITS;
    for (int64_t i = 0; i < n + GUARD; i++)
        memcpy(&g->buf[i], i < n ? &u : &gb, sizeof u);
    if (keep && g->orig)
        memcpy(g->buf, g->orig, sizeof(float) * (size_t)n);
    t->data = g->buf;
    return 0;
}

static void guard_restore(tc_tensor *t, guarded *g)
{
    if (g->buf) {
        t->data = g->orig;
        free(g->buf);
    }
    g->buf = NULL;
}

/* 0 when every element was written and the guard is intact. */
static int guard_check(const cf_subject *s, const char *check, const tc_tensor *t,
                       const guarded *g, const char *call, const char *tensor,
                       const char *where)
{
    int64_t n = cf_count(t);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &g->buf[i], sizeof u);
        if (u == UNWRITTEN) {
            cf_fail(s, check, "%s left %s[%lld] of %lld unwritten: %s (%s)", call, tensor,
                    (long long)i, (long long)n,
                    strcmp(check, "shape inference") == 0
                        ? "the planned shape is larger than what it computes"
                        : "does it assume that its inputs have equal shapes?",
                    where);
            return 1;
        }
    }
    for (int64_t i = n; i < n + GUARD; i++) {
        uint32_t u;
        memcpy(&u, &g->buf[i], sizeof u);
        if (u != GUARDBITS) {
            cf_fail(s, check, "%s wrote past the end of %s (element %lld of a planned %lld) "
                              "(%s)",
                    call, tensor, (long long)i, (long long)n, where);
            return 1;
        }
    }
    return 0;
}

/* Backward into guarded gradient buffers, after a guarded forward passed. */
static void guarded_backward(cf_subject *s, tc_layer_check *lc, const char *C,
                             const char *where)
{
    tc_error err = {{0}};
    guarded gi[TC_LAYER_CHECK_MAX_INPUTS] = {{0}}, gw[TC_MAX_WEIGHTS] = {{0}};
    int oom = 0;
    for (int i = 0; i < lc->n_inputs; i++)
        if (lc->needs_grad[i])
            oom |= guard_swap(&lc->grad_inputs[i], &gi[i], 0);
    for (int i = 0; i < lc->plan.n_weights; i++)
        oom |= guard_swap(&lc->grad_weights[i], &gw[i], 0);
    if (oom) {
        cf_fail(s, C, "out of memory");
    } else if (tc_layer_check_backward(lc, &err) != 0) {
        cf_fail(s, C, "%s (%s)", err.msg, where);
    } else {
        int bad = 0;
        for (int i = 0; i < lc->n_inputs && !bad; i++)
            if (lc->needs_grad[i]) {
                char nm[32];
                snprintf(nm, sizeof nm, "d(input %d)", i);
                bad = guard_check(s, C, &lc->grad_inputs[i], &gi[i], "backward", nm, where);
            }
        for (int i = 0; i < lc->plan.n_weights && !bad; i++) {
            char nm[96];
            snprintf(nm, sizeof nm, "d(%s)", lc->plan.weights[i].name);
            bad = guard_check(s, C, &lc->grad_weights[i], &gw[i], "backward", nm, where);
        }
    }
    for (int i = 0; i < TC_LAYER_CHECK_MAX_INPUTS; i++)
        guard_restore(&lc->grad_inputs[i], &gi[i]);
    for (int i = 0; i < TC_MAX_WEIGHTS; i++)
        guard_restore(&lc->grad_weights[i], &gw[i]);
}

void cf_guarded_pass(cf_subject *s, tc_layer_check *lc, const char *C, const char *where)
{
    tc_error err = {{0}};
    guarded go = {0};
    if (guard_swap(&lc->output, &go, 0)) {
        cf_fail(s, C, "out of memory");
        return;
    }
    int ok = 0;
    if (tc_layer_check_forward(lc, &err) != 0)
        cf_fail(s, C, "%s (%s)", err.msg, where);
    else
        ok = guard_check(s, C, &lc->output, &go, "forward", "output", where) == 0;
    /* backward may read the output: it gets the written one, guard intact */
    if (ok)
        guarded_backward(s, lc, C, where);
    guard_restore(&lc->output, &go);
}

static void shapes_one(cf_subject *s, const cf_config *cfg, int64_t batch)
{
    const char *C = "shape inference";
    const tc_layer_type *t = s->type;
    char where[300], sh[160], sh1[160];
    snprintf(where, sizeof where, "inputs %s", cf_shapes_str(cfg, batch, sh, sizeof sh));
    tc_error err = {{0}};
    tc_layer_check lc;
    if (cf_make(&lc, s, cfg, batch, 1, &err)) {
        cf_fail(s, C, "%s", err.msg);
        tc_layer_check_free(&lc);
        return;
    }
    const tc_shape *out = &lc.plan.output;
    int loss = (t->flags & TC_LAYER_LOSS) != 0;
    if (loss && tc_shape_count(out) != 1)
        cf_fail(s, C, "a loss must output one value, plan() gave %s (%s)",
                tc_shape_format(out, sh, sizeof sh), where);
    if (!loss && out->dims[0] != batch)
        cf_fail(s, C, "output %s does not keep the batch size %lld as its first dimension "
                      "(%s)", tc_shape_format(out, sh, sizeof sh), (long long)batch, where);
    /* the batch-1 plan must differ only in the batch dimension */
    tc_shape in1[TC_LAYER_CHECK_MAX_INPUTS];
    tc_plan p1;
    cf_batched(cfg, 1, in1);
    memset(&p1, 0, sizeof p1);
    p1.struct_size = sizeof p1;
    if (t->plan(lc.host, lc.self, in1, cfg->n_inputs, lc.n_threads, &p1, &err) == 0) {
        int same = p1.output.ndim == out->ndim;
        for (int d = loss ? 0 : 1; same && d < out->ndim; d++)
            same = p1.output.dims[d] == out->dims[d];
        if (!same)
            cf_fail(s, C, "output %s at batch %lld but %s at batch 1: only the first dimension "
                          "may follow the batch (%s)", tc_shape_format(out, sh, sizeof sh),
                    (long long)batch, tc_shape_format(&p1.output, sh1, sizeof sh1), where);
    }
    tc_layer_check_fill(&lc, 7, 0);
    cf_guarded_pass(s, &lc, C, where);
    tc_layer_check_free(&lc);
}

void cf_check_shapes(cf_subject *s)
{
    static const int64_t batches[] = {1, 2, 5};
    if (cf_not_usable(s, "shape inference"))
        return;
    for (int c = 0; c < s->n_configs; c++)
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
            shapes_one(s, &s->configs[c], batches[b]);
    cf_done(s, s->n_configs * (int)(sizeof batches / sizeof batches[0]));
    printf("\n    %d input configurations x batch sizes 1, 2, 5: planned output shape "
           "written exactly by forward, input and weight gradients by backward",
           s->n_configs);
}

/* ---- gradients ------------------------------------------------------------ */

void cf_check_gradients(cf_subject *s)
{
    const char *C = "gradient check";
    if (cf_not_usable(s, C))
        return;
    /* each tensor is reported once, at its first failure */
    char reported[TC_LAYER_CHECK_MAX_INPUTS + TC_MAX_WEIGHTS][64];
    int n_reported = 0, runs = 0;
    int64_t elements = 0, tensors = 0;
    double worst = 0.0;
    char worst_at[128] = "";
    for (int c = 0; c < s->n_configs; c++)
        for (int k = 0; k < CF_N_SEEDS; k++) {
            int64_t batch = k == 0 ? 1 : (k == 1 ? 3 : 2);
            char where[300], sh[200];
            snprintf(where, sizeof where, "inputs %s, seed %llu",
                     cf_shapes_str(&s->configs[c], batch, sh, sizeof sh),
                     (unsigned long long)seeds[k]);
            tc_error err = {{0}};
            tc_layer_check lc;
            tc_gradcheck_report rep;
            tc_gradcheck_opts opts = {s->grad_step, s->grad_tolerance, CF_GRAD_MAX_ELEMENTS};
            if (cf_make(&lc, s, &s->configs[c], batch, 1, &err)) {
                cf_fail(s, C, "%s (%s)", err.msg, where);
                tc_layer_check_free(&lc);
                continue;
            }
            /* the kink margin of the inputs must cover the step */
            tc_layer_check_fill(&lc, seeds[k],
                                s->grad_step > TC_GRADCHECK_STEP ? s->grad_step : 0);
            int rc = tc_layer_check_gradients(&lc, &opts, &rep, &err);
            runs++;
            if (rc != 0 && rep.first_failed < 0) {
                /* not a gradient mismatch: forward or backward misbehaved */
                const char *m = err.msg;
                size_t nl = strlen(s->type->name);
                if (strncmp(m, s->type->name, nl) == 0 && m[nl] == ':')
                    m += nl + 2;
                cf_fail(s, C, "%s (%s)", m, where);
                tc_layer_check_free(&lc);
                continue;
            }
            int expect = lc.plan.n_weights;
            for (int i = 0; i < lc.n_inputs; i++)
                expect += lc.needs_grad[i] && !lc.is_label[i];
            if (rep.n_tensors != expect)
                cf_fail(s, C, "checked %d tensors, expected %d (%s)", rep.n_tensors, expect,
                        where);
            for (int i = 0; i < rep.n_tensors; i++) {
                const tc_gradcheck_tensor *r = &rep.tensors[i];
                char nm[64];
                cf_grad_tensor_name(&lc, i, nm, sizeof nm);
                tensors++;
                elements += r->n_checked;
                if (r->worst > worst || isnan(r->worst)) {
                    worst = r->worst;
                    snprintf(worst_at, sizeof worst_at, "d(%s)", nm);
                }
                if (!r->failed)
                    continue;
                int seen = 0;
                for (int j = 0; j < n_reported; j++)
                    seen |= strcmp(reported[j], nm) == 0;
                if (seen)
                    continue;
                snprintf(reported[n_reported++], sizeof reported[0], "%s", nm);
                cf_fail(s, C, "d(%s)[%lld] analytic %.4g vs numeric %.4g, rel err %.3g > "
                              "tol %g (%s)",
                        nm, (long long)r->worst_index, r->analytic, r->numeric, r->worst,
                        rep.tolerance, where);
            }
            tc_layer_check_free(&lc);
        }
    cf_done(s, (int)tensors);
    printf("\n    %d runs (%d input configurations x %d seeds), %lld tensor checks, %lld "
           "elements: worst rel err %.3g%s%s (tolerance %g, step %g%s)",
           runs, s->n_configs, CF_N_SEEDS, (long long)tensors, (long long)elements, worst,
           worst_at[0] ? " in " : "", worst_at, s->grad_tolerance, s->grad_step,
           (s->grad_tolerance != TC_GRADCHECK_TOLERANCE || s->grad_step != TC_GRADCHECK_STEP)
               ? ", from the type's test hints" : "");
}

/* ---- determinism and purity ----------------------------------------------- */

/* A forward from the state st: repeating a training forward must repeat its
 * output even where it updates state (running statistics), so every forward
 * here starts from the same state. */
static int forward_from(tc_layer_check *lc, const cf_states *st, tc_error *err)
{
    cf_states_restore(lc, st);
    return tc_layer_check_forward(lc, err);
}

/* One determinism run: the instances, the copies they are compared with. */
typedef struct det_run {
    cf_subject *s;
    char where[300];
    tc_error err;
    tc_layer_check a, b;
    int made_b;
    float *in0[TC_LAYER_CHECK_MAX_INPUTS], *w0[TC_MAX_WEIGHTS];
    float *out1, *r0, *out_train;
    cf_grads g1;
    cf_states st0;
} det_run;

#define DET "determinism"

/* The failure of a harness call (d->err) or of an allocation; returns 1. */
static int det_error(det_run *d)
{
    cf_fail(d->s, DET, "%s (%s)", d->err.msg, d->where);
    return 1;
}

static int det_oom(det_run *d)
{
    cf_fail(d->s, DET, "out of memory (%s)", d->where);
    return 1;
}

/* 1 (reported) when a call (`call`: "forward", "backward") changed an input
 * or a weight. */
static int det_touched(det_run *d, const char *in_what, const char *w_what, const char *where)
{
    tc_layer_check *a = &d->a;
    char nm[96];
    for (int i = 0; i < a->n_inputs; i++) {
        int64_t at = cf_first_diff(&a->inputs[i], d->in0[i]);
        if (at >= 0) {
            snprintf(nm, sizeof nm, "input %d", i);
            cf_diff_fail(d->s, DET, in_what, nm, &a->inputs[i], d->in0[i], at, where);
            return 1;
        }
    }
    for (int i = 0; i < a->plan.n_weights; i++) {
        int64_t at = cf_first_diff(&a->weights[i], d->w0[i]);
        if (at >= 0) {
            cf_diff_fail(d->s, DET, w_what, a->plan.weights[i].name, &a->weights[i], d->w0[i],
                         at, where);
            return 1;
        }
    }
    return 0;
}

/* Instance a, filled from seed, and copies of what no call may change. */
static int det_setup(det_run *d, const cf_config *cfg, int64_t batch, uint64_t seed)
{
    tc_layer_check *a = &d->a;
    if (cf_make(a, d->s, cfg, batch, 1, &d->err))
        return det_error(d);
    tc_layer_check_fill(a, seed, 0);
    int oom = 0;
    for (int i = 0; i < a->n_inputs; i++)
        oom |= !(d->in0[i] = cf_copy(&a->inputs[i]));
    for (int i = 0; i < a->plan.n_weights; i++)
        oom |= !(d->w0[i] = cf_copy(&a->weights[i]));
    oom |= !(d->r0 = cf_copy(&a->grad_output));
    oom |= cf_states_copy(a, &d->st0);
    return oom ? det_oom(d) : 0;
}

/* Training, then inference: forward leaves inputs and weights alone and
 * repeats its output; keeps the training output in out_train. */
static int det_forwards(det_run *d)
{
    tc_layer_check *a = &d->a;
    for (int training = 1; training >= 0; training--) {
        const char *mode = training ? "training" : "inference";
        a->training = training;
        if (forward_from(a, &d->st0, &d->err))
            return det_error(d);
        free(d->out1);
        if (!(d->out1 = cf_copy(&a->output)))
            return det_oom(d);
        if (det_touched(d, "forward modified its input", "forward modified a weight", mode))
            return 1;
        if (forward_from(a, &d->st0, &d->err))
            return det_error(d);
        int64_t at = cf_first_diff(&a->output, d->out1);
        if (at >= 0) {
            char w2[400];
            snprintf(w2, sizeof w2, "%s, %s", mode, d->where);
            cf_diff_fail(d->s, DET, "a second forward on the same inputs gave another output",
                         "output", &a->output, d->out1, at, w2);
            return 1;
        }
        if (training && !(d->out_train = cf_copy(&a->output)))
            return det_oom(d);
    }
    return 0;
}

/* Backward after a training forward: it leaves the output gradient, the
 * output, inputs and weights alone, and repeats its gradients (kept in g1). */
static int det_backward(det_run *d)
{
    tc_layer_check *a = &d->a;
    const tc_tensor *t;
    const float *ref;
    char nm[96];
    a->training = 1;
    if (forward_from(a, &d->st0, &d->err) || tc_layer_check_backward(a, &d->err))
        return det_error(d);
    if (cf_grads_copy(a, &d->g1))
        return det_oom(d);
    int64_t at = cf_first_diff(&a->grad_output, d->r0);
    if (at >= 0) {
        cf_diff_fail(d->s, DET, "backward modified the output gradient it was given",
                     "d(output)", &a->grad_output, d->r0, at, d->where);
        return 1;
    }
    if ((at = cf_first_diff(&a->output, d->out_train)) >= 0) {
        cf_diff_fail(d->s, DET, "backward modified the forward output", "output", &a->output,
                     d->out_train, at, d->where);
        return 1;
    }
    if (det_touched(d, "backward modified an input", "backward modified a weight", d->where))
        return 1;
    if (forward_from(a, &d->st0, &d->err) || tc_layer_check_backward(a, &d->err))
        return det_error(d);
    if (cf_grads_differ(a, &d->g1, nm, sizeof nm, &t, &ref, &at)) {
        cf_diff_fail(d->s, DET, "a second forward + backward gave another gradient", nm, t, ref,
                     at, d->where);
        return 1;
    }
    return 0;
}

/* A second instance with the same inputs, weights and stream agrees. */
static int det_second_instance(det_run *d, const cf_config *cfg, int64_t batch, uint64_t seed)
{
    tc_layer_check *b = &d->b;
    const tc_tensor *t;
    const float *ref;
    char nm[96];
    int64_t at;
    d->made_b = 1;
    if (cf_make(b, d->s, cfg, batch, 1, &d->err))
        return det_error(d);
    tc_layer_check_fill(b, seed, 0);
    if (forward_from(b, &d->st0, &d->err) || tc_layer_check_backward(b, &d->err))
        return det_error(d);
    if ((at = cf_first_diff(&b->output, d->out_train)) >= 0) {
        cf_diff_fail(d->s, DET, "a second instance gave another output", "output", &b->output,
                     d->out_train, at, d->where);
        return 1;
    }
    if (cf_grads_differ(b, &d->g1, nm, sizeof nm, &t, &ref, &at))
        cf_diff_fail(d->s, DET, "a second instance gave another gradient", nm, t, ref, at,
                     d->where);
    return 0;
}

static void det_free(det_run *d)
{
    for (int i = 0; i < TC_LAYER_CHECK_MAX_INPUTS; i++)
        free(d->in0[i]);
    for (int i = 0; i < TC_MAX_WEIGHTS; i++)
        free(d->w0[i]);
    free(d->out1);
    free(d->out_train);
    free(d->r0);
    cf_grads_free(&d->g1);
    cf_states_free(&d->st0);
    tc_layer_check_free(&d->a);
    if (d->made_b)
        tc_layer_check_free(&d->b);
}

/* The phases stop at the first difference, which they report. */
static void determinism_one(cf_subject *s, const cf_config *cfg, int64_t batch, uint64_t seed)
{
    static det_run zero;
    det_run *d = malloc(sizeof *d);
    char sh[200];
    if (!d) {
        cf_fail(s, DET, "out of memory");
        return;
    }
    *d = zero;
    d->s = s;
    snprintf(d->where, sizeof d->where, "inputs %s, seed %llu",
             cf_shapes_str(cfg, batch, sh, sizeof sh), (unsigned long long)seed);
    if (!det_setup(d, cfg, batch, seed) && !det_forwards(d) && !det_backward(d))
        det_second_instance(d, cfg, batch, seed);
    det_free(d);
    free(d);
}

void cf_check_determinism(cf_subject *s)
{
    if (cf_not_usable(s, "determinism"))
        return;
    determinism_one(s, &s->configs[0], 3, 11);
    if (s->n_configs > 1)
        determinism_one(s, &s->configs[s->n_configs - 1], 1, 12);
    cf_done(s, s->n_configs > 1 ? 2 : 1);
    printf("\n    forward (training and inference) repeatable, inputs and weights untouched; "
           "backward repeatable, output gradient, output, inputs and weights untouched; a "
           "second instance agrees bit for bit");
}

/* ---- two instances on two threads ---------------------------------------- */

typedef struct worker {
    tc_layer_check *lc;
    const float *ref_out; /* this instance's results when run alone */
    const cf_grads *ref;
    int rounds;
    pthread_barrier_t *start;
    int failed;
    char msg[1024];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    tc_error err = {{0}};
    pthread_barrier_wait(w->start);
    for (int r = 0; r < w->rounds && !w->failed; r++) {
        if (tc_layer_check_forward(w->lc, &err) || tc_layer_check_backward(w->lc, &err)) {
            snprintf(w->msg, sizeof w->msg, "%s", err.msg);
            w->failed = 1;
            break;
        }
        int64_t at = cf_first_diff(&w->lc->output, w->ref_out);
        char nm[96];
        const tc_tensor *t = &w->lc->output;
        const float *ref = w->ref_out;
        if (at >= 0)
            snprintf(nm, sizeof nm, "output");
        else if (!cf_grads_differ(w->lc, w->ref, nm, sizeof nm, &t, &ref, &at))
            continue;
        snprintf(w->msg, sizeof w->msg, "round %d: %s[%lld] is %.9g, alone it is %.9g", r, nm,
                 (long long)at, (double)t->data[at], (double)ref[at]);
        w->failed = 1;
    }
    return NULL;
}

/* Runs two instances at once for about CF_THREAD_SECONDS (at least 10
 * rounds each): long enough that the threads truly overlap, whatever the
 * delay in starting them. Returns the rounds each ran. */
static int threads_one(cf_subject *s, const cf_config *cfg, int64_t batch)
{
    const char *C = "two threads";
    char where[300], sh[200];
    snprintf(where, sizeof where, "inputs %s", cf_shapes_str(cfg, batch, sh, sizeof sh));
    tc_error err = {{0}};
    tc_layer_check lc[2];
    int rounds = 0;
    cf_grads ref[2];
    memset(ref, 0, sizeof ref);
    float *ref_out[2] = {NULL, NULL};
    int made = 0;
    for (; made < 2; made++)
        if (cf_make(&lc[made], s, cfg, batch, 2, &err)) {
            cf_fail(s, C, "%s (%s)", err.msg, where);
            tc_layer_check_free(&lc[made]);
            goto out;
        }
    /* different inputs and weights, so that state the two share (a static
     * buffer, say) shows up as wrong results rather than as identical writes;
     * the reference of each is its own results when run alone */
    double t0 = tc_monotonic_seconds();
    for (int i = 0; i < 2; i++) {
        tc_layer_check_fill(&lc[i], 21 + (uint64_t)i, 0);
        if (tc_layer_check_forward(&lc[i], &err) || tc_layer_check_backward(&lc[i], &err)) {
            cf_fail(s, C, "%s (%s)", err.msg, where);
            goto out;
        }
        if (!(ref_out[i] = cf_copy(&lc[i].output)) || cf_grads_copy(&lc[i], &ref[i])) {
            cf_fail(s, C, "out of memory");
            goto out;
        }
    }
    double one = (tc_monotonic_seconds() - t0) / 2 + 1e-7;
    rounds = one * 10 >= CF_THREAD_SECONDS ? 10 : (int)(CF_THREAD_SECONDS / one);
    if (rounds > 100000)
        rounds = 100000;
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, 2) != 0) {
        cf_fail(s, C, "could not create a thread barrier");
        goto out;
    }
    worker w[2];
    pthread_t th[2];
    int started = 0;
    for (int i = 0; i < 2; i++) {
        w[i] = (worker){.lc = &lc[i], .ref_out = ref_out[i], .ref = &ref[i], .rounds = rounds,
                        .start = &start};
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    if (started < 2) {
        /* release the one waiting at the barrier */
        if (started == 1) {
            pthread_barrier_wait(&start);
            pthread_join(th[0], NULL);
        }
        cf_fail(s, C, "could not start two threads");
    } else {
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < 2; i++)
            if (w[i].failed)
                cf_fail(s, C, "instance %d, used while another ran on a second thread: %s (%s)",
                        i + 1, w[i].msg, where);
    }
    pthread_barrier_destroy(&start);
out:
    for (int i = 0; i < 2; i++) {
        free(ref_out[i]);
        cf_grads_free(&ref[i]);
    }
    for (int i = 0; i < made; i++)
        tc_layer_check_free(&lc[i]);
    return rounds;
}

void cf_check_threads(cf_subject *s)
{
    if (cf_not_usable(s, "two threads"))
        return;
    const cf_config *cfg = &s->configs[0];
    /* a small batch, then one large enough that elementwise loops go to the
     * worker threads (about 40,000 input elements) */
    int64_t per = tc_shape_count(&cfg->sample[0]);
    int64_t big = per > 0 ? (40000 + per - 1) / per : 3;
    if (big < 4)
        big = 4;
    if (big > 4096)
        big = 4096;
    int r_small = threads_one(s, cfg, 3);
    int r_big = threads_one(s, cfg, big);
    cf_done(s, 2);
    printf("\n    two instances (different inputs and weights) forward + backward on two "
           "threads at once, %d rounds at batch 3 and %d at batch %lld: each bit-identical to "
           "itself alone", r_small, r_big, (long long)big);
}

/* ---- checkpoint round trip ------------------------------------------------ */

/* Training forwards before the save, so that state (running statistics)
 * has moved away from its initial value and anything a layer keeps outside
 * its declared state tensors has moved with it. */
#define CF_SAVE_WARMUP 3

/* The tensors a checkpoint of one node holds: its weights and its state,
 * as the graph names them ("layer.<name>"). */
static int ckpt_add_all(tc_checkpoint *out, const tc_layer_check *a, tc_error *err)
{
    char name[200];
    for (int i = 0; i < a->plan.n_weights; i++) {
        snprintf(name, sizeof name, "layer.%s", a->plan.weights[i].name);
        if (tc_checkpoint_add(out, name, &a->weights[i].shape, a->weights[i].data, err))
            return 1;
    }
    for (int i = 0; i < a->plan.n_state; i++) {
        snprintf(name, sizeof name, "layer.%s", a->plan.state[i].name);
        if (tc_checkpoint_add(out, name, &a->state[i].shape, a->state[i].data, err))
            return 1;
    }
    return 0;
}

/* Copies the checkpoint tensor `name` into t; 0 on success, else a failure
 * of the check is recorded. */
static int ckpt_take(const cf_subject *s, const tc_checkpoint *in, const char *what,
                     const char *name, tc_tensor *t)
{
    char full[200], s1[160], s2[160];
    snprintf(full, sizeof full, "layer.%s", name);
    const tc_named_tensor *n = tc_checkpoint_find(in, full);
    if (!n) {
        cf_fail(s, "save/load", "%s %s is missing from the checkpoint", what, name);
        return 1;
    }
    if (tc_shape_count(&n->shape) != cf_count(t) || n->shape.ndim != t->shape.ndim) {
        cf_fail(s, "save/load", "%s %s comes back as %s, planned %s", what, name,
                tc_shape_format(&n->shape, s1, sizeof s1),
                tc_shape_format(&t->shape, s2, sizeof s2));
        return 1;
    }
    memcpy(t->data, n->data, sizeof(float) * (size_t)cf_count(t));
    return 0;
}

/* Loads every weight and state tensor of b from the checkpoint. */
static int ckpt_load_all(const cf_subject *s, const tc_checkpoint *in, tc_layer_check *b)
{
    if (in->n_tensors != (size_t)(b->plan.n_weights + b->plan.n_state)) {
        cf_fail(s, "save/load", "the checkpoint holds %zu tensors for %d weights and %d state "
                                "tensors", in->n_tensors, b->plan.n_weights, b->plan.n_state);
        return 1;
    }
    for (int i = 0; i < b->plan.n_weights; i++)
        if (ckpt_take(s, in, "weight", b->plan.weights[i].name, &b->weights[i]))
            return 1;
    for (int i = 0; i < b->plan.n_state; i++)
        if (ckpt_take(s, in, "state", b->plan.state[i].name, &b->state[i]))
            return 1;
    return 0;
}

/* A's training forwards on other inputs, then A's final inputs/weights. */
static int warm_up(tc_layer_check *a, tc_error *err)
{
    a->training = 1;
    for (int k = 0; k < CF_SAVE_WARMUP; k++) {
        tc_layer_check_fill(a, 40 + (uint64_t)k, 0);
        if (tc_layer_check_forward(a, err))
            return 1;
    }
    tc_layer_check_fill(a, 31, 0); /* fill leaves state alone */
    return 0;
}

static const char *why_hidden =
    "what a layer keeps outside its weights and declared state tensors (in its instance) "
    "is lost by a checkpoint; declare it as state in plan()";

/* Inference, then training forward, then backward on both: identical. */
static void compare_ab(cf_subject *s, tc_layer_check *a, tc_layer_check *b, const char *where)
{
    const char *C = "save/load";
    tc_error err = {{0}};
    char w2[600], nm[96];
    int64_t at;
    for (int training = 0; training <= 1; training++) {
        a->training = b->training = training;
        if (tc_layer_check_forward(a, &err) || tc_layer_check_forward(b, &err)) {
            cf_fail(s, C, "%s (%s)", err.msg, where);
            return;
        }
        if ((at = cf_first_diff(&b->output, a->output.data)) >= 0) {
            snprintf(w2, sizeof w2, "%s forward, %s; %s", training ? "training" : "inference",
                     where, why_hidden);
            cf_diff_fail(s, C, "after loading the saved weights and state into a new instance",
                         "output", &b->output, a->output.data, at, w2);
            return;
        }
    }
    cf_states sa;
    if (cf_states_copy(a, &sa) == 0) {
        int k = cf_states_differ(b, &sa, &at);
        if (k >= 0) {
            snprintf(w2, sizeof w2, "after a training forward, %s; %s", where, why_hidden);
            cf_diff_fail(s, C, "after loading the saved weights and state into a new instance",
                         b->plan.state[k].name, &b->state[k], sa.v[k], at, w2);
        }
    }
    cf_states_free(&sa);
    cf_grads ga;
    if (tc_layer_check_backward(a, &err) || tc_layer_check_backward(b, &err)) {
        cf_fail(s, C, "%s (%s)", err.msg, where);
        return;
    }
    if (cf_grads_copy(a, &ga)) {
        cf_fail(s, C, "out of memory");
    } else {
        const tc_tensor *t;
        const float *ref;
        if (cf_grads_differ(b, &ga, nm, sizeof nm, &t, &ref, &at))
            cf_diff_fail(s, C, "after loading the saved weights and state into a new instance",
                         nm, t, ref, at, where);
    }
    cf_grads_free(&ga);
}

void cf_check_save_load(cf_subject *s)
{
    const char *C = "save/load";
    if (cf_not_usable(s, C))
        return;
    static int file_no;
    const cf_config *cfg = &s->configs[0];
    const int64_t batch = 3;
    char path[1024], where[300], sh[200];
    snprintf(path, sizeof path, "%s/layer-%d.ckpt", cf_tmpdir, file_no++);
    snprintf(where, sizeof where, "inputs %s, after %d training forwards", 
             cf_shapes_str(cfg, batch, sh, sizeof sh), CF_SAVE_WARMUP);
    tc_error err = {{0}};
    tc_layer_check a, b;
    tc_checkpoint out = {0}, in = {0};
    memset(&b, 0, sizeof b);
    if (cf_make(&a, s, cfg, batch, 1, &err) || warm_up(&a, &err) ||
        ckpt_add_all(&out, &a, &err) || tc_checkpoint_write(path, &out, &err) ||
        tc_checkpoint_read(path, &in, &err) || cf_make(&b, s, cfg, batch, 1, &err)) {
        cf_fail(s, C, "%s (%s)", err.msg, where);
        goto out;
    }
    tc_layer_check_fill(&b, 32, 0); /* other weights, overwritten by the load */
    for (int i = 0; i < a.n_inputs; i++)
        memcpy(b.inputs[i].data, a.inputs[i].data, sizeof(float) * (size_t)cf_count(&a.inputs[i]));
    memcpy(b.grad_output.data, a.grad_output.data,
           sizeof(float) * (size_t)cf_count(&a.grad_output));
    b.rng_start = a.rng_start;
    if (ckpt_load_all(s, &in, &b))
        goto out;
    compare_ab(s, &a, &b, where);
    cf_done(s, 1);
    printf("\n    after %d training forwards, %d weight and %d state tensors written to a "
           "checkpoint file and read into a new instance: inference and training outputs, "
           "state after training and gradients bit-identical",
           CF_SAVE_WARMUP, a.plan.n_weights, a.plan.n_state);
out:
    remove(path);
    tc_checkpoint_free(&out);
    tc_checkpoint_free(&in);
    tc_layer_check_free(&a);
    tc_layer_check_free(&b);
}
