/* What happens to images between the file and the network: resizing
 * (tc_image_resize, tc_image_fit) against a reference computed here from
 * the filter's definition, per-channel normalisation, the random crop and
 * flip and the fused augmenting batch fill, and the stratified validation
 * split. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "tinycnn/augment.h"

static void noise(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* ---- resizing ------------------------------------------------------------- */

/* The triangle filter of radius r = max(1, in/out) around each output
 * pixel's centre, straight from the definition in tinycnn/dataset.h: 2-D
 * weights, normalised over the pixels inside, in double. */
static double ref_pixel(const uint8_t *plane, int sh, int sw, double rh, double rw, double oy,
                        double ox, int y, int x)
{
    double sy = sh / rh, sx = sw / rw;
    double ry = sy > 1 ? sy : 1, rx = sx > 1 ? sx : 1;
    double uy = (oy + y + 0.5) * sy - 0.5, ux = (ox + x + 0.5) * sx - 0.5;
    double num = 0, den = 0;
    for (int i = 0; i < sh; i++) {
        double wy = 1 - fabs(i - uy) / ry;
        if (wy <= 0)
            continue;
        for (int j = 0; j < sw; j++) {
            double wx = 1 - fabs(j - ux) / rx;
            if (wx <= 0)
                continue;
            num += wy * wx * plane[i * sw + j];
            den += wy * wx;
        }
    }
    return num / den;
}

/* Compares out (c x h x w, the window at (oy, ox) of src scaled to rh x rw)
 * with the reference, rounded to nearest: exact, except that a value
 * within 1/1000 of a tie (x.5, common when enlarging) may round either
 * way, float sums being what they are. */
static void check_against_ref(const uint8_t *src, int c, int sh, int sw, int rh, int rw, int oy,
                              int ox, const uint8_t *out, int h, int w)
{
    int wrong = 0, ties = 0, total = 0;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = ref_pixel(src + (size_t)k * sh * sw, sh, sw, rh, rw, oy, ox, y, x);
                int got = out[((size_t)k * h + y) * w + x];
                int tie = fabs(v - floor(v) - 0.5) < 1e-3;
                ties += tie;
                wrong += tie ? got != (int)floor(v) && got != (int)ceil(v) : got != (int)lround(v);
                total++;
            }
    if (wrong)
        fprintf(stderr, "\n  %dx%d -> %dx%d: %d of %d pixels wrong (%d ties)\n", sh, sw, rh, rw,
                wrong, total, ties);
    CU_ASSERT_EQUAL(wrong, 0);
}

static void test_resize_reference(void)
{
    const int cases[][4] = {{5, 7, 13, 11}, {40, 30, 7, 9}, {10, 40, 20, 8}, {1, 9, 3, 4},
                            {33, 1, 8, 5},  {64, 64, 32, 32}, {3, 3, 28, 28}};
    tc_error err;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int sh = cases[k][0], sw = cases[k][1], h = cases[k][2], w = cases[k][3];
        uint8_t *src = malloc((size_t)2 * sh * sw), *out = malloc((size_t)2 * h * w);
        noise(src, (size_t)2 * sh * sw, (uint32_t)k + 1);
        TCU_ASSERT_OK(tc_image_resize(src, 2, sh, sw, out, h, w, &err), &err);
        check_against_ref(src, 2, sh, sw, h, w, 0, 0, out, h, w);
        free(src);
        free(out);
    }
    /* same size: the image itself */
    uint8_t a[3 * 6 * 5], b[3 * 6 * 5];
    noise(a, sizeof a, 99);
    TCU_ASSERT_OK(tc_image_resize(a, 3, 6, 5, b, 6, 5, &err), &err);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    TCU_ASSERT_FAILS_WITH(tc_image_resize(a, 3, 0, 5, b, 6, 5, &err), &err, "cannot resize");
}

