/* ONNX import, one operator at a time: each ONNX node of the supported set
 * (docs/onnx.md) becomes a tinycnn node, an alias of the value it reads
 * (Identity, Dropout at inference, a Flatten of what is already 2-D) or
 * part of the input normalisation (leading Sub/Div). Every attribute that
 * would change the meaning is checked; anything else is refused naming the
 * node and its op type. The tinycnn node is named as the ONNX node's first
 * output, so the graph's names survive. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define NODE(m, i) ((m)->g->node[i])

/* "origin: node 'x' (Op): " then the message; returns 1. */
static int fail(onnx_imp *m, int i, const char *fmt, ...) TC_PRINTF(3, 4);
static int fail(onnx_imp *m, int i, const char *fmt, ...)
{
    char msg[400], lb[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tc_error_set(m->err, "%s: node %s: %s", m->origin,
                        onnx_imp_label(NODE(m, i), i, lb, sizeof lb), msg);
}

/* ---- inputs and attributes ---------------------------------------------- */

static int tc_rank(const onnx_val *v)
{
    return v->squeezed ? 2 : v->rank;
}

static const char *in_name(onnx_imp *m, int i, int k)
{
    return k < (int)NODE(m, i)->n_input && NODE(m, i)->input[k][0] ? NODE(m, i)->input[k] : NULL;
}

/* Input k as a computed value (not a constant). */
static onnx_val *data_in(onnx_imp *m, int i, int k)
{
    const char *name = in_name(m, i, k);
    onnx_val *v = name ? onnx_imp_find(m, name) : NULL;
    if (!v || !v->tc) {
        fail(m, i, "input %d %s", k, !v ? "is missing" : "must be computed, not a constant");
        return NULL;
    }
    return v;
}

/* Input k as a float32 constant of rank in [lo, hi] (NULL and no error
 * when optional and absent). */
static const Onnx__TensorProto *const_in(onnx_imp *m, int i, int k, int optional, int lo,
                                         int hi)
{
    const char *name = in_name(m, i, k);
    onnx_val *v = name ? onnx_imp_find(m, name) : NULL;
    if (!v && optional)
        return NULL;
    if (!v || !v->t) {
        fail(m, i, "input %d must be an initializer or Constant%s", k,
             !v ? ", and is missing" : "");
        return NULL;
    }
    if (v->t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || (int)v->t->n_dims < lo ||
        (int)v->t->n_dims > hi) {
        fail(m, i, "constant '%s' must be float32 with %d to %d dims", name, lo, hi);
        return NULL;
    }
    return v->t;
}

static const Onnx__AttributeProto *attr_of(onnx_imp *m, int i, const char *name, int type,
                                           int *bad)
{
    const Onnx__AttributeProto *a = onnx_attr(NODE(m, i), name);
    *bad = a && a->has_type && a->type != (Onnx__AttributeProto__AttributeType)type;
    if (*bad)
        fail(m, i, "attribute '%s' has the wrong type %d", name, (int)a->type);
    return *bad ? NULL : a;
}

static int attr_int(onnx_imp *m, int i, const char *name, int64_t dflt, int64_t *out)
{
    int bad;
    const Onnx__AttributeProto *a = attr_of(m, i, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT,
                                            &bad);
    *out = a ? a->i : dflt;
    return bad;
}

static int attr_float(onnx_imp *m, int i, const char *name, double dflt, double *out)
{
    int bad;
    const Onnx__AttributeProto *a =
        attr_of(m, i, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &bad);
    *out = a ? onnx_short_float(a->f) : dflt;
    return bad || !isfinite(*out) ? (bad ? 1 : fail(m, i, "attribute '%s' is not finite", name))
                                  : 0;
}

/* A list of exactly n ints (dflt each when absent). */
static int attr_ints(onnx_imp *m, int i, const char *name, int n, int64_t dflt, int64_t *out)
{
    int bad;
    const Onnx__AttributeProto *a =
        attr_of(m, i, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &bad);
    if (bad)
        return 1;
    if (a && a->n_ints != (size_t)n)
        return fail(m, i, "attribute '%s' has %zu values, expected %d", name, a->n_ints, n);
    for (int k = 0; k < n; k++)
        out[k] = a ? a->ints[k] : dflt;
    return 0;
}

/* auto_pad other than NOTSET is refused: the pads are read from "pads". */
static int no_auto_pad(onnx_imp *m, int i)
{
    const Onnx__AttributeProto *a = onnx_attr(NODE(m, i), "auto_pad");
    if (a && a->has_s && !(a->s.len == 6 && memcmp(a->s.data, "NOTSET", 6) == 0))
        return fail(m, i, "auto_pad other than NOTSET is not supported (export with explicit "
                          "pads)");
    return 0;
}

/* ---- results -------------------------------------------------------------- */

/* The tinycnn name for an ONNX value: itself, except that "optim/" starts
 * the optimiser's tensors in a checkpoint. */
static char *tc_name(const char *onnx)
{
    size_t n = strlen(onnx);
    int pre = strncmp(onnx, "optim/", 6) == 0;
    char *s = malloc(n + 2);
    if (s) {
        s[0] = '_';
        memcpy(s + pre, onnx, n + 1);
    }
    return s;
}

/* Appends {"name", "type", "inputs", "params"} named after value out
 * (taking over inputs and params) and makes out that node. */
static int emit_as(onnx_imp *m, int i, onnx_val *out, const char *type, json_t *inputs,
                   json_t *params, int rank)
{
    char *name = tc_name(out->name);
    json_t *o = name ? json_pack("{s:s, s:s, s:o, s:o}", "name", name, "type", type, "inputs",
                                 inputs, "params", params ? params : json_object())
                     : NULL;
    if (!o || json_array_append_new(m->nodes, o) != 0) {
        free(name);
        return fail(m, i, "out of memory");
    }
    /* the JSON holds the name now; the value points at it */
    out->tc = json_string_value(json_object_get(o, "name"));
    free(name);
    out->defined = 1;
    out->rank = rank;
    out->squeezed = 0;
    return 0;
}

static onnx_val *out_val(onnx_imp *m, int i)
{
    return onnx_imp_find(m, NODE(m, i)->output[0]);
}

static int emit(onnx_imp *m, int i, const char *type, json_t *inputs, json_t *params, int rank)
{
    return emit_as(m, i, out_val(m, i), type, inputs, params, rank);
}

/* The node's output is the value src (Identity and the like). */
static int alias(onnx_imp *m, int i, const onnx_val *src)
{
    onnx_val *o = out_val(m, i);
    o->tc = src->tc;
    o->t = src->t;
    o->rank = src->rank;
    o->squeezed = src->squeezed;
    o->defined = 1;
    return 0;
}

/* A weight or state tensor "<node>.<what>" of the node just emitted. */
static int add_tensor(onnx_imp *m, int i, const char *what, int ndim, const int64_t *dims,
                      const float *data)
{
    onnx_val *o = out_val(m, i);
    char name[ONNX_MAX_NAME + 64];
    snprintf(name, sizeof name, "%s.%s", o->tc, what);
    tc_shape s = {.ndim = ndim};
    for (int d = 0; d < ndim; d++)
        s.dims[d] = dims[d];
    return tc_checkpoint_add(m->ck, name, &s, data, m->err);
}

/* A constant's values as a weight, as they are. */
static int add_const(onnx_imp *m, int i, const char *what, const Onnx__TensorProto *t)
{
    float *d = onnx_tensor_floats(t);
    if (!d)
        return fail(m, i, "out of memory");
    int rc = add_tensor(m, i, what, (int)t->n_dims, t->dims, d);
    free(d);
    return rc;
}

static json_t *names1(const onnx_val *v)
{
    return json_pack("[s]", v->tc);
}

/* ---- convolution and pooling -------------------------------------------- */

/* The square value, and an axis override where the axes differ. */
static void set_pair(json_t *p, const char *square, const char *h, const char *w,
                     const int64_t *v, int64_t dflt)
{
    if (v[0] == v[1]) {
        if (v[0] != dflt)
            json_object_set_new(p, square, json_integer(v[0]));
        return;
    }
    /* an override of 0 means "the square value": with a square of 0 (no
     * padding) a 0 override stays 0; other pairs take the override on both */
    json_object_set_new(p, square, json_integer(dflt));
    json_object_set_new(p, h, json_integer(v[0]));
    json_object_set_new(p, w, json_integer(v[1]));
}

/* pads [top, left, bottom, right]: tinycnn pads each axis symmetrically. */
static int symmetric_pads(onnx_imp *m, int i, int64_t *hw)
{
    int64_t pads[4];
    if (attr_ints(m, i, "pads", 4, 0, pads) || no_auto_pad(m, i))
        return 1;
    if (pads[0] != pads[2] || pads[1] != pads[3] || pads[0] < 0 || pads[1] < 0)
        return fail(m, i, "pads [%lld,%lld,%lld,%lld] are not symmetric (tinycnn pads both "
                          "sides of an axis alike)", (long long)pads[0], (long long)pads[1],
                    (long long)pads[2], (long long)pads[3]);
    hw[0] = pads[0];
    hw[1] = pads[1];
    return 0;
}

/* Input 0 of node i, computed; its weight, input 1, a constant of rank
 * w_rank; and its optional bias, input 2, a constant of rank b_lo to b_hi.
 * NULL when one fails. */
static onnx_val *weighted_in(onnx_imp *m, int i, int w_rank, int b_lo, int b_hi,
                             const Onnx__TensorProto **w, const Onnx__TensorProto **b)
{
    onnx_val *x = data_in(m, i, 0);
    *w = x ? const_in(m, i, 1, 0, w_rank, w_rank) : NULL;
    *b = *w ? const_in(m, i, 2, 1, b_lo, b_hi) : NULL;
    return *w && (*b || !in_name(m, i, 2)) ? x : NULL;
}

static int conv(onnx_imp *m, int i)
{
    const Onnx__TensorProto *w, *b;
    onnx_val *x = weighted_in(m, i, 4, 1, 1, &w, &b);
    if (!x)
        return 1;
    if (x->rank != 4 || x->squeezed)
        return fail(m, i, "needs a 4-D input [N,C,H,W]");
    int64_t kernel[2], strides[2], dil[2], pads[2], group;
    if (attr_ints(m, i, "kernel_shape", 2, 0, kernel) || attr_ints(m, i, "strides", 2, 1, strides) ||
        attr_ints(m, i, "dilations", 2, 1, dil) || symmetric_pads(m, i, pads) ||
        attr_int(m, i, "group", 1, &group))
        return 1;
    if ((kernel[0] && kernel[0] != w->dims[2]) || (kernel[1] && kernel[1] != w->dims[3]))
        return fail(m, i, "kernel_shape differs from the weight's [%lld,%lld]",
                    (long long)w->dims[2], (long long)w->dims[3]);
    if (b && b->dims[0] != w->dims[0])
        return fail(m, i, "the bias has %lld values for %lld output channels",
                    (long long)b->dims[0], (long long)w->dims[0]);
    json_t *p = json_pack("{s:I}", "out_channels", (json_int_t)w->dims[0]);
    set_pair(p, "kernel_size", "kernel_h", "kernel_w", w->dims + 2, w->dims[2]);
    set_pair(p, "stride", "stride_h", "stride_w", strides, 1);
    set_pair(p, "padding", "pad_h", "pad_w", pads, 0);
    set_pair(p, "dilation", "dilation_h", "dilation_w", dil, 1);
    if (!json_object_get(p, "kernel_size"))
        json_object_set_new(p, "kernel_size", json_integer(w->dims[2]));
    if (group != 1)
        json_object_set_new(p, "groups", json_integer(group));
    if (!b)
        json_object_set_new(p, "bias", json_false());
    return emit(m, i, "Conv2d", names1(x), p, 4) || add_const(m, i, "weight", w) ||
           (b && add_const(m, i, "bias", b));
}

/* MaxPool and AveragePool: square windows, equal strides and pads, floor
 * output sizes; AveragePool with padding must count the padding (as
 * tinycnn's AvgPool2d does). */
static int pool(onnx_imp *m, int i, int is_max)
{
    onnx_val *x = data_in(m, i, 0);
    if (!x)
        return 1;
    if (x->rank != 4 || x->squeezed)
        return fail(m, i, "needs a 4-D input [N,C,H,W]");
    int64_t k[2], s[2], d[2], pads[2], ceil_mode, count_pad;
    if (attr_ints(m, i, "kernel_shape", 2, 0, k) || attr_ints(m, i, "strides", 2, 1, s) ||
        attr_ints(m, i, "dilations", 2, 1, d) || symmetric_pads(m, i, pads) ||
        attr_int(m, i, "ceil_mode", 0, &ceil_mode) ||
        attr_int(m, i, "count_include_pad", 0, &count_pad))
        return 1;
    if (k[0] < 1 || k[0] != k[1] || s[0] != s[1] || pads[0] != pads[1])
        return fail(m, i, "only square windows with equal strides and pads are supported "
                          "(kernel_shape [%lld,%lld], strides [%lld,%lld])", (long long)k[0],
                    (long long)k[1], (long long)s[0], (long long)s[1]);
    if (ceil_mode || d[0] != 1 || d[1] != 1)
        return fail(m, i, "ceil_mode and dilations are not supported");
    if (!is_max && pads[0] > 0 && !count_pad)
        return fail(m, i, "padding without count_include_pad=1 is not supported (tinycnn "
                          "divides every window by its full size)");
    json_t *p = json_pack("{s:I, s:I, s:I}", "kernel_size", (json_int_t)k[0], "stride",
                          (json_int_t)s[0], "padding", (json_int_t)pads[0]);
    return emit(m, i, is_max ? "MaxPool2d" : "AvgPool2d", names1(x), p, 4);
}

static int global_pool(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0);
    if (!x)
        return 1;
    if (x->rank != 4 || x->squeezed)
        return fail(m, i, "needs a 4-D input [N,C,H,W]");
    if (emit(m, i, "GlobalAvgPool2d", names1(x), NULL, 4))
        return 1;
    out_val(m, i)->squeezed = 1; /* ONNX [N,C,1,1], tinycnn [N,C] */
    return 0;
}

