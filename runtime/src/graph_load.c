/* Loading a model: JSON parsing and checking, node parameters, topological
 * order and shape inference. Every error names the file and the node. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "graph_internal.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/kernels.h"
#include "tinycnn/registry.h"
#include "tinycnn/status.h"
#include "train_settings_json.h"

#define MAX_MODEL_BYTES (64u << 20)
#define MAX_INPUT_DIM (1ll << 31)
/* Per-sample elements of any one value (input or node output): 8 GiB of
 * float32 per image is far beyond any network this runtime can train, and
 * refusing it at load time turns a hostile shape into a message instead of
 * a failed multi-gigabyte allocation later. */
#define MAX_VALUE_ELEMENTS ((int64_t)1 << 31)
/* All weights together: what one checkpoint can hold (TC_CHECKPOINT_MAX_BYTES
 * of float32), so a model that loads can always be saved and read back. */
#define MAX_WEIGHT_ELEMENTS ((int64_t)(TC_CHECKPOINT_MAX_BYTES / sizeof(float)))

typedef struct name_id {
    const char *name;
    int id;
} name_id;

static int cmp_name_id(const void *a, const void *b)
{
    return strcmp(((const name_id *)a)->name, ((const name_id *)b)->name);
}

static int find_id(const name_id *map, int n, const char *name)
{
    name_id key = {name, 0};
    const name_id *hit = bsearch(&key, map, (size_t)n, sizeof *map, cmp_name_id);
    return hit ? hit->id : -1;
}

void tc_node_release(tc_node *n)
{
    if (n->self && n->type && n->type->destroy)
        n->type->destroy(tc_host_table(), n->self);
    n->self = NULL;
    free(n->name);
    free(n->inputs);
    free(n->param_values);
    free(n->saved);
    memset(n, 0, sizeof *n);
}

void tc_graph_free(tc_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        tc_node_release(&g->nodes[i]);
    free(g->nodes);
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].data);
        free(g->values[i].grad);
    }
    free(g->values);
    for (int i = 0; i < g->n_inputs; i++)
        free(g->input_names[i]);
    free(g->input_names);
    free(g->inputs);
    for (int i = 0; i < g->n_weights; i++) {
        if (!g->borrowed_tensors)
            free(g->weights[i].value.data);
        free(g->weights[i].grad.data);
        free(g->weight_names[i]);
    }
    free(g->weights);
    free(g->weight_names);
    for (int i = 0; i < g->n_states; i++) {
        if (!g->borrowed_tensors)
            free(g->states[i].value.data);
        free(g->state_names[i]);
    }
    free(g->states);
    free(g->state_names);
    free(g->workspace);
    free(g->scratch);
    free(g->origin);
    free(g->json_text);
    free(g->name);
    free(g);
}

static int same_tensor(const tc_weight *a, const tc_weight *b)
{
    const tc_shape *x = &a->value.shape, *y = &b->value.shape;
    return strcmp(a->name, b->name) == 0 && x->ndim == y->ndim &&
           memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->ndim) == 0;
}

int tc_graph_share_tensors(tc_graph *g, const tc_graph *src, tc_error *err)
{
    if (g->borrowed_tensors || g->n_weights != src->n_weights || g->n_states != src->n_states)
        return tc_error_set(err, "%s: cannot share the tensors of %s", g->origin, src->origin);
    for (int i = 0; i < g->n_weights; i++)
        if (!same_tensor(&g->weights[i], &src->weights[i]))
            return tc_error_set(err, "%s: weight '%s' differs from %s", g->origin,
                                g->weights[i].name, src->origin);
    for (int i = 0; i < g->n_states; i++)
        if (!same_tensor(&g->states[i], &src->states[i]))
            return tc_error_set(err, "%s: state '%s' differs from %s", g->origin,
                                g->states[i].name, src->origin);
    for (int i = 0; i < g->n_weights; i++) {
        free(g->weights[i].value.data);
        g->weights[i].value.data = src->weights[i].value.data;
    }
    for (int i = 0; i < g->n_states; i++) {
        free(g->states[i].value.data);
        g->states[i].value.data = src->states[i].value.data;
    }
    g->borrowed_tensors = 1;
    return 0;
}

/* "[1,16,5,5]" into buf. */
static const char *shape_str(const tc_shape *s, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < s->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)s->dims[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
    return buf;
}

static int shape_valid(const tc_shape *s, int64_t *count)
{
    if (s->ndim < 1 || s->ndim > TC_MAX_DIMS)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] <= 0 || __builtin_mul_overflow(n, s->dims[i], &n))
            return 0;
    }
    /* also keep byte counts representable */
    if (n > (INT64_MAX / 8))
        return 0;
    if (count)
        *count = n;
    return 1;
}

/* ---- parameters ------------------------------------------------------- */