/* Worked by hand from the definition. */
static void test_resize_by_hand(void)
{
    tc_error err;
    const uint8_t two[2] = {0, 255};
    uint8_t four[4];
    /* enlarging: u = -0.25, 0.25, 0.75, 1.25 -> 0, 63.75, 191.25, 255 */
    TCU_ASSERT_OK(tc_image_resize(two, 1, 1, 2, four, 1, 4, &err), &err);
    CU_ASSERT(four[0] == 0 && four[1] == 64 && four[2] == 191 && four[3] == 255);
    /* shrinking 4 -> 2: radius 2 around u = 0.5 and 2.5, weights .75 .75 .25
     * (and .25 .75 .75): 125/1.75 = 71.4, 366.25/1.75 = 209.3 */
    const uint8_t row[4] = {0, 100, 200, 255};
    uint8_t half[2];
    TCU_ASSERT_OK(tc_image_resize(row, 1, 1, 4, half, 1, 2, &err), &err);
    CU_ASSERT(half[0] == 71 && half[1] == 209);
    /* a flat image stays flat at any size */
    uint8_t flat[7 * 9], big[20 * 3];
    memset(flat, 77, sizeof flat);
    TCU_ASSERT_OK(tc_image_resize(flat, 1, 7, 9, big, 20, 3, &err), &err);
    for (int i = 0; i < 60; i++)
        CU_ASSERT_EQUAL(big[i], 77);
}

static void test_fit(void)
{
    tc_error err;
    enum { SH = 40, SW = 60 };
    static uint8_t src[3 * SH * SW], full[3 * 32 * 48], crop[3 * 32 * 32], want[3 * 32 * 32];
    noise(src, sizeof src, 5);
    /* landscape: shorter side 40 -> 32, longer 60 * 32 / 40 = 48, centre
     * columns 8..39 of that */
    TCU_ASSERT_OK(tc_image_fit(src, 3, SH, SW, TC_RESIZE_CROP, 0, crop, 32, 32, "x.png", &err),
                  &err);
    check_against_ref(src, 3, SH, SW, 32, 48, 0, 8, crop, 32, 32);
    TCU_ASSERT_OK(tc_image_resize(src, 3, SH, SW, full, 32, 48, &err), &err);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            memcpy(want + (c * 32 + y) * 32, full + (c * 32 + y) * 48 + 8, 32);
    CU_ASSERT_EQUAL(memcmp(crop, want, sizeof crop), 0); /* only the window computed, same values */
    /* portrait (the same pixels, transposed roles): 60x40 -> 48x32, rows 8.. */
    TCU_ASSERT_OK(tc_image_fit(src, 3, SW, SH, TC_RESIZE_CROP, 0, crop, 32, 32, NULL, &err),
                  &err);
    check_against_ref(src, 3, SW, SH, 48, 32, 8, 0, crop, 32, 32);
    /* shorter side to 36, then a 32x24 crop: 36 x 54, offsets 2 and 15 */
    TCU_ASSERT_OK(tc_image_fit(src, 3, SH, SW, TC_RESIZE_CROP, 36, crop, 32, 24, NULL, &err),
                  &err);
    check_against_ref(src, 3, SH, SW, 36, 54, 2, 15, crop, 32, 24);
    /* stretch = tc_image_resize */
    TCU_ASSERT_OK(tc_image_fit(src, 3, SH, SW, TC_RESIZE_STRETCH, 0, crop, 32, 32, NULL, &err),
                  &err);
    TCU_ASSERT_OK(tc_image_resize(src, 3, SH, SW, want, 32, 32, &err), &err);
    CU_ASSERT_EQUAL(memcmp(crop, want, sizeof crop), 0);
    /* no resizing: the right size is copied, another refused naming it */
    TCU_ASSERT_OK(tc_image_fit(src, 1, 4, 8, TC_RESIZE_NONE, 0, crop, 4, 8, NULL, &err), &err);
    CU_ASSERT_EQUAL(memcmp(crop, src, 32), 0);
    TCU_ASSERT_FAILS_WITH(tc_image_fit(src, 3, SH, SW, TC_RESIZE_NONE, 0, crop, 32, 32, "x.png",
                                       &err),
                          &err, "x.png: image is 40x60 (height x width) but 32x32 was expected");
    /* a crop that the scaled image cannot hold */
    TCU_ASSERT_FAILS_WITH(tc_image_fit(src, 3, SH, SW, TC_RESIZE_CROP, 20, crop, 32, 32, "y.png",
                                       &err),
                          &err, "y.png: a 40x60 image scaled to 20x30");
}