/* ---- fully connected ----------------------------------------------------- */

/* A bias of n outputs from c (n values, or one for all). Owner: the caller. */
static float *bias_values(const Onnx__TensorProto *c, int64_t n)
{
    float *src = onnx_tensor_floats(c), *b = malloc(sizeof *b * (size_t)n);
    if (src && b)
        for (int64_t k = 0; k < n; k++)
            b[k] = src[onnx_tensor_count(c) == 1 ? 0 : k];
    free(src);
    return b;
}

/* A Linear node of weight w ([out,in] when trans, else [in,out]) and an
 * optional bias c, named after value out. */
static int linear(onnx_imp *m, int i, onnx_val *out, const onnx_val *x,
                  const Onnx__TensorProto *w, int trans, const Onnx__TensorProto *c)
{
    int64_t nout = trans ? w->dims[0] : w->dims[1], nin = trans ? w->dims[1] : w->dims[0];
    if (c && onnx_tensor_count(c) != 1 &&
        (onnx_tensor_count(c) != nout || c->dims[c->n_dims - 1] != nout))
        return fail(m, i, "the bias has %lld values for %lld outputs",
                    (long long)onnx_tensor_count(c), (long long)nout);
    json_t *p = json_pack("{s:I}", "out_features", (json_int_t)nout);
    if (!c)
        json_object_set_new(p, "bias", json_false());
    if (emit_as(m, i, out, "Linear", names1(x), p, 2))
        return 1;
    alias(m, i, out); /* add_tensor names the tensors after node i's output */
    float *src = onnx_tensor_floats(w), *wt = malloc(sizeof *wt * (size_t)(nout * nin + 1));
    float *b = c ? bias_values(c, nout) : NULL;
    int rc = !src || !wt || (c && !b);
    if (!rc) {
        for (int64_t o = 0; o < nout; o++) /* tinycnn keeps [out, in] */
            for (int64_t k = 0; k < nin; k++)
                wt[o * nin + k] = trans ? src[o * nin + k] : src[k * nout + o];
        int64_t wd[2] = {nout, nin};
        rc = add_tensor(m, i, "weight", 2, wd, wt) || (b && add_tensor(m, i, "bias", 1, &nout, b));
    } else {
        fail(m, i, "out of memory");
    }
    free(src);
    free(wt);
    free(b);
    return rc;
}

