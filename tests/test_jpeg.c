/* JPEG reading (tc_jpeg_load, tc_jpeg_load_any, tc_image_load_any): every
 * file is made here with libjpeg, and what the loader returns is compared
 * with the same bytes decoded by libjpeg directly in the test (and with the
 * pixels the file was made from, within JPEG's loss); then hostile files. */
#define _POSIX_C_SOURCE 200809L
#include "image_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reference decoding, straight through libjpeg ------------------------ */

/* Decodes bytes into `space` (interleaved); *comps per pixel. Owner: caller. */
static uint8_t *ref_decode(const uint8_t *b, size_t n, J_COLOR_SPACE space, int *h, int *w,
                           int *comps, int *adobe)
{
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, b, (unsigned long)n);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = space;
    if (adobe)
        *adobe = ci.saw_Adobe_marker;
    jpeg_start_decompress(&ci);
    *h = (int)ci.output_height;
    *w = (int)ci.output_width;
    *comps = ci.output_components;
    size_t row = (size_t)*w * (size_t)*comps;
    uint8_t *px = malloc(row * (size_t)*h);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = px + row * ci.output_scanline;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return px;
}

/* Interleaved to planes. */
static void hwc_to_chw(const uint8_t *hwc, int c, int h, int w, uint8_t *chw)
{
    for (int k = 0; k < c; k++)
        for (int i = 0; i < h * w; i++)
            chw[(size_t)k * h * w + i] = hwc[(size_t)i * c + k];
}

/* A smooth RGB test picture (CHW): red across, green down, blue diagonal,
 * plus a little noise; far apart enough that a channel mix-up shows. */
static void picture(uint8_t *chw, int c, int h, int w, uint32_t seed)
{
    uint8_t noise[4096];
    iu_noise(noise, sizeof noise, seed);
    size_t plane = (size_t)h * w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = y * w + x, e = noise[i % 4096] % 5;
            chw[i] = (uint8_t)(20 + 200 * x / (w - 1) + e);
            if (c == 3) {
                chw[plane + i] = (uint8_t)(230 - 200 * y / (h - 1) - e);
                chw[2 * plane + i] = (uint8_t)(60 + 100 * (x + y) / (w + h - 2) + e);
            }
        }
}

/* Loads p both ways and checks it against the reference planes. */
static void expect_load(const char *p, int c, int h, int w, const uint8_t *want)
{
    tc_error err = {{0}};
    size_t n = (size_t)c * h * w;
    uint8_t *fixed = malloc(n), *any = NULL;
    int gh = 0, gw = 0;
    TCU_ASSERT_OK(tc_jpeg_load(p, c, h, w, fixed, &err), &err);
    CU_ASSERT_EQUAL(memcmp(fixed, want, n), 0);
    TCU_ASSERT_OK(tc_jpeg_load_any(p, c, &any, &gh, &gw, &err), &err);
    CU_ASSERT_EQUAL(gh, h);
    CU_ASSERT_EQUAL(gw, w);
    CU_ASSERT_EQUAL(memcmp(any, want, n), 0);
    free(any);
    /* told apart from PNG by content */
    TCU_ASSERT_OK(tc_image_load_any(p, c, &any, &gh, &gw, &err), &err);
    CU_ASSERT_EQUAL(memcmp(any, want, n), 0);
    free(any);
    free(fixed);
}

/* picture(src, c, h, w, seed) written as the JPEG p at quality 100; returns
 * the file's *n bytes (the caller frees them). */
static uint8_t *write_picture(const char *p, uint8_t *src, int c, int h, int w, uint32_t seed,
                              size_t *n)
{
    picture(src, c, h, w, seed);
    iu_write_jpeg(p, c, h, w, src, 100);
    return iu_read(p, n);
}

/* write_picture into *bytes, then libjpeg's own decoding of it as space,
 * which must have the picture's size and c components (the caller frees
 * both). */
static uint8_t *write_decoded(const char *p, uint8_t *src, int c, int h, int w, uint32_t seed,
                              J_COLOR_SPACE space, uint8_t **bytes, size_t *n)
{
    *bytes = write_picture(p, src, c, h, w, seed, n);
    int gh, gw, comps;
    uint8_t *ref = ref_decode(*bytes, *n, space, &gh, &gw, &comps, NULL);
    CU_ASSERT_FATAL(gh == h && gw == w && comps == c);
    return ref;
}

