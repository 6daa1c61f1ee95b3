/* Text made with stdio into memory (open_memstream), for the library's
 * functions that return a report as a string: the same fprintf calls a
 * program would print with, nothing printed. Needs _POSIX_C_SOURCE 200809L
 * before the first include. */
#ifndef TC_TEXT_STREAM_H
#define TC_TEXT_STREAM_H

#include <stdio.h>
#include <stdlib.h>

typedef struct tc_text_stream {
    FILE *f;       /* NULL when out of memory */
    char *text;
    size_t len;
} tc_text_stream;

/* Opens t->f; NULL there when out of memory (tc_text_end then returns NULL). */
static inline FILE *tc_text_begin(tc_text_stream *t)
{
    t->text = NULL;
    t->len = 0;
    t->f = open_memstream(&t->text, &t->len);
    return t->f;
}

/* Closes the stream and returns its text, or NULL when a write ran out of
 * memory. Owner of the string: the caller (free()). */
static inline char *tc_text_end(tc_text_stream *t)
{
    if (!t->f)
        return NULL;
    int bad = ferror(t->f);
    if (fclose(t->f) != 0 || bad) {
        free(t->text);
        return NULL;
    }
    return t->text;
}

#endif
