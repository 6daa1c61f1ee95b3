/* Finding a working configuration of a layer type from its declarations
 * alone, and the shape helpers the checks share. */
#include <math.h>
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

const char *cf_shape_str(const tc_shape *s, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->ndim && i < TC_MAX_DIMS && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%lld" : "%lld",
                                (long long)s->dims[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
    return buf;
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
                                cf_shape_str(&sh[i], one, sizeof one));
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
    return tc_layer_check_create(lc, s->type, s->values, sh, cfg->n_inputs, n_threads, err);
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

void cf_probe(cf_subject *s)
{
    const tc_layer_type *t = s->type;
    if (s->probed)
        return;
    s->probed = 1;
    s->usable = 0;
    s->n_configs = 0;
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
    tc_error err = {{0}};
    snprintf(s->why, sizeof s->why, "no candidate input shape was accepted");
    for (size_t v = 0; v < sizeof samples / sizeof samples[0] && s->n_configs == 0; v++) {
        tc_layer_check_defaults(t, s->values);
        for (int p = 0; p < t->n_params; p++) {
            const tc_param_desc *d = &t->params[p];
            if (!d->required)
                continue;
            double x = d->type == TC_VALUE_FLOAT ? samples[v] / 4.0
                       : d->type == TC_VALUE_BOOL ? 1.0
                                                  : samples[v];
            s->values[p] = clampd(x, d->min_value, d->max_value);
        }
        for (int c = 0; c < N_CANDIDATES && s->n_configs < CF_MAX_CONFIGS - 1; c++) {
            cf_config cfg = {.n_inputs = n_in};
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
    if (s->n_configs == 0)
        return;
    /* one more input than the minimum, where the type takes it (e.g. Add) */
    if (!is_loss && t->max_inputs > n_in && n_in < TC_LAYER_CHECK_MAX_INPUTS) {
        cf_config cfg = s->configs[0];
        cfg.sample[cfg.n_inputs] = cfg.sample[0];
        cfg.n_inputs++;
        if (works(s, &cfg, &err))
            s->configs[s->n_configs++] = cfg;
    }
    s->usable = 1;
}
