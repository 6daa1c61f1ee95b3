/* tinycnn/dist.h - data-parallel training over MPI (docs/distributed.md).
 *
 * A group of processes (ranks) trains one model: every rank holds the whole
 * model and data set, each global batch (the order a single process visits
 * with the same seed) is split over the ranks in contiguous shares
 * (tc_dist_share), each rank runs forward and backward on its share only,
 * and the gradients, each scaled by its share of the batch so that their
 * sum is the gradient of the mean over the global batch, are summed with
 * an in-place MPI allreduce every step (in buckets started while backward
 * runs, for a large model) before every rank takes the same optimiser
 * step. Rank 0 alone evaluates and writes checkpoints
 * (tinycnn/session.h: tc_session_config.dist).
 *
 * The ranks agree every step, in the same allreduce, on what a single rank
 * could decide alone (a failed pass, a non-finite loss, a cancel flag), so
 * that they stop together at the same batch boundary, before the update; a rank that fails where the others
 * cannot learn of it (tc_dist_broken) must end the group with
 * tc_dist_abort, never leave it waiting.
 *
 * libtinycnn needs no MPI: its own tc_dist_init refuses, saying so, and
 * tc_dist_available() is 0. The MPI ones are runtime/src/dist_mpi.c,
 * compiled into the programs that join groups (the runner, when built with
 * -DTINYCNN_MPI=ON, the default when CMake finds MPI); a C program that
 * wants them compiles that file in with its MPI (mpicc). */
#ifndef TINYCNN_DIST_H
#define TINYCNN_DIST_H

#include <stdint.h>
#include "tinycnn/graph.h"
#include "tinycnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_dist tc_dist;

/* 1 when the library was built with MPI. */
int tc_dist_available(void);

/* 1 when the environment says this process was started by an MPI launcher
 * (Open MPI's OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX_RANK). */
int tc_dist_launched(void);

/* Joins the MPI job (MPI_Init; errors on its communicator are returned,
 * not fatal). Owner: the caller (tc_dist_free, which ends MPI). NULL with
 * err set when built without MPI or when MPI cannot start. Once per
 * process. */
tc_dist *tc_dist_init(tc_error *err);
void tc_dist_free(tc_dist *d);

int tc_dist_rank(const tc_dist *d);
int tc_dist_size(const tc_dist *d);

/* The share [*lo, *hi) of rank `rank` of `size` in a batch of n images:
 * contiguous, in rank order, sizes differing by at most one. */
void tc_dist_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);

/* Sums x[0..n) over the ranks, in place, on every rank. */
int tc_dist_sum_f64(tc_dist *d, double *x, int n, tc_error *err);

/* Before a step's backward: when the model has more bytes of gradients
 * than tc_dist_bucket_bytes, plans buckets of them (the last weights
 * first, each at least that many bytes) and hooks g's backward so that
 * each bucket's sum (MPI_Iallreduce) starts as soon as backward has
 * produced it; scale and n_extra are then those of the
 * tc_dist_sum_gradients that follows (which must, on every rank). Else
 * nothing: that call sums everything at once. */
int tc_dist_begin_gradients(tc_dist *d, tc_graph *g, float scale, int n_extra, tc_error *err);

/* Every weight's gradient times `scale`, summed over the ranks into the
 * gradients in place, and extra[0..n_extra) summed with them: one
 * allreduce of one flat buffer, or (after tc_dist_begin_gradients planned
 * buckets) the buckets backward has not started, the last with extra, and
 * the wait for all. zero: this rank contributes zero gradients (an empty
 * share, a failed pass; buckets already started carry what backward had
 * produced, which no rank applies: the ranks then stop together). Counts
 * into tc_dist_comm_seconds. */
int tc_dist_sum_gradients(tc_dist *d, tc_graph *g, float scale, int zero, float *extra,
                          int n_extra, tc_error *err);

/* Rank 0's weights copied to every rank (the start of a run). */
int tc_dist_broadcast_weights(tc_dist *d, tc_graph *g, tc_error *err);

/* Seconds spent summing gradients (in tc_dist_sum_gradients and, on the
 * bucketed path, in starting and advancing the sums during backward) and
 * the steps summed; of those seconds, the waiting for the buckets after
 * backward (0 on the single-call path). */
double tc_dist_comm_seconds(const tc_dist *d);
int64_t tc_dist_comm_calls(const tc_dist *d);
double tc_dist_wait_seconds(const tc_dist *d);

/* The bucket size (bytes; 0: one call always). The default, 1 MiB, or the
 * environment's TINYCNN_DIST_BUCKET_BYTES (a whole number) at
 * tc_dist_init. */
void tc_dist_set_bucket_bytes(tc_dist *d, int64_t bytes);
int64_t tc_dist_bucket_bytes(const tc_dist *d);

/* The buckets the last step's gradients were summed in (1: one call). */
int tc_dist_n_buckets(const tc_dist *d);

/* Marks the group broken: this rank left the lockstep (an error the others
 * were not told of); tc_dist_broken says whether it is. */
void tc_dist_mark_broken(tc_dist *d);
int tc_dist_broken(const tc_dist *d);

/* Ends every rank of the job with exit status `code` (MPI_Abort). For a
 * program, after it reported its error; does not return, but for d NULL
 * (no group to end), when it returns at once and the program exits as it
 * would have. */
void tc_dist_abort(tc_dist *d, int code);

/* tc_train_epoch (tinycnn/train.h) over a group: d NULL is tc_train_epoch
 * itself. With d, this rank fills and runs only its share of each batch,
 * the ranks agree each step on failures, divergence and cancellation (any
 * rank's flag stops all at the same boundary; the error names the rank),
 * and the gradients are summed before the step. The stats and progress
 * count the whole group's images, losses and correct answers. */
int tc_train_epoch_dist(tc_graph *g, tc_optimizer *opt, const tc_dataset *train,
                        const tc_train_config *cfg, int epoch, int64_t start_batch,
                        const tc_train_hooks *hooks, tc_dist *d, tc_epoch_stats *stats,
                        tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
