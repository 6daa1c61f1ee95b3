/* The checks that go through a model file, the way a user meets a layer:
 * construction with default parameters, and refusal of bad parameters (each
 * tried in a child process, so that a crash is reported, not suffered). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "tinycnn/graph.h"
#include "tinycnn/status.h"


/* ---- the helper identity layer (y = x), to give a loss a logits node ---- */

static int id_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                   int n_threads, tc_plan *plan, tc_error *err)
{
    (void)host;
    (void)self;
    (void)n_threads;
    (void)err;
    (void)n_inputs;
    plan->output = in[0];
    return 0;
}

static int id_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    (void)self;
    (void)err;
    memcpy(x->output->data, x->inputs[0].data,
           sizeof(float) * (size_t)tc_shape_count(&x->inputs[0].shape));
    return 0;
}

static int id_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host;
    (void)self;
    (void)err;
    if (x->grad_inputs[0].data)
        memcpy(x->grad_inputs[0].data, x->grad_output->data,
               sizeof(float) * (size_t)tc_shape_count(&x->inputs[0].shape));
    return 0;
}

const tc_layer_type cf_identity_type = {
    .struct_size = sizeof(tc_layer_type),
    .abi_version = TC_PLUGIN_ABI_VERSION,
    .name = "ConformanceIdentity",
    .summary = "y = x (used by tinycnn-conformance to feed a loss)",
    .min_inputs = 1,
    .max_inputs = 1,
    .plan = id_plan,
    .forward = id_forward,
    .backward = id_backward,
};

/* ---- model text ---------------------------------------------------------- */

typedef struct text {
    char buf[8192];
    size_t len;
    int overflow;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    if (t->len >= sizeof t->buf) {
        t->overflow = 1;
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof t->buf - t->len)
        t->overflow = 1;
    t->len += n > 0 ? (size_t)n : 0;
}

static void add_string(text *t, const char *s)
{
    add(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            add(t, "\\%c", c);
        else if (c < 0x20)
            add(t, "\\u%04x", c);
        else
            add(t, "%c", c);
    }
    add(t, "\"");
}

static int is_label(const cf_subject *s, int i)
{
    return (s->type->flags & TC_LAYER_LOSS) && i == 1;
}

/* A parameter value as JSON. */
static void value_json(const tc_param_desc *d, double v, char *buf, size_t cap)
{
    if (d->type == TC_VALUE_BOOL)
        snprintf(buf, cap, "%s", v != 0 ? "true" : "false");
    else if (d->type == TC_VALUE_INT)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.17g", v);
}

/* Whether a model must spell out the value v of parameter d: required, or
 * set away from its default (by a test hint). */
static int given(const tc_param_desc *d, double v)
{
    return d->required || v != d->default_value;
}

/* The one-node model for cfg. params: the members of "params", or NULL for
 * cfg's parameter values (those that differ from the defaults). */
static int model_text(const cf_subject *s, const cf_config *cfg, const char *params, text *t)
{
    const tc_layer_type *ty = s->type;
    int loss = (ty->flags & TC_LAYER_LOSS) != 0;
    char req[2048];
    size_t rl = 0;
    req[0] = 0;
    if (!params) {
        for (int p = 0; p < ty->n_params && rl < sizeof req; p++) {
            char v[64];
            if (!given(&ty->params[p], cfg->values[p]))
                continue;
            value_json(&ty->params[p], cfg->values[p], v, sizeof v);
            rl += (size_t)snprintf(req + rl, sizeof req - rl, "%s\"%s\": %s", rl ? ", " : "",
                                   ty->params[p].name, v);
        }
        params = req;
    }
    t->len = 0;
    t->overflow = 0;
    t->buf[0] = 0;
    add(t, "{\"name\": \"conformance\", \"inputs\": [");
    for (int i = 0; i < cfg->n_inputs; i++) {
        add(t, "%s{\"name\": \"in%d\", \"shape\": [", i ? ", " : "", i);
        for (int d = 0; d < cfg->sample[i].ndim; d++)
            add(t, "%s%lld", d ? ", " : "", (long long)cfg->sample[i].dims[d]);
        add(t, "]%s}", is_label(s, i) ? ", \"role\": \"label\"" : "");
    }
    add(t, "], \"nodes\": [{\"name\": \"layer\", \"type\": ");
    add_string(t, ty->name);
    add(t, ", \"inputs\": [");
    for (int i = 0; i < cfg->n_inputs; i++)
        add(t, "%s\"in%d\"", i ? ", " : "", i);
    add(t, "], \"params\": {%s}}", params);
    if (loss)
        add(t, ", {\"name\": \"logits\", \"type\": \"%s\", \"inputs\": [\"in0\"]}], "
               "\"output\": \"logits\", \"loss\": \"layer\"}", cf_identity_type.name);
    else
        add(t, "], \"output\": \"layer\"}");
    return t->overflow;
}

