/* A growing text buffer (text.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static int reserve(tc_text *t, size_t more)
{
    if (t->failed)
        return 1;
    if (t->len + more + 1 <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) {
        t->failed = 1;
        return 1;
    }
    t->buf = b;
    t->cap = cap;
    return 0;
}

void tc_text_append(tc_text *t, const void *data, size_t n)
{
    if (reserve(t, n))
        return;
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void tc_text_printf(tc_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(t, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void tc_text_escaped(tc_text *t, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': tc_text_append(t, "&amp;", 5); break;
        case '<': tc_text_append(t, "&lt;", 4); break;
        case '>': tc_text_append(t, "&gt;", 4); break;
        case '"': tc_text_append(t, "&quot;", 6); break;
        case '\'': tc_text_append(t, "&#39;", 5); break;
        default: tc_text_append(t, s, 1);
        }
    }
}

void tc_text_base64(tc_text *t, const unsigned char *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (reserve(t, (n + 2) / 3 * 4))
        return;
    char *o = t->buf + t->len;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *o++ = a[v >> 18 & 63];
        *o++ = a[v >> 12 & 63];
        *o++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    t->len = (size_t)(o - t->buf);
    t->buf[t->len] = '\0';
}

char *tc_text_take(tc_text *t)
{
    char *b = t->failed ? NULL : t->buf;
    if (t->failed)
        free(t->buf);
    if (b == NULL && !t->failed)
        b = calloc(1, 1);
    memset(t, 0, sizeof *t);
    return b;
}

void tc_text_free(tc_text *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}
