/* Finding a working configuration of a layer type from its declarations
 * alone, and the shape helpers the checks share. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conformance.h"

/* Per-sample input shapes tried, in order: images [C,H,W] of odd and uneven
 * sizes (big enough for a 3x3 window, small enough for quick gradient
 * checks), feature vectors [F], sequences [T,F] and a 4-D sample. */
static const tc_shape candidates[] = {
    {.ndim = 3, .dims = {2, 7, 7}},
    {.ndim = 3, .dims = {3, 5, 6}},
    {.ndim = 1, .dims = {7}},
    {.ndim = 1, .dims = {4}},
    {.ndim = 2, .dims = {3, 5}},
    {.ndim = 4, .dims = {2, 3, 4, 3}},
};
#define N_CANDIDATES (int)(sizeof candidates / sizeof candidates[0])

/* Sample values for required parameters, tried in turn until some shape
 * plans: small, so that windows fit the candidate shapes. */
static const double samples[] = {3, 2, 1};

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

const char *cf_shapes_str(const cf_config *cfg, int64_t batch, char *buf, size_t cap)
{
    tc_shape sh[TC_LAYER_CHECK_MAX_INPUTS];
    char one[160];
    size_t len = 0;
    buf[0] = 0;
    cf_batched(cfg, batch, sh);
    for (int i = 0; i < cfg->n_inputs && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " + " : "",
                                tc_shape_format(&sh[i], one, sizeof one));
    return buf;
}

void cf_batched(const cf_config *cfg, int64_t batch, tc_shape *out)
{
    for (int i = 0; i < cfg->n_inputs; i++) {
        const tc_shape *s = &cfg->sample[i];
        memset(&out[i], 0, sizeof out[i]);
        out[i].ndim = s->ndim + 1;
        out[i].dims[0] = batch;
        for (int d = 0; d < s->ndim && d + 1 < TC_MAX_DIMS; d++)
            out[i].dims[d + 1] = s->dims[d];
    }
}

int cf_make(tc_layer_check *lc, const cf_subject *s, const cf_config *cfg, int64_t batch,
            int n_threads, tc_error *err)
{
    tc_shape sh[TC_LAYER_CHECK_MAX_INPUTS];
    cf_batched(cfg, batch, sh);
    return tc_layer_check_create(lc, s->type, cfg->values, sh, cfg->n_inputs, n_threads, err);
}

int cf_sample_elements(const cf_subject *s, const cf_config *cfg, int with_inputs,
                       int64_t *per)
{
    tc_layer_check lc;
    tc_error err = {{0}};
    int rc = cf_make(&lc, s, cfg, 1, 1, &err);
    if (rc == 0) {
        *per = cf_count(&lc.output);
        for (int i = 0; with_inputs && i < lc.n_inputs; i++)
            *per += cf_count(&lc.inputs[i]);
    }
    tc_layer_check_free(&lc);
    return rc;
}

int cf_make_filled(tc_layer_check *lc, const cf_subject *s, const char *check,
                   const cf_config *cfg, int64_t batch, uint64_t seed, char *where, size_t cap)
{
    char sh[200];
    tc_error err = {{0}};
    snprintf(where, cap, "inputs %s", cf_shapes_str(cfg, batch, sh, sizeof sh));
    if (cf_make(lc, s, cfg, batch, 1, &err)) {
        cf_fail(s, check, "%s (%s)", err.msg, where);
        tc_layer_check_free(lc);
        return 1;
    }
    tc_layer_check_fill(lc, seed, 0);
    return 0;
}

const char *cf_grad_tensor_name(const tc_layer_check *lc, int k, char *buf, size_t cap)
{
    int n_in = 0;
    for (int i = 0; i < lc->n_inputs; i++) {
        if (!lc->needs_grad[i] || lc->is_label[i])
            continue;
        if (n_in++ == k) {
            snprintf(buf, cap, "input %d", i);
            return buf;
        }
    }
    k -= n_in;
    if (k >= 0 && k < lc->plan.n_weights)
        snprintf(buf, cap, "%s", lc->plan.weights[k].name);
    else
        snprintf(buf, cap, "tensor %d", k + n_in);
    return buf;
}

