/* The report's page, index.html, and mistakes.json. The page carries
 * everything inline (the SVG elements, mistakes.png as a data: URI, the
 * styles) and a Content-Security-Policy that forbids every request but
 * those data: images, so that it renders the same from any folder, offline,
 * and a stray external reference shows as a console error, not as a
 * silent request. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "tinycnn/format.h"
#include "shape.h"
#include "svg.h"
#include "tinycnn/metrics.h"

static const char style[] =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;background:#fff;"
    "max-width:1200px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;"
    "border-bottom:1px solid #ddd;padding-bottom:4px}p.meta{color:#555;margin:0 0 8px}"
    "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 9px;border-bottom:1px solid "
    "#eee;text-align:right}th{background:#f3f5f8}td.l,th.l{text-align:left}tr.total td{font-weight:"
    "bold;border-top:1px solid #999}.row{display:flex;gap:32px;flex-wrap:wrap;align-items:"
    "flex-start}.grid{display:flex;flex-wrap:wrap;gap:10px}.mistake{font-size:11px;text-align:"
    "center;width:120px}.mistake div{margin:0 auto 3px;border:1px solid #999}svg{max-width:100%;"
    "height:auto}.scroll{overflow-x:auto}";

/* ---- numbers ------------------------------------------------------------*/

static void flops_cell(tc_text *t, int64_t flops, int at_least)
{
    if (flops < 0)
        tc_text_printf(t, "<td>-</td>");
    else
        tc_text_printf(t, "<td>%s%.3f</td>", at_least ? "&ge; " : "", (double)flops / 1e6);
}

/* ---- sections -----------------------------------------------------------*/