static void list_params(const tc_layer_type *t, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    if (t->n_params == 0) {
        snprintf(buf, cap, "no parameters");
        return;
    }
    o += (size_t)snprintf(buf, cap, "parameters: ");
    for (int i = 0; i < t->n_params && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", t->params[i].name);
}

static const char *value_type_name(tc_value_type t)
{
    return t == TC_VALUE_INT ? "an integer" : t == TC_VALUE_FLOAT ? "a number" : "true or false";
}

static int parse_params(const char *origin, const char *node, const tc_layer_type *t,
                        json_t *params, double *values, tc_error *err)
{
    char list[256];
    if (params && !json_is_object(params))
        return tc_error_set(err, "%s: node '%s' (%s): \"params\" must be an object", origin,
                            node, t->name);
    if (params) {
        const char *key;
        json_t *v;
        json_object_foreach(params, key, v) {
            int known = 0;
            for (int i = 0; i < t->n_params; i++)
                known |= strcmp(t->params[i].name, key) == 0;
            if (!known) {
                list_params(t, list, sizeof list);
                return tc_error_set(err, "%s: node '%s' (%s): unknown parameter '%s' (%s)",
                                    origin, node, t->name, key, list);
            }
        }
    }
    for (int i = 0; i < t->n_params; i++) {
        const tc_param_desc *p = &t->params[i];
        json_t *v = params ? json_object_get(params, p->name) : NULL;
        double x;
        if (!v || json_is_null(v)) {
            if (p->required)
                return tc_error_set(err, "%s: node '%s' (%s): missing required parameter '%s'",
                                    origin, node, t->name, p->name);
            values[i] = p->default_value;
            continue;
        }
        switch (p->type) {
        case TC_VALUE_INT:
            if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                fabs(json_real_value(v)) < 9007199254740992.0)
                x = json_real_value(v);
            else if (json_is_integer(v))
                x = (double)json_integer_value(v);
            else
                goto bad_type;
            break;
        case TC_VALUE_FLOAT:
            if (!json_is_number(v))
                goto bad_type;
            x = json_number_value(v);
            break;
        case TC_VALUE_BOOL:
            if (!json_is_boolean(v))
                goto bad_type;
            x = json_is_true(v) ? 1.0 : 0.0;
            break;
        default:
            goto bad_type;
        }
        if (!isfinite(x) || x < p->min_value || x > p->max_value)
            return tc_error_set(err, "%s: node '%s' (%s): parameter '%s' = %g is out of range "
                                     "[%g, %g]", origin, node, t->name, p->name, x,
                                p->min_value, p->max_value);
        values[i] = x;
        continue;
    bad_type:;
        char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        tc_error_set(err, "%s: node '%s' (%s): parameter '%s' must be %s, got %.60s", origin,
                     node, t->name, p->name, value_type_name(p->type), dump ? dump : "?");
        free(dump);
        return 1;
    }
    return 0;
}

/* ---- top level --------------------------------------------------------- */

static int check_keys(const char *origin, const char *where, json_t *obj, const char *const *allowed,
                      tc_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, key) == 0;
        if (!ok) {
            char list[256];
            size_t o = 0;
            list[0] = 0;
            for (const char *const *a = allowed; *a && o < sizeof list; a++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", a == allowed ? "" : ", ",
                                      *a);
            return tc_error_set(err, "%s: %s: unknown key '%s' (expected: %s)", origin, where,
                                key, list);
        }
    }
    return 0;
}

static int parse_inputs(tc_graph *g, json_t *arr, tc_error *err)
{
    static const char *const keys[] = {"name", "shape", "role", "mean", "std", NULL};
    const char *o = g->origin;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return tc_error_set(err, "%s: \"inputs\" must be a non-empty array of "
                                 "{\"name\", \"shape\"} objects", o);
    size_t n = json_array_size(arr);
    if (n > 64)
        return tc_error_set(err, "%s: %zu graph inputs; at most 64 are supported", o, n);
    g->inputs = calloc(n, sizeof *g->inputs);
    g->input_names = calloc(n, sizeof *g->input_names);
    if (!g->inputs || !g->input_names)
        return tc_error_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *in = json_array_get(arr, i);
        if (!json_is_object(in))
            return tc_error_set(err, "%s: inputs[%zu] must be an object", o, i);
        char where[64];
        snprintf(where, sizeof where, "inputs[%zu]", i);
        if (check_keys(o, where, in, keys, err))
            return 1;
        json_t *name = json_object_get(in, "name");
        if (!json_is_string(name) || !json_string_value(name)[0])
            return tc_error_set(err, "%s: inputs[%zu] needs a non-empty string \"name\"", o, i);
        g->input_names[i] = strdup(json_string_value(name));
        if (!g->input_names[i])
            return tc_error_set(err, "out of memory");
        g->n_inputs = (int)i + 1;
        tc_input_info *info = &g->inputs[i];
        info->name = g->input_names[i];
        json_t *role = json_object_get(in, "role");
        if (role) {
            const char *r = json_is_string(role) ? json_string_value(role) : "";
            if (strcmp(r, "label") == 0)
                info->is_label = 1;
            else if (strcmp(r, "image") != 0)
                return tc_error_set(err, "%s: input '%s': \"role\" must be \"image\" or "
                                         "\"label\"", o, info->name);
        }
        json_t *shape = json_object_get(in, "shape");
        if (!json_is_array(shape) || json_array_size(shape) > TC_MAX_DIMS - 1)
            return tc_error_set(err, "%s: input '%s': \"shape\" must be an array of at most %d "
                                     "sizes (per sample, without the batch)", o, info->name,
                                TC_MAX_DIMS - 1);
        info->shape.ndim = (int32_t)json_array_size(shape);
        for (int d = 0; d < info->shape.ndim; d++) {
            json_t *v = json_array_get(shape, (size_t)d);
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > MAX_INPUT_DIM)
                return tc_error_set(err, "%s: input '%s': shape[%d] must be an integer in "
                                         "[1, %lld]", o, info->name, d, MAX_INPUT_DIM);
            info->shape.dims[d] = json_integer_value(v);
        }
        if (info->is_label && info->shape.ndim != 0)
            return tc_error_set(err, "%s: input '%s': a label input has shape [] (one class "
                                     "index per sample)", o, info->name);
        info->mean = 0.0f;
        info->std = 1.0f;
        json_t *mean = json_object_get(in, "mean"), *std = json_object_get(in, "std");
        /* Both are used as float32: a value that overflows to infinity or
         * (std) underflows to zero would turn every pixel into Inf or NaN. */
        if (mean) {
            if (!json_is_number(mean) || !isfinite((float)json_number_value(mean)))
                return tc_error_set(err, "%s: input '%s': \"mean\" must be a finite number "
                                         "(float32), got %g", o, info->name,
                                    json_is_number(mean) ? json_number_value(mean) : NAN);
            info->mean = (float)json_number_value(mean);
        }
        if (std) {
            if (!json_is_number(std) || !(json_number_value(std) >= FLT_MIN) ||
                !isfinite((float)json_number_value(std)))
                return tc_error_set(err, "%s: input '%s': \"std\" must be a positive finite "
                                         "number (float32, at least %g), got %g", o, info->name,
                                    (double)FLT_MIN,
                                    json_is_number(std) ? json_number_value(std) : NAN);
            info->std = (float)json_number_value(std);
        }
        tc_shape full = info->shape;
        full.ndim = info->shape.ndim + 1;
        full.dims[0] = 1;
        for (int d = 0; d < info->shape.ndim; d++)
            full.dims[d + 1] = info->shape.dims[d];
        int64_t count;
        if (!shape_valid(&full, &count) || count > MAX_VALUE_ELEMENTS) {
            char b[96];
            return tc_error_set(err, "%s: input '%s': shape %s is too large (at most %lld "
                                     "elements per sample)", o, info->name,
                                shape_str(&info->shape, b, sizeof b),
                                (long long)MAX_VALUE_ELEMENTS);
        }
    }
    return 0;
}

