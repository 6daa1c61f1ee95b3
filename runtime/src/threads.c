/* Worker threads: a thin layer over OpenMP so that layers (through the host
 * table) and kernels share one pool and one static split.
 *
 * The split of [0, n) into chunks depends only on the thread count, and every
 * caller computes a chunk the same way whichever OS thread runs it, so the
 * chunks may also run one after another in the calling thread without
 * changing a bit of any result. That is what happens while the machine is
 * oversubscribed: when a region's last worker finishes milliseconds after
 * the first, and later than the calling thread alone would have finished
 * all the chunks, the slow worker was waiting for a core that another
 * process held, and the next regions would wait for it again (a region of
 * 50 us then costs a scheduler time slice). The pool then runs the chunks
 * in the calling thread for a while (CONTENDED_BACKOFF_NS) and tries
 * again. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/kernels.h"

#include <omp.h>
#include <stdatomic.h>
#include <time.h>

/* A worker finishing this much after the first was not running: normal
 * wake-ups and imbalance take microseconds. */
#define CONTENDED_LATE_NS 1000000
#define CONTENDED_BACKOFF_NS 200000000

/* Until when (monotonic ns) regions run in the calling thread; the only
 * process-wide state, shared by all graphs because they share the cores. */
static _Atomic int64_t serial_until_ns;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tc_set_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int tc_get_threads(void)
{
    return omp_get_max_threads();
}

void tc_parallel_for(int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                     void *arg)
{
    if (n <= 0)
        return;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > n)
        nt = (int)n;
    if (nt <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    int64_t t0 = mono_ns();
    if (t0 < atomic_load_explicit(&serial_until_ns, memory_order_relaxed)) {
        for (int t = 0; t < nt; t++) {
            int64_t begin = n * t / nt, end = n * (t + 1) / nt;
            if (begin < end)
                fn(arg, begin, end, t);
        }
        return;
    }
    int64_t first_end = INT64_MAX, last_end = 0;
#pragma omp parallel num_threads(nt) reduction(max : last_end) reduction(min : first_end)
    {
        /* the team may be smaller than asked (OMP_DYNAMIC): chunks stay the
         * same, some threads run several */
        int team = omp_get_num_threads(), me = omp_get_thread_num();
        for (int t = me; t < nt; t += team) {
            int64_t begin = n * t / nt, end = n * (t + 1) / nt;
            if (begin < end)
                fn(arg, begin, end, t);
        }
        first_end = last_end = mono_ns() - t0;
    }
    /* the fastest thread's time is about one chunk's work: nt of them is
     * what the calling thread alone would have taken */
    if (last_end - first_end > CONTENDED_LATE_NS && last_end > (int64_t)nt * first_end)
        atomic_store_explicit(&serial_until_ns, mono_ns() + CONTENDED_BACKOFF_NS,
                              memory_order_relaxed);
}
