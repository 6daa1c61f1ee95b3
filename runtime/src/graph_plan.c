/* Planning one node: asks its layer for the output shape, weights, state
 * and scratch sizes at the current input shapes, and checks the answer.
 * The loader plans every node at batch 1; the executor plans again at
 * each prepared batch size, and totals here what that batch's buffers
 * need before allocating any of them; at inference it lays the node
 * outputs out in one arena by liveness. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "graph_internal.h"
#include "shape.h"
#include "tinycnn/kernels.h"
#include "tinycnn/registry.h"
#include "tinycnn/status.h"

int tc_graph_plan_node(tc_graph *g, tc_node *nd, int batch1, tc_plan *plan, tc_error *err)
{
    tc_shape in[64];
    char b1[96], b2[96];
    for (int j = 0; j < nd->n_inputs; j++)
        in[j] = batch1 ? g->values[nd->inputs[j]].shape1 : g->values[nd->inputs[j]].shape;
    memset(plan, 0, sizeof *plan);
    plan->struct_size = sizeof *plan;
    tc_error local = {{0}};
    tc_graph_enter(g, nd, TC_CALLBACK_PLAN);
    int rc = nd->type->plan(tc_host_table(), nd->self, in, nd->n_inputs, tc_get_threads(), plan,
                            &local);
    tc_graph_leave(g);
    if (rc != 0)
        return tc_error_set(err, "%s: node '%s' (%s): %s", g->origin, nd->name, nd->type->name,
                            local.msg[0] ? local.msg : "shape inference failed");
    int64_t count;
    if (!tc_shape_valid(&plan->output, &count))
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s is empty or too large",
                            g->origin, nd->name, nd->type->name,
                            tc_shape_format(&plan->output, b1, sizeof b1));
    if (plan->output.dims[0] != in[0].dims[0] && !(nd->type->flags & TC_LAYER_LOSS))
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s does not keep the batch "
                                 "size of input %s", g->origin, nd->name, nd->type->name,
                            tc_shape_format(&plan->output, b1, sizeof b1),
                            tc_shape_format(&in[0], b2, sizeof b2));
    if (plan->n_weights < 0 || plan->n_weights > TC_MAX_WEIGHTS)
        return tc_error_set(err, "%s: node '%s' (%s): declares %d weights (at most %d)",
                            g->origin, nd->name, nd->type->name, plan->n_weights,
                            TC_MAX_WEIGHTS);
    for (int w = 0; w < plan->n_weights; w++)
        if (!plan->weights[w].name || !tc_shape_valid(&plan->weights[w].shape, NULL))
            return tc_error_set(err, "%s: node '%s' (%s): weight %d has no name or a bad shape %s",
                                g->origin, nd->name, nd->type->name, w,
                                tc_shape_format(&plan->weights[w].shape, b1, sizeof b1));
    if (plan->n_state < 0 || plan->n_state > TC_MAX_STATE)
        return tc_error_set(err, "%s: node '%s' (%s): declares %d state tensors (at most %d)",
                            g->origin, nd->name, nd->type->name, plan->n_state, TC_MAX_STATE);
    for (int w = 0; w < plan->n_state; w++)
        if (!plan->state[w].name || !tc_shape_valid(&plan->state[w].shape, NULL) ||
            !isfinite(plan->state[w].init_value))
            return tc_error_set(err, "%s: node '%s' (%s): state tensor %d has no name, a bad "
                                     "shape %s or a non-finite initial value",
                                g->origin, nd->name, nd->type->name, w,
                                tc_shape_format(&plan->state[w].shape, b1, sizeof b1));
    if (plan->workspace_bytes > ((size_t)1 << 40) || plan->saved_bytes > ((size_t)1 << 40))
        return tc_error_set(err, "%s: node '%s' (%s): asks for an absurd scratch size",
                            g->origin, nd->name, nd->type->name);
    return 0;
}

/* ---- a whole batch ------------------------------------------------------ */

