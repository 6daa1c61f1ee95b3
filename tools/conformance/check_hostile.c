/* The checks that call a layer the way a graph may but the other checks do
 * not: backward with some input gradients not wanted (grad_inputs[i].data
 * NULL, as for a model's image), scratch buffers holding other garbage than
 * NaN, and inputs of unequal shapes where plan() accepts them. Each risky
 * call runs in a child process (child.c), so a crash is a failure that says
 * which call crashed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

/* ---- NULL input gradients ------------------------------------------------- */

typedef struct null_job {
    const cf_config *cfg;
    unsigned mask; /* bit i: grad_inputs[i].data is NULL */
    char what[160];
} null_job;

static void describe_mask(const tc_layer_check *lc, unsigned mask, char *buf, size_t cap)
{
    int n = 0, last = -1;
    for (int i = 0; i < lc->n_inputs; i++)
        if (mask >> i & 1) {
            n++;
            last = i;
        }
    if (n == 1)
        snprintf(buf, cap, "grad_inputs[%d].data == NULL", last);
    else
        snprintf(buf, cap, "every grad_inputs[i].data == NULL");
}

/* The inputs that get a gradient (labels never do). */
static unsigned grad_mask(const tc_layer_check *lc)
{
    unsigned m = 0;
    for (int i = 0; i < lc->n_inputs; i++)
        if (lc->needs_grad[i])
            m |= 1u << i;
    return m;
}

/* In the child: a full backward as the reference, then one with the
 * masked gradients NULL; the others must come out the same. */
static void null_child(cf_subject *s, void *arg)
{
    const char *C = "NULL input gradients";
    null_job *j = arg;
    char where[300], sh[200], nm[96];
    snprintf(where, sizeof where, "inputs %s", cf_shapes_str(j->cfg, 2, sh, sizeof sh));
    tc_error err = {{0}};
    tc_layer_check lc;
    cf_grads ref;
    cf_states st;
    memset(&ref, 0, sizeof ref);
    memset(&st, 0, sizeof st);
    if (cf_make(&lc, s, j->cfg, 2, 1, &err)) {
        cf_fail(s, C, "%s (%s)", err.msg, where);
        tc_layer_check_free(&lc);
        return;
    }
    tc_layer_check_fill(&lc, 51, 0);
    if (cf_states_copy(&lc, &st) || tc_layer_check_forward(&lc, &err) ||
        tc_layer_check_backward(&lc, &err) || cf_grads_copy(&lc, &ref)) {
        cf_fail(s, C, "%s (%s)", err.msg[0] ? err.msg : "out of memory", where);
        goto out;
    }
    for (int i = 0; i < lc.n_inputs; i++)
        if (j->mask >> i & 1) {
            lc.needs_grad[i] = 0;
            free(ref.in[i]); /* not compared: backward got no buffer for it */
            ref.in[i] = NULL;
        }
    for (int i = 0; i < lc.n_inputs; i++)
        memset(lc.grad_inputs[i].data, 0xff, sizeof(float) * (size_t)cf_count(&lc.grad_inputs[i]));
    for (int i = 0; i < lc.plan.n_weights; i++)
        memset(lc.grad_weights[i].data, 0xff,
               sizeof(float) * (size_t)cf_count(&lc.grad_weights[i]));
    cf_states_restore(&lc, &st);
    cf_child_step("backward with %s (%s)", j->what, where);
    if (tc_layer_check_forward(&lc, &err) || tc_layer_check_backward(&lc, &err)) {
        cf_fail(s, C, "with %s: %s (%s)", j->what, err.msg, where);
        goto out;
    }
    const tc_tensor *t;
    const float *r;
    int64_t at;
    if (cf_grads_differ(&lc, &ref, nm, sizeof nm, &t, &r, &at))
        cf_fail(s, C, "with %s, backward gave %s[%lld] = %.9g; with every gradient wanted it "
                      "is %.9g: the gradients still wanted must not depend on which others are "
                      "(%s)", j->what, nm, (long long)at, (double)t->data[at], (double)r[at],
                where);
out:
    cf_grads_free(&ref);
    cf_states_free(&st);
    tc_layer_check_free(&lc);
}

/* The masks tried: each input alone, then all together. */
static int null_masks(unsigned all, int n_inputs, unsigned *masks)
{
    int n = 0, singles = 0;
    for (int i = 0; i < n_inputs; i++)
        if (all >> i & 1) {
            masks[n++] = 1u << i;
            singles++;
        }
    if (singles > 1)
        masks[n++] = all;
    return n;
}

