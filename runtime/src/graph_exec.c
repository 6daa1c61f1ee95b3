/* Executing a loaded graph: buffer planning per batch size, weight
 * initialisation, forward and backward passes, profiling. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "rng.h"
#include "shape.h"
#include "tinycnn/kernels.h"
#include "tinycnn/status.h"

/* ---- accessors --------------------------------------------------------- */

const char *tc_graph_json(const tc_graph *g) { return g->json_text; }
const char *tc_graph_name(const tc_graph *g) { return g->name; }
int tc_graph_n_inputs(const tc_graph *g) { return g->n_inputs; }

const tc_input_info *tc_graph_input(const tc_graph *g, int i)
{
    return i >= 0 && i < g->n_inputs ? &g->inputs[i] : NULL;
}

int tc_graph_image_input(const tc_graph *g)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i].is_label)
            return i;
    return -1;
}

int tc_graph_label_input(const tc_graph *g)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i].is_label)
            return i;
    return -1;
}

int tc_graph_n_classes(const tc_graph *g)
{
    const tc_shape *s = &g->values[g->output_value].shape1;
    return (int)s->dims[s->ndim - 1];
}

int tc_graph_n_nodes(const tc_graph *g) { return g->n_nodes; }

const char *tc_graph_node_name(const tc_graph *g, int i)
{
    return i >= 0 && i < g->n_nodes ? g->nodes[i].name : NULL;
}

const char *tc_graph_node_type(const tc_graph *g, int i)
{
    return i >= 0 && i < g->n_nodes ? g->nodes[i].type->name : NULL;
}

const char *tc_graph_node_origin(const tc_graph *g, int i)
{
    return i >= 0 && i < g->n_nodes ? g->nodes[i].origin : NULL;
}

int tc_graph_running_node(const tc_graph *g, int *phase, uint64_t *passes)
{
    int r = atomic_load_explicit(&((tc_graph *)g)->running, memory_order_relaxed);
    if (phase)
        *phase = r & 3;
    if (passes)
        *passes = atomic_load_explicit(&((tc_graph *)g)->passes, memory_order_relaxed);
    return (r >> 2) - 1;
}

tc_shape tc_graph_node_shape(const tc_graph *g, int i)
{
    return g->values[g->n_inputs + i].shape1;
}

int tc_graph_n_weights(const tc_graph *g) { return g->n_weights; }

tc_weight *tc_graph_weight(tc_graph *g, int i)
{
    return i >= 0 && i < g->n_weights ? &g->weights[i] : NULL;
}

int tc_graph_n_states(const tc_graph *g) { return g->n_states; }

tc_weight *tc_graph_state(tc_graph *g, int i)
{
    return i >= 0 && i < g->n_states ? &g->states[i] : NULL;
}

tc_weight *tc_graph_find_state(tc_graph *g, const char *name)
{
    for (int i = 0; i < g->n_states; i++)
        if (strcmp(g->states[i].name, name) == 0)
            return &g->states[i];
    return NULL;
}

tc_weight *tc_graph_find_weight(tc_graph *g, const char *name)
{
    for (int i = 0; i < g->n_weights; i++)
        if (strcmp(g->weights[i].name, name) == 0)
            return &g->weights[i];
    return NULL;
}

int64_t tc_graph_n_weight_elements(const tc_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_weights; i++)
        n += tc_shape_count(&g->weights[i].value.shape);
    return n;
}

int tc_graph_batch(const tc_graph *g) { return g->batch; }

float *tc_graph_input_data(tc_graph *g, int i)
{
    return i >= 0 && i < g->n_inputs ? g->values[i].data : NULL;
}

const tc_tensor *tc_graph_output(const tc_graph *g)
{
    return &g->output_view;
}

float tc_graph_loss(const tc_graph *g)
{
    if (g->loss_node < 0)
        return NAN;
    const tc_value *v = &g->values[g->n_inputs + g->loss_node];
    return v->data ? v->data[0] : NAN;
}

/* ---- initialisation ---------------------------------------------------- */

void tc_graph_set_seed(tc_graph *g, uint64_t seed) { g->seed = seed; }

static void init_states(tc_graph *g)
{
    for (int k = 0; k < g->n_nodes; k++) {
        const tc_node *nd = &g->nodes[k];
        for (int s = 0; s < nd->n_state; s++) {
            tc_weight *st = &g->states[nd->first_state + s];
            int64_t n = tc_shape_count(&st->value.shape);
            float v = (float)nd->plan1.state[s].init_value;
            for (int64_t i = 0; i < n; i++)
                st->value.data[i] = v;
        }
    }
}

