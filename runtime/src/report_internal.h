/* Internal: the pieces of `tinycnn report` (tinycnn/report.h). report.c
 * gathers the data and writes the files; each picture is made by its own
 * file from plain inputs, so it can be tested alone. */
#ifndef TC_REPORT_INTERNAL_H
#define TC_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tinycnn/dataset.h"
#include "tinycnn/report.h"
#include "tinycnn/summary.h"

/* One misclassified test image and its tile in mistakes.png. */
typedef struct tc_mistake {
    int64_t index;     /* in the test split */
    int truth, predicted;
    float prob;        /* the predicted class's probability */
    int x, y;          /* the tile's top-left pixel */
} tc_mistake;

/* mistakes.png: tiles of tile_w x tile_h (each image scaled `scale` times,
 * nearest neighbour), `gap` pixels apart and around, `columns` a row. */
typedef struct tc_mistake_grid {
    int columns, rows, tile_w, tile_h, scale, gap, width, height;
} tc_mistake_grid;

typedef struct tc_report_data {
    const tc_graph *g;
    const char *checkpoint;
    tc_summary summary;
    tc_epoch_record *history;
    int n_history;
    int n_classes;
    char **names;            /* n_classes: the class names, else the numbers */
    int64_t *confusion;      /* n_classes^2, rows: true class */
    int64_t correct, total;
    tc_mistake *mistakes;
    int n_mistakes;
    tc_mistake_grid grid;
    unsigned char *png;      /* mistakes.png's bytes */
    size_t png_len;
    char *curves_svg, *confusion_svg, *graph_svg;
} tc_report_data;

/* Each returns text owned by the caller (free()), or NULL when out of memory. */
char *tc_report_curves_svg(const tc_epoch_record *h, int n);
char *tc_report_confusion_svg(const int64_t *m, int k, char *const *names);
char *tc_report_graph_svg(const tc_graph *g, const tc_summary *s);
char *tc_report_mistakes_json(const tc_report_data *d);
char *tc_report_html(const tc_report_data *d);

/* Evaluates the first `limit` images of ds (0: all) as tc_evaluate_each
 * does (confusion added to, correct and total set) and keeps the
 * misclassified ones, most confident first, at most max of them. Owner of
 * *out: the caller. */
int tc_report_evaluate(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit, int max,
                       int64_t *confusion, int64_t *correct, int64_t *total, tc_mistake **out,
                       int *n_out, tc_error *err);

/* Lays the tiles out (sets each mistake's x, y and *grid) and encodes the
 * grid as a PNG with libpng. Owner of *png: the caller (free()). */
int tc_report_mistakes_png(const tc_dataset *ds, tc_mistake *m, int n, tc_mistake_grid *grid,
                           unsigned char **png, size_t *len, tc_error *err);

#endif
