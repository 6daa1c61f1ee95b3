/* PNG images through libpng (the folders of them: dataset_folder.c). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"
#include "dataset_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything the setjmp-protected decoder touches lives here, outside the
 * function that calls setjmp, so nothing is indeterminate after a longjmp
 * and the caller can free whatever was allocated. */
typedef struct png_job {
    const char *path;
    FILE *fp;
    png_structp png;
    png_infop info;
    char msg[200];
    int want_h, want_w; /* 0: any size */
    int size_mismatch;
    uint32_t h, w;
    int src_channels; /* after the libpng transforms: 1 G, 2 GA, 3 RGB, 4 RGBA */
    uint8_t *raw;
    png_bytep *rows;
} png_job;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* libpng's default prints to stderr; the library must not print, and a
 * warning alone never makes an image unusable, so it is dropped. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_png_read(png_structp png, png_bytep data, size_t len)
{
    png_job *j = png_get_io_ptr(png);
    if (fread(data, 1, len, j->fp) != len)
        png_error(png, ferror(j->fp) ? "read error" : "truncated file: unexpected end of data");
}

static int png_decode(png_job *j)
{
    if (setjmp(png_jmpbuf(j->png)))
        return 1;
    png_set_read_fn(j->png, j, on_png_read);
    png_set_sig_bytes(j->png, 8);
    png_set_user_limits(j->png, TC_PNG_MAX_DIM, TC_PNG_MAX_DIM);
    png_read_info(j->png, j->info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    j->w = w;
    j->h = h;
    if (j->want_h && (h != (png_uint_32)j->want_h || w != (png_uint_32)j->want_w)) {
        j->size_mismatch = 1;
        return 1;
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(j->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(j->png);
    if (png_get_valid(j->png, j->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(j->png);
    if (depth == 16)
        png_set_scale_16(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    j->src_channels = png_get_channels(j->png, j->info);
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    if (j->src_channels < 1 || j->src_channels > 4 || png_get_bit_depth(j->png, j->info) != 8 ||
        rowbytes != (size_t)w * (size_t)j->src_channels)
        png_error(j->png, "unsupported pixel layout after conversion");
    j->raw = malloc(rowbytes * h);
    j->rows = malloc(sizeof *j->rows * h);
    if (!j->raw || !j->rows)
        png_error(j->png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = j->raw + (size_t)y * rowbytes;
    png_read_image(j->png, j->rows);
    /* Reads up to IEND so that a file cut after the pixel data still fails. */
    png_read_end(j->png, NULL);
    return 0;
}

/* Composites on black: round(v * a / 255). */
static inline unsigned over_black(unsigned v, unsigned a)
{
    return (v * a + 127) / 255;
}

/* Converts the decoded G/GA/RGB/RGBA rows into channels planes (CHW). */
static void png_convert(const png_job *j, int channels, uint8_t *dst)
{
    size_t plane = (size_t)j->h * j->w, n = plane;
    const uint8_t *s = j->raw;
    int sc = j->src_channels;
    for (size_t i = 0; i < n; i++, s += sc) {
        unsigned r, g, b, a = 255;
        if (sc <= 2) {
            r = g = b = s[0];
            if (sc == 2)
                a = s[1];
        } else {
            r = s[0];
            g = s[1];
            b = s[2];
            if (sc == 4)
                a = s[3];
        }
        if (a != 255) {
            r = over_black(r, a);
            g = over_black(g, a);
            b = over_black(b, a);
        }
        if (channels == 1) {
            /* Rec. 601 luma in integers; exact for gray (weights sum to 1000). */
            dst[i] = sc <= 2 ? (uint8_t)r : (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        } else {
            dst[i] = (uint8_t)r;
            dst[plane + i] = (uint8_t)g;
            dst[2 * plane + i] = (uint8_t)b;
        }
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads path into dst (when want_h > 0: exactly want_h x want_w, dst holds
 * channels*h*w bytes) or into a new buffer *alloc (owned by the caller). */
static int png_load(const char *path, int channels, int want_h, int want_w, uint8_t *dst,
                    uint8_t **alloc, int *out_h, int *out_w, tc_error *err)
{
    if (channels != 1 && channels != 3)
        return tc_error_set(err, "%s: cannot convert to %d channels (1: gray, 3: RGB)", path,
                            channels);
    png_job j = {0};
    j.path = path;
    j.want_h = want_h;
    j.want_w = want_w;
    j.fp = tc_open_regular(path, "PNG", err);
    if (!j.fp)
        return 1;
    int rc = 1;

    /* Signature and IHDR size, checked by hand so that absurd sizes are
     * refused with a clear message before libpng sees the file. */
    unsigned char head[24];
    size_t got = fread(head, 1, sizeof head, j.fp);
    if (got == 0) {
        tc_error_set(err, "%s: empty file, not a PNG", path);
        goto done;
    }
    if (got < 8 || png_sig_cmp(head, 0, 8) != 0) {
        tc_error_set(err, "%s: not a PNG file (bad signature)", path);
        goto done;
    }
    if (got < sizeof head) {
        tc_error_set(err, "%s: corrupt PNG: truncated file: unexpected end of data", path);
        goto done;
    }
    if (memcmp(head + 12, "IHDR", 4) != 0) {
        tc_error_set(err, "%s: corrupt PNG: first chunk is not IHDR", path);
        goto done;
    }
    uint32_t w = be32(head + 16), h = be32(head + 20);
    if (w > TC_PNG_MAX_DIM || h > TC_PNG_MAX_DIM) {
        tc_error_set(err, "%s: image is %" PRIu32 "x%" PRIu32 " (height x width), larger than "
                          "the %dx%d limit",
                     path, h, w, TC_PNG_MAX_DIM, TC_PNG_MAX_DIM);
        goto done;
    }
    if (fseek(j.fp, 8, SEEK_SET) != 0) {
        tc_error_set(err, "%s: cannot seek: %s", path, strerror(errno));
        goto done;
    }

    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_png_error, on_png_warning);
    if (j.png)
        j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        tc_error_set(err, "%s: out of memory for the PNG decoder", path);
        goto done;
    }
    if (png_decode(&j)) {
        if (j.size_mismatch)
            tc_error_set(err, "%s: image is %" PRIu32 "x%" PRIu32 " (height x width) but %dx%d "
                              "was expected",
                         path, j.h, j.w, want_h, want_w);
        else
            tc_error_set(err, "%s: corrupt PNG: %s", path, j.msg);
        goto done;
    }
    /* Bytes after IEND are no part of the image: a file that holds them
     * is damaged or two files glued together, like an oversized IDX file. */
    long extra = 0;
    while (fgetc(j.fp) != EOF && extra < (1L << 20))
        extra++;
    if (extra > 0) {
        tc_error_set(err, "%s: corrupt PNG: %s%ld bytes after the IEND chunk that ends the image",
                     path, extra >= (1L << 20) ? "more than " : "", extra);
        goto done;
    }
    if (!dst) {
        dst = malloc((size_t)channels * j.h * j.w);
        if (!dst) {
            tc_error_set(err, "%s: out of memory", path);
            goto done;
        }
        *alloc = dst;
    }
    png_convert(&j, channels, dst);
    if (out_h)
        *out_h = (int)j.h;
    if (out_w)
        *out_w = (int)j.w;
    rc = 0;
done:
    if (j.png)
        png_destroy_read_struct(&j.png, j.info ? &j.info : NULL, NULL);
    free(j.rows);
    free(j.raw);
    fclose(j.fp);
    return rc;
}

int tc_png_load(const char *path, int channels, int height, int width, uint8_t *out,
                tc_error *err)
{
    return tc_image_decode(png_load, path, channels, height, width, out, err);
}

int tc_png_load_any(const char *path, int channels, uint8_t **pixels, int *height, int *width,
                    tc_error *err)
{
    return tc_image_decode_any(png_load, path, channels, pixels, height, width, err);
}