void tc_graph_init_weights(tc_graph *g, uint64_t seed)
{
    g->seed = seed;
    init_states(g);
    for (int k = 0; k < g->n_nodes; k++) {
        tc_node *nd = &g->nodes[k];
        for (int w = 0; w < nd->n_weights; w++) {
            const tc_weight_decl *d = &nd->plan1.weights[w];
            tc_weight *wt = &g->weights[nd->first_weight + w];
            int64_t n = tc_shape_count(&wt->value.shape);
            float *x = wt->value.data;
            tc_rng r;
            tc_rng_seed(&r, seed, nd->name, d->name, 0);
            double fan_in = d->fan_in > 0 ? d->fan_in : 1.0;
            double fan_out = d->fan_out > 0 ? d->fan_out : 1.0;
            double lim;
            switch (d->init) {
            case TC_INIT_CONSTANT:
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)d->a;
                break;
            case TC_INIT_HE_NORMAL:
                lim = sqrt(2.0 / fan_in);
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)(lim * tc_rng_normal(&r));
                break;
            case TC_INIT_HE_UNIFORM:
                lim = sqrt(6.0 / fan_in);
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)(lim * (2.0 * tc_rng_uniform(&r) - 1.0));
                break;
            case TC_INIT_XAVIER_UNIFORM:
                lim = sqrt(6.0 / (fan_in + fan_out));
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)(lim * (2.0 * tc_rng_uniform(&r) - 1.0));
                break;
            case TC_INIT_NORMAL:
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)(d->a + d->b * tc_rng_normal(&r));
                break;
            case TC_INIT_UNIFORM:
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)(d->a + (d->b - d->a) * tc_rng_uniform(&r));
                break;
            case TC_INIT_ZEROS:
            default:
                memset(x, 0, sizeof(float) * (size_t)n);
                break;
            }
        }
    }
}

/* ---- planning ---------------------------------------------------------- */

/* Grows *buf to at least bytes (64-byte aligned). Node buffers are not
 * zeroed: each is written before it is read (forward writes its output,
 * backward overwrites the gradients it is given), and fresh pages left
 * untouched cost nothing until used. The graph's inputs (small beside the
 * activations) start zeroed, as callers may fill only part of them. */
static int grow(void **buf, size_t *cap, size_t bytes, int zero)
{
    if (bytes <= *cap && *buf)
        return 0;
    size_t want = bytes < 64 ? 64 : bytes;
    want = (want + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0)
        return 1;
    if (zero)
        memset(p, 0, want);
    free(*buf);
    *buf = p;
    *cap = want;
    return 0;
}

static int grow_floats(float **buf, size_t *cap_floats, int64_t n, int zero)
{
    size_t cap = *cap_floats * sizeof(float);
    void *p = *buf;
    if (grow(&p, &cap, (size_t)n * sizeof(float), zero))
        return 1;
    *buf = p;
    *cap_floats = cap / sizeof(float);
    return 0;
}

static int node_oom(const tc_graph *g, const tc_node *nd, const char *what, size_t bytes,
                    int batch, tc_error *err)
{
    return tc_error_set(err, "%s: node '%s' (%s): out of memory for %zu bytes of %s at batch %d",
                        g->origin, nd->name, nd->type->name, bytes, what, batch);
}

/* Allocates what tc_graph_plan_batch planned for node k. */
static int alloc_node(tc_graph *g, int k, int batch, int training, tc_error *err)
{
    tc_node *nd = &g->nodes[k];
    tc_value *v = &g->values[g->n_inputs + k];
    int64_t n = tc_shape_count(&v->shape);
    if (grow_floats(&v->data, &v->data_cap, n, 0))
        return node_oom(g, nd, "output", (size_t)n * sizeof(float), batch, err);
    if (training && v->needs_grad && grow_floats(&v->grad, &v->grad_cap, n, 0))
        return node_oom(g, nd, "output gradient", (size_t)n * sizeof(float), batch, err);
    if (nd->plan.saved_bytes && grow(&nd->saved, &nd->saved_cap, nd->plan.saved_bytes, 0))
        return node_oom(g, nd, "saved state", nd->plan.saved_bytes, batch, err);
    return 0;
}