void cf_check_null_grads(cf_subject *s)
{
    const char *C = "NULL input gradients";
    if (cf_not_usable(s, C))
        return;
    int runs = 0;
    for (int c = 0; c < s->n_configs; c++) {
        tc_layer_check lc;
        tc_error err = {{0}};
        if (cf_make(&lc, s, &s->configs[c], 2, 1, &err)) {
            cf_fail(s, C, "%s", err.msg);
            tc_layer_check_free(&lc);
            continue;
        }
        unsigned masks[TC_LAYER_CHECK_MAX_INPUTS + 1];
        int n = null_masks(grad_mask(&lc), lc.n_inputs, masks);
        null_job jobs[TC_LAYER_CHECK_MAX_INPUTS + 1];
        for (int k = 0; k < n; k++) {
            jobs[k] = (null_job){.cfg = &s->configs[c], .mask = masks[k]};
            describe_mask(&lc, masks[k], jobs[k].what, sizeof jobs[k].what);
        }
        tc_layer_check_free(&lc);
        for (int k = 0; k < n; k++, runs++)
            cf_in_child(s, C, null_child, &jobs[k]);
        if (cf_fails_in_test > 0)
            break; /* the other configurations would repeat it */
    }
    cf_done(s, runs);
    if (cf_fails_in_test == 0)
        printf("\n    %d backward calls (each in a child process) with one input gradient, then "
           "every one, not wanted (grad_inputs[i].data == NULL): no crash, the other "
           "gradients bit-identical to a full backward", runs);
}

/* ---- scratch poisoned with other values than NaN -------------------------- */

static const struct {
    uint32_t bits;
    const char *name;
} poisons[] = {
    {0xffffffffu, "NaN"},
    {0x7149f2cau, "+1e30"},
    {0xf149f2cau, "-1e30"},
};
#define N_POISONS (int)(sizeof poisons / sizeof poisons[0])

/* What one poison gives: training output, gradients, inference output. */
typedef struct scratch_run {
    float *train, *infer;
    cf_grads g;
} scratch_run;

static int scratch_pass(tc_layer_check *lc, const cf_states *st, scratch_run *r, tc_error *err)
{
    memset(r, 0, sizeof *r);
    cf_states_restore(lc, st);
    lc->training = 1;
    if (tc_layer_check_forward(lc, err) || !(r->train = cf_copy(&lc->output)) ||
        tc_layer_check_backward(lc, err) || cf_grads_copy(lc, &r->g))
        return 1;
    cf_states_restore(lc, st);
    lc->training = 0;
    if (tc_layer_check_forward(lc, err) || !(r->infer = cf_copy(&lc->output)))
        return 1;
    lc->training = 1;
    return 0;
}

static void scratch_free(scratch_run *r)
{
    free(r->train);
    free(r->infer);
    cf_grads_free(&r->g);
}

/* Reports the first difference between run r (under poison p) and the NaN
 * run; lc holds r's buffers' shapes. */
static void scratch_compare(cf_subject *s, tc_layer_check *lc, const scratch_run *nan_run,
                            const scratch_run *r, int p, const char *where)
{
    const char *C = "uninitialised scratch";
    char nm[96];
    const char *mode = NULL;
    const float *got = NULL, *want = NULL;
    int64_t at = -1;
    tc_tensor train = lc->output, infer = lc->output;
    train.data = r->train;
    infer.data = r->infer;
    snprintf(nm, sizeof nm, "output");
    if ((at = cf_first_diff(&train, nan_run->train)) >= 0) {
        mode = "training forward";
        got = r->train;
        want = nan_run->train;
    } else if ((at = cf_first_diff(&infer, nan_run->infer)) >= 0) {
        mode = "inference forward";
        got = r->infer;
        want = nan_run->infer;
    } else {
        /* the gradients: compare r's copies as if they were lc's buffers */
        tc_layer_check tmp = *lc;
        for (int i = 0; i < lc->n_inputs; i++)
            tmp.grad_inputs[i].data = r->g.in[i] ? r->g.in[i] : lc->grad_inputs[i].data;
        for (int i = 0; i < lc->plan.n_weights; i++)
            tmp.grad_weights[i].data = r->g.w[i];
        const tc_tensor *t;
        if (!cf_grads_differ(&tmp, &nan_run->g, nm, sizeof nm, &t, &want, &at))
            return;
        mode = "backward";
        got = t->data;
    }
    cf_fail(s, C, "with workspace and saved filled with %s before each call instead of NaN, "
                  "the %s gives %s[%lld] = %.9g, with NaN %.9g: it reads scratch it never "
                  "wrote (a NaN there was hidden, e.g. by fmax/fmin) (%s)",
            poisons[p].name, mode, nm, (long long)at, (double)got[at], (double)want[at], where);
}

