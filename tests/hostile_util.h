/* Helpers shared by test_hostile.c and test_faults.c: running the tinycnn
 * runner with stdout and stderr captured apart (so "one message" can be
 * checked on stderr), optionally under a file-size limit or in another
 * folder, and writing small synthetic data sets and models at test time. */
#ifndef TC_HOSTILE_UTIL_H
#define TC_HOSTILE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define HU_BIN TC_TEST_BINARY_DIR "/bin/tinycnn"

/* What one run of the runner did. status: the exit status, or -1 when a
 * signal killed it (sig says which). out, err: what it printed (malloc'd). */
typedef struct hu_run {
    int status;
    int sig;
    char *out;
    char *err;
} hu_run;

/* How to start it: all fields optional (zero: as usual). */
typedef struct hu_opts {
    const char *cwd;         /* run in this folder */
    long fsize_limit;        /* RLIMIT_FSIZE in bytes: a full disk */
    const char *plugin_path; /* $TINYCNN_PLUGIN_PATH ("" unsets it) */
} hu_opts;

/* The whole file, NUL-terminated; *len (may be NULL) gets its size. Owner:
 * the caller (free). NULL if it cannot be read. */
static inline char *hu_slurp(const char *path, size_t *len)
{
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static inline void hu_run_free(hu_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Runs "tinycnn ARGS" (ARGS through sh, so quote paths with spaces; the
 * tests' paths have none). */
static inline hu_run hu_tinycnn_v(const hu_opts *o, const char *fmt, va_list ap)
{
    char args[8192], cmd[8400], outp[600], errp[600];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "exec '%s' %s", HU_BIN, args);
    snprintf(outp, sizeof outp, "%s/.run.out", tcu_tmpdir());
    snprintf(errp, sizeof errp, "%s/.run.err", tcu_tmpdir());
    hu_run r = {0};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (o && o->cwd && chdir(o->cwd) != 0)
            _exit(126);
        if (o && o->plugin_path) {
            if (o->plugin_path[0])
                setenv("TINYCNN_PLUGIN_PATH", o->plugin_path, 1);
            else
                unsetenv("TINYCNN_PLUGIN_PATH");
        }
        int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0)
            _exit(126);
        dup2(fo, 1);
        dup2(fe, 2);
        close(fo);
        close(fe);
        if (o && o->fsize_limit > 0) {
            /* Writes past the limit then fail with EFBIG, as on a full disk;
             * this works for root too (unlike a read-only folder). SIGXFSZ
             * keeps its default action, as a user's shell leaves it: the
             * runner itself must ignore it. */
            signal(SIGXFSZ, SIG_DFL);
            struct rlimit rl = {(rlim_t)o->fsize_limit, (rlim_t)o->fsize_limit};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(126);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) {
        r.status = -2;
    } else if (WIFEXITED(st)) {
        r.status = WEXITSTATUS(st);
    } else {
        r.status = -1;
        r.sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    }
    r.out = hu_slurp(outp, NULL);
    r.err = hu_slurp(errp, NULL);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    if (r.status == -1)
        fprintf(stderr, "\n  tinycnn %s: KILLED by signal %d\n%s\n", args, r.sig, r.err);
    return r;
}

static inline hu_run hu_tinycnn_opt(const hu_opts *o, const char *fmt, ...) TC_PRINTF(2, 3);
static inline hu_run hu_tinycnn_opt(const hu_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hu_run r = hu_tinycnn_v(o, fmt, ap);
    va_end(ap);
    return r;
}

static inline hu_run hu_tinycnn(const char *fmt, ...) TC_PRINTF(1, 2);
static inline hu_run hu_tinycnn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hu_run r = hu_tinycnn_v(NULL, fmt, ap);
    va_end(ap);
    return r;
}

static inline int hu_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The error contract: exit status `status`, and stderr is exactly one line
 * "tinycnn: ..." holding every needle (a NULL-terminated list). Returns 1
 * when it holds; otherwise prints what was seen and returns 0. */
static inline int hu_one_error_v(const hu_run *r, int status, va_list ap)
{
    int ok = r->status == status && hu_count_lines(r->err) == 1 &&
             strncmp(r->err, "tinycnn: ", 9) == 0;
    const char *missing = NULL;
    for (const char *n; (n = va_arg(ap, const char *)) != NULL;)
        if (!strstr(r->err, n)) {
            ok = 0;
            missing = missing ? missing : n;
        }
    if (ok && getenv("TC_TEST_SHOW_ERRORS")) /* to see (and document) every message */
        fprintf(stderr, "\n  [exit %d] %s", r->status, r->err);
    if (!ok)
        fprintf(stderr, "\n  expected exit %d and one line 'tinycnn: ...'%s%s%s; got exit %d "
                        "(signal %d)\n  stderr: %s\n  stdout: %s\n",
                status, missing ? " with '" : "", missing ? missing : "", missing ? "'" : "",
                r->status, r->sig, r->err, r->out);
    return ok;
}

static inline int hu_one_error(const hu_run *r, int status, ...)
{
    va_list ap;
    va_start(ap, status);
    int ok = hu_one_error_v(r, status, ap);
    va_end(ap);
    return ok;
}

/* Asserts exit status 1 and one error line with the needles. */
#define HU_EXPECT_ERROR(r, ...) CU_ASSERT(hu_one_error(&(r), 1, __VA_ARGS__, (const char *)NULL))

/* ---- files ---------------------------------------------------------------- */