/* Workspace, gradient scratch and the weights' gradients. */
static int alloc_shared(tc_graph *g, const tc_batch_need *need, int training, tc_error *err)
{
    if (grow(&g->workspace, &g->workspace_cap, need->workspace, 0))
        return tc_error_set(err, "%s: out of memory for %zu bytes of workspace", g->origin,
                            need->workspace);
    if (!training)
        return 0;
    if (grow_floats(&g->scratch, &g->scratch_cap, (int64_t)need->scratch, 0))
        return tc_error_set(err, "%s: out of memory for %zu bytes of gradient scratch",
                            g->origin, need->scratch * sizeof(float));
    for (int i = 0; i < g->n_weights; i++) {
        tc_weight *w = &g->weights[i];
        if (!w->grad.data) {
            int64_t n = tc_shape_count(&w->value.shape);
            w->grad.data = calloc((size_t)n, sizeof(float));
            if (!w->grad.data)
                return tc_error_set(err, "%s: out of memory for %zu bytes of the gradient of "
                                         "'%s'", g->origin, (size_t)n * sizeof(float), w->name);
        }
    }
    return 0;
}

int tc_graph_prepare(tc_graph *g, int batch, int training, tc_error *err)
{
    if (batch < 1)
        return tc_error_set(err, "%s: batch size %d must be at least 1", g->origin, batch);
    if (training && g->loss_node < 0)
        return tc_error_set(err, "%s: the model names no \"loss\" node, so it cannot be trained",
                            g->origin);
    if (training && g->borrowed_tensors) /* others read them meanwhile */
        return tc_error_set(err, "%s: an inference copy sharing its weights cannot be trained",
                            g->origin);
    int threads = tc_get_threads();
    if (batch == g->batch && training <= g->prepared_training && threads == g->planned_threads &&
        !g->slice_changed)
        return 0;
    g->batch = 0; /* unprepared until every buffer is in place */
    if (threads != g->planned_threads && tc_threads_check(threads, err))
        return tc_error_prefix(err, "%s", g->origin);
    tc_batch_need need;
    if (tc_graph_plan_batch(g, batch, training, &need, err))
        return 1;
    for (int i = 0; i < g->n_inputs; i++)
        if (grow_floats(&g->values[i].data, &g->values[i].data_cap, need.input_floats[i], 1))
            return tc_error_set(err, "%s: input '%s': out of memory for %zu bytes at batch %d",
                                g->origin, g->inputs[i].name,
                                (size_t)need.input_floats[i] * sizeof(float), batch);
    for (int k = 0; k < g->n_nodes; k++)
        if (tc_node_active(&g->nodes[k], training) && !need.pooled &&
            alloc_node(g, k, batch, training, err))
            return 1;
    if (alloc_shared(g, &need, training, err))
        return 1;
    if (need.slice_rows && grow_floats(&g->sliced_out, &g->sliced_out_cap, need.output_floats, 0))
        return tc_error_set(err, "%s: out of memory for the output at batch %d", g->origin, batch);
    tc_graph_bind_buffers(g, &need, training);
    g->batch = batch;
    g->prepared_training = training;
    g->slice_rows = need.slice_rows;
    g->slice_changed = 0;
    g->output_view.data = need.slice_rows ? g->sliced_out : g->values[g->output_value].at;
    g->output_view.shape = g->values[g->output_value].shape;
    if (need.slice_rows)
        g->output_view.shape.dims[0] = batch;
    g->planned_threads = threads;
    return 0;
}

void tc_graph_set_inference_slice(tc_graph *g, int rows)
{
    g->slice_changed |= rows != g->slice_setting;
    g->slice_setting = rows;
}

int tc_graph_slice_rows(const tc_graph *g) { return g->slice_rows; }

size_t tc_graph_planned_bytes(const tc_graph *g)
{
    size_t b = g->workspace_cap + g->scratch_cap * sizeof(float);
    for (int i = 0; i < g->n_values; i++)
        b += (g->values[i].data_cap + g->values[i].grad_cap) * sizeof(float);
    for (int k = 0; k < g->n_nodes; k++)
        b += g->nodes[k].saved_cap;
    return b + g->sliced_out_cap * sizeof(float);
}

/* ---- execution --------------------------------------------------------- */

/* The tensors and buffers of one call of node nd; a graph input is read
 * from row row0 on (a pass over a slice of the batch). */
