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
#include "name_id.h"
#include "shape.h"
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
    for (int i = 0; i < g->n_inputs; i++) {
        free(g->input_names[i]);
        /* the class names are the graph's: const only for readers */
        for (int k = 0; k < g->inputs[i].n_class_names; k++)
            free((void *)g->inputs[i].class_names[k]);
        free((void *)g->inputs[i].class_names);
    }
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
    free(g->sliced_out);
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

static const char *shape_str(const tc_shape *s, char *buf, size_t cap)
{
    return tc_shape_format(s, buf, cap);
}

static int shape_valid(const tc_shape *s, int64_t *count)
{
    return tc_shape_valid(s, count);
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

/* One "mean" or "std" value: used as float32, so a value that overflows
 * to infinity or (std) underflows to zero would turn every pixel into Inf
 * or NaN. `what` names it ("\"mean\"" or "\"std\"[2]"). */
static int norm_value(const char *o, const char *input, const char *what, json_t *v, int is_std,
                      float *out, tc_error *err)
{
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    int ok = json_is_number(v) && isfinite((float)d) && (!is_std || d >= FLT_MIN);
    if (!ok && !json_is_number(v))
        return tc_error_set(err, "%s: input '%s': %s must be a number or an array of numbers, "
                                 "one per channel, got %s", o, input, what,
                            json_is_string(v) ? "a string" : json_is_object(v) ? "an object"
                            : json_is_array(v) ? "a nested array" : json_is_null(v) ? "null"
                                                                  : "a boolean");
    if (!ok && is_std)
        return tc_error_set(err, "%s: input '%s': %s must be a positive finite number "
                                 "(float32, at least %g), got %g", o, input, what,
                            (double)FLT_MIN, d);
    if (!ok)
        return tc_error_set(err, "%s: input '%s': %s must be a finite number (float32), got %g",
                            o, input, what, d);
    *out = (float)d;
    return 0;
}

/* "mean" or "std": absent (def), one number (n = 1) or an array with a
 * value per channel (n = channels). */
static int norm_values(const char *o, const tc_input_info *info, const char *key, json_t *v,
                       int is_std, float def, float *out, int *n, tc_error *err)
{
    char what[32];
    snprintf(what, sizeof what, "\"%s\"", key);
    *n = 1;
    out[0] = def;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return norm_value(o, info->name, what, v, is_std, out, err);
    int channels = info->shape.ndim == 3 ? (int)info->shape.dims[0] : 1;
    size_t len = json_array_size(v);
    if (len != (size_t)channels)
        return tc_error_set(err, "%s: input '%s': %s has %zu values but the input has %d "
                                 "channel%s (shape[0] of a [channels, height, width] shape)",
                            o, info->name, what, len, channels, channels == 1 ? "" : "s");
    if (channels > TC_MAX_INPUT_CHANNELS)
        return tc_error_set(err, "%s: input '%s': %s per channel is supported for at most %d "
                                 "channels, the input has %d", o, info->name, what,
                            TC_MAX_INPUT_CHANNELS, channels);
    for (int c = 0; c < channels; c++) {
        snprintf(what, sizeof what, "\"%s\"[%d]", key, c);
        if (norm_value(o, info->name, what, json_array_get(v, (size_t)c), is_std, &out[c],
                       err) != 0)
            return 1;
    }
    *n = channels;
    return 0;
}

/* Fills info's mean/std; a single number given beside an array is
 * repeated for every channel, so both have n_norm values. */
static int parse_norm(const char *o, tc_input_info *info, json_t *mean, json_t *std,
                      tc_error *err)
{
    int nm, ns;
    if (norm_values(o, info, "mean", mean, 0, 0.0f, info->mean, &nm, err) != 0 ||
        norm_values(o, info, "std", std, 1, 1.0f, info->std, &ns, err) != 0)
        return 1;
    info->n_norm = nm > ns ? nm : ns;
    for (int c = 1; c < info->n_norm; c++) {
        if (nm == 1)
            info->mean[c] = info->mean[0];
        if (ns == 1)
            info->std[c] = info->std[0];
    }
    return 0;
}

/* A JSON value as compact text for a message ("?" when out of memory).
 * Owner: the caller (free()). */
static char *json_text_of(const json_t *v)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return t ? t : strdup("?");
}