/* ---- colour conversions ---------------------------------------------------- */

static void test_rgb(void)
{
    enum { H = 24, W = 40 };
    static uint8_t src[3 * H * W], want[3 * H * W];
    const char *p = iu_path("rgb.jpg");
    size_t n;
    uint8_t *bytes;
    uint8_t *ref = write_decoded(p, src, 3, H, W, 1, JCS_RGB, &bytes, &n);
    hwc_to_chw(ref, 3, H, W, want);
    expect_load(p, 3, H, W, want);
    /* and close to what was written (quality 100, 4:4:4) */
    CU_ASSERT(iu_max_diff(want, src, sizeof src) <= 6);

    /* gray from colour: libjpeg's luma, close to Rec. 601 of the source */
    free(ref);
    int h, w, comps;
    ref = ref_decode(bytes, n, JCS_GRAYSCALE, &h, &w, &comps, NULL);
    CU_ASSERT_EQUAL_FATAL(comps, 1);
    expect_load(p, 1, H, W, ref);
    int worst = 0;
    for (int i = 0; i < H * W; i++) {
        double y = 0.299 * src[i] + 0.587 * src[H * W + i] + 0.114 * src[2 * H * W + i];
        int d = abs((int)lround(y) - ref[i]);
        worst = d > worst ? d : worst;
    }
    CU_ASSERT(worst <= 6);
    free(ref);
    free(bytes);
}

static void test_gray(void)
{
    enum { H = 17, W = 9 }; /* not multiples of the 8x8 blocks */
    uint8_t src[H * W], want3[3 * H * W];
    const char *p = iu_path("gray.JPEG");
    size_t n;
    uint8_t *bytes;
    uint8_t *ref = write_decoded(p, src, 1, H, W, 2, JCS_GRAYSCALE, &bytes, &n);
    expect_load(p, 1, H, W, ref);
    for (int k = 0; k < 3; k++)
        memcpy(want3 + k * H * W, ref, H * W);
    expect_load(p, 3, H, W, want3);
    CU_ASSERT(iu_max_diff(ref, src, H * W) <= 3);
    free(ref);
    free(bytes);
}

static void test_progressive(void)
{
    enum { H = 32, W = 48 };
    static uint8_t src[3 * H * W], hwc[3 * H * W], want[3 * H * W], base[3 * H * W];
    picture(src, 3, H, W, 3);
    iu_chw_to_hwc(src, 3, H, W, hwc);
    iu_jpeg s = {.components = 3, .in = JCS_RGB, .store = JCS_UNKNOWN, .quality = 90,
                 .progressive = 1, .subsample = 1};
    size_t n;
    uint8_t *bytes = iu_jpeg_bytes(&s, H, W, hwc, &n);
    const char *p = iu_path("progressive.jpg");
    iu_write(p, bytes, n);
    int h, w, comps;
    uint8_t *ref = ref_decode(bytes, n, JCS_RGB, &h, &w, &comps, NULL);
    hwc_to_chw(ref, 3, H, W, want);
    expect_load(p, 3, H, W, want);
    /* the same picture baseline: both near the source */
    s.progressive = 0;
    free(bytes);
    free(ref);
    bytes = iu_jpeg_bytes(&s, H, W, hwc, &n);
    ref = ref_decode(bytes, n, JCS_RGB, &h, &w, &comps, NULL);
    hwc_to_chw(ref, 3, H, W, base);
    CU_ASSERT(iu_max_diff(want, src, sizeof src) <= 24);
    CU_ASSERT(iu_max_diff(base, src, sizeof src) <= 24);
    free(ref);
    free(bytes);
}

/* CMYK and YCCK, as Photoshop writes them (libjpeg adds the Adobe marker):
 * light = stored C * K / 255. */