/* The model's training settings: the built-in defaults, then the file's
 * "training" object, every key checked by the table of settings. */
static int parse_training(tc_graph *g, json_t *t, tc_error *err)
{
    tc_train_config_defaults(&g->defaults);
    return t ? tc_train_settings_from_json(t, 1, g->origin, "training", &g->defaults, err) : 0;
}

void tc_graph_train_defaults(const tc_graph *g, tc_train_defaults *d)
{
    *d = g->defaults;
}

/* ---- nodes, order ------------------------------------------------------ */

typedef struct raw_node {
    const char *name;
    const char *type_name;
    json_t *inputs; /* array of strings */
    json_t *params;
} raw_node;

static void heap_push(int *heap, int *n, int v, const int *rank)
{
    int i = (*n)++;
    heap[i] = v;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (rank[heap[p]] <= rank[heap[i]])
            break;
        int t = heap[p];
        heap[p] = heap[i];
        heap[i] = t;
        i = p;
    }
}

static int heap_pop(int *heap, int *n, const int *rank)
{
    int top = heap[0];
    heap[0] = heap[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && rank[heap[l]] < rank[heap[m]])
            m = l;
        if (r < *n && rank[heap[r]] < rank[heap[m]])
            m = r;
        if (m == i)
            break;
        int t = heap[m];
        heap[m] = heap[i];
        heap[i] = t;
        i = m;
    }
    return top;
}

/* Kahn's algorithm; ties are broken by node name so the order (and so every
 * result) does not depend on the order of nodes in the file. in_ids[i] lists
 * the node indices (file order) node i reads. On a cycle, names the nodes on
 * one cycle. */
