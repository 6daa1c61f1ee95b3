/* Bilinear (triangle-filter) resampling of uint8 CHW images, and the two
 * ways of making an image the model's input size (see tinycnn/dataset.h). */
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input pixels and weights of each output pixel along one axis. */
typedef struct taps {
    int *start, *count;
    float *w; /* per output pixel: `max` slots, count used */
    int max;
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->count);
    free(t->w);
}

/* Output pixels o .. o+m-1 of an axis of in_n pixels scaled to out_n. */
static int taps_make(int in_n, int64_t out_n, int64_t o, int m, taps *t)
{
    double s = (double)in_n / (double)out_n, r = s > 1.0 ? s : 1.0;
    t->max = 2 * (int)ceil(r) + 2;
    t->start = malloc((size_t)m * sizeof *t->start);
    t->count = malloc((size_t)m * sizeof *t->count);
    t->w = malloc((size_t)m * (size_t)t->max * sizeof *t->w);
    if (!t->start || !t->count || !t->w)
        return 1;
    for (int k = 0; k < m; k++) {
        double u = ((double)(o + k) + 0.5) * s - 0.5;
        int lo = (int)ceil(u - r), hi = (int)floor(u + r);
        if (lo < 0)
            lo = 0;
        if (hi > in_n - 1)
            hi = in_n - 1;
        float *w = t->w + (size_t)k * (size_t)t->max;
        double sum = 0.0;
        int n = 0;
        for (int i = lo; i <= hi && n < t->max; i++, n++)
            sum += (w[n] = (float)(1.0 - fabs((double)i - u) / r));
        for (int j = 0; j < n; j++)
            w[j] = (float)((double)w[j] / sum);
        t->start[k] = lo;
        t->count[k] = n;
    }
    return 0;
}

/* The window (oy, ox, h, w) of src scaled to rh x rw, into dst (c x h x w). */
static int resample(const uint8_t *src, int c, int sh, int sw, int64_t rh, int64_t rw,
                    int64_t oy, int64_t ox, uint8_t *dst, int h, int w, tc_error *err)
{
    taps ty = {0}, tx = {0};
    float *tmp = NULL;
    int rc = 1;
    if (taps_make(sh, rh, oy, h, &ty) || taps_make(sw, rw, ox, w, &tx))
        goto done;
    /* Rows of src that any output row reads, filtered horizontally first. */
    int y0 = ty.start[0], y1 = ty.start[h - 1] + ty.count[h - 1];
    size_t rows = (size_t)(y1 - y0);
    tmp = malloc(rows * (size_t)w * sizeof *tmp);
    if (!tmp)
        goto done;
    for (int ch = 0; ch < c; ch++) {
        const uint8_t *plane = src + (size_t)ch * (size_t)sh * (size_t)sw;
        for (int y = y0; y < y1; y++) {
            const uint8_t *row = plane + (size_t)y * (size_t)sw;
            float *out = tmp + (size_t)(y - y0) * (size_t)w;
            for (int x = 0; x < w; x++) {
                const float *wt = tx.w + (size_t)x * (size_t)tx.max;
                const uint8_t *p = row + tx.start[x];
                float acc = 0.0f;
                for (int j = 0; j < tx.count[x]; j++)
                    acc += wt[j] * (float)p[j];
                out[x] = acc;
            }
        }
        uint8_t *dplane = dst + (size_t)ch * (size_t)h * (size_t)w;
        for (int y = 0; y < h; y++) {
            const float *wt = ty.w + (size_t)y * (size_t)ty.max;
            const float *base = tmp + (size_t)(ty.start[y] - y0) * (size_t)w;
            for (int x = 0; x < w; x++) {
                float acc = 0.0f;
                for (int j = 0; j < ty.count[y]; j++)
                    acc += wt[j] * base[(size_t)j * (size_t)w + x];
                acc = acc < 0.0f ? 0.0f : acc > 255.0f ? 255.0f : acc;
                dplane[(size_t)y * (size_t)w + x] = (uint8_t)(acc + 0.5f);
            }
        }
    }
    rc = 0;
done:
    taps_free(&ty);
    taps_free(&tx);
    free(tmp);
    if (rc)
        tc_error_set(err, "out of memory resizing a %dx%d image to %dx%d", sh, sw, h, w);
    return rc;
}

int tc_image_resize(const uint8_t *src, int channels, int src_h, int src_w, uint8_t *dst,
                    int dst_h, int dst_w, tc_error *err)
{
    if (channels < 1 || src_h < 1 || src_w < 1 || dst_h < 1 || dst_w < 1)
        return tc_error_set(err, "cannot resize a %dx%dx%d image to %dx%d", channels, src_h,
                            src_w, dst_h, dst_w);
    return resample(src, channels, src_h, src_w, dst_h, dst_w, 0, 0, dst, dst_h, dst_w, err);
}

int tc_image_fit(const uint8_t *src, int channels, int src_h, int src_w, tc_resize_mode mode,
                 int size, uint8_t *dst, int height, int width, const char *what,
                 tc_error *err)
{
    if (!what)
        what = "image";
    if (src_h == height && src_w == width && mode != TC_RESIZE_CROP) {
        memcpy(dst, src, (size_t)channels * (size_t)height * (size_t)width);
        return 0;
    }
    if (mode == TC_RESIZE_NONE)
        return tc_error_set(err, "%s: image is %dx%d (height x width) but %dx%d was expected",
                            what, src_h, src_w, height, width);
    if (mode == TC_RESIZE_STRETCH)
        return tc_image_resize(src, channels, src_h, src_w, dst, height, width, err)
                   ? tc_error_prefix(err, "%s", what)
                   : 0;
    if (mode != TC_RESIZE_CROP)
        return tc_error_set(err, "%s: unknown resize mode %d", what, (int)mode);
    int64_t s = size > 0 ? size : height > width ? height : width;
    /* the shorter side becomes s, the longer floor(long * s / short) */
    int64_t rh = src_h <= src_w ? s : (int64_t)src_h * s / src_w;
    int64_t rw = src_h <= src_w ? (int64_t)src_w * s / src_h : s;
    if (rh < height || rw < width)
        return tc_error_set(err, "%s: a %dx%d image scaled to %lldx%lld (shorter side %lld) "
                                 "cannot hold the %dx%d crop",
                            what, src_h, src_w, (long long)rh, (long long)rw, (long long)s,
                            height, width);
    if (rh == src_h && rw == src_w && rh == height && rw == width) {
        memcpy(dst, src, (size_t)channels * (size_t)height * (size_t)width);
        return 0;
    }
    return resample(src, channels, src_h, src_w, rh, rw, (rh - height) / 2, (rw - width) / 2,
                    dst, height, width, err)
               ? tc_error_prefix(err, "%s", what)
               : 0;
}
