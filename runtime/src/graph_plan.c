/* Planning one node: asks its layer for the output shape, weights, state
 * and scratch sizes at the current input shapes, and checks the answer.
 * The loader plans every node at batch 1; the executor plans again at
 * each prepared batch size. */
#include <math.h>
#include <string.h>

#include "graph_internal.h"
#include "shape.h"
#include "tinycnn/kernels.h"
#include "tinycnn/registry.h"
#include "tinycnn/status.h"

int tc_graph_plan_node(tc_graph *g, tc_node *nd, int batch1, tc_plan *plan, tc_error *err)
{
    tc_shape in[64];
    char b1[96], b2[96];
    for (int j = 0; j < nd->n_inputs; j++)
        in[j] = batch1 ? g->values[nd->inputs[j]].shape1 : g->values[nd->inputs[j]].shape;
    memset(plan, 0, sizeof *plan);
    plan->struct_size = sizeof *plan;
    tc_error local = {{0}};
    if (nd->type->plan(tc_host_table(), nd->self, in, nd->n_inputs, tc_get_threads(), plan,
                       &local) != 0)
        return tc_error_set(err, "%s: node '%s' (%s): %s", g->origin, nd->name, nd->type->name,
                            local.msg[0] ? local.msg : "shape inference failed");
    int64_t count;
    if (!tc_shape_valid(&plan->output, &count))
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s is empty or too large",
                            g->origin, nd->name, nd->type->name,
                            tc_shape_format(&plan->output, b1, sizeof b1));
    if (plan->output.dims[0] != in[0].dims[0] && !(nd->type->flags & TC_LAYER_LOSS))
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s does not keep the batch "
                                 "size of input %s", g->origin, nd->name, nd->type->name,
                            tc_shape_format(&plan->output, b1, sizeof b1),
                            tc_shape_format(&in[0], b2, sizeof b2));
    if (plan->n_weights < 0 || plan->n_weights > TC_MAX_WEIGHTS)
        return tc_error_set(err, "%s: node '%s' (%s): declares %d weights (at most %d)",
                            g->origin, nd->name, nd->type->name, plan->n_weights,
                            TC_MAX_WEIGHTS);
    for (int w = 0; w < plan->n_weights; w++)
        if (!plan->weights[w].name || !tc_shape_valid(&plan->weights[w].shape, NULL))
            return tc_error_set(err, "%s: node '%s' (%s): weight %d has no name or a bad shape %s",
                                g->origin, nd->name, nd->type->name, w,
                                tc_shape_format(&plan->weights[w].shape, b1, sizeof b1));
    if (plan->n_state < 0 || plan->n_state > TC_MAX_STATE)
        return tc_error_set(err, "%s: node '%s' (%s): declares %d state tensors (at most %d)",
                            g->origin, nd->name, nd->type->name, plan->n_state, TC_MAX_STATE);
    for (int w = 0; w < plan->n_state; w++)
        if (!plan->state[w].name || !tc_shape_valid(&plan->state[w].shape, NULL) ||
            !isfinite(plan->state[w].init_value))
            return tc_error_set(err, "%s: node '%s' (%s): state tensor %d has no name, a bad "
                                     "shape %s or a non-finite initial value",
                                g->origin, nd->name, nd->type->name, w,
                                tc_shape_format(&plan->state[w].shape, b1, sizeof b1));
    if (plan->workspace_bytes > ((size_t)1 << 40) || plan->saved_bytes > ((size_t)1 << 40))
        return tc_error_set(err, "%s: node '%s' (%s): asks for an absurd scratch size",
                            g->origin, nd->name, nd->type->name);
    return 0;
}