/* ---- construction with default parameters -------------------------------- */

static int run_model(const cf_subject *s, const cf_config *cfg, tc_error *err)
{
    text t;
    int rc = 1;
    if (model_text(s, cfg, NULL, &t))
        return tc_error_set(err, "model text too long");
    tc_graph *g = tc_graph_load_string(cf_registry, t.buf, "one-node model", err);
    if (!g)
        return 1;
    int loss = (s->type->flags & TC_LAYER_LOSS) != 0;
    const int batch = 3;
    tc_graph_init_weights(g, 1);
    if (tc_graph_prepare(g, batch, loss, err))
        goto out;
    int64_t classes = cfg->sample[0].ndim ? cfg->sample[0].dims[cfg->sample[0].ndim - 1] : 1;
    for (int i = 0; i < cfg->n_inputs; i++) {
        float *x = tc_graph_input_data(g, i);
        int64_t n = batch * tc_shape_count(&cfg->sample[i]);
        for (int64_t k = 0; k < n; k++)
            x[k] = is_label(s, i) ? (float)(k % classes)
                                  : (float)((double)((k * 7919) % 199) / 99.0 - 1.0) + 0.003f;
    }
    if (tc_graph_forward(g, loss, 0, err))
        goto out;
    if (loss) {
        float l = tc_graph_loss(g);
        if (!isfinite(l)) {
            tc_error_set(err, "the loss is %g on finite inputs", (double)l);
            goto out;
        }
        if (tc_graph_backward(g, err))
            goto out;
    } else {
        const tc_tensor *y = tc_graph_output(g);
        int64_t n = tc_shape_count(&y->shape);
        for (int64_t k = 0; k < n; k++)
            if (!isfinite(y->data[k])) {
                tc_error_set(err, "output element %lld is %g on finite inputs", (long long)k,
                             (double)y->data[k]);
                goto out;
            }
    }
    rc = 0;
out:
    tc_graph_free(g);
    return rc;
}

void cf_check_defaults(cf_subject *s)
{
    const tc_layer_type *t = s->type;
    cf_probe(s);
    if (!s->usable) {
        cf_fail(s, "construction", "no working configuration with default parameters: %s%s%s%s",
                s->why, s->hint_errors[0] ? " (" : "", s->hint_errors,
                s->hint_errors[0] ? ")" : "");
        return;
    }
    char shapes[256], line[1024];
    if (s->from_hints)
        printf("\n    configurations from the type's test hints");
    for (int c = 0; c < s->n_configs; c++) {
        size_t len = 0;
        line[0] = 0;
        for (int p = 0; p < t->n_params && len < sizeof line; p++)
            if (given(&t->params[p], s->configs[c].values[p]))
                len += (size_t)snprintf(line + len, sizeof line - len, "%s%s=%g",
                                        len ? ", " : "", t->params[p].name,
                                        s->configs[c].values[p]);
        printf("\n    inputs %s: %s%s", cf_shapes_str(&s->configs[c], 1, shapes, sizeof shapes),
               len ? "parameters at their defaults but " : "every parameter at its default",
               line);
    }
    if (s->hint_errors[0])
        cf_fail(s, "construction", "%s", s->hint_errors);
    for (int c = 0; c < s->n_configs; c++) {
        tc_error err = {{0}};
        if (run_model(s, &s->configs[c], &err))
            cf_fail(s, "construction", "a one-node model with the parameters above and inputs "
                                       "%s fails: %s",
                    cf_shapes_str(&s->configs[c], 1, shapes, sizeof shapes), err.msg);
    }
    cf_done(s, s->n_configs + (s->hint_errors[0] != 0));
}

