/* CIFAR-10's binary version: batches of 3073-byte records (a label byte,
 * then 1024 red, 1024 green, 1024 blue bytes of a 32x32 image, which is
 * already CHW) and the class names in batches.meta.txt. */
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

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10
#define CIFAR_SUBDIR "cifar-10-batches-bin" /* where the official archive unpacks */
#define META_MAX_BYTES (64 << 10)

static const char *const train_files[] = {"data_batch_1.bin", "data_batch_2.bin",
                                          "data_batch_3.bin", "data_batch_4.bin",
                                          "data_batch_5.bin"};
static const char *const test_files[] = {"test_batch.bin"};

/* The batch files of split; 0 files for an unknown split. */
static int split_files(const char *split, const char *const **files)
{
    if (split && strcmp(split, "train") == 0) {
        *files = train_files;
        return 5;
    }
    if (split && strcmp(split, "test") == 0) {
        *files = test_files;
        return 1;
    }
    return 0;
}

/* Anything of that name counts (a folder too), so that the loader can say
 * what is wrong with it rather than that nothing was found. */
static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int tc_cifar10_find(const char *dir, const char *split, char *folder, size_t cap)
{
    const char *const *files;
    if (split_files(split, &files) == 0) {
        snprintf(folder, cap, "%s", dir);
        return 1;
    }
    char path[4096];
    for (int sub = 0; sub < 2; sub++) {
        int n = sub ? snprintf(folder, cap, "%s/%s", dir, CIFAR_SUBDIR)
                    : snprintf(folder, cap, "%s", dir);
        int m = snprintf(path, sizeof path, "%s/%s", folder, files[0]);
        if (n > 0 && (size_t)n < cap && m > 0 && (size_t)m < sizeof path && exists(path))
            return 0;
    }
    snprintf(folder, cap, "%s/%s", dir, files[0]);
    return 1;
}

/* ---- class names ---------------------------------------------------------- */

