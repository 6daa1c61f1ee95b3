/* The single-layer harness: see tinycnn/layer_check.h for what it checks and
 * why its step and tolerance are what they are. */
#include "tinycnn/layer_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "tinycnn/kernels.h"
#include "tinycnn/registry.h"
#include "tinycnn/status.h"

/* ---- local PRNG (splitmix64): the harness must not depend on runtime
 * internals, and its numbers must not change when those do ---------------- */
typedef struct lc_prng {
    uint64_t x;
} lc_prng;

static uint64_t prng_next(lc_prng *r)
{
    uint64_t z = (r->x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double prng_unit(lc_prng *r) /* [0, 1) */
{
    return (double)(prng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t prng_below(lc_prng *r, uint64_t n) /* [0, n), n > 0 */
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = prng_next(r);
    while (v >= limit);
    return v % n;
}

#if defined(__SANITIZE_ADDRESS__)
#define TC_CHECK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_CHECK_ASAN 1
#endif
#endif
#ifdef TC_CHECK_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* 64-byte aligned, zeroed block of at least `bytes` (NULL for 0 bytes).
 * Under AddressSanitizer the rounding slack is poisoned, so a layer that
 * runs past its tensor by less than a vector is caught too.
 * Owner: the caller, free(). */
static void *alloc64(size_t bytes, int *failed)
{
    if (bytes == 0)
        return NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) {
        *failed = 1;
        return NULL;
    }
    void *p = aligned_alloc(64, rounded);
    if (!p)
        *failed = 1;
    else
        memset(p, 0, rounded);
#ifdef TC_CHECK_ASAN
    if (p && rounded > bytes)
        ASAN_POISON_MEMORY_REGION((char *)p + bytes, rounded - bytes);
#endif
    return p;
}

/* Allocates t->data for t->shape; 0 on success. */
static int alloc_tensor(tc_tensor *t)
{
    int failed = 0;
    int64_t n = tc_shape_checked_count(&t->shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float))
        return 1;
    t->data = alloc64((size_t)n * sizeof(float), &failed);
    return failed || !t->data;
}

static void poison(void *p, size_t bytes)
{
    if (p)
        memset(p, 0xff, bytes); /* all-ones bytes read as NaN floats */
}

/* Fills scratch with lc->scratch_poison, repeated (a byte tail gets its
 * leading bytes). */
static void poison_scratch(const tc_layer_check *lc, void *p, size_t bytes)
{
    if (!p)
        return;
    unsigned char pat[4], *b = p;
    memcpy(pat, &lc->scratch_poison, sizeof pat);
    if (pat[0] == pat[1] && pat[0] == pat[2] && pat[0] == pat[3]) {
        memset(p, pat[0], bytes);
        return;
    }
    size_t i = 0;
    for (; i + 4 <= bytes; i += 4)
        memcpy(b + i, pat, 4);
    for (; i < bytes; i++)
        b[i] = pat[i & 3];
}

/* ---- parameters --------------------------------------------------------- */

void tc_layer_check_defaults(const tc_layer_type *type, double *values)
{
    for (int i = 0; i < type->n_params; i++)
        values[i] = type->params[i].required ? NAN : type->params[i].default_value;
}

int tc_layer_check_set_param(const tc_layer_type *type, double *values, const char *name,
                             double value, tc_error *err)
{
    for (int i = 0; i < type->n_params; i++)
        if (strcmp(type->params[i].name, name) == 0) {
            values[i] = value;
            return 0;
        }
    return tc_error_set(err, "%s has no parameter '%s'", type->name, name);
}

static int check_params(const tc_layer_type *type, const double *values, tc_error *err)
{
    for (int i = 0; i < type->n_params; i++) {
        const tc_param_desc *p = &type->params[i];
        double v = values[i];
        if (isnan(v))
            return tc_error_set(err, "%s: parameter '%s' is required", type->name, p->name);
        if (v < p->min_value || v > p->max_value)
            return tc_error_set(err, "%s: parameter '%s' = %g is outside [%g, %g]", type->name,
                                p->name, v, p->min_value, p->max_value);
        if (p->type == TC_VALUE_INT && v != floor(v))
            return tc_error_set(err, "%s: parameter '%s' = %g must be an integer", type->name,
                                p->name, v);
        if (p->type == TC_VALUE_BOOL && v != 0.0 && v != 1.0)
            return tc_error_set(err, "%s: parameter '%s' = %g must be 0 or 1", type->name,
                                p->name, v);
    }
    return 0;
}

/* ---- create / free ------------------------------------------------------ */

/* Declaration i of plan's weights (is_state 0) or state tensors (1), named
 * name, of the given shape: it has a name no earlier one of its kind has
 * (nor, for state, any weight) and a well-formed shape. */
static int check_decl(const tc_plan *plan, int is_state, int i, const char *name,
                      const tc_shape *shape, tc_error *err)
{
    const char *kind = is_state ? "state" : "weight";
    if (!name || !name[0])
        return tc_error_set(err, "plan() declared %s %d without a name",
                            is_state ? "state tensor" : "weight", i);
    for (int j = 0; j < i; j++)
        if (strcmp(is_state ? plan->state[j].name : plan->weights[j].name, name) == 0)
            return tc_error_set(err, "plan() declared %s '%s' twice", kind, name);
    for (int j = 0; is_state && j < plan->n_weights; j++)
        if (strcmp(plan->weights[j].name, name) == 0)
            return tc_error_set(err, "plan() declared '%s' as a weight and as state", name);
    if (tc_shape_checked_count(shape) < 0)
        return tc_error_set(err, "plan() gave %s '%s' a malformed shape", kind, name);
    return 0;
}

/* State declarations: count, names unique among weights and state, shapes. */
static int check_state_decls(const tc_plan *plan, tc_error *err)
{
    if (plan->n_state < 0 || plan->n_state > TC_MAX_STATE)
        return tc_error_set(err, "plan() declared %d state tensors (0..%d allowed)",
                            plan->n_state, TC_MAX_STATE);
    for (int i = 0; i < plan->n_state; i++) {
        const tc_state_decl *d = &plan->state[i];
        if (check_decl(plan, 1, i, d->name, &d->shape, err))
            return 1;
        if (!isfinite(d->init_value))
            return tc_error_set(err, "plan() gave state '%s' the initial value %g", d->name,
                                d->init_value);
    }
    return 0;
}

static int run_plan(tc_layer_check *lc, const tc_shape *inputs, tc_plan *plan, tc_error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->struct_size = sizeof *plan;
    if (lc->type->plan(lc->host, lc->self, inputs, lc->n_inputs, lc->n_threads, plan, err))
        return 1;
    if (plan->n_weights < 0 || plan->n_weights > TC_MAX_WEIGHTS)
        return tc_error_set(err, "plan() declared %d weights (0..%d allowed)", plan->n_weights,
                            TC_MAX_WEIGHTS);
    if (tc_shape_checked_count(&plan->output) < 0) {
        char buf[160];
        tc_shape_format(&plan->output, buf, sizeof buf);
        return tc_error_set(err, "plan() gave the malformed output shape %s", buf);
    }
    for (int i = 0; i < plan->n_weights; i++)
        if (check_decl(plan, 0, i, plan->weights[i].name, &plan->weights[i].shape, err))
            return 1;
    return check_state_decls(plan, err);
}

static int plan_and_compare(tc_layer_check *lc, const tc_shape *inputs, tc_error *err)
{
    tc_shape one[TC_LAYER_CHECK_MAX_INPUTS];
    tc_plan plan1;
    for (int i = 0; i < lc->n_inputs; i++) {
        one[i] = inputs[i];
        one[i].dims[0] = 1;
    }
    /* the given shapes first, so that errors quote them */
    if (run_plan(lc, inputs, &lc->plan, err))
        return tc_error_prefix(err, "%s: plan", lc->type->name);
    if (run_plan(lc, one, &plan1, err))
        return tc_error_prefix(err, "%s: plan at batch 1", lc->type->name);
/* The weights' or the state's declarations (a field of tc_plan and its
 * count) must not depend on the batch: count, names and shapes. */
#define SAME_DECLS(list, n_list, one, many)                                                 \
    if (plan1.n_list != lc->plan.n_list)                                                   \
        return tc_error_set(err, "%s: plan: the number of " many " depends on the batch "    \
                                 "size (%d at batch 1, %d at batch %lld)", lc->type->name,  \
                            plan1.n_list, lc->plan.n_list, (long long)inputs[0].dims[0]);  \
    for (int i = 0; i < plan1.n_list; i++)                                                 \
        if (strcmp(plan1.list[i].name, lc->plan.list[i].name) != 0 ||                      \
            !tc_shape_equal(&plan1.list[i].shape, &lc->plan.list[i].shape))                \
            return tc_error_set(err, "%s: plan: " one " %d ('%s') changes with the batch "   \
                                     "size", lc->type->name, i, lc->plan.list[i].name)
    SAME_DECLS(weights, n_weights, "weight", "weights");
    SAME_DECLS(state, n_state, "state", "state tensors");
#undef SAME_DECLS
    if ((lc->type->flags & TC_LAYER_LOSS) &&
        (lc->plan.output.ndim != 1 || lc->plan.output.dims[0] != 1))
        return tc_error_set(err, "%s: plan: a loss layer must output shape [1]",
                            lc->type->name);
    return 0;
}

void tc_layer_check_free(tc_layer_check *lc)
{
    if (!lc)
        return;
    if (lc->self && lc->type && lc->type->destroy)
        lc->type->destroy(lc->host, lc->self);
    for (int i = 0; i < TC_LAYER_CHECK_MAX_INPUTS; i++) {
        free(lc->inputs[i].data);
        free(lc->grad_inputs[i].data);
    }
    for (int i = 0; i < TC_MAX_WEIGHTS; i++) {
        free(lc->weights[i].data);
        free(lc->grad_weights[i].data);
    }
    for (int i = 0; i < TC_MAX_STATE; i++)
        free(lc->state[i].data);
    free(lc->output.data);
    free(lc->grad_output.data);
    free(lc->workspace);
    free(lc->saved);
    memset(lc, 0, sizeof *lc);
}

int tc_layer_check_create(tc_layer_check *lc, const tc_layer_type *type, const double *values,
                          const tc_shape *inputs, int n_inputs, int n_threads, tc_error *err)
{
    memset(lc, 0, sizeof *lc);
    if (!type)
        return tc_error_set(err, "layer check: no layer type given");
    if (n_inputs < 1 || n_inputs > TC_LAYER_CHECK_MAX_INPUTS)
        return tc_error_set(err, "%s: layer check supports 1..%d inputs, got %d", type->name,
                            TC_LAYER_CHECK_MAX_INPUTS, n_inputs);
    for (int i = 0; i < n_inputs; i++)
        if (tc_shape_checked_count(&inputs[i]) < 0) {
            char buf[160];
            tc_shape_format(&inputs[i], buf, sizeof buf);
            return tc_error_set(err, "%s: layer check: input %d has the malformed shape %s",
                                type->name, i, buf);
        }
    if (check_params(type, values, err))
        return 1;
    lc->type = type;
    lc->host = tc_host_table();
    lc->n_inputs = n_inputs;
    lc->n_threads = n_threads > 0 ? n_threads : tc_get_threads();
    lc->training = 1;
    lc->scratch_poison = 0xffffffffu;
    if (type->create && type->create(lc->host, values, &lc->self, err)) {
        lc->self = NULL;
        tc_layer_check_free(lc);
        return tc_error_prefix(err, "%s: create", type->name);
    }
    if (plan_and_compare(lc, inputs, err)) {
        tc_layer_check_free(lc);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < n_inputs; i++) {
        lc->is_label[i] = (type->flags & TC_LAYER_LOSS) && i == 1;
        lc->needs_grad[i] = !lc->is_label[i];
        lc->inputs[i].shape = inputs[i];
        lc->grad_inputs[i].shape = inputs[i];
        failed |= alloc_tensor(&lc->inputs[i]) || alloc_tensor(&lc->grad_inputs[i]);
    }
    lc->output.shape = lc->plan.output;
    lc->grad_output.shape = lc->plan.output;
    failed |= alloc_tensor(&lc->output) || alloc_tensor(&lc->grad_output);
    for (int i = 0; i < lc->plan.n_weights; i++) {
        lc->weights[i].shape = lc->plan.weights[i].shape;
        lc->grad_weights[i].shape = lc->plan.weights[i].shape;
        failed |= alloc_tensor(&lc->weights[i]) || alloc_tensor(&lc->grad_weights[i]);
    }
    for (int i = 0; i < lc->plan.n_state; i++) {
        lc->state[i].shape = lc->plan.state[i].shape;
        failed |= alloc_tensor(&lc->state[i]);
    }
    if (!failed)
        tc_layer_check_reset_state(lc);
    lc->workspace_bytes = lc->plan.workspace_bytes;
    lc->saved_bytes = lc->plan.saved_bytes;
    lc->workspace = alloc64(lc->workspace_bytes, &failed);
    lc->saved = alloc64(lc->saved_bytes, &failed);
    if (failed) {
        const char *name = type->name;
        tc_layer_check_free(lc);
        return tc_error_set(err, "%s: layer check: out of memory for the planned buffers",
                            name);
    }
    return 0;
}

tc_tensor *tc_layer_check_weight(tc_layer_check *lc, const char *name)
{
    for (int i = 0; i < lc->plan.n_weights; i++)
        if (strcmp(lc->plan.weights[i].name, name) == 0)
            return &lc->weights[i];
    return NULL;
}

tc_tensor *tc_layer_check_grad_weight(tc_layer_check *lc, const char *name)
{
    for (int i = 0; i < lc->plan.n_weights; i++)
        if (strcmp(lc->plan.weights[i].name, name) == 0)
            return &lc->grad_weights[i];
    return NULL;
}

tc_tensor *tc_layer_check_state(tc_layer_check *lc, const char *name)
{
    for (int i = 0; i < lc->plan.n_state; i++)
        if (strcmp(lc->plan.state[i].name, name) == 0)
            return &lc->state[i];
    return NULL;
}

void tc_layer_check_reset_state(tc_layer_check *lc)
{
    for (int i = 0; i < lc->plan.n_state; i++) {
        int64_t n = tc_shape_checked_count(&lc->state[i].shape);
        for (int64_t k = 0; k < n; k++)
            lc->state[i].data[k] = (float)lc->plan.state[i].init_value;
    }
}

/* ---- running ------------------------------------------------------------ */

static void make_exec(tc_layer_check *lc, tc_exec *x)
{
    memset(x, 0, sizeof *x);
    *x = (tc_exec){.struct_size = sizeof *x, .training = lc->training,
                   .n_threads = lc->n_threads, .rng = &lc->rng,
                   .n_inputs = lc->n_inputs, .inputs = lc->inputs, .output = &lc->output,
                   .n_weights = lc->plan.n_weights, .weights = lc->weights,
                   .n_state = lc->plan.n_state, .state = lc->state,
                   .workspace = lc->workspace, .workspace_bytes = lc->workspace_bytes,
                   .saved = lc->saved, .saved_bytes = lc->saved_bytes};
}

int tc_layer_check_forward(tc_layer_check *lc, tc_error *err)
{
    tc_exec x;
    make_exec(lc, &x);
    lc->rng = lc->rng_start;
    poison_scratch(lc, lc->workspace, lc->workspace_bytes);
    poison_scratch(lc, lc->saved, lc->saved_bytes);
    if (lc->type->forward(lc->host, lc->self, &x, err))
        return tc_error_prefix(err, "%s: forward", lc->type->name);
    return 0;
}

int tc_layer_check_backward(tc_layer_check *lc, tc_error *err)
{
    if (!lc->type->backward)
        return tc_error_set(err, "%s: the layer type has no backward()", lc->type->name);
    tc_exec x;
    tc_tensor gin[TC_LAYER_CHECK_MAX_INPUTS];
    make_exec(lc, &x);
    for (int i = 0; i < lc->n_inputs; i++) {
        gin[i] = lc->grad_inputs[i];
        if (!lc->needs_grad[i])
            gin[i].data = NULL;
    }
    x.grad_output = &lc->grad_output;
    x.grad_inputs = gin;
    x.grad_weights = lc->grad_weights;
    x.rng = NULL; /* as in a graph: no stream in backward */
    poison_scratch(lc, lc->workspace, lc->workspace_bytes);
    if (lc->type->backward(lc->host, lc->self, &x, err))
        return tc_error_prefix(err, "%s: backward", lc->type->name);
    return 0;
}

/* ---- filling ------------------------------------------------------------ */

/* Every value at least 2*step from 0 and from every other value of the
 * tensor: magnitudes 2s + 2.5s*m + U(0, 0.5s) for m = 0, 1, ... on each sign,
 * shuffled over the positions. */
static int fill_lattice(tc_tensor *t, lc_prng *r, double step)
{
    int64_t n = tc_shape_checked_count(&t->shape);
    if (n < 1 || (uint64_t)n > SIZE_MAX / sizeof(int64_t))
        return 1;
    int64_t *perm = malloc(sizeof *perm * (size_t)n);
    if (!perm)
        return 1;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)prng_below(r, (uint64_t)i + 1), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t m = perm[i] >> 1;
        double mag = 2.0 * step + 2.5 * step * (double)m + 0.5 * step * prng_unit(r);
        t->data[i] = (float)((perm[i] & 1) ? -mag : mag);
    }
    free(perm);
    return 0;
}