static int topo_order(const char *origin, int n, const raw_node *raw, int **in_ids,
                      const int *n_in, int *order, tc_error *err)
{
    int rc = 1;
    int *rank = malloc(sizeof(int) * (size_t)n);
    int *indeg = calloc((size_t)n, sizeof(int));
    int *heap = malloc(sizeof(int) * (size_t)n);
    int *n_out = calloc((size_t)n, sizeof(int));
    int *out_start = malloc(sizeof(int) * ((size_t)n + 1));
    int *outs = NULL;
    name_id *sorted = malloc(sizeof(name_id) * (size_t)n);
    if (!rank || !indeg || !heap || !n_out || !out_start || !sorted) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = (name_id){raw[i].name, i};
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_name_id);
    for (int i = 0; i < n; i++)
        rank[sorted[i].id] = i;
    int total = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_in[i]; j++)
            if (in_ids[i][j] >= 0) {
                n_out[in_ids[i][j]]++;
                indeg[i]++;
                total++;
            }
    outs = malloc(sizeof(int) * ((size_t)total + 1));
    if (!outs) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    out_start[0] = 0;
    for (int i = 0; i < n; i++)
        out_start[i + 1] = out_start[i] + n_out[i];
    memset(n_out, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_in[i]; j++)
            if (in_ids[i][j] >= 0) {
                int s = in_ids[i][j];
                outs[out_start[s] + n_out[s]++] = i;
            }
    int hn = 0, done = 0;
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0)
            heap_push(heap, &hn, i, rank);
    while (hn > 0) {
        int v = heap_pop(heap, &hn, rank);
        order[done++] = v;
        for (int k = out_start[v]; k < out_start[v + 1]; k++)
            if (--indeg[outs[k]] == 0)
                heap_push(heap, &hn, outs[k], rank);
    }
    if (done < n) {
        /* Every remaining node has a remaining input: walk inputs until a node
         * repeats; the walk from that node on is a cycle. */
        int *seen_at = heap; /* reuse: step at which visited, -1 = not yet */
        int *path = rank;
        for (int i = 0; i < n; i++)
            seen_at[i] = -1;
        int v = -1;
        for (int i = 0; i < n; i++)
            if (indeg[i] > 0) {
                v = i;
                break;
            }
        int steps = 0;
        while (seen_at[v] < 0) {
            seen_at[v] = steps;
            path[steps++] = v;
            int next = -1;
            for (int j = 0; j < n_in[v] && next < 0; j++) {
                int s = in_ids[v][j];
                if (s >= 0 && indeg[s] > 0)
                    next = s;
            }
            v = next;
        }
        /* path[seen_at[v] .. steps) is the cycle, walked against the data
         * flow; print it in data-flow order, starting from its smallest name
         * so the message does not depend on the file order. */
        int first = seen_at[v], len = steps - first, start = 0;
        for (int k = 1; k < len; k++)
            if (strcmp(raw[path[first + k]].name, raw[path[first + start]].name) < 0)
                start = k;
        char msg[TC_ERROR_CAP - 64];
        size_t o = 0;
        msg[0] = 0;
        for (int k = 0; k <= len && o < sizeof msg; k++) {
            /* data-flow order is decreasing walk index */
            int idx = first + ((start - k) % len + len) % len;
            o += (size_t)snprintf(msg + o, sizeof msg - o, "%s%s", k ? " -> " : "",
                                  raw[path[idx]].name);
        }
        tc_error_set(err, "%s: the graph has a cycle: %s", origin, msg);
        goto out;
    }
    rc = 0;
out:
    free(rank);
    free(indeg);
    free(heap);
    free(n_out);
    free(out_start);
    free(outs);
    free(sorted);
    return rc;
}

static int parse_raw_nodes(const char *o, json_t *arr, raw_node **out, int *n_out, tc_error *err)
{
    static const char *const keys[] = {"name", "type", "inputs", "params", "comment", NULL};
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return tc_error_set(err, "%s: \"nodes\" must be a non-empty array", o);
    size_t n = json_array_size(arr);
    if (n > 1000000)
        return tc_error_set(err, "%s: %zu nodes; at most 1000000 are supported", o, n);
    raw_node *raw = calloc(n, sizeof *raw);
    if (!raw)
        return tc_error_set(err, "out of memory");
    *out = raw;
    *n_out = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *nd = json_array_get(arr, i);
        if (!json_is_object(nd))
            return tc_error_set(err, "%s: nodes[%zu] must be an object", o, i);
        json_t *name = json_object_get(nd, "name"), *type = json_object_get(nd, "type");
        if (!json_is_string(name) || !json_string_value(name)[0])
            return tc_error_set(err, "%s: nodes[%zu] needs a non-empty string \"name\"", o, i);
        raw[i].name = json_string_value(name);
        char where[TC_ERROR_CAP / 2];
        snprintf(where, sizeof where, "node '%.200s'", raw[i].name);
        if (check_keys(o, where, nd, keys, err))
            return 1;
        if (!json_is_string(type))
            return tc_error_set(err, "%s: node '%s' needs a string \"type\"", o, raw[i].name);
        raw[i].type_name = json_string_value(type);
        json_t *inputs = json_object_get(nd, "inputs");
        if (!json_is_array(inputs))
            return tc_error_set(err, "%s: node '%s' needs \"inputs\": an array of names", o,
                                raw[i].name);
        for (size_t j = 0; j < json_array_size(inputs); j++)
            if (!json_is_string(json_array_get(inputs, j)))
                return tc_error_set(err, "%s: node '%s': inputs[%zu] must be a name (string)", o,
                                    raw[i].name, j);
        raw[i].inputs = inputs;
        raw[i].params = json_object_get(nd, "params");
    }
    return 0;
}

static void list_types(const tc_registry *reg, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    int n = tc_registry_count(reg);
    if (n == 0) {
        snprintf(buf, cap, "no plugins are loaded: check the plugin folder");
        return;
    }
    o += (size_t)snprintf(buf, cap, "known types: ");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "",
                              tc_registry_get(reg, i, NULL)->name);
}

/* Plans node at the shapes of its inputs' values (field sel: 1 = batch 1). */
int tc_graph_plan_node(tc_graph *g, tc_node *nd, int batch1, tc_plan *plan, tc_error *err);