/* "3.1 GB", "512.0 MB", "4096 bytes" into buf. */
static const char *format_bytes(char *buf, size_t cap, size_t bytes)
{
    if (bytes >= 1000000000)
        snprintf(buf, cap, "%.1f GB", (double)bytes / 1e9);
    else if (bytes >= 1000000)
        snprintf(buf, cap, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(buf, cap, "%zu bytes", bytes);
    return buf;
}

/* The number after `key` in a "key value" text file (/proc/meminfo,
 * memory.max, statm), times unit; 0 if the file or key is missing. */
static size_t read_number(const char *path, const char *key, size_t unit)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    size_t v = 0, klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0) {
            unsigned long long x = strtoull(line + klen, NULL, 10);
            v = x > SIZE_MAX / unit ? SIZE_MAX : (size_t)x * unit;
            break;
        }
    fclose(f);
    return v;
}

/* What the cgroup (v2) this process is in still allows; SIZE_MAX if it has
 * no limit or none is known. */
static size_t cgroup_left(void)
{
    char line[512], path[700];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return SIZE_MAX;
    int found = fgets(line, sizeof line, f) && strncmp(line, "0::", 3) == 0;
    fclose(f);
    if (!found)
        return SIZE_MAX;
    line[strcspn(line, "\n")] = 0;
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", line + 3);
    size_t max = read_number(path, "", 1); /* "max" reads as 0: no limit */
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", line + 3);
    size_t cur = read_number(path, "", 1);
    if (max == 0)
        return SIZE_MAX;
    return max > cur ? max - cur : 0;
}

/* Bytes this process can still allocate: the least of MemAvailable, the
 * address-space limit (ulimit -v) less what is mapped, and the cgroup's
 * limit less its usage; *what names the one that binds. */
static size_t memory_available(const char **what)
{
    size_t best = read_number("/proc/meminfo", "MemAvailable:", 1024);
    *what = "MemAvailable";
    if (best == 0)
        best = SIZE_MAX;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t mapped = read_number("/proc/self/statm", "", (size_t)sysconf(_SC_PAGESIZE));
        size_t left = rl.rlim_cur > mapped ? (size_t)rl.rlim_cur - mapped : 0;
        if (left < best) {
            best = left;
            *what = "the address-space limit, ulimit -v";
        }
    }
    size_t cg = cgroup_left();
    if (cg < best) {
        best = cg;
        *what = "the cgroup's memory limit";
    }
    return best;
}

/* 64-byte rounded bytes still to allocate for a buffer of want bytes that
 * now holds have. */
static size_t to_grow(size_t want, size_t have)
{
    want = want < 64 ? 64 : (want + 63) & ~(size_t)63;
    return want > have ? want : 0;
}

/* Weights and state keep their shapes whatever the batch size. */
static int same_decls(const tc_graph *g, const tc_node *nd, tc_error *err)
{
    if (nd->plan.n_weights != nd->plan1.n_weights || nd->plan.n_state != nd->plan1.n_state)
        return tc_error_set(err, "%s: node '%s' (%s): the number of weights or state "
                                 "tensors changed with the batch size", g->origin, nd->name,
                            nd->type->name);
    for (int w = 0; w < nd->plan.n_state + nd->plan.n_weights; w++) {
        int st = w < nd->plan.n_state;
        int i = st ? w : w - nd->plan.n_state;
        const tc_shape *a = st ? &nd->plan.state[i].shape : &nd->plan.weights[i].shape;
        const tc_shape *b = st ? &nd->plan1.state[i].shape : &nd->plan1.weights[i].shape;
        if (a->ndim != b->ndim || memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->ndim))
            return tc_error_set(err, "%s: node '%s' (%s): %s '%s' changed shape with the batch "
                                     "size", g->origin, nd->name, nd->type->name,
                                st ? "state" : "weight",
                                st ? nd->plan.state[i].name : nd->plan.weights[i].name);
    }
    return 0;
}

