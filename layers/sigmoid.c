/*
 * sigmoid.c - the Sigmoid layer plugin: y = 1 / (1 + exp(-x)), elementwise on any
 * shape, evaluated so that exp() never overflows; dy/dx = y (1 - y).
 * Backward reads the forward output (x->output), which the graph keeps, so
 * nothing is saved. Large tensors are split over the worker threads.
 */
#include <math.h>

#include "layer_util.h"

static inline float sigmoid_fwd(float x, float p)
{
    (void)p;
    return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

static inline float sigmoid_bwd(float x, float y, float dy, float p)
{
    (void)x;
    (void)p;
    return dy * y * (1.0f - y);
}

/* No hyperparameters: no create/destroy, self is always NULL. */
LU_ELEMENTWISE(sigmoid, "Sigmoid", , LU_PARALLEL_MIN, sigmoid_fwd, sigmoid_bwd)
LU_FLOPS_PER_INPUT(sigmoid, 3) /* exp, add, divide */

static const tc_layer_type sigmoid_type = {
    LU_TYPE_HEAD("Sigmoid", "logistic sigmoid 1 / (1 + exp(-x)), elementwise", 1, 1),
    LU_ELEMENTWISE_CALLBACKS(sigmoid),
};

LU_PLUGIN(sigmoid, "Sigmoid", sigmoid_type)
