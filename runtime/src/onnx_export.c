/* ONNX export: a graph's inference part as an ONNX ModelProto (protobuf-c
 * messages in an arena, packed once at the end). The per-layer mapping is
 * onnx_export_ops.c; this file builds the nodes' containers, the input with
 * its normalisation, the output, the metadata and the file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "onnx_internal.h"
#include "tinycnn/model.h"
#include "tinycnn/tinycnn.h"

/* Grows *arr (of *cap pointers) to hold one more; 1 when out of memory. */
static int grow(void ***arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 32;
    void **p = realloc(*arr, c * sizeof *p);
    if (!p)
        return 1;
    *arr = p;
    *cap = c;
    return 0;
}

static void *oom(onnx_ex *x)
{
    tc_error_set(x->err, "out of memory");
    return NULL;
}

Onnx__NodeProto *onnx_ex_node(onnx_ex *x, const char *op, const char *name,
                              const char *const *in, int n_in, const char *out)
{
    for (int i = 0; i < n_in; i++)
        if (!in[i]) /* an initializer that could not be made */
            return oom(x);
    Onnx__NodeProto *n = onnx_alloc(&x->arena, sizeof *n);
    char **ins = onnx_alloc(&x->arena, sizeof *ins * (size_t)(n_in ? n_in : 1));
    char **outs = onnx_alloc(&x->arena, sizeof *outs);
    Onnx__AttributeProto **attrs = onnx_alloc(&x->arena, sizeof *attrs * ONNX_EX_MAX_ATTRS);
    if (!n || !ins || !outs || !attrs || grow((void ***)&x->nodes, x->n_nodes, &x->cap_nodes))
        return oom(x);
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        if (!(ins[i] = onnx_strdup(&x->arena, in[i])))
            return oom(x);
    if (!(outs[0] = onnx_strdup(&x->arena, out)) || !(n->name = onnx_strdup(&x->arena, name)) ||
        !(n->op_type = onnx_strdup(&x->arena, op)))
        return oom(x);
    n->input = ins;
    n->n_input = (size_t)n_in;
    n->output = outs;
    n->n_output = 1;
    n->attribute = attrs;
    x->nodes[x->n_nodes++] = n;
    return n;
}

static Onnx__AttributeProto *new_attr(onnx_ex *x, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = onnx_alloc(&x->arena, sizeof *a);
    if (!a || n->n_attribute >= ONNX_EX_MAX_ATTRS)
        return oom(x);
    onnx__attribute_proto__init(a);
    if (!(a->name = onnx_strdup(&x->arena, name)))
        return oom(x);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

/* An INT attribute of value i, or a FLOAT one of value f. */
static int attr_scalar(onnx_ex *x, Onnx__NodeProto *n, const char *name, int is_float, int64_t i,
                       float f)
{
    Onnx__AttributeProto *a =
        new_attr(x, n, name,
                 is_float ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
                          : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a)
        return 1;
    if (is_float) {
        a->has_f = 1;
        a->f = f;
    } else {
        a->has_i = 1;
        a->i = i;
    }
    return 0;
}

int onnx_ex_attr_int(onnx_ex *x, Onnx__NodeProto *n, const char *name, int64_t v)
{
    return attr_scalar(x, n, name, 0, v, 0.0f);
}

int onnx_ex_attr_float(onnx_ex *x, Onnx__NodeProto *n, const char *name, float v)
{
    return attr_scalar(x, n, name, 1, 0, v);
}

int onnx_ex_attr_ints(onnx_ex *x, Onnx__NodeProto *n, const char *name, const int64_t *v,
                      int count)
{
    Onnx__AttributeProto *a = new_attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = a ? onnx_alloc(&x->arena, sizeof *d * (size_t)count) : NULL;
    if (!d)
        return a ? !oom(x) : 1;
    memcpy(d, v, sizeof *d * (size_t)count);
    a->ints = d;
    a->n_ints = (size_t)count;
    return 0;
}

const char *onnx_ex_init(onnx_ex *x, const char *name, const tc_shape *shape,
                         const float *data, int copy)
{
    for (size_t i = 0; i < x->n_inits; i++) /* a weight two nodes share goes in once */
        if (strcmp(x->inits[i]->name, name) == 0)
            return x->inits[i]->name;
    Onnx__TensorProto *t = onnx_alloc(&x->arena, sizeof *t);
    int64_t *dims = onnx_alloc(&x->arena, sizeof *dims * (size_t)(shape->ndim + 1));
    size_t bytes = sizeof(float) * (size_t)tc_shape_count(shape);
    void *d = copy ? onnx_alloc(&x->arena, bytes) : (void *)data;
    if (!t || !dims || !d || grow((void ***)&x->inits, x->n_inits, &x->cap_inits))
        return oom(x);
    onnx__tensor_proto__init(t);
    if (copy)
        memcpy(d, data, bytes);
    for (int i = 0; i < shape->ndim; i++)
        dims[i] = shape->dims[i];
    t->dims = dims;
    t->n_dims = (size_t)shape->ndim;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    /* raw_data is little-endian float32: this host's layout (checked at
     * the start of the export) */
    t->has_raw_data = 1;
    t->raw_data.data = d;
    t->raw_data.len = bytes;
    if (!(t->name = onnx_strdup(&x->arena, name)))
        return oom(x);
    x->inits[x->n_inits++] = t;
    return t->name;
}

/* A float tensor's type with the symbolic batch "N" before per_sample. */
static Onnx__ValueInfoProto *value_info(onnx_ex *x, const char *name, const tc_shape *per_sample)
{
    Onnx__ValueInfoProto *v = onnx_alloc(&x->arena, sizeof *v);
    Onnx__TypeProto *tp = onnx_alloc(&x->arena, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = onnx_alloc(&x->arena, sizeof *tt);
    Onnx__TensorShapeProto *sp = onnx_alloc(&x->arena, sizeof *sp);
    int nd = per_sample->ndim + 1;
    Onnx__TensorShapeProto__Dimension **dims = onnx_alloc(&x->arena, sizeof *dims * (size_t)nd);
    if (!v || !tp || !tt || !sp || !dims)
        return oom(x);
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = onnx_alloc(&x->arena, sizeof *d);
        if (!d)
            return oom(x);
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (!(d->dim_param = onnx_strdup(&x->arena, "N")))
                return oom(x);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = per_sample->dims[i - 1];
        }
        dims[i] = d;
    }
    sp->dim = dims;
    sp->n_dim = (size_t)nd;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    v->name = onnx_strdup(&x->arena, name);
    return v->name ? v : oom(x);
}