/* Splits text into lines, trimmed of blanks; empty lines are skipped. */
static int parse_names(const char *path, char *text, size_t len, char **names, int *n,
                       tc_error *err)
{
    *n = 0;
    if (memchr(text, 0, len))
        return tc_error_set(err, "%s: holds a NUL byte; not a names file", path);
    text[len] = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
        while (*line == ' ' || *line == '\t' || *line == '\r')
            line++;
        while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        if (end > line) {
            if (*n == CIFAR_CLASSES)
                return tc_error_set(err, "%s: more than %d class names; CIFAR-10 has %d "
                                         "(is this CIFAR-100's?)",
                                    path, CIFAR_CLASSES, CIFAR_CLASSES);
            *end = 0;
            names[(*n)++] = line;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (*n != CIFAR_CLASSES)
        return tc_error_set(err, "%s: %d class names, CIFAR-10 has %d (one a line)", path, *n,
                            CIFAR_CLASSES);
    return 0;
}

static int read_names(const char *folder, tc_dataset *ds, tc_error *err)
{
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/batches.meta.txt", folder);
    FILE *f = tc_open_regular(path, "CIFAR-10 names", err);
    if (!f)
        return tc_error_prefix(err, "CIFAR-10 class names");
    char *text = malloc(META_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return tc_error_set(err, "%s: out of memory", path);
    }
    size_t len = fread(text, 1, META_MAX_BYTES, f);
    int big = len == META_MAX_BYTES && fgetc(f) != EOF, bad = ferror(f);
    fclose(f);
    char *names[CIFAR_CLASSES];
    int n, rc;
    if (bad)
        rc = tc_error_set(err, "%s: read error", path);
    else if (big)
        rc = tc_error_set(err, "%s: larger than %d KiB; not a names file", path,
                          META_MAX_BYTES >> 10);
    else if ((rc = parse_names(path, text, len, names, &n, err)) == 0)
        rc = tc_dataset_set_class_names(ds, (const char *const *)names, n, err);
    free(text);
    return rc;
}

/* ---- batches -------------------------------------------------------------- */

/* The record count of a batch file, from its size. */
static int batch_records(const char *path, int64_t *records, tc_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return tc_error_set(err, "%s: is a %s, not a CIFAR-10 batch file", path,
                            S_ISDIR(st.st_mode) ? "folder" : tc_file_type_name(st.st_mode));
    int64_t size = (int64_t)st.st_size;
    if (size == 0)
        return tc_error_set(err, "%s: empty file, not a CIFAR-10 batch", path);
    if (size % CIFAR_RECORD != 0)
        return tc_error_set(err, "%s: %" PRId64 " bytes is not a whole number of %d-byte "
                                 "records (1 label byte + 3x32x32 pixels)%s",
                            path, size, CIFAR_RECORD,
                            size % (CIFAR_RECORD + 1) == 0
                                ? "; CIFAR-100's 3074-byte records are not supported"
                                : "");
    *records = size / CIFAR_RECORD;
    return 0;
}

/* Reads `records` records of path into pixels and labels. */
static int read_batch(const char *path, int64_t records, uint8_t *pixels, uint8_t *labels,
                      tc_error *err)
{
    FILE *f = tc_open_regular(path, "CIFAR-10 batch", err);
    if (!f)
        return 1;
    enum { CHUNK = 256 };
    static const size_t chunk_bytes = (size_t)CHUNK * CIFAR_RECORD;
    uint8_t *buf = malloc(chunk_bytes);
    int rc = buf ? 0 : tc_error_set(err, "%s: out of memory", path);
    for (int64_t r = 0; !rc && r < records; r += CHUNK) {
        int64_t n = records - r < CHUNK ? records - r : CHUNK;
        if (fread(buf, CIFAR_RECORD, (size_t)n, f) != (size_t)n) {
            rc = tc_error_set(err, "%s: %s after %" PRId64 " records", path,
                              ferror(f) ? "read error" : "truncated while reading", r);
            break;
        }
        for (int64_t k = 0; k < n; k++) {
            const uint8_t *rec = buf + k * CIFAR_RECORD;
            if (rec[0] >= CIFAR_CLASSES) {
                rc = tc_error_set(err, "%s: record %" PRId64 " (byte %" PRId64 ") has label %d; "
                                       "CIFAR-10 labels are 0..9",
                                  path, r + k, (r + k) * CIFAR_RECORD, rec[0]);
                break;
            }
            labels[r + k] = rec[0];
            memcpy(pixels + (size_t)(r + k) * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
    }
    free(buf);
    fclose(f);
    return rc;
}

int tc_cifar10_load(const char *dir, const char *split, tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    const char *const *files;
    int nfiles = split_files(split, &files);
    if (nfiles == 0)
        return tc_error_set(err, "%s: unknown CIFAR-10 split '%s' (expected train or test)", dir,
                            split ? split : "(null)");
    char folder[4096], path[4096 + 32];
    if (tc_cifar10_find(dir, split, folder, sizeof folder))
        return tc_error_set(err, "%s: no CIFAR-10 %s batches: looked for %s/%s and %s/%s/%s", dir,
                            split, dir, files[0], dir, CIFAR_SUBDIR, files[0]);
    int64_t records[5], total = 0;
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/%s", folder, files[i]);
        if (batch_records(path, &records[i], err))
            return 1;
        total += records[i];
    }
    if (total > TC_IDX_MAX_BYTES / CIFAR_PIXELS)
        return tc_error_set(err, "%s: %" PRId64 " CIFAR-10 records are more than the %" PRId64
                                 " that can be held",
                            folder, total, TC_IDX_MAX_BYTES / CIFAR_PIXELS);
    tc_dataset ds = {.count = total, .channels = 3, .height = CIFAR_SIDE, .width = CIFAR_SIDE};
    if (read_names(folder, &ds, err))
        return 1;
    ds.pixels = malloc((size_t)total * CIFAR_PIXELS);
    ds.labels = malloc((size_t)total);
    if (!ds.pixels || !ds.labels) {
        tc_dataset_free(&ds);
        return tc_error_set(err, "%s: out of memory for %" PRId64 " images", folder, total);
    }
    for (int i = 0, at = 0; i < nfiles; at += (int)records[i], i++) {
        snprintf(path, sizeof path, "%s/%s", folder, files[i]);
        if (read_batch(path, records[i], ds.pixels + (size_t)at * CIFAR_PIXELS, ds.labels + at,
                       err)) {
            tc_dataset_free(&ds);
            return 1;
        }
    }
    *out = ds;
    return 0;
}
