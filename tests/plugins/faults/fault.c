/*
 * fault.c - an identity layer whose forward dies the way a faulty plugin
 * does, for check-plugin's per-check child processes. Built once per
 * fault (tests/CMakeLists.txt) with FAULT set to one of:
 *   FAULT_SEGV    a write through NULL                  -> SIGSEGV
 *   FAULT_ABORT   abort()                               -> SIGABRT
 *   FAULT_STACK   unbounded recursion, a stack overflow -> SIGSEGV
 *   FAULT_THREAD  a write through NULL in a pthread     -> SIGSEGV
 *   FAULT_EXIT    exit(0) in the middle of a check
 *   FAULT_LOOP    an endless loop                       -> the time limit
 * plan() is correct, so the probe finds a configuration and every check
 * that runs forward meets the fault; the metadata check alone passes.
 */
#include <pthread.h>
#include <stdlib.h>

#include "tinycnn/plugin.h"
#include "../test_plugin_util.h"

#define FAULT_SEGV 1
#define FAULT_ABORT 2
#define FAULT_STACK 3
#define FAULT_THREAD 4
#define FAULT_EXIT 5
#define FAULT_LOOP 6

#ifndef FAULT
#error "build with -DFAULT=FAULT_SEGV (or another FAULT_* above)"
#endif

static void write_null(void)
{
    volatile int *volatile p = NULL;
    *p = 1;
}

/* Recursion the compiler cannot turn into a loop: each frame keeps a page
 * that the next one reads. `depth` is never reached. */
static int deep(volatile const char *prev, long depth)
{
    volatile char page[4096];
    page[0] = (char)(prev ? prev[0] + 1 : 0);
    page[sizeof page - 1] = page[0];
    if (depth <= 0)
        return page[0];
    return deep(page, depth - 1) + page[sizeof page - 1];
}

static void *thread_main(void *arg)
{
    (void)arg;
    write_null();
    return NULL;
}

static void fault(const tc_exec *x)
{
    switch (FAULT) {
    case FAULT_SEGV:
        write_null();
        break;
    case FAULT_ABORT:
        abort();
    case FAULT_STACK:
        x->output->data[0] += (float)deep(NULL, (long)1 << 40);
        break;
    case FAULT_THREAD: {
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, NULL) == 0)
            pthread_join(t, NULL);
        break;
    }
    case FAULT_EXIT:
        exit(0);
    case FAULT_LOOP:
        for (volatile int spin = 1; spin;)
            ;
        break;
    }
}

static int fault_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, self, err);
    tpu_copy(x->output->data, x->inputs[0].data, &x->inputs[0].shape);
    fault(x);
    return 0;
}

static const tc_layer_type fault_type = {
    TPU_TYPE_HEAD("Fault", "identity whose forward crashes, exits or hangs (test plugin)", 1, 1),
    TPU_TYPE_STATELESS(tpu_plan_same, fault_forward, tpu_identity_backward),
};

TPU_PLUGIN_ENTRY(fault, fault_type)
