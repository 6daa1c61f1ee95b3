/* The report's charts: the training curves over the epochs and the
 * confusion matrix as a heat map (SVG, drawn with svg.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"
#include "svg.h"

/* ---- curves -------------------------------------------------------------
 * Three panels side by side, each with its own y axis: loss, accuracy
 * (train and test, which share a scale) and learning rate. */
enum { PANEL_W = 320, PANEL_H = 290, PLOT_X = 60, PLOT_Y = 40, PLOT_W = 240, PLOT_H = 180 };

typedef struct series {
    const char *name, *colour;
    size_t offset; /* of the double in tc_epoch_record */
} series;

typedef struct panel {
    const char *title;
    int n_series;
    series s[2];
    int fixed_unit; /* 1: the axis may end at 1 (accuracies) */
} panel;

static const panel panels[3] = {
    {"loss (training)", 1, {{"loss", "#1f77b4", offsetof(tc_epoch_record, loss)}}, 0},
    {"accuracy", 2,
     {{"train accuracy", "#ff7f0e", offsetof(tc_epoch_record, train_accuracy)},
      {"test accuracy", "#2ca02c", offsetof(tc_epoch_record, test_accuracy)}}, 1},
    {"learning rate", 1, {{"lr", "#9467bd", offsetof(tc_epoch_record, lr)}}, 0},
};

static double field(const tc_epoch_record *r, size_t offset)
{
    double v;
    memcpy(&v, (const char *)r + offset, sizeof v);
    return isfinite(v) ? v : 0.0;
}

static void panel_range(const panel *p, const tc_epoch_record *h, int n, double *lo, double *hi)
{
    *lo = 0.0;
    *hi = 0.0;
    for (int k = 0; k < p->n_series; k++)
        for (int i = 0; i < n; i++) {
            double v = field(&h[i], p->s[k].offset);
            *hi = v > *hi ? v : *hi;
            *lo = v < *lo ? v : *lo;
        }
    if (p->fixed_unit && *hi <= 1.0) {
        /* accuracies: from the tenth below the lowest, so that 97% and 99%
         * do not look alike */
        double least = 1.0;
        for (int k = 0; k < p->n_series; k++)
            for (int i = 0; i < n; i++)
                least = fmin(least, field(&h[i], p->s[k].offset));
        *lo = fmax(0.0, floor(least * 10 - 1e-9) / 10);
        *hi = 1.0;
    } else
        *hi = *hi > 0 ? *hi * 1.08 : 1.0;
}

static double xpos(double x0, int i, int n)
{
    return n > 1 ? x0 + PLOT_W * (double)i / (n - 1) : x0 + PLOT_W / 2.0;
}

static void panel_axes(tc_text *t, double x0, const panel *p, int n, double lo, double hi)
{
    char buf[64];
    tc_svg_text(t, x0 + PLOT_W / 2.0, 24, "middle", "title", p->title);
    for (int k = 0; k <= 4; k++) {
        double y = PLOT_Y + PLOT_H - PLOT_H * k / 4.0;
        tc_svg_line(t, x0, y, x0 + PLOT_W, y, "#e4e4e4");
        snprintf(buf, sizeof buf, "%.3g", lo + (hi - lo) * k / 4.0);
        tc_svg_text(t, x0 - 6, y + 4, "end", "small", buf);
    }
    int step = n > 10 ? (n + 9) / 10 : 1;
    for (int i = 0; i < n; i += step) {
        snprintf(buf, sizeof buf, "%d", i + 1);
        tc_svg_text(t, xpos(x0, i, n), PLOT_Y + PLOT_H + 16, "middle", "small", buf);
    }
    tc_svg_text(t, x0 + PLOT_W / 2.0, PLOT_Y + PLOT_H + 34, "middle", "small", "epoch");
    tc_text_printf(t, "<rect class=\"axis\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
                   (int)x0, PLOT_Y, PLOT_W, PLOT_H);
}

/* One polyline with a point per epoch (data-series names it) and a dot
 * with a tooltip at each point. */
static void panel_series(tc_text *t, double x0, const series *s, const tc_epoch_record *h, int n,
                         double lo, double hi)
{
    tc_text_printf(t, "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" "
                      "stroke=\"%s\" stroke-width=\"2\" points=\"", s->name, s->colour);
    for (int i = 0; i < n; i++) {
        double v = field(&h[i], s->offset);
        tc_text_printf(t, "%s%.1f,%.1f", i ? " " : "", xpos(x0, i, n),
                       PLOT_Y + PLOT_H - PLOT_H * (v - lo) / (hi - lo));
    }
    tc_text_printf(t, "\"/>\n");
    for (int i = 0; i < n; i++) {
        double v = field(&h[i], s->offset);
        tc_text_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, epoch "
                          "%d: %.5g</title></circle>\n", xpos(x0, i, n),
                       PLOT_Y + PLOT_H - PLOT_H * (v - lo) / (hi - lo), s->colour, s->name,
                       h[i].epoch, v);
    }
}

