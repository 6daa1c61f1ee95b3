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
/* Within this long after contention was seen, one late region is enough:
 * the other process is still there (it holds the core until it ends). */
#define TC_LATE_RECENT_NS 1000000000

/* The late regions of the current window: when it began, how many. */
typedef struct tc_late_count {
    _Atomic int64_t window_ns;
    _Atomic int regions;
    _Atomic int64_t contended_ns; /* when contention was last seen, 0: never */
} tc_late_count;

/* Counts a late region at now_ns (monotonic); 1 when it makes
 * TC_LATE_REGIONS within TC_LATE_WINDOW_NS (the count then starting
 * again), or comes within TC_LATE_RECENT_NS of the last such answer. */
int tc_late_region(tc_late_count *c, int64_t now_ns);

#endif