/* Does the type plan (and get its buffers) for cfg at batch 3? */
static int works(cf_subject *s, const cf_config *cfg, tc_error *err)
{
    tc_layer_check lc;
    int rc = cf_make(&lc, s, cfg, 3, 1, err);
    tc_layer_check_free(&lc);
    return rc == 0;
}

/* ---- test hints ------------------------------------------------------------ */

int cf_no_hints;

const tc_test_hints *cf_hints(const tc_layer_type *t)
{
    if (cf_no_hints || t->struct_size < offsetof(tc_layer_type, test_hints) +
                                            sizeof t->test_hints)
        return NULL;
    return t->test_hints;
}

static int param_index(const tc_layer_type *t, const char *name)
{
    for (int p = 0; name && p < t->n_params; p++)
        if (t->params[p].name && strcmp(t->params[p].name, name) == 0)
            return p;
    return -1;
}

/* One hint case: inputs within the type's range, sane shapes, known
 * parameters with valid values. */
static int case_valid(const tc_layer_type *t, const tc_test_case *c, int k, char *why,
                      size_t cap)
{
    if (c->n_inputs < t->min_inputs || c->n_inputs > t->max_inputs ||
        c->n_inputs > TC_TEST_MAX_INPUTS || c->n_inputs < 1) {
        snprintf(why, cap, "test hint case %d has %d inputs; the type takes %d..%d (at most %d "
                           "in a hint)", k, c->n_inputs, t->min_inputs, t->max_inputs,
                 TC_TEST_MAX_INPUTS);
        return 1;
    }
    for (int i = 0; i < c->n_inputs; i++) {
        const tc_shape *sh = &c->inputs[i];
        int ok = sh->ndim >= 1 && sh->ndim <= TC_MAX_DIMS;
        for (int d = 0; ok && d < sh->ndim; d++)
            ok = sh->dims[d] >= 1 && sh->dims[d] <= (1 << 20);
        if (!ok) {
            snprintf(why, cap, "test hint case %d: input %d has a malformed shape (ndim %d; "
                               "dims must be 1..2^20, the batch first)", k, i, sh->ndim);
            return 1;
        }
    }
    if (c->n_params < 0 || c->n_params > TC_TEST_MAX_PARAMS) {
        snprintf(why, cap, "test hint case %d sets %d parameters (0..%d)", k, c->n_params,
                 TC_TEST_MAX_PARAMS);
        return 1;
    }
    for (int j = 0; j < c->n_params; j++) {
        int p = param_index(t, c->params[j].name);
        if (p < 0) {
            snprintf(why, cap, "test hint case %d sets the undeclared parameter '%s'", k,
                     c->params[j].name ? c->params[j].name : "(null)");
            return 1;
        }
        const tc_param_desc *d = &t->params[p];
        double v = c->params[j].value;
        if (!(v >= d->min_value && v <= d->max_value) ||
            (d->type != TC_VALUE_FLOAT && v != floor(v))) {
            snprintf(why, cap, "test hint case %d sets %s = %g, not a valid value (range "
                               "[%g, %g]%s)", k, d->name, v, d->min_value, d->max_value,
                     d->type != TC_VALUE_FLOAT ? ", integral" : "");
            return 1;
        }
    }
    return 0;
}

