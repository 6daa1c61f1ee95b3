/* Data sets: IDX (plain and gzipped) and MNIST, PNG files and folders,
 * tc_dataset_load and tc_dataset_fill_batch. */
#define _POSIX_C_SOURCE 200809L
#include "image_util.h" /* iu_path, iu_mkdir, iu_write, iu_read, iu_png_writer */

#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers -------------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t len, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) || gzclose(f) != Z_OK)
            abort();
        return;
    }
    iu_write(path, data, len);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX file: magic, ndims dims, then payload_len bytes of payload. */
static const char *write_idx(const char *name, uint32_t magic, const uint32_t *dims, int ndims,
                             const uint8_t *payload, size_t payload_len, int gz)
{
    size_t hlen = 4 + 4 * (size_t)ndims;
    uint8_t *buf = malloc(hlen + payload_len + 1);
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(buf + 4 + 4 * i, dims[i]);
    if (payload_len)
        memcpy(buf + hlen, payload, payload_len);
    const char *path = iu_path("%s", name);
    write_bytes(path, buf, hlen + payload_len, gz);
    free(buf);
    return path;
}

/* 2 images of 3x4 with pixel k of image i = 10*i + k, and 2 labels. */
static const uint8_t small_pixels[24] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                         10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};

/* ---- IDX ------------------------------------------------------------------ */

static void check_small(const char *ipath, const char *lpath)
{
    tc_error err = {{0}};
    tc_dataset ds;
    TCU_ASSERT_OK(tc_idx_load_images(ipath, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 2);
    CU_ASSERT_EQUAL(ds.channels, 1);
    CU_ASSERT_EQUAL(ds.height, 3);
    CU_ASSERT_EQUAL(ds.width, 4);
    CU_ASSERT_PTR_NULL(ds.labels);
    CU_ASSERT_EQUAL(memcmp(ds.pixels, small_pixels, 24), 0);
    CU_ASSERT_EQUAL(ds.pixels[23], 21);
    tc_dataset_free(&ds);
    CU_ASSERT_PTR_NULL(ds.pixels);

    uint8_t *labels;
    int64_t n;
    TCU_ASSERT_OK(tc_idx_load_labels(lpath, &labels, &n, &err), &err);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(labels[0], 9);
    CU_ASSERT_EQUAL(labels[1], 4);
    free(labels);
}

/* The small images and labels as IDX files PREFIX-images (path copied into
 * ipath, 512 bytes) and PREFIX-labels (returned), gzipped if gz. */
static const char *write_small(const char *prefix, int gz, char *ipath)
{
    uint32_t d[3] = {2, 3, 4}, dl[1] = {2};
    uint8_t lab[2] = {9, 4};
    char name[64];
    snprintf(name, sizeof name, "%s-images", prefix);
    snprintf(ipath, 512, "%s", write_idx(name, 0x803, d, 3, small_pixels, 24, gz));
    snprintf(name, sizeof name, "%s-labels", prefix);
    return write_idx(name, 0x801, dl, 1, lab, 2, gz);
}

static void test_idx_plain(void)
{
    char ipath[512];
    const char *lp = write_small("plain", 0, ipath);
    check_small(ipath, lp);
}

static void test_idx_gzip(void)
{
    /* Names without .gz: gzip is detected by content. */
    char ipath[512];
    const char *lp = write_small("gz", 1, ipath);
    size_t len;
    uint8_t *raw = iu_read(ipath, &len);
    CU_ASSERT(raw[0] == 0x1f && raw[1] == 0x8b); /* really compressed */
    free(raw);
    check_small(ipath, lp);
}

static void test_idx_wrong_magic(void)
{
    tc_error err;
    tc_dataset ds;
    uint32_t d[3] = {2, 3, 4}, dl[1] = {24};
    const char *p = write_idx("magic-labels-as-images", 0x801, dl, 1, small_pixels, 24, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "label file");
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, p);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "0x00000801");

    p = write_idx("magic-float", 0x0D03, d, 3, small_pixels, 24, 1);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "element type 0x0d");

    p = write_idx("magic-garbage", 0x89504e47, d, 3, small_pixels, 24, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "not an IDX file");
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "0x89504e47");

    uint8_t *labels = (uint8_t *)&err;
    int64_t n = 5;
    p = write_idx("magic-images-as-labels", 0x803, d, 3, small_pixels, 24, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_labels(p, &labels, &n, &err), &err, "image file");
    CU_ASSERT_PTR_NULL(labels);

    p = iu_path("empty-idx");
    write_bytes(p, "", 0, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "empty file");
}

/* A 2x3x3 image file with n_pixels bytes of pixels (18 expected), raw and
 * gzipped: refused with `why` in a message that names the file, leaving no
 * pixels behind; a label file that declares n_labels but holds 3: refused
 * with why_labels. */