static int gemm(onnx_imp *m, int i)
{
    const Onnx__TensorProto *w, *c;
    onnx_val *x = weighted_in(m, i, 2, 0, 2, &w, &c);
    if (!x)
        return 1;
    int64_t ta, tb;
    double alpha, beta;
    if (attr_int(m, i, "transA", 0, &ta) || attr_int(m, i, "transB", 0, &tb) ||
        attr_float(m, i, "alpha", 1, &alpha) || attr_float(m, i, "beta", 1, &beta))
        return 1;
    if (tc_rank(x) != 2 || ta != 0)
        return fail(m, i, "needs a 2-D input [N,F] and transA=0");
    if (alpha != 1 || (c && beta != 1))
        return fail(m, i, "alpha and beta other than 1 are not supported");
    return linear(m, i, out_val(m, i), x, w, tb != 0, c);
}

/* The node after i that reads its output, when it is an Add of a constant
 * and the only reader: MatMul + Add is one Linear. -1 otherwise. */
static int bias_add_after(onnx_imp *m, int i, const Onnx__TensorProto **c)
{
    onnx_val *o = out_val(m, i);
    if (o->consumers != 1 || o->reader <= i) /* read once, by a node (not the output) */
        return -1;
    const Onnx__NodeProto *n = NODE(m, o->reader);
    if (strcmp(n->op_type, "Add") != 0 || n->n_input != 2)
        return -1;
    int k = strcmp(n->input[0], o->name) == 0 ? 1 : 0;
    onnx_val *other = onnx_imp_find(m, n->input[k]);
    if (!other || !other->t || other->t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        other->t->n_dims > 2)
        return -1;
    *c = other->t;
    return o->reader;
}

