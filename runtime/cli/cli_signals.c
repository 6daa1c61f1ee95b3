/* The runner's signal handling (see cli_common.h). The library never
 * touches signal settings, so the runner owns them: SIGPIPE and SIGXFSZ are
 * ignored (a failed write is then an error with a message, like a full
 * disk), a fatal signal says which node was running before the process dies
 * of it, and during training an exit() called by a plugin, a second SIGINT
 * or SIGTERM and an optional step timeout end the run with the node named.
 *
 * What the handlers read is in statics (a handler can reach nothing else)
 * and they only call async-signal-safe functions: write(2), raise, signal,
 * _exit, getpid, gettid, and the graph's lock-free accessors. */
#define _GNU_SOURCE /* on_exit */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"

/* ---- a message built without stdio or malloc ---------------------------- */

typedef struct msg {
    char b[1536];
    size_t n;
} msg;

static void put(msg *m, const char *s)
{
    for (; s && *s && m->n + 1 < sizeof m->b; s++)
        m->b[m->n++] = *s;
}

static void put_int(msg *m, long v)
{
    char d[24];
    int i = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do
        d[i++] = (char)('0' + u % 10);
    while ((u /= 10) && i < (int)sizeof d);
    if (v < 0)
        put(m, "-");
    while (i > 0 && m->n + 1 < sizeof m->b)
        m->b[m->n++] = d[--i];
}

/* Seconds with one decimal: "2", "0.5". */
static void put_seconds(msg *m, double s)
{
    long tenths = (long)(s * 10 + 0.5);
    put_int(m, tenths / 10);
    if (tenths % 10) {
        put(m, ".");
        put_int(m, tenths % 10);
    }
}

static void say(msg *m)
{
    put(m, "\n");
    for (size_t o = 0; o < m->n;) {
        ssize_t w = write(STDERR_FILENO, m->b + o, m->n - o);
        if (w <= 0 && errno != EINTR)
            return;
        o += w > 0 ? (size_t)w : 0;
    }
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
    }
}

/* ---- what the handlers know -------------------------------------------- */

static const tc_graph *_Atomic watched;       /* the training graph, or NULL */
static const char *_Atomic ckpt_path;         /* the checkpoint being written */
static const char *_Atomic ckpt_good;         /* the last good one, or NULL */
static volatile sig_atomic_t *_Atomic stop_flag;
static atomic_int stops;                      /* SIGINT/SIGTERM seen */
static atomic_int reporting;                  /* one report only */

/* "in node 'c1' (layer type Conv2d, plugin /x/conv2d.so), in its forward()", or
 * that no callback was running */
static void put_running(msg *m, const tc_graph *g)
{
    int phase;
    int k = g ? tc_graph_running_node(g, &phase, NULL) : -1;
    if (k < 0) {
        put(m, "while no layer callback was running (in tinycnn itself or a library it uses)");
        return;
    }
    static const char *const what[] = {"", "plan()", "forward()", "backward()"};
    const char *origin = tc_graph_node_origin(g, k);
    put(m, "in node '");
    put(m, tc_graph_node_name(g, k));
    put(m, "' (layer type ");
    put(m, tc_graph_node_type(g, k));
    put(m, ", plugin ");
    put(m, origin ? origin : "unknown");
    put(m, "), in its ");
    put(m, what[phase & 3]);
}

static void put_checkpoint(msg *m)
{
    const char *good = ckpt_good;
    if (good) {
        put(m, "the last checkpoint ");
        put(m, good);
        put(m, " is intact");
    } else {
        put(m, "no checkpoint was written");
    }
}

/* The end of a message about a run cut short: where it was, `then` (what
 * happens now), the checkpoint left; then the message goes out. */
static void say_cut_short(msg *m, const tc_graph *g, const char *then)
{
    put_running(m, g);
    put(m, then);
    put_checkpoint(m);
    say(m);
}

/* ---- fatal signals ------------------------------------------------------ */

/* Runs with the default action already back (SA_RESETHAND) and the signal
 * not blocked (SA_NODEFER), so the raise at the end kills the process with
 * it: the shell sees 128+N, a core dump is still written where enabled. */
