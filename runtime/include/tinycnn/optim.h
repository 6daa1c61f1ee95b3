/* tinycnn/optim.h - optimisers over a graph's weights. */
#ifndef TINYCNN_OPTIM_H
#define TINYCNN_OPTIM_H

#include "tinycnn/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_optim_kind { TC_OPTIM_SGD = 0, TC_OPTIM_ADAM = 1 } tc_optim_kind;

typedef struct tc_optim_config {
    tc_optim_kind kind;
    float momentum;      /* SGD */
    float weight_decay;  /* L2, added to the gradient (not to no_decay weights) */
    float beta1, beta2, eps; /* Adam */
} tc_optim_config;

typedef struct tc_optimizer tc_optimizer;

/* Allocates the optimiser state for every weight of g. Owner: the caller,
 * freed by tc_optimizer_free; g must outlive it. */
tc_optimizer *tc_optimizer_new(tc_graph *g, const tc_optim_config *cfg, tc_error *err);
void tc_optimizer_free(tc_optimizer *opt);

/* One update with learning rate lr from the gradients in the graph. */
void tc_optimizer_step(tc_optimizer *opt, float lr);
uint64_t tc_optimizer_steps(const tc_optimizer *opt);
void tc_optimizer_set_steps(tc_optimizer *opt, uint64_t steps);

/* State tensors, named "<weight>.<slot>" (e.g. "conv1.weight.m"), for
 * checkpoints. */
int tc_optimizer_n_state(const tc_optimizer *opt);
tc_tensor *tc_optimizer_state(tc_optimizer *opt, int i, const char **name);
const char *tc_optimizer_kind_name(tc_optim_kind kind);

#ifdef __cplusplus
}
#endif
#endif