/* ---- bad parameters -------------------------------------------------------- */

typedef struct attempt {
    char what[160];    /* "kernel_size = \"3\"" */
    char params[2048]; /* members of "params" */
    int must_refuse;
} attempt;

/* Members of "params": every parameter the first configuration sets
 * (required ones, and those a test hint sets) except `skip`, then `extra`
 * (may be NULL). */
static void params_with(const cf_subject *s, int skip, const char *extra, char *buf, size_t cap)
{
    const tc_layer_type *t = s->type;
    size_t len = 0;
    buf[0] = 0;
    for (int p = 0; p < t->n_params && len < cap; p++) {
        char v[64];
        if (p == skip || !given(&t->params[p], s->values[p]))
            continue;
        value_json(&t->params[p], s->values[p], v, sizeof v);
        len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\": %s", len ? ", " : "",
                                t->params[p].name, v);
    }
    if (extra && len < cap)
        snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", extra);
}

typedef struct load_job {
    const char *what, *model;
} load_job;

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* In a child: loads the model, and sends "0" (accepted) or "1<message>". */
static void load_in_child(cf_subject *s, void *arg)
{
    const load_job *j = arg;
    tc_error err = {{0}};
    (void)s;
    cf_child_step("%s: loading the model", j->what);
    tc_graph *g = tc_graph_load_string(cf_registry, j->model, "model", &err);
    char out[TC_ERROR_CAP + 2];
    snprintf(out, sizeof out, "%c%s", g ? '0' : '1', g ? "" : err.msg);
    cf_child_result(out);
}

/* Runs one model load in a child. Returns 0 accepted, 1 refused (message
 * in msg), 2 crashed or hung (reported as a failure of "bad parameters"). */
static int try_in_child(cf_subject *s, const char *what, const char *model, char *msg,
                        size_t cap)
{
    load_job j = {what, model};
    if (cf_in_child_result(s, "bad parameters", load_in_child, &j, msg, cap))
        return 2;
    if (!msg[0]) {
        snprintf(msg, cap, "the child process sent no result");
        return 2;
    }
    int accepted = msg[0] == '0';
    memmove(msg, msg + 1, strlen(msg));
    return accepted ? 0 : 1;
}

static int add_attempt(attempt *a, int n, int cap, const cf_subject *s, int param,
                       const char *json_value, int must_refuse)
{
    if (n >= cap)
        return n;
    const tc_param_desc *d = param >= 0 ? &s->type->params[param] : NULL;
    char extra[256];
    attempt *x = &a[n];
    x->must_refuse = must_refuse;
    if (!d) { /* a parameter the type does not declare */
        snprintf(x->what, sizeof x->what, "unknown parameter \"no_such_parameter\"");
        params_with(s, -1, "\"no_such_parameter\": 1", x->params, sizeof x->params);
    } else if (!json_value) {
        snprintf(x->what, sizeof x->what, "%s missing (required)", d->name);
        params_with(s, param, NULL, x->params, sizeof x->params);
    } else {
        snprintf(x->what, sizeof x->what, "%s = %s", d->name, json_value);
        snprintf(extra, sizeof extra, "\"%s\": %s", d->name, json_value);
        params_with(s, param, extra, x->params, sizeof x->params);
    }
    return n + 1;
}

/* The tries of the bad-parameters check into a[0, cap): an unknown
 * parameter, then for each declared one a missing value (if required),
 * wrong JSON types, and numbers in and out of its range. Returns the count. */
