/* A plugin whose layer "FaultLayer" goes wrong the way real plugins do, at
 * forward call `at` (counted per instance): it passes its input through
 * until then, and then, by `mode`:
 *   1 writes to an unmapped address in the calling thread (SIGSEGV),
 *   2 does so in an OpenMP worker thread (a chunk of parallel_for that runs
 *     on another thread than the caller's; none such: the call passes),
 *   3 calls abort() (SIGABRT),
 *   4 recurses until the stack overflows (SIGSEGV on the guard page),
 *   5 calls exit(0), as if the plugin had finished the program,
 *   6 never returns (sleeps in a loop), a stuck layer.
 * The runner must name the node, the type and this file for each, keep the
 * last checkpoint, and end with the signal's status (1-4), 1 (5), or stop
 * on a second SIGINT or a step timeout (6). It has no weights, so a model
 * with it trains like the same model without it until it fails. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "test_plugin_util.h"

typedef struct fault_layer {
    long mode, at, calls;
} fault_layer;

static const tc_param_desc params[] = {
    {"mode", TC_VALUE_INT, 0, 1, 1, 6, "what goes wrong (see fault_layer.c)"},
    {"at", TC_VALUE_INT, 0, 1, 1, 1e9, "the forward call (1-based) where it goes wrong"},
};

TPU_CREATE(create, fault_layer, "FaultLayer", .mode = (long)v[0], .at = (long)v[1])

/* A plain invalid store, which the sanitizer builds must not catch first
 * (UBSan reports a NULL store and exits): what the runner sees is the
 * signal. */
__attribute__((no_sanitize_address, no_sanitize_undefined)) static void write_null(void)
{
    volatile int *volatile p = (volatile int *)(uintptr_t)16;
    *p = 1;
}

/* Not a tail call (the frame is used after it returns), so it cannot
 * become a loop; `limit` is never reached in practice. */
static long recurse(long depth, long limit)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    if (depth >= limit)
        return frame[0];
    return recurse(depth + 1, limit) + frame[0];
}

/* The calling thread's chunks take a while, so that the pool keeps the
 * region parallel even on a busy machine (short regions may run in the
 * calling thread alone, see runtime/src/threads.c). */
static void crash_off_main(void *arg, int64_t begin, int64_t end, int worker)
{
    (void)arg, (void)begin, (void)end, (void)worker;
    if (syscall(SYS_gettid) != getpid())
        write_null();
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
}

static void go_wrong(const tc_host *host, const fault_layer *l)
{
    switch (l->mode) {
    case 1:
        write_null();
        break;
    case 2:
        host->parallel_for(2, crash_off_main, NULL);
        break;
    case 3:
        abort();
    case 4:
        recurse(0, (long)1 << 40);
        break;
    case 5:
        exit(0);
    case 6:
        for (;;) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
}

static int forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    fault_layer *l = self;
    (void)err;
    if (++l->calls >= l->at)
        go_wrong(host, l);
    tpu_copy(x->output->data, x->inputs[0].data, &x->inputs[0].shape);
    return 0;
}

TPU_IDENTITY_PLUGIN(fault_layer, "FaultLayer",
                    "identity that crashes, aborts, exits or hangs at a chosen forward call "
                    "(tests)", params, create, forward)