static void on_fatal(int sig)
{
    const tc_graph *g = watched;
    if (atomic_exchange(&reporting, 1) == 0) {
        msg m = {.n = 0};
        put(&m, "tinycnn: fatal signal ");
        put(&m, signal_name(sig));
        if (syscall(SYS_gettid) != getpid())
            put(&m, " in a worker thread");
        if (g) {
            put(&m, " ");
            put_running(&m, g);
            put(&m, "; the run did not finish; ");
            put_checkpoint(&m);
        }
        say(&m);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The alternate stack of the main thread: a handler needs a stack when the
 * fault is a stack overflow. */
static char main_alt_stack[64 * 1024];

static void use_alt_stack(void *stack, size_t size)
{
    stack_t ss = {.ss_sp = stack, .ss_size = size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
}

void cli_signals_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    use_alt_stack(main_alt_stack, sizeof main_alt_stack);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
}

/* The worker threads' alternate stacks, one per worker, kept here (so still
 * reachable) for the life of the process, as the threads are; volatile, or
 * the compiler drops the stores to an array nothing reads. */
#define MAX_ALT_STACKS 1024
#define WORKER_ALT_STACK (64 * 1024)
static void *volatile worker_stacks[MAX_ALT_STACKS];
static atomic_int n_worker_stacks;

static void worker_alt_stack(void *arg, int64_t begin, int64_t end, int worker)
{
    (void)arg, (void)begin, (void)end, (void)worker;
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
        return; /* this thread has one (the main thread's, or set before) */
    int i = atomic_fetch_add(&n_worker_stacks, 1);
    void *stack = i < MAX_ALT_STACKS ? malloc(WORKER_ALT_STACK) : NULL;
    if (!stack)
        return;
    worker_stacks[i] = stack;
    use_alt_stack(stack, WORKER_ALT_STACK);
}

/* ---- during a run: exit(), SIGINT/SIGTERM, the step timeout ------------- */

/* A plugin (or a library it uses) that calls exit() mid-run would end the
 * process with its own status and the run silently cut short. */
static void on_exit_during_run(int status, void *arg)
{
    (void)arg;
    const tc_graph *g = watched;
    if (!g || atomic_exchange(&reporting, 1) != 0)
        return;
    msg m = {.n = 0};
    put(&m, "tinycnn: exit(");
    put_int(&m, status);
    put(&m, ") was called while training ");
    say_cut_short(&m, g, "; the run did not finish; ");
    _exit(CLI_EXIT_RUNTIME);
}

static void on_stop(int sig)
{
    int saved = errno;
    msg m = {.n = 0};
    volatile sig_atomic_t *flag = stop_flag;
    if (atomic_fetch_add(&stops, 1) == 0 && flag) {
        *flag = sig;
        put(&m, "tinycnn: ");
        put(&m, signal_name(sig));
        put(&m, ": stopping at the end of the current batch, then writing the checkpoint (send "
                "it again to stop at once)");
        say(&m);
        errno = saved;
        return;
    }
    if (atomic_exchange(&reporting, 1) == 0) {
        put(&m, "tinycnn: second ");
        put(&m, signal_name(sig));
        put(&m, ": stopping at once ");
        say_cut_short(&m, watched, "; ");
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void set_stop_handlers(void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK | SA_NODEFER;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double step_limit;
static pthread_t watchdog;
static int watchdog_running;
static atomic_int watchdog_quit;

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Ends the run when a forward or backward pass has been running (some
 * node's callback active, no new pass started) for longer than step_limit. */
static void *watch_steps(void *arg)
{
    (void)arg;
    double tick = step_limit / 20 < 0.05 ? step_limit / 20 : 0.05, still = 0;
    uint64_t last = 0;
    while (!atomic_load(&watchdog_quit)) {
        nap(tick);
        const tc_graph *g = watched;
        uint64_t passes;
        int k = g ? tc_graph_running_node(g, NULL, &passes) : -1;
        still = k >= 0 && passes == last ? still + tick : 0;
        last = passes;
        if (still <= step_limit || atomic_exchange(&reporting, 1) != 0)
            continue;
        msg m = {.n = 0};
        put(&m, "tinycnn: step timeout: a pass has run for more than ");
        put_seconds(&m, step_limit);
        put(&m, " s ");
        say_cut_short(&m, g, "; ending the run; ");
        _exit(CLI_EXIT_RUNTIME);
    }
    return NULL;
}

void cli_watch_run(const tc_graph *g, const char *out_path, const char *last_good,
                   volatile sig_atomic_t *stop, double step_timeout)
{
    static int exit_handler;
    if (!exit_handler)
        exit_handler = on_exit(on_exit_during_run, NULL) == 0;
    tc_error err = {{0}};
    if (tc_threads_check(tc_get_threads(), &err) == 0) /* else the run reports it */
        tc_parallel_for(tc_get_threads(), worker_alt_stack, NULL);
    ckpt_path = out_path;
    ckpt_good = last_good;
    stop_flag = stop;
    atomic_store(&stops, 0);
    watched = g;
    set_stop_handlers(on_stop);
    step_limit = step_timeout;
    atomic_store(&watchdog_quit, 0);
    watchdog_running = step_timeout > 0 && pthread_create(&watchdog, NULL, watch_steps, NULL) == 0;
}

void cli_watch_saved(void)
{
    ckpt_good = ckpt_path;
}

void cli_watch_end(void)
{
    if (watchdog_running) {
        atomic_store(&watchdog_quit, 1);
        pthread_join(watchdog, NULL);
        watchdog_running = 0;
    }
    watched = NULL;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop_flag = NULL;
}