/* Plans node k at the batch and adds what its buffers need to *need. */
static int need_node(tc_graph *g, int k, int training, tc_batch_need *need, tc_error *err)
{
    tc_node *nd = &g->nodes[k];
    tc_value *v = &g->values[g->n_inputs + k];
    if (tc_graph_plan_node(g, nd, 0, &nd->plan, err) || same_decls(g, nd, err))
        return 1;
    v->shape = nd->plan.output;
    size_t n = (size_t)tc_shape_count(&v->shape);
    int grad = training && v->needs_grad;
    size_t bytes = n * sizeof(float) * (grad ? 2 : 1) + nd->plan.saved_bytes;
    need->fresh += to_grow(n * sizeof(float), v->data_cap * sizeof(float)) +
                   (grad ? to_grow(n * sizeof(float), v->grad_cap * sizeof(float)) : 0) +
                   (nd->plan.saved_bytes ? to_grow(nd->plan.saved_bytes, nd->saved_cap) : 0);
    need->total += bytes;
    if (need->largest < 0 || bytes > need->largest_bytes) {
        need->largest = k;
        need->largest_bytes = bytes;
    }
    if (grad && n * (size_t)nd->n_inputs > need->scratch)
        need->scratch = n * (size_t)nd->n_inputs;
    for (int j = 0; j < nd->n_inputs && training; j++) {
        size_t m = (size_t)tc_shape_count(&g->values[nd->inputs[j]].shape);
        if (m * (size_t)nd->n_inputs > need->scratch)
            need->scratch = m * (size_t)nd->n_inputs;
    }
    if (nd->plan.workspace_bytes > need->workspace)
        need->workspace = nd->plan.workspace_bytes;
    return 0;
}

/* The graph inputs at `rows` a pass, with room for `padded` rows (the
 * batch, or in slices the batch padded to whole slices). */
static int plan_inputs(tc_graph *g, int rows, int64_t padded, tc_batch_need *need,
                       tc_error *err)
{
    for (int i = 0; i < g->n_inputs; i++) {
        tc_value *v = &g->values[i];
        v->shape = v->shape1;
        v->shape.dims[0] = rows;
        int64_t n;
        if (__builtin_mul_overflow(tc_shape_count(&v->shape1), padded, &n) ||
            n > ((int64_t)1 << 36))
            return tc_error_set(err, "%s: input '%s' at batch %lld is too large",
                                g->origin, g->inputs[i].name, (long long)padded);
        need->input_floats[i] = n;
        need->total += (size_t)n * sizeof(float);
        need->fresh += to_grow((size_t)n * sizeof(float), v->data_cap * sizeof(float));
    }
    return 0;
}

/* Refuses a batch whose new buffers would not fit in the memory left. */
static int check_memory(const tc_graph *g, int batch, const tc_batch_need *need, tc_error *err)
{
    const char *what;
    size_t avail = need->fresh ? memory_available(&what) : SIZE_MAX;
    if (need->fresh <= avail)
        return 0;
    char a[32], b[32], c[32];
    if (need->largest < 0)
        return tc_error_set(err, "%s: batch %d needs %s of buffers; %s available (%s); use a "
                                 "smaller batch size", g->origin, batch,
                            format_bytes(a, sizeof a, need->total),
                            format_bytes(c, sizeof c, avail), what);
    const tc_node *nd = &g->nodes[need->largest];
    return tc_error_set(err, "%s: node '%s' (%s) needs %s at batch %d, all buffers %s; %s "
                             "available (%s); use a smaller batch size", g->origin, nd->name,
                        nd->type->name, format_bytes(a, sizeof a, need->largest_bytes), batch,
                        format_bytes(b, sizeof b, need->total),
                        format_bytes(c, sizeof c, avail), what);
}

/* ---- inference: node outputs in one arena, reused by liveness ---------- */

/* One buffer of the arena: live from node `first` to node `last`
 * (execution indices, both included), `bytes` long, put at `off`. id < the
 * node count: node id's output; else node (id - count)'s saved buffer. */
typedef struct slab {
    int first, last, id;
    size_t bytes, off;
} slab;

static size_t round64(size_t b) { return (b + 63) & ~(size_t)63; }

/* The largest first (greedy by size, as TFLite's arena planner), then by
 * node, so the layout is the same on every run. */
static int by_size(const void *pa, const void *pb)
{
    const slab *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes ? 1 : -1;
    return (a->id > b->id) - (a->id < b->id);
}

static int by_offset(const void *pa, const void *pb)
{
    const slab *a = *(const slab *const *)pa, *b = *(const slab *const *)pb;
    return (a->off > b->off) - (a->off < b->off);
}

/* Gives each slab, largest first, the lowest offset at which it overlaps
 * no slab already placed that is live at the same time; returns the
 * arena's size. `live` has room for n pointers. */