/* The option `key` of input info applies to images only: it needs a
 * [channels, height, width] or [height, width] input that is not the
 * labels. */
static int image_option(const char *o, const tc_input_info *info, const char *key,
                        tc_error *err)
{
    if (info->is_label)
        return tc_error_set(err, "%s: input '%s': \"%s\" is an option of the image input, "
                                 "not of the label input", o, info->name, key);
    if (info->shape.ndim != 2 && info->shape.ndim != 3)
        return tc_error_set(err, "%s: input '%s': \"%s\" needs an image input (shape "
                                 "[channels, height, width] or [height, width]), the shape "
                                 "has %d sizes", o, info->name, key, (int)info->shape.ndim);
    return 0;
}

/* "resize"'s mode: "none", "stretch" or "crop". */
static int resize_mode(const char *o, const tc_input_info *info, json_t *mode,
                       tc_resize_mode *out, tc_error *err)
{
    static const char *const names[] = {"none", "stretch", "crop"};
    static const tc_resize_mode modes[] = {TC_RESIZE_NONE, TC_RESIZE_STRETCH, TC_RESIZE_CROP};
    for (int k = 0; k < 3; k++)
        if (json_is_string(mode) && strcmp(json_string_value(mode), names[k]) == 0) {
            *out = modes[k];
            return 0;
        }
    char *t = mode ? json_text_of(mode) : strdup("nothing");
    tc_error_set(err, "%s: input '%s': \"resize\" must be \"crop\", \"stretch\", \"none\" "
                      "or {\"mode\": \"crop\", \"size\": N}; got %s", o, info->name,
                 t ? t : "?");
    free(t);
    return 1;
}

/* "resize": a mode, or {"mode": MODE, "size": N} where only "crop" takes a
 * size (the shorter side's length before the centre cut, at least the
 * larger of height and width). Absent: TC_RESIZE_NONE. */
static int parse_resize(const char *o, tc_input_info *info, json_t *v, tc_error *err)
{
    static const char *const keys[] = {"mode", "size", NULL};
    if (!v)
        return 0;
    if (image_option(o, info, "resize", err))
        return 1;
    json_t *mode = v, *size = NULL;
    if (json_is_object(v)) {
        char where[160];
        snprintf(where, sizeof where, "input '%s': \"resize\"", info->name);
        if (check_keys(o, where, v, keys, err))
            return 1;
        mode = json_object_get(v, "mode");
        size = json_object_get(v, "size");
    }
    if (resize_mode(o, info, mode, &info->resize, err))
        return 1;
    if (!size)
        return 0;
    if (info->resize != TC_RESIZE_CROP)
        return tc_error_set(err, "%s: input '%s': \"resize\": \"size\" is for mode \"crop\" "
                                 "only (mode \"%s\" makes the image height x width)", o,
                            info->name, json_string_value(mode));
    const int64_t *hw = &info->shape.dims[info->shape.ndim - 2]; /* height, width */
    int64_t lo = hw[0] > hw[1] ? hw[0] : hw[1];
    if (!json_is_integer(size) || json_integer_value(size) < lo ||
        json_integer_value(size) > TC_PNG_MAX_DIM) {
        char *t = json_text_of(size);
        tc_error_set(err, "%s: input '%s': \"resize\": \"size\" must be an integer from %lld "
                          "(the larger of height and width) to %d, got %s", o, info->name,
                     (long long)lo, TC_PNG_MAX_DIM, t ? t : "?");
        free(t);
        return 1;
    }
    info->resize_size = (int)json_integer_value(size);
    return 0;
}

/* Is name one of list[0..n)? */
static int listed(char *const *list, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (strcmp(list[k], name) == 0)
            return 1;
    return 0;
}

/* "classes": a non-empty array of distinct non-empty names, at most
 * TC_MAX_CLASSES (the count is checked against the output later,
 * check_classes). The names are copied into info (graph-owned). */
