/* Running each check, and risky parts of checks, in a child process with a
 * time limit, and buffers fenced by inaccessible pages: what a layer does
 * wrong there (a write through a NULL gradient, a read past a smaller input,
 * a crash in a thread, exit(), an endless loop) kills the child, not the
 * suite, and becomes a failure that says what was being done. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

int cf_in_child_process;
static int child_fd = -1;

/* One record to the parent: a kind byte ('S' step, 'F' failure, 'P' a count
 * of passed sub-checks, 'W' warning, 'R' a result, 'X' exit() was called
 * with this status, 'E' the end of the child's function),
 * the text, a NUL. */
void cf_child_send(char kind, const char *text)
{
    size_t len = strlen(text);
    char *rec = malloc(len + 2);
    if (!rec || child_fd < 0) {
        free(rec);
        return;
    }
    rec[0] = kind;
    memcpy(rec + 1, text, len + 1);
    size_t done = 0;
    while (done < len + 2) {
        ssize_t w = write(child_fd, rec + done, len + 2 - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    free(rec);
}

void cf_child_step(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (cf_in_child_process)
        cf_child_send('S', buf);
}

/* What a child sent: its failures, passes and warnings, replayed here (and
 * passed on up when this process is itself a child), its last step and
 * whether it reached the end of its function. */
typedef struct child_report {
    const char *step;   /* points into the buffer read */
    const char *result; /* the same; what cf_child_result() sent last */
    const char *exited; /* the same; the status passed to exit(), if called */
    int finished;
} child_report;

static child_report replay(cf_subject *s, const char *buf, size_t len)
{
    child_report r = {NULL, NULL, NULL, 0};
    for (size_t i = 0; i < len;) {
        const char *rec = buf + i;
        size_t n = strlen(rec);
        if (rec[0] == 'F')
            cf_record(s, rec + 1);
        else if (rec[0] == 'P')
            cf_record_passes(s, atoi(rec + 1));
        else if (rec[0] == 'W')
            cf_keep_warning(rec + 1);
        else if (rec[0] == 'S')
            r.step = rec + 1;
        else if (rec[0] == 'R')
            r.result = rec + 1;
        else if (rec[0] == 'X')
            r.exited = rec + 1;
        else if (rec[0] == 'E')
            r.finished = 1;
        i += n + 1;
    }
    return r;
}

/* "SIGSEGV" for the signals a faulty plugin raises, else "". */
static const char *signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},
                 {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"},
                 {SIGTERM, "SIGTERM"}, {SIGALRM, "SIGALRM"}, {SIGTRAP, "SIGTRAP"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "";
}

/* Reads the child's records until it closes the pipe or `deadline` passes
 * (*late = 1). Owner of the result: the caller, free(). */
static char *read_until(int fd, double deadline, size_t *len, int *late)
{
    size_t cap = 4096;
    char *buf = malloc(cap);
    *len = 0;
    *late = 0;
    if (!buf)
        return NULL;
    for (;;) {
        double left = deadline - tc_monotonic_seconds();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0) {
            *late = 1;
            break;
        }
        int pr = poll(&p, 1, (int)(left * 1e3) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue; /* the deadline is tested above */
        if (*len + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + *len, cap - 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *len += (size_t)r;
    }
    buf[*len] = 0;
    return buf;
}

/* Waits for the child until `deadline`, then kills it; a check's own child
 * is killed with every process it started (they share its process group),
 * also when it ended on its own: the group is killed while the child is
 * still a zombie, so its id cannot belong to anything else yet. */
static int reap(pid_t pid, int group, double deadline, int *late)
{
    for (;;) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        int w = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if ((w == 0 && info.si_pid == pid) || (w < 0 && errno != EINTR))
            break;
        if (*late || tc_monotonic_seconds() > deadline) {
            *late = 1;
            break;
        }
        usleep(2000);
    }
    if (group || *late)
        kill(group ? -pid : pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* The one failure for a child that did not finish: hung, crashed, or left
 * early through exit(). 0 when it finished. */
static int judge(cf_subject *s, const char *check, child_report r, int st, int late,
                 int seconds)
{
    const char *what = r.step ? r.step : "the check";
    if (late) {
        cf_fail(s, check, "%s did not finish within %d s", what, seconds);
    } else if (r.exited && !r.finished) {
        cf_fail(s, check, "%s called exit(%s): the process ended before the check finished",
                what, r.exited);
    } else if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        cf_fail(s, check, "%s crashed (signal %d %s: %s)", what, sig, signal_name(sig),
                strsignal(sig));
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        cf_fail(s, check, "%s: the child process exited with status %d", what,
                WEXITSTATUS(st));
    } else if (!r.finished) {
        cf_fail(s, check, "%s: the process ended before the check finished", what);
    } else {
        return 0;
    }
    return 1;
}

/* Runs first when code in a child calls exit(): says so, with the status,
 * and ends the child at once, before the suite's own exit handlers (the
 * temporary folder's removal) and a sanitizer's leak check at exit. */
static void child_exit(int status, void *arg)
{
    char buf[16];
    (void)arg;
    snprintf(buf, sizeof buf, "%d", status);
    cf_child_send('X', buf);
    _exit(status);
}

/* fn(s, arg) in a child given `seconds`. A check's own child (this process
 * not a child yet) leads a new process group, so that a timeout kills what
 * it started too. */
static int run_in_child(cf_subject *s, const char *check, cf_child_fn fn, void *arg,
                        int seconds, char *result, size_t cap)
{
    int fd[2], group = !cf_in_child_process;
    if (pipe(fd) != 0) {
        cf_fail(s, check, "pipe: %s", strerror(errno));
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cf_fail(s, check, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return 1;
    }
    if (pid == 0) {
        close(fd[0]);
        if (group)
            setpgid(0, 0);
        child_fd = fd[1];
        cf_in_child_process = 1;
        on_exit(child_exit, NULL);
        fn(s, arg);
        cf_child_send('E', "");
        _exit(0);
    }
    if (group)
        setpgid(pid, pid); /* also here: the child may not have run yet */
    close(fd[1]);
    double deadline = tc_monotonic_seconds() + seconds;
    size_t len = 0;
    int late = 0;
    char *buf = read_until(fd[0], deadline, &len, &late);
    close(fd[0]);
    int st = reap(pid, group, deadline, &late);
    child_report r = buf ? replay(s, buf, len) : (child_report){NULL, NULL, NULL, 0};
    int rc = judge(s, check, r, st, late, seconds);
    if (cap)
        snprintf(result, cap, "%s", r.result && !rc ? r.result : "");
    free(buf);
    return rc;
}

int cf_in_child_result(cf_subject *s, const char *check, cf_child_fn fn, void *arg,
                       char *result, size_t cap)
{
    int seconds = CF_CHILD_SECONDS < cf_check_seconds ? CF_CHILD_SECONDS : cf_check_seconds;
    return run_in_child(s, check, fn, arg, seconds, result, cap);
}

int cf_in_child(cf_subject *s, const char *check, cf_child_fn fn, void *arg)
{
    return cf_in_child_result(s, check, fn, arg, NULL, 0);
}

void cf_child_result(const char *text)
{
    cf_child_send('R', text);
}

int cf_check_seconds = CF_CHECK_SECONDS;

typedef struct whole_check {
    void (*check)(cf_subject *s);
} whole_check;

static void run_whole(cf_subject *s, void *arg)
{
    ((const whole_check *)arg)->check(s);
}

int cf_run_check(cf_subject *s, const char *name, void (*check)(cf_subject *s))
{
    whole_check w = {check};
    return run_in_child(s, name, run_whole, &w, cf_check_seconds, NULL, 0);
}

/* ---- fenced buffers ------------------------------------------------------- */

#define FENCE_BITS 0x7fb6b6b6u /* a NaN no arithmetic produces */

int cf_fence(tc_tensor *t, cf_fenced *f)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = sizeof(float) * (size_t)cf_count(t);
    size_t rounded = (bytes + 63) & ~(size_t)63; /* keeps the start 64-byte aligned */
    size_t body = (rounded + page - 1) / page * page;
    memset(f, 0, sizeof *f);
    f->map_bytes = body + 2 * page;
    f->map = mmap(NULL, f->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                  0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return 1;
    }
    char *base = f->map;
    if (mprotect(base, page, PROT_NONE) || mprotect(base + page + body, page, PROT_NONE)) {
        munmap(f->map, f->map_bytes);
        f->map = NULL;
        return 1;
    }
    /* NaN in every accessible byte that is not the tensor */
    uint32_t u = FENCE_BITS;
    for (size_t off = 0; off + sizeof u <= body; off += sizeof u)
        memcpy(base + page + off, &u, sizeof u);
    f->data = (float *)(base + page + body - rounded);
    f->slack = (rounded - bytes) / sizeof(float);
    f->orig = t->data;
    if (t->data)
        memcpy(f->data, t->data, bytes);
    t->data = f->data;
    return 0;
}

int cf_unfence(tc_tensor *t, cf_fenced *f)
{
    if (!f->map)
        return 0;
    int64_t n = cf_count(t);
    int written = 0;
    for (size_t i = 0; i < f->slack; i++) {
        uint32_t u;
        memcpy(&u, &f->data[n + (int64_t)i], sizeof u);
        written |= u != FENCE_BITS;
    }
    if (f->orig)
        memcpy(f->orig, f->data, sizeof(float) * (size_t)n);
    t->data = f->orig;
    munmap(f->map, f->map_bytes);
    memset(f, 0, sizeof *f);
    return written;
}
