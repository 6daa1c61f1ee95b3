/* Optimisers: SGD with momentum and Adam, with the update rules PyTorch uses
 * (so published hyperparameters carry over). Weight decay is L2 added to the
 * gradient, skipped for weights declared no_decay (biases). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void tc_optimizer_step(tc_optimizer *opt, float lr)
{
    const tc_optim_config *c = &opt->cfg;
    opt->steps++;
    int nw = tc_graph_n_weights(opt->g);
    float bc1 = 1.0f, bc2 = 1.0f;
    if (c->kind == TC_OPTIM_ADAM) {
        bc1 = 1.0f - powf(c->beta1, (float)opt->steps);
        bc2 = 1.0f - powf(c->beta2, (float)opt->steps);
    }
    for (int i = 0; i < nw; i++) {
        tc_weight *w = tc_graph_weight(opt->g, i);
        int64_t n = tc_shape_count(&w->value.shape);
        float *x = w->value.data;
        const float *gr = w->grad.data;
        float wd = w->no_decay ? 0.0f : c->weight_decay;
        if (c->kind == TC_OPTIM_ADAM) {
            float *m = opt->state[2 * i].t.data, *v = opt->state[2 * i + 1].t.data;
            float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
            float step = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
            for (int64_t j = 0; j < n; j++) {
                float gj = gr[j] + wd * x[j];
                m[j] = b1 * m[j] + (1.0f - b1) * gj;
                v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
                x[j] -= step * m[j] / (sqrtf(v[j]) * inv_sqrt_bc2 + eps);
            }
        } else if (opt->n_slots_per_weight == 1) {
            float *mom = opt->state[i].t.data, mu = c->momentum;
            for (int64_t j = 0; j < n; j++) {
                float gj = gr[j] + wd * x[j];
                mom[j] = mu * mom[j] + gj;
                x[j] -= lr * mom[j];
            }
        } else {
            for (int64_t j = 0; j < n; j++)
                x[j] -= lr * (gr[j] + wd * x[j]);
        }
    }
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