/* Node <input>/<out_name>: op of cur and the constant <input>.<what>
 * (values, of shape s). Returns its output's name, or NULL. */
static const char *norm_node(onnx_ex *x, const char *cur, const tc_input_info *in,
                             const char *op, const char *what, const char *out_name,
                             const tc_shape *s, const float *values)
{
    char name[512], out[512];
    snprintf(name, sizeof name, "%s.%s", in->name, what);
    snprintf(out, sizeof out, "%s/%s", in->name, out_name);
    const char *ins[] = {cur, onnx_ex_init(x, name, s, values, 1)};
    Onnx__NodeProto *nd = onnx_ex_node(x, op, out, ins, 2, out);
    return nd ? nd->output[0] : NULL;
}

/* Sub (x - mean) then Div (/ std) when the input has a normalisation, each
 * left out when it does nothing; per-channel values broadcast as [C,1,1].
 * Returns the name of the normalised value, or NULL. */
static const char *export_norm(onnx_ex *x, const tc_input_info *in)
{
    int n = in->n_norm > 1 ? in->n_norm : 1, sub = 0, div = 0;
    for (int c = 0; c < n; c++) {
        sub |= in->mean[c] != 0.0f;
        div |= in->std[c] != 1.0f;
    }
    tc_shape s = {.ndim = n > 1 ? 3 : 1, .dims = {n, 1, 1}};
    const char *cur = in->name;
    if (sub && !(cur = norm_node(x, cur, in, "Sub", "mean", "sub_mean", &s, in->mean)))
        return NULL;
    if (div && !(cur = norm_node(x, cur, in, "Div", "std", "normalized", &s, in->std)))
        return NULL;
    return cur;
}

static Onnx__StringStringEntryProto *prop(onnx_ex *x, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *p = onnx_alloc(&x->arena, sizeof *p);
    if (!p)
        return oom(x);
    onnx__string_string_entry_proto__init(p);
    p->key = onnx_strdup(&x->arena, key);
    p->value = onnx_strdup(&x->arena, value);
    return p->key && p->value ? p : oom(x);
}

/* metadata_props: the class names (a JSON array, from the checkpoint's
 * metadata when it has them, else the class indices) and what the input
 * expects. */
static int export_meta(onnx_ex *x, const char *meta_json, const tc_input_info *in,
                       Onnx__ModelProto *m)
{
    Onnx__StringStringEntryProto **p = onnx_alloc(&x->arena, sizeof *p * 3);
    if (!p)
        return !oom(x);
    m->metadata_props = p;
    char buf[512];
    snprintf(buf, sizeof buf, "'%s' is float32 NCHW pixel/255 in [0, 1]; the model's "
             "normalisation is the graph's first nodes", in->name);
    if (!(p[m->n_metadata_props++] = prop(x, "tinycnn.input", buf)) ||
        !(p[m->n_metadata_props++] = prop(x, "tinycnn.model", tc_graph_name(x->g))))
        return 1;
    json_t *meta = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    json_t *names = json_incref(json_object_get(meta, "class_names"));
    json_decref(meta);
    int nc = tc_graph_n_classes(x->g);
    if (!json_is_array(names) || json_array_size(names) != (size_t)nc) {
        json_decref(names); /* none stored: the class indices, as tc_model_class_name */
        names = json_array();
        for (int c = 0; c < nc; c++) {
            char d[16];
            snprintf(d, sizeof d, "%d", c);
            json_array_append_new(names, json_string(d));
        }
    }
    char *text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    if (!text)
        return !oom(x);
    p[m->n_metadata_props] = prop(x, "class_names", text);
    free(text);
    return !p[m->n_metadata_props++];
}