/* ---- per-channel normalisation -------------------------------------------- */

static void test_fill_channels(void)
{
    uint8_t px[2 * 3 * 4];
    noise(px, sizeof px, 3);
    px[0] = 0;
    px[23] = 255;
    uint8_t labels[2] = {4, 1};
    tc_dataset ds = {.count = 2, .channels = 3, .height = 2, .width = 2, .pixels = px,
                     .labels = labels};
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    int64_t idx[3] = {1, 0, 1};
    float img[3 * 12], lab[3];
    tc_dataset_fill_batch_channels(&ds, idx, 3, mean, std, img, lab);
    for (int i = 0; i < 3; i++) {
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++) {
                double v = px[idx[i] * 12 + c * 4 + k] / 255.0;
                CU_ASSERT_DOUBLE_EQUAL(img[i * 12 + c * 4 + k], (v - mean[c]) / std[c], 1e-5);
            }
        CU_ASSERT_EQUAL(lab[i], (float)labels[idx[i]]);
    }
    /* black in channel 0 of image 0 (batch position 1), white in channel 2 of image 1 */
    CU_ASSERT_DOUBLE_EQUAL(img[12], -0.485 / 0.229, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(img[11], (1 - 0.406) / 0.225, 1e-5);
    /* equal values per channel: bit for bit the scalar version */
    const float m1[3] = {0.3f, 0.3f, 0.3f}, s1[3] = {0.7f, 0.7f, 0.7f};
    float a[36], b[36];
    tc_dataset_fill_batch_channels(&ds, idx, 3, m1, s1, a, NULL);
    tc_dataset_fill_batch(&ds, idx, 3, 0.3f, 0.7f, b, NULL);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
}

/* ---- augmentation ------------------------------------------------------------ */

static void test_draws(void)
{
    int seen[9][9] = {{0}}, flips = 0, same_as_shift = 0;
    for (int i = 0; i < 2000; i++) {
        int dy, dx, dy2, dx2, sy, sx;
        tc_augment_crop_of(5, 9, i, 4, &dy, &dx);
        tc_augment_crop_of(5, 9, i, 4, &dy2, &dx2);
        CU_ASSERT(dy == dy2 && dx == dx2);
        CU_ASSERT(dy >= -4 && dy <= 4 && dx >= -4 && dx <= 4);
        if (dy >= -4 && dy <= 4 && dx >= -4 && dx <= 4)
            seen[dy + 4][dx + 4]++;
        tc_augment_shift_of(5, 9, i, 4, &sy, &sx);
        same_as_shift += sy == dy && sx == dx;
        int f = tc_augment_flip_of(5, 9, i);
        CU_ASSERT(f == 0 || f == 1);
        CU_ASSERT_EQUAL(f, tc_augment_flip_of(5, 9, i));
        flips += f;
    }
    for (int a = 0; a < 9; a++) /* 2000 over 81 cells: about 25 each */
        for (int b = 0; b < 9; b++)
            CU_ASSERT(seen[a][b] >= 5);
    CU_ASSERT(flips > 850 && flips < 1150);
    CU_ASSERT(same_as_shift < 100); /* its own stream, not the shift's (1/81 by chance) */
    int differ = 0;
    for (int i = 0; i < 100; i++)
        differ += tc_augment_flip_of(5, 9, i) != tc_augment_flip_of(5, 10, i);
    CU_ASSERT(differ > 25);
}