static void expect_size_refused(const char *stem, size_t n_pixels, const char *why,
                                uint32_t n_labels, const char *why_labels)
{
    tc_error err;
    tc_dataset ds;
    uint32_t d[3] = {2, 3, 3};
    for (int gz = 0; gz < 2; gz++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", stem, gz ? ".gz" : "");
        const char *p = write_idx(name, 0x803, d, 3, small_pixels, n_pixels, gz);
        TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, why);
        TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, p);
        CU_ASSERT_PTR_NULL(ds.pixels);
    }
    uint32_t dl[1] = {n_labels};
    uint8_t *labels;
    int64_t n;
    char name[64];
    snprintf(name, sizeof name, "%s-labels", stem);
    const char *p = write_idx(name, 0x801, dl, 1, small_pixels, 3, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_labels(p, &labels, &n, &err), &err, why_labels);
}

static void test_idx_truncated(void)
{
    tc_error err;
    tc_dataset ds;
    expect_size_refused("trunc", 10,
                        "truncated: header says 2 images of 3x3 (18 bytes) but only 10 bytes "
                        "follow",
                        5, "header says 5 labels (5 bytes) but only 3 bytes follow");

    /* The header itself cut short (magic + one and a half dimensions). */
    uint8_t head[10] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0};
    const char *p = iu_path("trunc-header");
    write_bytes(p, head, sizeof head, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "truncated: only 10 bytes");

    /* A gzip stream cut in the middle: an error naming the file, no crash. */
    uint8_t big[4000];
    for (int i = 0; i < 4000; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 24);
    uint32_t db[3] = {10, 20, 20};
    p = write_idx("cut.gz", 0x803, db, 3, big, 4000, 1);
    size_t len;
    uint8_t *raw = iu_read(p, &len);
    char cut[512];
    snprintf(cut, sizeof cut, "%s", iu_path("cut-half.gz"));
    write_bytes(cut, raw, len / 2, 0);
    free(raw);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(cut, &ds, &err), &err, cut);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "truncated"));
}

static void test_idx_oversized(void)
{
    expect_size_refused("over", 20,
                        "oversized: header says 2 images of 3x3 (18 bytes) but 20 bytes follow",
                        2, "oversized");
}

static void test_idx_absurd_dims(void)
{
    tc_error err;
    tc_dataset ds;
    /* (2^32-1)^3 does not fit 64 bits. */
    uint32_t d1[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    const char *p = write_idx("overflow", 0x803, d1, 3, small_pixels, 24, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "overflow");
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, p);
    /* 60000 x 1000 x 1000 fits 64 bits but is 6e10 bytes: refused before any
     * allocation (an attempt would fail under the sanitizers). */
    uint32_t d2[3] = {60000, 1000, 1000};
    p = write_idx("huge", 0x803, d2, 3, small_pixels, 24, 1);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "refusing");
    /* Just over the 2^31-byte limit. */
    uint32_t d3[3] = {2, 32768, 32769};
    p = write_idx("huge2", 0x803, d3, 3, small_pixels, 24, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "2147549184 bytes");
    /* Empty and zero-size images. */
    uint32_t d4[3] = {0, 28, 28}, d5[3] = {3, 0, 28};
    p = write_idx("zero-count", 0x803, d4, 3, NULL, 0, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "no data");
    p = write_idx("zero-rows", 0x803, d5, 3, NULL, 0, 0);
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, "invalid image size");
}

static void test_idx_missing(void)
{
    tc_error err;
    tc_dataset ds;
    const char *p = iu_path("no-such-file");
    TCU_ASSERT_FAILS_WITH(tc_idx_load_images(p, &ds, &err), &err, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "No such file"));

    const char *dir = iu_path("mnist-empty");
    iu_mkdir(dir);
    TCU_ASSERT_FAILS_WITH(tc_mnist_load(dir, "train", &ds, &err), &err,
                          "train-images-idx3-ubyte.gz");
    TCU_ASSERT_FAILS_WITH(tc_mnist_load(dir, "test", &ds, &err), &err, "t10k-images-idx3-ubyte");
    TCU_ASSERT_FAILS_WITH(tc_mnist_load(dir, "valid", &ds, &err), &err, "unknown MNIST split");

    /* Images present, labels missing. */
    uint32_t d[3] = {2, 3, 4};
    write_idx("mnist-empty/t10k-images-idx3-ubyte.gz", 0x803, d, 3, small_pixels, 24, 1);
    TCU_ASSERT_FAILS_WITH(tc_mnist_load(dir, "test", &ds, &err), &err, "t10k-labels-idx1-ubyte");
}

