/* tinycnn/summary.h - a model's layers at a glance (Keras's model.summary()):
 * per node its type, inputs, output shape per image, weight and state
 * elements and forward FLOPs per image, with the totals. `tinycnn summary`
 * prints it; `tinycnn report` draws the graph from it. */
#ifndef TINYCNN_SUMMARY_H
#define TINYCNN_SUMMARY_H

#include <stdint.h>
#include "tinycnn/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a node input comes from: node `index` (in execution order), or,
 * when is_graph_input, graph input `index` (tc_graph_input). */
typedef struct tc_summary_source {
    const char *name;    /* the node's or the graph input's name; lives as long as the graph */
    int index;
    int is_graph_input;
} tc_summary_source;

typedef struct tc_node_summary {
    const char *name, *type;  /* live as long as the graph */
    int n_inputs;
    tc_summary_source *inputs;
    tc_shape output;          /* per image: the batch dimension left out */
    int64_t weights;          /* learnable elements */
    int64_t state;            /* persistent non-learnable elements (running statistics) */
    int64_t flops;            /* forward, per image; -1: the type does not say */
    int is_loss;              /* the loss node: training only, inference skips it */
    int depth;                /* longest path from a graph input (those are depth 0) */
} tc_node_summary;

typedef struct tc_summary {
    int n_nodes;
    tc_node_summary *nodes;   /* in execution order */
    int64_t weights, state;   /* totals */
    int64_t flops;            /* sum of the known counts */
    int flops_unknown;        /* nodes whose count is unknown: flops is then a lower bound */
    int max_depth;
} tc_summary;

/* Fills *s from g's plans at batch 1. FLOPs come from each layer type's
 * optional flops() (tinycnn/plugin.h, 2.1). Owner of s->nodes: the caller
 * (tc_summary_free). */
int tc_summary_make(const tc_graph *g, tc_summary *s, tc_error *err);
void tc_summary_free(tc_summary *s);

/* The summary as JSON text, an object {"model", "nodes": [...], "totals"}
 * (docs/report.md gives the fields). Owner: the caller (free()); NULL when
 * out of memory. */
char *tc_summary_json(const tc_graph *g, const tc_summary *s);

/* The summary as the table `tinycnn summary` prints: "model M: N nodes", a
 * header, one line per node (name, type, inputs, output shape, weights,
 * state, forward MFLOPs per image or '-' when the type does not count them,
 * "(training only)" after the loss), then "total: ..." with "at least" and
 * the number of uncounted nodes when there are some; every line ends in
 * '\n'. Owner of the string: the caller (free()); NULL when out of memory. */
char *tc_summary_text(const tc_graph *g, const tc_summary *s);

/* The graph of a model file or of a checkpoint (with its weights loaded):
 * a file whose first non-blank byte is '{' is read as a model
 * (tc_graph_load_file), any other as a checkpoint (tc_checkpoint_read,
 * tc_checkpoint_graph). Errors name the file. Owner of the graph: the
 * caller (tc_graph_free); NULL with err set on failure. */
tc_graph *tc_summary_open(const tc_registry *reg, const char *path, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
