/* A model's per-node summary (tinycnn/summary.h): read from the graph's
 * batch-1 plans, with FLOPs from the layer types that count them; as JSON
 * and as the table `tinycnn summary` prints. */
#include <ctype.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "shape.h"
#include "text.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/format.h"
#include "tinycnn/model.h"
#include "tinycnn/registry.h"
#include "tinycnn/status.h"
#include "tinycnn/summary.h"

static int64_t tensor_elements(const tc_weight *w, int n)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += tc_shape_count(&w[i].value.shape);
    return total;
}

/* The type's count at batch 1, or -1 when it has no flops() (a type built
 * before 2.1 has a NULL there, or a struct that ends before it). */
static int64_t node_flops(const tc_graph *g, const tc_node *nd, tc_error *err, int *failed)
{
    const tc_layer_type *t = nd->type;
    if (t->struct_size < offsetof(tc_layer_type, flops) + sizeof t->flops || !t->flops)
        return -1;
    tc_shape in[64];
    if (nd->n_inputs > 64) {
        *failed = tc_error_set(err, "node '%s': %d inputs, more than a summary counts (64)",
                               nd->name, nd->n_inputs);
        return -1;
    }
    for (int i = 0; i < nd->n_inputs; i++)
        in[i] = g->values[nd->inputs[i]].shape1;
    int64_t f = t->flops(tc_host_table(), nd->self, in, nd->n_inputs);
    return f < 0 ? -1 : f;
}

static int fill_inputs(const tc_graph *g, const tc_node *nd, tc_node_summary *ns,
                       const tc_summary *s, tc_error *err)
{
    ns->inputs = calloc((size_t)(nd->n_inputs ? nd->n_inputs : 1), sizeof *ns->inputs);
    if (!ns->inputs)
        return tc_error_set(err, "out of memory");
    ns->n_inputs = nd->n_inputs;
    ns->depth = 1;
    for (int i = 0; i < nd->n_inputs; i++) {
        int v = nd->inputs[i];
        tc_summary_source *src = &ns->inputs[i];
        src->is_graph_input = v < g->n_inputs;
        src->index = src->is_graph_input ? v : v - g->n_inputs;
        src->name = src->is_graph_input ? g->inputs[v].name : g->nodes[src->index].name;
        /* execution order is topological: the producer's depth is known */
        int d = src->is_graph_input ? 1 : s->nodes[src->index].depth + 1;
        if (d > ns->depth)
            ns->depth = d;
    }
    return 0;
}

static int fill_node(const tc_graph *g, int i, tc_summary *s, tc_error *err)
{
    const tc_node *nd = &g->nodes[i];
    tc_node_summary *ns = &s->nodes[i];
    ns->name = nd->name;
    ns->type = nd->type->name;
    ns->is_loss = (nd->type->flags & TC_LAYER_LOSS) != 0;
    tc_shape out = g->values[g->n_inputs + i].shape1;
    /* per image: drop the batch dimension; a loss's [1] is its one value */
    int drop = out.ndim > 0 && !ns->is_loss;
    ns->output.ndim = out.ndim - drop;
    for (int d = drop; d < out.ndim; d++)
        ns->output.dims[d - drop] = out.dims[d];
    ns->weights = tensor_elements(g->weights + nd->first_weight, nd->n_weights);
    ns->state = tensor_elements(g->states + nd->first_state, nd->n_state);
    if (fill_inputs(g, nd, ns, s, err))
        return 1;
    int failed = 0;
    ns->flops = node_flops(g, nd, err, &failed);
    return failed;
}

int tc_summary_make(const tc_graph *g, tc_summary *s, tc_error *err)
{
    memset(s, 0, sizeof *s);
    s->nodes = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *s->nodes);
    if (!s->nodes)
        return tc_error_set(err, "out of memory");
    s->n_nodes = g->n_nodes;
    for (int i = 0; i < g->n_nodes; i++) {
        if (fill_node(g, i, s, err)) {
            tc_summary_free(s);
            return 1;
        }
        const tc_node_summary *ns = &s->nodes[i];
        s->weights += ns->weights;
        s->state += ns->state;
        if (ns->flops >= 0)
            s->flops += ns->flops;
        else
            s->flops_unknown++;
        if (ns->depth > s->max_depth)
            s->max_depth = ns->depth;
    }
    return 0;
}

void tc_summary_free(tc_summary *s)
{
    if (!s || !s->nodes)
        return;
    for (int i = 0; i < s->n_nodes; i++)
        free(s->nodes[i].inputs);
    free(s->nodes);
    memset(s, 0, sizeof *s);
}

static json_t *node_json(const tc_node_summary *ns)
{
    json_t *o = json_object(), *in = json_array(), *shape = json_array();
    for (int i = 0; i < ns->n_inputs; i++)
        json_array_append_new(in, json_string(ns->inputs[i].name));
    for (int d = 0; d < ns->output.ndim; d++)
        json_array_append_new(shape, json_integer(ns->output.dims[d]));
    json_object_set_new(o, "name", json_string(ns->name));
    json_object_set_new(o, "type", json_string(ns->type));
    json_object_set_new(o, "inputs", in);
    json_object_set_new(o, "output", shape);
    json_object_set_new(o, "weights", json_integer(ns->weights));
    json_object_set_new(o, "state", json_integer(ns->state));
    json_object_set_new(o, "flops", ns->flops >= 0 ? json_integer(ns->flops) : json_null());
    json_object_set_new(o, "loss", json_boolean(ns->is_loss));
    json_object_set_new(o, "depth", json_integer(ns->depth));
    return o;
}