static void test_mnist_small_and_mismatch(void)
{
    tc_error err;
    tc_dataset ds;
    const char *dir = iu_path("mnist-small");
    iu_mkdir(dir);
    uint32_t d[3] = {2, 3, 4}, dl[1] = {2}, dl3[1] = {3};
    uint8_t lab[3] = {9, 4, 1};
    /* gzipped images, plain labels: both forms are found. */
    write_idx("mnist-small/train-images-idx3-ubyte.gz", 0x803, d, 3, small_pixels, 24, 1);
    write_idx("mnist-small/train-labels-idx1-ubyte", 0x801, dl, 1, lab, 2, 0);
    TCU_ASSERT_OK(tc_mnist_load(dir, "train", &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 2);
    CU_ASSERT_EQUAL(ds.height, 3);
    CU_ASSERT_EQUAL(ds.width, 4);
    CU_ASSERT_EQUAL(ds.labels[0], 9);
    CU_ASSERT_EQUAL(ds.labels[1], 4);
    CU_ASSERT_EQUAL(ds.pixels[12], 10);
    tc_dataset_free(&ds);

    /* tc_dataset_load picks MNIST and checks the size asked for. */
    TCU_ASSERT_OK(tc_dataset_load(dir, "train", 1, 3, 4, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 2);
    tc_dataset_free(&ds);
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(dir, "train", 1, 28, 28, &ds, &err), &err, "1x3x4");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1x28x28"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "train-images-idx3-ubyte.gz"));
    CU_ASSERT_PTR_NULL(ds.pixels);

    /* 2 images, 3 labels. */
    write_idx("mnist-small/t10k-images-idx3-ubyte", 0x803, d, 3, small_pixels, 24, 0);
    write_idx("mnist-small/t10k-labels-idx1-ubyte.gz", 0x801, dl3, 1, lab, 3, 1);
    TCU_ASSERT_FAILS_WITH(tc_mnist_load(dir, "test", &ds, &err), &err, "count mismatch");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t10k-images-idx3-ubyte holds 2 images"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t10k-labels-idx1-ubyte.gz holds 3 labels"));
    CU_ASSERT_PTR_NULL(ds.pixels);
}

/* ---- real MNIST (must be present: these fail, not skip, without it) ------- */

static void check_class_counts(const tc_dataset *ds, const int64_t *want)
{
    int64_t counts[256] = {0};
    for (int64_t i = 0; i < ds->count; i++)
        counts[ds->labels[i]]++;
    for (int c = 0; c < 10; c++)
        CU_ASSERT_EQUAL(counts[c], want[c]);
}

static void test_mnist_real_train(void)
{
    tc_error err;
    tc_dataset ds;
    TCU_ASSERT_OK(tc_dataset_load(tcu_data_dir(), "train", 1, 28, 28, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 60000);
    CU_ASSERT_EQUAL(ds.channels, 1);
    CU_ASSERT_EQUAL(ds.height, 28);
    CU_ASSERT_EQUAL(ds.width, 28);
    static const uint8_t first[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};
    CU_ASSERT_EQUAL(memcmp(ds.labels, first, 10), 0);
    static const int64_t counts[10] = {5923, 6742, 5958, 6131, 5842,
                                       5421, 5918, 6265, 5851, 5949};
    check_class_counts(&ds, counts);
    uint64_t sum = 0;
    int64_t n = ds.count * 28 * 28;
    for (int64_t i = 0; i < n; i++)
        sum += ds.pixels[i];
    double mean = (double)sum / (double)n / 255.0;
    CU_ASSERT(fabs(mean - 0.1307) <= 0.0005);
    tc_dataset_free(&ds);
}

static void test_mnist_real_test(void)
{
    tc_error err;
    tc_dataset ds;
    TCU_ASSERT_OK(tc_mnist_load(tcu_data_dir(), "test", &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 10000);
    CU_ASSERT_EQUAL(ds.height, 28);
    CU_ASSERT_EQUAL(ds.width, 28);
    static const uint8_t first[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    CU_ASSERT_EQUAL(memcmp(ds.labels, first, 10), 0);
    static const int64_t counts[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    check_class_counts(&ds, counts);
    tc_dataset_free(&ds);
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(tcu_data_dir(), "test", 3, 32, 32, &ds, &err), &err,
                          "1x28x28");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "3x32x32"));
}

/* ---- PNG writing ---------------------------------------------------------- */

typedef struct png_spec {
    int w, h, ctype, depth;
    const uint8_t *rows; /* packed PNG rows, big-endian 16-bit samples */
    const png_color *palette;
    int npalette;
    const uint8_t *trans; /* palette alpha */
    int ntrans;
    int interlace;
    const char *text; /* a tEXt chunk, or NULL */
} png_spec;

static int spec_channels(int ctype)
{
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;
    }
}

static void write_png(const char *path, const png_spec *s)
{
    FILE *fp;
    png_infop info;
    png_structp png = iu_png_writer(path, &fp, &info);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->ctype,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trans)
        png_set_tRNS(png, info, s->trans, s->ntrans, NULL);
    if (s->text) {
        png_text t = {0};
        t.compression = PNG_TEXT_COMPRESSION_NONE;
        t.key = (char *)"Comment";
        t.text = (char *)s->text;
        png_set_text(png, info, &t, 1);
    }
    size_t rowbytes = ((size_t)s->w * (size_t)spec_channels(s->ctype) * (size_t)s->depth + 7) / 8;
    png_bytep *rows = malloc(sizeof *rows * (size_t)s->h);
    for (int y = 0; y < s->h; y++)
        rows[y] = (png_bytep)s->rows + (size_t)y * rowbytes;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(fp);
}

