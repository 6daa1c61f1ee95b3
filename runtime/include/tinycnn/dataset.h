/* tinycnn/dataset.h - labelled image sets held as uint8 in memory: MNIST IDX
 * files (gzipped or not), CIFAR-10's binary batches, and folders of PNG and
 * JPEG images (torchvision's ImageFolder layout, or numbered label folders);
 * decoding, resizing, per-channel normalisation and a stratified
 * validation split. docs/data.md describes the layouts. */
#ifndef TINYCNN_DATASET_H
#define TINYCNN_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Refused before allocating: more pixel bytes than this in one IDX file, and
 * PNG or JPEG images wider or taller than TC_PNG_MAX_DIM. */
#define TC_IDX_MAX_BYTES ((int64_t)1 << 31)
#define TC_PNG_MAX_DIM 16384
/* Labels are one byte: at most this many classes. */
#define TC_MAX_CLASSES 256

typedef struct tc_dataset {
    int64_t count;
    int32_t channels, height, width;
    uint8_t *pixels;  /* count * channels * height * width, CHW per image */
    uint8_t *labels;  /* count */
    /* The class of label i is class_names[i] (n_classes of them, owned by
     * the data set). NULL and 0 where labels are plain numbers: MNIST,
     * numbered label folders, idx-N-label-L files; unless the caller fixed
     * a class list (tc_data_options.class_names). */
    int32_t n_classes;
    char **class_names;
    /* Image i was read from paths[i] (count strings, owned): image folders.
     * NULL where images come packed in files (MNIST's IDX, CIFAR-10). */
    char **paths;
} tc_dataset;

/* How an image of another size than the one asked for is treated. */
typedef enum tc_resize_mode {
    TC_RESIZE_NONE = 0, /* an error naming the file and both sizes (the default) */
    TC_RESIZE_STRETCH,  /* scaled to height x width; the aspect ratio is not kept */
    TC_RESIZE_CROP,     /* scaled, aspect kept, so the shorter side is resize_size
                         * long; then the centred height x width cut out */
} tc_resize_mode;

/* What the images of a data set become, and its class list. A zeroed
 * struct with channels, height and width set gives the defaults. */
typedef struct tc_data_options {
    int channels, height, width; /* channels 1 (gray) or 3 (RGB) */
    tc_resize_mode resize;
    int resize_size;             /* TC_RESIZE_CROP: 0 means max(height, width) */
    /* NULL: classes from the folder names. Else the classes in label order:
     * class folder NAME gets the label of NAME in this list, a folder not in
     * it is an error naming it, a listed class without a folder is allowed
     * (it has no images); every split of one data set loaded with the list
     * of its training split therefore agrees on the labels. */
    const char *const *class_names;
    int n_class_names;
} tc_data_options;

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

/* Loads CIFAR-10 split "train" (data_batch_1.bin .. data_batch_5.bin, all
 * five required) or "test" (test_batch.bin) from dir, or from
 * dir/cifar-10-batches-bin (where the official archive unpacks), with the
 * 10 class names from batches.meta.txt (one a line; blank lines ignored).
 * A record is 1 label byte and 3072 pixel bytes (3x32x32, CHW). Refused,
 * naming the file: a size that is not a positive multiple of 3073, a label
 * above 9, a names file without exactly 10 names. Owner: the caller; free
 * with tc_dataset_free. */
int tc_cifar10_load(const char *dir, const char *split, tc_dataset *out, tc_error *err);

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

