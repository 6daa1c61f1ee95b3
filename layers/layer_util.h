/*
 * layer_util.h - small static helpers shared by the standard layer plugins.
 *
 * Header-only on purpose: every plugin is still built only against
 * tinycnn/plugin.h and libc/libm and links nothing of the runtime; this file
 * just saves each layer from repeating input checks, shape printing and
 * overflow-checked sizes. (The host check at the entry is plugin.h's
 * tc_host_check.) Helpers that report errors or use the worker threads take
 * the host table the callback was given.
 */
#ifndef TC_LAYER_UTIL_H
#define TC_LAYER_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinycnn/plugin.h"

/* Marks a hot loop function to be compiled twice, for AVX2 and for the
 * baseline, the loader picking one for the CPU (GNU ifunc), so that the
 * default build stays portable. No FMA: results do not depend on the pick. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && !defined(TC_NO_CLONES)
#define LU_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LU_AVX2_CLONES
#endif

/* Elementwise loops below this many elements run in the calling thread:
 * waking the workers costs more than the work. */
#define LU_PARALLEL_MIN 32768

/* The same for loops of a few vector instructions per element (ReLU,
 * pooling): below this, the loop takes tens of microseconds, less than what
 * a parallel region risks when another process holds a core (its share
 * waits for a scheduler time slice). */
#define LU_PARALLEL_MIN_CHEAP (1 << 19)

/* Writes "[1,16,5,5]" into buf. */
static inline const char *lu_shape_str(const tc_shape *s, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->ndim && i < TC_MAX_DIMS && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%lld" : "%lld",
                                (long long)s->dims[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
    return buf;
}

#define LU_SHAPE_BUF 160

/* Element count of a shape, refusing negative or zero dimensions and
 * products that overflow int64 (returns non-zero then). */
static inline int lu_count(const tc_shape *s, int64_t *out)
{
    int64_t n = 1;
    if (s->ndim < 1 || s->ndim > TC_MAX_DIMS)
        return 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] <= 0 || __builtin_mul_overflow(n, s->dims[i], &n))
            return 1;
    }
    *out = n;
    return 0;
}

/* a * b * c (non-negative) into *out, non-zero on overflow. */
static inline int lu_mul3(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    int64_t t;
    return __builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, out);
}

/* Bytes of n elements of size `elem`, rounded up to a 64-byte multiple so
 * that slices carved one after another stay aligned. Non-zero on overflow. */
static inline int lu_bytes(int64_t n, size_t elem, size_t *out)
{
    size_t b;
    if (n < 0 || __builtin_mul_overflow((size_t)n, elem, &b) ||
        __builtin_add_overflow(b, (size_t)63, &b))
        return 1;
    *out = b & ~(size_t)63;
    return 0;
}

/* Checks the input count and the shape of each input and reports the usual
 * message on failure. Returns non-zero when the shape is malformed. */
static inline int lu_check_inputs(const tc_host *host, const char *layer, const tc_shape *in,
                                  int n_inputs, int min_inputs, int max_inputs, tc_error *err)
{
    if (n_inputs < min_inputs || n_inputs > max_inputs) {
        if (min_inputs == max_inputs)
            host->set_error(err, "%s takes %d input%s, got %d", layer, min_inputs,
                            min_inputs == 1 ? "" : "s", n_inputs);
        else
            host->set_error(err, "%s takes %d to %d inputs, got %d", layer, min_inputs,
                            max_inputs, n_inputs);
        return 1;
    }
    for (int i = 0; i < n_inputs; i++) {
        int64_t n;
        if (lu_count(&in[i], &n)) {
            char buf[LU_SHAPE_BUF];
            if (in[i].ndim < 1 || in[i].ndim > TC_MAX_DIMS)
                host->set_error(err, "%s input %d has %d dimensions (1..%d allowed)", layer, i,
                                in[i].ndim, TC_MAX_DIMS);
            else
                host->set_error(err, "%s input %d has shape %s: sizes must be positive and "
                                     "their product must fit in 64 bits",
                                layer, i, lu_shape_str(&in[i], buf, sizeof buf));
            return 1;
        }
    }
    return 0;
}

/* Runs fn over [0, n): in the calling thread for small n, else through the
 * host's worker threads. */
static inline void lu_for(const tc_host *host, int64_t n,
                          void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                          void *arg)
{
    if (n <= 0)
        return;
    if (n < LU_PARALLEL_MIN)
        fn(arg, 0, n, 0);
    else
        host->parallel_for(n, fn, arg);
}

/* Like lu_for, for n items of `work` elementary steps in total (e.g. planes
 * of a pooling layer); `min_work` is LU_PARALLEL_MIN or
 * LU_PARALLEL_MIN_CHEAP. */
static inline void lu_for_work(const tc_host *host, int64_t n, int64_t work, int64_t min_work,
                               void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                               void *arg)
{
    if (n <= 0)
        return;
    if (work < min_work || n == 1)
        fn(arg, 0, n, 0);
    else
        host->parallel_for(n, fn, arg);
}

#endif