static int matmul(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0);
    const Onnx__TensorProto *w = x ? const_in(m, i, 1, 0, 2, 2) : NULL, *c = NULL;
    if (!w)
        return 1;
    if (tc_rank(x) != 2)
        return fail(m, i, "needs a 2-D input [N,F] (a constant [F,out] as its second input)");
    int j = bias_add_after(m, i, &c);
    if (j < 0)
        return linear(m, i, out_val(m, i), x, w, 0, NULL);
    m->skip[j] = 1;
    return linear(m, i, onnx_imp_find(m, NODE(m, j)->output[0]), x, w, 0, c);
}

/* ---- normalisation --------------------------------------------------------- */

static int batch_norm(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0);
    const Onnx__TensorProto *t[4] = {NULL};
    for (int k = 0; k < 4 && (k == 0 ? x != NULL : t[k - 1] != NULL); k++)
        t[k] = const_in(m, i, k + 1, 0, 1, 1);
    if (!t[3])
        return 1;
    int r = tc_rank(x);
    if (r < 2 || r > 4)
        return fail(m, i, "needs an input [N,C], [N,C,L] or [N,C,H,W]");
    for (int k = 0; k < 4; k++)
        if (t[k]->dims[0] != t[0]->dims[0])
            return fail(m, i, "scale, B, mean and var must have one value per channel");
    double eps, momentum;
    int64_t training;
    if (attr_float(m, i, "epsilon", 1e-5, &eps) || attr_float(m, i, "momentum", 0.9, &momentum) ||
        attr_int(m, i, "training_mode", 0, &training))
        return 1;
    if (training)
        return fail(m, i, "training_mode=1 is not inference (export the model in eval mode)");
    /* ONNX's momentum weighs the running value, tinycnn's the batch's */
    double tm = 1.0 - momentum;
    json_t *p = json_pack("{s:f, s:f}", "eps", eps, "momentum",
                          onnx_short_float(tm < 0 ? 0 : tm > 1 ? 1 : tm));
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var"};
    if (emit(m, i, r == 4 ? "BatchNorm2d" : "BatchNorm1d", names1(x), p, x->rank))
        return 1;
    out_val(m, i)->squeezed = x->squeezed;
    for (int k = 0; k < 4; k++)
        if (add_const(m, i, names[k], t[k]))
            return 1;
    return 0;
}

