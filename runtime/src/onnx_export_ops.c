/* ONNX export, one layer at a time: each standard layer type onto the ONNX
 * operators of opset 13 that compute the same inference function (the table
 * is in docs/onnx.md). A node's ONNX output is named as the node, so the
 * graph's names survive; helper nodes get "<node>/<what>". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"
#include "onnx_internal.h"

/* The value of parameter `name` of nd (the defaults filled in by the
 * loader), or dflt when the type declares no such parameter. */
static double param(const tc_node *nd, const char *name, double dflt)
{
    for (int i = 0; i < nd->type->n_params; i++)
        if (strcmp(nd->type->params[i].name, name) == 0)
            return nd->param_values[i];
    return dflt;
}

/* A per-axis override where 0 means "the square value". */
static int64_t axis_param(const tc_node *nd, const char *axis_name, int64_t square)
{
    int64_t v = (int64_t)param(nd, axis_name, 0);
    return v ? v : square;
}

/* The node's weight or state tensor "<node>.<what>"; NULL if it has none. */
static tc_weight *tensor_of(onnx_ex *x, const tc_node *nd, const char *what, int state)
{
    char name[512];
    snprintf(name, sizeof name, "%s.%s", nd->name, what);
    return state ? tc_graph_find_state(x->g, name) : tc_graph_find_weight(x->g, name);
}

static const char *weight_init(onnx_ex *x, const tc_weight *w)
{
    return onnx_ex_init(x, w->name, &w->value.shape, w->value.data, 0);
}

/* Only the first input: the layers below take one. */
static const char *in0(onnx_ex *x, const tc_node *nd)
{
    return x->value_name[nd->inputs[0]];
}

static Onnx__NodeProto *unary(onnx_ex *x, const tc_node *nd, const char *op)
{
    const char *in[] = {in0(x, nd)};
    return onnx_ex_node(x, op, nd->name, in, 1, nd->name);
}

static int map_conv(onnx_ex *x, const tc_node *nd)
{
    int64_t k = (int64_t)param(nd, "kernel_size", 1), s = (int64_t)param(nd, "stride", 1);
    int64_t p = (int64_t)param(nd, "padding", 0), d = (int64_t)param(nd, "dilation", 1);
    int64_t kernel[2] = {axis_param(nd, "kernel_h", k), axis_param(nd, "kernel_w", k)};
    int64_t strides[2] = {axis_param(nd, "stride_h", s), axis_param(nd, "stride_w", s)};
    int64_t dil[2] = {axis_param(nd, "dilation_h", d), axis_param(nd, "dilation_w", d)};
    int64_t ph = axis_param(nd, "pad_h", p), pw = axis_param(nd, "pad_w", p);
    int64_t pads[4] = {ph, pw, ph, pw};
    tc_weight *w = tensor_of(x, nd, "weight", 0), *b = tensor_of(x, nd, "bias", 0);
    if (!w)
        return tc_error_set(x->err, "node '%s' (Conv2d): no weight tensor", nd->name);
    const char *in[3] = {in0(x, nd), weight_init(x, w), b ? weight_init(x, b) : NULL};
    Onnx__NodeProto *n = onnx_ex_node(x, "Conv", nd->name, in, b ? 3 : 2, nd->name);
    return !n || onnx_ex_attr_ints(x, n, "kernel_shape", kernel, 2) ||
           onnx_ex_attr_ints(x, n, "strides", strides, 2) ||
           onnx_ex_attr_ints(x, n, "pads", pads, 4) ||
           onnx_ex_attr_ints(x, n, "dilations", dil, 2) ||
           onnx_ex_attr_int(x, n, "group", (int64_t)param(nd, "groups", 1));
}