static void test_cmyk(void)
{
    enum { H = 16, W = 16 };
    static uint8_t cmyk[4 * H * W], want[3 * H * W], want1[H * W];
    for (int i = 0; i < H * W; i++) {
        cmyk[4 * i] = (uint8_t)(40 + 12 * (i % W));
        cmyk[4 * i + 1] = (uint8_t)(250 - 10 * (i / W));
        cmyk[4 * i + 2] = 128;
        cmyk[4 * i + 3] = (uint8_t)(i < H * W / 2 ? 255 : 180);
    }
    const J_COLOR_SPACE stores[2] = {JCS_CMYK, JCS_YCCK};
    for (int k = 0; k < 2; k++) {
        iu_jpeg s = {.components = 4, .in = JCS_CMYK, .store = stores[k], .quality = 100};
        size_t n;
        uint8_t *bytes = iu_jpeg_bytes(&s, H, W, cmyk, &n);
        const char *p = iu_path("cmyk%d.jpg", k);
        iu_write(p, bytes, n);
        int h, w, comps, adobe = 0;
        uint8_t *ref = ref_decode(bytes, n, JCS_CMYK, &h, &w, &comps, &adobe);
        CU_ASSERT_FATAL(comps == 4 && adobe);
        int worst = 0;
        for (int i = 0; i < H * W; i++) {
            unsigned kk = ref[4 * i + 3], rgb[3];
            for (int c = 0; c < 3; c++) {
                rgb[c] = (ref[4 * i + c] * kk + 127) / 255;
                want[c * H * W + i] = (uint8_t)rgb[c];
                /* against the ink written, within JPEG's loss */
                int exact = (int)lround(cmyk[4 * i + c] * cmyk[4 * i + 3] / 255.0);
                int d = abs(exact - (int)rgb[c]);
                worst = d > worst ? d : worst;
            }
            want1[i] = (uint8_t)((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
        }
        CU_ASSERT(worst <= 8);
        expect_load(p, 3, H, W, want);
        expect_load(p, 1, H, W, want1);
        free(ref);
        free(bytes);
    }
}

/* Two components: no colour space this reader knows. */
static void test_unknown_colour_space(void)
{
    uint8_t px[2 * 8 * 8];
    iu_noise(px, sizeof px, 5);
    iu_jpeg s = {.components = 2, .in = JCS_UNKNOWN, .store = JCS_UNKNOWN, .quality = 90};
    size_t n;
    uint8_t *bytes = iu_jpeg_bytes(&s, 8, 8, px, &n);
    const char *p = iu_path("two.jpg");
    iu_write(p, bytes, n);
    free(bytes);
    tc_error err;
    uint8_t *any;
    int h, w;
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load_any(p, 3, &any, &h, &w, &err), &err,
                          "unsupported colour space (2 components");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, p));
    CU_ASSERT_PTR_NULL(any);
}

/* ---- sizes ----------------------------------------------------------------- */

/* Offset of the height field of the first SOFn marker. */
static size_t sof_offset(const uint8_t *b, size_t n)
{
    size_t i = 2;
    while (i + 4 < n && b[i] == 0xFF) {
        uint8_t m = b[i + 1];
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
            return i + 5;
        i += 2 + len;
    }
    CU_FAIL_FATAL("no SOF marker in the test JPEG");
    return 0;
}

static void set_size(uint8_t *b, size_t n, unsigned h, unsigned w)
{
    size_t o = sof_offset(b, n);
    b[o] = (uint8_t)(h >> 8);
    b[o + 1] = (uint8_t)h;
    b[o + 2] = (uint8_t)(w >> 8);
    b[o + 3] = (uint8_t)w;
}

static void test_sizes(void)
{
    uint8_t px[3 * 10 * 12];
    picture(px, 3, 10, 12, 6);
    const char *p = iu_path("ten.jpg");
    iu_write_jpeg(p, 3, 10, 12, px, 90);
    tc_error err;
    uint8_t buf[3 * 12 * 12];
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(p, 3, 12, 12, buf, &err), &err,
                          "image is 10x12 (height x width) but 12x12 was expected");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ten.jpg"));
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(p, 2, 10, 12, buf, &err), &err, "cannot convert to 2");
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(p, 3, 0, 12, buf, &err), &err, "invalid expected size");

    /* dimensions beyond the limit, refused from the header */
    size_t n;
    uint8_t *b = iu_read(p, &n);
    const unsigned sizes[3][2] = {{20000, 20000}, {10, 65500}, {16385, 8}};
    for (int k = 0; k < 3; k++) {
        set_size(b, n, sizes[k][0], sizes[k][1]);
        const char *q = iu_path("huge%d.jpg", k);
        iu_write(q, b, n);
        uint8_t *any = NULL;
        int h, w;
        char want[80];
        snprintf(want, sizeof want, "image is %ux%u (height x width), larger than the 16384x16384",
                 sizes[k][0], sizes[k][1]);
        TCU_ASSERT_FAILS_WITH(tc_jpeg_load_any(q, 3, &any, &h, &w, &err), &err, want);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, q));
        CU_ASSERT_PTR_NULL(any);
    }
    /* zero width: libjpeg's own refusal, through the error manager */
    set_size(b, n, 10, 0);
    const char *q = iu_path("zero.jpg");
    iu_write(q, b, n);
    uint8_t *any = NULL;
    int h, w;
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load_any(q, 3, &any, &h, &w, &err), &err, "corrupt JPEG: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "zero.jpg"));
    free(b);
}