/* Sub(input, mean) and Div(., std) straight after the graph input become
 * the input's "mean" and "std": the values tinycnn applies to pixel/255. */
static int fold_norm(onnx_imp *m, int i, int is_div)
{
    onnx_val *x = onnx_imp_find(m, NODE(m, i)->input[0]);
    const Onnx__TensorProto *c = const_in(m, i, 1, 0, 0, 4);
    if (!c)
        return 1;
    int64_t n = onnx_tensor_count(c);
    int ok = (n == 1 || (n == m->channels && n <= TC_MAX_INPUT_CHANNELS)) &&
             (int)c->n_dims <= x->rank; /* a constant of more dims would grow the value */
    for (int d = 0; ok && d < (int)c->n_dims; d++) /* over [N,C,H,W]: only C may differ */
        ok = c->dims[d] == 1 || x->rank - (int)c->n_dims + d == 1;
    if (!ok)
        return fail(m, i, "a normalisation constant must hold 1 value or one per channel (%d)",
                    m->channels);
    float *v = onnx_tensor_floats(c);
    if (!v)
        return fail(m, i, "out of memory");
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(v[k]) || (is_div && !(v[k] >= 1.17549435e-38f))) {
            free(v);
            return fail(m, i, "value %lld of the constant must be finite%s", (long long)k,
                        is_div ? " and positive (a std)" : "");
        }
        (is_div ? m->std : m->mean)[k] = v[k];
    }
    free(v);
    *(is_div ? &m->n_std : &m->n_mean) = (int)n;
    alias(m, i, x);
    out_val(m, i)->norm = is_div ? 3 : 2;
    return 0;
}