char *tc_summary_json(const tc_graph *g, const tc_summary *s)
{
    json_t *o = json_object(), *nodes = json_array(), *tot = json_object();
    for (int i = 0; i < s->n_nodes; i++)
        json_array_append_new(nodes, node_json(&s->nodes[i]));
    json_object_set_new(tot, "weights", json_integer(s->weights));
    json_object_set_new(tot, "state", json_integer(s->state));
    json_object_set_new(tot, "flops", json_integer(s->flops));
    json_object_set_new(tot, "mflops", json_real((double)s->flops / 1e6));
    json_object_set_new(tot, "flops_unknown_nodes", json_integer(s->flops_unknown));
    json_object_set_new(o, "model", json_string(tc_graph_name(g)));
    json_object_set_new(o, "nodes", nodes);
    json_object_set_new(o, "totals", tot);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* ---- the table ----------------------------------------------------------- */

/* "conv,label" (cut short to fit cap) */
static void inputs_text(const tc_node_summary *ns, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < ns->n_inputs && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", k ? "," : "", ns->inputs[k].name);
}

/* The widths of the table's text columns: the longest entry, at least the header's. */
typedef struct widths {
    int name, type, inputs, shape;
} widths;

static void measure(const tc_summary *s, widths *w)
{
    *w = (widths){4, 4, 6, 6};
    char buf[256];
    for (int i = 0; i < s->n_nodes; i++) {
        const tc_node_summary *ns = &s->nodes[i];
        int l;
        if ((l = (int)strlen(ns->name)) > w->name)
            w->name = l;
        if ((l = (int)strlen(ns->type)) > w->type)
            w->type = l;
        inputs_text(ns, buf, sizeof buf);
        if ((l = (int)strlen(buf)) > w->inputs)
            w->inputs = l;
        tc_shape_format(&ns->output, buf, sizeof buf);
        if ((l = (int)strlen(buf)) > w->shape)
            w->shape = l;
    }
}

static void node_row(tc_text *t, const widths *w, const tc_node_summary *ns)
{
    char in[256], shape[96], wt[32], st[32], fl[32];
    inputs_text(ns, in, sizeof in);
    tc_shape_format(&ns->output, shape, sizeof shape);
    if (ns->flops >= 0)
        snprintf(fl, sizeof fl, "%.3f", (double)ns->flops / 1e6);
    else
        snprintf(fl, sizeof fl, "-");
    tc_text_printf(
        t, "%-*s  %-*s  %-*s  %-*s  %11s  %9s  %10s%s\n", w->name, ns->name, w->type, ns->type,
        w->inputs, in, w->shape, shape, tc_format_count(wt, sizeof wt, ns->weights),
        tc_format_count(st, sizeof st, ns->state), fl, ns->is_loss ? "  (training only)" : "");
}

char *tc_summary_text(const tc_graph *g, const tc_summary *s)
{
    if (!g || !s)
        return NULL;
    tc_text text = {0}, *t = &text;
    widths w;
    measure(s, &w);
    char wt[32], st[32];
    tc_text_printf(t, "model %s: %d nodes\n", tc_graph_name(g), s->n_nodes);
    tc_text_printf(t, "%-*s  %-*s  %-*s  %-*s  %11s  %9s  %10s\n", w.name, "node", w.type, "type",
                   w.inputs, "inputs", w.shape, "output", "weights", "state", "MFLOPs");
    for (int i = 0; i < s->n_nodes; i++)
        node_row(t, &w, &s->nodes[i]);
    tc_text_printf(t, "total: %s weights, %s state elements, %s%.3f forward MFLOPs per image",
                   tc_format_count(wt, sizeof wt, s->weights),
                   tc_format_count(st, sizeof st, s->state), s->flops_unknown ? "at least " : "",
                   (double)s->flops / 1e6);
    if (s->flops_unknown)
        tc_text_printf(t, " (%d node%s of types that do not count theirs)", s->flops_unknown,
                       s->flops_unknown == 1 ? "" : "s");
    tc_text_printf(t, "\n");
    return tc_text_take(t);
}

/* ---- the model a summary is of ------------------------------------------- */

/* 1 when the file's first non-blank byte is '{': a model, not a checkpoint. */
static int looks_like_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    int c = EOF;
    while (f && (c = fgetc(f)) != EOF && isspace(c))
        ;
    if (f)
        fclose(f);
    return c == '{';
}

tc_graph *tc_summary_open(const tc_registry *reg, const char *path, tc_error *err)
{
    if (!reg || !path) {
        tc_error_set(err, "tc_summary_open: no registry or path given");
        return NULL;
    }
    if (looks_like_json(path))
        return tc_graph_load_file(reg, path, err);
    tc_checkpoint ck;
    tc_graph *g = NULL;
    if (tc_checkpoint_read(path, &ck, err) == 0)
        tc_checkpoint_graph(reg, &ck, path, &g, err); /* g stays NULL on failure */
    tc_checkpoint_free(&ck);
    return g;
}
