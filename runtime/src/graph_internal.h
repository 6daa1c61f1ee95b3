/* Internal: the graph's data structures, shared by graph_load.c (parsing,
 * ordering, shape inference), graph_plan.c (asking a layer for its plan)
 * and graph_exec.c (buffers, execution). */
#ifndef TC_GRAPH_INTERNAL_H
#define TC_GRAPH_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "tinycnn/graph.h"
#include "tinycnn/train.h" /* tc_train_defaults, held by value */

/* A value is a graph input or a node output; node i produces value
 * n_inputs + i. Buffers are owned by the graph and only grow. */
typedef struct tc_value {
    tc_shape shape1;      /* batch 1 */
    tc_shape shape;       /* at the prepared batch */
    float *data;
    size_t data_cap;      /* floats */
    float *grad;
    size_t grad_cap;
    int needs_grad;       /* some weight lies upstream of it */
    int grad_set;         /* during backward: grad holds a written value */
    int n_consumers;
    /* Where passes read and write it in the current plan: data, or at
     * inference a slice of the arena (tc_graph_bind_buffers). */
    float *at;
    size_t arena_off;     /* bytes into the arena, when pooled */
} tc_value;

typedef struct tc_node {
    char *name;
    const tc_layer_type *type;
    const char *origin;   /* plugin file (registry-owned) */
    void *self;
    int n_inputs;
    int *inputs;          /* value ids */
    double *param_values; /* type->n_params */
    tc_plan plan1;        /* at batch 1 */
    tc_plan plan;         /* at the prepared batch */
    int first_weight;
    int n_weights;
    int first_state;      /* into tc_graph.states */
    int n_state;
    int needed;           /* the output depends on it (inference runs it) */
    int file_index;       /* position in the file, for messages */
    void *saved;
    size_t saved_cap;
    void *saved_at;       /* saved, or its slice of the arena (as tc_value.at) */
    size_t saved_off;
    double fwd_seconds, bwd_seconds;
    int64_t calls;
} tc_node;

struct tc_graph {
    char *origin;
    char *json_text;
    char *name;
    tc_train_defaults defaults;

    int n_inputs;
    tc_input_info *inputs;
    char **input_names;

    int n_nodes;
    tc_node *nodes;       /* in execution order */
    int n_values;
    tc_value *values;
    int output_value;
    int loss_node;        /* index into nodes, or -1 */

    int n_weights;
    tc_weight *weights;
    char **weight_names;
    int n_states;         /* persistent layer state: no gradient, no optimiser */
    tc_weight *states;
    char **state_names;

    uint64_t seed;
    int batch;
    int prepared_training;
    int planned_threads;
    tc_tensor output_view;
    int profiling;
    int borrowed_tensors; /* weights and state belong to another graph */

    /* The layers' shared workspace; an inference plan puts its arena of
     * activations after it, in the same buffer (tc_batch_need.arena_at). */
    void *workspace;
    size_t workspace_cap;
    int no_reuse;         /* tests: inference keeps every activation apart */
    /* Inference of a large batch in passes over slices of its rows, so
     * that one slice's activations stay in cache (every active node
     * TC_LAYER_PER_SAMPLE): slice_rows rows a pass (0: the whole batch in
     * one), nodes planned at slice_rows, graph inputs holding the batch
     * padded to whole slices; each pass's output rows are copied into
     * sliced_out, the batch's output. slice_setting: 0 automatic, > 0
     * that many rows, < 0 never (tc_graph_set_inference_slice). */
    int slice_rows;
    int slice_setting;
    int slice_changed;     /* set since the last prepare: plan again */
    float *sliced_out;
    size_t sliced_out_cap; /* floats */
    float *scratch;       /* fan-out gradient sums */
    size_t scratch_cap;   /* floats */
    float one;            /* d loss / d loss */
    /* Called in backward after each node, once its weights' gradients
     * (weights first..first + n - 1; n may be 0) are final: a group starts
     * summing them while backward goes on (dist.c). NULL: none. */
    void (*grad_ready)(void *user, int first_weight, int n_weights);
    void *grad_ready_user;

    /* The layer callback running now, for tc_graph_running_node (a crash
     * report reads it from a signal handler): (node index + 1) << 2 | the
     * TC_CALLBACK_ kind, 0 when none; one atomic word so that node and kind
     * are read together. passes counts forward and backward passes. */
    _Atomic int running;
    _Atomic uint64_t passes;
};

/* Around every layer callback: cheap (a relaxed store), and the store is
 * ordered before the indirect call, which the compiler cannot see into. */
static inline void tc_graph_enter(tc_graph *g, const tc_node *nd, int kind)
{
    atomic_store_explicit(&g->running, (int)((nd - g->nodes) + 1) << 2 | kind,
                          memory_order_relaxed);
}

static inline void tc_graph_leave(tc_graph *g)
{
    atomic_store_explicit(&g->running, 0, memory_order_relaxed);
}

/* Plans node nd at the shapes of its inputs' values (batch1: 1 = the
 * batch-1 shapes into nd's plan1, 0 = the prepared batch) and checks what
 * the layer declared (graph_plan.c). */
int tc_graph_plan_node(tc_graph *g, tc_node *nd, int batch1, tc_plan *plan, tc_error *err);

/* Whether node nd runs in a pass: training runs every node, inference
 * only those the output needs. */
static inline int tc_node_active(const tc_node *nd, int training)
{
    return training ? 1 : nd->needed;
}

/* What the buffers of one batch size need (tc_graph_plan_batch). */
typedef struct tc_batch_need {
    int64_t input_floats[64]; /* per graph input */
    size_t workspace;         /* bytes, the largest of any node */
    size_t scratch;           /* floats of fan-out gradient sums */
    size_t total;             /* bytes of every buffer at this batch */
    size_t fresh;             /* bytes still to allocate (buffers only grow) */
    int largest;              /* the node whose buffers are largest, -1: none */
    size_t largest_bytes;
    /* Inference: 1 when node outputs and saved buffers share one arena,
     * each slice reused once every consumer has run; workspace then counts
     * the layers' workspace (arena_at bytes, rounded) plus the arena. */
    int pooled;
    size_t arena_at, arena;
    /* Inference in slices (tc_graph.slice_rows): the rows of a pass (0:
     * the whole batch) and the floats of the batch's output. */
    int slice_rows;
    int64_t output_floats;
} tc_batch_need;

/* Plans every node that runs at this batch (values' shapes and nodes' plans
 * set), totals the bytes the buffers need and refuses, before anything is
 * allocated, a batch that needs more than the memory available (the least
 * of MemAvailable, the address-space limit and a cgroup limit), naming the
 * largest node (graph_plan.c). An inference plan pools the node outputs
 * (need->pooled) unless reuse is off or the graph's own buffers already
 * hold this batch (a training plan's, so evaluating costs nothing more). */
int tc_graph_plan_batch(tc_graph *g, int batch, int training, tc_batch_need *need,
                        tc_error *err);

/* Points every value's and node's `at` pointers into the buffers of the
 * plan just allocated (graph_plan.c). */
void tc_graph_bind_buffers(tc_graph *g, const tc_batch_need *need, int training);

/* Frees what a node owns. */
void tc_node_release(tc_node *n);

/* Makes g use src's weight and state buffers in place of its own (freed):
 * for inference contexts (model.c) that share one read-only copy. Both must
 * come from the same model text (checked: names and shapes). g then never
 * frees them, refuses a training batch, and must be freed before src. */
int tc_graph_share_tensors(tc_graph *g, const tc_graph *src, tc_error *err);

#endif