/* Sub or Div: only as the input normalisation. */
static int sub_div(onnx_imp *m, int i, int is_div)
{
    onnx_val *x = NODE(m, i)->n_input == 2 ? onnx_imp_find(m, NODE(m, i)->input[0]) : NULL;
    if (x && x->consumers == 1 && (x->norm == 1 || (is_div && x->norm == 2)))
        return fold_norm(m, i, is_div);
    return fail(m, i, "is supported only as the input's normalisation: Sub(input, mean) then "
                      "Div(., std), each by a constant, straight after the graph input");
}

/* ---- elementwise, joins, shapes -------------------------------------------- */

static int unary(onnx_imp *m, int i, const char *type)
{
    onnx_val *x = data_in(m, i, 0);
    if (!x || emit(m, i, type, names1(x), NULL, x->rank))
        return 1;
    out_val(m, i)->squeezed = x->squeezed;
    return 0;
}

static int leaky_relu(onnx_imp *m, int i)
{
    double alpha;
    if (attr_float(m, i, "alpha", 0.01, &alpha) || unary(m, i, "LeakyReLU"))
        return 1;
    json_t *nd = json_array_get(m->nodes, json_array_size(m->nodes) - 1);
    json_object_set_new(json_object_get(nd, "params"), "negative_slope", json_real(alpha));
    return 0;
}

/* The node's axis attribute as a non-negative axis of x's tinycnn value. */
static int axis_of(onnx_imp *m, int i, const onnx_val *x, int64_t dflt, int64_t *axis)
{
    if (attr_int(m, i, "axis", dflt, axis))
        return 1;
    if (*axis < -x->rank || *axis >= x->rank)
        return fail(m, i, "axis %lld is outside the input's %d dims", (long long)*axis, x->rank);
    if (*axis < 0)
        *axis += x->rank;
    if (*axis == 0 || (x->squeezed && *axis != 1))
        return fail(m, i, "axis %lld is not supported here (the batch, or a 1x1 dimension of "
                          "a pooled value)", (long long)*axis);
    return 0;
}