static void panel_legend(tc_text *t, double x0, const panel *p)
{
    for (int k = 0; k < p->n_series; k++) {
        double x = x0 + k * 120, y = PANEL_H - 4;
        tc_svg_rect(t, x, y - 9, 14, 4, p->s[k].colour, NULL);
        tc_svg_text(t, x + 18, y - 4, "start", "small", p->s[k].name);
    }
}

char *tc_report_curves_svg(const tc_epoch_record *h, int n)
{
    tc_text t = {0};
    tc_svg_begin(&t, 3 * PANEL_W, PANEL_H, "training curves");
    for (int p = 0; p < 3; p++) {
        double x0 = p * PANEL_W + PLOT_X, lo, hi;
        panel_range(&panels[p], h, n, &lo, &hi);
        panel_axes(&t, x0, &panels[p], n, lo, hi);
        for (int k = 0; k < panels[p].n_series; k++)
            panel_series(&t, x0, &panels[p].s[k], h, n, lo, hi);
        panel_legend(&t, x0, &panels[p]);
    }
    if (n == 0)
        tc_svg_text(&t, 1.5 * PANEL_W, PANEL_H / 2.0, "middle", "title",
                    "no finished epoch in the checkpoint's history");
    tc_svg_end(&t);
    return tc_text_take(&t);
}

/* ---- confusion matrix ---------------------------------------------------
 * Each cell is shaded by the square root of its share of the row (the true
 * class): rare classes show as clearly as common ones, and a handful of
 * errors in a thousand still tints its cell. The count is written in it. */
static void shade(double f, char *buf, size_t cap)
{
    /* white to a deep blue */
    int r = (int)lround(255 + f * (8 - 255)), g = (int)lround(255 + f * (69 - 255)),
        b = (int)lround(255 + f * (148 - 255));
    snprintf(buf, cap, "#%02x%02x%02x", r, g, b);
}

static int max_name_len(char *const *names, int k)
{
    int m = 1;
    for (int i = 0; i < k; i++)
        m = (int)strlen(names[i]) > m ? (int)strlen(names[i]) : m;
    return m > 24 ? 24 : m;
}

static void confusion_cell(tc_text *t, const int64_t *m, int k, char *const *names, int i, int j,
                           double x, double y, double cell, int64_t row)
{
    char colour[16], num[32];
    int64_t v = m[(int64_t)i * k + j];
    double f = row > 0 ? (double)v / (double)row : 0.0;
    shade(sqrt(f), colour, sizeof colour);
    tc_text_printf(t, "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                      "fill=\"%s\" stroke=\"#ffffff\"><title>", x, y, cell, cell, colour);
    tc_text_escaped(t, names[i]);
    tc_text_printf(t, " predicted as ");
    tc_text_escaped(t, names[j]);
    tc_text_printf(t, ": %lld</title></rect>\n", (long long)v);
    if (cell >= 18 && v > 0) {
        snprintf(num, sizeof num, "%lld", (long long)v);
        tc_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"small\" "
                          "style=\"fill:%s\">%s</text>\n", x + cell / 2, y + cell / 2 + 4,
                       f > 0.3 ? "#ffffff" : "#222222", num);
    }
}

char *tc_report_confusion_svg(const int64_t *m, int k, char *const *names)
{
    double cell = k > 0 ? 520.0 / k : 40;
    cell = cell > 44 ? 44 : cell < 8 ? 8 : cell;
    double left = 20 + 7.0 * max_name_len(names, k), top = 40 + 6.0 * max_name_len(names, k);
    double w = left + cell * k + 20, h = top + cell * k + 40;
    tc_text t = {0};
    tc_svg_begin(&t, w, h, "confusion matrix");
    tc_svg_text(&t, left + cell * k / 2, 18, "middle", "title", "predicted class");
    for (int i = 0; i < k; i++) {
        int64_t row = 0;
        for (int j = 0; j < k; j++)
            row += m[(int64_t)i * k + j];
        tc_svg_text(&t, left - 6, top + cell * i + cell / 2 + 4, "end", "small", names[i]);
        for (int j = 0; j < k; j++)
            confusion_cell(&t, m, k, names, i, j, left + cell * j, top + cell * i, cell, row);
    }
    for (int j = 0; j < k; j++) {
        double x = left + cell * j + cell / 2 + 3, y = top - 6;
        tc_text_printf(&t, "<text x=\"%.1f\" y=\"%.1f\" class=\"small\" text-anchor=\"start\" "
                           "transform=\"rotate(-60 %.1f %.1f)\">", x, y, x, y);
        tc_text_escaped(&t, names[j]);
        tc_text_printf(&t, "</text>\n");
    }
    tc_svg_text(&t, 10, top + cell * k + 24, "start", "small",
                "rows: true class; shade: square root of the share of the row");
    tc_svg_end(&t);
    return tc_text_take(&t);
}
