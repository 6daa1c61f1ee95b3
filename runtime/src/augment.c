/* augment.c - random translation of training images (see tinycnn/augment.h). */
#include <string.h>

#include "tinycnn/augment.h"
#include "rng.h"

void tc_augment_shift_of(uint64_t seed, uint64_t step, int i, int max_shift, int *dy, int *dx)
{
    /* One stream per image: the draw for image i does not depend on how many
     * images came before it, so a smaller last batch changes nothing. */
    tc_rng r;
    tc_rng_seed(&r, seed, "augment", NULL, step * 65536u + (uint64_t)i);
    uint64_t span = 2u * (uint64_t)max_shift + 1u;
    *dy = (int)tc_rng_below(&r, span) - max_shift;
    *dx = (int)tc_rng_below(&r, span) - max_shift;
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

void tc_augment_shift(float *images, int n, int channels, int height, int width, int max_shift,
                      float fill, uint64_t seed, uint64_t step)
{
    if (max_shift <= 0 || height <= 0 || width <= 0)
        return;
    size_t plane = (size_t)height * (size_t)width;
    for (int i = 0; i < n; i++) {
        int dy, dx;
        tc_augment_shift_of(seed, step, i, max_shift, &dy, &dx);
        if (dy == 0 && dx == 0)
            continue;
        for (int c = 0; c < channels; c++)
            shift_plane(images + ((size_t)i * (size_t)channels + (size_t)c) * plane, height, width,
                        dy, dx, fill);
    }
}