static void scratch_child(cf_subject *s, void *arg)
{
    const char *C = "uninitialised scratch";
    const cf_config *cfg = arg;
    char where[300];
    tc_error err = {{0}};
    tc_layer_check lc;
    scratch_run runs[N_POISONS];
    cf_states st;
    memset(runs, 0, sizeof runs);
    memset(&st, 0, sizeof st);
    if (cf_make_filled(&lc, s, C, cfg, 3, 71, where, sizeof where))
        return;
    if (cf_states_copy(&lc, &st)) {
        cf_fail(s, C, "out of memory");
        goto out;
    }
    for (int p = 0; p < N_POISONS; p++) {
        cf_child_step("forward and backward with workspace and saved filled with %s (%s)",
                      poisons[p].name, where);
        lc.scratch_poison = poisons[p].bits;
        if (scratch_pass(&lc, &st, &runs[p], &err)) {
            cf_fail(s, C, "with scratch filled with %s: %s (%s)", poisons[p].name,
                    err.msg[0] ? err.msg : "out of memory", where);
            goto out;
        }
        if (p > 0)
            scratch_compare(s, &lc, &runs[0], &runs[p], p, where);
    }
out:
    for (int p = 0; p < N_POISONS; p++)
        scratch_free(&runs[p]);
    cf_states_free(&st);
    tc_layer_check_free(&lc);
}

void cf_check_scratch(cf_subject *s)
{
    const char *C = "uninitialised scratch";
    if (cf_not_usable(s, C))
        return;
    int runs = 0;
    size_t ws = 0, sv = 0;
    for (int c = 0; c < s->n_configs; c += s->n_configs - 1 > 0 ? s->n_configs - 1 : 1) {
        tc_layer_check lc;
        tc_error err = {{0}};
        if (cf_make(&lc, s, &s->configs[c], 3, 1, &err) == 0) {
            ws = ws > lc.workspace_bytes ? ws : lc.workspace_bytes;
            sv = sv > lc.saved_bytes ? sv : lc.saved_bytes;
        }
        tc_layer_check_free(&lc);
        cf_in_child(s, C, scratch_child, &s->configs[c]);
        runs++;
    }
    cf_done(s, runs);
    if (cf_fails_in_test == 0)
        printf("\n    %d configuration%s (workspace up to %zu bytes, saved up to %zu): forward "
           "(training and inference) and backward with scratch filled with NaN, +1e30 and "
           "-1e30 give bit-identical results", runs, runs == 1 ? "" : "s", ws, sv);
}

/* ---- unequal input shapes ------------------------------------------------- */

#define CF_MAX_UNEQUAL 12      /* accepted variants checked, at most */
#define CF_MAX_UNEQUAL_FAILS 2 /* failing variants reported, at most */

typedef struct unequal_job {
    cf_config cfg;
    char where[300];
} unequal_job;

/* Output finite when every input is finite (a read of the NaN slack after
 * an input, past its end, shows up here). */
static void unequal_finite(cf_subject *s, tc_layer_check *lc, const char *where)
{
    tc_error err = {{0}};
    if (tc_layer_check_forward(lc, &err)) {
        cf_fail(s, "unequal input shapes", "%s (%s)", err.msg, where);
        return;
    }
    int64_t n = cf_count(&lc->output);
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(lc->output.data[k])) {
            cf_fail(s, "unequal input shapes", "output[%lld] is %g on finite inputs: forward "
                                               "read past the end of a smaller input (%s)",
                    (long long)k, (double)lc->output.data[k], where);
            return;
        }
}

static void unequal_gradients(cf_subject *s, tc_layer_check *lc, const char *where)
{
    tc_error err = {{0}};
    tc_gradcheck_report rep;
    tc_gradcheck_opts opts = {s->grad_step, s->grad_tolerance, CF_GRAD_MAX_ELEMENTS};
    if (tc_layer_check_gradients(lc, &opts, &rep, &err) == 0)
        return;
    if (rep.first_failed < 0) {
        cf_fail(s, "unequal input shapes", "%s (%s)", err.msg, where);
        return;
    }
    const tc_gradcheck_tensor *r = &rep.tensors[rep.first_failed];
    cf_fail(s, "unequal input shapes", "gradient check of %s: element %lld analytic %.4g vs "
                                       "numeric %.4g, rel err %.3g > tol %g (%s)",
            r->name, (long long)r->worst_index, r->analytic, r->numeric, r->worst,
            rep.tolerance, where);
}