void tc_layer_check_fill(tc_layer_check *lc, uint64_t seed, double step)
{
    lc_prng r = {seed ^ 0x5deece66dULL};
    if (step <= 0)
        step = TC_GRADCHECK_STEP;
    lc->fill_step = step;
    int64_t classes = lc->inputs[0].shape.dims[lc->inputs[0].shape.ndim - 1];
    for (int i = 0; i < lc->n_inputs; i++) {
        tc_tensor *t = &lc->inputs[i];
        int64_t n = tc_shape_checked_count(&t->shape);
        if (lc->is_label[i]) {
            for (int64_t k = 0; k < n; k++)
                t->data[k] = (float)prng_below(&r, (uint64_t)classes);
        } else if (fill_lattice(t, &r, step)) {
            /* out of memory for the shuffle: fall back to a plain lattice */
            for (int64_t k = 0; k < n; k++)
                t->data[k] = (float)((k & 1 ? -1 : 1) * (2.0 + 2.5 * (double)(k >> 1)) * step);
        }
    }
    for (int i = 0; i < lc->plan.n_weights; i++) {
        double fan_in = lc->plan.weights[i].fan_in;
        double a = fan_in >= 1.0 ? sqrt(3.0 / fan_in) : 0.5;
        int64_t n = tc_shape_checked_count(&lc->weights[i].shape);
        for (int64_t k = 0; k < n; k++)
            lc->weights[i].data[k] = (float)(a * (2.0 * prng_unit(&r) - 1.0));
    }
    int64_t n_out = tc_shape_checked_count(&lc->grad_output.shape);
    for (int64_t k = 0; k < n_out; k++)
        lc->grad_output.data[k] = (float)(2.0 * prng_unit(&r) - 1.0);
    for (int k = 0; k < 4; k++)
        lc->rng_start.s[k] = prng_next(&r);
    lc->rng = lc->rng_start;
}

