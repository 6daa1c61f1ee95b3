/* tinycnn/snapshot.h - the glue between a training session (a graph and its
 * optimiser) and a checkpoint file.
 *
 * A snapshot stores the model text (tc_graph_json), the caller's metadata,
 * every graph weight and state tensor under its own name ("conv1.weight",
 * "bn1.running_mean"), and every
 * optimiser state tensor under "optim/<name>" ("optim/conv1.weight.m"). The
 * optimiser's step count goes into the metadata as the integer member
 * "optimizer_steps" (a float32 tensor could not hold it exactly). */
#ifndef TINYCNN_SNAPSHOT_H
#define TINYCNN_SNAPSHOT_H

#include "tinycnn/checkpoint.h"
#include "tinycnn/graph.h"
#include "tinycnn/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Prefix of optimiser state tensor names in a checkpoint. */
#define TC_SNAPSHOT_OPTIM_PREFIX "optim/"
/* Metadata member holding the optimiser's step count. */
#define TC_SNAPSHOT_STEPS_KEY "optimizer_steps"

/* Writes a checkpoint of g (and of opt, which may be NULL) to path, atomically
 * (see tc_checkpoint_write). meta_json is a JSON object or NULL (then "{}");
 * with an optimiser, its member "optimizer_steps" is set (replaced) to the
 * step count, otherwise the text is stored as given. Tensors are written
 * straight from the graph and optimiser buffers, without a copy. A NaN or
 * infinite weight or state value is refused (naming the tensor and the
 * element) before the file is touched, so it never replaces a good one. */
int tc_snapshot_save(const char *path, tc_graph *g, tc_optimizer *opt, const char *meta_json,
                     tc_error *err);

/* Copies every weight and state tensor of g from ck, by name. Refuses,
 * naming the tensor and both shapes: a weight or state tensor ck lacks, a shape mismatch, and a tensor of ck
 * (other than "optim/...") that g lacks, i.e. a checkpoint of another
 * model, and a NaN or infinite value (naming the weight and the element).
 * Everything is checked before anything is copied, so on failure the
 * graph is unchanged. */
int tc_snapshot_load_weights(tc_graph *g, const tc_checkpoint *ck, tc_error *err);

/* Copies every optimiser state tensor from ck ("optim/<name>") and sets the
 * step count from ck's metadata. Refuses a missing tensor, a shape mismatch,
 * "optim/" tensors the optimiser lacks (state of another optimiser kind or
 * configuration), metadata without "optimizer_steps" (a snapshot saved
 * without an optimiser) and NaN or infinite state. On failure the optimiser
 * is unchanged. */
int tc_snapshot_load_optimizer(tc_optimizer *opt, const tc_checkpoint *ck, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
