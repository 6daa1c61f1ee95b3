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

/* ReLU splits from 2^17 elements on, below LU_PARALLEL_MIN_CHEAP: the
 * maps of a ResNet's later stages at batch 32 (2^17-2^18 values, 0.5-1 MB
 * read and written each way, backward reading two) are tens of
 * microseconds of memory traffic on one core, several times a region's
 * start on an idle machine; a busy one falls back to the calling thread
 * (runtime/src/threads.c). */
#define RELU_PARALLEL_MIN (1 << 17)

/* No hyperparameters: no create/destroy, self is always NULL. */
LU_ELEMENTWISE(relu, "ReLU", LU_AVX2_CLONES, RELU_PARALLEL_MIN, relu_fwd, relu_bwd)
LU_FLOPS_PER_INPUT(relu, 1) /* a comparison */

static const tc_layer_type relu_type = {
    LU_TYPE_HEAD("ReLU", "rectified linear unit max(x, 0), elementwise", 1, 1),
    LU_ELEMENTWISE_CALLBACKS(relu),
};

LU_PLUGIN(relu, "ReLU", relu_type)
