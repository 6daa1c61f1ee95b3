/* The data set front door: which format a folder holds (MNIST IDX,
 * CIFAR-10 batches or an image folder), that loader, then the images
 * brought to the asked-for shape and class list. It alone calls the
 * loaders, which use only dataset.c's helpers, so there is no circle. */
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
#include <unistd.h>

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tc_dataset_fit(tc_dataset *ds, const tc_data_options *opt, const char *what,
                   tc_error *err)
{
    if (ds->height == opt->height && ds->width == opt->width)
        return 0;
    size_t per = (size_t)ds->channels * (size_t)opt->height * (size_t)opt->width, total;
    size_t src_per = (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    if (__builtin_mul_overflow(per, (size_t)ds->count, &total) ||
        total > (size_t)TC_IDX_MAX_BYTES * 4)
        return tc_error_set(err, "%s: %" PRId64 " images of %dx%dx%d are too many to hold", what,
                            ds->count, ds->channels, opt->height, opt->width);
    uint8_t *px = malloc(total ? total : 1);
    if (!px)
        return tc_error_set(err, "%s: out of memory for %" PRId64 " resized images", what,
                            ds->count);
    for (int64_t i = 0; i < ds->count; i++)
        if (tc_image_fit(ds->pixels + (size_t)i * src_per, ds->channels, ds->height, ds->width,
                         opt->resize, opt->resize_size, px + (size_t)i * per, opt->height,
                         opt->width, what, err)) {
            free(px);
            return 1;
        }
    free(ds->pixels);
    ds->pixels = px;
    ds->height = opt->height;
    ds->width = opt->width;
    return 0;
}

/* ---- loading -------------------------------------------------------------- */

/* Brings a fixed-size set (MNIST, CIFAR-10) to opt's shape. */
static int shape_fixed_set(tc_dataset *ds, const tc_data_options *opt, const char *what,
                           tc_error *err)
{
    if (ds->channels != opt->channels ||
        (opt->resize == TC_RESIZE_NONE && (ds->height != opt->height || ds->width != opt->width)))
        return tc_error_set(err,
                            "%s: images are %dx%dx%d (channels x height x width) but %dx%dx%d "
                            "was asked for",
                            what, ds->channels, ds->height, ds->width, opt->channels, opt->height,
                            opt->width);
    return tc_dataset_fit(ds, opt, what, err);
}

/* MNIST labels are numbers: a fixed class list names them, and must cover them. */
static int name_mnist(tc_dataset *ds, const tc_data_options *opt, const char *what,
                      tc_error *err)
{
    if (opt->n_class_names == 0)
        return 0;
    for (int64_t i = 0; i < ds->count; i++)
        if (ds->labels[i] >= opt->n_class_names)
            return tc_error_set(err, "%s: image %" PRId64 " has label %d, beyond the %d classes "
                                     "of the class list",
                                what, i, ds->labels[i], opt->n_class_names);
    return tc_dataset_set_class_names(ds, opt->class_names, opt->n_class_names, err);
}

/* CIFAR-10's labels mean its own names: a fixed list must be the same one. */
static int check_cifar_names(tc_dataset *ds, const tc_data_options *opt, const char *what,
                             tc_error *err)
{
    if (opt->n_class_names == 0)
        return 0;
    if (opt->n_class_names != ds->n_classes)
        return tc_error_set(err, "%s: CIFAR-10 has %d classes but the class list has %d", what,
                            ds->n_classes, opt->n_class_names);
    for (int i = 0; i < ds->n_classes; i++)
        if (strcmp(ds->class_names[i], opt->class_names[i]) != 0)
            return tc_error_set(err, "%s: CIFAR-10 class %d is '%s' but the class list says '%s'",
                                what, i, ds->class_names[i], opt->class_names[i]);
    return 0;
}

/* A fixed-format set (MNIST or CIFAR-10) by `load`, then its shape and
 * the class names checked against the options (`names`, naming `what`). */
static int load_fixed(int (*load)(const char *, const char *, tc_dataset *, tc_error *),
                      int (*names)(tc_dataset *, const tc_data_options *, const char *,
                                   tc_error *),
                      const char *dir, const char *split, const char *what,
                      const tc_data_options *opt, tc_dataset *out, tc_error *err)
{
    tc_dataset ds;
    if (load(dir, split, &ds, err))
        return 1;
    if (shape_fixed_set(&ds, opt, what, err) || names(&ds, opt, what, err)) {
        tc_dataset_free(&ds);
        return 1;
    }
    *out = ds;
    return 0;
}

/* Nothing was found under dir: when that is because dir or its split
 * folder cannot be read, say so rather than list what was looked for. */
static int unreadable(const char *dir, const char *folder, tc_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == EACCES ? tc_error_set(err, "%s: %s", dir, strerror(errno)) : 0;
    if (S_ISDIR(st.st_mode) && access(dir, R_OK | X_OK) != 0 && errno == EACCES)
        return tc_error_set(err, "%s: %s (cannot read the data folder)", dir, strerror(EACCES));
    if (stat(folder, &st) != 0 && errno == EACCES)
        return tc_error_set(err, "%s: %s", folder, strerror(EACCES));
    return 0;
}

int tc_dataset_load_with(const char *dir, const char *split, const tc_data_options *opt,
                         tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!split || !*split || strchr(split, '/'))
        return tc_error_set(err, "%s: invalid split name '%s'", dir, split ? split : "(null)");
    if (tc_data_options_check(opt, err))
        return tc_error_prefix(err, "%s", dir);
    char ipath[4096], cifar[4096], folder[4096];
    const char *prefix;
    int is_mnist_split = tc_mnist_split_prefix(split, &prefix) == 0;
    if (is_mnist_split && tc_mnist_find(dir, prefix, "images-idx3", ipath, sizeof ipath) == 0)
        return load_fixed(tc_mnist_load, name_mnist, dir, split, ipath, opt, out, err);
    if (is_mnist_split && tc_cifar10_find(dir, split, cifar, sizeof cifar) == 0)
        return load_fixed(tc_cifar10_load, check_cifar_names, dir, split, cifar, opt, out, err);
    int n = snprintf(folder, sizeof folder, "%s/%s", dir, split);
    if (n < 0 || (size_t)n >= sizeof folder)
        return tc_error_set(err, "%s: path too long", dir);
    if (is_dir(folder))
        return tc_image_folder_load(folder, opt, out, err); /* checks each image's size */
    if (unreadable(dir, folder, err))
        return 1;
    if (is_mnist_split)
        return tc_error_set(err,
                            "%s: no %s data: looked for MNIST %s (or .gz), CIFAR-10 %s (also "
                            "under cifar-10-batches-bin/) and an image folder %s",
                            dir, split, ipath, cifar, folder);
    return tc_error_set(err, "%s: no %s data: looked for an image folder %s", dir, split, folder);
}

int tc_dataset_load(const char *dir, const char *split, int channels, int height, int width,
                    tc_dataset *out, tc_error *err)
{
    tc_data_options opt = {.channels = channels, .height = height, .width = width};
    return tc_dataset_load_with(dir, split, &opt, out, err);
}