/* The same for JPEG files, through libjpeg(-turbo). Gray, YCbCr and RGB
 * files are read as they are; CMYK and YCCK ones (Adobe's) are converted
 * naively, R = C*K/255 on the stored (inverted) values, without a colour
 * profile. Baseline and progressive files are fine; 12-bit and lossless
 * ones are refused. RGB to gray takes the file's luma (Y of YCbCr, Rec. 601
 * weights, like tc_png_load); gray to RGB replicates it. Refused, naming the
 * file: images over TC_PNG_MAX_DIM on a side (before any pixel memory is
 * taken), more than 500 progressive scans or more than 512 MiB of
 * libjpeg working memory (a small file can claim either), any libjpeg
 * error, and any
 * libjpeg warning (a truncated or damaged file, which libjpeg would
 * otherwise pad with made-up gray). Bytes after the EOI marker are ignored:
 * cameras and phones append data there, and JPEG marks its own end.
 * EXIF orientation is not applied (as torchvision does not). libjpeg never
 * prints and never exits here. */
int tc_jpeg_load(const char *path, int channels, int height, int width, uint8_t *out,
                 tc_error *err);
int tc_jpeg_load_any(const char *path, int channels, uint8_t **pixels, int *height,
                     int *width, tc_error *err);

/* A PNG or JPEG file, told apart by its first bytes (not its name):
 * tc_png_load(_any) or tc_jpeg_load(_any); anything else is refused naming
 * the file. Owner of *pixels: the caller (free()). */
int tc_image_load(const char *path, int channels, int height, int width, uint8_t *out,
                  tc_error *err);
int tc_image_load_any(const char *path, int channels, uint8_t **pixels, int *height,
                      int *width, tc_error *err);

/* All of these open only regular files: a FIFO, socket or device named
 * x.png is refused naming it, never waited on; a folder is refused as such. */

/* ---- resizing --------------------------------------------------------------
 * Bilinear resampling of uint8 CHW images, with the pixel-centre convention
 * of PyTorch (align_corners = False) and PIL: output pixel x of an image
 * scaled by s = in / out samples the input at u = (x + 0.5) * s - 0.5 with
 * the triangle filter w(i) = max(0, 1 - |i - u| / r), r = max(1, s), over
 * the input pixels i inside the image, weights normalised to sum 1. When
 * enlarging (r = 1) that is plain bilinear interpolation with the edge
 * pixels repeated; when shrinking the filter widens, so every input pixel
 * counts (antialiasing, like PIL and torchvision's antialias = True).
 * Rows and columns are filtered separately in float; results are rounded
 * to nearest. */

/* Resizes src (channels x src_h x src_w) into dst (channels x dst_h x
 * dst_w). Fails only when out of memory for its weight tables. */
int tc_image_resize(const uint8_t *src, int channels, int src_h, int src_w, uint8_t *dst,
                    int dst_h, int dst_w, tc_error *err);

/* Makes src into a height x width image by `mode`: TC_RESIZE_STRETCH as
 * tc_image_resize; TC_RESIZE_CROP scales the shorter side to `size` (0:
 * max(height, width)) and the longer to floor(long * size / short), as
 * torchvision's Resize(size), then cuts out the centred height x width
 * (offsets rounded down), computing only the pixels kept; TC_RESIZE_NONE
 * copies an image of the right size and refuses any other. `what` (a file
 * name, may be NULL) starts the error messages. */
int tc_image_fit(const uint8_t *src, int channels, int src_h, int src_w, tc_resize_mode mode,
                 int size, uint8_t *dst, int height, int width, const char *what,
                 tc_error *err);

/* Checks the options: channels 1 or 3, a size in [1, TC_PNG_MAX_DIM], a
 * known resize mode, resize_size in [max(height, width), TC_PNG_MAX_DIM]
 * (or 0), at most TC_MAX_CLASSES class names, none empty, none twice. */
int tc_data_options_check(const tc_data_options *opt, tc_error *err);

