/* augment.c - random translation, random crop with padding and horizontal
 * flips of training images (see tinycnn/augment.h). */
#include <string.h>

#include "tinycnn/augment.h"
#include "rng.h"

/* One stream per image and kind of draw: the draw for image i does not
 * depend on how many images came before it, so a smaller last batch or
 * another split of the batch among threads changes nothing. */
static void image_stream(tc_rng *r, uint64_t seed, const char *kind, uint64_t step, int i)
{
    tc_rng_seed(r, seed, "augment", kind, step * 65536u + (uint64_t)i);
}

void tc_augment_shift_of(uint64_t seed, uint64_t step, int i, int max_shift, int *dy, int *dx)
{
    tc_rng r;
    image_stream(&r, seed, NULL, step, i); /* NULL: the stream shifts always had */
    uint64_t span = 2u * (uint64_t)max_shift + 1u;
    *dy = (int)tc_rng_below(&r, span) - max_shift;
    *dx = (int)tc_rng_below(&r, span) - max_shift;
}

void tc_augment_crop_of(uint64_t seed, uint64_t step, int i, int pad, int *dy, int *dx)
{
    tc_rng r;
    image_stream(&r, seed, "crop", step, i);
    uint64_t span = 2u * (uint64_t)pad + 1u;
    *dy = pad - (int)tc_rng_below(&r, span); /* pad - top */
    *dx = pad - (int)tc_rng_below(&r, span); /* pad - left */
}

int tc_augment_flip_of(uint64_t seed, uint64_t step, int i)
{
    tc_rng r;
    image_stream(&r, seed, "flip", step, i);
    return (int)(tc_rng_next(&r) >> 63);
}

/* Moves one plane by (dy, dx) in place. Rows are visited in the direction
 * that never overwrites a source row before it is read; memmove handles the
 * overlap within a row. */
static void shift_plane(float *p, int h, int w, int dy, int dx, float fill)
{
    int y0 = dy > 0 ? h - 1 : 0, y1 = dy > 0 ? -1 : h, step = dy > 0 ? -1 : 1;
    int cols = w - (dx > 0 ? dx : -dx); /* source pixels that stay inside */
    for (int y = y0; y != y1; y += step) {
        float *row = p + (size_t)y * (size_t)w;
        int sy = y - dy;
        if (sy < 0 || sy >= h || cols <= 0) {
            for (int x = 0; x < w; x++)
                row[x] = fill;
            continue;
        }
        const float *src = p + (size_t)sy * (size_t)w;
        if (dx >= 0) {
            memmove(row + dx, src, (size_t)cols * sizeof *row);
            for (int x = 0; x < dx; x++)
                row[x] = fill;
        } else {
            memmove(row, src - dx, (size_t)cols * sizeof *row);
            for (int x = cols; x < w; x++)
                row[x] = fill;
        }
    }
}

/* Shifts every plane of each image by offset()'s (dy, dx) for it (up to
 * `amount` pixels), filling with fills[c], or with `fill` when fills is
 * NULL. */
static void shift_images(float *images, int n, int channels, int height, int width, int amount,
                         void (*offset)(uint64_t, uint64_t, int, int, int *, int *), float fill,
                         const float *fills, uint64_t seed, uint64_t step)
{
    if (amount <= 0 || height <= 0 || width <= 0)
        return;
    size_t plane = (size_t)height * (size_t)width;
    for (int i = 0; i < n; i++) {
        int dy, dx;
        offset(seed, step, i, amount, &dy, &dx);
        if (dy == 0 && dx == 0)
            continue;
        for (int c = 0; c < channels; c++)
            shift_plane(images + ((size_t)i * (size_t)channels + (size_t)c) * plane, height, width,
                        dy, dx, fills ? fills[c] : fill);
    }
}

void tc_augment_shift(float *images, int n, int channels, int height, int width, int max_shift,
                      float fill, uint64_t seed, uint64_t step)
{
    shift_images(images, n, channels, height, width, max_shift, tc_augment_shift_of, fill, NULL,
                 seed, step);
}

void tc_augment_crop(float *images, int n, int channels, int height, int width, int pad,
                     const float *fill, uint64_t seed, uint64_t step)
{
    shift_images(images, n, channels, height, width, pad, tc_augment_crop_of, 0.0f, fill, seed,
                 step);
}

