/* Worker threads: a thin layer over OpenMP so that layers (through the host
 * table) and kernels share one pool and one static split.
 *
 * The split of [0, n) into chunks depends only on the thread count, and every
 * caller computes a chunk the same way whichever OS thread runs it, so the
 * chunks may also run one after another in the calling thread without
 * changing a bit of any result. That is what happens while the machine is
 * oversubscribed: when regions' last workers finish milliseconds after
 * the first, and later than the calling thread alone would have finished
 * all the chunks, several times within 100 ms, the slow worker was waiting
 * for a core that another process held, and the next regions would wait
 * for it again (a region of 50 us then costs a scheduler time slice). The
 * pool then runs the chunks of short regions in the calling thread for a
 * while (CONTENDED_BACKOFF_NS) and tries again; regions whose chunks take
 * longer than such a wait typically lasts (remembered per function) stay parallel,
 * since waiting for the worker still beats doing its chunk as well. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/kernels.h"

#include <ctype.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threads_late.h"
#include "tinycnn/status.h"

/* A worker finishing this much after the first was not running: normal
 * wake-ups and imbalance take microseconds. */
#define CONTENDED_LATE_NS 1000000
#define CONTENDED_BACKOFF_NS 200000000

/* Process-wide state, shared by all graphs because they share the cores;
 * only heuristics (a stale or torn value costs time, never a result):
 * until when (monotonic ns) short regions run in the calling thread, the
 * typical extra wait for a late worker, and per function (a small table
 * by address) the time one chunk took last. */
static _Atomic int64_t serial_until_ns;
static _Atomic int64_t late_wait_ns;
static tc_late_count late_count;

/* One late region now and then is a worker whose wake-up took a scheduler
 * tick (a quiet 2-vCPU guest: 4 ms, a few times a second), and costs that
 * one wait; a core held by another process makes nearly every region late.
 * So only several late regions within a short window start the back-off:
 * backing off for each single one ran 28% of a ResNet-8 training run on
 * one thread there. */
int tc_late_region(tc_late_count *c, int64_t now_ns)
{
    int64_t seen = atomic_load_explicit(&c->contended_ns, memory_order_relaxed);
    if (seen != 0 && now_ns - seen < TC_LATE_RECENT_NS) {
        atomic_store_explicit(&c->contended_ns, now_ns, memory_order_relaxed);
        return 1;
    }
    int64_t start = atomic_load_explicit(&c->window_ns, memory_order_relaxed);
    if (start == 0 || now_ns - start > TC_LATE_WINDOW_NS) {
        atomic_store_explicit(&c->window_ns, now_ns, memory_order_relaxed);
        atomic_store_explicit(&c->regions, 1, memory_order_relaxed);
        return TC_LATE_REGIONS <= 1;
    }
    if (atomic_fetch_add_explicit(&c->regions, 1, memory_order_relaxed) + 1 < TC_LATE_REGIONS)
        return 0;
    atomic_store_explicit(&c->regions, 0, memory_order_relaxed);
    atomic_store_explicit(&c->window_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&c->contended_ns, now_ns, memory_order_relaxed);
    return 1;
}

/* The largest team known to start: one that ran, or that
 * tc_threads_check started (a heuristic like the two above). */
static _Atomic int team_ok = 1;

static void note_team(int n)
{
    int cur = atomic_load_explicit(&team_ok, memory_order_relaxed);
    while (n > cur && !atomic_compare_exchange_weak(&team_ok, &cur, n))
        ;
}

#define CHUNK_TABLE 64
static struct {
    _Atomic uintptr_t fn;
    _Atomic int64_t chunk_ns;
} chunk_times[CHUNK_TABLE];

static unsigned chunk_slot(void (*fn)(void *, int64_t, int64_t, int))
{
    uintptr_t a = (uintptr_t)fn;
    return (unsigned)((a >> 4) ^ (a >> 12)) % CHUNK_TABLE;
}

static int64_t chunk_time(void (*fn)(void *, int64_t, int64_t, int))
{
    unsigned i = chunk_slot(fn);
    if (atomic_load_explicit(&chunk_times[i].fn, memory_order_relaxed) != (uintptr_t)fn)
        return 0;
    return atomic_load_explicit(&chunk_times[i].chunk_ns, memory_order_relaxed);
}

static void note_chunk_time(void (*fn)(void *, int64_t, int64_t, int), int64_t ns)
{
    unsigned i = chunk_slot(fn);
    atomic_store_explicit(&chunk_times[i].fn, (uintptr_t)fn, memory_order_relaxed);
    atomic_store_explicit(&chunk_times[i].chunk_ns, ns, memory_order_relaxed);
}