static int make_attempts(const cf_subject *s, attempt *a, int cap)
{
    const tc_layer_type *t = s->type;
    int n = add_attempt(a, 0, cap, s, -1, "1", 1);
    for (int p = 0; p < t->n_params; p++) {
        const tc_param_desc *d = &t->params[p];
        if (d->required)
            n = add_attempt(a, n, cap, s, p, NULL, 1);
        /* wrong JSON types */
        n = add_attempt(a, n, cap, s, p, "\"3\"", 1);
        n = add_attempt(a, n, cap, s, p, "[1]", 1);
        n = add_attempt(a, n, cap, s, p, "{}", 1);
        if (d->type == TC_VALUE_INT) {
            n = add_attempt(a, n, cap, s, p, "2.5", 1);
            n = add_attempt(a, n, cap, s, p, "true", 1);
        } else if (d->type == TC_VALUE_FLOAT) {
            n = add_attempt(a, n, cap, s, p, "true", 1);
        } else {
            n = add_attempt(a, n, cap, s, p, "1", 1);
            continue;
        }
        /* zero, negative, absurdly large, and both ends of the declared
         * range: outside the range a value must be refused; inside it the
         * layer may accept or refuse it, but never crash */
        double vals[8] = {0, -1, d->type == TC_VALUE_INT ? -2147483648.0 : -1e30,
                          d->type == TC_VALUE_INT ? 2147483648.0 : 1e30,
                          d->type == TC_VALUE_INT ? 1e15 : 1e300, d->min_value, d->max_value};
        for (int k = 0; k < 7; k++) {
            double v = vals[k];
            int dup = !isfinite(v) || fabs(v) > 1e300;
            for (int j = 0; j < k; j++)
                dup |= vals[j] == v;
            if (dup)
                continue;
            char j[64];
            value_json(d, v, j, sizeof j);
            n = add_attempt(a, n, cap, s, p, j, v < d->min_value || v > d->max_value);
        }
    }
    return n;
}

void cf_check_bad_params(cf_subject *s)
{
    if (cf_not_usable(s, "bad parameters"))
        return;
    enum { CAP = 16 * TC_LAYER_CHECK_MAX_PARAMS + 1 }; /* at most 13 tries per parameter */
    attempt *a = calloc(CAP, sizeof *a);
    if (!a) {
        cf_fail(s, "bad parameters", "out of memory");
        return;
    }
    int n = make_attempts(s, a, CAP);
    int refused = 0, accepted = 0, refused_in_range = 0;
    char acc_list[512];
    size_t al = 0;
    acc_list[0] = 0;
    for (int i = 0; i < n; i++) {
        text model;
        char msg[TC_ERROR_CAP + 64];
        if (model_text(s, &s->configs[0], a[i].params, &model)) {
            cf_fail(s, "bad parameters", "%s: model text too long", a[i].what);
            continue;
        }
        int r = try_in_child(s, a[i].what, model.buf, msg, sizeof msg);
        if (r == 2) {
            if (msg[0]) /* a crash or hang is reported already */
                cf_fail(s, "bad parameters", "%s: loading the model: %s", a[i].what, msg);
        } else if (r == 0 && a[i].must_refuse) {
            cf_fail(s, "bad parameters", "%s was accepted; it must be refused", a[i].what);
        } else if (r == 0) {
            accepted++;
            if (al < sizeof acc_list)
                al += (size_t)snprintf(acc_list + al, sizeof acc_list - al, "%s%s",
                                       al ? ", " : "", a[i].what);
        } else if (ends_with(msg, "): invalid parameters")) {
            cf_fail(s, "bad parameters", "%s: create() refused it without an error message",
                    a[i].what);
        } else {
            refused++;
            refused_in_range += !a[i].must_refuse;
        }
    }
    printf("\n    bad parameters: %d tries, %d refused with a message (%d of them inside the "
           "declared range)", n, refused, refused_in_range);
    if (accepted)
        printf(", %d accepted as valid: %s", accepted, acc_list);
    cf_done(s, n);
    free(a);
}
