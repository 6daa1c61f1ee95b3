/*
 * needs_big_input.c - BoxMean, a correct layer that the conformance suite's
 * own input shapes cannot test: the mean over every window x window square
 * (valid positions, stride 1) of each channel of [N, C, H, W], with a
 * required window of at least 8, so inputs must be at least 8 x 8 (the
 * suite's shapes are smaller). Its test hints tell the suite which shapes
 * and windows to use, and a gradient tolerance and step of its own; with
 * them every check passes, and with --no-hints no configuration is found.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tinycnn/plugin.h"
#include "test_plugin_util.h"

typedef struct box {
    int64_t k;
} box;

static const tc_param_desc params[] = {
    {"window", TC_VALUE_INT, 1, 0, 8, 32, "side of the averaged square"},
};

/* Two cases (the suite varies the batch): the smallest window on a
 * non-square input, and a larger window on another. */
static const tc_test_case cases[] = {
    {.n_inputs = 1, .n_params = 1, .inputs = {{.ndim = 4, .dims = {2, 2, 9, 10}}},
     .params = {{"window", 8}}},
    {.n_inputs = 1, .n_params = 1, .inputs = {{.ndim = 4, .dims = {1, 3, 11, 9}}},
     .params = {{"window", 9}}},
};

static const tc_test_hints hints = {
    .struct_size = sizeof(tc_test_hints),
    .n_cases = (int32_t)(sizeof cases / sizeof cases[0]),
    .cases = cases,
    .grad_tolerance = 2e-2,
    .grad_step = 5e-3,
};

TPU_CREATE(box_create, box, "BoxMean", .k = (int64_t)v[0])

static int box_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    const box *l = self;
    TPU_UNUSED(n_inputs, n_threads, 0);
    if (in[0].ndim != 4 || in[0].dims[2] < l->k || in[0].dims[3] < l->k) {
        host->set_error(err, "BoxMean with window %lld needs an input [N, C, H, W] with H, W "
                             ">= %lld", (long long)l->k, (long long)l->k);
        return 1;
    }
    plan->output = in[0];
    plan->output.dims[2] = in[0].dims[2] - l->k + 1;
    plan->output.dims[3] = in[0].dims[3] - l->k + 1;
    return 0;
}

/* The sizes forward and backward work with: planes of h x w in, oh x ow out. */
typedef struct box_geom {
    int64_t planes, h, w, oh, ow, k;
} box_geom;

static box_geom box_geometry(const box *l, const tc_exec *x)
{
    const tc_shape *is = &x->inputs[0].shape, *os = &x->output->shape;
    return (box_geom){.planes = is->dims[0] * is->dims[1], .h = is->dims[2], .w = is->dims[3],
                      .oh = os->dims[2], .ow = os->dims[3], .k = l->k};
}

static int box_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, err, 0);
    box_geom g = box_geometry(self, x);
    int64_t planes = g.planes, h = g.h, w = g.w, oh = g.oh, ow = g.ow, k = g.k;
    float inv = 1.0f / (float)(k * k);
    for (int64_t p = 0; p < planes; p++) {
        const float *src = x->inputs[0].data + p * h * w;
        float *dst = x->output->data + p * oh * ow;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++) {
                float acc = 0;
                for (int64_t dy = 0; dy < k; dy++)
                    for (int64_t dx = 0; dx < k; dx++)
                        acc += src[(y + dy) * w + xx + dx];
                dst[y * ow + xx] = acc * inv;
            }
    }
    return 0;
}

static int box_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    TPU_UNUSED(host, err, 0);
    if (!x->grad_inputs[0].data)
        return 0;
    box_geom g = box_geometry(self, x);
    int64_t planes = g.planes, h = g.h, w = g.w, oh = g.oh, ow = g.ow, k = g.k;
    float inv = 1.0f / (float)(k * k);
    for (int64_t p = 0; p < planes; p++) {
        float *gx = x->grad_inputs[0].data + p * h * w;
        const float *gy = x->grad_output->data + p * oh * ow;
        for (int64_t i = 0; i < h * w; i++)
            gx[i] = 0;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++)
                for (int64_t dy = 0; dy < k; dy++)
                    for (int64_t dx = 0; dx < k; dx++)
                        gx[(y + dy) * w + xx + dx] += gy[y * ow + xx] * inv;
    }
    return 0;
}

TPU_PLUGIN(needs_big_input,
           TPU_ONE_INPUT_TYPE("BoxMean", "mean over window x window squares; needs inputs of at "
                              "least 8 x 8 (test plugin with test hints)", params, box_create,
                              box_plan, box_forward, box_backward),
           .test_hints = &hints)