static int parse_classes(const char *o, tc_input_info *info, json_t *v, tc_error *err)
{
    if (!v)
        return 0;
    if (image_option(o, info, "classes", err))
        return 1;
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0 || n > TC_MAX_CLASSES)
        return tc_error_set(err, "%s: input '%s': \"classes\" must be an array of 1 to %d "
                                 "class names (strings), label 0 first", o, info->name,
                            TC_MAX_CLASSES);
    char **list = calloc(n, sizeof *list);
    if (!list)
        return tc_error_set(err, "out of memory");
    info->class_names = (const char *const *)list;
    for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(v, k);
        const char *name = json_string_value(e);
        if (!name || !name[0]) /* (the JSON parser refuses NUL bytes) */
            return tc_error_set(err, "%s: input '%s': \"classes\"[%zu] must be a non-empty "
                                     "string", o, info->name, k);
        if (listed(list, (int)k, name))
            return tc_error_set(err, "%s: input '%s': \"classes\"[%zu]: class '%s' is listed "
                                     "twice", o, info->name, k, name);
        if (!(list[k] = strdup(name)))
            return tc_error_set(err, "out of memory");
        info->n_class_names = (int)k + 1;
    }
    return 0;
}

static int parse_inputs(tc_graph *g, json_t *arr, tc_error *err)
{
    static const char *const keys[] = {"name", "shape", "role", "mean", "std", "resize",
                                       "classes", NULL};
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
        if (parse_norm(o, info, json_object_get(in, "mean"), json_object_get(in, "std"),
                       err) != 0 ||
            parse_resize(o, info, json_object_get(in, "resize"), err) != 0 ||
            parse_classes(o, info, json_object_get(in, "classes"), err) != 0)
            return 1;
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
    tc_name_id *sorted = malloc(sizeof(tc_name_id) * (size_t)n);
    if (!rank || !indeg || !heap || !n_out || !out_start || !sorted) {
        tc_error_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = (tc_name_id){raw[i].name, i};
    qsort(sorted, (size_t)n, sizeof *sorted, tc_name_id_cmp);
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

/* "node.name" (owner: the caller) or NULL when out of memory. */
static char *dotted_name(const char *node, const char *name)
{
    size_t len = strlen(node) + strlen(name) + 2;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s.%s", node, name);
    return s;
}

/* Room for n weights or states and their names, each list NULL-ended. */
static int alloc_tensors(int n, tc_weight **t, char ***names, tc_error *err)
{
    *t = calloc((size_t)n + 1, sizeof **t);
    *names = calloc((size_t)n + 1, sizeof **names);
    if (!*t || !*names)
        return tc_error_set(err, "out of memory");
    return 0;
}

/* The graph's list of weights or of states, for add_tensor; word and
 * limit_word name them in its errors. */
typedef struct tensor_kind {
    const char *word;       /* one of them: "weight" */
    const char *limit_word; /* what the checkpoint limit counts: "weights" */
    tc_weight *list;
    char **names;
    int *n;
} tensor_kind;

/* Appends to k's list the tensor "node.name" of node nd with the given
 * shape, zeroed, its elements counted into *total against the checkpoint
 * limit. Its name and data belong to the graph (freed by tc_graph_free). */
static int add_tensor(tc_graph *g, const tc_node *nd, const tensor_kind *k, const char *name,
                      const tc_shape *shape, int64_t *total, tc_error *err)
{
    char *full = dotted_name(nd->name, name);
    if (!full)
        return tc_error_set(err, "out of memory");
    tc_weight *t = &k->list[*k->n];
    k->names[(*k->n)++] = full;
    t->name = full;
    t->value.shape = *shape;
    int64_t count = tc_shape_count(shape);
    if (count > MAX_WEIGHT_ELEMENTS - *total)
        return tc_error_set(err, "%s: node '%s' (%s): %s '%s' has %lld elements, which brings "
                                 "the model past %lld %s (what a checkpoint can hold)",
                            g->origin, nd->name, nd->type->name, k->word, name, (long long)count,
                            (long long)MAX_WEIGHT_ELEMENTS, k->limit_word);
    *total += count;
    t->value.data = calloc((size_t)count, sizeof(float));
    if (!t->value.data)
        return tc_error_set(err, "%s: node '%s': out of memory for %s '%s'", g->origin, nd->name,
                            k->word, name);
    return 0;
}

static int setup_weights(tc_graph *g, tc_error *err)
{
    int total = 0;
    int64_t total_elements = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += g->nodes[i].plan1.n_weights;
    if (alloc_tensors(total, &g->weights, &g->weight_names, err))
        return 1;
    const tensor_kind kind = {"weight", "weights", g->weights, g->weight_names, &g->n_weights};
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
            tc_weight *wt = &g->weights[g->n_weights];
            wt->no_decay = d->no_decay;
            wt->grad.shape = d->shape;
            if (add_tensor(g, nd, &kind, d->name, &d->shape, &total_elements, err))
                return 1;
        }
    }
    return 0;
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
    g->states[g->n_states].no_decay = 1;
    const tensor_kind kind = {"state", "stored values", g->states, g->state_names, &g->n_states};
    return add_tensor(g, nd, &kind, d->name, &d->shape, total, err);
}