/* Loads path as gray and as RGB and compares against the expected bytes. */
static void expect_png(const char *path, int h, int w, const uint8_t *gray, const uint8_t *rgb)
{
    tc_error err;
    int n = h * w;
    uint8_t *buf = malloc((size_t)(3 * n));
    TCU_ASSERT_OK(tc_png_load(path, 1, h, w, buf, &err), &err);
    for (int i = 0; i < n; i++) {
        if (buf[i] != gray[i])
            fprintf(stderr, "\n  %s gray[%d] = %d, expected %d", path, i, buf[i], gray[i]);
        CU_ASSERT_EQUAL(buf[i], gray[i]);
    }
    TCU_ASSERT_OK(tc_png_load(path, 3, h, w, buf, &err), &err);
    for (int i = 0; i < 3 * n; i++) {
        if (buf[i] != rgb[i])
            fprintf(stderr, "\n  %s rgb[%d] = %d, expected %d", path, i, buf[i], rgb[i]);
        CU_ASSERT_EQUAL(buf[i], rgb[i]);
    }
    free(buf);
}

/* RGB expectation (CHW) for a gray image. */
static void gray_to_chw(const uint8_t *g, int n, uint8_t *rgb)
{
    for (int c = 0; c < 3; c++)
        memcpy(rgb + c * n, g, (size_t)n);
}

/* A w x h gray PNG of the given depth (rows packed as PNG stores them,
 * Adam7-interlaced if asked), written to name: loads as want, the same in
 * all three channels. Returns its path (iu_path's buffer). */
static const char *expect_gray_png(const char *name, int w, int h, int depth, int interlace,
                                   const uint8_t *rows, const uint8_t *want)
{
    png_spec s = {.w = w, .h = h, .ctype = PNG_COLOR_TYPE_GRAY, .depth = depth, .rows = rows,
                  .interlace = interlace};
    const char *p = iu_path(name);
    write_png(p, &s);
    uint8_t rgb[3 * 64];
    CU_ASSERT_FATAL(w * h <= 64);
    gray_to_chw(want, w * h, rgb);
    expect_png(p, h, w, want, rgb);
    return p;
}

/* ---- PNG tests ------------------------------------------------------------ */

static void test_png_gray8(void)
{
    const uint8_t px[6] = {0, 1, 127, 128, 254, 255};
    const char *p = expect_gray_png("gray8.png", 3, 2, 8, 0, px, px);

    tc_error err;
    uint8_t *any;
    int h = 0, w = 0;
    TCU_ASSERT_OK(tc_png_load_any(p, 1, &any, &h, &w, &err), &err);
    CU_ASSERT_EQUAL(h, 2);
    CU_ASSERT_EQUAL(w, 3);
    CU_ASSERT_EQUAL(memcmp(any, px, 6), 0);
    free(any);
    TCU_ASSERT_FAILS_WITH(tc_png_load_any(p, 2, &any, &h, &w, &err), &err, "2 channels");
    CU_ASSERT_PTR_NULL(any);
}

static void test_png_gray16(void)
{
    /* 16-bit samples, big-endian: v -> round(v * 255 / 65535). */
    const uint8_t px[12] = {0x00, 0x00, 0x00, 0xFF, 0x12, 0x34,
                            0x80, 0x00, 0x7F, 0x80, 0xFF, 0xFF};
    /* 0, 255*255/65535 = 0.99, 4660*255/65535 = 18.13, 32768*255/65535 =
     * 127.50, 32640*255/65535 = 127.003, 255. */
    const uint8_t want[6] = {0, 1, 18, 128, 127, 255};
    expect_gray_png("gray16.png", 2, 3, 16, 0, px, want);
}

static void test_png_low_bit_gray(void)
{
    /* 2-bit gray, 4 pixels per row: 0 1 2 3 / 3 2 1 0 -> x85. */
    const uint8_t px2[2] = {0x1B, 0xE4};
    const uint8_t want2[8] = {0, 85, 170, 255, 255, 170, 85, 0};
    expect_gray_png("gray2.png", 4, 2, 2, 0, px2, want2);

    /* 1-bit gray, 3 pixels wide (row padded to a byte): 101 / 010. */
    const uint8_t px1[2] = {0xA0, 0x40};
    const uint8_t want1[6] = {255, 0, 255, 0, 255, 0};
    expect_gray_png("gray1.png", 3, 2, 1, 0, px1, want1);

    /* 4-bit gray: v * 17. */
    const uint8_t px4[2] = {0x0F, 0x7A};
    const uint8_t want4[4] = {0, 255, 119, 170};
    expect_gray_png("gray4.png", 2, 2, 4, 0, px4, want4);
}