int tc_graph_plan_node(tc_graph *g, tc_node *nd, int batch1, tc_plan *plan, tc_error *err)
{
    tc_shape in[64];
    char b1[96], b2[96];
    for (int j = 0; j < nd->n_inputs; j++)
        in[j] = batch1 ? g->values[nd->inputs[j]].shape1 : g->values[nd->inputs[j]].shape;
    memset(plan, 0, sizeof *plan);
    plan->struct_size = sizeof *plan;
    tc_error local = {{0}};
    if (nd->type->plan(tc_host_table(), nd->self, in, nd->n_inputs, tc_get_threads(), plan,
                       &local) != 0)
        return tc_error_set(err, "%s: node '%s' (%s): %s", g->origin, nd->name, nd->type->name,
                            local.msg[0] ? local.msg : "shape inference failed");
    int64_t count;
    if (!shape_valid(&plan->output, &count))
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s is empty or too large",
                            g->origin, nd->name, nd->type->name,
                            shape_str(&plan->output, b1, sizeof b1));
    if (plan->output.dims[0] != in[0].dims[0] && !(nd->type->flags & TC_LAYER_LOSS))
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s does not keep the batch "
                                 "size of input %s", g->origin, nd->name, nd->type->name,
                            shape_str(&plan->output, b1, sizeof b1),
                            shape_str(&in[0], b2, sizeof b2));
    if (plan->n_weights < 0 || plan->n_weights > TC_MAX_WEIGHTS)
        return tc_error_set(err, "%s: node '%s' (%s): declares %d weights (at most %d)",
                            g->origin, nd->name, nd->type->name, plan->n_weights,
                            TC_MAX_WEIGHTS);
    for (int w = 0; w < plan->n_weights; w++)
        if (!plan->weights[w].name || !shape_valid(&plan->weights[w].shape, NULL))
            return tc_error_set(err, "%s: node '%s' (%s): weight %d has no name or a bad shape %s",
                                g->origin, nd->name, nd->type->name, w,
                                shape_str(&plan->weights[w].shape, b1, sizeof b1));
    if (plan->n_state < 0 || plan->n_state > TC_MAX_STATE)
        return tc_error_set(err, "%s: node '%s' (%s): declares %d state tensors (at most %d)",
                            g->origin, nd->name, nd->type->name, plan->n_state, TC_MAX_STATE);
    for (int w = 0; w < plan->n_state; w++)
        if (!plan->state[w].name || !shape_valid(&plan->state[w].shape, NULL) ||
            !isfinite(plan->state[w].init_value))
            return tc_error_set(err, "%s: node '%s' (%s): state tensor %d has no name, a bad "
                                     "shape %s or a non-finite initial value",
                                g->origin, nd->name, nd->type->name, w,
                                shape_str(&plan->state[w].shape, b1, sizeof b1));
    if (plan->workspace_bytes > ((size_t)1 << 40) || plan->saved_bytes > ((size_t)1 << 40))
        return tc_error_set(err, "%s: node '%s' (%s): asks for an absurd scratch size",
                            g->origin, nd->name, nd->type->name);
    return 0;
}

static int setup_weights(tc_graph *g, tc_error *err)
{
    int total = 0;
    int64_t total_elements = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += g->nodes[i].plan1.n_weights;
    g->weights = calloc((size_t)total + 1, sizeof *g->weights);
    g->weight_names = calloc((size_t)total + 1, sizeof *g->weight_names);
    if (!g->weights || !g->weight_names)
        return tc_error_set(err, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        tc_node *nd = &g->nodes[i];
        nd->first_weight = g->n_weights;
        nd->n_weights = nd->plan1.n_weights;
        for (int w = 0; w < nd->n_weights; w++) {
            const tc_weight_decl *d = &nd->plan1.weights[w];
            for (int v = 0; v < w; v++)
                if (strcmp(nd->plan1.weights[v].name, d->name) == 0)
                    return tc_error_set(err, "%s: node '%s' (%s): two weights named '%s'",
                                        g->origin, nd->name, nd->type->name, d->name);
            size_t len = strlen(nd->name) + strlen(d->name) + 2;
            char *name = malloc(len);
            if (!name)
                return tc_error_set(err, "out of memory");
            snprintf(name, len, "%s.%s", nd->name, d->name);
            tc_weight *wt = &g->weights[g->n_weights];
            g->weight_names[g->n_weights++] = name;
            wt->name = name;
            wt->no_decay = d->no_decay;
            wt->value.shape = d->shape;
            wt->grad.shape = d->shape;
            int64_t count = tc_shape_count(&d->shape);
            if (count > MAX_WEIGHT_ELEMENTS - total_elements)
                return tc_error_set(err, "%s: node '%s' (%s): weight '%s' has %lld elements, "
                                         "which brings the model past %lld weights (what a "
                                         "checkpoint can hold)",
                                    g->origin, nd->name, nd->type->name, d->name,
                                    (long long)count, (long long)MAX_WEIGHT_ELEMENTS);
            total_elements += count;
            wt->value.data = calloc((size_t)count, sizeof(float));
            if (!wt->value.data)
                return tc_error_set(err, "%s: node '%s': out of memory for weight '%s'",
                                    g->origin, nd->name, d->name);
        }
    }
    return 0;
}

/* "node.name" (owner: the caller) or NULL when out of memory. */
static char *dotted_name(const char *node, const char *name)
{
    size_t len = strlen(node) + strlen(name) + 2;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s.%s", node, name);
    return s;
}

