/* The model graph as an SVG diagram, laid out here (docs/report.md says why
 * not through Graphviz): one row per depth (the longest path from a graph
 * input), rows top to bottom, each row ordered by the mean position of its
 * nodes' inputs in the rows above (the barycentre heuristic of layered
 * drawing), which keeps the edges of chains and residual blocks short and
 * mostly uncrossed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "shape.h"
#include "svg.h"

enum { BOX_W = 190, BOX_H = 50, GAP_X = 24, GAP_Y = 42, MARGIN = 20 };

/* Items are the graph inputs (ids 0..n_in) and then the nodes. */
typedef struct layout {
    int n_in, n_items, n_rows, widest;
    int *depth;    /* per item */
    double *key;   /* per item: barycentre of its inputs */
    double *x;     /* per item: the box's centre */
} layout;

static int item_of(const layout *l, const tc_summary_source *src)
{
    return src->is_graph_input ? src->index : l->n_in + src->index;
}

/* Orders row d by key (stable: ties keep the execution order) and places
 * it centred under the widest row. A graph input has no inputs: it keeps
 * its place among the others by a key past every position. */
static void place_row(layout *l, const tc_summary *s, int d, int *row)
{
    int n = 0;
    for (int i = 0; i < l->n_items; i++) {
        if (l->depth[i] != d)
            continue;
        double sum = 0;
        const tc_node_summary *ns = i >= l->n_in ? &s->nodes[i - l->n_in] : NULL;
        for (int k = 0; ns && k < ns->n_inputs; k++)
            sum += l->x[item_of(l, &ns->inputs[k])];
        l->key[i] = ns && ns->n_inputs ? sum / ns->n_inputs : 1e9 + i;
        int j = n++;
        for (; j > 0 && l->key[row[j - 1]] > l->key[i]; j--)
            row[j] = row[j - 1];
        row[j] = i;
    }
    double full = (double)l->widest * (BOX_W + GAP_X), row_w = (double)n * (BOX_W + GAP_X);
    for (int j = 0; j < n; j++)
        l->x[row[j]] = MARGIN + (full - row_w) / 2 + (double)j * (BOX_W + GAP_X) + BOX_W / 2.0;
}

/* A graph input sits just above its first consumer (a label beside the
 * loss, not at the top with an edge down the whole drawing). */
static void input_rows(layout *l, const tc_summary *s)
{
    for (int i = 0; i < l->n_in; i++)
        l->depth[i] = -1;
    for (int j = 0; j < s->n_nodes; j++)
        for (int k = 0; k < s->nodes[j].n_inputs; k++) {
            const tc_summary_source *src = &s->nodes[j].inputs[k];
            int d = s->nodes[j].depth - 1;
            if (src->is_graph_input && (l->depth[src->index] < 0 || d < l->depth[src->index]))
                l->depth[src->index] = d;
        }
    for (int i = 0; i < l->n_in; i++)
        l->depth[i] = l->depth[i] < 0 ? 0 : l->depth[i];
}

static int make_layout(const tc_graph *g, const tc_summary *s, layout *l)
{
    memset(l, 0, sizeof *l);
    l->n_in = tc_graph_n_inputs(g);
    l->n_items = l->n_in + s->n_nodes;
    l->n_rows = s->max_depth + 1;
    l->depth = calloc((size_t)l->n_items + 1, sizeof *l->depth);
    l->key = calloc((size_t)l->n_items + 1, sizeof *l->key);
    l->x = calloc((size_t)l->n_items + 1, sizeof *l->x);
    int *row = calloc((size_t)l->n_items + 1, sizeof *row);
    if (!l->depth || !l->key || !l->x || !row) {
        free(row);
        return 1;
    }
    for (int i = 0; i < s->n_nodes; i++)
        l->depth[l->n_in + i] = s->nodes[i].depth;
    input_rows(l, s);
    int *count = calloc((size_t)l->n_rows + 1, sizeof *count);
    for (int i = 0; count && i < l->n_items; i++)
        if (++count[l->depth[i]] > l->widest)
            l->widest = count[l->depth[i]];
    for (int d = 0; count && d < l->n_rows; d++)
        place_row(l, s, d, row);
    int failed = count == NULL;
    free(count);
    free(row);
    return failed;
}

static void free_layout(layout *l)
{
    free(l->depth);
    free(l->key);
    free(l->x);
}

static double ypos(int depth)
{
    return MARGIN + (double)depth * (BOX_H + GAP_Y);
}