/* Loads an image folder. Images are the files named *.png, *.jpg or *.jpeg
 * (any case), decoded by content (tc_image_load_any). Layouts:
 *  - class folders, as torchvision's ImageFolder: dir/<class>/..., classes
 *    in byte order of their names (label 0 the first), the files of a
 *    class found in its folder and the folders below it (up to 8 deep);
 *    the names come back in out->class_names;
 *  - numbered label folders dir/<label>/... (every folder name a number
 *    0..255): label = the number, no class names;
 *  - flat files named like "idx-N-label-L.png" (or .jpg): label L.
 * With opt->class_names every folder is a class name looked up in that
 * list (numbers included). Files are taken in name order with digit runs
 * compared as numbers (img2 before img10), class by class. Entries
 * starting with '.' and files of other extensions are ignored (so is an
 * empty numbered folder; an empty class folder is still a class). Errors
 * name the entry: numbered and named folders side by side, a folder not
 * in a fixed class list, more than TC_MAX_CLASSES classes, a flat file
 * that does not fit the pattern, a duplicate idx-N, a mix of folders and
 * flat files, an image file that is no regular file, no image at all,
 * and any image that cannot be read or (without opt->resize) has another
 * size. Owner: the caller; free with tc_dataset_free. */
int tc_image_folder_load(const char *dir, const tc_data_options *opt, tc_dataset *out,
                         tc_error *err);

/* tc_image_folder_load with the default options (no resizing, classes
 * from the folders): the name is older than JPEG support. */
int tc_png_folder_load(const char *dir, int channels, int height, int width,
                       tc_dataset *out, tc_error *err);

/* ---- lists of image files -------------------------------------------------- */

/* 1 when a file name (without folders) is one that image folders take:
 * it ends in .png, .jpg or .jpeg, in any case, after at least one other
 * character. 0 otherwise and for NULL. */
int tc_is_image_name(const char *name);

/* Folders more than this deep below a folder given to tc_image_paths are
 * not followed (taken for a symbolic link loop). */
#define TC_IMAGE_PATHS_MAX_DEPTH 32

/* One entry of tc_image_paths: an image file to read, or a path known bad. */
typedef struct tc_image_path {
    char *path;  /* as given, or FOLDER/.../NAME below a folder given */
    char *error; /* NULL; or why path gives no image, a message naming it */
} tc_image_path;

/* The image files that paths[0..n) stand for, in order (what `tinycnn
 * predict` classifies): a path that is not a folder is taken as it is,
 * whatever its name (readers tell PNG from JPEG by content and name what is
 * wrong with a file); a folder stands for the files in it and in the
 * folders below it whose names pass tc_is_image_name, sorted by their
 * paths in byte order (strcmp), entries starting with '.' skipped. Nothing
 * is opened but folders. A folder that cannot be opened, that lies more
 * than TC_IMAGE_PATHS_MAX_DEPTH below the one given, or that holds no
 * image file at all becomes an entry with error set ("FOLDER: cannot open
 * folder: REASON", "FOLDER: is a folder without PNG or JPEG images ...")
 * and the listing goes on. Returns 0 with *list holding *count entries
 * (at least one per path), or non-zero with *list NULL when out of memory
 * (naming the path) or for a NULL argument. Owner of *list: the caller;
 * free with tc_image_paths_free. */
int tc_image_paths(const char *const *paths, int n, tc_image_path **list, size_t *count,
                   tc_error *err);
/* Frees a list of tc_image_paths (its paths, messages and the array);
 * NULL is fine. */
void tc_image_paths_free(tc_image_path *list, size_t count);

/* The data set for split ("train" | "val" | "test") under dir: MNIST IDX
 * files if present, else CIFAR-10 batches, else the image folder
 * dir/<split> (MNIST and CIFAR-10 have only "train" and "test"). Every
 * image becomes opt's channels x height x width: MNIST and CIFAR-10 too
 * are resized when opt->resize allows it, and otherwise another size is an
 * error naming both sizes; a channel count other than the set's is an
 * error. With opt->class_names: folders as tc_image_folder_load; MNIST's
 * numeric labels must lie below the list's length and take its names;
 * CIFAR-10's names must equal the list. When nothing is found the error
 * lists what was looked for. Owner: the caller; free with tc_dataset_free. */
