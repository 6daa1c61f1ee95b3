/* Optimisers: SGD with momentum and Adam, with the update rules PyTorch uses
 * (so published hyperparameters carry over). Weight decay is L2 added to the
 * gradient, skipped for weights declared no_decay (biases). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/kernels.h"
#include "tinycnn/status.h"

typedef struct slot {
    char *name;
    tc_tensor t;
} slot;

struct tc_optimizer {
    tc_graph *g;
    tc_optim_config cfg;
    uint64_t steps;
    int n_slots_per_weight;
    int n_state;
    slot *state; /* weight i's slots at i * n_slots_per_weight */
};

const char *tc_optimizer_kind_name(tc_optim_kind kind)
{
    return kind == TC_OPTIM_ADAM ? "adam" : "sgd";
}

void tc_optimizer_free(tc_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->n_state; i++) {
        free(opt->state[i].name);
        free(opt->state[i].t.data);
    }
    free(opt->state);
    free(opt);
}

tc_optimizer *tc_optimizer_new(tc_graph *g, const tc_optim_config *cfg, tc_error *err)
{
    tc_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) {
        tc_error_set(err, "out of memory");
        return NULL;
    }
    opt->g = g;
    opt->cfg = *cfg;
    if (cfg->kind == TC_OPTIM_ADAM) {
        if (opt->cfg.beta1 == 0 && opt->cfg.beta2 == 0) {
            opt->cfg.beta1 = 0.9f;
            opt->cfg.beta2 = 0.999f;
        }
        if (opt->cfg.eps == 0)
            opt->cfg.eps = 1e-8f;
        opt->n_slots_per_weight = 2;
    } else {
        opt->n_slots_per_weight = cfg->momentum != 0 ? 1 : 0;
    }
    int nw = tc_graph_n_weights(g);
    opt->state = calloc((size_t)(nw * opt->n_slots_per_weight) + 1, sizeof *opt->state);
    if (!opt->state) {
        free(opt);
        tc_error_set(err, "out of memory");
        return NULL;
    }
    static const char *const adam_slots[] = {"m", "v"};
    for (int i = 0; i < nw; i++) {
        tc_weight *w = tc_graph_weight(g, i);
        for (int s = 0; s < opt->n_slots_per_weight; s++) {
            slot *sl = &opt->state[opt->n_state++];
            const char *suffix = cfg->kind == TC_OPTIM_ADAM ? adam_slots[s] : "momentum";
            size_t len = strlen(w->name) + strlen(suffix) + 2;
            sl->name = malloc(len);
            sl->t.shape = w->value.shape;
            sl->t.data = calloc((size_t)tc_shape_count(&w->value.shape), sizeof(float));
            if (!sl->name || !sl->t.data) {
                tc_optimizer_free(opt);
                tc_error_set(err, "out of memory for optimiser state");
                return NULL;
            }
            snprintf(sl->name, len, "%s.%s", w->name, suffix);
        }
    }
    return opt;
}

/* One step's settings, shared by the worker threads. */
typedef struct step_job {
    tc_optimizer *opt;
    float lr, step, inv_sqrt_bc2;
    int64_t total; /* elements over all weights */
} step_job;

/* Adam on elements [0, n) of one weight: the loop has no branches and no
 * calls (sqrtf becomes an instruction with -fno-math-errno), so it is
 * vectorised; each element is still computed by the same operations in the
 * same order, so the result does not depend on how the weights are split. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__)
/* also compiled for AVX2 (no FMA, so the same results), picked at load */
#define OPTIM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OPTIM_CLONES
#endif

OPTIM_CLONES
static void adam_span(float *restrict x, const float *restrict gr, float *restrict m,
                      float *restrict v, int64_t n, float wd, float b1, float b2, float eps,
                      float step, float inv_sqrt_bc2)
{
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (int64_t j = 0; j < n; j++) {
        float gj = gr[j] + wd * x[j];
        float mj = b1 * m[j] + c1 * gj;
        float vj = b2 * v[j] + c2 * gj * gj;
        m[j] = mj;
        v[j] = vj;
        x[j] -= step * mj / (sqrtf(vj) * inv_sqrt_bc2 + eps);
    }
}

OPTIM_CLONES
static void sgd_span(float *restrict x, const float *restrict gr, float *restrict mom, int64_t n,
                     float wd, float mu, float lr)
{
    if (mom) {
        for (int64_t j = 0; j < n; j++) {
            float gj = gr[j] + wd * x[j];
            float mj = mu * mom[j] + gj;
            mom[j] = mj;
            x[j] -= lr * mj;
        }
    } else {
        for (int64_t j = 0; j < n; j++)
            x[j] -= lr * (gr[j] + wd * x[j]);
    }
}

/* Updates elements [begin, end) of the weights laid end to end. */
static void step_range(void *arg, int64_t begin, int64_t end, int worker)
{
    const step_job *sj = arg;
    tc_optimizer *opt = sj->opt;
    const tc_optim_config *c = &opt->cfg;
    (void)worker;
    int nw = tc_graph_n_weights(opt->g);
    int64_t base = 0;
    for (int i = 0; i < nw && base < end; i++) {
        tc_weight *w = tc_graph_weight(opt->g, i);
        int64_t n = tc_shape_count(&w->value.shape);
        int64_t lo = begin > base ? begin - base : 0, hi = end - base < n ? end - base : n;
        base += n;
        if (lo >= hi)
            continue;
        float *x = w->value.data + lo;
        const float *gr = w->grad.data + lo;
        float wd = w->no_decay ? 0.0f : c->weight_decay;
        if (c->kind == TC_OPTIM_ADAM)
            adam_span(x, gr, opt->state[2 * i].t.data + lo, opt->state[2 * i + 1].t.data + lo,
                      hi - lo, wd, c->beta1, c->beta2, c->eps, sj->step, sj->inv_sqrt_bc2);
        else
            sgd_span(x, gr, opt->n_slots_per_weight == 1 ? opt->state[i].t.data + lo : NULL,
                     hi - lo, wd, c->momentum, sj->lr);
    }
}

/* Below this many weights one thread does the step (tens of microseconds):
 * less than a parallel region risks when another process holds a core. */
#define STEP_PARALLEL_MIN (1 << 18)

void tc_optimizer_step(tc_optimizer *opt, float lr)
{
    const tc_optim_config *c = &opt->cfg;
    opt->steps++;
    step_job sj = {.opt = opt, .lr = lr, .total = 0};
    if (c->kind == TC_OPTIM_ADAM) {
        float bc1 = 1.0f - powf(c->beta1, (float)opt->steps);
        float bc2 = 1.0f - powf(c->beta2, (float)opt->steps);
        sj.step = lr / bc1;
        sj.inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    }
    int nw = tc_graph_n_weights(opt->g);
    for (int i = 0; i < nw; i++)
        sj.total += tc_shape_count(&tc_graph_weight(opt->g, i)->value.shape);
    if (sj.total < STEP_PARALLEL_MIN)
        step_range(&sj, 0, sj.total, 0);
    else
        tc_parallel_for(sj.total, step_range, &sj);
}

uint64_t tc_optimizer_steps(const tc_optimizer *opt) { return opt->steps; }
void tc_optimizer_set_steps(tc_optimizer *opt, uint64_t steps) { opt->steps = steps; }
int tc_optimizer_n_state(const tc_optimizer *opt) { return opt->n_state; }

tc_tensor *tc_optimizer_state(tc_optimizer *opt, int i, const char **name)
{
    if (i < 0 || i >= opt->n_state)
        return NULL;
    if (name)
        *name = opt->state[i].name;
    return &opt->state[i].t;
}