/* A progressive file claiming 12000 x 12000 4:4:4 colour needs 824 MiB of
 * coefficients: refused by the memory limit, before taking it. */
static void test_memory_limit(void)
{
    enum { H = 16, W = 16 };
    uint8_t src[3 * H * W], hwc[3 * H * W];
    picture(src, 3, H, W, 7);
    iu_chw_to_hwc(src, 3, H, W, hwc);
    iu_jpeg s = {.components = 3, .in = JCS_RGB, .store = JCS_UNKNOWN, .quality = 90,
                 .progressive = 1};
    size_t n;
    uint8_t *b = iu_jpeg_bytes(&s, H, W, hwc, &n);
    set_size(b, n, 12000, 12000);
    const char *p = iu_path("bomb.jpg");
    iu_write(p, b, n);
    free(b);
    tc_error err;
    uint8_t *any = NULL;
    int h, w;
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load_any(p, 3, &any, &h, &w, &err), &err,
                          "JPEG of 12000x12000 needs more than 512 MiB to decode");
    CU_ASSERT_PTR_NULL(any);
}

/* 694 scans: DC, then every AC coefficient in 11 successive-approximation
 * passes. Valid, but past the 500-scan limit. */
static void test_scan_limit(void)
{
    static jpeg_scan_info scans[1 + 63 * 11];
    int k = 0;
    scans[k++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int coef = 1; coef <= 63; coef++) {
        scans[k++] = (jpeg_scan_info){1, {0}, coef, coef, 0, 10};
        for (int bit = 10; bit >= 1; bit--)
            scans[k++] = (jpeg_scan_info){1, {0}, coef, coef, bit, bit - 1};
    }
    uint8_t px[16 * 16];
    picture(px, 1, 16, 16, 8);
    iu_jpeg s = {.components = 1, .in = JCS_GRAYSCALE, .store = JCS_UNKNOWN, .quality = 90,
                 .scans = scans, .n_scans = k};
    size_t n;
    uint8_t *b = iu_jpeg_bytes(&s, 16, 16, px, &n);
    const char *p = iu_path("scans.jpg");
    iu_write(p, b, n);
    /* libjpeg itself reads it */
    int h, w, comps;
    uint8_t *ref = ref_decode(b, n, JCS_GRAYSCALE, &h, &w, &comps, NULL);
    CU_ASSERT(h == 16 && w == 16);
    free(ref);
    free(b);
    tc_error err;
    uint8_t *any = NULL;
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load_any(p, 1, &any, &h, &w, &err), &err,
                          "corrupt JPEG: more than 500 scans");
    CU_ASSERT_PTR_NULL(any);
}

/* ---- hostile files --------------------------------------------------------- */