static int softmax(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0);
    int64_t axis;
    if (!x || axis_of(m, i, x, m->opset >= 13 ? -1 : 1, &axis))
        return 1;
    /* before opset 13 Softmax flattened from axis on: the same only on 2-D */
    if (m->opset < 13 && tc_rank(x) != 2)
        return fail(m, i, "opset %lld's Softmax is supported on 2-D inputs only",
                    (long long)m->opset);
    if (unary(m, i, "Softmax"))
        return 1;
    json_t *nd = json_array_get(m->nodes, json_array_size(m->nodes) - 1);
    json_object_set_new(json_object_get(nd, "params"), "axis", json_integer(axis));
    return 0;
}

/* Add, Sum and Concat: computed inputs of one kind (pooled or not). */
static json_t *join_inputs(onnx_imp *m, int i, int lo, int hi, onnx_val **first)
{
    int n = (int)NODE(m, i)->n_input;
    if (n < lo || n > hi) {
        fail(m, i, "takes %d to %d inputs here, not %d", lo, hi, n);
        return NULL;
    }
    json_t *arr = json_array();
    for (int k = 0; k < n; k++) {
        onnx_val *v = data_in(m, i, k);
        if (v && k > 0 && (v->rank != (*first)->rank || v->squeezed != (*first)->squeezed)) {
            fail(m, i, "inputs of different ranks (broadcasting is not supported)");
            v = NULL;
        }
        if (!v) {
            json_decref(arr);
            return NULL;
        }
        if (k == 0)
            *first = v;
        json_array_append_new(arr, json_string(v->tc));
    }
    return arr;
}

static int add_sum(onnx_imp *m, int i, int is_sum)
{
    onnx_val *first = NULL;
    json_t *in = join_inputs(m, i, 2, is_sum ? 16 : 2, &first);
    if (!in)
        return 1;
    if (emit(m, i, "Add", in, NULL, first->rank))
        return 1;
    out_val(m, i)->squeezed = first->squeezed;
    return 0;
}

static int concat(onnx_imp *m, int i)
{
    onnx_val *first = NULL;
    json_t *in = join_inputs(m, i, 2, 64, &first);
    int64_t axis;
    if (!in || axis_of(m, i, first, 1, &axis)) {
        json_decref(in);
        return 1;
    }
    if (!onnx_attr(NODE(m, i), "axis")) {
        json_decref(in);
        return fail(m, i, "needs its axis attribute");
    }
    if (emit(m, i, "Concat", in, json_pack("{s:I}", "axis", (json_int_t)axis), first->rank))
        return 1;
    out_val(m, i)->squeezed = first->squeezed;
    return 0;
}

/* To [N, features]: a Flatten node, or nothing when the value already is. */
static int to_2d(onnx_imp *m, int i, onnx_val *x)
{
    if (tc_rank(x) == 2) {
        alias(m, i, x);
        onnx_val *o = out_val(m, i);
        o->rank = 2;
        o->squeezed = 0;
        return 0;
    }
    return emit(m, i, "Flatten", names1(x), NULL, 2);
}

static int flatten(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0);
    int64_t axis;
    if (!x || attr_int(m, i, "axis", 1, &axis))
        return 1;
    if (axis != 1 && axis != 1 - x->rank)
        return fail(m, i, "only axis=1 (to [N, features]) is supported");
    return to_2d(m, i, x);
}

/* Reshape to [0 or -1, -1 or K]: a flatten to 2-D; K is checked against
 * the features once the model has loaded. */
static int reshape(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0), *s = x && in_name(m, i, 1) ? onnx_imp_find(m, in_name(m, i, 1)) : NULL;
    if (!x)
        return 1;
    if (!s || !s->t || s->t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
        onnx_tensor_count(s->t) != 2)
        return fail(m, i, "needs a constant int64 shape of 2 values (a flatten to 2-D)");
    int64_t *v = onnx_tensor_int64s(s->t), allowzero;
    if (!v)
        return fail(m, i, "out of memory");
    int64_t d0 = v[0], d1 = v[1];
    free(v);
    if (attr_int(m, i, "allowzero", 0, &allowzero))
        return 1;
    int ok = !allowzero && (d0 == 0 || d0 == -1) && (d1 == -1 || d1 > 0) && !(d0 == -1 && d1 == -1);
    if (!ok)
        return fail(m, i, "shape [%lld,%lld] is not a flatten to [N, features]", (long long)d0,
                    (long long)d1);
    if (to_2d(m, i, x))
        return 1;
    if (d1 > 0) {
        onnx_flat_check *c = realloc(m->checks, sizeof *c * (m->n_checks + 1));
        if (!c)
            return fail(m, i, "out of memory");
        m->checks = c;
        c[m->n_checks].features = d1;
        if (!(c[m->n_checks].node = strdup(out_val(m, i)->tc)))
            return fail(m, i, "out of memory");
        m->n_checks++;
    }
    return 0;
}

