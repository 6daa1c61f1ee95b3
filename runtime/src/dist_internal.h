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
} tc_dist_ops;

struct tc_dist {
    const tc_dist_ops *ops;
    int rank, size;
    int broken;      /* this rank left the lockstep */
    float *flat;     /* every gradient, packed, and the values summed with them */
    int64_t flat_cap;
    double comm_seconds;
    int64_t comm_calls;
};

/* A group of `size` with these ops, for a transport's tc_dist_init. Owner:
 * the caller (tc_dist_free). NULL when out of memory. */
tc_dist *tc_dist_new_group(const tc_dist_ops *ops, int rank, int size);

#endif
