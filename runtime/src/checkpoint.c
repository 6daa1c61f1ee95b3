/* The versioned binary checkpoint: encoding, atomic writing, and a reader
 * that trusts nothing in the file (every length is checked against the bytes
 * that remain before it is used, all size arithmetic is overflow-checked). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "path.h"
#include "tinycnn/status.h"

static const uint8_t magic[8] = {'T', 'C', 'N', 'N', 'C', 'K', 'P', 'T'};

enum {
    HEADER_BYTES = 16,        /* magic, version, section count */
    SECTION_HEADER_BYTES = 12, /* u32 kind, u64 length */
    CRC_BYTES = 4
};

/* Thread-safe strerror (the library may run inside OpenMP workers). */
static const char *errstr(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
    return buf;
}

/* ---- little-endian helpers ------------------------------------------- */

/* The low `bytes` bytes of v, least significant first. */
static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* zlib's crc32 takes a uInt length, so feed it in bounded pieces. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    uLong c = crc;
    while (n > 0) {
        uInt piece = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, piece);
        p += piece;
        n -= piece;
    }
    return (uint32_t)c;
}

/* ---- the in-memory struct -------------------------------------------- */

void tc_checkpoint_free(tc_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n_tensors; i++) {
        free(ck->tensors[i].name);
        free(ck->tensors[i].data);
    }
    free(ck->tensors);
    free(ck->model_json);
    free(ck->meta_json);
    memset(ck, 0, sizeof *ck);
}

const tc_named_tensor *tc_checkpoint_find(const tc_checkpoint *ck, const char *name)
{
    if (!ck || !name)
        return NULL;
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (strcmp(ck->tensors[i].name, name) == 0)
            return &ck->tensors[i];
    return NULL;
}

/* Element count of a shape as stored (no batch dimension), refusing what the
 * format cannot hold. Returns 0 on success. */
static int shape_elements(const tc_shape *s, const char *name, uint64_t *count, tc_error *err)
{
    if (s->ndim < 0 || s->ndim > TC_MAX_DIMS)
        return tc_error_set(err, "tensor '%s': ndim %d is outside [0, %d]", name,
                            (int)s->ndim, TC_MAX_DIMS);
    uint64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] < 0)
            return tc_error_set(err, "tensor '%s': dimension %d is negative (%" PRId64 ")",
                                name, i, s->dims[i]);
        uint64_t d = (uint64_t)s->dims[i];
        /* Keep the byte count (n * 4) representable in int64 and size_t. */
        if (d != 0 && n > ((uint64_t)INT64_MAX / 4) / d)
            return tc_error_set(err, "tensor '%s': the element count overflows", name);
        n *= d;
    }
    if (n * 4 > (uint64_t)SIZE_MAX)
        return tc_error_set(err, "tensor '%s': too large for this machine", name);
    *count = n;
    return 0;
}

/* Zero-element tensors still get a buffer so callers never see NULL data. */
static float *alloc_floats(uint64_t count)
{
    return malloc((size_t)(count ? count : 1) * sizeof(float));
}

int tc_checkpoint_add(tc_checkpoint *ck, const char *name, const tc_shape *shape,
                      const float *data, tc_error *err)
{
    if (!ck || !shape)
        return tc_error_set(err, "tc_checkpoint_add: NULL checkpoint or shape");
    if (!name || !name[0])
        return tc_error_set(err, "tc_checkpoint_add: a tensor name must not be empty");
    if (strlen(name) > UINT32_MAX)
        return tc_error_set(err, "tc_checkpoint_add: tensor name too long");
    uint64_t count = 0;
    if (shape_elements(shape, name, &count, err))
        return 1;
    if (count > 0 && !data)
        return tc_error_set(err, "tensor '%s': data is NULL", name);
    if (tc_checkpoint_find(ck, name))
        return tc_error_set(err, "tensor '%s' is already in the checkpoint", name);

    tc_named_tensor t = {0};
    t.name = malloc(strlen(name) + 1);
    t.data = alloc_floats(count);
    tc_named_tensor *grown = realloc(ck->tensors, (ck->n_tensors + 1) * sizeof *grown);
    if (!t.name || !t.data || !grown) {
        free(t.name);
        free(t.data);
        if (grown)
            ck->tensors = grown;
        return tc_error_set(err, "tensor '%s': out of memory", name);
    }
    ck->tensors = grown;
    strcpy(t.name, name);
    t.shape = *shape;
    t.shape.reserved = 0;
    for (int i = shape->ndim; i < TC_MAX_DIMS; i++)
        t.shape.dims[i] = 0;
    if (count)
        memcpy(t.data, data, (size_t)count * sizeof(float));
    ck->tensors[ck->n_tensors++] = t;
    return 0;
}