/* Allocates every node's state tensors (after the weights, whose element
 * count they share the checkpoint limit with). */
static int setup_states(tc_graph *g, tc_error *err)
{
    int total = 0;
    int64_t elements = tc_graph_n_weight_elements(g);
    for (int i = 0; i < g->n_nodes; i++)
        total += g->nodes[i].plan1.n_state;
    if (alloc_tensors(total, &g->states, &g->state_names, err))
        return 1;
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

/* What building a graph holds between its phases; freed by build(). */
typedef struct build_state {
    raw_node *raw;  /* nodes as written in the file */
    int n;          /* their count */
    int **in_ids;   /* per file node: >= 0 node index, <= -2 graph input -2-id */
    int *n_in;
    int *order;     /* execution order: file indices */
} build_state;

/* Phase 1: the top-level keys, the name, the inputs, the training settings
 * and the raw node list. */
static int parse_model(tc_graph *g, json_t *root, build_state *b, tc_error *err)
{
    static const char *const keys[] = {"name", "description", "inputs", "nodes", "output",
                                       "loss", "training", "version", NULL};
    const char *o = g->origin;
    if (!json_is_object(root))
        return tc_error_set(err, "%s: the model must be a JSON object", o);
    if (check_keys(o, "model", root, keys, err))
        return 1;
    json_t *name = json_object_get(root, "name");
    g->name = strdup(json_is_string(name) ? json_string_value(name) : "model");
    if (!g->name)
        return tc_error_set(err, "out of memory");
    return parse_inputs(g, json_object_get(root, "inputs"), err) ||
           parse_training(g, json_object_get(root, "training"), err) ||
           parse_raw_nodes(o, json_object_get(root, "nodes"), &b->raw, &b->n, err);
}

/* Phase 2: graph inputs and nodes share one namespace; map (n_inputs + n
 * entries, sorted by name) gets every name once or the clash is named. */
static int name_map(const tc_graph *g, const build_state *b, tc_name_id *map, tc_error *err)
{
    const char *o = g->origin;
    int n_names = g->n_inputs + b->n;
    for (int i = 0; i < g->n_inputs; i++)
        map[i] = (tc_name_id){g->inputs[i].name, -2 - i};
    for (int i = 0; i < b->n; i++)
        map[g->n_inputs + i] = (tc_name_id){b->raw[i].name, i};
    qsort(map, (size_t)n_names, sizeof *map, tc_name_id_cmp);
    for (int i = 1; i < n_names; i++)
        if (strcmp(map[i - 1].name, map[i].name) == 0) {
            int a = map[i - 1].id, c = map[i].id;
            if (a < 0 && c < 0)
                return tc_error_set(err, "%s: two graph inputs are named '%s'", o, map[i].name);
            if (a < 0 || c < 0)
                return tc_error_set(err, "%s: node '%s' has the name of a graph input", o,
                                    map[i].name);
            return tc_error_set(err, "%s: duplicate node name '%s' (nodes[%d] and nodes[%d])",
                                o, map[i].name, a < c ? a : c, a < c ? c : a);
        }
    return 0;
}

/* Phase 3: every node's input names as ids (b->in_ids, b->n_in). */
static int resolve_inputs(const tc_graph *g, build_state *b, tc_error *err)
{
    int n_names = g->n_inputs + b->n;
    tc_name_id *map = malloc(sizeof *map * (size_t)n_names);
    if (!map)
        return tc_error_set(err, "out of memory");
    int rc = name_map(g, b, map, err);
    for (int i = 0; i < b->n && rc == 0; i++) {
        int k = (int)json_array_size(b->raw[i].inputs);
        b->in_ids[i] = malloc(sizeof(int) * ((size_t)k + 1));
        if (!b->in_ids[i]) {
            rc = tc_error_set(err, "out of memory");
            break;
        }
        b->n_in[i] = k;
        for (int j = 0; j < k && rc == 0; j++) {
            const char *src = json_string_value(json_array_get(b->raw[i].inputs, (size_t)j));
            int id = tc_name_id_find(map, n_names, src);
            if (id == -1)
                rc = tc_error_set(err, "%s: node '%s': unknown input '%s' (not a graph input "
                                       "or a node)", g->origin, b->raw[i].name, src);
            b->in_ids[i][j] = id;
        }
    }
    free(map);
    return rc;
}

/* Phase 5: g's nodes in execution order and its values (graph inputs at
 * batch 1, then one per node by position), inputs rewritten as value ids. */
static int place_nodes(tc_graph *g, const build_state *b, tc_error *err)
{
    int n = b->n;
    int *pos = malloc(sizeof(int) * (size_t)n);
    if (!pos)
        return tc_error_set(err, "out of memory");
    for (int k = 0; k < n; k++)
        pos[b->order[k]] = k;
    g->nodes = calloc((size_t)n, sizeof *g->nodes);
    g->n_values = g->n_inputs + n;
    g->values = calloc((size_t)g->n_values, sizeof *g->values);
    if (!g->nodes || !g->values) {
        free(pos);
        return tc_error_set(err, "out of memory");
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
        int f = b->order[k];
        tc_node *nd = &g->nodes[k];
        g->n_nodes = k + 1;
        nd->file_index = f;
        nd->name = strdup(b->raw[f].name);
        nd->n_inputs = b->n_in[f];
        nd->inputs = malloc(sizeof(int) * ((size_t)b->n_in[f] + 1));
        if (!nd->name || !nd->inputs) {
            free(pos);
            return tc_error_set(err, "out of memory");
        }
        for (int j = 0; j < b->n_in[f]; j++) {
            int id = b->in_ids[f][j];
            nd->inputs[j] = id >= 0 ? g->n_inputs + pos[id] : -2 - id;
        }
    }
    free(pos);
    return 0;
}

/* Phase 6a: node nd's layer type, found in reg, and its input count. */
static int find_type(const tc_registry *reg, const tc_graph *g, tc_node *nd,
                     const raw_node *r, tc_error *err)
{
    const char *o = g->origin;
    nd->type = tc_registry_find(reg, r->type_name, &nd->origin);
    if (!nd->type) {
        char list[300];
        list_types(reg, list, sizeof list);
        return tc_error_set(err, "%s: node '%s': unknown layer type '%s' (%s)", o, nd->name,
                            r->type_name, list);
    }
    const tc_layer_type *t = nd->type;
    if (nd->n_inputs < t->min_inputs || nd->n_inputs > t->max_inputs) {
        if (t->min_inputs == t->max_inputs)
            return tc_error_set(err, "%s: node '%s' (%s): takes %d input%s, got %d", o,
                                nd->name, t->name, t->min_inputs,
                                t->min_inputs == 1 ? "" : "s", nd->n_inputs);
        return tc_error_set(err, "%s: node '%s' (%s): takes %d to %d inputs, got %d", o,
                            nd->name, t->name, t->min_inputs, t->max_inputs, nd->n_inputs);
    }
    if (nd->n_inputs > 64)
        return tc_error_set(err, "%s: node '%s': %d inputs; at most 64 are supported", o,
                            nd->name, nd->n_inputs);
    return 0;
}

/* Phase 6b: node nd's parameters and its layer instance. */
static int create_instance(const tc_graph *g, tc_node *nd, const raw_node *r, tc_error *err)
{
    const tc_layer_type *t = nd->type;
    nd->param_values = calloc((size_t)t->n_params + 1, sizeof(double));
    if (!nd->param_values)
        return tc_error_set(err, "out of memory");
    if (parse_params(g->origin, nd->name, t, r->params, nd->param_values, err))
        return 1;
    if (t->create) {
        tc_error local = {{0}};
        if (t->create(tc_host_table(), nd->param_values, &nd->self, &local) != 0) {
            nd->self = NULL;
            return tc_error_set(err, "%s: node '%s' (%s): %s", g->origin, nd->name, t->name,
                                local.msg[0] ? local.msg : "invalid parameters");
        }
    }
    return 0;
}

/* Phase 6c: node k planned at batch 1; its output value gets the shape. */
static int plan_at_batch1(tc_graph *g, int k, tc_error *err)
{
    tc_node *nd = &g->nodes[k];
    const tc_layer_type *t = nd->type;
    for (int j = 0; j < nd->n_inputs; j++) {
        int is_label = nd->inputs[j] < g->n_inputs && g->inputs[nd->inputs[j]].is_label;
        if (is_label && !(t->flags & TC_LAYER_LOSS))
            return tc_error_set(err, "%s: node '%s' (%s): reads the label input '%s'; only a "
                                     "loss may", g->origin, nd->name, t->name,
                                g->inputs[nd->inputs[j]].name);
    }
    if (tc_graph_plan_node(g, nd, 1, &nd->plan1, err))
        return 1;
    if (tc_shape_count(&nd->plan1.output) > MAX_VALUE_ELEMENTS) {
        char b[96];
        return tc_error_set(err, "%s: node '%s' (%s): output shape %s has %lld elements per "
                                 "sample; at most %lld are supported", g->origin, nd->name,
                            t->name, shape_str(&nd->plan1.output, b, sizeof b),
                            (long long)tc_shape_count(&nd->plan1.output),
                            (long long)MAX_VALUE_ELEMENTS);
    }
    nd->plan = nd->plan1;
    g->values[g->n_inputs + k].shape1 = nd->plan1.output;
    g->values[g->n_inputs + k].shape = nd->plan1.output;
    for (int j = 0; j < nd->n_inputs; j++)
        g->values[nd->inputs[j]].n_consumers++;
    return 0;
}

/* Phase 6: types, parameters, instances, shapes: in execution order, so
 * every input shape is known when a node is planned. */
static int instantiate_nodes(const tc_registry *reg, tc_graph *g, const build_state *b,
                             tc_error *err)
{
    for (int k = 0; k < b->n; k++) {
        tc_node *nd = &g->nodes[k];
        const raw_node *r = &b->raw[nd->file_index];
        if (find_type(reg, g, nd, r, err) || create_instance(g, nd, r, err) ||
            plan_at_batch1(g, k, err))
            return 1;
    }
    return 0;
}

/* Phase 7a: "output" names a node that is not a loss. */
static int resolve_output(tc_graph *g, json_t *out, tc_error *err)
{
    const char *o = g->origin;
    if (!json_is_string(out))
        return tc_error_set(err, "%s: \"output\" must name the node whose values are the "
                                 "predictions", o);
    g->output_value = -1;
    for (int k = 0; k < g->n_nodes; k++)
        if (strcmp(g->nodes[k].name, json_string_value(out)) == 0)
            g->output_value = g->n_inputs + k;
    if (g->output_value < 0)
        return tc_error_set(err, "%s: \"output\" names '%s', which is not a node", o,
                            json_string_value(out));
    if (g->nodes[g->output_value - g->n_inputs].type->flags & TC_LAYER_LOSS)
        return tc_error_set(err, "%s: \"output\" names the loss node '%s'; name the logits "
                                 "node", o, json_string_value(out));
    return 0;
}

/* Phase 7a': an input's "classes" name every class of the output. */
static int check_classes(const tc_graph *g, tc_error *err)
{
    int nc = tc_graph_n_classes(g);
    for (int i = 0; i < g->n_inputs; i++) {
        const tc_input_info *in = &g->inputs[i];
        if (in->class_names && in->n_class_names != nc)
            return tc_error_set(err, "%s: input '%s': \"classes\" lists %d class%s but the "
                                     "model %s has %d (the size of its output '%s')",
                                g->origin, in->name, in->n_class_names,
                                in->n_class_names == 1 ? "" : "es", g->name, nc,
                                g->nodes[g->output_value - g->n_inputs].name);
    }
    return 0;
}

/* Phase 7b: "loss", when given, names the one loss node; no other is one. */
static int resolve_loss(tc_graph *g, json_t *loss, tc_error *err)
{
    const char *o = g->origin;
    g->loss_node = -1;
    for (int k = 0; k < g->n_nodes; k++)
        if (json_is_string(loss) && strcmp(g->nodes[k].name, json_string_value(loss)) == 0)
            g->loss_node = k;
    if (loss && !json_is_string(loss))
        return tc_error_set(err, "%s: \"loss\" must name the loss node", o);
    if (json_is_string(loss)) {
        if (g->loss_node < 0)
            return tc_error_set(err, "%s: \"loss\" names '%s', which is not a node", o,
                                json_string_value(loss));
        tc_node *ln = &g->nodes[g->loss_node];
        if (!(ln->type->flags & TC_LAYER_LOSS))
            return tc_error_set(err, "%s: \"loss\" names node '%s' of type %s, which is not a "
                                     "loss", o, ln->name, ln->type->name);
    }
    for (int k = 0; k < g->n_nodes; k++)
        if ((g->nodes[k].type->flags & TC_LAYER_LOSS) && k != g->loss_node)
            return tc_error_set(err, "%s: node '%s' is a loss (%s) but \"loss\" does not name "
                                     "it", o, g->nodes[k].name, g->nodes[k].type->name);
    return 0;
}

/* Phase 8: which nodes inference needs (walking back from the output);
 * none of them may depend on the label input. */
static int mark_needed(tc_graph *g, tc_error *err)
{
    int n = g->n_nodes;
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
                    g->inputs[g->nodes[k].inputs[j]].is_label)
                    return tc_error_set(err, "%s: the output '%s' depends on the label input",
                                        g->origin, g->nodes[g->output_value - g->n_inputs].name);
    return 0;
}

