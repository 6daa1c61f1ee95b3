/* IDX (LeCun's MNIST format) readers, plain or gzipped, and the MNIST loader. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"
#include "dataset_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Trailing bytes after the payload are counted up to this many, so that an
 * "oversized" message can say how many without reading a huge file. */
#define TRAILING_COUNT_CAP ((int64_t)1 << 26)

typedef struct idx_file {
    const char *path;
    gzFile gz;
    int gzipped;
} idx_file;

static const char *idx_type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads up to len bytes; returns the count read, or -1 after setting err for
 * a read or gzip-data error. A gzip stream that simply ends early counts as a
 * short read so that the caller reports it as truncation. */
static int64_t idx_read(idx_file *f, void *buf, int64_t len, tc_error *err)
{
    int64_t got = 0;
    unsigned char *p = buf;
    while (got < len) {
        int64_t want = len - got;
        unsigned chunk = want > (1 << 30) ? 1u << 30 : (unsigned)want;
        int n = gzread(f->gz, p + got, chunk);
        if (n < 0) {
            int errnum = 0;
            const char *msg = gzerror(f->gz, &errnum);
            if (errnum == Z_BUF_ERROR) /* gzip stream cut short */
                return got;
            if (errnum == Z_ERRNO)
                tc_error_set(err, "%s: read error: %s", f->path, strerror(errno));
            else
                tc_error_set(err, "%s: corrupt gzip data: %s", f->path, msg);
            return -1;
        }
        if (n == 0) {
            int errnum = 0;
            const char *msg = gzerror(f->gz, &errnum);
            if (errnum != Z_OK && errnum != Z_BUF_ERROR) {
                tc_error_set(err, "%s: corrupt gzip data: %s", f->path, msg);
                return -1;
            }
            break;
        }
        got += n;
    }
    return got;
}