/* One state tensor of node nd, from its declaration d. */
static int add_state(tc_graph *g, tc_node *nd, const tc_state_decl *d, int64_t *total,
                     tc_error *err)
{
    for (int v = 0; v < nd->plan1.n_weights; v++)
        if (strcmp(nd->plan1.weights[v].name, d->name) == 0)
            return tc_error_set(err, "%s: node '%s' (%s): '%s' is declared as a weight and as "
                                     "state", g->origin, nd->name, nd->type->name, d->name);
    for (int v = 0; v < (int)(d - nd->plan1.state); v++)
        if (strcmp(nd->plan1.state[v].name, d->name) == 0)
            return tc_error_set(err, "%s: node '%s' (%s): two state tensors named '%s'",
                                g->origin, nd->name, nd->type->name, d->name);
    char *name = dotted_name(nd->name, d->name);
    if (!name)
        return tc_error_set(err, "out of memory");
    tc_weight *st = &g->states[g->n_states];
    g->state_names[g->n_states++] = name;
    st->name = name;
    st->no_decay = 1;
    st->value.shape = d->shape;
    int64_t count = tc_shape_count(&d->shape);
    if (count > MAX_WEIGHT_ELEMENTS - *total)
        return tc_error_set(err, "%s: node '%s' (%s): state '%s' has %lld elements, which "
                                 "brings the model past %lld stored values (what a checkpoint "
                                 "can hold)", g->origin, nd->name, nd->type->name, d->name,
                            (long long)count, (long long)MAX_WEIGHT_ELEMENTS);
    *total += count;
    st->value.data = calloc((size_t)count, sizeof(float));
    if (!st->value.data)
        return tc_error_set(err, "%s: node '%s': out of memory for state '%s'", g->origin,
                            nd->name, d->name);
    return 0;
}

/* Allocates every node's state tensors (after the weights, whose element
 * count they share the checkpoint limit with). */
static int setup_states(tc_graph *g, tc_error *err)
{
    int total = 0;
    int64_t elements = tc_graph_n_weight_elements(g);
    for (int i = 0; i < g->n_nodes; i++)
        total += g->nodes[i].plan1.n_state;
    g->states = calloc((size_t)total + 1, sizeof *g->states);
    g->state_names = calloc((size_t)total + 1, sizeof *g->state_names);
    if (!g->states || !g->state_names)
        return tc_error_set(err, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        tc_node *nd = &g->nodes[i];
        nd->first_state = g->n_states;
        nd->n_state = nd->plan1.n_state;
        for (int w = 0; w < nd->n_state; w++)
            if (add_state(g, nd, &nd->plan1.state[w], &elements, err))
                return 1;
    }
    return 0;
}