void tc_augment_flip(float *images, int n, int channels, int height, int width, uint64_t seed,
                     uint64_t step)
{
    size_t rows = (size_t)channels * (size_t)height;
    for (int i = 0; i < n; i++) {
        if (!tc_augment_flip_of(seed, step, i))
            continue;
        float *p = images + (size_t)i * rows * (size_t)width;
        for (size_t r = 0; r < rows; r++, p += width)
            for (int a = 0, b = width - 1; a < b; a++, b--) {
                float t = p[a];
                p[a] = p[b];
                p[b] = t;
            }
    }
}

/* ---- fused fill ------------------------------------------------------------ */

/* Where output pixels come from for one image: rows [y0, y1) read source
 * row y - ty, columns [x0, x1) source column x - tx (or, flipped,
 * w - 1 - x - tx); everything else is black. */
typedef struct pixel_map {
    int y0, y1, ty, x0, x1, tx, flip;
} pixel_map;

static int max3(int a, int b, int c)
{
    int m = a > b ? a : b;
    return m > c ? m : c;
}

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

/* Shift (s) then crop (c): a pixel survives when it is inside the image
 * after each, i.e. y - dyc and y - dyc - dys both in [0, h). The flip then
 * mirrors the output columns. */
static void map_of(const tc_augment_spec *a, uint64_t step, int i, int h, int w, pixel_map *m)
{
    int dys = 0, dxs = 0, dyc = 0, dxc = 0;
    if (a->shift > 0)
        tc_augment_shift_of(a->seed, step, i, a->shift, &dys, &dxs);
    if (a->crop_pad > 0)
        tc_augment_crop_of(a->seed, step, i, a->crop_pad, &dyc, &dxc);
    m->flip = a->flip ? tc_augment_flip_of(a->seed, step, i) : 0;
    m->ty = dyc + dys;
    m->y0 = max3(0, dyc, m->ty);
    m->y1 = min3(h, h + dyc, h + m->ty);
    m->tx = dxc + dxs;
    int x0 = max3(0, dxc, m->tx), x1 = min3(w, w + dxc, w + m->tx); /* before the flip */
    m->x0 = m->flip ? w - x1 : x0;
    m->x1 = m->flip ? w - x0 : x1;
}

static void fill_plane(const uint8_t *restrict src, float *restrict dst, int h, int w,
                       const pixel_map *m, const float *restrict lut)
{
    const float black = lut[0];
    for (int y = 0; y < h; y++, dst += w) {
        if (y < m->y0 || y >= m->y1 || m->x0 >= m->x1) {
            for (int x = 0; x < w; x++)
                dst[x] = black;
            continue;
        }
        const uint8_t *restrict row = src + (size_t)(y - m->ty) * (size_t)w;
        for (int x = 0; x < m->x0; x++)
            dst[x] = black;
        if (m->flip) {
            const int last = w - 1 - m->tx;
            for (int x = m->x0; x < m->x1; x++)
                dst[x] = lut[row[last - x]];
        } else {
            for (int x = m->x0; x < m->x1; x++)
                dst[x] = lut[row[x - m->tx]];
        }
        for (int x = m->x1; x < w; x++)
            dst[x] = black;
    }
}

void tc_augment_fill(const tc_dataset *ds, const int64_t *indices, int first, int count,
                     const float *mean, const float *std, const tc_augment_spec *aug,
                     uint64_t step, float *images, float *labels)
{
    static const tc_augment_spec none = {0};
    if (!aug)
        aug = &none;
    const int h = ds->height, w = ds->width;
    const size_t plane = (size_t)h * (size_t)w, per = (size_t)ds->channels * plane;
    /* Channel by channel, so one table of 256 values serves the whole
     * range; the maps are drawn again per channel (cheap next to a plane). */
    for (int c = 0; c < ds->channels; c++) {
        float lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = (float)(((double)v / 255.0 - (double)mean[c]) / (double)std[c]);
        for (int i = first; i < first + count; i++) {
            pixel_map m;
            map_of(aug, step, i, h, w, &m);
            fill_plane(ds->pixels + (size_t)indices[i] * per + (size_t)c * plane,
                       images + (size_t)i * per + (size_t)c * plane, h, w, &m, lut);
        }
    }
    if (labels && ds->labels)
        for (int i = first; i < first + count; i++)
            labels[i] = (float)ds->labels[indices[i]];
}