static void test_png_palette(void)
{
    const png_color pal[4] = {{10, 20, 30}, {200, 100, 50}, {0, 0, 255}, {255, 255, 255}};
    /* 2-bit indices, 4 wide x 1 high: 0 1 2 3. */
    const uint8_t px[1] = {0x1B};
    png_spec s = {.w = 4, .h = 1, .ctype = PNG_COLOR_TYPE_PALETTE, .depth = 2, .rows = px,
                  .palette = pal, .npalette = 4};
    const char *p = iu_path("palette.png");
    write_png(p, &s);
    /* luma: (2990 + 11740 + 3420 + 500) / 1000 = 18; (59800 + 58700 + 5700 +
     * 500) / 1000 = 124; (29070 + 500) / 1000 = 29; 255. */
    const uint8_t gray[4] = {18, 124, 29, 255};
    const uint8_t rgb[12] = {10, 200, 0, 255, 20, 100, 0, 255, 30, 50, 255, 255};
    expect_png(p, 1, 4, gray, rgb);

    /* With tRNS: entry 1 transparent, entry 2 alpha 128, composited on black:
     * 255 * 128 / 255 = 128; gray (114 * 128 + 500) / 1000 = 15. */
    const uint8_t trans[3] = {255, 0, 128};
    s.trans = trans;
    s.ntrans = 3;
    p = iu_path("palette-trns.png");
    write_png(p, &s);
    const uint8_t gray_t[4] = {18, 0, 15, 255};
    const uint8_t rgb_t[12] = {10, 0, 0, 255, 20, 0, 0, 255, 30, 0, 128, 255};
    expect_png(p, 1, 4, gray_t, rgb_t);
}

static void test_png_rgb_rgba_ga(void)
{
    /* RGB 3x1: red, green, blue. */
    const uint8_t rgbpx[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    png_spec s = {.w = 3, .h = 1, .ctype = PNG_COLOR_TYPE_RGB, .depth = 8, .rows = rgbpx};
    const char *p = iu_path("rgb.png");
    write_png(p, &s);
    /* 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1 */
    const uint8_t gray[3] = {76, 150, 29};
    const uint8_t chw[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    expect_png(p, 1, 3, gray, chw);

    /* RGBA 2x2: opaque, transparent, alpha 51, alpha 128. */
    const uint8_t rgba[16] = {100, 150, 200, 255, 100, 150, 200, 0,
                              255, 255, 255, 51,  10,  200, 255, 128};
    png_spec s4 = {.w = 2, .h = 2, .ctype = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8, .rows = rgba};
    p = iu_path("rgba.png");
    write_png(p, &s4);
    /* pixel 0 gray: (29900 + 88050 + 22800 + 500) / 1000 = 141.
     * pixel 2: 255 * 51 / 255 = 51 in each channel -> gray 51.
     * pixel 3: 10*128/255 = 5.02 -> 5, 200*128/255 = 100.4 -> 100,
     * 255 -> 128; gray (1495 + 58700 + 14592 + 500) / 1000 = 75. */
    const uint8_t gray4[4] = {141, 0, 51, 75};
    const uint8_t chw4[12] = {100, 0, 51, 5, 150, 0, 51, 100, 200, 0, 51, 128};
    expect_png(p, 2, 2, gray4, chw4);

    /* Gray + alpha 3x1: (200, 255), (200, 0), (100, 128) -> 200, 0, 50. */
    const uint8_t ga[6] = {200, 255, 200, 0, 100, 128};
    png_spec s2 = {.w = 3, .h = 1, .ctype = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8, .rows = ga};
    p = iu_path("ga.png");
    write_png(p, &s2);
    const uint8_t gray2[3] = {200, 0, 50};
    uint8_t rgb2[9];
    gray_to_chw(gray2, 3, rgb2);
    expect_png(p, 1, 3, gray2, rgb2);

    /* 16-bit RGB, one pixel: 0x00FF 0x8000 0xFFFF -> 1, 128, 255;
     * gray (299 + 75136 + 29070 + 500) / 1000 = 105. */
    const uint8_t rgb16[6] = {0x00, 0xFF, 0x80, 0x00, 0xFF, 0xFF};
    png_spec s16 = {.w = 1, .h = 1, .ctype = PNG_COLOR_TYPE_RGB, .depth = 16, .rows = rgb16};
    p = iu_path("rgb16.png");
    write_png(p, &s16);
    const uint8_t gray16[1] = {105};
    const uint8_t chw16[3] = {1, 128, 255};
    expect_png(p, 1, 1, gray16, chw16);
}

static void test_png_interlaced(void)
{
    enum { W = 9, H = 7 };
    uint8_t px[W * H];
    for (int i = 0; i < W * H; i++)
        px[i] = (uint8_t)(3 * i + 1);
    expect_gray_png("adam7.png", W, H, 8, 1, px, px);
}

static void test_png_wrong_size(void)
{
    const uint8_t px[6] = {1, 2, 3, 4, 5, 6};
    png_spec s = {.w = 3, .h = 2, .ctype = PNG_COLOR_TYPE_GRAY, .depth = 8, .rows = px};
    const char *p = iu_path("small.png");
    write_png(p, &s);
    tc_error err;
    uint8_t buf[28 * 28];
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, 28, 28, buf, &err), &err, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2x3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "28x28"));
    /* Transposed is still wrong. */
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, 3, 2, buf, &err), &err, "3x2");
}

