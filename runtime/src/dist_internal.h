/* Internal: a data-parallel group (tinycnn/dist.h) as the library sees it.
 * The transport is a table of functions filled by tc_dist_init (MPI:
 * src/dist_mpi.c, compiled into the programs that join groups), so that
 * libtinycnn itself links no MPI (a static program without MPI stays
 * possible) and src/dist.c does the rest: packing, timing, the broken
 * flag. */
#ifndef TC_DIST_INTERNAL_H
#define TC_DIST_INTERNAL_H

#include "tinycnn/dist.h"

typedef struct tc_dist_ops {
    /* sum x[0..n) over the ranks in place; err names the rank and the call */
    int (*sum_f64)(tc_dist *d, double *x, int n, tc_error *err);
    int (*sum_f32)(tc_dist *d, float *x, int64_t n, tc_error *err);
    /* rank 0's x[0..n) to every rank */
    int (*bcast_f32)(tc_dist *d, float *x, int64_t n, tc_error *err);
    void (*abort)(tc_dist *d, int code); /* ends every rank; does not return */
    void (*finalize)(tc_dist *d);        /* leaves the group (the transport's end) */
    /* The bucketed path: starts summing x[0..n) in place without waiting
     * (MPI_Iallreduce; n <= INT_MAX), lets the started sums progress
     * (MPI_Testall: Open MPI moves them on only inside its calls), and
     * waits for all of them. The requests are the transport's (pending). */
    int (*start_sum_f32)(tc_dist *d, float *x, int n, tc_error *err);
    int (*progress)(tc_dist *d, tc_error *err);
    int (*wait_all)(tc_dist *d, tc_error *err);
} tc_dist_ops;

/* A run of consecutive weights whose gradients are summed in one call:
 * flat[off, off + n) holds weights [w_lo, w_hi). */
typedef struct tc_dist_bucket {
    int64_t off, n;
    int w_lo, w_hi;
    int left;    /* weights whose gradients backward has still to produce */
} tc_dist_bucket;

struct tc_dist {
    const tc_dist_ops *ops;
    int rank, size;
    int broken;      /* this rank left the lockstep */
    float *flat;     /* every gradient, packed, and the values summed with them */
    int64_t flat_cap;
    double comm_seconds;
    int64_t comm_calls;
    /* The bucketed path (dist.c): buckets in the order backward completes
     * them, the last holding the first weights and, before them at flat[0],
     * the values summed with the gradients; started counts those begun. */
    int64_t bucket_bytes;        /* 0: one call always */
    tc_dist_bucket *buckets;
    int n_buckets, started;
    int *bucket_of;              /* per weight: its bucket */
    int64_t *w_off;              /* per weight: where it lies in flat */
    int plan_weights, plan_extra; /* what the buckets were planned for */
    tc_graph *hooked;            /* the graph whose backward feeds them now */
    float scale;
    int hook_failed;
    tc_error hook_err;
    double wait_seconds;         /* of comm_seconds: waiting after backward */
    void *pending;               /* the transport's requests */
    int n_pending, pending_cap;
};

/* A group of `size` with these ops, for a transport's tc_dist_init. Owner:
 * the caller (tc_dist_free). NULL when out of memory. */
tc_dist *tc_dist_new_group(const tc_dist_ops *ops, int rank, int size);

/* The default bucket size (TINYCNN_DIST_BUCKET_BYTES overrides it): a model
 * with fewer bytes of gradients is summed in one call. */
#define TC_DIST_BUCKET_BYTES_DEFAULT ((int64_t)1 << 20)

/* d->flat holds at least n floats; else err, and d broken. */
int tc_dist_grow_flat(tc_dist *d, int64_t n, tc_error *err);

/* tc_dist_sum_gradients after tc_dist_begin_gradients chose buckets: the
 * buckets backward left unstarted, the last with extra, and the wait for
 * all (dist_bucket.c). */
int tc_dist_sum_bucketed(tc_dist *d, tc_graph *g, int zero, float *extra, int n_extra,
                         tc_error *err);

#endif