static void fill_exec(tc_graph *g, tc_node *nd, tc_exec *x, tc_tensor *ins, tc_tensor *out,
                      tc_tensor *wts, tc_tensor *sts, tc_rng *rng, int training, int64_t row0)
{
    for (int j = 0; j < nd->n_inputs; j++) {
        const tc_value *v = &g->values[nd->inputs[j]];
        ins[j].data = v->at;
        ins[j].shape = v->shape;
        if (nd->inputs[j] < g->n_inputs)
            ins[j].data += row0 * tc_shape_count(&v->shape1);
    }
    tc_value *ov = &g->values[g->n_inputs + (int)(nd - g->nodes)];
    out->data = ov->at;
    out->shape = ov->shape;
    for (int w = 0; w < nd->n_weights; w++)
        wts[w] = g->weights[nd->first_weight + w].value;
    memset(x, 0, sizeof *x);
    x->struct_size = sizeof *x;
    x->n_inputs = nd->n_inputs;
    x->inputs = ins;
    x->output = out;
    x->n_weights = nd->n_weights;
    x->training = training;
    x->weights = wts;
    x->workspace = g->workspace;
    x->workspace_bytes = nd->plan.workspace_bytes;
    x->saved = nd->saved_at;
    x->saved_bytes = nd->plan.saved_bytes;
    x->n_threads = g->planned_threads;
    x->rng = rng;
    for (int s = 0; s < nd->n_state; s++)
        sts[s] = g->states[nd->first_state + s].value;
    x->n_state = nd->n_state;
    x->state = sts;
}

/* Runs every active node once, on the rows from row0 on. */
static int forward_rows(tc_graph *g, int training, uint64_t step, int64_t row0, tc_error *err)
{
    tc_tensor ins[64], out, wts[TC_MAX_WEIGHTS], sts[TC_MAX_STATE];
    for (int k = 0; k < g->n_nodes; k++) {
        tc_node *nd = &g->nodes[k];
        if (!tc_node_active(nd, training))
            continue;
        tc_rng rng;
        tc_rng_seed(&rng, g->seed, nd->name, "step", step);
        tc_exec x;
        fill_exec(g, nd, &x, ins, &out, wts, sts, &rng, training, row0);
        tc_error local = {{0}};
        double t0 = g->profiling ? tc_monotonic_seconds() : 0;
        tc_graph_enter(g, nd, TC_CALLBACK_FORWARD);
        int rc = nd->type->forward(tc_host_table(), nd->self, &x, &local);
        tc_graph_leave(g);
        if (g->profiling) {
            nd->fwd_seconds += tc_monotonic_seconds() - t0;
            nd->calls++;
        }
        if (rc != 0)
            return tc_error_set(err, "%s: node '%s' (%s): forward failed: %s", g->origin,
                                nd->name, nd->type->name,
                                local.msg[0] ? local.msg : "(no message)");
    }
    return 0;
}

int tc_graph_forward(tc_graph *g, int training, uint64_t step, tc_error *err)
{
    if (g->batch == 0 || (training && !g->prepared_training))
        return tc_error_set(err, "%s: call tc_graph_prepare(%s) before the %s pass", g->origin,
                            training ? "training" : "inference", training ? "training" : "forward");
    atomic_fetch_add_explicit(&g->passes, 1, memory_order_relaxed);
    if (!g->slice_rows) /* always 0 in a training plan */
        return forward_rows(g, training, step, 0, err);
    const tc_value *ov = &g->values[g->output_value];
    int64_t row = tc_shape_count(&ov->shape) / g->slice_rows; /* floats of one row */
    for (int64_t r = 0; r < g->batch; r += g->slice_rows) {
        if (forward_rows(g, 0, step, r, err))
            return 1;
        int64_t n = g->batch - r < g->slice_rows ? g->batch - r : g->slice_rows;
        memcpy(g->sliced_out + r * row, ov->at, sizeof(float) * (size_t)(n * row));
    }
    return 0;
}

