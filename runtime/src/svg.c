/* SVG primitives (svg.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"
#include "tinycnn/status.h"

void tc_svg_begin(tc_text *t, double w, double h, const char *title)
{
    tc_text_printf(t, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                      "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
                   w, h, w, h);
    tc_text_printf(t, "<title>");
    tc_text_escaped(t, title);
    tc_text_printf(t, "</title>\n<style>text{fill:#222;font-size:12px}.small{font-size:10px}"
                      ".title{font-size:14px;font-weight:bold}.axis{stroke:#888;fill:none}"
                      ".grid{stroke:#e4e4e4}</style>\n");
    tc_svg_rect(t, 0, 0, w, h, "#ffffff", NULL);
}

void tc_svg_end(tc_text *t)
{
    tc_text_printf(t, "</svg>\n");
}

void tc_svg_text(tc_text *t, double x, double y, const char *anchor, const char *cls,
                 const char *text)
{
    tc_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", x, y,
                   anchor ? anchor : "start");
    if (cls)
        tc_text_printf(t, " class=\"%s\"", cls);
    tc_text_printf(t, ">");
    tc_text_escaped(t, text);
    tc_text_printf(t, "</text>\n");
}

void tc_svg_rect(tc_text *t, double x, double y, double w, double h, const char *fill,
                 const char *stroke)
{
    tc_text_printf(t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"",
                   x, y, w, h, fill ? fill : "none");
    if (stroke)
        tc_text_printf(t, " stroke=\"%s\"", stroke);
    tc_text_printf(t, "/>\n");
}

void tc_svg_line(tc_text *t, double x1, double y1, double x2, double y2, const char *stroke)
{
    tc_text_printf(t, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                   x1, y1, x2, y2, stroke);
}

int tc_write_file(const char *path, const void *data, size_t len, tc_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return tc_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    size_t n = fwrite(data, 1, len, f);
    int bad = n != len || ferror(f);
    if (fclose(f) != 0 || bad)
        return tc_error_set(err, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
