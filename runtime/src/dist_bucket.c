/* The bucketed gradient sum of a group (tinycnn/dist.h,
 * docs/distributed.md): the weights' gradients, in the order backward
 * finishes them (the last weights first), are cut into buckets of at least
 * d->bucket_bytes; each bucket's nonblocking sum starts as soon as
 * backward has produced all of its gradients (the executor's grad_ready
 * hook), so that communication overlaps the rest of backward, and all are
 * waited for before the optimiser step. Every element is summed by one
 * allreduce over the same ranks as in the single-call path, each rank
 * contributing the same gradient times its share. Every rank starts the
 * buckets in the same order (MPI's rule for collectives), whether its
 * backward ran, failed half way or never started (an empty share). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dist_internal.h"
#include "graph_internal.h" /* the backward hook */
#include "shape.h"          /* tc_monotonic_seconds */
#include "tinycnn/status.h"

/* Per weight, its bucket and place; then the buckets, from the last weight
 * back, each closed once it holds bucket_bytes (a weight is never split).
 * The first weights are the last bucket, which starts at flat[0], where
 * the n_extra values lie. Returns 0, or 1 out of memory. */
static int plan_buckets(tc_dist *d, tc_graph *g, int n_extra)
{
    int nw = tc_graph_n_weights(g);
    free(d->buckets);
    free(d->bucket_of);
    free(d->w_off);
    d->buckets = calloc((size_t)nw + 1, sizeof *d->buckets);
    d->bucket_of = calloc((size_t)nw + 1, sizeof *d->bucket_of);
    d->w_off = calloc((size_t)nw + 1, sizeof *d->w_off);
    d->n_buckets = d->plan_weights = 0;
    if (!d->buckets || !d->bucket_of || !d->w_off)
        return 1;
    int64_t at = n_extra;
    for (int i = 0; i < nw; i++) {
        d->w_off[i] = at;
        at += tc_shape_count(&tc_graph_weight(g, i)->value.shape);
    }
    d->w_off[nw] = at;
    int hi = nw;
    for (int i = nw - 1; i >= 0; i--) {
        int last = i == 0;
        if (!last && (d->w_off[hi] - d->w_off[i]) * (int64_t)sizeof(float) < d->bucket_bytes)
            continue;
        tc_dist_bucket *b = &d->buckets[d->n_buckets++];
        b->w_lo = i;
        b->w_hi = hi;
        b->off = last ? 0 : d->w_off[i];
        b->n = d->w_off[hi] - b->off;
        for (int w = i; w < hi; w++)
            d->bucket_of[w] = d->n_buckets - 1;
        hi = i;
    }
    d->plan_weights = nw;
    d->plan_extra = n_extra;
    return 0;
}

/* Weight w's gradient times scale (zeros: zero, or none) into flat. */
static void pack_weight(tc_dist *d, tc_graph *g, int w, float scale, int zero)
{
    tc_weight *wt = tc_graph_weight(g, w);
    float *dst = d->flat + d->w_off[w];
    int64_t n = d->w_off[w + 1] - d->w_off[w];
    if (zero || !wt->grad.data) {
        memset(dst, 0, (size_t)n * sizeof *dst);
        return;
    }
    for (int64_t k = 0; k < n; k++)
        dst[k] = wt->grad.data[k] * scale; /* as the single-call path's pack */
}

static int start_next(tc_dist *d, tc_error *err)
{
    tc_dist_bucket *b = &d->buckets[d->started++];
    return d->ops->start_sum_f32(d, d->flat + b->off, (int)b->n, err);
}

/* The executor's hook: packs the node's gradients, starts the buckets now
 * complete (in order), and lets the started ones progress. */
