/* Internal: when late workers mean contention (threads.c; tested by
 * tests/test_threads.c with made-up times). */
#ifndef TC_THREADS_LATE_H
#define TC_THREADS_LATE_H

#include <stdatomic.h>
#include <stdint.h>

/* Late regions at least this many within the window mean another process
 * holds a core; fewer are late wake-ups. */
#define TC_LATE_REGIONS 3
#define TC_LATE_WINDOW_NS 100000000

/* The late regions of the current window: when it began, how many. */
typedef struct tc_late_count {
    _Atomic int64_t window_ns;
    _Atomic int regions;
} tc_late_count;

/* Counts a late region at now_ns (monotonic); 1 when it makes
 * TC_LATE_REGIONS within TC_LATE_WINDOW_NS, the count then starting again. */
int tc_late_region(tc_late_count *c, int64_t now_ns);

#endif
