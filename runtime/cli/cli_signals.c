/* The runner's signal handling (see cli_common.h). The library never
 * touches signal settings, so the runner owns them: SIGPIPE and SIGXFSZ are
 * ignored (a failed write is then an error with a message, like a full
 * disk), a fatal signal says which node was running before the process dies
 * of it, and during training an exit() called by a plugin, a second SIGINT
 * or SIGTERM and an optional step timeout (tinycnn/step_watch.h) end the
 * run with the node named.
 *
 * What the handlers read is in statics (a handler can reach nothing else)
 * and they only call async-signal-safe functions: write(2), raise, signal,
 * _exit, getpid, gettid, and the library's tinycnn/signal_text.h. */
#define _GNU_SOURCE /* on_exit */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli_common.h"

#define put tc_signal_text_add

/* ---- what the handlers know -------------------------------------------- */

static const tc_graph *_Atomic watched;       /* the training graph, or NULL */
static const char *_Atomic ckpt_path;         /* the checkpoint being written */
static const char *_Atomic ckpt_good;         /* the last good one, or NULL */
static volatile sig_atomic_t *_Atomic stop_flag;
static atomic_int stops;                      /* SIGINT/SIGTERM seen */
static atomic_int reporting;                  /* one report only */

static void put_checkpoint(tc_signal_text *m)
{
    const char *good = ckpt_good;
    put(m, good ? "the last checkpoint " : "no checkpoint was written");
    put(m, good);
    put(m, good ? " is intact" : NULL);
}

/* "tinycnn: " and the parts (NULL-terminated), then (unless `then` is NULL)
 * where g was, `then` (what happens now) and the checkpoint left; a line on
 * stderr. */
static void say(const char *const *parts, const tc_graph *g, const char *then)
{
    tc_signal_text m = {.len = 0};
    put(&m, "tinycnn: ");
    for (; *parts; parts++)
        put(&m, *parts);
    if (then) {
        tc_signal_text_running(&m, g);
        put(&m, then);
        put_checkpoint(&m);
    }
    put(&m, "\n");
    for (size_t o = 0; o < m.len;) {
        ssize_t w = write(STDERR_FILENO, m.text + o, m.len - o);
        if (w <= 0 && errno != EINTR)
            return;
        o += w > 0 ? (size_t)w : 0;
    }
}

/* say, for the first report of a run cut short only (0: another came first). */
static int say_cut_short(const char *const *parts, const tc_graph *g, const char *then)
{
    return atomic_exchange(&reporting, 1) == 0 ? (say(parts, g, then), 1) : 0;
}

/* ---- fatal signals ------------------------------------------------------ */

/* Runs with the default action already back (SA_RESETHAND) and the signal
 * not blocked (SA_NODEFER), so the raise at the end kills the process with
 * it: the shell sees 128+N, a core dump is still written where enabled. */
static void on_fatal(int sig)
{
    const tc_graph *g = watched;
    const char *what[] = {"fatal signal ", tc_signal_name(sig),
                          syscall(SYS_gettid) != getpid() ? " in a worker thread" : "",
                          g ? " " : "", NULL};
    say_cut_short(what, g, g ? "; the run did not finish; " : NULL);
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

/* fn handles sig, on the alternate stack */
static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK | flags;
    sigaction(sig, &sa, NULL);
}

void cli_signals_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    use_alt_stack(main_alt_stack, sizeof main_alt_stack);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        handle(fatal[i], on_fatal, SA_RESETHAND | SA_NODEFER);
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
    tc_signal_text n = {.len = 0};
    tc_signal_text_int(&n, status);
    const char *what[] = {"exit(", n.text, ") was called while training ", NULL};
    if (watched && say_cut_short(what, watched, "; the run did not finish; "))
        _exit(CLI_EXIT_RUNTIME);
}

static void on_stop(int sig)
{
    int saved = errno;
    volatile sig_atomic_t *flag = stop_flag;
    if (atomic_fetch_add(&stops, 1) == 0 && flag) {
        *flag = sig;
        const char *what[] = {tc_signal_name(sig), ": stopping at the end of the current batch, "
                              "then writing the checkpoint (send it again to stop at once)", NULL};
        say(what, NULL, NULL);
        errno = saved;
        return;
    }
    const char *what[] = {"second ", tc_signal_name(sig), ": stopping at once ", NULL};
    say_cut_short(what, watched, "; ");
    signal(sig, SIG_DFL);
    raise(sig);
}

static tc_step_watch *step_watch;
static double step_limit;

/* On the watch's thread: a pass has run for longer than the limit. */
static void on_stuck(void *user, int node, double seconds)
{
    (void)user, (void)node, (void)seconds;
    tc_signal_text limit = {.len = 0};
    tc_signal_text_seconds(&limit, step_limit);
    const char *what[] = {"step timeout: a pass has run for more than ", limit.text, " s ", NULL};
    if (say_cut_short(what, watched, "; ending the run; "))
        _exit(CLI_EXIT_RUNTIME);
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
    handle(SIGINT, on_stop, SA_NODEFER);
    handle(SIGTERM, on_stop, SA_NODEFER);
    step_limit = step_timeout;
    step_watch = step_timeout > 0 ? tc_step_watch_start(g, step_timeout, on_stuck, NULL, &err)
                                  : NULL;
}

void cli_watch_saved(void)
{
    ckpt_good = ckpt_path;
}

void cli_watch_end(void)
{
    tc_step_watch_stop(step_watch);
    step_watch = NULL;
    watched = NULL;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop_flag = NULL;
}
