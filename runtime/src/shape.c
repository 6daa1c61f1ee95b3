/* Shape formatting, checked element counts and the monotonic clock: one
 * copy for the whole library (see shape.h). */
#define _POSIX_C_SOURCE 200809L
#include "shape.h"

#include <stdio.h>
#include <time.h>

const char *tc_shape_format(const tc_shape *s, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->ndim && i < TC_MAX_DIMS && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)s->dims[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
    return buf;
}

int64_t tc_shape_checked_count(const tc_shape *s)
{
    if (s->ndim < 1 || s->ndim > TC_MAX_DIMS)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        if (s->dims[i] <= 0 || __builtin_mul_overflow(n, s->dims[i], &n))
            return -1;
    return n;
}

int tc_shape_equal(const tc_shape *a, const tc_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

int tc_shape_valid(const tc_shape *s, int64_t *count)
{
    int64_t n = tc_shape_checked_count(s);
    if (n < 0 || n > INT64_MAX / 8)
        return 0;
    if (count)
        *count = n;
    return 1;
}

double tc_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