/* The nodes inference runs, in execution order (the loss and what only it
 * needs left out). */
static int export_nodes(onnx_ex *x)
{
    tc_graph *g = x->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const tc_node *nd = &g->nodes[i];
        if (!nd->needed || i == g->loss_node)
            continue;
        if (onnx_ex_map_node(x, nd) != 0)
            return 1;
        x->value_name[g->n_inputs + i] = nd->name;
    }
    return 0;
}

static int export_graph(onnx_ex *x, const char *meta_json, Onnx__ModelProto *m)
{
    tc_graph *g = x->g;
    int img = tc_graph_image_input(g);
    int n_data = g->n_inputs - (tc_graph_label_input(g) >= 0);
    if (img < 0 || n_data != 1)
        return tc_error_set(x->err, "%s: export needs exactly one image input (the model has "
                                    "%d data inputs)", g->origin, n_data);
    const tc_input_info *in = &g->inputs[img];
    if (!(x->value_name = calloc((size_t)g->n_values, sizeof *x->value_name)))
        return tc_error_set(x->err, "out of memory");
    if (!(x->value_name[img] = export_norm(x, in)) || export_nodes(x))
        return 1;
    const tc_node *out = &g->nodes[g->output_value - g->n_inputs];
    tc_shape os = out->plan1.output;
    tc_shape per = {.ndim = os.ndim - 1};
    for (int d = 1; d < os.ndim; d++)
        per.dims[d - 1] = os.dims[d];
    Onnx__GraphProto *gp = onnx_alloc(&x->arena, sizeof *gp);
    Onnx__ValueInfoProto **ins = onnx_alloc(&x->arena, sizeof *ins);
    Onnx__ValueInfoProto **outs = onnx_alloc(&x->arena, sizeof *outs);
    if (!gp || !ins || !outs)
        return !oom(x);
    onnx__graph_proto__init(gp);
    if (!(ins[0] = value_info(x, in->name, &in->shape)) ||
        !(outs[0] = value_info(x, out->name, &per)) ||
        !(gp->name = onnx_strdup(&x->arena, tc_graph_name(g))))
        return 1;
    gp->input = ins;
    gp->n_input = 1;
    gp->output = outs;
    gp->n_output = 1;
    gp->node = x->nodes;
    gp->n_node = x->n_nodes;
    gp->initializer = x->inits;
    gp->n_initializer = x->n_inits;
    m->graph = gp;
    return export_meta(x, meta_json, in, m);
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* The model around the graph, packed into *bytes. */
static int export_pack(onnx_ex *x, const char *meta_json, uint8_t **bytes, size_t *len)
{
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    Onnx__OperatorSetIdProto op, *ops[] = {&op};
    onnx__operator_set_id_proto__init(&op);
    op.domain = (char *)"";
    op.has_version = 1;
    op.version = TC_ONNX_OPSET;
    m.has_ir_version = 1;
    m.ir_version = TC_ONNX_IR_VERSION;
    m.opset_import = ops;
    m.n_opset_import = 1;
    m.producer_name = (char *)"tinycnn";
    m.producer_version = (char *)TC_VERSION_STRING;
    if (export_graph(x, meta_json, &m) != 0)
        return 1;
    size_t n = onnx__model_proto__get_packed_size(&m);
    if (!(*bytes = malloc(n ? n : 1)))
        return tc_error_set(x->err, "out of memory for %zu bytes", n);
    *len = onnx__model_proto__pack(&m, *bytes);
    return 0;
}

int tc_onnx_export(tc_graph *g, const char *meta_json, uint8_t **bytes, size_t *len,
                   tc_error *err)
{
    *bytes = NULL;
    *len = 0;
    if (!host_is_little_endian())
        return tc_error_set(err, "ONNX export needs a little-endian host (raw_data layout)");
    onnx_ex x;
    memset(&x, 0, sizeof x);
    x.g = g;
    x.err = err;
    int rc = export_pack(&x, meta_json, bytes, len);
    if (rc != 0) {
        free(*bytes);
        *bytes = NULL;
        *len = 0;
    }
    free(x.nodes);
    free(x.inits);
    free(x.value_name);
    onnx_arena_free(&x.arena);
    return rc;
}

int tc_onnx_export_file(const tc_registry *reg, const char *ckpt_path, const char *onnx_path,
                        tc_error *err)
{
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    tc_graph *g = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = tc_checkpoint_read(ckpt_path, &ck, err) != 0 ||
             tc_checkpoint_graph(reg, &ck, ckpt_path, &g, err) != 0;
    if (!rc && tc_onnx_export(g, ck.meta_json, &bytes, &len, err) != 0)
        rc = tc_error_prefix(err, "%s", ckpt_path);
    if (!rc)
        rc = onnx_write_atomic(onnx_path, bytes, len, err);
    free(bytes);
    if (g)
        tc_graph_free(g);
    tc_checkpoint_free(&ck);
    return rc;
}