static int idx_open(idx_file *f, const char *path, tc_error *err)
{
    f->path = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return tc_error_set(err, "%s: is a folder, not an IDX file", path);
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return tc_error_set(err, "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "out of memory");
    gzbuffer(f->gz, 1 << 17); /* fewer syscalls on the 47 MB MNIST file */
    /* gzdirect() right after opening peeks at the gzip magic bytes 1f 8b. */
    f->gzipped = !gzdirect(f->gz);
    return 0;
}

/* The header's magic number: unsigned bytes, ndims dimensions. */
static int idx_check_magic(const char *path, const unsigned char *hdr, int ndims,
                           const char *kind, tc_error *err)
{
    uint32_t magic = be32(hdr);
    uint32_t want = 0x800u | (uint32_t)ndims;
    if (hdr[0] != 0 || hdr[1] != 0)
        return tc_error_set(err,
                            "%s: not an IDX file: magic 0x%08" PRIx32
                            ", expected 0x%08" PRIx32 " (unsigned byte %ss)",
                            path, magic, want, kind);
    if (hdr[2] != 0x08)
        return tc_error_set(err,
                            "%s: wrong IDX magic 0x%08" PRIx32 ": element type 0x%02x (%s); "
                            "only unsigned byte (0x08) is supported, expected 0x%08" PRIx32,
                            path, magic, hdr[2], idx_type_name(hdr[2]), want);
    if (hdr[3] != ndims) {
        const char *hint = "";
        if (ndims == 3 && hdr[3] == 1)
            hint = " (is this a label file?)";
        else if (ndims == 1 && hdr[3] == 3)
            hint = " (is this an image file?)";
        return tc_error_set(err,
                            "%s: wrong IDX magic 0x%08" PRIx32 ": %d dimensions, an IDX %s file "
                            "has %d (magic 0x%08" PRIx32 ")%s",
                            path, magic, hdr[3], kind, ndims, want, hint);
    }
    return 0;
}

/* Reads the header into dims and checks it. */
static int idx_read_header(idx_file *f, const char *path, int ndims, uint32_t *dims,
                           tc_error *err)
{
    const char *kind = ndims == 3 ? "image" : "label";
    const char *z = f->gzipped ? " (after gunzip)" : "";
    unsigned char hdr[4 + 4 * 3];
    int64_t hlen = 4 + 4 * (int64_t)ndims;
    int64_t got = idx_read(f, hdr, hlen, err);
    if (got < 0)
        return 1;
    if (got == 0)
        return tc_error_set(err, "%s: empty file, not an IDX %s file", path, kind);
    if (got >= 4 && idx_check_magic(path, hdr, ndims, kind, err))
        return 1;
    if (got < hlen)
        return tc_error_set(err, "%s: truncated: only %" PRId64 " bytes%s, an IDX %s header "
                                 "needs %" PRId64, path, got, z, kind, hlen);
    for (int i = 0; i < ndims; i++)
        dims[i] = be32(hdr + 4 + 4 * i);
    return 0;
}

/* The payload size the header claims, validated before anything is
 * allocated for it; what (cap bytes) describes it for later messages. */
static int idx_check_size(const char *path, int ndims, const uint32_t *dims, char *what,
                          size_t cap, int64_t *bytes, tc_error *err)
{
    const char *kind = ndims == 3 ? "image" : "label";
    uint64_t total = 1;
    for (int i = 0; i < ndims; i++)
        if (__builtin_mul_overflow(total, (uint64_t)dims[i], &total)) {
            if (ndims == 3)
                return tc_error_set(err,
                                    "%s: header dimensions %" PRIu32 " x %" PRIu32 " x %" PRIu32
                                    " overflow a 64-bit size",
                                    path, dims[0], dims[1], dims[2]);
            return tc_error_set(err, "%s: header dimension %" PRIu32 " overflows", path,
                                dims[0]);
        }
    if (ndims == 3)
        snprintf(what, cap, "%" PRIu32 " images of %" PRIu32 "x%" PRIu32, dims[0], dims[1],
                 dims[2]);
    else
        snprintf(what, cap, "%" PRIu32 " labels", dims[0]);
    if (dims[0] == 0)
        return tc_error_set(err, "%s: header says 0 %ss: the file holds no data", path, kind);
    if (ndims == 3 && (dims[1] == 0 || dims[2] == 0 || dims[1] > INT32_MAX || dims[2] > INT32_MAX))
        return tc_error_set(err, "%s: header says %s: invalid image size", path, what);
    if (total > (uint64_t)TC_IDX_MAX_BYTES)
        return tc_error_set(err,
                            "%s: header says %s (%" PRIu64 " bytes): refusing more than %" PRId64
                            " bytes",
                            path, what, total, (int64_t)TC_IDX_MAX_BYTES);
    *bytes = (int64_t)total;
    return 0;
}

/* Reads the want bytes of payload into *out (malloc'd), then makes sure
 * nothing follows them. The buffer grows as data arrives, so a lying
 * header on a short file costs no more memory than the file really holds. */
static int idx_read_payload(idx_file *f, const char *path, const char *what, int64_t want,
                            uint8_t **out, tc_error *err)
{
    const char *z = f->gzipped ? " (after gunzip)" : "";
    int64_t cap = want < (1 << 20) ? want : (1 << 20), have = 0;
    uint8_t *buf = malloc((size_t)cap);
    if (!buf)
        return tc_error_set(err, "%s: out of memory for %" PRId64 " bytes", path, cap);
    for (;;) {
        int64_t n = idx_read(f, buf + have, cap - have, err);
        if (n < 0)
            goto fail;
        have += n;
        if (have < cap || cap == want)
            break;
        int64_t ncap = cap * 4 < want ? cap * 4 : want;
        uint8_t *nb = realloc(buf, (size_t)ncap);
        if (!nb) {
            tc_error_set(err, "%s: out of memory for %" PRId64 " bytes", path, ncap);
            goto fail;
        }
        buf = nb;
        cap = ncap;
    }
    if (have < want) {
        tc_error_set(err,
                     "%s: truncated: header says %s (%" PRId64 " bytes) but only %" PRId64
                     " bytes follow%s",
                     path, what, want, have, z);
        goto fail;
    }
    int64_t extra = 0;
    unsigned char tail[1 << 14];
    while (extra < TRAILING_COUNT_CAP) {
        int64_t n = idx_read(f, tail, (int64_t)sizeof tail, err);
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        extra += n;
    }
    if (extra > 0) {
        tc_error_set(err,
                     "%s: oversized: header says %s (%" PRId64 " bytes) but %s%" PRId64
                     " bytes follow%s",
                     path, what, want, extra >= TRAILING_COUNT_CAP ? "more than " : "",
                     want + extra, z);
        goto fail;
    }
    *out = buf;
    return 0;
fail:
    free(buf);
    return 1;
}

/* Reads and checks an IDX ubyte file of ndims (1 or 3) dimensions into dims;
 * *data receives the payload (malloc'd, owned by the caller). */
static int idx_load(const char *path, int ndims, uint32_t *dims, uint8_t **data,
                    int64_t *bytes_out, tc_error *err)
{
    *data = NULL;
    idx_file f = {0};
    if (idx_open(&f, path, err))
        return 1;
    char what[128];
    int64_t want = 0;
    int rc = idx_read_header(&f, path, ndims, dims, err) ||
             idx_check_size(path, ndims, dims, what, sizeof what, &want, err) ||
             idx_read_payload(&f, path, what, want, data, err);
    if (rc == 0)
        *bytes_out = want;
    gzclose(f.gz);
    return rc;
}

int tc_idx_load_images(const char *path, tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    uint32_t dims[3];
    uint8_t *data;
    int64_t bytes;
    if (idx_load(path, 3, dims, &data, &bytes, err))
        return 1;
    out->count = dims[0];
    out->channels = 1;
    out->height = (int32_t)dims[1];
    out->width = (int32_t)dims[2];
    out->pixels = data;
    out->labels = NULL;
    return 0;
}

int tc_idx_load_labels(const char *path, uint8_t **labels, int64_t *count, tc_error *err)
{
    *labels = NULL;
    *count = 0;
    uint32_t dims[1];
    int64_t bytes;
    if (idx_load(path, 1, dims, labels, &bytes, err))
        return 1;
    *count = dims[0];
    return 0;
}

/* ---- MNIST ---------------------------------------------------------------- */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

int tc_mnist_split_prefix(const char *split, const char **prefix)
{
    if (split && strcmp(split, "train") == 0)
        *prefix = "train";
    else if (split && strcmp(split, "test") == 0)
        *prefix = "t10k";
    else
        return 1;
    return 0;
}

int tc_mnist_find(const char *dir, const char *prefix, const char *kind, char *path,
                  size_t cap)
{
    /* kind is "images-idx3" or "labels-idx1". The plain file wins over .gz
     * so that a user's own decompressed copy is what gets read. */
    static const char *const ext[] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(path, cap, "%s/%s-%s-ubyte%s", dir, prefix, kind, ext[i]);
        if (n > 0 && (size_t)n < cap && file_exists(path))
            return 0;
    }
    snprintf(path, cap, "%s/%s-%s-ubyte", dir, prefix, kind);
    return 1;
}

