/* tinycnn/graph.h - a network loaded from its JSON description: nodes in
 * topological order, inferred shapes, graph-owned buffers, forward and
 * backward execution. The format is documented in docs/model-format.md. */
#ifndef TINYCNN_GRAPH_H
#define TINYCNN_GRAPH_H

#include "tinycnn/dataset.h" /* tc_resize_mode */
#include "tinycnn/plugin.h"
#include "tinycnn/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_graph tc_graph;

/* The most channels an input may give a per-channel "mean"/"std" for. */
#define TC_MAX_INPUT_CHANNELS 64

/* A graph input as declared in the model file. */
typedef struct tc_input_info {
    const char *name;
    tc_shape shape;    /* per sample, batch dimension excluded */
    int is_label;      /* 1: class indices, fed to the loss */
    /* Images: channel c's value = (pixel / 255 - mean[c]) / std[c], the
     * first n_norm values being set. n_norm is 1 when the model file gives
     * one number (or none: mean 0, std 1), which then stands for every
     * channel; it is the channel count when it gives arrays (only for a
     * [channels, height, width] input, at most TC_MAX_INPUT_CHANNELS). */
    float mean[TC_MAX_INPUT_CHANNELS], std[TC_MAX_INPUT_CHANNELS];
    int n_norm;
    /* Images: what becomes of an image of another size than the input's
     * height x width ("resize"): TC_RESIZE_NONE, an error naming the file
     * (the default); TC_RESIZE_STRETCH; TC_RESIZE_CROP, the shorter side
     * scaled to resize_size (0: max(height, width)), then the centre cut
     * out (tc_image_fit). */
    tc_resize_mode resize;
    int resize_size;
    /* Images: the class list the model file fixes ("classes"), in label
     * order, n_class_names of them, as many as the output's classes;
     * NULL and 0 when it gives none (the classes come from the data).
     * Graph-owned. */
    const char *const *class_names;
    int n_class_names;
} tc_input_info;

/* channel c's mean and std, whichever form the model file used */
static inline float tc_input_mean(const tc_input_info *in, int c)
{
    return in->mean[in->n_norm > 1 ? c : 0];
}
static inline float tc_input_std(const tc_input_info *in, int c)
{
    return in->std[in->n_norm > 1 ? c : 0];
}

/* A learnable tensor and its gradient, both graph-owned. */
typedef struct tc_weight {
    const char *name;  /* "node.weight" */
    tc_tensor value;
    tc_tensor grad;    /* data is NULL until a training batch is prepared */
    int no_decay;
} tc_weight;

/* The training settings a model carries: a tc_train_config
 * (complete in tinycnn/train.h; here only pointers to it), the built-in
 * defaults overridden by the model file's "training" object, whose every
 * key is checked against the table of settings (tinycnn/train_settings.h)
 * when the model is loaded. */
typedef struct tc_train_config tc_train_defaults;

/* Parses, orders and checks a model. Every error names `path` (or origin)
 * and the node at fault. Owner: the caller, freed by tc_graph_free. The
 * registry must outlive the graph. Weights are allocated (zero) but not
 * initialised: call tc_graph_init_weights or load them from a checkpoint. */
tc_graph *tc_graph_load_file(const tc_registry *reg, const char *path, tc_error *err);
tc_graph *tc_graph_load_string(const tc_registry *reg, const char *json_text,
                               const char *origin, tc_error *err);
void tc_graph_free(tc_graph *g);

/* The model text exactly as loaded (stored in checkpoints). */
const char *tc_graph_json(const tc_graph *g);
const char *tc_graph_name(const tc_graph *g);

/* Copies the model's training settings (see tc_train_defaults) into *d. */
void tc_graph_train_defaults(const tc_graph *g, tc_train_defaults *d);

int tc_graph_n_inputs(const tc_graph *g);
const tc_input_info *tc_graph_input(const tc_graph *g, int i);
int tc_graph_image_input(const tc_graph *g); /* index, or -1 */
int tc_graph_label_input(const tc_graph *g); /* index, or -1 */
int tc_graph_n_classes(const tc_graph *g);   /* size of the output's last dim */

/* Nodes in execution (topological) order. */
int tc_graph_n_nodes(const tc_graph *g);
const char *tc_graph_node_name(const tc_graph *g, int i);
const char *tc_graph_node_type(const tc_graph *g, int i);
tc_shape tc_graph_node_shape(const tc_graph *g, int i); /* batch 1 */