int tc_dataset_load_with(const char *dir, const char *split, const tc_data_options *opt,
                         tc_dataset *out, tc_error *err);

/* tc_dataset_load_with with the default options. */
int tc_dataset_load(const char *dir, const char *split, int channels, int height, int width,
                    tc_dataset *out, tc_error *err);

/* Frees the arrays and the class names and zeroes *ds; NULL and zeroed data
 * sets are fine. */
void tc_dataset_free(tc_dataset *ds);

/* A new data set of the images indices[0..n) of ds (copied, in that order),
 * with ds's class names. Indices outside [0, count) are an error. Owner:
 * the caller; free with tc_dataset_free. */
int tc_dataset_subset(const tc_dataset *ds, const int64_t *indices, int64_t n,
                      tc_dataset *out, tc_error *err);

/* Replaces ds's class names with a copy of names[0..n) (n = 0: none). */
int tc_dataset_set_class_names(tc_dataset *ds, const char *const *names, int n, tc_error *err);

/* A seeded, stratified hold-out: of the n samples with these labels, about
 * `fraction` of each class goes to the validation list and the rest to
 * the training list. Class c of n_c samples gives floor or ceil of
 * n_c * fraction (largest remainders first, ties to the lower label, so
 * that the total is round(n * fraction)), but never its last sample: a
 * class keeps at least one training sample. Which samples is a shuffle
 * seeded by (seed, class), so the split depends on the seed and the labels
 * only. Both lists come back in ascending order. fraction must lie in
 * (0, 1). Owner of *train and *val: the caller (free() both, even a list
 * of count 0). */
int tc_split_stratified(const uint8_t *labels, int64_t n, double fraction, uint64_t seed,
                        int64_t **train, int64_t *n_train, int64_t **val, int64_t *n_val,
                        tc_error *err);

/* What an image limit of n (--limit, --test-limit, eval's and report's
 * --limit) keeps of count images with these labels: a stratified sample of
 * exactly n (all when n is 0 or at least count). Every class present gets
 * one image when n is at least the number of classes, the rest go in
 * proportion to the classes' sizes (largest remainders, ties to the lower
 * label); which images of a class is a shuffle of that class seeded by
 * TC_SAMPLE_SEED, so the sample depends on the labels and n only: every
 * run, resume and evaluation with the same limit sees the same images.
 * *kept lists them in ascending order. Owner of *kept: the caller (free(),
 * even of an empty list). */
#define TC_SAMPLE_SEED 20240607u
int tc_dataset_sample(const uint8_t *labels, int64_t count, int64_t n, int64_t **kept,
                      int64_t *n_kept, tc_error *err);

/* Replaces *ds by its sample of n images (tc_dataset_sample), images kept
 * in their order; n 0 or at least ds->count leaves it as it is. origin
 * (may be NULL) receives the index in the old set of each image kept, or
 * NULL when nothing changed. Owner of *origin: the caller (free()). */
int tc_dataset_limit(tc_dataset *ds, int64_t n, int64_t **origin, tc_error *err);

/* Converts images indices[0..n) to floats (pixel/255 - mean) / std into
 * images (n * c*h*w) and labels into labels (n floats, may be NULL; left
 * untouched when ds has no labels). Indices must lie in [0, count) and std
 * must be non-zero: this is the training hot path and checks nothing. */
void tc_dataset_fill_batch(const tc_dataset *ds, const int64_t *indices, int n, float mean,
                           float std, float *images, float *labels);

/* The same with a mean and a std per channel (arrays of ds->channels
 * values): channel c becomes (pixel/255 - mean[c]) / std[c], the way
 * torchvision's Normalize(mean, std) follows ToTensor(). Checks nothing. */
void tc_dataset_fill_batch_channels(const tc_dataset *ds, const int64_t *indices, int n,
                                    const float *mean, const float *std, float *images,
                                    float *labels);

#ifdef __cplusplus
}
#endif
#endif
