/*
 * relu.c - the ReLU layer plugin: y = max(x, 0), elementwise on any shape.
 * NaN passes through (it is not below 0), so divergence stays visible.
 * Backward reads the forward output (x->output), which the graph keeps, so
 * nothing is saved. Large tensors are split over the worker threads.
 */
#include "layer_util.h"

static inline float relu_fwd(float x, float p)
{
    (void)p;
    return x < 0.0f ? 0.0f : x;
}

static inline float relu_bwd(float x, float y, float dy, float p)
{
    (void)x;
    (void)p;
    return y > 0.0f ? dy : 0.0f;
}

/* No hyperparameters: no create/destroy, self is always NULL. */
LU_ELEMENTWISE(relu, "ReLU", LU_AVX2_CLONES, LU_PARALLEL_MIN_CHEAP, relu_fwd, relu_bwd)
LU_FLOPS_PER_INPUT(relu, 1) /* a comparison */

static const tc_layer_type relu_type = {
    LU_TYPE_HEAD("ReLU", "rectified linear unit max(x, 0), elementwise", 1, 1),
    LU_ELEMENTWISE_CALLBACKS(relu),
};

LU_PLUGIN(relu, "ReLU", relu_type)