/* dir/name (static buffer rotated among 16). */
static inline const char *hu_path(const char *dir, const char *name)
{
    static char bufs[16][768];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* A new folder under the test's temporary folder; returns its path (static
 * buffer rotated among 8). */
static inline const char *hu_mkdir(const char *name)
{
    static char bufs[8][600];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tcu_tmpdir(), name);
    if (mkdir(b, 0755) != 0 && errno != EEXIST)
        CU_FAIL_FATAL("mkdir failed");
    return b;
}

static inline void hu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    if (len)
        CU_ASSERT_FATAL(fwrite(data, 1, len, f) == len);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

static inline void hu_copy(const char *from, const char *to, mode_t mode)
{
    size_t n = 0;
    char *b = hu_slurp(from, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    hu_write(to, b, n);
    free(b);
    CU_ASSERT_FATAL(chmod(to, mode) == 0);
}

static inline void hu_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX image file: n images of h x w whose pixels depend on their label
 * (label i % 10), so a model can learn them. extra: bytes of garbage
 * appended; cut: bytes removed from the end. */
static inline void hu_write_idx_images(const char *path, uint32_t n, uint32_t h, uint32_t w,
                                       size_t extra, size_t cut)
{
    size_t len = 16 + (size_t)n * h * w + extra;
    uint8_t *b = calloc(len, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    hu_be32(b, 0x803);
    hu_be32(b + 4, n);
    hu_be32(b + 8, h);
    hu_be32(b + 12, w);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t p = 0; p < h * w; p++)
            b[16 + (size_t)i * h * w + p] =
                (uint8_t)((p % 10 == i % 10) ? 200 + (i * 7 + p) % 56 : (i * 13 + p * 3) % 40);
    hu_write(path, b, len - cut);
    free(b);
}

/* An IDX label file of n labels i % classes; label `bad_at` (if < n) is
 * set to bad_value instead. */
static inline void hu_write_idx_labels(const char *path, uint32_t n, int classes, uint32_t bad_at,
                                       uint8_t bad_value)
{
    uint8_t *b = calloc(8 + (size_t)n, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    hu_be32(b, 0x801);
    hu_be32(b + 4, n);
    for (uint32_t i = 0; i < n; i++)
        b[8 + i] = i == bad_at ? bad_value : (uint8_t)(i % (uint32_t)classes);
    hu_write(path, b, 8 + (size_t)n);
    free(b);
}

/* A synthetic "MNIST" folder (train and t10k files) of side x side images
 * in 10 classes under the test's temporary folder. Returns its path
 * (static per name). */
static inline const char *hu_synth_idx(const char *name, uint32_t n_train, uint32_t n_test,
                                       uint32_t side)
{
    const char *d = hu_mkdir(name);
    hu_write_idx_images(hu_path(d, "train-images-idx3-ubyte"), n_train, side, side, 0, 0);
    hu_write_idx_labels(hu_path(d, "train-labels-idx1-ubyte"), n_train, 10, UINT32_MAX, 0);
    hu_write_idx_images(hu_path(d, "t10k-images-idx3-ubyte"), n_test, side, side, 0, 0);
    hu_write_idx_labels(hu_path(d, "t10k-labels-idx1-ubyte"), n_test, 10, UINT32_MAX, 0);
    return d;
}

/* The same of 28x28 images. */
static inline const char *hu_synth_mnist(const char *name, uint32_t n_train, uint32_t n_test)
{
    return hu_synth_idx(name, n_train, n_test, 28);
}

/* The fault tests' data: a synthetic MNIST "syn" of 256 training and 64
 * test images (made on the first call). */
static inline const char *hu_syn_data(void)
{
    static const char *d;
    if (!d)
        d = hu_synth_mnist("syn", 256, 64);
    return d;
}

/* A plugin folder "plug" holding copies of the n named test plugins, made
 * on the first call (later calls return it as it is). */
static inline const char *hu_plugin_copies(const char *const *files, int n)
{
    static const char *d;
    if (!d) {
        d = hu_mkdir("plug");
        for (int i = 0; i < n; i++) {
            char from[600];
            snprintf(from, sizeof from, "%s/%s", TC_TEST_BAD_PLUGIN_DIR, files[i]);
            hu_copy(from, hu_path(d, files[i]), 0755);
        }
    }
    return d;
}

/* A small model on 1x28x28 images: Flatten, an optional extra node (JSON
 * text of one node object reading "flat", named "extra"), Linear to 10
 * classes, and a loss (default SoftmaxCrossEntropy). */
static inline char *hu_tiny_model(const char *extra_node, const char *loss_node)
{
    char *m = malloc(4096);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    snprintf(m, 4096,
             "{\"name\":\"tiny\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,28,28],"
             "\"mean\":0.1,\"std\":0.3},{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
             "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},%s%s"
             "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"%s\"],"
             "\"params\":{\"out_features\":10}},%s],"
             "\"output\":\"fc\",\"loss\":\"loss\","
             "\"training\":{\"optimizer\":\"sgd\",\"lr\":0.01,\"batch_size\":16}}",
             extra_node ? extra_node : "", extra_node ? "," : "", extra_node ? "extra" : "flat",
             loss_node ? loss_node
                       : "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\","
                         "\"inputs\":[\"fc\",\"label\"]}");
    return m;
}

/* 1 if the two files hold the same bytes. */
static inline int hu_same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = hu_slurp(a, &na), *y = hu_slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Files in dir whose name contains ".tmp." (left-over temporary files). */
static inline int hu_temp_files(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp\\.'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

#endif
