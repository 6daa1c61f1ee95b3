/* Reading an ONNX file as hostile input: protobuf-c unpacks it with an
 * allocator capped in proportion to the file's size, then every count,
 * name and tensor the importer will rely on is checked here, before any of
 * it is used. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* The oldest and newest default-domain opsets read: the operators the
 * importer maps kept their meaning through these (Softmax's axis changed
 * at 13 and is read by the version). */
#define ONNX_MIN_OPSET 11
#define ONNX_MAX_OPSET 21

typedef union block_head {
    size_t size;
    max_align_t align;
} block_head;

static void *capped_alloc(void *data, size_t size)
{
    onnx_file *f = data;
    if (size > f->cap - f->used)
        return NULL;
    block_head *h = malloc(sizeof *h + size);
    if (!h)
        return NULL;
    h->size = size;
    f->used += size;
    return h + 1;
}

static void capped_free(void *data, void *p)
{
    if (!p)
        return;
    onnx_file *f = data;
    block_head *h = (block_head *)p - 1;
    f->used -= h->size;
    free(h);
}

void onnx_read_free(onnx_file *f)
{
    if (f->model)
        onnx__model_proto__free_unpacked(f->model, &f->alloc);
    f->model = NULL;
}

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t onnx_tensor_count(const Onnx__TensorProto *t)
{
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        n *= t->dims[i];
    return n;
}

/* The values of t in one place: raw_data or the typed field. */
static int check_tensor_data(const Onnx__TensorProto *t, int64_t count, const char *origin,
                             const char *what, tc_error *err)
{
    int is_float = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    size_t typed = is_float ? t->n_float_data : t->n_int64_data;
    size_t other = (is_float ? t->n_int64_data : t->n_float_data) + t->n_int32_data +
                   t->n_string_data + t->n_double_data + t->n_uint64_data;
    if (other || (t->has_raw_data && typed))
        return tc_error_set(err, "%s: tensor '%s': its values are in more than one field, or "
                                 "in a field of another type", origin, what);
    uint64_t have = typed;
    if (t->has_raw_data) {
        if (t->raw_data.len % (is_float ? 4 : 8) != 0)
            return tc_error_set(err, "%s: tensor '%s': raw_data has %zu bytes, not a whole "
                                     "number of %s", origin, what, t->raw_data.len,
                                is_float ? "float32 values" : "int64 values");
        have = t->raw_data.len / (is_float ? 4 : 8);
    }
    if (have != (uint64_t)count)
        return tc_error_set(err, "%s: tensor '%s': its dims make %lld elements but its data "
                                 "holds %llu", origin, what, (long long)count,
                            (unsigned long long)have);
    return 0;
}

int onnx_check_tensor(const Onnx__TensorProto *t, const char *origin, const char *what,
                      tc_error *err)
{
    if (t->n_external_data ||
        (t->has_data_location &&
         t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return tc_error_set(err, "%s: tensor '%s' keeps its data in an external file, which "
                                 "is refused: save the model with its weights inside the file",
                            origin, what);
    if (t->segment)
        return tc_error_set(err, "%s: tensor '%s' is a segment of a larger tensor (not "
                                 "supported)", origin, what);
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
        t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
        return tc_error_set(err, "%s: tensor '%s' has data type %d; only float32 (1) and "
                                 "int64 (7) tensors are read", origin, what, (int)t->data_type);
    if (t->n_dims > TC_MAX_DIMS)
        return tc_error_set(err, "%s: tensor '%s' has %zu dims, more than %d", origin, what,
                            t->n_dims, TC_MAX_DIMS);
    int64_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        int64_t d = t->dims[i];
        if (d < 0 || (d > 0 && count > (INT64_MAX / 8) / d))
            return tc_error_set(err, "%s: tensor '%s': dims[%zu] = %lld %s", origin, what, i,
                                (long long)d, d < 0 ? "is negative" : "overflows the size");
        count *= d;
    }
    return check_tensor_data(t, count, origin, what, err);
}

float *onnx_tensor_floats(const Onnx__TensorProto *t)
{
    size_t n = (size_t)onnx_tensor_count(t);
    float *d = malloc(sizeof *d * (n ? n : 1));
    if (d && n)
        memcpy(d, t->has_raw_data ? (const void *)t->raw_data.data : (const void *)t->float_data,
               sizeof *d * n); /* raw_data is little-endian: checked by the importer */
    return d;
}

int64_t *onnx_tensor_int64s(const Onnx__TensorProto *t)
{
    size_t n = (size_t)onnx_tensor_count(t);
    int64_t *d = malloc(sizeof *d * (n ? n : 1));
    if (d && n)
        memcpy(d, t->has_raw_data ? (const void *)t->raw_data.data : (const void *)t->int64_data,
               sizeof *d * n);
    return d;
}

int64_t onnx_opset(const Onnx__ModelProto *m)
{
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if ((!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0) && o->has_version)
            return o->version;
    }
    return 0;
}

static int name_ok(const char *s)
{
    return s && s[0] && strlen(s) <= ONNX_MAX_NAME;
}