/* An IHDR-only file claiming w x h (valid CRC), so the size check is what
 * stops it. */
static const char *write_ihdr_only(const char *name, uint32_t w, uint32_t h)
{
    uint8_t b[8 + 25];
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    put_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    b[24] = 8; /* depth */
    b[25] = 0; /* gray */
    b[26] = b[27] = b[28] = 0;
    put_be32(b + 29, (uint32_t)crc32(crc32(0, NULL, 0), b + 12, 17));
    const char *p = iu_path("%s", name);
    write_bytes(p, b, sizeof b, 0);
    return p;
}

static void test_png_corrupt(void)
{
    enum { W = 16, H = 16 };
    uint8_t px[W * H];
    for (int i = 0; i < W * H; i++)
        px[i] = (uint8_t)(i * 37);
    png_spec s = {.w = W, .h = H, .ctype = PNG_COLOR_TYPE_GRAY, .depth = 8, .rows = px};
    char good[512];
    snprintf(good, sizeof good, "%s", iu_path("good16.png"));
    write_png(good, &s);
    size_t len;
    uint8_t *raw = iu_read(good, &len);
    tc_error err;
    uint8_t buf[3 * W * H];

    /* Truncated at several points: header, inside IHDR, inside IDAT. */
    const size_t cuts[] = {4, 8, 20, 40, len / 2, len - 13};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        const char *p = iu_path("cut%zu.png", i);
        write_bytes(p, raw, cuts[i], 0);
        TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, p);
        uint8_t *any = buf;
        int h, w;
        TCU_ASSERT_FAILS_WITH(tc_png_load_any(p, 3, &any, &h, &w, &err), &err, p);
        CU_ASSERT_PTR_NULL(any);
    }
    const char *p = iu_path("cut-idat.png");
    write_bytes(p, raw, len / 2, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, "truncated");

    /* Garbage bytes, and garbage after a valid signature. */
    uint8_t junk[300];
    for (int i = 0; i < 300; i++)
        junk[i] = (uint8_t)(i * 2654435761u >> 13);
    p = iu_path("junk.png");
    write_bytes(p, junk, sizeof junk, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, "not a PNG");
    memcpy(junk, raw, 8);
    p = iu_path("sig-junk.png");
    write_bytes(p, junk, sizeof junk, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, p);

    /* Flipped bits in the compressed data (IDAT CRC then fails). */
    uint8_t *bad = malloc(len);
    memcpy(bad, raw, len);
    for (size_t i = 0; i + 4 < len; i++)
        if (memcmp(bad + i, "IDAT", 4) == 0) {
            bad[i + 8] ^= 0x55;
            bad[i + 9] ^= 0xAA;
            break;
        }
    p = iu_path("flipped.png");
    write_bytes(p, bad, len, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, "corrupt PNG");
    free(bad);

    p = iu_path("empty.png");
    write_bytes(p, "", 0, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, "empty file");
    p = iu_path("missing.png");
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, H, W, buf, &err), &err, "cannot open");

    /* Absurd sizes are refused before decoding. */
    p = write_ihdr_only("huge.png", 20000, 30);
    uint8_t *any;
    int h, w;
    TCU_ASSERT_FAILS_WITH(tc_png_load_any(p, 1, &any, &h, &w, &err), &err, "30x20000");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "16384x16384"));
    p = write_ihdr_only("tall.png", 1, 16385);
    TCU_ASSERT_FAILS_WITH(tc_png_load_any(p, 1, &any, &h, &w, &err), &err, "limit");
    free(raw);
}

/* A warning-only problem (bad CRC in an ancillary chunk) loads fine and
 * prints nothing. */