/* Phase 9 (after the weights exist): a value needs a gradient when a
 * weight lies upstream of it. */
static void mark_needs_grad(tc_graph *g)
{
    for (int k = 0; k < g->n_nodes; k++) {
        tc_node *nd = &g->nodes[k];
        int need = nd->n_weights > 0;
        for (int j = 0; j < nd->n_inputs; j++)
            need |= g->values[nd->inputs[j]].needs_grad;
        g->values[g->n_inputs + k].needs_grad = need;
    }
}

static int build_phases(const tc_registry *reg, json_t *root, tc_graph *g, build_state *b,
                        tc_error *err)
{
    if (parse_model(g, root, b, err))
        return 1;
    b->in_ids = calloc((size_t)b->n, sizeof *b->in_ids);
    b->n_in = calloc((size_t)b->n, sizeof *b->n_in);
    b->order = malloc(sizeof *b->order * (size_t)b->n);
    if (!b->in_ids || !b->n_in || !b->order)
        return tc_error_set(err, "out of memory");
    /* topo_order wants node ids only; graph inputs (< 0) are ignored there */
    if (resolve_inputs(g, b, err) ||
        topo_order(g->origin, b->n, b->raw, b->in_ids, b->n_in, b->order, err) ||
        place_nodes(g, b, err) || instantiate_nodes(reg, g, b, err) ||
        resolve_output(g, json_object_get(root, "output"), err) || check_classes(g, err) ||
        resolve_loss(g, json_object_get(root, "loss"), err) || mark_needed(g, err) ||
        setup_weights(g, err) || setup_states(g, err))
        return 1;
    mark_needs_grad(g);
    return 0;
}

/* Builds g from the parsed model root; on failure frees g. */
static tc_graph *build(const tc_registry *reg, json_t *root, tc_graph *g, tc_error *err)
{
    build_state b = {0};
    int failed = build_phases(reg, root, g, &b, err);
    if (b.in_ids)
        for (int i = 0; i < b.n; i++)
            free(b.in_ids[i]);
    free(b.in_ids);
    free(b.n_in);
    free(b.order);
    free(b.raw);
    if (failed) {
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
