/* tc_dist_init over MPI (Open MPI), compiled into the programs that join
 * groups (the runner; not part of libtinycnn, which needs no MPI): the group is
 * MPI_COMM_WORLD, whose errors are returned (MPI_ERRORS_RETURN) so that
 * they become tc_error messages naming the rank; a rank that dies is seen
 * by mpirun, which ends the job. The rest of tinycnn/dist.h (src/dist.c)
 * reaches MPI through the table below only. */
#include "tinycnn/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist_internal.h"
#include "tinycnn/status.h"

int tc_dist_available(void)
{
    return 1;
}

static int mpi_failed(int code, const char *what, int rank, tc_error *err)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", code);
    return tc_error_set(err, "rank %d: %s failed: %s", rank, what, text);
}

static int sum_f64(tc_dist *d, double *x, int n, tc_error *err)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_failed(rc, "MPI_Allreduce", d->rank, err);
}

/* In calls of at most INT_MAX elements (MPI counts are int). */
static int sum_f32(tc_dist *d, float *x, int64_t n, tc_error *err)
{
    for (int64_t at = 0; at < n; at += INT_MAX) {
        int cnt = (int)(n - at < INT_MAX ? n - at : INT_MAX);
        int rc = MPI_Allreduce(MPI_IN_PLACE, x + at, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, "MPI_Allreduce of the gradients", d->rank, err);
    }
    return 0;
}

static int bcast_f32(tc_dist *d, float *x, int64_t n, tc_error *err)
{
    for (int64_t at = 0; at < n; at += INT_MAX) {
        int cnt = (int)(n - at < INT_MAX ? n - at : INT_MAX);
        int rc = MPI_Bcast(x + at, cnt, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, "MPI_Bcast", d->rank, err);
    }
    return 0;
}

/* The bucketed path: MPI_Iallreduce, its requests in d->pending. */
static int start_sum_f32(tc_dist *d, float *x, int n, tc_error *err)
{
    if (d->n_pending == d->pending_cap) {
        int cap = d->pending_cap ? 2 * d->pending_cap : 16;
        MPI_Request *r = realloc(d->pending, (size_t)cap * sizeof *r);
        if (!r)
            return tc_error_set(err, "rank %d: out of memory for MPI requests", d->rank);
        d->pending = r;
        d->pending_cap = cap;
    }
    MPI_Request *req = (MPI_Request *)d->pending + d->n_pending;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, req);
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "MPI_Iallreduce of the gradients", d->rank, err);
    d->n_pending++;
    return 0;
}

/* Open MPI advances nonblocking collectives only inside its calls. */
static int progress(tc_dist *d, tc_error *err)
{
    int done = 0;
    int rc = MPI_Testall(d->n_pending, d->pending, &done, MPI_STATUSES_IGNORE);
    return rc == MPI_SUCCESS ? 0 : mpi_failed(rc, "MPI_Testall", d->rank, err);
}

static int wait_all(tc_dist *d, tc_error *err)
{
    int rc = MPI_Waitall(d->n_pending, d->pending, MPI_STATUSES_IGNORE);
    d->n_pending = 0;
    return rc == MPI_SUCCESS ? 0 : mpi_failed(rc, "MPI_Waitall of the gradients", d->rank, err);
}

static void mpi_abort(tc_dist *d, int code)
{
    (void)d;
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void finalize(tc_dist *d)
{
    free(d->pending);
    MPI_Finalize();
}

static const tc_dist_ops mpi_ops = {sum_f64,  sum_f32,       bcast_f32, mpi_abort,
                                    finalize, start_sum_f32, progress,  wait_all};

tc_dist *tc_dist_init(tc_error *err)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited) {
        tc_error_set(err, "tc_dist_init: MPI is already initialised (once per process)");
        return NULL;
    }
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        tc_error_set(err, "MPI_Init failed (started by mpirun?)");
        return NULL;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    tc_dist *d = tc_dist_new_group(&mpi_ops, rank, size);
    if (!d) {
        tc_error_set(err, "out of memory");
        MPI_Finalize();
    }
    return d;
}