static void test_truncated_and_garbage(void)
{
    enum { H = 24, W = 24 };
    uint8_t src[3 * H * W], good[3 * H * W], out[3 * H * W];
    picture(src, 3, H, W, 9);
    const char *p = iu_path("whole.jpg");
    iu_write_jpeg(p, 3, H, W, src, 90);
    tc_error err;
    TCU_ASSERT_OK(tc_jpeg_load(p, 3, H, W, good, &err), &err);
    size_t n;
    uint8_t *b = iu_read(p, &n);
    CU_ASSERT_FATAL(n > 100 && b[n - 2] == 0xFF && b[n - 1] == 0xD9);
    /* cut: in the headers, in the pixels, just before EOI, inside EOI */
    const size_t cuts[5] = {3, 40, n / 2, n - 2, n - 1};
    for (int k = 0; k < 5; k++) {
        const char *q = iu_path("cut%d.jpg", k);
        iu_write(q, b, cuts[k]);
        TCU_ASSERT_FAILS_WITH(tc_jpeg_load(q, 3, H, W, out, &err), &err, "corrupt JPEG");
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, q));
    }
    /* bytes after EOI: ignored (documented), the image is the same */
    uint8_t *tail = malloc(n + 9);
    memcpy(tail, b, n);
    memcpy(tail + n, "trailing!", 9);
    const char *q = iu_path("tail.jpg");
    iu_write(q, tail, n + 9);
    TCU_ASSERT_OK(tc_jpeg_load(q, 3, H, W, out, &err), &err);
    CU_ASSERT_EQUAL(memcmp(out, good, sizeof out), 0);
    free(tail);
    free(b);

    q = iu_path("empty.jpg");
    iu_write(q, "", 0);
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(q, 3, H, W, out, &err), &err, "empty file, not a JPEG");
    q = iu_path("png.jpg");
    iu_write(q, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(q, 3, H, W, out, &err), &err, "not a JPEG file");
    q = iu_path("soi-eoi.jpg"); /* a tables-only stream: no image */
    iu_write(q, "\xFF\xD8\xFF\xD9", 4);
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(q, 3, H, W, out, &err), &err, "corrupt JPEG");
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(iu_path("missing.jpg"), 3, H, W, out, &err), &err,
                          "missing.jpg: cannot open");
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load(tcu_tmpdir(), 3, H, W, out, &err), &err,
                          "is a folder, not a JPEG file");
    uint8_t *any = NULL;
    int h, w;
    TCU_ASSERT_FAILS_WITH(tc_image_load_any(iu_path("png.jpg"), 3, &any, &h, &w, &err), &err,
                          "corrupt PNG");
    q = iu_path("gif.jpg");
    iu_write(q, "GIF89a", 6);
    TCU_ASSERT_FAILS_WITH(tc_image_load_any(q, 3, &any, &h, &w, &err), &err,
                          "neither a PNG nor a JPEG file");
}

/* A FIFO named like an image: refused at once, not waited on. */
static void test_fifo(void)
{
    const char *p = iu_path("pipe.jpg");
    CU_ASSERT_EQUAL_FATAL(mkfifo(p, 0644), 0);
    alarm(20); /* a hang would kill the test, failing it */
    tc_error err;
    uint8_t *any = NULL, buf[12];
    int h, w;
    TCU_ASSERT_FAILS_WITH(tc_jpeg_load_any(p, 3, &any, &h, &w, &err), &err,
                          "pipe.jpg: is a FIFO, not a regular file");
    TCU_ASSERT_FAILS_WITH(tc_png_load(p, 1, 2, 2, buf, &err), &err,
                          "pipe.jpg: is a FIFO, not a regular file");
    TCU_ASSERT_FAILS_WITH(tc_image_load_any(p, 3, &any, &h, &w, &err), &err, "is a FIFO");
    alarm(0);
    unlink(p);
}

/* Nothing reaches stderr: libjpeg's default would print the warning of a
 * truncated file and the error of a broken one. */
static void test_silent(void)
{
    uint8_t src[3 * 16 * 16];
    picture(src, 3, 16, 16, 10);
    const char *p = iu_path("silent.jpg");
    size_t n = iu_write_jpeg(p, 3, 16, 16, src, 90);
    size_t len;
    uint8_t *b = iu_read(p, &len);
    CU_ASSERT_EQUAL_FATAL(len, n);
    iu_write(p, b, n / 2);
    const char *z = iu_path("silent0.jpg");
    set_size(b, n, 16, 0);
    iu_write(z, b, n);
    free(b);
    const char *log = iu_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    tc_error err;
    uint8_t out[3 * 16 * 16];
    int rc1 = tc_jpeg_load(p, 3, 16, 16, out, &err);
    int rc2 = tc_jpeg_load(z, 3, 16, 16, out, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CU_ASSERT(rc1 != 0 && rc2 != 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(log, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"RGB, and gray from RGB", test_rgb},
        {"gray, and RGB from gray", test_gray},
        {"progressive", test_progressive},
        {"CMYK and YCCK", test_cmyk},
        {"unknown colour space", test_unknown_colour_space},
        {"sizes and the dimension limit", test_sizes},
        {"memory limit", test_memory_limit},
        {"scan limit", test_scan_limit},
        {"truncated files, trailing bytes, not JPEG", test_truncated_and_garbage},
        {"FIFO refused", test_fifo},
        {"never prints", test_silent},
        {NULL, NULL},
    };
    return tcu_run("jpeg", tests);
}