/* ---- gradient check ----------------------------------------------------- */

static double weighted_output(const tc_layer_check *lc)
{
    int64_t n = tc_shape_checked_count(&lc->output.shape);
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++)
        acc += (double)lc->output.data[i] * (double)lc->grad_output.data[i];
    return acc;
}

/* Copy of t's data; NULL when out of memory. Owner: the caller, free(). */
static float *dup_data(const tc_tensor *t)
{
    int64_t n = tc_shape_checked_count(&t->shape);
    if (n < 1 || (uint64_t)n > SIZE_MAX / sizeof(float))
        return NULL;
    size_t bytes = sizeof(float) * (size_t)n;
    float *p = malloc(bytes);
    if (p)
        memcpy(p, t->data, bytes);
    return p;
}

/* Compares one tensor's analytic gradient with central differences. */
static int check_tensor(tc_layer_check *lc, tc_tensor *t, const float *analytic, double step,
                        double tol, int64_t max_elements, tc_gradcheck_tensor *res,
                        tc_error *err)
{
    int64_t n = tc_shape_checked_count(&t->shape);
    int64_t m = (max_elements > 0 && max_elements < n) ? max_elements : n;
    if (m < 1 || (uint64_t)m > SIZE_MAX / sizeof(double))
        return tc_error_set(err, "%s: gradient check: bad tensor size", lc->type->name);
    double *numeric = malloc(sizeof *numeric * (size_t)m);
    if (!numeric)
        return tc_error_set(err, "%s: gradient check: out of memory", lc->type->name);
    double scale = 0.0;
    for (int64_t k = 0; k < m; k++) {
        int64_t i = m == n ? k : k * n / m;
        float orig = t->data[i];
        float up = (float)(orig + step), down = (float)(orig - step);
        t->data[i] = up;
        if (tc_layer_check_forward(lc, err))
            goto fail;
        double lp = weighted_output(lc);
        t->data[i] = down;
        if (tc_layer_check_forward(lc, err))
            goto fail;
        double lm = weighted_output(lc);
        t->data[i] = orig;
        numeric[k] = (lp - lm) / ((double)up - (double)down);
        double a = fabs((double)analytic[i]), b = fabs(numeric[k]);
        scale = fmax(scale, fmax(a, b)); /* fmax ignores NaN; NaN is caught below */
    }
    res->n_checked = m;
    res->worst = 0.0;
    res->worst_index = 0;
    res->analytic = analytic[0];
    res->numeric = numeric[0];
    for (int64_t k = 0; k < m; k++) {
        int64_t i = m == n ? k : k * n / m;
        double a = analytic[i], b = numeric[k], e;
        double denom = fmax(fmax(fabs(a), fabs(b)), TC_GRADCHECK_FLOOR * scale);
        if (isnan(a) || isnan(b) || isinf(a) || isinf(b))
            e = INFINITY;
        else
            e = denom > 0.0 ? fabs(a - b) / denom : 0.0;
        if (e > res->worst || k == 0) {
            res->worst = e;
            res->worst_index = i;
            res->analytic = a;
            res->numeric = b;
        }
    }
    res->failed = !(res->worst <= tol);
    free(numeric);
    return 0;
fail:
    free(numeric);
    return 1;
}