static int cmp_name_ptr(const void *a, const void *b)
{
    const tc_named_tensor *x = *(const tc_named_tensor *const *)a;
    const tc_named_tensor *y = *(const tc_named_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Refuses two tensors of one name: sort pointers by name and compare
 * neighbours (n log n, so a hostile file with millions of tiny tensors
 * cannot stall the reader). */
static int check_duplicates(const tc_named_tensor *t, size_t n, tc_error *err)
{
    if (n < 2)
        return 0;
    const tc_named_tensor **idx = malloc(n * sizeof *idx);
    if (!idx)
        return tc_error_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        idx[i] = &t[i];
    qsort(idx, n, sizeof *idx, cmp_name_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(idx[i - 1]->name, idx[i]->name) == 0) {
            tc_error_set(err, "duplicate tensor name '%s'", idx[i]->name);
            free(idx);
            return 1;
        }
    free(idx);
    return 0;
}

/* ---- encoding -------------------------------------------------------- */

/* A byte sink: either one exactly-sized memory buffer, or a descriptor fed
 * through a staging buffer. The CRC covers every byte put. */
typedef struct sink {
    int fd;          /* -1: memory */
    uint8_t *buf;
    size_t len, cap;
    uint32_t crc;
    int failed;      /* errno of the first write failure */
} sink;

static int sink_flush(sink *s)
{
    if (s->fd < 0 || s->failed)
        return s->failed;
    size_t off = 0;
    while (off < s->len) {
        ssize_t w = write(s->fd, s->buf + off, s->len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            s->failed = errno;
            return s->failed;
        }
        if (w == 0) { /* should not happen for regular files; avoid spinning */
            s->failed = EIO;
            return s->failed;
        }
        off += (size_t)w;
    }
    s->len = 0;
    return 0;
}

static void sink_put(sink *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    s->crc = crc_update(s->crc, b, n);
    while (n > 0 && !s->failed) {
        if (s->len == s->cap) {
            if (s->fd < 0) { /* memory buffers are sized exactly; never grow */
                s->failed = ENOBUFS;
                return;
            }
            if (sink_flush(s))
                return;
        }
        size_t take = s->cap - s->len < n ? s->cap - s->len : n;
        memcpy(s->buf + s->len, b, take);
        s->len += take;
        b += take;
        n -= take;
    }
}

/* v as `bytes` little-endian bytes (4 or 8). */
static void sink_le(sink *s, uint64_t v, int bytes)
{
    uint8_t b[8];
    put_le(b, v, bytes);
    sink_put(s, b, (size_t)bytes);
}

/* Checks ck and computes the byte sizes of the tensor section and the file. */
static int plan_sizes(const tc_checkpoint *ck, uint64_t *tensor_bytes, uint64_t *file_bytes,
                      tc_error *err)
{
    uint64_t tb = 4;
    if (ck->n_tensors > UINT32_MAX)
        return tc_error_set(err, "too many tensors (%zu)", ck->n_tensors);
    if (ck->n_tensors && !ck->tensors)
        return tc_error_set(err, "n_tensors is %zu but tensors is NULL", ck->n_tensors);
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const tc_named_tensor *t = &ck->tensors[i];
        if (!t->name || !t->name[0])
            return tc_error_set(err, "tensor %zu has no name", i);
        size_t nl = strlen(t->name);
        if (nl > UINT32_MAX)
            return tc_error_set(err, "tensor %zu: name too long", i);
        uint64_t count = 0;
        if (shape_elements(&t->shape, t->name, &count, err))
            return 1;
        if (count && !t->data)
            return tc_error_set(err, "tensor '%s': data is NULL", t->name);
        uint64_t one = 4 + (uint64_t)nl + 4 + 8 * (uint64_t)t->shape.ndim;
        /* count * 4 <= INT64_MAX by shape_elements; keep the sum bounded too. */
        if (count * 4 > UINT64_MAX / 2 - one || tb > UINT64_MAX / 2 - one - count * 4)
            return tc_error_set(err, "the tensors are too large to store");
        tb += one + count * 4;
    }
    /* The reader refuses duplicates, so never write a file it cannot read. */
    if (check_duplicates(ck->tensors, ck->n_tensors, err))
        return 1;
    size_t ml = ck->model_json ? strlen(ck->model_json) : 0;
    size_t xl = ck->meta_json ? strlen(ck->meta_json) : 0;
    uint64_t fb = HEADER_BYTES + 3 * SECTION_HEADER_BYTES + CRC_BYTES;
    if (tb > UINT64_MAX / 4 - fb || (uint64_t)ml > UINT64_MAX / 4 || (uint64_t)xl > UINT64_MAX / 4)
        return tc_error_set(err, "the checkpoint is too large to store");
    fb += tb + ml + xl;
    *tensor_bytes = tb;
    *file_bytes = fb;
    return 0;
}

/* Emits the whole file into s. Sizes were checked by plan_sizes. */
static void encode(sink *s, const tc_checkpoint *ck, uint64_t tensor_bytes)
{
    const char *model = ck->model_json ? ck->model_json : "";
    const char *meta = ck->meta_json ? ck->meta_json : "";
    size_t ml = strlen(model), xl = strlen(meta);

    sink_put(s, magic, sizeof magic);
    sink_le(s, TC_CHECKPOINT_VERSION, 4);
    sink_le(s, 3, 4);

    sink_le(s, TC_CKPT_SECTION_MODEL, 4);
    sink_le(s, ml, 8);
    sink_put(s, model, ml);

    sink_le(s, TC_CKPT_SECTION_META, 4);
    sink_le(s, xl, 8);
    sink_put(s, meta, xl);

    sink_le(s, TC_CKPT_SECTION_TENSORS, 4);
    sink_le(s, tensor_bytes, 8);
    sink_le(s, (uint32_t)ck->n_tensors, 4);
    for (size_t i = 0; i < ck->n_tensors && !s->failed; i++) {
        const tc_named_tensor *t = &ck->tensors[i];
        size_t nl = strlen(t->name);
        sink_le(s, (uint32_t)nl, 4);
        sink_put(s, t->name, nl);
        sink_le(s, (uint32_t)t->shape.ndim, 4);
        for (int d = 0; d < t->shape.ndim; d++)
            sink_le(s, (uint64_t)t->shape.dims[d], 8);
        /* Floats go out in explicit little-endian order, a chunk at a time. */
        uint64_t count = (uint64_t)tc_shape_count(&t->shape);
        uint8_t chunk[4096];
        uint64_t done = 0;
        while (done < count && !s->failed) {
            size_t k = count - done < sizeof chunk / 4 ? (size_t)(count - done) : sizeof chunk / 4;
            for (size_t j = 0; j < k; j++) {
                uint32_t bits;
                memcpy(&bits, &t->data[done + j], 4);
                put_le(chunk + 4 * j, bits, 4);
            }
            sink_put(s, chunk, 4 * k);
            done += k;
        }
    }
    uint8_t crc[4];
    put_le(crc, s->crc, 4);
    sink_put(s, crc, 4);
}

int tc_checkpoint_encode(const tc_checkpoint *ck, uint8_t **bytes, size_t *len, tc_error *err)
{
    if (!bytes || !len)
        return tc_error_set(err, "tc_checkpoint_encode: NULL output");
    *bytes = NULL;
    *len = 0;
    if (!ck)
        return tc_error_set(err, "tc_checkpoint_encode: NULL checkpoint");
    uint64_t tb, fb;
    if (plan_sizes(ck, &tb, &fb, err))
        return 1;
    if (fb > SIZE_MAX)
        return tc_error_set(err, "the checkpoint (%" PRIu64 " bytes) does not fit in memory", fb);
    sink s = {.fd = -1, .cap = (size_t)fb};
    s.buf = malloc(s.cap);
    if (!s.buf)
        return tc_error_set(err, "out of memory encoding a %" PRIu64 "-byte checkpoint", fb);
    encode(&s, ck, tb);
    if (s.failed || s.len != s.cap) { /* plan_sizes and encode disagree: a bug */
        free(s.buf);
        return tc_error_set(err, "internal error: the checkpoint size was mispredicted");
    }
    *bytes = s.buf;
    *len = s.len;
    return 0;
}

int tc_checkpoint_write_fd(int fd, const char *origin, const tc_checkpoint *ck, tc_error *err)
{
    if (!origin)
        origin = "checkpoint";
    if (!ck)
        return tc_error_set(err, "%s: NULL checkpoint", origin);
    uint64_t tb, fb;
    if (plan_sizes(ck, &tb, &fb, err))
        return tc_error_prefix(err, "%s", origin);
    sink s = {.fd = fd, .cap = 1 << 16};
    s.buf = malloc(s.cap);
    if (!s.buf)
        return tc_error_set(err, "%s: out of memory", origin);
    encode(&s, ck, tb);
    sink_flush(&s);
    free(s.buf);
    if (s.failed) {
        char eb[128];
        return tc_error_set(err, "%s: write failed: %s", origin, errstr(s.failed, eb, sizeof eb));
    }
    return 0;
}

/* Creates tmp ("....XXXXXX", the X replaced) exclusively. Replacing a
 * file, the new one takes its mode (a 0600 checkpoint stays private);
 * a new file gets 0666 less the umask, which open() applies itself (the
 * umask cannot be read without changing it, which is not thread-safe).
 * Returns the descriptor, or -1 with errno set. */
static int create_temp(char *tmp, const struct stat *old)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char *x = tmp + strlen(tmp) - 6;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
                 (uint64_t)(uintptr_t)tmp;
    for (int tries = 0; tries < 1000; tries++) {
        v = v * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = v >> 16;
        for (int i = 0; i < 6; i++, r /= 62)
            x[i] = digits[r % 62];
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, old ? 0600 : 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd >= 0 && old && fchmod(fd, old->st_mode & 07777) != 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        return fd;
    }
    errno = EEXIST;
    return -1;
}

