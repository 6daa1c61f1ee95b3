/* Helpers shared by the data set loaders (not public API). */
#ifndef TC_DATASET_INTERNAL_H
#define TC_DATASET_INTERNAL_H

#include <stddef.h>

/* "train" -> "train", "test" -> "t10k"; non-zero for any other split. */
int tc_mnist_split_prefix(const char *split, const char **prefix);

/* Finds <dir>/<prefix>-<kind>-ubyte or the same with ".gz" (kind is
 * "images-idx3" or "labels-idx1"), writing the path found into path. Returns
 * non-zero when neither exists, leaving the plain name in path. */
int tc_mnist_find(const char *dir, const char *prefix, const char *kind, char *path,
                  size_t cap);

#endif