static int gradcheck_oom(const tc_layer_check *lc, tc_error *err)
{
    return tc_error_set(err, "%s: gradient check: out of memory", lc->type->name);
}

/* Forward leaves the inputs (copies in in_copy) alone, gives finite
 * outputs, and gives the same outputs twice. */
static int check_forward_sane(tc_layer_check *lc, float *const *in_copy, tc_error *err)
{
    const char *name = lc->type->name;
    int64_t n_out = tc_shape_checked_count(&lc->output.shape);
    if (tc_layer_check_forward(lc, err))
        return 1;
    for (int i = 0; i < lc->n_inputs; i++)
        if (memcmp(in_copy[i], lc->inputs[i].data,
                   sizeof(float) * (size_t)tc_shape_checked_count(&lc->inputs[i].shape)) != 0)
            return tc_error_set(err, "%s: forward check failed: forward modified input %d",
                                name, i);
    for (int64_t k = 0; k < n_out; k++)
        if (!isfinite(lc->output.data[k]))
            return tc_error_set(err, "%s: forward check failed: output element %lld is %g on "
                                     "finite inputs", name, (long long)k,
                                (double)lc->output.data[k]);
    float *out0 = dup_data(&lc->output);
    if (!out0)
        return gradcheck_oom(lc, err);
    int rc = tc_layer_check_forward(lc, err);
    if (rc == 0 && memcmp(out0, lc->output.data, sizeof(float) * (size_t)n_out) != 0)
        rc = tc_error_set(err, "%s: forward check failed: two forward calls on the same "
                               "inputs and random stream gave different outputs", name);
    free(out0);
    return rc;
}