static tc_graph *build(const tc_registry *reg, json_t *root, tc_graph *g, tc_error *err)
{
    static const char *const keys[] = {"name", "description", "inputs", "nodes", "output",
                                       "loss", "training", "version", NULL};
    const char *o = g->origin;
    raw_node *raw = NULL;
    int n = 0;
    int **in_ids = NULL;
    int *n_in = NULL, *order = NULL;
    name_id *map = NULL;
    int ok = 0;

    if (!json_is_object(root)) {
        tc_error_set(err, "%s: the model must be a JSON object", o);
        goto out;
    }
    if (check_keys(o, "model", root, keys, err))
        goto out;
    json_t *name = json_object_get(root, "name");
    g->name = strdup(json_is_string(name) ? json_string_value(name) : "model");
    if (!g->name) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    if (parse_inputs(g, json_object_get(root, "inputs"), err) ||
        parse_training(g, json_object_get(root, "training"), err) ||
        parse_raw_nodes(o, json_object_get(root, "nodes"), &raw, &n, err))
        goto out;

    /* names: graph inputs and nodes share one namespace */
    int n_names = g->n_inputs + n;
    map = malloc(sizeof *map * (size_t)n_names);
    in_ids = calloc((size_t)n, sizeof *in_ids);
    n_in = calloc((size_t)n, sizeof *n_in);
    order = malloc(sizeof *order * (size_t)n);
    if (!map || !in_ids || !n_in || !order) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_inputs; i++)
        map[i] = (name_id){g->inputs[i].name, -2 - i};
    for (int i = 0; i < n; i++)
        map[g->n_inputs + i] = (name_id){raw[i].name, i};
    qsort(map, (size_t)n_names, sizeof *map, cmp_name_id);
    for (int i = 1; i < n_names; i++)
        if (strcmp(map[i - 1].name, map[i].name) == 0) {
            int a = map[i - 1].id, b = map[i].id;
            if (a < 0 && b < 0)
                tc_error_set(err, "%s: two graph inputs are named '%s'", o, map[i].name);
            else if (a < 0 || b < 0)
                tc_error_set(err, "%s: node '%s' has the name of a graph input", o, map[i].name);
            else
                tc_error_set(err, "%s: duplicate node name '%s' (nodes[%d] and nodes[%d])", o,
                             map[i].name, a < b ? a : b, a < b ? b : a);
            goto out;
        }
    for (int i = 0; i < n; i++) {
        int k = (int)json_array_size(raw[i].inputs);
        in_ids[i] = malloc(sizeof(int) * ((size_t)k + 1));
        if (!in_ids[i]) {
            tc_error_set(err, "out of memory");
            goto out;
        }
        n_in[i] = k;
        for (int j = 0; j < k; j++) {
            const char *src = json_string_value(json_array_get(raw[i].inputs, (size_t)j));
            int id = find_id(map, n_names, src);
            if (id == -1) {
                tc_error_set(err, "%s: node '%s': unknown input '%s' (not a graph input or a "
                                  "node)", o, raw[i].name, src);
                goto out;
            }
            in_ids[i][j] = id; /* >= 0: node index; <= -2: graph input -2-id */
        }
    }
    /* topo_order wants node ids only; graph inputs (< 0) are ignored there */
    if (topo_order(o, n, raw, in_ids, n_in, order, err))
        goto out;

    /* nodes in execution order; value ids: inputs, then nodes by position */
    int *pos = malloc(sizeof(int) * (size_t)n);
    if (!pos) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    for (int k = 0; k < n; k++)
        pos[order[k]] = k;
    g->nodes = calloc((size_t)n, sizeof *g->nodes);
    g->n_values = g->n_inputs + n;
    g->values = calloc((size_t)g->n_values, sizeof *g->values);
    if (!g->nodes || !g->values) {
        free(pos);
        tc_error_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        tc_value *v = &g->values[i];
        v->shape1.ndim = g->inputs[i].shape.ndim + 1;
        v->shape1.dims[0] = 1;
        for (int d = 0; d < g->inputs[i].shape.ndim; d++)
            v->shape1.dims[d + 1] = g->inputs[i].shape.dims[d];
        v->shape = v->shape1;
    }
    for (int k = 0; k < n; k++) {
        int f = order[k];
        tc_node *nd = &g->nodes[k];
        g->n_nodes = k + 1;
        nd->file_index = f;
        nd->name = strdup(raw[f].name);
        nd->n_inputs = n_in[f];
        nd->inputs = malloc(sizeof(int) * ((size_t)n_in[f] + 1));
        if (!nd->name || !nd->inputs) {
            free(pos);
            tc_error_set(err, "out of memory");
            goto out;
        }
        for (int j = 0; j < n_in[f]; j++) {
            int id = in_ids[f][j];
            nd->inputs[j] = id >= 0 ? g->n_inputs + pos[id] : -2 - id;
        }
    }
    free(pos);

    /* types, parameters, instances, shapes: in execution order, so every
     * input shape is known when a node is planned */
    for (int k = 0; k < n; k++) {
        tc_node *nd = &g->nodes[k];
        const raw_node *r = &raw[nd->file_index];
        nd->type = tc_registry_find(reg, r->type_name, &nd->origin);
        if (!nd->type) {
            char list[300];
            list_types(reg, list, sizeof list);
            tc_error_set(err, "%s: node '%s': unknown layer type '%s' (%s)", o, nd->name,
                         r->type_name, list);
            goto out;
        }
        const tc_layer_type *t = nd->type;
        if (nd->n_inputs < t->min_inputs || nd->n_inputs > t->max_inputs) {
            if (t->min_inputs == t->max_inputs)
                tc_error_set(err, "%s: node '%s' (%s): takes %d input%s, got %d", o, nd->name,
                             t->name, t->min_inputs, t->min_inputs == 1 ? "" : "s",
                             nd->n_inputs);
            else
                tc_error_set(err, "%s: node '%s' (%s): takes %d to %d inputs, got %d", o,
                             nd->name, t->name, t->min_inputs, t->max_inputs, nd->n_inputs);
            goto out;
        }
        if (nd->n_inputs > 64) {
            tc_error_set(err, "%s: node '%s': %d inputs; at most 64 are supported", o, nd->name,
                         nd->n_inputs);
            goto out;
        }
        nd->param_values = calloc((size_t)t->n_params + 1, sizeof(double));
        if (!nd->param_values) {
            tc_error_set(err, "out of memory");
            goto out;
        }
        if (parse_params(o, nd->name, t, r->params, nd->param_values, err))
            goto out;
        if (t->create) {
            tc_error local = {{0}};
            if (t->create(tc_host_table(), nd->param_values, &nd->self, &local) != 0) {
                nd->self = NULL;
                tc_error_set(err, "%s: node '%s' (%s): %s", o, nd->name, t->name,
                             local.msg[0] ? local.msg : "invalid parameters");
                goto out;
            }
        }
        for (int j = 0; j < nd->n_inputs; j++) {
            const tc_value *in = &g->values[nd->inputs[j]];
            int is_label = nd->inputs[j] < g->n_inputs && g->inputs[nd->inputs[j]].is_label;
            if (is_label && !(t->flags & TC_LAYER_LOSS)) {
                tc_error_set(err, "%s: node '%s' (%s): reads the label input '%s'; only a "
                                  "loss may", o, nd->name, t->name, g->inputs[nd->inputs[j]].name);
                goto out;
            }
            (void)in;
        }
        if (tc_graph_plan_node(g, nd, 1, &nd->plan1, err))
            goto out;
        if (tc_shape_count(&nd->plan1.output) > MAX_VALUE_ELEMENTS) {
            char b[96];
            tc_error_set(err, "%s: node '%s' (%s): output shape %s has %lld elements per "
                              "sample; at most %lld are supported", o, nd->name, t->name,
                         shape_str(&nd->plan1.output, b, sizeof b),
                         (long long)tc_shape_count(&nd->plan1.output),
                         (long long)MAX_VALUE_ELEMENTS);
            goto out;
        }
        nd->plan = nd->plan1;
        g->values[g->n_inputs + k].shape1 = nd->plan1.output;
        g->values[g->n_inputs + k].shape = nd->plan1.output;
        for (int j = 0; j < nd->n_inputs; j++)
            g->values[nd->inputs[j]].n_consumers++;
    }

    /* output and loss */
    json_t *out = json_object_get(root, "output"), *loss = json_object_get(root, "loss");
    if (!json_is_string(out)) {
        tc_error_set(err, "%s: \"output\" must name the node whose values are the predictions",
                     o);
        goto out;
    }
    g->output_value = -1;
    g->loss_node = -1;
    for (int k = 0; k < n; k++) {
        if (strcmp(g->nodes[k].name, json_string_value(out)) == 0)
            g->output_value = g->n_inputs + k;
        if (json_is_string(loss) && strcmp(g->nodes[k].name, json_string_value(loss)) == 0)
            g->loss_node = k;
    }
    if (g->output_value < 0) {
        tc_error_set(err, "%s: \"output\" names '%s', which is not a node", o,
                     json_string_value(out));
        goto out;
    }
    if (g->nodes[g->output_value - g->n_inputs].type->flags & TC_LAYER_LOSS) {
        tc_error_set(err, "%s: \"output\" names the loss node '%s'; name the logits node", o,
                     json_string_value(out));
        goto out;
    }
    if (loss && !json_is_string(loss)) {
        tc_error_set(err, "%s: \"loss\" must name the loss node", o);
        goto out;
    }
    if (json_is_string(loss)) {
        if (g->loss_node < 0) {
            tc_error_set(err, "%s: \"loss\" names '%s', which is not a node", o,
                         json_string_value(loss));
            goto out;
        }
        tc_node *ln = &g->nodes[g->loss_node];
        if (!(ln->type->flags & TC_LAYER_LOSS)) {
            tc_error_set(err, "%s: \"loss\" names node '%s' of type %s, which is not a loss", o,
                         ln->name, ln->type->name);
            goto out;
        }
    }
    for (int k = 0; k < n; k++)
        if ((g->nodes[k].type->flags & TC_LAYER_LOSS) && k != g->loss_node) {
            tc_error_set(err, "%s: node '%s' is a loss (%s) but \"loss\" does not name it", o,
                         g->nodes[k].name, g->nodes[k].type->name);
            goto out;
        }

    /* which nodes inference needs: walk back from the output */
    g->nodes[g->output_value - g->n_inputs].needed = 1;
    for (int k = n - 1; k >= 0; k--)
        if (g->nodes[k].needed)
            for (int j = 0; j < g->nodes[k].n_inputs; j++)
                if (g->nodes[k].inputs[j] >= g->n_inputs)
                    g->nodes[g->nodes[k].inputs[j] - g->n_inputs].needed = 1;
    for (int k = 0; k < n; k++)
        if (g->nodes[k].needed)
            for (int j = 0; j < g->nodes[k].n_inputs; j++)
                if (g->nodes[k].inputs[j] < g->n_inputs &&
                    g->inputs[g->nodes[k].inputs[j]].is_label) {
                    tc_error_set(err, "%s: the output '%s' depends on the label input", o,
                                 json_string_value(out));
                    goto out;
                }

    if (setup_weights(g, err) || setup_states(g, err))
        goto out;
    /* a value needs a gradient when a weight lies upstream of it */
    for (int k = 0; k < n; k++) {
        tc_node *nd = &g->nodes[k];
        int need = nd->n_weights > 0;
        for (int j = 0; j < nd->n_inputs; j++)
            need |= g->values[nd->inputs[j]].needs_grad;
        g->values[g->n_inputs + k].needs_grad = need;
    }
    ok = 1;
