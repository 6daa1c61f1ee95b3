/* ONNX export of a plugin layer through its optional onnx_export callback
 * (ABI 2.2): the tc_onnx_writer of plugin.h implemented over the onnx_ex
 * helpers, and the checks on what the callback did. The writer's node
 * handles index the nodes the callback appended; its names live in the
 * export's arena. */
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"
#include "tinycnn/registry.h"
#include "onnx_internal.h"

#define MAX_PLUGIN_NODES 256 /* ONNX nodes one layer may append */

typedef struct plugin_ctx {
    onnx_ex *x;
    const tc_node *nd;
    Onnx__NodeProto *nodes[MAX_PLUGIN_NODES];
    int n_nodes;
    int n_temps;
    int failed; /* a writer function failed: x->err holds why */
} plugin_ctx;

static int fail(plugin_ctx *c, const char *what)
{
    c->failed = 1;
    tc_error_set(c->x->err, "node '%s' (%s): onnx_export: %s", c->nd->name,
                 c->nd->type->name, what);
    return -1;
}

static int w_node(void *ctx, const char *op, const char *const *in, int n_in,
                  const char *out)
{
    plugin_ctx *c = ctx;
    if (!op || !*op || !out || !*out || n_in < 0 || n_in > ONNX_MAX_NODE_INPUTS ||
        (n_in && !in))
        return fail(c, "node(): no op type, no output or a bad input list");
    if (c->n_nodes >= MAX_PLUGIN_NODES)
        return fail(c, "node(): more than 256 ONNX nodes");
    for (int i = 0; i < n_in; i++)
        if (!in[i] || !*in[i])
            return fail(c, "node(): an input without a name");
    char name[512];
    snprintf(name, sizeof name, c->n_nodes ? "%s/%d" : "%s", c->nd->name, c->n_nodes);
    Onnx__NodeProto *n = onnx_ex_node(c->x, op, name, in, n_in, out);
    if (!n) {
        c->failed = 1;
        return -1;
    }
    c->nodes[c->n_nodes] = n;
    return c->n_nodes++;
}

/* The node behind a handle, or NULL (failure recorded). */
static Onnx__NodeProto *handle(plugin_ctx *c, int node, const char *name)
{
    if (node < 0 || node >= c->n_nodes || !name || !*name) {
        fail(c, "attr_*(): no such node handle, or no attribute name");
        return NULL;
    }
    return c->nodes[node];
}

/* An onnx_ex_attr_* result (1: err set) as the writer's 0 / -1. */
static int attr_rc(plugin_ctx *c, int rc)
{
    if (rc)
        c->failed = 1;
    return rc ? -1 : 0;
}

static int w_attr_int(void *ctx, int node, const char *name, int64_t v)
{
    plugin_ctx *c = ctx;
    Onnx__NodeProto *n = handle(c, node, name);
    return n ? attr_rc(c, onnx_ex_attr_int(c->x, n, name, v)) : -1;
}

static int w_attr_float(void *ctx, int node, const char *name, float v)
{
    plugin_ctx *c = ctx;
    Onnx__NodeProto *n = handle(c, node, name);
    return n ? attr_rc(c, onnx_ex_attr_float(c->x, n, name, v)) : -1;
}

static int w_attr_ints(void *ctx, int node, const char *name, const int64_t *v, int count)
{
    plugin_ctx *c = ctx;
    Onnx__NodeProto *n = handle(c, node, name);
    if (n && (count < 0 || count > ONNX_MAX_ATTR_INTS || (count && !v)))
        return fail(c, "attr_ints(): a bad value list");
    return n ? attr_rc(c, onnx_ex_attr_ints(c->x, n, name, v, count)) : -1;
}

/* The weight's data is used in place: the graph outlives the export. */
static const char *w_weight(void *ctx, int i, const tc_shape *as)
{
    plugin_ctx *c = ctx;
    if (i < 0 || i >= c->nd->n_weights) {
        fail(c, "weight(): no such weight");
        return NULL;
    }
    const tc_weight *wt = &c->x->g->weights[c->nd->first_weight + i];
    if (as && (as->ndim < 0 || as->ndim > TC_MAX_DIMS ||
               tc_shape_count(as) != tc_shape_count(&wt->value.shape))) {
        fail(c, "weight(): the shape asked for holds another number of elements");
        return NULL;
    }
    const char *name = onnx_ex_init(c->x, wt->name, as ? as : &wt->value.shape,
                                    wt->value.data, 0);
    if (!name)
        c->failed = 1;
    return name;
}

static const char *w_constant(void *ctx, const char *suffix, const tc_shape *shape,
                              const float *data)
{
    plugin_ctx *c = ctx;
    if (!suffix || !*suffix || !shape || shape->ndim < 0 || shape->ndim > TC_MAX_DIMS ||
        !data) {
        fail(c, "constant(): no name suffix, shape or data");
        return NULL;
    }
    char name[512];
    snprintf(name, sizeof name, "%s/%s", c->nd->name, suffix);
    const char *r = onnx_ex_init(c->x, name, shape, data, 1);
    if (!r)
        c->failed = 1;
    return r;
}

static const char *w_temp(void *ctx, const char *suffix)
{
    plugin_ctx *c = ctx;
    char name[512];
    snprintf(name, sizeof name, "%s/%s.%d", c->nd->name, suffix && *suffix ? suffix : "t",
             c->n_temps++);
    const char *r = onnx_strdup(&c->x->arena, name);
    if (!r)
        fail(c, "out of memory");
    return r;
}

/* 1 when one of the nodes the callback appended writes out. */
static int produced(const plugin_ctx *c, const char *out)
{
    for (int i = 0; i < c->n_nodes; i++)
        if (strcmp(c->nodes[i]->output[0], out) == 0)
            return 1;
    return 0;
}

int onnx_ex_plugin_has(const tc_layer_type *t)
{
    return t->struct_size >= offsetof(tc_layer_type, onnx_export) + sizeof t->onnx_export &&
           t->onnx_export != NULL;
}

int onnx_ex_map_plugin(onnx_ex *x, const tc_node *nd)
{
    plugin_ctx c = {.x = x, .nd = nd};
    const char *in[ONNX_MAX_NODE_INPUTS];
    tc_shape shapes[ONNX_MAX_NODE_INPUTS];
    for (int i = 0; i < nd->n_inputs; i++) {
        in[i] = x->value_name[nd->inputs[i]];
        shapes[i] = x->g->values[nd->inputs[i]].shape1;
    }
    tc_onnx_writer w = {
        .struct_size = sizeof w, .n_inputs = nd->n_inputs, .node_name = nd->name,
        .inputs = in, .input_shapes = shapes, .output = nd->name, .ctx = &c, .node = w_node,
        .attr_int = w_attr_int, .attr_float = w_attr_float, .attr_ints = w_attr_ints,
        .weight = w_weight, .constant = w_constant, .temp = w_temp,
    };
    tc_error perr = {{0}};
    int rc = nd->type->onnx_export(tc_host_table(), nd->self, &w, &perr);
    if (c.failed) /* x->err names the node and what went wrong */
        return 1;
    if (rc != 0)
        return tc_error_set(x->err, "node '%s' (%s): onnx_export failed: %s", nd->name,
                            nd->type->name, perr.msg[0] ? perr.msg : "no reason given");
    if (!produced(&c, nd->name))
        return tc_error_set(x->err, "node '%s' (%s): onnx_export returned 0 but no ONNX node "
                                    "writes its output '%s'", nd->name, nd->type->name,
                            nd->name);
    return 0;
}
