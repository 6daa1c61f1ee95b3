/* Internal: a growing text buffer and the few SVG elements the report's
 * pictures are made of (report_charts.c, report_graph.c). The pictures are
 * drawn here rather than through a plotting library: they are a few dozen
 * rectangles, lines and labels, and SVG text needs no dependency. */
#ifndef TC_SVG_H
#define TC_SVG_H

#include <stddef.h>

#include "tinycnn/plugin.h" /* TC_PRINTF */

/* Text appended piece by piece. A failed allocation sets failed and makes
 * every later append a no-op, so callers check once, at the end. */
typedef struct tc_text {
    char *buf;
    size_t len, cap;
    int failed;
} tc_text;

void tc_text_printf(tc_text *t, const char *fmt, ...) TC_PRINTF(2, 3);
/* s with & < > " ' written as XML entities (for SVG and HTML alike). */
void tc_text_escaped(tc_text *t, const char *s);
void tc_text_append(tc_text *t, const void *data, size_t n);
/* data as base64 (for data: URIs). */
void tc_text_base64(tc_text *t, const unsigned char *data, size_t n);
/* The text (NUL-terminated), owned by the caller, or NULL if an append
 * failed; t is reset either way. */
char *tc_text_take(tc_text *t);
void tc_text_free(tc_text *t);

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
