/* Running part of a check in a child process, and buffers fenced by
 * inaccessible pages: what a layer does wrong there (a write through a NULL
 * gradient, a read past a smaller input) kills the child, not the suite,
 * and becomes a failure that says what was being done. */
#define _DEFAULT_SOURCE
#include <errno.h>
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

/* One record to the parent: a kind byte ('S' step, 'F' failure), the text,
 * a NUL. */
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

/* Everything the child wrote, NUL-terminated. Owner: the caller, free(). */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 4096;
    char *buf = malloc(cap);
    *len = 0;
    if (!buf)
        return NULL;
    for (;;) {
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

/* Records the child's failures; returns its last step (points into buf). */
static const char *replay(cf_subject *s, const char *buf, size_t len)
{
    const char *step = NULL;
    for (size_t i = 0; i < len;) {
        const char *rec = buf + i;
        size_t n = strlen(rec);
        if (rec[0] == 'F')
            cf_record(s, rec + 1);
        else if (rec[0] == 'S')
            step = rec + 1;
        i += n + 1;
    }
    return step;
}

int cf_in_child(cf_subject *s, const char *check, cf_child_fn fn, void *arg)
{
    int fd[2];
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
        child_fd = fd[1];
        cf_in_child_process = 1;
        alarm(CF_CHILD_SECONDS);
        fn(s, arg);
        _exit(0);
    }
    close(fd[1]);
    size_t len = 0;
    char *buf = read_all(fd[0], &len);
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    const char *step = buf ? replay(s, buf, len) : NULL;
    int rc = 0;
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        if (sig == SIGALRM)
            cf_fail(s, check, "%s did not finish within %d s", step ? step : "the check",
                    CF_CHILD_SECONDS);
        else
            cf_fail(s, check, "%s crashed (signal %d, %s)", step ? step : "the check", sig,
                    strsignal(sig));
        rc = 1;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        cf_fail(s, check, "%s: the child process exited with status %d",
                step ? step : "the check", WIFEXITED(st) ? WEXITSTATUS(st) : st);
        rc = 1;
    }
    free(buf);
    return rc;
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