static size_t place_slabs(slab *s, int n, const slab **live)
{
    size_t end = 0;
    qsort(s, (size_t)n, sizeof *s, by_size);
    for (int i = 0; i < n; i++) {
        int m = 0;
        for (int j = 0; j < i; j++)
            if (s[j].first <= s[i].last && s[i].first <= s[j].last)
                live[m++] = &s[j];
        qsort(live, (size_t)m, sizeof *live, by_offset);
        size_t off = 0;
        for (int j = 0; j < m && live[j]->off < off + s[i].bytes; j++)
            if (live[j]->off + live[j]->bytes > off)
                off = live[j]->off + live[j]->bytes;
        s[i].off = off;
        if (off + s[i].bytes > end)
            end = off + s[i].bytes;
    }
    return end;
}

/* The slabs of an inference pass into s (room for 2 per node): each active
 * node's output lives until its last consumer has run (the graph's output
 * until the caller has read it: past the last node); its saved buffer only
 * while the node runs, as nothing reads it back without a backward pass.
 * last has room for a value per node. Returns how many. */
static int collect_slabs(const tc_graph *g, slab *s, int *last)
{
    int n = 0, count = g->n_nodes;
    for (int k = 0; k < count; k++)
        last[k] = g->n_inputs + k == g->output_value ? count : k;
    for (int c = 0; c < count; c++) {
        const tc_node *nd = &g->nodes[c];
        for (int j = 0; j < nd->n_inputs && tc_node_active(nd, 0); j++) {
            int p = nd->inputs[j] - g->n_inputs; /* < 0: a graph input, not pooled */
            if (p >= 0 && c > last[p])
                last[p] = c;
        }
    }
    for (int k = 0; k < count; k++) {
        const tc_node *nd = &g->nodes[k];
        if (!tc_node_active(nd, 0))
            continue;
        int v = g->n_inputs + k;
        size_t bytes = (size_t)tc_shape_count(&g->values[v].shape) * sizeof(float);
        s[n++] = (slab){.first = k, .last = last[k], .id = k, .bytes = round64(bytes)};
        if (nd->plan.saved_bytes)
            s[n++] = (slab){.first = k, .last = k, .id = count + k,
                            .bytes = round64(nd->plan.saved_bytes)};
    }
    return n;
}

/* Replaces the node buffers that need_node counted (from total0 and
 * fresh0 on) with one arena after the workspace. */
static int pool_nodes(tc_graph *g, tc_batch_need *need, size_t total0, size_t fresh0,
                      tc_error *err)
{
    int cap = 2 * g->n_nodes + 1;
    slab *s = malloc(sizeof *s * (size_t)cap);
    const slab **live = malloc(sizeof *live * (size_t)cap);
    int *last = malloc(sizeof *last * (size_t)cap);
    if (!s || !live || !last) {
        free(s);
        free(live);
        free(last);
        return tc_error_set(err, "%s: out of memory planning the buffers", g->origin);
    }
    int n = collect_slabs(g, s, last);
    need->arena = place_slabs(s, n, live);
    for (int i = 0; i < n; i++) {
        if (s[i].id < g->n_nodes)
            g->values[g->n_inputs + s[i].id].arena_off = s[i].off;
        else
            g->nodes[s[i].id - g->n_nodes].saved_off = s[i].off;
    }
    free(s);
    free(live);
    free(last);
    need->pooled = 1;
    need->arena_at = round64(need->workspace);
    need->workspace = need->arena_at + need->arena;
    need->total = total0;
    need->fresh = fresh0;
    return 0;
}

void tc_graph_bind_buffers(tc_graph *g, const tc_batch_need *need, int training)
{
    char *arena = (char *)g->workspace + need->arena_at;
    for (int i = 0; i < g->n_values; i++)
        g->values[i].at = g->values[i].data;
    for (int k = 0; k < g->n_nodes; k++) {
        tc_node *nd = &g->nodes[k];
        nd->saved_at = nd->saved;
        if (!need->pooled || !tc_node_active(nd, training))
            continue;
        tc_value *v = &g->values[g->n_inputs + k];
        v->at = (float *)(void *)(arena + v->arena_off);
        if (nd->plan.saved_bytes)
            nd->saved_at = arena + nd->saved_off;
    }
}

/* ---- inference in slices of the batch's rows ----------------------------- */