/* Depth of serially run chunks in this thread (OpenMP's own regions are
 * seen by omp_in_parallel). */
static _Thread_local int serial_depth;

int tc_in_parallel(void)
{
    return serial_depth > 0 || omp_in_parallel();
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This OS thread's own worker count (0: none), set by tc_set_local_threads
 * around the calls of one model (tinycnn/model.h), so that two models in
 * one process keep their own counts and the process's OpenMP setting
 * (omp_set_num_threads) is never touched. OpenMP's workers never read it:
 * inside a chunk everything runs serially anyway (tc_in_parallel). */
static _Thread_local int local_threads;

void tc_set_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int tc_get_threads(void)
{
    return local_threads > 0 ? local_threads : omp_get_max_threads();
}

int tc_set_local_threads(int n)
{
    int prev = local_threads;
    local_threads = n > 0 ? n : 0;
    return prev;
}

int tc_cpu_count(void)
{
    return omp_get_num_procs();
}

void tc_parallel_for(int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                     void *arg)
{
    if (n <= 0)
        return;
    int nt = tc_in_parallel() ? 1 : tc_get_threads();
    if (nt > n)
        nt = (int)n;
    if (nt <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    int64_t t0 = mono_ns();
    if (t0 < atomic_load_explicit(&serial_until_ns, memory_order_relaxed) &&
        chunk_time(fn) <= atomic_load_explicit(&late_wait_ns, memory_order_relaxed)) {
        serial_depth++;
        for (int t = 0; t < nt; t++) {
            int64_t begin = n * t / nt, end = n * (t + 1) / nt;
            if (begin < end)
                fn(arg, begin, end, t);
        }
        serial_depth--;
        note_chunk_time(fn, (mono_ns() - t0) / nt);
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
    note_team(nt);
    /* the fastest thread's time is about one chunk's work: nt of them is
     * what the calling thread alone would have taken */
    note_chunk_time(fn, first_end);
    int64_t wait = last_end - first_end;
    if (wait > CONTENDED_LATE_NS && last_end > (int64_t)nt * first_end) {
        int64_t typical = atomic_load_explicit(&late_wait_ns, memory_order_relaxed);
        atomic_store_explicit(&late_wait_ns, typical ? (typical + wait) / 2 : wait,
                              memory_order_relaxed);
        int64_t now = mono_ns();
        if (tc_late_region(&late_count, now))
            atomic_store_explicit(&serial_until_ns, now + CONTENDED_BACKOFF_NS,
                                  memory_order_relaxed);
    }
}

/* ---- can the workers start? --------------------------------------------- */

/* OMP_STACKSIZE as libgomp reads it ("512K", "8M", a bare number is K);
 * 0 when unset or unreadable: the default thread stack. */
static size_t omp_stack_size(void)
{
    const char *s = getenv("OMP_STACKSIZE");
    if (!s || !*s)
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    int unit = toupper((unsigned char)*end);
    size_t mul = unit == 'B' ? 1 : unit == 'M' ? 1 << 20 : unit == 'G' ? 1 << 30 : 1 << 10;
    return end == s ? 0 : (size_t)v * mul;
}

typedef struct probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go;
} probe;

/* Stays alive (its stack mapped) until all are started. */
static void *probe_wait(void *arg)
{
    probe *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->go)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int tc_threads_check(int n, tc_error *err)
{
    if (n <= atomic_load_explicit(&team_ok, memory_order_relaxed))
        return 0;
    enum { MAX_PROBE = 1024 };
    pthread_t t[MAX_PROBE];
    probe p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    size_t stack = omp_stack_size();
    if (stack)
        pthread_attr_setstacksize(&attr, stack);
    int started = 0, rc = 0;
    while (started < n - 1 && started < MAX_PROBE &&
           (rc = pthread_create(&t[started], &attr, probe_wait, &p)) == 0)
        started++;
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&p.mu);
    p.go = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (rc != 0)
        return tc_error_set(err, "cannot start %d worker threads: thread %d of %d failed to "
                                 "start: %s; use fewer threads or raise the memory limit "
                                 "(ulimit -v)%s%s", n, started + 1, n - 1, strerror(rc),
                            stack ? " or lower OMP_STACKSIZE=" : "",
                            stack ? getenv("OMP_STACKSIZE") : "");
    note_team(n);
    return 0;
}