/* Backward overwrites every gradient (poisoned first) and leaves
 * grad_output alone. */
static int check_backward_sane(tc_layer_check *lc, tc_error *err)
{
    int64_t n_out = tc_shape_checked_count(&lc->output.shape);
    for (int i = 0; i < lc->n_inputs; i++)
        poison(lc->grad_inputs[i].data,
               sizeof(float) * (size_t)tc_shape_checked_count(&lc->grad_inputs[i].shape));
    for (int i = 0; i < lc->plan.n_weights; i++)
        poison(lc->grad_weights[i].data,
               sizeof(float) * (size_t)tc_shape_checked_count(&lc->grad_weights[i].shape));
    float *r_copy = dup_data(&lc->grad_output);
    if (!r_copy)
        return gradcheck_oom(lc, err);
    int rc = tc_layer_check_backward(lc, err);
    if (rc == 0 && memcmp(r_copy, lc->grad_output.data, sizeof(float) * (size_t)n_out) != 0)
        rc = tc_error_set(err, "%s: backward check failed: backward modified grad_output",
                          lc->type->name);
    free(r_copy);
    return rc;
}

/* The tensors to check, into targets and rep, with their analytic
 * gradients copied before the finite-difference forwards overwrite saved
 * state; -1 when out of memory. */