out:
    if (in_ids)
        for (int i = 0; i < n; i++)
            free(in_ids[i]);
    free(in_ids);
    free(n_in);
    free(order);
    free(map);
    free(raw);
    if (!ok) {
        tc_graph_free(g);
        return NULL;
    }
    return g;
}

tc_graph *tc_graph_load_string(const tc_registry *reg, const char *json_text,
                               const char *origin, tc_error *err)
{
    tc_graph *g = calloc(1, sizeof *g);
    if (!g) {
        tc_error_set(err, "out of memory");
        return NULL;
    }
    g->origin = strdup(origin ? origin : "(model)");
    g->json_text = strdup(json_text);
    g->one = 1.0f;
    if (!g->origin || !g->json_text) {
        tc_graph_free(g);
        tc_error_set(err, "out of memory");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        tc_error_set(err, "%s:%d:%d: malformed JSON: %s", g->origin, jerr.line, jerr.column,
                     jerr.text);
        tc_graph_free(g);
        return NULL;
    }
    g = build(reg, root, g, err);
    json_decref(root);
    return g;
}

tc_graph *tc_graph_load_file(const tc_registry *reg, const char *path, tc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        tc_error_set(err, "%s: cannot open model file: %s", path, strerror(errno));
        return NULL;
    }
    /* Judge a regular file by its size before reading any of it (a huge or
     * sparse file costs nothing to refuse); pipes are bounded while read. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(f);
            tc_error_set(err, "%s: is a folder, not a model file", path);
            return NULL;
        }
        if (S_ISREG(st.st_mode) && st.st_size > (off_t)MAX_MODEL_BYTES) {
            fclose(f);
            tc_error_set(err, "%s: model file of %lld bytes is larger than %u MiB", path,
                         (long long)st.st_size, MAX_MODEL_BYTES >> 20);
            return NULL;
        }
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            if (cap > MAX_MODEL_BYTES + 65536) {
                free(buf);
                fclose(f);
                tc_error_set(err, "%s: model file larger than %u MiB", path,
                             MAX_MODEL_BYTES >> 20);
                return NULL;
            }
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                tc_error_set(err, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        tc_error_set(err, "%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        free(buf);
        tc_error_set(err, "%s: the model file contains a NUL byte; is it JSON?", path);
        return NULL;
    }
    tc_graph *g = tc_graph_load_string(reg, buf, path, err);
    free(buf);
    return g;
}