static void on_grad_ready(void *user, int first_weight, int n_weights)
{
    tc_dist *d = user;
    if (d->hook_failed)
        return;
    double t0 = tc_monotonic_seconds();
    for (int w = first_weight; w < first_weight + n_weights; w++) {
        pack_weight(d, d->hooked, w, d->scale, 0);
        d->buckets[d->bucket_of[w]].left--;
    }
    int rc = 0;
    /* the last bucket waits for the values summed with it */
    while (rc == 0 && d->started < d->n_buckets - 1 && d->buckets[d->started].left == 0)
        rc = start_next(d, &d->hook_err);
    if (rc == 0 && d->started > 0)
        rc = d->ops->progress(d, &d->hook_err);
    d->hook_failed = rc != 0;
    d->comm_seconds += tc_monotonic_seconds() - t0;
}

/* Buckets pay off when there are at least two and the transport has
 * nonblocking sums; they are planned once per graph layout. */
int tc_dist_begin_gradients(tc_dist *d, tc_graph *g, float scale, int n_extra, tc_error *err)
{
    if (d->hooked)
        d->hooked->grad_ready = NULL;
    d->hooked = NULL;
    int64_t total = tc_graph_n_weight_elements(g);
    if (d->bucket_bytes <= 0 || !d->ops->start_sum_f32 ||
        total * (int64_t)sizeof(float) <= d->bucket_bytes) {
        d->n_buckets = 1;
        d->plan_weights = 0;
        return 0;
    }
    if (d->plan_weights != tc_graph_n_weights(g) || d->plan_extra != n_extra ||
        d->w_off[d->plan_weights] != total + n_extra) {
        if (plan_buckets(d, g, n_extra) != 0) {
            d->broken = 1;
            return tc_error_set(err, "rank %d: out of memory for the gradient buckets", d->rank);
        }
    }
    for (int i = 0; i < d->n_buckets; i++)
        if (d->buckets[i].n > INT_MAX) {
            d->n_buckets = 1; /* MPI counts are int: one call, in pieces */
            d->plan_weights = 0;
            return 0;
        }
    if (d->n_buckets < 2) {
        d->plan_weights = 0; /* the single-call path reports one bucket */
        return 0;
    }
    if (tc_dist_grow_flat(d, total + n_extra, err) != 0)
        return 1;
    for (int i = 0; i < d->n_buckets; i++)
        d->buckets[i].left = d->buckets[i].w_hi - d->buckets[i].w_lo;
    d->started = 0;
    d->scale = scale;
    d->hook_failed = 0;
    d->hooked = g;
    g->grad_ready_user = d;
    g->grad_ready = on_grad_ready;
    return 0;
}

/* Starts what backward left (all of it on a rank whose pass failed or had
 * nothing to do: zeros then, as the single-call path), waits for every
 * bucket and copies the sums back. */
int tc_dist_sum_bucketed(tc_dist *d, tc_graph *g, int zero, float *extra, int n_extra,
                         tc_error *err)
{
    g->grad_ready = NULL;
    d->hooked = NULL;
    double t0 = tc_monotonic_seconds();
    int rc = d->hook_failed ? tc_error_set(err, "%s", d->hook_err.msg) : 0;
    while (rc == 0 && d->started < d->n_buckets) {
        const tc_dist_bucket *b = &d->buckets[d->started];
        for (int w = b->w_lo; w < b->w_hi && (zero || b->left > 0); w++)
            pack_weight(d, g, w, d->scale, zero);
        if (d->started == d->n_buckets - 1)
            memcpy(d->flat, extra, (size_t)n_extra * sizeof *extra);
        rc = start_next(d, err);
    }
    double t1 = tc_monotonic_seconds();
    if (rc == 0)
        rc = d->ops->wait_all(d, err);
    double t2 = tc_monotonic_seconds();
    d->wait_seconds += t2 - t1;
    d->comm_seconds += t2 - t0;
    d->comm_calls++;
    if (rc != 0) {
        d->broken = 1;
        return 1;
    }
    for (int w = 0; w < tc_graph_n_weights(g); w++) {
        tc_weight *wt = tc_graph_weight(g, w);
        if (wt->grad.data)
            memcpy(wt->grad.data, d->flat + d->w_off[w],
                   (size_t)(d->w_off[w + 1] - d->w_off[w]) * sizeof *d->flat);
    }
    memcpy(extra, d->flat, (size_t)n_extra * sizeof *extra);
    return 0;
}