static int gradcheck_targets(tc_layer_check *lc, tc_gradcheck_report *rep, tc_tensor **targets,
                             float **analytic)
{
    int nt = 0;
    for (int i = 0; i < lc->n_inputs; i++) {
        if (!lc->needs_grad[i] || lc->is_label[i])
            continue;
        snprintf(rep->tensors[nt].name, sizeof rep->tensors[nt].name, "input %d", i);
        targets[nt] = &lc->inputs[i];
        if (!(analytic[nt] = dup_data(&lc->grad_inputs[i])))
            return -1;
        nt++;
    }
    for (int i = 0; i < lc->plan.n_weights; i++) {
        snprintf(rep->tensors[nt].name, sizeof rep->tensors[nt].name, "weight '%s'",
                 lc->plan.weights[i].name);
        targets[nt] = &lc->weights[i];
        if (!(analytic[nt] = dup_data(&lc->grad_weights[i])))
            return -1;
        nt++;
    }
    rep->n_tensors = nt;
    return nt;
}

/* Every target's finite differences against its analytic gradient; the
 * first failing one becomes the error. */
static int gradcheck_compare(tc_layer_check *lc, tc_gradcheck_report *rep, tc_tensor **targets,
                             float **analytic, int64_t max_elements, tc_error *err)
{
    for (int t = 0; t < rep->n_tensors; t++) {
        if (check_tensor(lc, targets[t], analytic[t], rep->step, rep->tolerance, max_elements,
                         &rep->tensors[t], err)) {
            tc_error_prefix(err, "while checking %s", rep->tensors[t].name);
            return 1;
        }
        if (rep->tensors[t].failed && rep->first_failed < 0)
            rep->first_failed = t;
    }
    /* leave the buffers as a plain forward + backward would */
    if (tc_layer_check_forward(lc, err))
        return 1;
    if (rep->first_failed >= 0) {
        const tc_gradcheck_tensor *f = &rep->tensors[rep->first_failed];
        return tc_error_set(err, "%s: gradient check of %s failed: worst relative error %.3g "
                                 "at element %lld (analytic %.6g, numeric %.6g; step %g, "
                                 "tolerance %g)",
                            lc->type->name, f->name, f->worst, (long long)f->worst_index,
                            f->analytic, f->numeric, rep->step, rep->tolerance);
    }
    return 0;
}