static void test_png_warnings_silent(void)
{
    const uint8_t px[4] = {9, 8, 7, 6};
    png_spec s = {.w = 2, .h = 2, .ctype = PNG_COLOR_TYPE_GRAY, .depth = 8, .rows = px,
                  .text = "written by test_dataset"};
    char p[512];
    snprintf(p, sizeof p, "%s", iu_path("text.png"));
    write_png(p, &s);
    size_t len;
    uint8_t *raw = iu_read(p, &len);
    int found = 0;
    for (size_t i = 4; i + 4 < len; i++)
        if (memcmp(raw + i, "tEXt", 4) == 0) {
            uint32_t n = (uint32_t)raw[i - 4] << 24 | (uint32_t)raw[i - 3] << 16 |
                         (uint32_t)raw[i - 2] << 8 | raw[i - 1];
            raw[i + 4 + n] ^= 0xFF; /* the chunk's CRC */
            found = 1;
            break;
        }
    CU_ASSERT_FATAL(found);
    write_bytes(p, raw, len, 0);
    free(raw);

    char log[512];
    snprintf(log, sizeof log, "%s", iu_path("stderr.txt"));
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    tc_error err = {{0}};
    uint8_t buf[4];
    int rc = tc_png_load(p, 1, 2, 2, buf, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(memcmp(buf, px, 4), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(log, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
}

/* ---- PNG folders ---------------------------------------------------------- */

/* A 2x2 gray image whose pixels are v, v+1, v+2, v+3. */
static void write_tagged(const char *path, int v)
{
    uint8_t px[4] = {(uint8_t)v, (uint8_t)(v + 1), (uint8_t)(v + 2), (uint8_t)(v + 3)};
    png_spec s = {.w = 2, .h = 2, .ctype = PNG_COLOR_TYPE_GRAY, .depth = 8, .rows = px};
    write_png(path, &s);
}

static void test_folder_labelled(void)
{
    iu_mkdir(iu_path("lab"));
    iu_mkdir(iu_path("lab/3"));
    iu_mkdir(iu_path("lab/10"));
    iu_mkdir(iu_path("lab/0"));
    iu_mkdir(iu_path("lab/7")); /* empty label folder: fine */
    write_tagged(iu_path("lab/3/img10.png"), 40);
    write_tagged(iu_path("lab/3/img2.png"), 30);
    write_tagged(iu_path("lab/10/a.PNG"), 50);
    write_tagged(iu_path("lab/0/z.png"), 20);
    write_bytes(iu_path("lab/3/notes.txt"), "x", 1, 0);
    write_bytes(iu_path("lab/0/.hidden.png"), "x", 1, 0);
    iu_mkdir(iu_path("lab/.cache"));

    tc_error err;
    tc_dataset ds;
    TCU_ASSERT_OK(tc_png_folder_load(iu_path("lab"), 1, 2, 2, &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.count, 4);
    CU_ASSERT_EQUAL(ds.channels, 1);
    CU_ASSERT_EQUAL(ds.height, 2);
    CU_ASSERT_EQUAL(ds.width, 2);
    /* label order 0, 3, 3, 10; inside 3: img2 before img10. */
    const uint8_t labels[4] = {0, 3, 3, 10};
    const uint8_t first[4] = {20, 30, 40, 50};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(ds.labels[i], labels[i]);
        CU_ASSERT_EQUAL(ds.pixels[4 * i], first[i]);
        CU_ASSERT_EQUAL(ds.pixels[4 * i + 3], first[i] + 3);
    }
    tc_dataset_free(&ds);

    /* Same folder as RGB. */
    TCU_ASSERT_OK(tc_png_folder_load(iu_path("lab"), 3, 2, 2, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.channels, 3);
    CU_ASSERT_EQUAL(ds.pixels[12 + 4 + 1], 31); /* image 1, green plane, pixel 1 */
    tc_dataset_free(&ds);

    /* Wrong size names the file. */
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("lab"), 1, 3, 3, &ds, &err), &err,
                          "lab/0/z.png");
    CU_ASSERT_PTR_NULL(ds.pixels);

    /* Bad folder names. */
    iu_mkdir(iu_path("lab/cat"));
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("lab"), 1, 2, 2, &ds, &err), &err,
                          "lab/cat: folder name is not a label");
    rmdir(iu_path("lab/cat"));
    iu_mkdir(iu_path("lab/256"));
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("lab"), 1, 2, 2, &ds, &err), &err,
                          "lab/256");
    rmdir(iu_path("lab/256"));

    /* A corrupt image names its file. */
    write_bytes(iu_path("lab/10/b.png"), "\x89PNG\r\n\x1a\nbroken", 14, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("lab"), 1, 2, 2, &ds, &err), &err,
                          "lab/10/b.png");
    unlink(iu_path("lab/10/b.png"));

    /* A stray top-level image mixes the layouts. */
    write_tagged(iu_path("lab/idx-0-label-1.png"), 0);
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("lab"), 1, 2, 2, &ds, &err), &err, "mixes");
    unlink(iu_path("lab/idx-0-label-1.png"));
    TCU_ASSERT_OK(tc_png_folder_load(iu_path("lab"), 1, 2, 2, &ds, &err), &err);
    tc_dataset_free(&ds);
}

