/* Helpers shared by the data set loaders (not public API). */
#ifndef TC_DATASET_INTERNAL_H
#define TC_DATASET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tinycnn/dataset.h"

/* "train" -> "train", "test" -> "t10k"; non-zero for any other split. */
int tc_mnist_split_prefix(const char *split, const char **prefix);

/* Finds <dir>/<prefix>-<kind>-ubyte or the same with ".gz" (kind is
 * "images-idx3" or "labels-idx1"), writing the path found into path. Returns
 * non-zero when neither exists, leaving the plain name in path. */
int tc_mnist_find(const char *dir, const char *prefix, const char *kind, char *path,
                  size_t cap);

/* The folder holding CIFAR-10's batches for split ("train": data_batch_1.bin,
 * "test": test_batch.bin): dir or dir/cifar-10-batches-bin, written into
 * folder. Non-zero when neither holds it (or the split is neither name),
 * leaving dir/<first file> in folder for messages. */
int tc_cifar10_find(const char *dir, const char *split, char *folder, size_t cap);

/* Opens path for reading only if it is a regular file: a folder is refused
 * as "is a folder, not a <kind> file", a FIFO, socket or device as not a
 * regular file. A FIFO is opened without blocking, so a FIFO without a
 * writer cannot hang the caller. NULL after setting err. */
FILE *tc_open_regular(const char *path, const char *kind, tc_error *err);

/* What st_mode is, in words, for messages about entries that are neither
 * regular files nor folders ("FIFO", "socket", "device", ...). */
const char *tc_file_type_name(unsigned mode);

/* A copy of names[0..n): a new array of n new strings, freed with
 * tc_names_free. NULL when out of memory (and for n = 0: check n first). */
char **tc_names_copy(const char *const *names, int n);
void tc_names_free(char **names, int n);

/* n class names: names[i] where i < n_names (names may be NULL), else the
 * decimal index. A new array of n new strings, freed with tc_names_free;
 * NULL when out of memory. */
char **tc_names_or_numbers(const char *const *names, int n_names, int n);

/* A PNG or JPEG decoder: into dst when it is want_h x want_w (alloc NULL),
 * or into a new *alloc (the caller's to free) of the file's own size,
 * *out_h x *out_w. */
typedef int (*tc_image_decoder)(const char *path, int channels, int want_h, int want_w,
                                uint8_t *dst, uint8_t **alloc, int *out_h, int *out_w,
                                tc_error *err);

/* tc_png_load / tc_jpeg_load (and their _any forms) by their decoder. */
int tc_image_decode(tc_image_decoder decode, const char *path, int channels, int height,
                    int width, uint8_t *out, tc_error *err);
int tc_image_decode_any(tc_image_decoder decode, const char *path, int channels,
                        uint8_t **pixels, int *height, int *width, tc_error *err);

/* Makes the loaded, fixed-size data set *ds into opt's size by opt's resize
 * mode (in place: *ds gets new pixels). `what` names the source in errors.
 * Channels must already agree. A no-op when the size is right. */
int tc_dataset_fit(tc_dataset *ds, const tc_data_options *opt, const char *what,
                   tc_error *err);

/* Picks quota[c] of the samples of each class c among samples 0..n-1
 * (labels NULL: all of class 0): each class's samples, in ascending order,
 * shuffled by the stream (seed, stream, c), and the first quota[c] of them
 * marked in pick (n bytes, zeroed by the caller). The one rule behind the
 * validation hold-out and the --limit sample. Returns 0, or 1 when out of
 * memory. */
int tc_pick_per_class(const uint8_t *labels, int64_t n, const int64_t *quota, uint64_t seed,
                      const char *stream, uint8_t *pick);

#endif