int cf_hints_valid(const tc_layer_type *t, char *why, size_t cap)
{
    const tc_test_hints *h = cf_hints(t);
    if (!h)
        return 0;
    if (h->struct_size < offsetof(tc_test_hints, reserved)) {
        snprintf(why, cap, "test_hints.struct_size %u is below the %u bytes of ABI 2's "
                           "tc_test_hints", h->struct_size,
                 (unsigned)offsetof(tc_test_hints, reserved));
        return 1;
    }
    if (h->n_cases < 0 || (h->n_cases > 0 && !h->cases)) {
        snprintf(why, cap, "test_hints: %d cases %s", h->n_cases,
                 h->n_cases < 0 ? "(negative)" : "but no table");
        return 1;
    }
    if (!(h->grad_tolerance >= 0 && h->grad_tolerance <= 0.5) ||
        !(h->grad_step >= 0 && h->grad_step <= 1)) {
        snprintf(why, cap, "test_hints: grad_tolerance %g (0 or up to 0.5) or grad_step %g (0 "
                           "or up to 1) out of range", h->grad_tolerance, h->grad_step);
        return 1;
    }
    for (int k = 0; k < h->n_cases; k++)
        if (case_valid(t, &h->cases[k], k, why, cap))
            return 1;
    return 0;
}

/* Parameters of hint case c: defaults, required ones at a small sample
 * value, then the case's own. */
static void case_values(const tc_layer_type *t, const tc_test_case *c, double *values)
{
    tc_layer_check_defaults(t, values);
    for (int p = 0; p < t->n_params; p++) {
        const tc_param_desc *d = &t->params[p];
        if (d->required)
            values[p] = d->type == TC_VALUE_BOOL ? 1.0 : clampd(d->type == TC_VALUE_FLOAT
                                                                   ? 0.75 : 3,
                                                               d->min_value, d->max_value);
    }
    for (int j = 0; j < c->n_params; j++)
        values[param_index(t, c->params[j].name)] = c->params[j].value;
}

/* The configurations from the type's test hints (validated already). */
static void probe_hints(cf_subject *s, const tc_test_hints *h)
{
    const tc_layer_type *t = s->type;
    size_t el = 0;
    s->hint_errors[0] = 0;
    snprintf(s->why, sizeof s->why, "none of the %d test hint cases plans", h->n_cases);
    for (int k = 0; k < h->n_cases && s->n_configs < CF_MAX_CONFIGS - 1; k++) {
        const tc_test_case *c = &h->cases[k];
        cf_config cfg = {.n_inputs = c->n_inputs};
        for (int i = 0; i < c->n_inputs; i++) {
            cfg.sample[i].ndim = c->inputs[i].ndim - 1; /* the suite sets the batch */
            for (int d = 1; d < c->inputs[i].ndim; d++)
                cfg.sample[i].dims[d - 1] = c->inputs[i].dims[d];
        }
        case_values(t, c, cfg.values);
        tc_error err = {{0}};
        char sh[200];
        if (works(s, &cfg, &err)) {
            s->configs[s->n_configs++] = cfg;
        } else if (el < sizeof s->hint_errors) {
            el += (size_t)snprintf(s->hint_errors + el, sizeof s->hint_errors - el,
                                   "%stest hint case %d (inputs %s) does not plan: %.*s",
                                   el ? "; " : "", k, cf_shapes_str(&cfg, 1, sh, sizeof sh),
                                   (int)(sizeof s->hint_errors / 2), err.msg);
        }
    }
}

/* ---- probing ---------------------------------------------------------------- */