int tc_checkpoint_write(const char *path, const tc_checkpoint *ck, tc_error *err)
{
    char eb[128];
    if (!path || !path[0])
        return tc_error_set(err, "tc_checkpoint_write: empty path");
    if (!ck)
        return tc_error_set(err, "%s: NULL checkpoint", path);
    /* Check the contents before touching the file system. */
    uint64_t tb, fb;
    if (plan_sizes(ck, &tb, &fb, err))
        return tc_error_prefix(err, "%s", path);
    /* Never write what the reader refuses: that would trade a good
     * checkpoint for an unreadable one. */
    if (fb > TC_CHECKPOINT_MAX_BYTES)
        return tc_error_set(err, "%s: the checkpoint would be %" PRIu64 " bytes; a checkpoint "
                            "holds at most %" PRIu64 " bytes", path, fb, TC_CHECKPOINT_MAX_BYTES);
    /* rename() would replace a device, a folder entry or a FIFO as readily
     * as a file (think -o /dev/null as root): only regular files are
     * replaced. A symbolic link to a regular file is replaced by the file. */
    struct stat pst;
    int pst_ok = stat(path, &pst) == 0;
    if (pst_ok && !S_ISREG(pst.st_mode))
        return tc_error_set(err, "%s: exists and is not a regular file (%s); refusing to replace "
                            "it", path, S_ISDIR(pst.st_mode) ? "a folder" : "a device, FIFO or "
                            "socket");

    char *dir = tc_path_folder(path);
    char *tmp = malloc(strlen(path) + sizeof ".tmp.XXXXXX");
    if (!dir || !tmp) {
        free(dir);
        free(tmp);
        return tc_error_set(err, "%s: out of memory", path);
    }
    strcpy(tmp, path);
    strcat(tmp, ".tmp.XXXXXX");

    int fd = create_temp(tmp, pst_ok ? &pst : NULL);
    if (fd < 0) {
        int e = errno;
        tc_error_set(err, "%s: cannot create a temporary file in '%s': %s", path, dir,
                     errstr(e, eb, sizeof eb));
        free(dir);
        free(tmp);
        return 1;
    }
    if (tc_checkpoint_write_fd(fd, path, ck, err))
        goto fail;
    if (fsync(fd) != 0) {
        int e = errno;
        tc_error_set(err, "%s: fsync failed: %s", path, errstr(e, eb, sizeof eb));
        goto fail;
    }
    /* close() can report a deferred write error (e.g. on NFS). */
    int c = close(fd);
    fd = -1;
    if (c != 0) {
        int e = errno;
        tc_error_set(err, "%s: closing the temporary file failed: %s", path,
                     errstr(e, eb, sizeof eb));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        tc_error_set(err, "%s: cannot rename the temporary file over it: %s", path,
                     errstr(e, eb, sizeof eb));
        goto fail;
    }
    /* Make the rename itself durable. Some file systems cannot fsync a
     * folder (EINVAL); the file's data is already safe there. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) {
            int e = errno;
            close(dfd);
            tc_error_set(err, "%s: written, but syncing the folder '%s' failed: %s", path, dir,
                         errstr(e, eb, sizeof eb));
            free(dir);
            free(tmp);
            return 1;
        }
        close(dfd);
    }
    free(dir);
    free(tmp);
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(dir);
    free(tmp);
    return 1;
}

/* ---- reading --------------------------------------------------------- */

static const char *section_name(uint32_t kind)
{
    switch (kind) {
    case TC_CKPT_SECTION_MODEL: return "model JSON";
    case TC_CKPT_SECTION_META: return "metadata JSON";
    case TC_CKPT_SECTION_TENSORS: return "tensors";
    default: return "unknown";
    }
}

/* A bounded read cursor. `truncated` says the bytes end early because the
 * file does (so running out is reported as truncation, not corruption). */
typedef struct cursor {
    const uint8_t *p;
    size_t left;
    int truncated;
    const char *origin;
    tc_error *err;
} cursor;

/* Fails unless n bytes remain; `what` describes what needs them. */
static int need(cursor *c, uint64_t n, const char *what_fmt, const char *what_arg)
{
    if (n <= c->left)
        return 0;
    char what[TC_ERROR_CAP];
    snprintf(what, sizeof what, what_fmt, what_arg);
    if (c->truncated)
        return tc_error_set(c->err, "%s: truncated: %s needs %" PRIu64 " bytes, %zu remain",
                            c->origin, what, n, c->left);
    return tc_error_set(c->err, "%s: corrupt tensors section: %s needs %" PRIu64
                        " bytes, %zu remain in the section", c->origin, what, n, c->left);
}

static const uint8_t *take(cursor *c, size_t n)
{
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

/* Parses a tensors section of `len` bytes into ck->tensors. */
static int parse_tensors(const uint8_t *p, size_t len, int truncated, const char *origin,
                         tc_checkpoint *ck, tc_error *err)
{
    cursor c = {p, len, truncated, origin, err};
    if (need(&c, 4, "the tensor count%s", ""))
        return 1;
    uint32_t count = get_le32(take(&c, 4));
    size_t cap = 0;
    for (uint32_t i = 0; i < count; i++) {
        char label[32];
        snprintf(label, sizeof label, "tensor %" PRIu32, i);
        if (need(&c, 4, "the name length of %s", label))
            return 1;
        uint32_t nl = get_le32(take(&c, 4));
        if (nl == 0)
            return tc_error_set(err, "%s: %s has an empty name", origin, label);
        if (need(&c, nl, "the name of %s", label))
            return 1;
        const uint8_t *nb = take(&c, nl);
        if (memchr(nb, 0, nl))
            return tc_error_set(err, "%s: the name of %s contains a NUL byte", origin, label);
        /* Grow geometrically; growth is bounded by the bytes actually parsed. */
        if (ck->n_tensors == cap) {
            size_t nc = cap ? 2 * cap : 8;
            tc_named_tensor *g = realloc(ck->tensors, nc * sizeof *g);
            if (!g)
                return tc_error_set(err, "%s: out of memory", origin);
            ck->tensors = g;
            cap = nc;
        }
        tc_named_tensor *t = &ck->tensors[ck->n_tensors];
        memset(t, 0, sizeof *t);
        t->name = malloc((size_t)nl + 1);
        if (!t->name)
            return tc_error_set(err, "%s: out of memory", origin);
        memcpy(t->name, nb, nl);
        t->name[nl] = 0;
        ck->n_tensors++; /* from here on t is freed with ck */

        if (need(&c, 4, "the ndim of tensor '%s'", t->name))
            return 1;
        uint32_t ndim = get_le32(take(&c, 4));
        if (ndim > TC_MAX_DIMS)
            return tc_error_set(err, "%s: tensor '%s' has %" PRIu32 " dimensions (at most %d)",
                                origin, t->name, ndim, TC_MAX_DIMS);
        if (need(&c, 8 * (uint64_t)ndim, "the dimensions of tensor '%s'", t->name))
            return 1;
        t->shape.ndim = (int32_t)ndim;
        for (uint32_t d = 0; d < ndim; d++) {
            uint64_t v = get_le64(take(&c, 8));
            if (v > (uint64_t)INT64_MAX)
                return tc_error_set(err, "%s: tensor '%s': dimension %" PRIu32
                                    " is negative (%" PRId64 ")", origin, t->name, d,
                                    (int64_t)(v - (uint64_t)INT64_MAX - 1) + INT64_MIN);
            t->shape.dims[d] = (int64_t)v;
        }
        uint64_t n = 0;
        if (shape_elements(&t->shape, t->name, &n, err))
            return tc_error_prefix(err, "%s", origin);
        if (need(&c, 4 * n, "tensor '%s'", t->name))
            return 1;
        const uint8_t *db = take(&c, (size_t)(4 * n));
        t->data = alloc_floats(n);
        if (!t->data)
            return tc_error_set(err, "%s: out of memory for tensor '%s'", origin, t->name);
        for (uint64_t j = 0; j < n; j++) {
            uint32_t bits = get_le32(db + 4 * j);
            memcpy(&t->data[j], &bits, 4);
        }
    }
    if (c.left != 0)
        return tc_error_set(err, "%s: corrupt tensors section: %zu bytes left after %" PRIu32
                            " tensors", origin, c.left, count);
    if (check_duplicates(ck->tensors, ck->n_tensors, err))
        return tc_error_prefix(err, "%s", origin);
    return 0;
}

static int parse_text(const uint8_t *p, uint64_t len, const char *origin, uint32_t kind,
                      char **out, tc_error *err)
{
    if (memchr(p, 0, (size_t)len))
        return tc_error_set(err, "%s: the %s section contains a NUL byte", origin,
                            section_name(kind));
    *out = malloc((size_t)len + 1);
    if (!*out)
        return tc_error_set(err, "%s: out of memory", origin);
    memcpy(*out, p, (size_t)len);
    (*out)[len] = 0;
    return 0;
}

/* Walks the section headers to check that they tile the file exactly, so a
 * short file is reported as truncated (naming what was cut) before the CRC
 * is even looked at. */
static int check_layout(const uint8_t *b, size_t len, const char *origin, tc_error *err)
{
    uint32_t count = get_le32(b + 12);
    size_t off = HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        size_t left = len - off;
        if (left < SECTION_HEADER_BYTES)
            return tc_error_set(err, "%s: truncated: the header of section %" PRIu32 " of %" PRIu32
                                " needs %d bytes, %zu remain", origin, i + 1, count,
                                SECTION_HEADER_BYTES, left);
        uint32_t kind = get_le32(b + off);
        uint64_t slen = get_le64(b + off + 4);
        off += SECTION_HEADER_BYTES;
        left -= SECTION_HEADER_BYTES;
        if (slen > left) {
            /* Name the tensor that was cut if the bytes we have allow it. */
            if (kind == TC_CKPT_SECTION_TENSORS) {
                tc_checkpoint tmp = {0};
                int bad = parse_tensors(b + off, left, 1, origin, &tmp, err);
                tc_checkpoint_free(&tmp);
                if (bad)
                    return 1;
            }
            return tc_error_set(err, "%s: truncated: the %s section (kind %" PRIu32
                                ") needs %" PRIu64 " bytes, %zu remain", origin,
                                section_name(kind), kind, slen, left);
        }
        off += (size_t)slen;
    }
    size_t left = len - off;
    if (left < CRC_BYTES)
        return tc_error_set(err, "%s: truncated: the checksum needs %d bytes, %zu remain", origin,
                            CRC_BYTES, left);
    if (left > CRC_BYTES)
        return tc_error_set(err, "%s: corrupt: %zu unexpected bytes after section %" PRIu32
                            " (a damaged section length or count?)", origin, left - CRC_BYTES,
                            count);
    return 0;
}

static int parse(const uint8_t *b, size_t len, const char *origin, tc_checkpoint *ck,
                 tc_error *err)
{
    size_t m = len < sizeof magic ? len : sizeof magic;
    if (memcmp(b, magic, m) != 0)
        return tc_error_set(err, "%s: not a tiny-cnn checkpoint (the file does not start "
                            "with \"TCNNCKPT\")", origin);
    if (len < HEADER_BYTES)
        return tc_error_set(err, "%s: truncated: the header needs %d bytes, %zu remain", origin,
                            HEADER_BYTES, len);
    uint32_t version = get_le32(b + 8);
    if (version > TC_CHECKPOINT_VERSION)
        return tc_error_set(err, "%s: the file has checkpoint format version %" PRIu32
                            ", but this build reads only version %u and older; use a newer "
                            "tiny-cnn", origin, version, TC_CHECKPOINT_VERSION);
    if (version == 0)
        return tc_error_set(err, "%s: invalid checkpoint format version 0", origin);
    if (check_layout(b, len, origin, err))
        return 1;
    uint32_t stored = get_le32(b + len - CRC_BYTES);
    uint32_t computed = crc_update((uint32_t)crc32(0L, Z_NULL, 0), b, len - CRC_BYTES);
    if (stored != computed)
        return tc_error_set(err, "%s: checksum mismatch: the file is corrupt (stored %08" PRIx32
                            ", computed %08" PRIx32 ")", origin, stored, computed);

    /* The layout is known to be consistent; parse contents, still bounded. */
    uint32_t count = get_le32(b + 12);
    size_t off = HEADER_BYTES;
    int seen[4] = {0};
    for (uint32_t i = 0; i < count; i++) {
        uint32_t kind = get_le32(b + off);
        uint64_t slen = get_le64(b + off + 4);
        off += SECTION_HEADER_BYTES;
        const uint8_t *p = b + off;
        off += (size_t)slen;
        if (kind < 1 || kind > 3)
            continue; /* a later version's section: skip it */
        if (seen[kind]++)
            return tc_error_set(err, "%s: the %s section appears twice", origin,
                                section_name(kind));
        int bad = 0;
        if (kind == TC_CKPT_SECTION_MODEL)
            bad = parse_text(p, slen, origin, kind, &ck->model_json, err);
        else if (kind == TC_CKPT_SECTION_META)
            bad = parse_text(p, slen, origin, kind, &ck->meta_json, err);
        else
            bad = parse_tensors(p, (size_t)slen, 0, origin, ck, err);
        if (bad)
            return 1;
    }
    for (uint32_t k = 1; k <= 3; k++)
        if (!seen[k])
            return tc_error_set(err, "%s: the %s section is missing", origin, section_name(k));
    return 0;
}

int tc_checkpoint_parse(const uint8_t *bytes, size_t len, const char *origin,
                        tc_checkpoint *out, tc_error *err)
{
    if (!origin)
        origin = "checkpoint";
    if (!out)
        return tc_error_set(err, "%s: NULL output", origin);
    memset(out, 0, sizeof *out);
    if (!bytes && len)
        return tc_error_set(err, "%s: NULL bytes", origin);
    if (len == 0)
        return tc_error_set(err, "%s: truncated: the file is empty", origin);
    tc_checkpoint ck = {0};
    if (parse(bytes, len, origin, &ck, err)) {
        tc_checkpoint_free(&ck);
        return 1;
    }
    *out = ck;
    return 0;
}

int tc_checkpoint_read(const char *path, tc_checkpoint *out, tc_error *err)
{
    char eb[128];
    if (!out)
        return tc_error_set(err, "%s: NULL output", path ? path : "(null)");
    memset(out, 0, sizeof *out);
    if (!path)
        return tc_error_set(err, "tc_checkpoint_read: NULL path");
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        return tc_error_set(err, "%s: cannot open: %s", path, errstr(e, eb, sizeof eb));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tc_error_set(err, "%s: cannot stat: %s", path, errstr(e, eb, sizeof eb));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tc_error_set(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > TC_CHECKPOINT_MAX_BYTES || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return tc_error_set(err, "%s: the file is too large (%" PRIu64 " bytes; the limit is %"
                            PRIu64 ")", path, (uint64_t)st.st_size, TC_CHECKPOINT_MAX_BYTES);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return tc_error_set(err, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            free(buf);
            return tc_error_set(err, "%s: read failed: %s", path, errstr(e, eb, sizeof eb));
        }
        if (r == 0)
            break; /* the file shrank meanwhile: parse what is there */
        got += (size_t)r;
    }
    close(fd);
    int rc = tc_checkpoint_parse(buf, got, path, out, err);
    free(buf);
    return rc;
}