/* y = x W^T + b: Gemm with transB, which keeps tinycnn's [out, in] weight. */
static int map_linear(onnx_ex *x, const tc_node *nd)
{
    tc_weight *w = tensor_of(x, nd, "weight", 0), *b = tensor_of(x, nd, "bias", 0);
    if (!w)
        return tc_error_set(x->err, "node '%s' (Linear): no weight tensor", nd->name);
    const char *in[3] = {in0(x, nd), weight_init(x, w), b ? weight_init(x, b) : NULL};
    Onnx__NodeProto *n = onnx_ex_node(x, "Gemm", nd->name, in, b ? 3 : 2, nd->name);
    return !n || onnx_ex_attr_int(x, n, "transB", 1);
}

static int map_pool(onnx_ex *x, const tc_node *nd, const char *op)
{
    int64_t k = (int64_t)param(nd, "kernel_size", 1), s = (int64_t)param(nd, "stride", 0);
    int64_t p = (int64_t)param(nd, "padding", 0);
    int64_t kernel[2] = {k, k}, strides[2] = {s ? s : k, s ? s : k}, pads[4] = {p, p, p, p};
    Onnx__NodeProto *n = unary(x, nd, op);
    if (!n || onnx_ex_attr_ints(x, n, "kernel_shape", kernel, 2) ||
        onnx_ex_attr_ints(x, n, "strides", strides, 2) ||
        onnx_ex_attr_ints(x, n, "pads", pads, 4))
        return 1;
    /* AvgPool2d divides by k*k at the border too (PyTorch's default) */
    return strcmp(op, "AveragePool") == 0 && onnx_ex_attr_int(x, n, "count_include_pad", 1);
}

/* A per-channel constant for BatchNorm without affine (scale 1, shift 0). */
static const char *channel_const(onnx_ex *x, const tc_node *nd, const char *what,
                                 const tc_shape *shape, float v)
{
    int64_t c = shape->dims[0];
    float *d = onnx_alloc(&x->arena, sizeof(float) * (size_t)c);
    if (!d)
        return NULL;
    for (int64_t i = 0; i < c; i++)
        d[i] = v;
    char name[512];
    snprintf(name, sizeof name, "%s.%s", nd->name, what);
    return onnx_ex_init(x, name, shape, d, 0);
}

/* Inference form: the running statistics. ONNX's momentum weighs the old
 * running value, tinycnn's (PyTorch's) the batch's: one is 1 - the other. */
static int map_batch_norm(onnx_ex *x, const tc_node *nd)
{
    tc_weight *mean = tensor_of(x, nd, "running_mean", 1), *var = tensor_of(x, nd, "running_var", 1);
    tc_weight *w = tensor_of(x, nd, "weight", 0), *b = tensor_of(x, nd, "bias", 0);
    if (!mean || !var)
        return tc_error_set(x->err, "node '%s' (%s): no running statistics", nd->name,
                            nd->type->name);
    const tc_shape *cs = &mean->value.shape;
    const char *in[5] = {in0(x, nd), w ? weight_init(x, w) : channel_const(x, nd, "scale", cs, 1),
                         b ? weight_init(x, b) : channel_const(x, nd, "shift", cs, 0),
                         weight_init(x, mean), weight_init(x, var)};
    Onnx__NodeProto *n = onnx_ex_node(x, "BatchNormalization", nd->name, in, 5, nd->name);
    return !n || onnx_ex_attr_float(x, n, "epsilon", (float)param(nd, "eps", 1e-5)) ||
           onnx_ex_attr_float(x, n, "momentum", (float)(1.0 - param(nd, "momentum", 0.1)));
}

/* Add takes two inputs in ONNX; more go to Sum (the same addition). */
static int map_add(onnx_ex *x, const tc_node *nd)
{
    const char *in[ONNX_MAX_NODE_INPUTS];
    for (int i = 0; i < nd->n_inputs && i < ONNX_MAX_NODE_INPUTS; i++)
        in[i] = x->value_name[nd->inputs[i]];
    return !onnx_ex_node(x, nd->n_inputs == 2 ? "Add" : "Sum", nd->name, in, nd->n_inputs,
                         nd->name);
}