static void header(tc_text *t, const tc_report_data *d)
{
    char grp[64];
    tc_text_printf(t, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'; img-src data:\">\n<title>tinycnn report: ");
    tc_text_escaped(t, tc_graph_name(d->g));
    tc_text_printf(t, "</title>\n<style>%s</style></head><body>\n<h1>", style);
    tc_text_escaped(t, tc_graph_name(d->g));
    tc_text_printf(t, "</h1>\n<p class=\"meta\">checkpoint ");
    tc_text_escaped(t, d->checkpoint);
    tc_format_count(grp, sizeof grp, d->summary.weights);
    tc_text_printf(t, " &middot; %d epochs &middot; test accuracy <b>%.2f%%</b> (%lld of %lld) "
                      "&middot; %s weights &middot; %s%.3f MFLOPs per image</p>\n",
                   d->n_history, d->total ? 100.0 * (double)d->correct / (double)d->total : 0.0,
                   (long long)d->correct, (long long)d->total, grp,
                   d->summary.flops_unknown ? "at least " : "", (double)d->summary.flops / 1e6);
}

/* Per-class precision, recall and F1 (tinycnn/metrics.h) and their macro
 * averages; a class never predicted or without images says so. */
static void scores_table(tc_text *t, const tc_report_data *d)
{
    tc_class_metrics *pc = calloc((size_t)d->n_classes, sizeof *pc);
    tc_metrics_summary sum;
    if (!pc || tc_metrics_from_confusion(d->confusion, d->n_classes, pc, &sum, NULL) != 0) {
        free(pc);
        tc_text_printf(t, "<p>(no per-class scores: out of memory)</p>\n");
        return;
    }
    tc_text_printf(t, "<table class=\"scores\"><tr><th class=\"l\">class</th><th>precision</th>"
                      "<th>recall</th><th>F1</th><th>images</th><th class=\"l\"></th></tr>\n");
    for (int c = 0; c < d->n_classes; c++) {
        tc_text_printf(t, "<tr><td class=\"l\">");
        tc_text_escaped(t, d->names[c]);
        tc_text_printf(t, "</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%lld</td>"
                          "<td class=\"l\">%s</td></tr>\n", pc[c].precision, pc[c].recall, pc[c].f1,
                       (long long)pc[c].support, pc[c].no_support ? "no images"
                                                 : pc[c].no_predictions ? "never predicted" : "");
    }
    tc_text_printf(t, "<tr class=\"total\"><td class=\"l\">macro average</td><td>%.3f</td>"
                      "<td>%.3f</td><td>%.3f</td><td>%lld</td><td></td></tr></table>\n",
                   sum.macro_precision, sum.macro_recall, sum.macro_f1, (long long)sum.total);
    free(pc);
}

static void mistakes_grid(tc_text *t, const tc_report_data *d)
{
    if (d->n_mistakes == 0) {
        tc_text_printf(t, "<p>No test image is misclassified.</p>\n");
        return;
    }
    tc_text_printf(t, "<style>.tile{background-image:url(data:image/png;base64,");
    tc_text_base64(t, d->png, d->png_len);
    tc_text_printf(t, ")}</style>\n<div class=\"grid\">\n");
    for (int i = 0; i < d->n_mistakes; i++) {
        const tc_mistake *m = &d->mistakes[i];
        tc_text_printf(t, "<div class=\"mistake\"><div class=\"tile\" style=\"width:%dpx;height:"
                          "%dpx;background-position:-%dpx -%dpx\"></div>#%lld<br>true <b>",
                       d->grid.tile_w, d->grid.tile_h, m->x, m->y, (long long)m->index);
        tc_text_escaped(t, d->names[m->truth]);
        tc_text_printf(t, "</b><br>predicted <b>");
        tc_text_escaped(t, d->names[m->predicted]);
        tc_text_printf(t, "</b> (%.1f%%)</div>\n", 100.0 * m->prob);
    }
    tc_text_printf(t, "</div>\n");
}

static void summary_row(tc_text *t, const tc_node_summary *ns)
{
    char shape[96];
    tc_text_printf(t, "<tr><td class=\"l\">");
    tc_text_escaped(t, ns->name);
    tc_text_printf(t, "</td><td class=\"l\">");
    tc_text_escaped(t, ns->type);
    tc_text_printf(t, "</td><td class=\"l\">");
    for (int k = 0; k < ns->n_inputs; k++) {
        tc_text_printf(t, "%s", k ? ", " : "");
        tc_text_escaped(t, ns->inputs[k].name);
    }
    char w[48], st[48];
    tc_text_printf(t, "</td><td class=\"l\">%s</td><td>%s</td><td>%s</td>",
                   tc_shape_format(&ns->output, shape, sizeof shape), tc_format_count(w, sizeof w, ns->weights),
                   tc_format_count(st, sizeof st, ns->state));
    flops_cell(t, ns->flops, 0);
    tc_text_printf(t, "</tr>\n");
}

static void summary_table(tc_text *t, const tc_summary *s)
{
    tc_text_printf(t, "<table class=\"summary\"><tr><th class=\"l\">node</th><th class=\"l\">type"
                      "</th><th class=\"l\">inputs</th><th class=\"l\">output (per image)</th>"
                      "<th>weights</th><th>state</th><th>MFLOPs</th></tr>\n");
    for (int i = 0; i < s->n_nodes; i++)
        summary_row(t, &s->nodes[i]);
    char w[48], st[48];
    tc_text_printf(t, "<tr class=\"total\"><td class=\"l\" colspan=\"4\">total (%d nodes)</td>"
                      "<td>%s</td><td>%s</td>", s->n_nodes, tc_format_count(w, sizeof w, s->weights),
                   tc_format_count(st, sizeof st, s->state));
    flops_cell(t, s->flops, s->flops_unknown > 0);
    tc_text_printf(t, "</tr></table>\n");
    if (s->flops_unknown)
        tc_text_printf(t, "<p class=\"meta\">%d node(s) of types that do not count their FLOPs "
                          "(-): the total is a lower bound.</p>\n", s->flops_unknown);
}

char *tc_report_html(const tc_report_data *d)
{
    tc_text t = {0};
    header(&t, d);
    tc_text_printf(&t, "<h2>Training curves</h2>\n<div class=\"scroll\">%s</div>\n", d->curves_svg);
    tc_text_printf(&t, "<h2>Test set: confusion matrix and per-class scores</h2>\n"
                       "<div class=\"row\"><div>%s</div>\n", d->confusion_svg);
    scores_table(&t, d);
    tc_text_printf(&t, "</div>\n<h2>Most confident mistakes</h2>\n");
    mistakes_grid(&t, d);
    tc_text_printf(&t, "<h2>Model graph</h2>\n<div class=\"scroll\">%s</div>\n", d->graph_svg);
    tc_text_printf(&t, "<h2>Summary</h2>\n");
    summary_table(&t, &d->summary);
    tc_text_printf(&t, "</body></html>\n");
    return tc_text_take(&t);
}

char *tc_report_mistakes_json(const tc_report_data *d)
{
    json_t *o = json_object(), *list = json_array();
    const tc_mistake_grid *g = &d->grid;
    json_object_set_new(o, "image", json_string("mistakes.png"));
    json_object_set_new(o, "tile_width", json_integer(g->tile_w));
    json_object_set_new(o, "tile_height", json_integer(g->tile_h));
    json_object_set_new(o, "scale", json_integer(g->scale));
    json_object_set_new(o, "columns", json_integer(g->columns));
    json_object_set_new(o, "gap", json_integer(g->gap));
    for (int i = 0; i < d->n_mistakes; i++) {
        const tc_mistake *m = &d->mistakes[i];
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer(m->index));
        json_object_set_new(e, "true", json_integer(m->truth));
        json_object_set_new(e, "predicted", json_integer(m->predicted));
        json_object_set_new(e, "true_name", json_string(d->names[m->truth]));
        json_object_set_new(e, "predicted_name", json_string(d->names[m->predicted]));
        json_object_set_new(e, "probability", json_real(m->prob));
        json_object_set_new(e, "x", json_integer(m->x));
        json_object_set_new(e, "y", json_integer(m->y));
        json_array_append_new(list, e);
    }
    json_object_set_new(o, "mistakes", list);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}