int tc_graph_n_weights(const tc_graph *g);
tc_weight *tc_graph_weight(tc_graph *g, int i);
tc_weight *tc_graph_find_weight(tc_graph *g, const char *name);
int64_t tc_graph_n_weight_elements(const tc_graph *g);

/* Persistent layer state ("bn1.running_mean"): graph-owned, saved in
 * checkpoints beside the weights, never touched by optimisers; grad is
 * unused (data NULL). In node order, then declaration order. */
int tc_graph_n_states(const tc_graph *g);
tc_weight *tc_graph_state(tc_graph *g, int i);
tc_weight *tc_graph_find_state(tc_graph *g, const char *name);

/* Initialises every weight from (seed, node name, weight name) and sets
 * every state tensor to its declared initial value. Also sets the seed of
 * per-step random streams (Dropout). */
void tc_graph_init_weights(tc_graph *g, uint64_t seed);
void tc_graph_set_seed(tc_graph *g, uint64_t seed);

/* Plans and allocates buffers for `batch` samples; training also allocates
 * gradients and runs the loss. Cheap when nothing changes; buffers only grow.
 * Training keeps every node's output for backward; an inference plan puts
 * them in one arena and reuses each one's bytes once all its consumers have
 * run (only the inputs and the output stay readable after the pass), unless
 * the buffers of an earlier training plan already hold the batch. */
int tc_graph_prepare(tc_graph *g, int batch, int training, tc_error *err);
int tc_graph_batch(const tc_graph *g);

/* Inference of a large batch whose nodes are all TC_LAYER_PER_SAMPLE runs
 * as passes over slices of its rows, nodes planned at the slice's rows, so
 * that a slice's activations stay in cache (and the arena is a slice's):
 * rows 0 (the default) takes slices of at least 32 rows a thread and
 * 2^26 forward FLOPs a thread (the types' flops() counts), evened out and
 * a multiple of 8 (LeNet-5's 1,000 rows on 2 threads: 7 passes of 144,
 * the inputs padded to 1,008 rows); rows > 0 exactly that many rows a
 * slice, the last one padded; rows < 0 always the whole batch. Outputs
 * equal the unsliced pass's up to the rounding of kernels that choose by
 * batch size. Takes effect at the next tc_graph_prepare;
 * tc_graph_slice_rows says the rows of a pass of the prepared batch (0:
 * one pass). */
void tc_graph_set_inference_slice(tc_graph *g, int rows);
int tc_graph_slice_rows(const tc_graph *g);

/* The buffer of input i for the prepared batch (batch x per-sample shape). */
float *tc_graph_input_data(tc_graph *g, int i);

/* Forward pass. training=1 runs every node including the loss (dropout
 * active, stream seeded by (seed, node, step)); training=0 runs only the
 * nodes the output needs. */
int tc_graph_forward(tc_graph *g, int training, uint64_t step, tc_error *err);

/* Backward pass after a training forward: fills every weight's grad. */
int tc_graph_backward(tc_graph *g, tc_error *err);

/* The output node's tensor (logits) and the loss of the last training forward. */
const tc_tensor *tc_graph_output(const tc_graph *g);
float tc_graph_loss(const tc_graph *g);

/* Per-node timing, accumulated while enabled. */
void tc_graph_set_profiling(tc_graph *g, int on);
void tc_graph_profile(const tc_graph *g, int node, double *fwd_seconds, double *bwd_seconds,
                      int64_t *calls);
void tc_graph_profile_reset(tc_graph *g);

/* Bytes the graph holds in planned buffers (activations, grads, workspace,
 * the inference arena). */
size_t tc_graph_planned_bytes(const tc_graph *g);

/* What the graph is executing now, for a runner's crash report, exit
 * handler or watchdog: the index of the node whose layer callback is
 * running (-1: none), its kind into *phase (may be NULL) and into *passes
 * (may be NULL) how many forward and backward passes have started. Lock-free
 * atomic reads only: safe in a signal handler and from another thread; the
 * answer is a snapshot (the callback may return meanwhile). */
enum { TC_CALLBACK_NONE = 0, TC_CALLBACK_PLAN = 1, TC_CALLBACK_FORWARD = 2,
       TC_CALLBACK_BACKWARD = 3 };
int tc_graph_running_node(const tc_graph *g, int *phase, uint64_t *passes);

/* The file that provides node i's layer type (a plugin path, or the name
 * given to tc_registry_add for a built-in type); NULL if unknown. Owned by
 * the registry. Safe in a signal handler. */
const char *tc_graph_node_origin(const tc_graph *g, int i);

#ifdef __cplusplus
}
#endif
#endif
