/*
 * leaky_relu.c - the LeakyReLU layer plugin: y = x for x > 0, else
 * negative_slope * x, elementwise on any shape (PyTorch's nn.LeakyReLU).
 * NaN passes through (NaN * slope is NaN), so divergence stays visible.
 * Backward reads the input, which the graph keeps, so nothing is saved: the
 * output alone cannot tell x < 0 from x > 0 when the slope is 0.
 */
#include "layer_util.h"

/* The instance is the slope, one float (what lu_eltwise_param reads). */
static const tc_param_desc leaky_relu_params[] = {
    {"negative_slope", TC_VALUE_FLOAT, 0, 0.01, 0, 1, "gradient for x < 0, in [0, 1)"},
};

static int leaky_relu_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    /* the declared range is inclusive; a slope of 1 would be the identity */
    if (!(v[0] >= 0.0 && v[0] < 1.0)) {
        host->set_error(err, "LeakyReLU: negative_slope must be in [0, 1), got %g", v[0]);
        return 1;
    }
    float *slope = lu_new(host, "LeakyReLU", sizeof *slope, self, err);
    if (slope)
        *slope = (float)v[0];
    return !slope;
}

static inline float leaky_fwd(float x, float s)
{
    return x > 0.0f ? x : x * s;
}

static inline float leaky_bwd(float x, float y, float dy, float s)
{
    (void)y;
    return x > 0.0f ? dy : dy * s;
}

LU_ELEMENTWISE(leaky_relu, "LeakyReLU", LU_AVX2_CLONES, LU_PARALLEL_MIN_CHEAP, leaky_fwd,
               leaky_bwd)
LU_FLOPS_PER_INPUT(leaky_relu, 2) /* a comparison and a multiply */

static const tc_layer_type leaky_relu_type = {
    LU_TYPE_HEAD("LeakyReLU",
                 "leaky rectifier: x for x > 0, negative_slope * x otherwise, elementwise", 1, 1),
    LU_TYPE_CONFIG(leaky_relu),
    LU_ELEMENTWISE_CALLBACKS(leaky_relu),
};

LU_PLUGIN(leaky_relu, "LeakyReLU", leaky_relu_type)