static int check_attribute(const Onnx__AttributeProto *a, const char *origin, const char *node,
                           tc_error *err)
{
    if (!name_ok(a->name))
        return tc_error_set(err, "%s: node %s: an attribute without a valid name", origin, node);
    if (a->n_ints > ONNX_MAX_ATTR_INTS || a->n_floats > ONNX_MAX_ATTR_INTS ||
        a->n_strings > ONNX_MAX_ATTR_INTS || a->n_tensors || a->n_graphs || a->g ||
        a->n_sparse_tensors || a->sparse_tensor)
        return tc_error_set(err, "%s: node %s: attribute '%s' holds %s (at most %d values, no "
                                 "subgraphs or tensor lists)", origin, node, a->name,
                            a->g || a->n_graphs ? "a subgraph" : "too many values",
                            ONNX_MAX_ATTR_INTS);
    return 0;
}

static int check_node(const Onnx__NodeProto *n, size_t i, const char *origin, tc_error *err)
{
    char where[64];
    snprintf(where, sizeof where, "#%zu", i);
    const char *node = name_ok(n->name) ? n->name : where;
    if (!name_ok(n->op_type))
        return tc_error_set(err, "%s: node %s has no op_type", origin, node);
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
        return tc_error_set(err, "%s: node '%s' (%s) is in domain '%.200s': only the standard "
                                 "ONNX operators are read", origin, node, n->op_type, n->domain);
    if (n->n_input > ONNX_MAX_NODE_INPUTS || n->n_output < 1 || n->n_output > 16 ||
        n->n_attribute > ONNX_MAX_ATTRIBUTES)
        return tc_error_set(err, "%s: node '%s' (%s): %zu inputs, %zu outputs and %zu "
                                 "attributes (at most %d, 1 to 16 and %d)", origin, node,
                            n->op_type, n->n_input, n->n_output, n->n_attribute,
                            ONNX_MAX_NODE_INPUTS, ONNX_MAX_ATTRIBUTES);
    for (size_t k = 0; k < n->n_input; k++) /* "" is an absent optional input */
        if (!n->input[k] || strlen(n->input[k]) > ONNX_MAX_NAME)
            return tc_error_set(err, "%s: node '%s' (%s): input %zu has no valid name", origin,
                                node, n->op_type, k);
    for (size_t k = 0; k < n->n_output; k++)
        if (!n->output[k] || strlen(n->output[k]) > ONNX_MAX_NAME)
            return tc_error_set(err, "%s: node '%s' (%s): output %zu has no valid name",
                                origin, node, n->op_type, k);
    if (!name_ok(n->output[0]))
        return tc_error_set(err, "%s: node '%s' (%s): its first output has no name", origin,
                            node, n->op_type);
    for (size_t k = 0; k < n->n_attribute; k++)
        if (check_attribute(n->attribute[k], origin, node, err))
            return 1;
    return 0;
}

static int check_graph(const Onnx__GraphProto *g, const char *origin, tc_error *err)
{
    if (g->n_node == 0 || g->n_node > ONNX_MAX_NODES)
        return tc_error_set(err, "%s: the graph has %zu nodes (1 to %d are read)", origin,
                            g->n_node, ONNX_MAX_NODES);
    if (g->n_sparse_initializer)
        return tc_error_set(err, "%s: sparse initializers are not supported", origin);
    for (size_t i = 0; i < g->n_node; i++)
        if (check_node(g->node[i], i, origin, err))
            return 1;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!name_ok(t->name))
            return tc_error_set(err, "%s: initializer %zu has no valid name", origin, i);
        if (onnx_check_tensor(t, origin, t->name, err))
            return 1;
    }
    for (size_t i = 0; i < g->n_input + g->n_output; i++) {
        const Onnx__ValueInfoProto *v = i < g->n_input ? g->input[i] : g->output[i - g->n_input];
        if (!name_ok(v->name))
            return tc_error_set(err, "%s: graph %s %zu has no valid name", origin,
                                i < g->n_input ? "input" : "output",
                                i < g->n_input ? i : i - g->n_input);
    }
    return 0;
}

int onnx_read(const uint8_t *bytes, size_t len, const char *origin, onnx_file *f,
              tc_error *err)
{
    memset(f, 0, sizeof *f);
    if ((uint64_t)len > TC_ONNX_MAX_BYTES)
        return tc_error_set(err, "%s: %zu bytes, more than the %llu an ONNX file may have",
                            origin, len, (unsigned long long)TC_ONNX_MAX_BYTES);
    f->cap = (size_t)((uint64_t)(64u << 20) + (uint64_t)len * 4);
    f->alloc = (ProtobufCAllocator){capped_alloc, capped_free, f};
    f->model = onnx__model_proto__unpack(&f->alloc, len, bytes);
    if (!f->model)
        return tc_error_set(err, "%s: not an ONNX model: the protobuf is truncated or corrupt "
                                 "(or needs more than %zu MB to unpack)", origin,
                            f->cap >> 20);
    const Onnx__ModelProto *m = f->model;
    if (!m->graph)
        return tc_error_set(err, "%s: not an ONNX model: no graph", origin);
    int64_t opset = onnx_opset(m);
    if (opset < ONNX_MIN_OPSET || opset > ONNX_MAX_OPSET)
        return tc_error_set(err, "%s: opset %lld of the default domain; opsets %d to %d are "
                                 "read (export again with another opset_version)", origin,
                            (long long)opset, ONNX_MIN_OPSET, ONNX_MAX_OPSET);
    return check_graph(m->graph, origin, err);
}