static void fill_floats(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* torchvision's recipe, naively: pad by P with fill, cut at (top, left),
 * mirror if drawn. */
static void naive_crop_flip(const float *in, float *out, int n, int c, int h, int w, int pad,
                            const float *fill, int flip, uint64_t seed, uint64_t step)
{
    for (int i = 0; i < n; i++) {
        int dy = 0, dx = 0, f = flip ? tc_augment_flip_of(seed, step, i) : 0;
        if (pad)
            tc_augment_crop_of(seed, step, i, pad, &dy, &dx);
        int top = pad - dy, left = pad - dx;
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int xx = f ? w - 1 - x : x;
                    int py = y + top - pad, px = xx + left - pad; /* padded -> original */
                    const float *p = in + ((size_t)i * c + k) * h * w;
                    out[(((size_t)i * c + k) * h + y) * w + x] =
                        py >= 0 && py < h && px >= 0 && px < w ? p[py * w + px] : fill[k];
                }
    }
}

static void test_crop_flip_in_place(void)
{
    enum { N = 41, C = 3, H = 6, W = 7 };
    static float img[N * C * H * W], ref[N * C * H * W], orig[N * C * H * W];
    const float fill[C] = {-1.5f, -2.0f, -2.5f};
    for (int pad = 1; pad <= 8; pad += 7) {
        fill_floats(orig, sizeof orig / sizeof *orig, (uint32_t)pad);
        memcpy(img, orig, sizeof img);
        tc_augment_crop(img, N, C, H, W, pad, fill, 3, (uint64_t)pad);
        naive_crop_flip(orig, ref, N, C, H, W, pad, fill, 0, 3, (uint64_t)pad);
        CU_ASSERT_EQUAL(memcmp(img, ref, sizeof img), 0);
        tc_augment_flip(img, N, C, H, W, 3, (uint64_t)pad);
        naive_crop_flip(orig, ref, N, C, H, W, pad, fill, 1, 3, (uint64_t)pad);
        CU_ASSERT_EQUAL(memcmp(img, ref, sizeof img), 0);
    }
    /* pad 0: untouched */
    memcpy(img, orig, sizeof img);
    tc_augment_crop(img, N, C, H, W, 0, fill, 3, 1);
    CU_ASSERT_EQUAL(memcmp(img, orig, sizeof img), 0);
}

/* The fused fill equals fill + shift + crop + flip done one after another,
 * whatever part of the batch each call fills. */
static void test_fused_fill(void)
{
    enum { COUNT = 50, N = 37, C = 3, H = 9, W = 8 };
    static uint8_t px[COUNT * C * H * W];
    noise(px, sizeof px, 17);
    uint8_t labels[COUNT];
    noise(labels, COUNT, 18);
    tc_dataset ds = {.count = COUNT, .channels = C, .height = H, .width = W, .pixels = px,
                     .labels = labels};
    int64_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = (i * 13 + 5) % COUNT;
    static float a[N * C * H * W], b[N * C * H * W];
    float la[N], lb[N];
    /* one mean and std for all channels, so that the shift's one fill fits */
    const float m[C] = {0.25f, 0.25f, 0.25f}, s[C] = {0.5f, 0.5f, 0.5f};
    const float black[C] = {-0.5f, -0.5f, -0.5f}; /* (0 - 0.25) / 0.5 */
    const tc_augment_spec specs[4] = {{7, 2, 0, 0}, {7, 0, 3, 0}, {7, 0, 0, 1}, {7, 2, 3, 1}};
    for (int k = 0; k < 4; k++) {
        const tc_augment_spec *g = &specs[k];
        uint64_t step = 100 + (uint64_t)k;
        tc_augment_fill(&ds, idx, 0, 10, m, s, g, step, a, la);
        tc_augment_fill(&ds, idx, 10, N - 10, m, s, g, step, a, la);
        tc_dataset_fill_batch_channels(&ds, idx, N, m, s, b, lb);
        tc_augment_shift(b, N, C, H, W, g->shift, black[0], g->seed, step);
        tc_augment_crop(b, N, C, H, W, g->crop_pad, black, g->seed, step);
        if (g->flip)
            tc_augment_flip(b, N, C, H, W, g->seed, step);
        CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
        CU_ASSERT_EQUAL(memcmp(la, lb, sizeof la), 0);
    }
    /* per-channel normalisation with crop and flip */
    const float m3[C] = {0.1f, 0.5f, 0.9f}, s3[C] = {0.2f, 0.3f, 0.4f};
    const float black3[C] = {-0.5f, -0.5f / 0.3f, -0.9f / 0.4f};
    tc_augment_spec g = {11, 0, 4, 1};
    tc_augment_fill(&ds, idx, 0, N, m3, s3, &g, 3, a, NULL);
    tc_dataset_fill_batch_channels(&ds, idx, N, m3, s3, b, NULL);
    static float c[N * C * H * W];
    naive_crop_flip(b, c, N, C, H, W, 4, black3, 1, 11, 3);
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        CU_ASSERT_DOUBLE_EQUAL(a[i], c[i], 1e-6);
    /* no augmentation: the plain fill */
    tc_augment_fill(&ds, idx, 0, N, m3, s3, NULL, 3, a, NULL);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
}

