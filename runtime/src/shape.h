/* Internal: the one copy of the small shape and clock helpers that several
 * parts of the library need (messages, checks, profiling). Not for plugins:
 * they build against plugin.h alone and never link the runtime. */
#ifndef TC_SHAPE_INTERNAL_H
#define TC_SHAPE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tinycnn/plugin.h"

/* "[1,16,5,5]" into buf ("[]" for no dimensions), cut short to fit cap;
 * returns buf so it can sit inside a message's argument list. */
const char *tc_shape_format(const tc_shape *s, char *buf, size_t cap);

/* The element count of s, or -1 when it has no dimensions, more than
 * TC_MAX_DIMS, a dimension below 1, or a product that overflows int64. */
int64_t tc_shape_checked_count(const tc_shape *s);

/* 1 when a and b have the same dimensions. */
int tc_shape_equal(const tc_shape *a, const tc_shape *b);

/* 1 when s has a checked count (above) whose bytes, at up to 8 per
 * element, still fit in int64; the count goes to *count unless NULL. */
int tc_shape_valid(const tc_shape *s, int64_t *count);

/* Seconds on the monotonic clock (for durations only). */
double tc_monotonic_seconds(void);

#endif
