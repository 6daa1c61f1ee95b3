/* Internal: a growing text buffer, for the library's functions that return
 * text (reports, tables, SVG): nothing printed, one check at the end. */
#ifndef TC_TEXT_H
#define TC_TEXT_H

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

#endif
