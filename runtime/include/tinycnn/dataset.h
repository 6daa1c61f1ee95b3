/* tinycnn/dataset.h - labelled image sets held as uint8 in memory: MNIST IDX
 * files (gzipped or not) and PNG folders. */
#ifndef TINYCNN_DATASET_H
#define TINYCNN_DATASET_H

#include <stdint.h>
#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_dataset {
    int64_t count;
    int32_t channels, height, width;
    uint8_t *pixels;  /* count * channels * height * width, CHW per image */
    uint8_t *labels;  /* count */
} tc_dataset;

/* Reads an IDX3 ubyte image file / IDX1 ubyte label file, plain or gzipped
 * (detected by content, not name). Checks magic, dimensions against the file
 * size, and refuses truncated or oversized files, naming the path.
 * Owner: the caller; free with tc_dataset_free / free(). */
int tc_idx_load_images(const char *path, tc_dataset *out, tc_error *err);
int tc_idx_load_labels(const char *path, uint8_t **labels, int64_t *count, tc_error *err);

/* Loads MNIST split "train" or "test" from dir: <dir>/train-images-idx3-ubyte
 * (or t10k-...) with or without ".gz". Image and label counts must agree. */
int tc_mnist_load(const char *dir, const char *split, tc_dataset *out, tc_error *err);

/* Reads one PNG converted to `channels` (1: gray, 3: RGB) 8-bit pixels in
 * CHW order; palette, 16-bit, gray+alpha and RGBA are converted. A size other
 * than height x width is an error naming the file. out holds c*h*w bytes. */
int tc_png_load(const char *path, int channels, int height, int width, uint8_t *out,
                tc_error *err);

/* Reads any PNG, reporting its size. Owner of *pixels: the caller (free()). */
int tc_png_load_any(const char *path, int channels, uint8_t **pixels, int *height,
                    int *width, tc_error *err);

/* Loads a PNG image set: either dir/<label>/*.png (label = folder name, 0-255)
 * or flat files named like "idx-N-label-L.png". Files are taken in name order. */
int tc_png_folder_load(const char *dir, int channels, int height, int width,
                       tc_dataset *out, tc_error *err);

/* The data set for split ("train" | "test") under dir: MNIST IDX files if
 * present, else the PNG folder dir/<split>. */
int tc_dataset_load(const char *dir, const char *split, int channels, int height, int width,
                    tc_dataset *out, tc_error *err);

void tc_dataset_free(tc_dataset *ds);

/* Converts images indices[0..n) to floats (pixel/255 - mean) / std into
 * images (n * c*h*w) and labels into labels (n floats, may be NULL). */
void tc_dataset_fill_batch(const tc_dataset *ds, const int64_t *indices, int n, float mean,
                           float std, float *images, float *labels);

#ifdef __cplusplus
}
#endif
#endif