static int map_concat(onnx_ex *x, const tc_node *nd)
{
    const char *in[ONNX_MAX_NODE_INPUTS];
    for (int i = 0; i < nd->n_inputs && i < ONNX_MAX_NODE_INPUTS; i++)
        in[i] = x->value_name[nd->inputs[i]];
    /* tinycnn's axis counts the batch as 0, as ONNX's does */
    Onnx__NodeProto *n = onnx_ex_node(x, "Concat", nd->name, in, nd->n_inputs, nd->name);
    return !n || onnx_ex_attr_int(x, n, "axis", (int64_t)param(nd, "axis", 1));
}

/* GlobalAveragePool keeps [N,C,1,1]; GlobalAvgPool2d gives [N,C]. */
static int map_global_pool(onnx_ex *x, const tc_node *nd)
{
    char mid[512];
    snprintf(mid, sizeof mid, "%s/pool", nd->name);
    const char *in[] = {in0(x, nd)}, *fin[] = {mid};
    Onnx__NodeProto *n = onnx_ex_node(x, "GlobalAveragePool", mid, in, 1, mid);
    Onnx__NodeProto *f = n ? onnx_ex_node(x, "Flatten", nd->name, fin, 1, nd->name) : NULL;
    return !f || onnx_ex_attr_int(x, f, "axis", 1);
}

static int map_simple(onnx_ex *x, const tc_node *nd, const char *type)
{
    static const char *const pairs[][2] = {
        {"ReLU", "Relu"}, {"Sigmoid", "Sigmoid"}, {"Tanh", "Tanh"}, {"Dropout", "Identity"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (strcmp(type, pairs[i][0]) == 0)
            return !unary(x, nd, pairs[i][1]);
    Onnx__NodeProto *n;
    if (strcmp(type, "LeakyReLU") == 0)
        return !(n = unary(x, nd, "LeakyRelu")) ||
               onnx_ex_attr_float(x, n, "alpha", (float)param(nd, "negative_slope", 0.01));
    if (strcmp(type, "Softmax") == 0) /* axis 1 = the first sample dimension, as in ONNX */
        return !(n = unary(x, nd, "Softmax")) ||
               onnx_ex_attr_int(x, n, "axis", (int64_t)param(nd, "axis", -1));
    if (strcmp(type, "Flatten") == 0)
        return !(n = unary(x, nd, "Flatten")) || onnx_ex_attr_int(x, n, "axis", 1);
    return -1;
}

int onnx_ex_map_node(onnx_ex *x, const tc_node *nd)
{
    const char *t = nd->type->name;
    if (nd->n_inputs > ONNX_MAX_NODE_INPUTS)
        return tc_error_set(x->err, "node '%s' (%s): %d inputs, more than %d", nd->name, t,
                            nd->n_inputs, ONNX_MAX_NODE_INPUTS);
    if (strcmp(t, "Conv2d") == 0)
        return map_conv(x, nd);
    if (strcmp(t, "Linear") == 0)
        return map_linear(x, nd);
    if (strcmp(t, "MaxPool2d") == 0)
        return map_pool(x, nd, "MaxPool");
    if (strcmp(t, "AvgPool2d") == 0)
        return map_pool(x, nd, "AveragePool");
    if (strcmp(t, "BatchNorm2d") == 0 || strcmp(t, "BatchNorm1d") == 0)
        return map_batch_norm(x, nd);
    if (strcmp(t, "Add") == 0)
        return map_add(x, nd);
    if (strcmp(t, "Concat") == 0)
        return map_concat(x, nd);
    if (strcmp(t, "GlobalAvgPool2d") == 0)
        return map_global_pool(x, nd);
    int rc = map_simple(x, nd, t);
    if (rc >= 0)
        return rc;
    if (onnx_ex_plugin_has(nd->type))
        return onnx_ex_map_plugin(x, nd);
    return tc_error_set(x->err, "node '%s': layer type '%s' has no ONNX mapping (export maps "
                                "the standard layers, and a plugin layer with an onnx_export "
                                "callback: see docs/onnx.md)", nd->name, t);
}
