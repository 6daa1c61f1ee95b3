/* The transport-independent part of tinycnn/dist.h (in libtinycnn): the
 * batch shares, the launcher test, and the group's operations over its
 * transport (dist_internal.h); tc_dist_init is src/dist_mpi.c's (or the
 * refusing stub, src/dist_none.c). */
#include "tinycnn/dist.h"

#include <stdlib.h>
#include <string.h>

#include "dist_internal.h"
#include "shape.h" /* tc_monotonic_seconds */
#include "tinycnn/status.h"

void tc_dist_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi)
{
    if (size < 1)
        size = 1;
    /* the first n % size ranks take one image more */
    int64_t base = n / size, extra = n % size;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

int tc_dist_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

/* TINYCNN_DIST_BUCKET_BYTES, a whole number of bytes (0: one call
 * always), else the default. */
static int64_t bucket_bytes_default(void)
{
    const char *s = getenv("TINYCNN_DIST_BUCKET_BYTES");
    char *end = NULL;
    long long v = s && *s ? strtoll(s, &end, 10) : -1;
    return v >= 0 && end && *end == 0 ? (int64_t)v : TC_DIST_BUCKET_BYTES_DEFAULT;
}

tc_dist *tc_dist_new_group(const tc_dist_ops *ops, int rank, int size)
{
    tc_dist *d = calloc(1, sizeof *d);
    if (d) {
        d->ops = ops;
        d->rank = rank;
        d->size = size;
        d->bucket_bytes = bucket_bytes_default();
        d->n_buckets = 1;
    }
    return d;
}

void tc_dist_free(tc_dist *d)
{
    if (!d)
        return;
    d->ops->finalize(d);
    free(d->flat);
    free(d->buckets);
    free(d->bucket_of);
    free(d->w_off);
    free(d);
}

int tc_dist_rank(const tc_dist *d)
{
    return d ? d->rank : 0;
}

int tc_dist_size(const tc_dist *d)
{
    return d ? d->size : 1;
}

int tc_dist_sum_f64(tc_dist *d, double *x, int n, tc_error *err)
{
    if (d->ops->sum_f64(d, x, n, err) != 0) {
        d->broken = 1;
        return 1;
    }
    return 0;
}

int tc_dist_grow_flat(tc_dist *d, int64_t n, tc_error *err)
{
    if (n <= d->flat_cap)
        return 0;
    float *f = realloc(d->flat, (size_t)n * sizeof *f);
    if (!f) {
        d->broken = 1;
        return tc_error_set(err, "rank %d: out of memory for %lld gradient values", d->rank,
                            (long long)n);
    }
    d->flat = f;
    d->flat_cap = n;
    return 0;
}

/* Copies every weight's gradient (times scale, or zeros) into d->flat, or
 * (back) the sums out of it. */
static void pack(tc_dist *d, tc_graph *g, float scale, int zero, int back)
{
    int64_t at = 0;
    for (int i = 0; i < tc_graph_n_weights(g); i++) {
        tc_weight *w = tc_graph_weight(g, i);
        int64_t n = tc_shape_count(&w->value.shape);
        if (back && w->grad.data)
            memcpy(w->grad.data, d->flat + at, (size_t)n * sizeof *d->flat);
        for (int64_t k = 0; !back && k < n; k++)
            d->flat[at + k] = zero || !w->grad.data ? 0.0f : w->grad.data[k] * scale;
        at += n;
    }
}

/* One buffer, one call, so that the latency is paid once per step; or,
 * after tc_dist_begin_gradients chose buckets, the rest of them. */
int tc_dist_sum_gradients(tc_dist *d, tc_graph *g, float scale, int zero, float *extra,
                          int n_extra, tc_error *err)
{
    if (d->hooked == g)
        return tc_dist_sum_bucketed(d, g, zero, extra, n_extra, err);
    d->hooked = NULL;
    d->n_buckets = 1;
    d->plan_weights = 0; /* a later begin plans the buckets afresh */
    int64_t total = tc_graph_n_weight_elements(g);
    if (tc_dist_grow_flat(d, total + n_extra, err) != 0)
        return 1;
    pack(d, g, scale, zero, 0);
    memcpy(d->flat + total, extra, (size_t)n_extra * sizeof *extra);
    double t0 = tc_monotonic_seconds();
    int rc = d->ops->sum_f32(d, d->flat, total + n_extra, err);
    d->comm_seconds += tc_monotonic_seconds() - t0;
    d->comm_calls++;
    if (rc != 0) {
        d->broken = 1;
        return 1;
    }
    pack(d, g, 1.0f, 0, 1);
    memcpy(extra, d->flat + total, (size_t)n_extra * sizeof *extra);
    return 0;
}

int tc_dist_broadcast_weights(tc_dist *d, tc_graph *g, tc_error *err)
{
    for (int i = 0; i < tc_graph_n_weights(g); i++) {
        tc_weight *w = tc_graph_weight(g, i);
        if (d->ops->bcast_f32(d, w->value.data, tc_shape_count(&w->value.shape), err) != 0) {
            d->broken = 1;
            return tc_error_prefix(err, "weight %s", w->name);
        }
    }
    return 0;
}

void tc_dist_set_bucket_bytes(tc_dist *d, int64_t bytes)
{
    if (!d)
        return;
    d->bucket_bytes = bytes < 0 ? 0 : bytes;
    d->plan_weights = 0;
}

int64_t tc_dist_bucket_bytes(const tc_dist *d)
{
    return d ? d->bucket_bytes : 0;
}

int tc_dist_n_buckets(const tc_dist *d)
{
    return d ? d->n_buckets : 1;
}

double tc_dist_wait_seconds(const tc_dist *d)
{
    return d ? d->wait_seconds : 0.0;
}

double tc_dist_comm_seconds(const tc_dist *d)
{
    return d ? d->comm_seconds : 0.0;
}

int64_t tc_dist_comm_calls(const tc_dist *d)
{
    return d ? d->comm_calls : 0;
}

void tc_dist_mark_broken(tc_dist *d)
{
    if (d)
        d->broken = 1;
}

int tc_dist_broken(const tc_dist *d)
{
    return d ? d->broken : 0;
}

void tc_dist_abort(tc_dist *d, int code)
{
    if (d)
        d->ops->abort(d, code); /* MPI_Abort: ends every rank, this one too */
}
