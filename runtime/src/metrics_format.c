/* The text tables of results, made into strings for the program to print:
 * a confusion matrix and its per-class metrics (tinycnn/metrics.h), the
 * per-node time profile of a training run (tinycnn/session.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/metrics.h"
#include "tinycnn/session.h"

/* A growing string; on running out of memory it is freed and stays NULL. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void add(text *t, const char *fmt, ...) TC_PRINTF(2, 3);

static void add(text *t, const char *fmt, ...)
{
    if (!t->s)
        return;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    if (len >= 0 && (size_t)len >= t->cap - t->n) {
        size_t cap = 2 * t->cap + (size_t)len;
        char *s = realloc(t->s, cap);
        if (!s) {
            free(t->s);
            t->s = NULL;
            return;
        }
        t->s = s;
        t->cap = cap;
        va_start(ap, fmt);
        vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
    }
    t->n += len > 0 ? (size_t)len : 0;
}

/* Width of the class column: the longest name, at least 5. */
static int label_width(const char *const *names, int64_t k)
{
    int lw = 5;
    for (int64_t i = 0; names && i < k; i++)
        if ((int)strlen(names[i]) > lw)
            lw = (int)strlen(names[i]);
    return lw;
}

static void row_label(text *t, const char *const *names, int64_t i, int lw)
{
    if (names)
        add(t, "%*s:", lw, names[i]);
    else
        add(t, "%*lld:", lw, (long long)i);
}

/* Rows are labelled with the class names where there are some (columns
 * keep the numbers, with the legend above: names are wide). */
static void confusion(text *t, const int64_t *m, int64_t k, const char *const *names)
{
    int64_t maxv = 0;
    for (int64_t i = 0; i < k * k; i++)
        maxv = m[i] > maxv ? m[i] : maxv;
    int w = 1, lw = label_width(names, k);
    for (int64_t v = maxv; v >= 10; v /= 10)
        w++;
    w = w < 3 ? 3 : w;
    if (names) {
        add(t, "classes:");
        for (int64_t i = 0; i < k; i++)
            add(t, "%s %lld = %s", i ? "," : "", (long long)i, names[i]);
        add(t, "\n");
    }
    add(t, "confusion matrix (rows: true class, columns: predicted)\n%*s", lw + 1, "");
    for (int64_t j = 0; j < k; j++)
        add(t, " %*lld", w, (long long)j);
    add(t, "\n");
    for (int64_t i = 0; i < k; i++) {
        int64_t row = 0;
        for (int64_t j = 0; j < k; j++)
            row += m[i * k + j];
        row_label(t, names, i, lw);
        for (int64_t j = 0; j < k; j++)
            add(t, " %*lld", w, (long long)m[i * k + j]);
        if (row > 0)
            add(t, "   %6.2f%%", 100.0 * (double)m[i * k + i] / (double)row);
        add(t, "\n");
    }
}

static void per_class(text *t, int64_t k, const tc_class_metrics *pc,
                      const tc_metrics_summary *sum, const char *const *names)
{
    int lw = label_width(names, k);
    add(t, "per class\n%*s %9s %7s %7s %8s\n", lw + 1, "", "precision", "recall", "f1",
        "support");
    for (int64_t i = 0; i < k; i++) {
        const tc_class_metrics *c = &pc[i];
        row_label(t, names, i, lw);
        add(t, " %9.4f %7.4f %7.4f %8lld%s%s\n", c->precision, c->recall, c->f1,
            (long long)c->support, c->no_predictions ? "  (never predicted)" : "",
            c->no_support ? "  (no images)" : "");
    }
    add(t, "%*s: %9.4f %7.4f %7.4f   (mean of %lld classes)\n", lw, "macro",
        sum->macro_precision, sum->macro_recall, sum->macro_f1,
        (long long)sum->classes_averaged);
}

char *tc_metrics_format(const int64_t *m, int64_t k, const tc_class_metrics *pc,
                        const tc_metrics_summary *sum, const char *const *names)
{
    text t = {malloc(4096), 0, 4096};
    if (t.s)
        t.s[0] = 0;
    confusion(&t, m, k, names);
    per_class(&t, k, pc, sum, names);
    return t.s;
}

char *tc_session_profile_format(const tc_graph *g)
{
    text t = {malloc(4096), 0, 4096};
    if (t.s)
        t.s[0] = 0;
    int n = tc_graph_n_nodes(g);
    double total = 0, fw, bw;
    int64_t calls;
    for (int i = 0; i < n; i++) {
        tc_graph_profile(g, i, &fw, &bw, &calls);
        total += fw + bw;
    }
    add(&t, "\nprofile (training steps only)\n");
    add(&t, "%-20s %-20s %10s %10s %12s %12s %7s\n", "node", "type", "fwd s", "bwd s",
        "fwd ms/call", "bwd ms/call", "share");
    for (int i = 0; i < n; i++) {
        tc_graph_profile(g, i, &fw, &bw, &calls);
        add(&t, "%-20s %-20s %10.3f %10.3f %12.3f %12.3f %6.1f%%\n", tc_graph_node_name(g, i),
            tc_graph_node_type(g, i), fw, bw, calls ? 1e3 * fw / (double)calls : 0.0,
            calls ? 1e3 * bw / (double)calls : 0.0, total > 0 ? 100.0 * (fw + bw) / total : 0.0);
    }
    add(&t, "%-20s %-20s %21.3f\n", "total", "", total);
    return t.s;
}