static void test_folder_flat(void)
{
    iu_mkdir(iu_path("flat"));
    write_tagged(iu_path("flat/idx-10-label-1.png"), 100);
    write_tagged(iu_path("flat/idx-2-label-7.png"), 60);
    write_tagged(iu_path("flat/idx-0-label-3.png"), 10);
    write_tagged(iu_path("flat/idx-9-label-255.png"), 90);
    write_bytes(iu_path("flat/README"), "x", 1, 0);

    tc_error err;
    tc_dataset ds;
    TCU_ASSERT_OK(tc_png_folder_load(iu_path("flat"), 1, 2, 2, &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.count, 4);
    const uint8_t labels[4] = {3, 7, 255, 1}; /* idx 0, 2, 9, 10 */
    const uint8_t first[4] = {10, 60, 90, 100};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(ds.labels[i], labels[i]);
        CU_ASSERT_EQUAL(ds.pixels[4 * i], first[i]);
    }
    tc_dataset_free(&ds);

    /* tc_dataset_load falls back to dir/<split> as a PNG folder. */
    iu_mkdir(iu_path("pngset"));
    iu_mkdir(iu_path("pngset/test"));
    write_tagged(iu_path("pngset/test/idx-1-label-4.png"), 7);
    TCU_ASSERT_OK(tc_dataset_load(iu_path("pngset"), "test", 1, 2, 2, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 1);
    CU_ASSERT_EQUAL(ds.labels[0], 4);
    CU_ASSERT_EQUAL(ds.pixels[1], 8);
    tc_dataset_free(&ds);
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(iu_path("pngset"), "test", 1, 28, 28, &ds, &err), &err,
                          "28x28");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "idx-1-label-4.png"));
    /* Nothing for train: the message lists what was looked for. */
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(iu_path("pngset"), "train", 1, 2, 2, &ds, &err), &err,
                          "train-images-idx3-ubyte");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "pngset/train"));

    /* Errors. */
    write_tagged(iu_path("flat/idx-2-label-8.png"), 0);
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("flat"), 1, 2, 2, &ds, &err), &err,
                          "duplicate image index 2");
    unlink(iu_path("flat/idx-2-label-8.png"));
    write_tagged(iu_path("flat/idx-3-label-256.png"), 0);
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("flat"), 1, 2, 2, &ds, &err), &err,
                          "flat/idx-3-label-256.png: file name does not match");
    unlink(iu_path("flat/idx-3-label-256.png"));
    write_tagged(iu_path("flat/photo.png"), 0);
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("flat"), 1, 2, 2, &ds, &err), &err,
                          "flat/photo.png");
    unlink(iu_path("flat/photo.png"));

    iu_mkdir(iu_path("nothing"));
    write_bytes(iu_path("nothing/a.txt"), "x", 1, 0);
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("nothing"), 1, 2, 2, &ds, &err), &err,
                          "no PNG images");
    TCU_ASSERT_FAILS_WITH(tc_png_folder_load(iu_path("not-there"), 1, 2, 2, &ds, &err), &err,
                          "not-there: cannot open folder");
}

/* ---- fill_batch ------------------------------------------------------------ */

static void test_fill_batch(void)
{
    uint8_t pixels[3 * 4] = {0, 255, 51, 102, /* image 0 */
                             1, 2, 3, 4,      /* image 1 */
                             204, 153, 0, 255 /* image 2 */};
    uint8_t labels[3] = {6, 1, 9};
    tc_dataset ds = {.count = 3, .channels = 1, .height = 2, .width = 2, .pixels = pixels,
                     .labels = labels};
    int64_t idx[3] = {2, 0, 2};
    float img[12], lab[3];
    /* (v/255 - 0.5) / 0.25: 0 -> -2, 255 -> 2, 51 -> -1.2, 102 -> -0.4,
     * 153 -> 0.4, 204 -> 1.2. */
    tc_dataset_fill_batch(&ds, idx, 3, 0.5f, 0.25f, img, lab);
    const float want[12] = {1.2f, 0.4f, -2.0f, 2.0f, -2.0f, 2.0f, -1.2f, -0.4f,
                            1.2f, 0.4f, -2.0f, 2.0f};
    for (int i = 0; i < 12; i++)
        CU_ASSERT_DOUBLE_EQUAL(img[i], want[i], 1e-6);
    CU_ASSERT_EQUAL(lab[0], 9.0f);
    CU_ASSERT_EQUAL(lab[1], 6.0f);
    CU_ASSERT_EQUAL(lab[2], 9.0f);

    /* MNIST normalisation of 255: (1 - 0.1307) / 0.3081 = 2.821487. */
    int64_t one = 0;
    float out[4];
    tc_dataset_fill_batch(&ds, &one, 1, 0.1307f, 0.3081f, out, NULL);
    CU_ASSERT_DOUBLE_EQUAL(out[1], 2.821487, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(out[0], -0.424213, 1e-5); /* -0.1307 / 0.3081 */
}

int main(void)
{
    static const tcu_test tests[] = {
        {"idx plain", test_idx_plain},
        {"idx gzip", test_idx_gzip},
        {"idx wrong magic", test_idx_wrong_magic},
        {"idx truncated", test_idx_truncated},
        {"idx oversized", test_idx_oversized},
        {"idx absurd dims", test_idx_absurd_dims},
        {"idx missing files", test_idx_missing},
        {"mnist small + count mismatch", test_mnist_small_and_mismatch},
        {"mnist real train", test_mnist_real_train},
        {"mnist real test", test_mnist_real_test},
        {"png gray8", test_png_gray8},
        {"png gray16", test_png_gray16},
        {"png low-bit gray", test_png_low_bit_gray},
        {"png palette", test_png_palette},
        {"png rgb rgba gray+alpha", test_png_rgb_rgba_ga},
        {"png interlaced", test_png_interlaced},
        {"png wrong size", test_png_wrong_size},
        {"png corrupt", test_png_corrupt},
        {"png warnings silent", test_png_warnings_silent},
        {"folder labelled", test_folder_labelled},
        {"folder flat", test_folder_flat},
        {"fill batch", test_fill_batch},
        {NULL, NULL},
    };
    return tcu_run("dataset", tests);
}