/* An edge to the next row is a short S-curve from the bottom of its source
 * to the top of its target. One that skips rows (a residual shortcut)
 * would run behind the boxes between: it leaves its source's right side,
 * bows out right of both boxes and enters its target's right side. */
static void draw_edge(tc_text *t, double x1, int d1, double x2, int d2)
{
    if (d2 - d1 <= 1) {
        double y1 = ypos(d1) + BOX_H, y2 = ypos(d2) - 2, dy = (y2 - y1) / 2;
        tc_text_printf(t, "<path class=\"edge\" d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f\" ",
                       x1, y1, x1, y1 + dy, x2, y2 - dy, x2, y2);
    } else {
        double y1 = ypos(d1) + BOX_H / 2.0, y2 = ypos(d2) + BOX_H / 2.0;
        double xa = x1 + BOX_W / 2.0, xb = x2 + BOX_W / 2.0 + 2;
        double xr = (xa > xb ? xa : xb) + 18 + 4.0 * (d2 - d1);
        tc_text_printf(t, "<path class=\"edge\" d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f\" ",
                       xa, y1, xr, y1, xr, y2, xb, y2);
    }
    tc_text_printf(t, "fill=\"none\" stroke=\"#777\" stroke-width=\"1.3\" "
                      "marker-end=\"url(#arrow)\"/>\n");
}

static void draw_edges(tc_text *t, const layout *l, const tc_summary *s)
{
    for (int i = 0; i < s->n_nodes; i++) {
        const tc_node_summary *ns = &s->nodes[i];
        for (int k = 0; k < ns->n_inputs; k++) {
            int src = item_of(l, &ns->inputs[k]);
            draw_edge(t, l->x[src], l->depth[src], l->x[l->n_in + i], ns->depth);
        }
    }
}

static void draw_box(tc_text *t, double cx, double y, const char *fill, const char *name,
                     const char *line2, const char *line3)
{
    double x = cx - BOX_W / 2.0;
    tc_text_printf(t, "<g class=\"node\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
                      "rx=\"6\" fill=\"%s\" stroke=\"#4a5a70\"/>\n", x, y, BOX_W, BOX_H, fill);
    char cut[32];
    snprintf(cut, sizeof cut, "%s", name);
    tc_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                      "style=\"font-weight:bold\">", cx, y + 16);
    tc_text_escaped(t, cut);
    tc_text_printf(t, "</text>\n");
    tc_svg_text(t, cx, y + 30, "middle", "small", line2);
    tc_svg_text(t, cx, y + 43, "middle", "small", line3);
    tc_text_printf(t, "</g>\n");
}

static void draw_nodes(tc_text *t, const layout *l, const tc_graph *g, const tc_summary *s)
{
    char shape[96], line[160];
    for (int i = 0; i < l->n_in; i++) {
        const tc_input_info *in = tc_graph_input(g, i);
        tc_shape_format(&in->shape, shape, sizeof shape);
        draw_box(t, l->x[i], ypos(l->depth[i]), "#d9f0d3", in->name,
                 in->is_label ? "label" : "input", shape);
    }
    for (int i = 0; i < s->n_nodes; i++) {
        const tc_node_summary *ns = &s->nodes[i];
        tc_shape_format(&ns->output, shape, sizeof shape);
        if (ns->weights > 0)
            snprintf(line, sizeof line, "%s  %lld w", shape, (long long)ns->weights);
        else
            snprintf(line, sizeof line, "%s", shape);
        draw_box(t, l->x[l->n_in + i], ypos(ns->depth), ns->is_loss ? "#fde0c5" : "#dbe8f7",
                 ns->name, ns->type, line);
    }
}

char *tc_report_graph_svg(const tc_graph *g, const tc_summary *s)
{
    layout l;
    if (make_layout(g, s, &l) != 0) {
        free_layout(&l);
        return NULL;
    }
    double w = 2 * MARGIN + (double)l.widest * (BOX_W + GAP_X) - GAP_X + 60;
    double h = 2 * MARGIN + (double)l.n_rows * (BOX_H + GAP_Y) - GAP_Y;
    tc_text t = {0};
    tc_svg_begin(&t, w, h, "model graph");
    tc_text_printf(&t, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                       "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
                       "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#777\"/></marker></defs>\n");
    draw_edges(&t, &l, s);
    draw_nodes(&t, &l, g, s);
    tc_svg_end(&t);
    free_layout(&l);
    return tc_text_take(&t);
}
