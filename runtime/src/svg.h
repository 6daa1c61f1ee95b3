/* Internal: the few SVG elements the report's
 * pictures are made of (report_charts.c, report_graph.c). The pictures are
 * drawn here rather than through a plotting library: they are a few dozen
 * rectangles, lines and labels, and SVG text needs no dependency. */
#ifndef TC_SVG_H
#define TC_SVG_H

#include <stddef.h>

#include "text.h"


/* <svg> with a viewBox of w x h, the shared styles and a <title>. */
void tc_svg_begin(tc_text *t, double w, double h, const char *title);
void tc_svg_end(tc_text *t);
/* text at (x, y); anchor "start", "middle" or "end"; cls a class of the
 * shared styles ("label", "small", "title") or NULL. */
void tc_svg_text(tc_text *t, double x, double y, const char *anchor, const char *cls,
                 const char *text);
void tc_svg_rect(tc_text *t, double x, double y, double w, double h, const char *fill,
                 const char *stroke);
void tc_svg_line(tc_text *t, double x1, double y1, double x2, double y2, const char *stroke);

/* Writes len bytes to path; the error names the file. */
int tc_write_file(const char *path, const void *data, size_t len, tc_error *err);

#endif
