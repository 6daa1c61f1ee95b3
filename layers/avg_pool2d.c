/*
 * avg_pool2d.c - the AvgPool2d layer plugin: the mean over each k x k window
 * of an NCHW input, floor output size. Padding counts as zeros in the
 * divisor (every window divides by k*k), like PyTorch's default
 * count_include_pad=True, so a border window is not rescaled.
 */
#include <string.h>

#include "layer_util.h"

typedef lu_pool_geom geom;

/* One plane forward (in x, out y) or backward (in dy, out dx): every window
 * divides by k*k. */
static void avg_plane(const geom *g, const float *in, float *out, int backward)
{
    const float inv = 1.0f / (float)(g->k * g->k);
    if (backward)
        memset(out, 0, sizeof(float) * (size_t)g->hw);
    for (int64_t oh = 0; oh < g->oh; oh++) {
        for (int64_t ow = 0; ow < g->ow; ow++) {
            int64_t hb, he, wb, we;
            lu_pool_window(g, oh, ow, &hb, &he, &wb, &we);
            if (backward) {
                float d = in[oh * g->ow + ow] * inv;
                for (int64_t ih = hb; ih < he; ih++)
                    for (int64_t iw = wb; iw < we; iw++)
                        out[ih * g->w + iw] += d;
                continue;
            }
            float acc = 0.0f;
            for (int64_t ih = hb; ih < he; ih++)
                for (int64_t iw = wb; iw < we; iw++)
                    acc += in[ih * g->w + iw];
            out[oh * g->ow + ow] = acc * inv;
        }
    }
}

static void forward_plane(const geom *g, const float *x, float *y, int32_t *am)
{
    (void)am;
    avg_plane(g, x, y, 0);
}

static void backward_plane(const geom *g, const float *dy, float *dx, int32_t *am)
{
    (void)am;
    avg_plane(g, dy, dx, 1);
}

LU_POOL_LAYER(avg_pool2d, "AvgPool2d", "mean over k x k windows of NCHW images (padding counted)",
              0, LU_PARALLEL_MIN, 1, forward_plane, backward_plane);

LU_PLUGIN(avg_pool2d, "AvgPool2d", avg_pool2d_type)
