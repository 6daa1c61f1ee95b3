/* Data set selection (MNIST IDX or PNG folder), freeing, and batch filling. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"
#include "dataset_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tc_dataset_load(const char *dir, const char *split, int channels, int height, int width,
                    tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!split || !*split || strchr(split, '/'))
        return tc_error_set(err, "%s: invalid split name '%s'", dir, split ? split : "(null)");
    char ipath[4096], folder[4096];
    const char *prefix;
    int is_mnist_split = tc_mnist_split_prefix(split, &prefix) == 0;
    if (is_mnist_split && tc_mnist_find(dir, prefix, "images-idx3", ipath, sizeof ipath) == 0) {
        tc_dataset ds;
        if (tc_mnist_load(dir, split, &ds, err))
            return 1;
        if (ds.channels != channels || ds.height != height || ds.width != width) {
            tc_error_set(err,
                         "%s: images are %dx%dx%d (channels x height x width) but %dx%dx%d "
                         "was asked for",
                         ipath, ds.channels, ds.height, ds.width, channels, height, width);
            tc_dataset_free(&ds);
            return 1;
        }
        *out = ds;
        return 0;
    }
    int n = snprintf(folder, sizeof folder, "%s/%s", dir, split);
    if (n < 0 || (size_t)n >= sizeof folder)
        return tc_error_set(err, "%s: path too long", dir);
    if (is_dir(folder)) {
        /* Each image is checked against height x width as it is read. */
        if (tc_png_folder_load(folder, channels, height, width, out, err))
            return 1;
        return 0;
    }
    if (is_mnist_split)
        return tc_error_set(err,
                            "%s: no %s data: looked for MNIST %s (or .gz) and a PNG folder %s",
                            dir, split, ipath, folder);
    return tc_error_set(err, "%s: no %s data: looked for a PNG folder %s", dir, split, folder);
}

void tc_dataset_free(tc_dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

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
