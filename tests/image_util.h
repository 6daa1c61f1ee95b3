/* Helpers for the data tests: paths under the test's temporary folder, and
 * PNG and JPEG files written with libpng and libjpeg at test time. */
#ifndef TC_IMAGE_UTIL_H
#define TC_IMAGE_UTIL_H

#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "testutil.h"

/* A model of 1x6x6 gray images in 3 classes, one Linear layer: it learns
 * images told apart by their gray level in a few epochs. */
#define IU_LEVELS_MODEL                                                                            \
    "{\"name\":\"levels\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,6,6],"                      \
    "\"mean\":0.5,\"std\":0.3},{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"             \
    "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"                  \
    "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"                                  \
    "\"params\":{\"out_features\":3}},"                                                            \
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"         \
    "\"output\":\"fc\",\"loss\":\"loss\","                                                         \
    "\"training\":{\"epochs\":3,\"batch_size\":4,\"optimizer\":\"adam\",\"lr\":0.01}}"

/* dir/name under the test's temporary folder; static buffer rotated among 16. */
static inline const char *iu_path(const char *fmt, ...) TC_PRINTF(1, 2);
static inline const char *iu_path(const char *fmt, ...)
{
    static char bufs[16][512];
    static int next;
    char *p = bufs[next++ % 16];
    char name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(p, 512, "%s/%s", tcu_tmpdir(), name);
    return p;
}

static inline void iu_mkdir(const char *path)
{
    if (mkdir(path, 0755) != 0) {
        perror(path);
        abort();
    }
}

static inline void iu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len))
        abort();
    fclose(f);
}

/* The whole file; *len its size. Owner: the caller. */
static inline uint8_t *iu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Deterministic pseudo-random bytes. */
static inline void iu_noise(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* CHW (c planes) to interleaved HWC, and back. */
static inline void iu_chw_to_hwc(const uint8_t *chw, int c, int h, int w, uint8_t *hwc)
{
    for (int k = 0; k < c; k++)
        for (int i = 0; i < h * w; i++)
            hwc[(size_t)i * c + k] = chw[(size_t)k * h * w + i];
}

/* libpng's error callback for test writers: a failure to write a fixture ends the program. */
static inline void iu_png_abort(png_structp png, png_const_charp msg)
{
    (void)png;
    fprintf(stderr, "libpng: %s\n", msg);
    abort();
}

/* Opens path for writing and a libpng writer on it (errors abort, so no setjmp is needed).
   Owner: the caller, via png_destroy_write_struct(&png, info) and fclose(*fp). */
static inline png_structp iu_png_writer(const char *path, FILE **fp, png_infop *info)
{
    *fp = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, iu_png_abort, NULL);
    *info = png ? png_create_info_struct(png) : NULL;
    if (!*fp || !*info)
        abort();
    png_init_io(png, *fp);
    return png;
}

/* An 8-bit PNG of c = 1 (gray) or 3 (RGB) channels from CHW pixels. */
static inline void iu_write_png(const char *path, int c, int h, int w, const uint8_t *chw)
{
    uint8_t *hwc = malloc((size_t)c * h * w);
    if (!hwc)
        abort();
    iu_chw_to_hwc(chw, c, h, w, hwc);
    FILE *fp;
    png_infop info;
    png_structp png = iu_png_writer(path, &fp, &info);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, hwc + (size_t)y * w * c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
    free(hwc);
}

typedef struct iu_jpeg {
    int components;      /* 1, 3 or 4 */
    J_COLOR_SPACE in;    /* JCS_GRAYSCALE, JCS_RGB or JCS_CMYK */
    J_COLOR_SPACE store; /* how the file stores it: JCS_YCbCr, JCS_RGB, JCS_YCCK, ... */
    int quality;
    int progressive;
    int subsample; /* 1: 4:2:0 chroma (libjpeg's default); 0: 4:4:4 */
    const jpeg_scan_info *scans; /* a scan script of n_scans, or NULL */
    int n_scans;
} iu_jpeg;

/* A JPEG of h x w interleaved pixels into memory (*len bytes; owner: the
 * caller, free()). */
static inline uint8_t *iu_jpeg_bytes(const iu_jpeg *s, int h, int w, const uint8_t *hwc,
                                     size_t *len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&ci, &buf, &n);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = s->components;
    ci.in_color_space = s->in;
    jpeg_set_defaults(&ci);
    if (s->store != JCS_UNKNOWN)
        jpeg_set_colorspace(&ci, s->store);
    jpeg_set_quality(&ci, s->quality ? s->quality : 95, TRUE);
    if (!s->subsample)
        for (int k = 0; k < ci.num_components; k++)
            ci.comp_info[k].h_samp_factor = ci.comp_info[k].v_samp_factor = 1;
    if (s->progressive)
        jpeg_simple_progression(&ci);
    if (s->scans) {
        ci.scan_info = s->scans;
        ci.num_scans = s->n_scans;
    }
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)hwc + (size_t)ci.next_scanline * w * s->components;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *len = n;
    return buf;
}

/* A JPEG of c = 1 (gray) or 3 (RGB) channels from CHW pixels, quality q,
 * 4:4:4 so that colours survive; returns its size. */
static inline size_t iu_write_jpeg(const char *path, int c, int h, int w, const uint8_t *chw,
                                   int q)
{
    uint8_t *hwc = malloc((size_t)c * h * w);
    iu_chw_to_hwc(chw, c, h, w, hwc);
    iu_jpeg s = {.components = c, .in = c == 1 ? JCS_GRAYSCALE : JCS_RGB, .store = JCS_UNKNOWN,
                 .quality = q};
    size_t n;
    uint8_t *b = iu_jpeg_bytes(&s, h, w, hwc, &n);
    iu_write(path, b, n);
    free(b);
    free(hwc);
    return n;
}

/* Largest absolute difference of two byte arrays. */
static inline int iu_max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

#endif
