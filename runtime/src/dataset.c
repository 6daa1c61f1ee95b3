/* Data sets once loaded: options, class names, freeing, subsets, batch
 * filling and the validation split, and the small file helpers the loaders
 * share. Choosing and calling a loader is dataset_load.c's: the loaders
 * call into this file, never the other way. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"
#include "dataset_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small shared helpers ------------------------------------------------- */

const char *tc_file_type_name(unsigned mode)
{
    if (S_ISFIFO(mode))
        return "FIFO";
    if (S_ISSOCK(mode))
        return "socket";
    if (S_ISCHR(mode))
        return "character device";
    if (S_ISBLK(mode))
        return "block device";
    if (S_ISLNK(mode))
        return "symbolic link";
    return "special file";
}

static int refuse_special(const char *path, const char *kind, unsigned mode, tc_error *err)
{
    if (S_ISDIR(mode))
        return tc_error_set(err, "%s: is a folder, not a %s file", path, kind);
    return tc_error_set(err, "%s: is a %s, not a regular file; refusing to read it as a %s file",
                        path, tc_file_type_name(mode), kind);
}

FILE *tc_open_regular(const char *path, const char *kind, tc_error *err)
{
    /* stat first for the clearer message (a socket cannot even be opened);
     * the fstat after a non-blocking open closes the race with a file
     * swapped in between. */
    struct stat st;
    if (stat(path, &st) != 0) {
        tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse_special(path, kind, st.st_mode, err);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        refuse_special(path, kind, st.st_mode, err);
        close(fd);
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags != -1)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

void tc_names_free(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

char **tc_names_copy(const char *const *names, int n)
{
    if (n <= 0)
        return NULL;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!(v[i] = strdup(names[i]))) {
            tc_names_free(v, n);
            return NULL;
        }
    return v;
}

char **tc_names_or_numbers(const char *const *names, int n_names, int n)
{
    char **v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (!v)
        return NULL;
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        if (!(v[i] = strdup(names && i < n_names ? names[i] : num))) {
            tc_names_free(v, n);
            return NULL;
        }
    }
    return v;
}

int tc_dataset_set_class_names(tc_dataset *ds, const char *const *names, int n, tc_error *err)
{
    char **copy = NULL;
    if (n > 0 && !(copy = tc_names_copy(names, n)))
        return tc_error_set(err, "out of memory for %d class names", n);
    tc_names_free(ds->class_names, ds->n_classes);
    ds->class_names = copy;
    ds->n_classes = n > 0 ? n : 0;
    return 0;
}

/* ---- options -------------------------------------------------------------- */

int tc_data_options_check(const tc_data_options *opt, tc_error *err)
{
    if (opt->channels != 1 && opt->channels != 3)
        return tc_error_set(err, "cannot convert images to %d channels (1: gray, 3: RGB)",
                            opt->channels);
    if (opt->height < 1 || opt->width < 1 || opt->height > TC_PNG_MAX_DIM ||
        opt->width > TC_PNG_MAX_DIM)
        return tc_error_set(err, "invalid image size %dx%d (height x width; 1 to %d)",
                            opt->height, opt->width, TC_PNG_MAX_DIM);
    if (opt->resize != TC_RESIZE_NONE && opt->resize != TC_RESIZE_STRETCH &&
        opt->resize != TC_RESIZE_CROP)
        return tc_error_set(err, "unknown resize mode %d", (int)opt->resize);
    int longer = opt->height > opt->width ? opt->height : opt->width;
    if (opt->resize == TC_RESIZE_CROP && opt->resize_size != 0 &&
        (opt->resize_size < longer || opt->resize_size > TC_PNG_MAX_DIM))
        return tc_error_set(err,
                            "resize size %d: the shorter side scaled to it must hold the %dx%d "
                            "crop, so it must lie in [%d, %d]",
                            opt->resize_size, opt->height, opt->width, longer, TC_PNG_MAX_DIM);
    if (opt->n_class_names < 0 || opt->n_class_names > TC_MAX_CLASSES)
        return tc_error_set(err, "class list of %d names: at most %d are possible",
                            opt->n_class_names, TC_MAX_CLASSES);
    if (opt->n_class_names > 0 && !opt->class_names)
        return tc_error_set(err, "class list of %d names given without the names",
                            opt->n_class_names);
    for (int i = 0; i < opt->n_class_names; i++) {
        const char *a = opt->class_names[i];
        if (!a || !*a || strchr(a, '/'))
            return tc_error_set(err, "class %d of the class list: '%s' is no folder name", i,
                                a ? a : "(null)");
        for (int k = 0; k < i; k++)
            if (strcmp(a, opt->class_names[k]) == 0)
                return tc_error_set(err, "class list: '%s' appears twice (classes %d and %d)", a,
                                    k, i);
    }
    return 0;
}

