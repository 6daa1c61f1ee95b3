/* The image loaders under fuzzing read any size, gray and RGB alike: each
 * target decodes its input both ways through one helper. */
#ifndef TC_FUZZ_IMAGE_H
#define TC_FUZZ_IMAGE_H
#include "fuzz_file.h"
#include "tinycnn/tinycnn.h"

/* tc_png_load_any, tc_jpeg_load_any, tc_image_load_any. */
typedef int (*fuzz_load_any_fn)(const char *path, int channels, uint8_t **pixels, int *height,
                                int *width, tc_error *err);

/* tc_png_load, tc_jpeg_load: an expected size, into a caller's buffer. */
typedef int (*fuzz_load_fn)(const char *path, int channels, int height, int width, uint8_t *out,
                            tc_error *err);

/* What a target does with an image that decoded (c channels, h x w). */
typedef void (*fuzz_use_fn)(const uint8_t *px, int c, int h, int w, const char *path);

/* Decodes path as gray (1) and as RGB (3) with load_any, each image that
 * decodes going to use (NULL: nothing) and then freed; and with load as
 * 3x28x28, the data set path. */
static inline void fuzz_image(const char *path, fuzz_load_any_fn load_any, fuzz_load_fn load,
                              fuzz_use_fn use)
{
    static uint8_t img[3 * 28 * 28];
    tc_error err;
    load(path, 3, 28, 28, img, &err);
    for (int c = 1; c <= 3; c += 2) {
        uint8_t *px = NULL;
        int h = 0, w = 0;
        if (load_any(path, c, &px, &h, &w, &err) == 0) {
            if (use)
                use(px, c, h, w, path);
            free(px);
        }
    }
}
#endif
