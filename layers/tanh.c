/*
 * tanh.c - the Tanh layer plugin: y = tanh(x), elementwise on any shape;
 * dy/dx = 1 - y^2.
 * Backward reads the forward output (x->output), which the graph keeps, so
 * nothing is saved. Large tensors are split over the worker threads.
 */
#include <math.h>

#include "layer_util.h"

static inline float tanh_fwd(float x, float p)
{
    (void)p;
    return tanhf(x);
}

static inline float tanh_bwd(float x, float y, float dy, float p)
{
    (void)x;
    (void)p;
    return dy * (1.0f - y * y);
}

/* No hyperparameters: no create/destroy, self is always NULL. */
LU_ELEMENTWISE(tanh_layer, "Tanh", , LU_PARALLEL_MIN, tanh_fwd, tanh_bwd)
LU_FLOPS_PER_INPUT(tanh_layer, 1) /* one tanh */

static const tc_layer_type tanh_layer_type = {
    LU_TYPE_HEAD("Tanh", "hyperbolic tangent, elementwise", 1, 1),
    LU_ELEMENTWISE_CALLBACKS(tanh_layer),
};

LU_PLUGIN(tanh, "Tanh", tanh_layer_type)