void tc_dataset_free(tc_dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->labels);
    tc_names_free(ds->class_names, ds->n_classes);
    if (ds->paths)
        for (int64_t i = 0; i < ds->count; i++)
            free(ds->paths[i]);
    free(ds->paths);
    memset(ds, 0, sizeof *ds);
}

/* s's paths: those of ds's images indices[0 .. s->count). */
static int copy_paths(const tc_dataset *ds, const int64_t *indices, tc_dataset *s)
{
    s->paths = calloc((size_t)s->count + 1, sizeof *s->paths);
    if (!s->paths)
        return 1;
    for (int64_t i = 0; i < s->count; i++)
        if (!(s->paths[i] = strdup(ds->paths[indices[i]])))
            return 1;
    return 0;
}

int tc_dataset_subset(const tc_dataset *ds, const int64_t *indices, int64_t n,
                      tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < 0)
        return tc_error_set(err, "subset of %" PRId64 " images", n);
    for (int64_t i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= ds->count)
            return tc_error_set(err, "subset: index %" PRId64 " (entry %" PRId64 ") is outside "
                                     "the %" PRId64 " images",
                                indices[i], i, ds->count);
    size_t per = (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    tc_dataset s = {.count = n, .channels = ds->channels, .height = ds->height,
                    .width = ds->width};
    s.pixels = malloc(per * (size_t)n + 1);
    s.labels = ds->labels ? malloc((size_t)n + 1) : NULL;
    if (!s.pixels || (ds->labels && !s.labels) ||
        tc_dataset_set_class_names(&s, (const char *const *)ds->class_names, ds->n_classes,
                                   err)) {
        tc_dataset_free(&s);
        return tc_error_set(err, "out of memory for a subset of %" PRId64 " images", n);
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(s.pixels + (size_t)i * per, ds->pixels + (size_t)indices[i] * per, per);
        if (s.labels)
            s.labels[i] = ds->labels[indices[i]];
    }
    if (ds->paths && copy_paths(ds, indices, &s) != 0) {
        tc_dataset_free(&s);
        return tc_error_set(err, "out of memory for a subset of %" PRId64 " images", n);
    }
    *out = s;
    return 0;
}

/* ---- batches -------------------------------------------------------------- */

void tc_dataset_fill_batch(const tc_dataset *ds, const int64_t *indices, int n, float mean,
                           float std, float *images, float *labels)
{
    /* 256 possible inputs: one table turns the per-pixel divide into a load. */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)(((double)v / 255.0 - (double)mean) / (double)std);
    const size_t per = (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    for (int i = 0; i < n; i++) {
        const uint8_t *restrict src = ds->pixels + (size_t)indices[i] * per;
        float *restrict dst = images + (size_t)i * per;
        for (size_t k = 0; k < per; k++)
            dst[k] = lut[src[k]];
    }
    if (labels && ds->labels)
        for (int i = 0; i < n; i++)
            labels[i] = (float)ds->labels[indices[i]];
}