/* The suite's own shapes and sample values of required parameters. */
static void probe_candidates(cf_subject *s, int n_in)
{
    const tc_layer_type *t = s->type;
    int is_loss = (t->flags & TC_LAYER_LOSS) != 0;
    tc_error err = {{0}};
    snprintf(s->why, sizeof s->why, "no candidate input shape was accepted");
    for (size_t v = 0; v < sizeof samples / sizeof samples[0] && s->n_configs == 0; v++) {
        double values[TC_LAYER_CHECK_MAX_PARAMS];
        tc_layer_check_defaults(t, values);
        for (int p = 0; p < t->n_params; p++) {
            const tc_param_desc *d = &t->params[p];
            if (!d->required)
                continue;
            double x = d->type == TC_VALUE_FLOAT ? samples[v] / 4.0
                       : d->type == TC_VALUE_BOOL ? 1.0
                                                  : samples[v];
            values[p] = clampd(x, d->min_value, d->max_value);
        }
        for (int c = 0; c < N_CANDIDATES && s->n_configs < CF_MAX_CONFIGS - 1; c++) {
            cf_config cfg = {.n_inputs = n_in};
            memcpy(cfg.values, values, sizeof values);
            for (int i = 0; i < n_in; i++)
                cfg.sample[i] = candidates[c];
            if (is_loss) /* inputs 0 and 1 are [logits, label] */
                memset(&cfg.sample[1], 0, sizeof cfg.sample[1]);
            err.msg[0] = 0;
            if (works(s, &cfg, &err))
                s->configs[s->n_configs++] = cfg;
            else if (err.msg[0])
                /* The precision keeps the whole line within why[] (and
                 * gcc's truncation warning quiet at every -O level). */
                snprintf(s->why, sizeof s->why, "no candidate input shape was accepted; the "
                                                "last refusal: %.*s",
                         (int)sizeof s->why - 64, err.msg);
        }
    }
}

void cf_probe(cf_subject *s)
{
    const tc_layer_type *t = s->type;
    if (s->probed)
        return;
    s->probed = 1;
    s->usable = 0;
    /* what later checks report should this probe's child not come back */
    snprintf(s->why, sizeof s->why, "probing it did not finish");
    s->n_configs = 0;
    s->grad_step = TC_GRADCHECK_STEP;
    s->grad_tolerance = TC_GRADCHECK_TOLERANCE;
    if (t->n_params < 0 || t->n_params > TC_LAYER_CHECK_MAX_PARAMS) {
        snprintf(s->why, sizeof s->why, "%d parameters declared (the suite handles 0..%d)",
                 t->n_params, TC_LAYER_CHECK_MAX_PARAMS);
        return;
    }
    int is_loss = (t->flags & TC_LAYER_LOSS) != 0;
    int n_in = t->min_inputs < 1 ? 1 : t->min_inputs;
    if (is_loss && n_in < 2)
        n_in = 2;
    if (n_in > TC_LAYER_CHECK_MAX_INPUTS) {
        snprintf(s->why, sizeof s->why, "needs %d inputs (the suite handles up to %d)", n_in,
                 TC_LAYER_CHECK_MAX_INPUTS);
        return;
    }
    const tc_test_hints *h = cf_hints(t);
    char why[TC_ERROR_CAP];
    if (h && cf_hints_valid(t, why, sizeof why)) {
        snprintf(s->why, sizeof s->why, "%s", why);
        return;
    }
    if (h && h->grad_step > 0)
        s->grad_step = h->grad_step;
    if (h && h->grad_tolerance > 0)
        s->grad_tolerance = h->grad_tolerance;
    s->from_hints = h && h->n_cases > 0;
    if (s->from_hints)
        probe_hints(s, h);
    else
        probe_candidates(s, n_in);
    if (s->n_configs == 0)
        return;
    memcpy(s->values, s->configs[0].values, sizeof s->values);
    /* one more input than the first configuration, where the type takes it
     * (e.g. Add) and the hints did not choose the inputs */
    n_in = s->configs[0].n_inputs;
    if (!s->from_hints && !is_loss && t->max_inputs > n_in && n_in < TC_LAYER_CHECK_MAX_INPUTS) {
        cf_config cfg = s->configs[0];
        tc_error err = {{0}};
        cfg.sample[cfg.n_inputs] = cfg.sample[0];
        cfg.n_inputs++;
        if (works(s, &cfg, &err))
            s->configs[s->n_configs++] = cfg;
    }
    s->why[0] = 0;
    s->usable = 1;
}
