/* tinycnn/dataset.h - labelled image sets held as uint8 in memory: MNIST IDX
 * files (gzipped or not) and PNG folders. */
#ifndef TINYCNN_DATASET_H
#define TINYCNN_DATASET_H

#include <stdint.h>
#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Refused before allocating: more pixel bytes than this in one IDX file, and
 * PNG images wider or taller than TC_PNG_MAX_DIM. */
#define TC_IDX_MAX_BYTES ((int64_t)1 << 31)
#define TC_PNG_MAX_DIM 16384

typedef struct tc_dataset {
    int64_t count;
    int32_t channels, height, width;
    uint8_t *pixels;  /* count * channels * height * width, CHW per image */
    uint8_t *labels;  /* count */
} tc_dataset;

/* Reads an IDX3 ubyte image file / IDX1 ubyte label file, plain or gzipped
 * (detected by content, not name). Checks magic, dimensions against the file
 * size, and refuses truncated or oversized files, naming the path.
 * An image file gives channels = 1 and labels = NULL; a file with no images
 * (or zero rows/columns) is an error.
 * Owner: the caller; free with tc_dataset_free / free(). */
int tc_idx_load_images(const char *path, tc_dataset *out, tc_error *err);
int tc_idx_load_labels(const char *path, uint8_t **labels, int64_t *count, tc_error *err);

/* Loads MNIST split "train" or "test" from dir: <dir>/train-images-idx3-ubyte
 * (or t10k-...) with or without ".gz". Image and label counts must agree. */
int tc_mnist_load(const char *dir, const char *split, tc_dataset *out, tc_error *err);

/* Reads one PNG converted to `channels` (1: gray, 3: RGB) 8-bit pixels in
 * CHW order; palette, 16-bit, gray+alpha and RGBA are converted. A size other
 * than height x width is an error naming the file. out holds c*h*w bytes.
 * Conversions: 16-bit samples are scaled with rounding (v * 255 / 65535);
 * low-bit gray is expanded to 0..255; alpha (including tRNS transparency) is
 * composited onto black, v' = round(v * a / 255), so fully transparent pixels
 * read as 0; RGB to gray uses the Rec. 601 luma weights
 * round(0.299 R + 0.587 G + 0.114 B); gray to RGB replicates the value.
 * Images beyond TC_PNG_MAX_DIM on a side are refused, and so are bytes after
 * the IEND chunk (a damaged or concatenated file). libpng's warnings are
 * never printed. */
int tc_png_load(const char *path, int channels, int height, int width, uint8_t *out,
                tc_error *err);

/* Reads any PNG, reporting its size. Owner of *pixels: the caller (free()). */
int tc_png_load_any(const char *path, int channels, uint8_t **pixels, int *height,
                    int *width, tc_error *err);

/* Loads a PNG image set: either dir/<label>/NAME.png (label = folder name, 0-255)
 * or flat files named like "idx-N-label-L.png". Files are taken in name order
 * with digit runs compared as numbers (idx-2 before idx-10); label folders in
 * label order. Entries starting with '.' and files not ending in ".png" are
 * ignored (so is an empty label folder); anything else that does not fit
 * the layout, a duplicate idx-N, a mix of both layouts, or no image at all is
 * an error naming the entry. Owner: the caller; free with tc_dataset_free. */
int tc_png_folder_load(const char *dir, int channels, int height, int width,
                       tc_dataset *out, tc_error *err);

/* The data set for split ("train" | "test") under dir: MNIST IDX files if
 * present, else the PNG folder dir/<split> (other split names only look for
 * the PNG folder). The images must be channels x height x width; the error
 * otherwise names both sizes, and when nothing is found the error lists
 * what was looked for. Owner: the caller; free with tc_dataset_free. */
int tc_dataset_load(const char *dir, const char *split, int channels, int height, int width,
                    tc_dataset *out, tc_error *err);

/* Frees the arrays and zeroes *ds; NULL and zeroed data sets are fine. */
void tc_dataset_free(tc_dataset *ds);

/* Converts images indices[0..n) to floats (pixel/255 - mean) / std into
 * images (n * c*h*w) and labels into labels (n floats, may be NULL; left
 * untouched when ds has no labels). Indices must lie in [0, count) and std
 * must be non-zero: this is the training hot path and checks nothing. */
void tc_dataset_fill_batch(const tc_dataset *ds, const int64_t *indices, int n, float mean,
                           float std, float *images, float *labels);

#ifdef __cplusplus
}
#endif
#endif