/* A pass should be long next to the cost of starting each node's threads
 * (a few microseconds a node): at least SLICE_FLOPS floating-point
 * operations a thread, and at least SLICE_MIN_ROWS rows a thread, the
 * slices at which LeNet-5, the CIFAR VGG and ResNet-8 inferred fastest
 * on 1 and 2 threads (bench/README.md, "Inference in slices"). */
#define SLICE_FLOPS ((int64_t)1 << 26)
#define SLICE_MIN_ROWS 32

/* One row's forward FLOPs (the types' flops() at batch 1; 0 when no
 * active node counts), or -1 when some active node is not per sample. */
static int64_t row_flops(const tc_graph *g)
{
    int64_t total = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        const tc_node *nd = &g->nodes[k];
        const tc_layer_type *t = nd->type;
        if (!tc_node_active(nd, 0))
            continue;
        if (!(t->flags & TC_LAYER_PER_SAMPLE) || nd->n_inputs > 64)
            return -1;
        if (t->struct_size < offsetof(tc_layer_type, flops) + sizeof t->flops || !t->flops)
            continue;
        tc_shape in[64];
        for (int j = 0; j < nd->n_inputs; j++)
            in[j] = g->values[nd->inputs[j]].shape1;
        int64_t f = t->flops(tc_host_table(), nd->self, in, nd->n_inputs);
        total += f > 0 ? f : 0;
    }
    return total;
}

/* The rows of one pass of an inference batch (0: the whole batch in one),
 * evened out so that the slices are of one size, a multiple of 8. */
static int slice_rows(const tc_graph *g, int batch, int training)
{
    int64_t flops;
    if (training || g->slice_setting < 0 || batch < 2 || (flops = row_flops(g)) < 0)
        return 0;
    if (g->slice_setting > 0) /* as asked: the last slice padded */
        return g->slice_setting >= batch ? 0 : g->slice_setting;
    int64_t threads = tc_get_threads(), rows = SLICE_MIN_ROWS * threads;
    if (flops > 0 && SLICE_FLOPS * threads / flops > rows)
        rows = SLICE_FLOPS * threads / flops;
    if (rows >= batch)
        return 0;
    int64_t passes = (batch + rows - 1) / rows;
    rows = (batch + passes - 1) / passes;
    rows = (rows + 7) / 8 * 8; /* whole vectors of rows for the kernels */
    return rows >= batch ? 0 : (int)rows;
}

int tc_graph_plan_batch(tc_graph *g, int batch, int training, tc_batch_need *need,
                        tc_error *err)
{
    memset(need, 0, sizeof *need);
    need->largest = -1;
    int rows = slice_rows(g, batch, training);
    int64_t padded = rows ? (int64_t)rows * ((batch + rows - 1) / rows) : batch;
    need->slice_rows = rows;
    if (plan_inputs(g, rows ? rows : batch, padded, need, err))
        return 1;
    size_t total0 = need->total, fresh0 = need->fresh;
    for (int k = 0; k < g->n_nodes; k++)
        if (tc_node_active(&g->nodes[k], training) && need_node(g, k, training, need, err))
            return 1;
    if (rows) { /* the batch's output, gathered from the passes: outside any pool */
        need->output_floats = tc_shape_count(&g->values[g->output_value].shape) / rows * batch;
        size_t bytes = (size_t)need->output_floats * sizeof(float);
        size_t grow = to_grow(bytes, g->sliced_out_cap * sizeof(float));
        need->total += bytes;
        need->fresh += grow;
        total0 += bytes;
        fresh0 += grow;
    }
    /* the graph's own buffers, when they already hold the batch, cost nothing */
    if (!training && !g->no_reuse && need->fresh > fresh0 &&
        pool_nodes(g, need, total0, fresh0, err))
        return 1;
    need->total += need->workspace + need->scratch * sizeof(float);
    need->fresh += to_grow(need->workspace, g->workspace_cap);
    if (training) {
        need->fresh += to_grow(need->scratch * sizeof(float), g->scratch_cap * sizeof(float));
        for (int i = 0; i < g->n_weights; i++)
            if (!g->weights[i].grad.data) {
                size_t wb = (size_t)tc_shape_count(&g->weights[i].value.shape) * sizeof(float);
                need->fresh += wb;
                need->total += wb;
            }
    }
    return check_memory(g, batch, need, err);
}