/* The cost figure: a LeNet-5 batch (64 x 1 x 28 x 28) filled plain and
 * with crop + flip + shift. Printed, not asserted (timing is the machine's). */
static void test_fill_cost(void)
{
    enum { COUNT = 1000, N = 64, P = 28 * 28 };
    static uint8_t px[COUNT * P];
    static float out[N * P];
    noise(px, sizeof px, 1);
    tc_dataset ds = {.count = COUNT, .channels = 1, .height = 28, .width = 28, .pixels = px};
    int64_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = (i * 31) % COUNT;
    const float m = 0.1307f, s = 0.3081f;
    const tc_augment_spec g = {1, 2, 4, 1};
    double t[2];
    for (int k = 0; k < 2; k++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int r = 0; r < 2000; r++)
            tc_augment_fill(&ds, idx, 0, N, &m, &s, k ? &g : NULL, (uint64_t)r, out, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        t[k] = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 2000.0;
    }
    printf(" (batch of 64 28x28: plain fill %.1f us, with shift+crop+flip %.1f us)", t[0] / 1e3,
           t[1] / 1e3);
    /* what was timed did transform: the last batch differs from a plain fill
     * in most images (an image is left as it is with odds 1/25 * 1/81 * 1/2) */
    static float plain[N * P];
    tc_augment_fill(&ds, idx, 0, N, &m, &s, NULL, 1999, plain, NULL);
    int changed = 0;
    for (int i = 0; i < N; i++)
        changed += memcmp(out + i * P, plain + i * P, P * sizeof *out) != 0;
    CU_ASSERT(changed >= N - 2);
}

/* ---- validation split -------------------------------------------------------- */

static int is_sorted_disjoint(const int64_t *a, int64_t na, const int64_t *b, int64_t nb,
                              int64_t n)
{
    uint8_t *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int64_t i = 0; i < na; i++) {
        ok &= a[i] >= 0 && a[i] < n && !seen[a[i]] && (i == 0 || a[i] > a[i - 1]);
        if (a[i] >= 0 && a[i] < n)
            seen[a[i]] = 1;
    }
    for (int64_t i = 0; i < nb; i++) {
        ok &= b[i] >= 0 && b[i] < n && !seen[b[i]] && (i == 0 || b[i] > b[i - 1]);
        if (b[i] >= 0 && b[i] < n)
            seen[b[i]] = 1;
    }
    ok &= na + nb == n;
    free(seen);
    return ok;
}