void tc_dataset_fill_batch_channels(const tc_dataset *ds, const int64_t *indices, int n,
                                    const float *mean, const float *std, float *images,
                                    float *labels)
{
    const size_t plane = (size_t)ds->height * (size_t)ds->width;
    const size_t per = (size_t)ds->channels * plane;
    /* One table per channel, built once per call, the same arithmetic as
     * the scalar version (so equal means and stds give equal floats). */
    for (int c = 0; c < ds->channels; c++) {
        float lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = (float)(((double)v / 255.0 - (double)mean[c]) / (double)std[c]);
        for (int i = 0; i < n; i++) {
            const uint8_t *restrict src = ds->pixels + (size_t)indices[i] * per + c * plane;
            float *restrict dst = images + (size_t)i * per + c * plane;
            for (size_t k = 0; k < plane; k++)
                dst[k] = lut[src[k]];
        }
    }
    if (labels && ds->labels)
        for (int i = 0; i < n; i++)
            labels[i] = (float)ds->labels[indices[i]];
}

/* ---- validation split ----------------------------------------------------- */

/* How many of each class go to validation (see tinycnn/dataset.h). */
static void split_quotas(const int64_t *count, int64_t n, double fraction, int64_t *quota)
{
    double rem[TC_MAX_CLASSES];
    int64_t total = 0;
    for (int c = 0; c < TC_MAX_CLASSES; c++) {
        double exact = (double)count[c] * fraction;
        int64_t cap = count[c] > 0 ? count[c] - 1 : 0;
        quota[c] = (int64_t)floor(exact);
        rem[c] = exact - (double)quota[c];
        if (quota[c] >= cap) {
            quota[c] = cap;
            rem[c] = -1.0; /* full: gets no extra */
        }
        total += quota[c];
    }
    int64_t target = llround((double)n * fraction);
    while (total < target) {
        int best = -1;
        for (int c = 0; c < TC_MAX_CLASSES; c++)
            if (rem[c] >= 0.0 && (best < 0 || rem[c] > rem[best]))
                best = c;
        if (best < 0)
            break;
        quota[best]++;
        rem[best] = -1.0;
        total++;
    }
}

int tc_split_stratified(const uint8_t *labels, int64_t n, double fraction, uint64_t seed,
                        int64_t **train, int64_t *n_train, int64_t **val, int64_t *n_val,
                        tc_error *err)
{
    *train = *val = NULL;
    *n_train = *n_val = 0;
    if (!(fraction > 0.0 && fraction < 1.0))
        return tc_error_set(err, "validation fraction %g must lie strictly between 0 and 1",
                            fraction);
    if (n < 0)
        return tc_error_set(err, "validation split of %" PRId64 " samples", n);
    int64_t count[TC_MAX_CLASSES] = {0}, quota[TC_MAX_CLASSES], nv = 0;
    for (int64_t i = 0; i < n; i++)
        count[labels[i]]++;
    split_quotas(count, n, fraction, quota);
    for (int c = 0; c < TC_MAX_CLASSES; c++)
        nv += quota[c];
    /* the first quota[c] of each class's shuffled samples go to validation */
    uint8_t *is_val = calloc((size_t)n + 1, 1);
    int64_t *t = malloc(((size_t)(n - nv) + 1) * sizeof *t);
    int64_t *v = malloc(((size_t)nv + 1) * sizeof *v);
    if (!is_val || !t || !v || tc_pick_per_class(labels, n, quota, seed, "val-split", is_val)) {
        free(is_val);
        free(t);
        free(v);
        return tc_error_set(err, "out of memory splitting %" PRId64 " samples", n);
    }
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_val[i])
            v[b++] = i;
        else
            t[a++] = i;
    }
    free(is_val);
    *train = t;
    *n_train = a;
    *val = v;
    *n_val = b;
    return 0;
}