static void unequal_child(cf_subject *s, void *arg)
{
    const char *C = "unequal input shapes";
    unequal_job *j = arg;
    tc_error err = {{0}};
    tc_layer_check lc;
    cf_fenced f[TC_LAYER_CHECK_MAX_INPUTS];
    memset(f, 0, sizeof f);
    if (cf_make(&lc, s, &j->cfg, 2, 1, &err)) {
        cf_fail(s, C, "%s (%s)", err.msg, j->where);
        tc_layer_check_free(&lc);
        return;
    }
    tc_layer_check_fill(&lc, 61, s->grad_step > TC_GRADCHECK_STEP ? s->grad_step : 0);
    for (int i = 0; i < lc.n_inputs; i++)
        if (cf_fence(&lc.inputs[i], &f[i])) {
            cf_fail(s, C, "could not map guard pages");
            goto out;
        }
    /* what fails first is reported; the rest would only repeat it */
    cf_child_step("forward and backward with %s, guard pages around each input,", j->where);
    int before = cf_fails_in_test;
    cf_guarded_pass(s, &lc, C, j->where);
    if (cf_fails_in_test == before)
        unequal_finite(s, &lc, j->where);
    cf_child_step("the gradient check with %s, guard pages around each input,", j->where);
    if (cf_fails_in_test == before)
        unequal_gradients(s, &lc, j->where);
out:
    for (int i = 0; i < lc.n_inputs; i++)
        if (cf_unfence(&lc.inputs[i], &f[i]))
            cf_fail(s, C, "input %d was written past its end (%s)", i, j->where);
    tc_layer_check_free(&lc);
}

/* The first configuration with two inputs or more (none for a loss, whose
 * inputs are [logits, label] anyway). */
static const cf_config *multi_config(const cf_subject *s)
{
    if (s->type->flags & TC_LAYER_LOSS)
        return NULL;
    for (int c = 0; c < s->n_configs; c++)
        if (s->configs[c].n_inputs >= 2)
            return &s->configs[c];
    return NULL;
}

/* Tries cfg with input i's dimension d moved by delta; returns 1 when
 * plan() accepted it and the child passed, 2 when it failed, 0 when plan()
 * refused it, -1 when skipped. */
static int unequal_try(cf_subject *s, const cf_config *base, int i, int d, int delta)
{
    unequal_job j = {.cfg = *base};
    int64_t *dim = &j.cfg.sample[i].dims[d];
    if (*dim + delta < 1)
        return -1;
    *dim += delta;
    char sh[200];
    snprintf(j.where, sizeof j.where, "inputs %s, which plan() accepted",
             cf_shapes_str(&j.cfg, 2, sh, sizeof sh));
    tc_layer_check lc;
    tc_error err = {{0}};
    int ok = cf_make(&lc, s, &j.cfg, 2, 1, &err) == 0;
    tc_layer_check_free(&lc);
    if (!ok)
        return 0;
    int before = cf_fails_in_test;
    cf_in_child(s, "unequal input shapes", unequal_child, &j);
    return cf_fails_in_test > before ? 2 : 1;
}

void cf_check_unequal_shapes(cf_subject *s)
{
    if (cf_not_usable(s, "unequal input shapes"))
        return;
    const cf_config *base = multi_config(s);
    if (!base) {
        printf("\n    not applicable: %s", (s->type->flags & TC_LAYER_LOSS)
                                                  ? "a loss (inputs [logits, label])"
                                                  : "no configuration has two inputs");
        return;
    }
    int tried = 0, refused = 0, accepted = 0, failed = 0;
    /* a larger and a smaller input show both ways to go wrong; after that
     * more failures would say nothing new */
    for (int i = 0; i < base->n_inputs; i++)
        for (int d = 0; d < base->sample[i].ndim; d++)
            for (int delta = 1; delta >= -1; delta -= 2) {
                if (accepted >= CF_MAX_UNEQUAL || failed >= CF_MAX_UNEQUAL_FAILS)
                    break;
                int r = unequal_try(s, base, i, d, delta);
                tried += r >= 0;
                refused += r == 0;
                accepted += r >= 1;
                failed += r == 2;
            }
    cf_done(s, accepted);
    if (cf_fails_in_test == 0)
        printf("\n    %d shapes with one input's dimension moved by 1: %d refused by plan(), %d "
           "accepted and run (each in a child process) with guard pages around every input: "
           "outputs and gradients fully written, finite, no read or write out of bounds, "
           "gradient check passed", tried, refused, accepted);
}