static void test_split(void)
{
    /* classes 0..4 of 50, 30, 7, 1, 12 samples, interleaved */
    enum { N = 100 };
    uint8_t labels[N];
    const int sizes[5] = {50, 30, 7, 1, 12};
    int n = 0;
    for (int c = 0; c < 5; c++)
        for (int k = 0; k < sizes[c]; k++)
            labels[n++] = (uint8_t)c;
    for (int i = N - 1; i > 0; i--) { /* a fixed shuffle */
        int j = (i * 37 + 11) % (i + 1);
        uint8_t t = labels[i];
        labels[i] = labels[j];
        labels[j] = t;
    }
    tc_error err;
    int64_t *tr, *va, nt, nv;
    TCU_ASSERT_OK(tc_split_stratified(labels, N, 0.2, 42, &tr, &nt, &va, &nv, &err), &err);
    CU_ASSERT(is_sorted_disjoint(tr, nt, va, nv, N));
    CU_ASSERT_EQUAL(nv, 20); /* round(100 * 0.2) */
    int per[5] = {0};
    for (int64_t i = 0; i < nv; i++)
        per[labels[va[i]]]++;
    for (int c = 0; c < 5; c++) {
        double exact = sizes[c] * 0.2;
        int lo = (int)floor(exact + 1e-9), hi = (int)ceil(exact - 1e-9);
        if (hi > sizes[c] - 1)
            hi = sizes[c] - 1;
        CU_ASSERT(per[c] >= (lo < hi ? lo : hi) && per[c] <= hi);
    }
    CU_ASSERT_EQUAL(per[3], 0); /* a class of one keeps it for training */
    /* the same seed, the same split; another seed, another one */
    int64_t *tr2, *va2, nt2, nv2;
    TCU_ASSERT_OK(tc_split_stratified(labels, N, 0.2, 42, &tr2, &nt2, &va2, &nv2, &err), &err);
    CU_ASSERT(nv2 == nv && memcmp(va2, va, (size_t)nv * sizeof *va) == 0);
    free(tr2);
    free(va2);
    TCU_ASSERT_OK(tc_split_stratified(labels, N, 0.2, 43, &tr2, &nt2, &va2, &nv2, &err), &err);
    CU_ASSERT(nv2 == nv && memcmp(va2, va, (size_t)nv * sizeof *va) != 0);
    free(tr2);
    free(va2);
    free(tr);
    free(va);

    /* a tenth of a balanced set: exactly a tenth of every class */
    static uint8_t bal[1000];
    for (int i = 0; i < 1000; i++)
        bal[i] = (uint8_t)(i % 10);
    TCU_ASSERT_OK(tc_split_stratified(bal, 1000, 0.1, 1, &tr, &nt, &va, &nv, &err), &err);
    int cnt[10] = {0};
    for (int64_t i = 0; i < nv; i++)
        cnt[bal[va[i]]]++;
    for (int c = 0; c < 10; c++)
        CU_ASSERT_EQUAL(cnt[c], 10);
    CU_ASSERT(is_sorted_disjoint(tr, nt, va, nv, 1000));
    free(tr);
    free(va);

    /* empty input; bad fractions */
    TCU_ASSERT_OK(tc_split_stratified(labels, 0, 0.5, 1, &tr, &nt, &va, &nv, &err), &err);
    CU_ASSERT(nt == 0 && nv == 0);
    free(tr);
    free(va);
    const double bad[4] = {0.0, 1.0, -0.5, NAN};
    for (int k = 0; k < 4; k++)
        TCU_ASSERT_FAILS_WITH(tc_split_stratified(labels, N, bad[k], 1, &tr, &nt, &va, &nv, &err),
                              &err, "must lie strictly between 0 and 1");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"resize vs the filter's definition", test_resize_reference},
        {"resize worked by hand", test_resize_by_hand},
        {"shorter side + centre crop, stretch, none", test_fit},
        {"per-channel normalisation", test_fill_channels},
        {"crop and flip draws", test_draws},
        {"crop and flip in place vs naive", test_crop_flip_in_place},
        {"fused augmenting fill", test_fused_fill},
        {"augmenting fill cost", test_fill_cost},
        {"stratified validation split", test_split},
        {NULL, NULL},
    };
    return tcu_run("data ops", tests);
}