int tc_layer_check_gradients(tc_layer_check *lc, const tc_gradcheck_opts *opts,
                             tc_gradcheck_report *report, tc_error *err)
{
    tc_gradcheck_report local;
    tc_gradcheck_report *rep = report ? report : &local;
    double step = opts && opts->step > 0 ? opts->step : TC_GRADCHECK_STEP;
    double tol = opts && opts->tolerance > 0 ? opts->tolerance : TC_GRADCHECK_TOLERANCE;
    memset(rep, 0, sizeof *rep);
    rep->step = step;
    rep->tolerance = tol;
    rep->first_failed = -1;
    if (lc->fill_step > 0 && step > lc->fill_step * (1 + 1e-9))
        return tc_error_set(err, "%s: gradient check: step %g is larger than the kink margin "
                                 "%g the inputs were filled with", lc->type->name, step,
                            lc->fill_step);

    int rc = 1;
    float *in_copy[TC_LAYER_CHECK_MAX_INPUTS] = {0};
    float *analytic[TC_LAYER_CHECK_MAX_INPUTS + TC_MAX_WEIGHTS] = {0};
    float *state_copy[TC_MAX_STATE] = {0};
    tc_tensor *targets[TC_LAYER_CHECK_MAX_INPUTS + TC_MAX_WEIGHTS];
    for (int i = 0; i < lc->n_inputs; i++)
        if (!(in_copy[i] = dup_data(&lc->inputs[i])))
            goto oom;
    for (int i = 0; i < lc->plan.n_state; i++)
        if (!(state_copy[i] = dup_data(&lc->state[i])))
            goto oom;
    if (check_forward_sane(lc, in_copy, err) || check_backward_sane(lc, err))
        goto out;
    if (gradcheck_targets(lc, rep, targets, analytic) < 0)
        goto oom;
    rc = gradcheck_compare(lc, rep, targets, analytic, opts ? opts->max_elements : 0, err);
    goto out;
oom:
    gradcheck_oom(lc, err);
out:
    for (int i = 0; i < TC_LAYER_CHECK_MAX_INPUTS; i++)
        free(in_copy[i]);
    for (int i = 0; i < TC_LAYER_CHECK_MAX_INPUTS + TC_MAX_WEIGHTS; i++)
        free(analytic[i]);
    for (int i = 0; i < TC_MAX_STATE; i++) {
        if (state_copy[i])
            memcpy(lc->state[i].data, state_copy[i],
                   sizeof(float) * (size_t)tc_shape_checked_count(&lc->state[i].shape));
        free(state_copy[i]);
    }
    return rc;
}