static int constant(onnx_imp *m, int i)
{
    const Onnx__AttributeProto *a = onnx_attr(NODE(m, i), "value");
    if (!a || !a->t || NODE(m, i)->n_attribute != 1)
        return fail(m, i, "only a Constant with one tensor attribute 'value' is supported");
    if (onnx_check_tensor(a->t, m->origin, NODE(m, i)->output[0], m->err))
        return 1;
    onnx_val *o = out_val(m, i);
    o->t = a->t;
    o->defined = 1;
    return 0;
}

/* Identity, and Dropout at inference: the value itself. */
static int pass_through(onnx_imp *m, int i)
{
    onnx_val *x = data_in(m, i, 0);
    if (!x)
        return 1;
    if (strcmp(NODE(m, i)->op_type, "Dropout") == 0 && in_name(m, i, 2))
        return fail(m, i, "a training_mode input is not supported (export in eval mode)");
    return alias(m, i, x);
}

/* Outputs after the first (MaxPool's indices, Dropout's mask) are not
 * computed: nothing may read them. */
static int extra_outputs_unused(onnx_imp *m, int i)
{
    for (size_t k = 1; k < NODE(m, i)->n_output; k++) {
        onnx_val *v = NODE(m, i)->output[k][0] ? onnx_imp_find(m, NODE(m, i)->output[k]) : NULL;
        if (v && v->consumers)
            return fail(m, i, "output %zu ('%s') is used; only the first output is supported",
                        k, v->name);
    }
    return 0;
}

int onnx_imp_node(onnx_imp *m, int i)
{
    const char *op = NODE(m, i)->op_type;
    if (extra_outputs_unused(m, i))
        return 1;
    static const char *const unaries[][2] = {
        {"Relu", "ReLU"}, {"Sigmoid", "Sigmoid"}, {"Tanh", "Tanh"}};
    for (size_t k = 0; k < sizeof unaries / sizeof unaries[0]; k++)
        if (strcmp(op, unaries[k][0]) == 0)
            return unary(m, i, unaries[k][1]);
    static const struct {
        const char *op;
        int (*fn)(onnx_imp *, int);
    } ops[] = {{"Conv", conv}, {"Gemm", gemm}, {"MatMul", matmul}, {"GlobalAveragePool", global_pool},
               {"BatchNormalization", batch_norm}, {"LeakyRelu", leaky_relu}, {"Softmax", softmax},
               {"Concat", concat}, {"Flatten", flatten}, {"Reshape", reshape},
               {"Constant", constant}, {"Identity", pass_through}, {"Dropout", pass_through}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strcmp(op, ops[k].op) == 0)
            return ops[k].fn(m, i);
    if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0)
        return pool(m, i, op[0] == 'M');
    if (strcmp(op, "Add") == 0 || strcmp(op, "Sum") == 0)
        return add_sum(m, i, op[0] == 'S');
    if (strcmp(op, "Sub") == 0 || strcmp(op, "Div") == 0)
        return sub_div(m, i, op[0] == 'D');
    return fail(m, i, "op type '%s' is not supported (the importer reads Conv, Gemm, MatMul "
                      "(+ Add), Relu, LeakyRelu, Sigmoid, Tanh, Softmax, MaxPool, AveragePool, "
                      "GlobalAveragePool, BatchNormalization, Add, Sum, Concat, Flatten, "
                      "Reshape, Identity, Dropout, Constant, and Sub/Div as the input's "
                      "normalisation)", op);
}