static void add_into(float *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static void grad_ready(tc_graph *g, const tc_node *nd)
{
    if (g->grad_ready)
        g->grad_ready(g->grad_ready_user, nd->first_weight, nd->n_weights);
}

int tc_graph_backward(tc_graph *g, tc_error *err)
{
    if (!g->prepared_training || g->loss_node < 0)
        return tc_error_set(err, "%s: backward needs a training forward first", g->origin);
    atomic_fetch_add_explicit(&g->passes, 1, memory_order_relaxed);
    for (int i = 0; i < g->n_values; i++)
        g->values[i].grad_set = 0;
    tc_value *lv = &g->values[g->n_inputs + g->loss_node];
    tc_tensor ins[64], out, wts[TC_MAX_WEIGHTS], sts[TC_MAX_STATE], gins[64],
        gws[TC_MAX_WEIGHTS], gout;
    int pending[64];
    for (int k = g->n_nodes - 1; k >= 0; k--) {
        tc_node *nd = &g->nodes[k];
        tc_value *v = &g->values[g->n_inputs + k];
        int is_loss = k == g->loss_node;
        if (!is_loss && (!v->needs_grad || !v->grad_set)) {
            /* nothing downstream reached the loss: its weights get zero gradient */
            for (int w = 0; w < nd->n_weights; w++) {
                tc_weight *wt = &g->weights[nd->first_weight + w];
                memset(wt->grad.data, 0, sizeof(float) * (size_t)tc_shape_count(&wt->grad.shape));
            }
            grad_ready(g, nd);
            continue;
        }
        if (is_loss && !v->needs_grad)
            continue;
        if (!nd->type->backward)
            return tc_error_set(err, "%s: node '%s' (%s) has no backward(); it cannot be trained "
                                     "through", g->origin, nd->name, nd->type->name);
        tc_exec x;
        fill_exec(g, nd, &x, ins, &out, wts, sts, NULL, 1, 0);
        gout.data = is_loss ? &g->one : v->grad;
        gout.shape = v->shape;
        x.grad_output = &gout;
        size_t scratch_off = 0;
        for (int j = 0; j < nd->n_inputs; j++) {
            tc_value *iv = &g->values[nd->inputs[j]];
            gins[j].shape = iv->shape;
            pending[j] = 0;
            if (!iv->needs_grad) {
                gins[j].data = NULL;
                continue;
            }
            int first = !iv->grad_set;
            for (int p = 0; p < j && first; p++)
                if (nd->inputs[p] == nd->inputs[j])
                    first = 0; /* the same value twice: second slot sums */
            if (first) {
                gins[j].data = iv->grad;
            } else {
                gins[j].data = g->scratch + scratch_off;
                scratch_off += (size_t)tc_shape_count(&iv->shape);
                pending[j] = 1;
            }
        }
        for (int w = 0; w < nd->n_weights; w++)
            gws[w] = g->weights[nd->first_weight + w].grad;
        x.grad_inputs = gins;
        x.grad_weights = gws;
        tc_error local = {{0}};
        double t0 = g->profiling ? tc_monotonic_seconds() : 0;
        tc_graph_enter(g, nd, TC_CALLBACK_BACKWARD);
        int rc = nd->type->backward(tc_host_table(), nd->self, &x, &local);
        tc_graph_leave(g);
        if (g->profiling)
            nd->bwd_seconds += tc_monotonic_seconds() - t0;
        if (rc != 0)
            return tc_error_set(err, "%s: node '%s' (%s): backward failed: %s", g->origin,
                                nd->name, nd->type->name,
                                local.msg[0] ? local.msg : "(no message)");
        for (int j = 0; j < nd->n_inputs; j++) {
            tc_value *iv = &g->values[nd->inputs[j]];
            if (!gins[j].data)
                continue;
            if (pending[j])
                add_into(iv->grad, gins[j].data, tc_shape_count(&iv->shape));
            iv->grad_set = 1;
        }
        grad_ready(g, nd);
    }
    (void)lv;
    return 0;
}

/* ---- profiling --------------------------------------------------------- */

void tc_graph_set_profiling(tc_graph *g, int on) { g->profiling = on; }

void tc_graph_profile(const tc_graph *g, int node, double *fwd_seconds, double *bwd_seconds,
                      int64_t *calls)
{
    const tc_node *nd = &g->nodes[node];
    if (fwd_seconds)
        *fwd_seconds = nd->fwd_seconds;
    if (bwd_seconds)
        *bwd_seconds = nd->bwd_seconds;
    if (calls)
        *calls = nd->calls;
}

void tc_graph_profile_reset(tc_graph *g)
{
    for (int k = 0; k < g->n_nodes; k++) {
        g->nodes[k].fwd_seconds = g->nodes[k].bwd_seconds = 0;
        g->nodes[k].calls = 0;
    }
}
