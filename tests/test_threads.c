/* The worker pool (tc_parallel_for): the static split of [0, n) into
 * chunks, one call per chunk with its index as the worker, and the fallback
 * to the calling thread after regions whose late worker made them slower
 * than one thread, several within 100 ms (one alone is a late wake-up):
 * the same chunks, all in the caller, then back to the workers once the
 * back-off has passed. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "threads_late.h"
#include "tinycnn/kernels.h"

#define MAX_CHUNKS 16

typedef struct record {
    int64_t begin[MAX_CHUNKS], end[MAX_CHUNKS];
    int calls[MAX_CHUNKS];
    pthread_t thread[MAX_CHUNKS];
    int sleep_worker; /* this worker sleeps sleep_ms, -1: none, -2: all */
    int sleep_ms;
} record;

static void note(void *arg, int64_t begin, int64_t end, int worker)
{
    record *r = arg;
    if (worker < 0 || worker >= MAX_CHUNKS)
        return;
    r->begin[worker] = begin;
    r->end[worker] = end;
    r->calls[worker]++;
    r->thread[worker] = pthread_self();
    if (worker == r->sleep_worker || r->sleep_worker == -2) {
        struct timespec ts = {0, (long)r->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The same for the long regions below: the pool remembers chunk times per
 * function, so they get a function of their own. */
static void note_long(void *arg, int64_t begin, int64_t end, int worker)
{
    note(arg, begin, end, worker);
}

/* A chunk that starts a region of its own: it must run as one chunk in
 * this thread, whether the outer chunk runs on a worker or, after
 * contention, in the calling thread (else results would depend on load). */
typedef struct nested_record {
    record inner[MAX_CHUNKS];
    int in_parallel[MAX_CHUNKS];
} nested_record;

static void nested(void *arg, int64_t begin, int64_t end, int worker)
{
    nested_record *r = arg;
    (void)begin;
    (void)end;
    if (worker < 0 || worker >= MAX_CHUNKS)
        return;
    r->in_parallel[worker] = tc_in_parallel();
    r->inner[worker].sleep_worker = -1;
    tc_parallel_for(10, note, &r->inner[worker]);
}

static void check_nested(const nested_record *r, int nt)
{
    for (int t = 0; t < nt; t++) {
        CU_ASSERT_EQUAL(r->in_parallel[t], 1);
        CU_ASSERT_EQUAL(r->inner[t].calls[0], 1);
        CU_ASSERT_EQUAL(r->inner[t].end[0], 10);
        CU_ASSERT_EQUAL(r->inner[t].calls[1], 0);
    }
}

/* Checks that chunk t of nt was [n*t/nt, n*(t+1)/nt), called once. */
static void check_split(const record *r, int64_t n, int nt)
{
    for (int t = 0; t < nt; t++) {
        CU_ASSERT_EQUAL(r->calls[t], 1);
        CU_ASSERT_EQUAL(r->begin[t], n * t / nt);
        CU_ASSERT_EQUAL(r->end[t], n * (t + 1) / nt);
    }
    for (int t = nt; t < MAX_CHUNKS; t++)
        CU_ASSERT_EQUAL(r->calls[t], 0);
}

static int all_in_caller(const record *r, int nt)
{
    for (int t = 0; t < nt; t++)
        if (!pthread_equal(r->thread[t], pthread_self()))
            return 0;
    return 1;
}

static void test_static_split(void)
{
    int saved = tc_get_threads();
    for (int threads = 1; threads <= 4; threads++) {
        tc_set_threads(threads);
        for (int64_t n = 1; n <= 11; n++) {
            record r;
            memset(&r, 0, sizeof r);
            r.sleep_worker = -1;
            tc_parallel_for(n, note, &r);
            check_split(&r, n, n < threads ? (int)n : threads);
        }
    }
    tc_set_threads(saved);
}

static void test_nested_on_workers(void)
{
    int saved = tc_get_threads();
    tc_set_threads(2);
    static nested_record nr;
    memset(&nr, 0, sizeof nr);
    tc_parallel_for(2, nested, &nr);
    check_nested(&nr, 2);
    CU_ASSERT_EQUAL(tc_in_parallel(), 0);
    tc_set_threads(saved);
}

static void test_contention_fallback(void)
{
    int saved = tc_get_threads();
    tc_set_threads(2);
    /* past any back-off an earlier test's regions may have started */
    nanosleep(&(struct timespec){0, 300000000L}, NULL);
    /* worker 1 arrives 20 ms after worker 0 finished, slower than one
     * thread, three times (test_late_window: one alone is a late wake-up) */
    record r;
    for (int i = 0; i < TC_LATE_REGIONS; i++) {
        memset(&r, 0, sizeof r);
        r.sleep_worker = 1;
        r.sleep_ms = 20;
        tc_parallel_for(100, note, &r);
        check_split(&r, 100, 2);
    }
    /* the next regions run the same chunks in the calling thread */
    for (int i = 0; i < 3; i++) {
        memset(&r, 0, sizeof r);
        r.sleep_worker = -1;
        tc_parallel_for(100, note, &r);
        check_split(&r, 100, 2);
        CU_ASSERT(all_in_caller(&r, 2));
    }
    /* nested regions stay single chunks there too, and outside any region
     * the calling thread is not "in parallel" */
    static nested_record nr;
    memset(&nr, 0, sizeof nr);
    tc_parallel_for(2, nested, &nr);
    check_nested(&nr, 2);
    CU_ASSERT_EQUAL(tc_in_parallel(), 0);
    /* ... except a function whose chunks take longer (40 ms) than the late
     * worker made the region wait (20 ms): its first call, of unknown
     * length, runs in the caller; the second, still within the back-off,
     * uses the workers */
    memset(&r, 0, sizeof r);
    r.sleep_worker = -2;
    r.sleep_ms = 40;
    tc_parallel_for(2, note_long, &r);
    check_split(&r, 2, 2);
    CU_ASSERT(all_in_caller(&r, 2));
    memset(&r, 0, sizeof r);
    r.sleep_worker = -2;
    r.sleep_ms = 40;
    tc_parallel_for(2, note_long, &r);
    check_split(&r, 2, 2);
    CU_ASSERT(!all_in_caller(&r, 2));
    /* after the back-off the workers are used again: some region soon has a
     * chunk on another thread (tried for up to 2 s) */
    nanosleep(&(struct timespec){0, 300000000L}, NULL);
    int parallel = 0;
    for (int i = 0; i < 200 && !parallel; i++) {
        memset(&r, 0, sizeof r);
        r.sleep_worker = -1;
        tc_parallel_for(100, note, &r);
        check_split(&r, 100, 2);
        parallel = !all_in_caller(&r, 2);
        if (!parallel)
            nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    CU_ASSERT(parallel);
    tc_set_threads(saved);
}

/* Late regions at made-up times: TC_LATE_REGIONS of them within the
 * window mean contention, fewer or spread wider do not, and one soon
 * after contention does. */
static void test_late_window(void)
{
    const int64_t ms = 1000000, t0 = (int64_t)1 << 50;
    tc_late_count c = {0};
    /* one late region every 700 ms (seen on a quiet guest): never */
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(tc_late_region(&c, t0 + i * 700 * ms), 0);
    /* three within 100 ms: yes, at the third; then, while the contention
     * is recent (within 1 s of the last yes), every late region */
    int64_t t = t0 + 10000 * ms;
    CU_ASSERT_EQUAL(tc_late_region(&c, t), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 10 * ms), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 20 * ms), 1);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 300 * ms), 1);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 1200 * ms), 1);
    /* 1 s later without one: counting from one again */
    t += 2300 * ms;
    CU_ASSERT_EQUAL(tc_late_region(&c, t), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 10 * ms), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 50 * ms), 1);
    /* two, then the third after the window: the window starts at the third */
    t += 3000 * ms;
    CU_ASSERT_EQUAL(tc_late_region(&c, t), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 50 * ms), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 150 * ms), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 160 * ms), 0);
    CU_ASSERT_EQUAL(tc_late_region(&c, t + 170 * ms), 1);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"static split: chunk t of nt is [n*t/nt, n*(t+1)/nt), once", test_static_split},
        {"a nested region runs as one chunk", test_nested_on_workers},
        {"a late worker sends regions to the calling thread, then back", test_contention_fallback},
        {"late regions mean contention only several within 100 ms", test_late_window},
        {NULL, NULL},
    };
    return tcu_run("threads", tests);
}