int tc_mnist_load(const char *dir, const char *split, tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    const char *prefix;
    if (tc_mnist_split_prefix(split, &prefix))
        return tc_error_set(err, "%s: unknown MNIST split '%s' (expected train or test)", dir,
                            split ? split : "(null)");
    char ipath[4096], lpath[4096];
    if (tc_mnist_find(dir, prefix, "images-idx3", ipath, sizeof ipath))
        return tc_error_set(err, "%s: no MNIST %s images: looked for %s and %s.gz", dir, split,
                            ipath, ipath);
    if (tc_mnist_find(dir, prefix, "labels-idx1", lpath, sizeof lpath))
        return tc_error_set(err, "%s: no MNIST %s labels: looked for %s and %s.gz", dir, split,
                            lpath, lpath);
    tc_dataset ds;
    if (tc_idx_load_images(ipath, &ds, err))
        return 1;
    int64_t nlabels;
    if (tc_idx_load_labels(lpath, &ds.labels, &nlabels, err)) {
        tc_dataset_free(&ds);
        return 1;
    }
    if (nlabels != ds.count) {
        tc_error_set(err, "count mismatch: %s holds %" PRId64 " images but %s holds %" PRId64
                          " labels",
                     ipath, ds.count, lpath, nlabels);
        tc_dataset_free(&ds);
        return 1;
    }
    *out = ds;
    return 0;
}
