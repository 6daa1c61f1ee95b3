/* The ONNX code's small helpers: an arena for the exporter's messages and
 * the file reading and atomic writing both directions need. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx_internal.h"

void *onnx_alloc(onnx_arena *a, size_t size)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        void **b = realloc(a->blocks, cap * sizeof *b);
        if (!b)
            return NULL;
        a->blocks = b;
        a->cap = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        a->blocks[a->n++] = p;
    return p;
}

char *onnx_strdup(onnx_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = onnx_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void onnx_arena_free(onnx_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int onnx_write_atomic(const char *path, const void *data, size_t len, tc_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return tc_error_set(err, "%s: exists and is not a regular file", path);
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return tc_error_set(err, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tc_error_set(err, "%s: cannot create a file in its folder: %s", path, strerror(errno));
        free(tmp);
        return 1;
    }
    int bad = write_all(fd, data, len) || fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (!bad) /* mkstemp makes 0600; a model file is as readable as a checkpoint */
        (void)chmod(tmp, 0644);
    if (bad || rename(tmp, path) != 0) {
        tc_error_set(err, "%s: cannot write: %s", path, strerror(bad ? e : errno));
        unlink(tmp);
        free(tmp);
        return 1;
    }
    free(tmp);
    return 0;
}

int onnx_read_file(const char *path, uint64_t max, uint8_t **data, size_t *len, tc_error *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tc_error_set(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return tc_error_set(err, "%s: %lld bytes, more than the %llu an ONNX file may have "
                                 "here", path, (long long)st.st_size, (unsigned long long)max);
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return tc_error_set(err, "%s: out of memory for %zu bytes", path, n);
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return tc_error_set(err, "%s: read %zu of %zu bytes", path, got, n);
    }
    *data = buf;
    *len = n;
    return 0;
}
