/* ONNX import: an ONNX graph (read and checked by onnx_read.c) as a
 * tinycnn model file and checkpoint. This file names the values, checks
 * that every name is defined before it is read (no cycles, no dangling
 * names), takes the graph input and output, assembles the model JSON and
 * loads the result to verify it; onnx_import_ops.c converts the operators. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "name_id.h"
#include "onnx_internal.h"
#include "tinycnn/model.h"

/* ---- the value table ---------------------------------------------------- */

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

onnx_val *onnx_imp_find(onnx_imp *m, const char *name)
{
    for (size_t k = hash(name) & (m->n_slots - 1);; k = (k + 1) & (m->n_slots - 1)) {
        size_t v = m->slots[k];
        if (v == 0)
            return NULL;
        if (strcmp(m->vals[v - 1].name, name) == 0)
            return &m->vals[v - 1];
    }
}

/* Adds a value; a name defined twice is an error naming both uses. */
static onnx_val *add_val(onnx_imp *m, const char *name, int node)
{
    onnx_val *old = onnx_imp_find(m, name);
    if (old) {
        tc_error_set(m->err, "%s: the value '%s' is defined twice (%s)", m->origin, name,
                     node >= 0 ? "by a node and earlier" : "as an input or initializer");
        return NULL;
    }
    onnx_val *v = &m->vals[m->n_vals++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->node = node;
    v->reader = -1;
    v->defined = node < 0;
    size_t k = hash(name) & (m->n_slots - 1);
    while (m->slots[k])
        k = (k + 1) & (m->n_slots - 1);
    m->slots[k] = m->n_vals;
    return v;
}

const char *onnx_imp_label(const Onnx__NodeProto *n, int i, char *buf, size_t cap)
{
    if (n->name && n->name[0])
        snprintf(buf, cap, "'%.200s' (%s)", n->name, n->op_type);
    else
        snprintf(buf, cap, "#%d (%s)", i, n->op_type);
    return buf;
}

/* Every name the graph defines, then how often each is read. */
static int build_table(onnx_imp *m)
{
    const Onnx__GraphProto *g = m->g;
    size_t n = g->n_input + g->n_initializer;
    for (size_t i = 0; i < g->n_node; i++)
        n += g->node[i]->n_output;
    m->cap_vals = n;
    for (m->n_slots = 16; m->n_slots < 2 * n; m->n_slots *= 2)
        ;
    m->vals = calloc(n ? n : 1, sizeof *m->vals);
    m->slots = calloc(m->n_slots, sizeof *m->slots);
    if (!m->vals || !m->slots)
        return tc_error_set(m->err, "out of memory");
    for (size_t i = 0; i < g->n_initializer; i++) {
        onnx_val *v = add_val(m, g->initializer[i]->name, -1);
        if (!v)
            return 1;
        v->t = g->initializer[i];
    }
    for (size_t i = 0; i < g->n_input; i++) /* older files list initializers as inputs too */
        if (!onnx_imp_find(m, g->input[i]->name) && !add_val(m, g->input[i]->name, -1))
            return 1;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (g->node[i]->output[k][0] && !add_val(m, g->node[i]->output[k], (int)i))
                return 1;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++) {
            onnx_val *v = g->node[i]->input[k][0] ? onnx_imp_find(m, g->node[i]->input[k]) : NULL;
            if (v && v->consumers++ == 0)
                v->reader = (int)i;
        }
    for (size_t i = 0; i < g->n_output; i++) {
        onnx_val *v = onnx_imp_find(m, g->output[i]->name);
        if (v)
            v->consumers++;
    }
    return 0;
}

/* ---- the graph input ---------------------------------------------------- */

/* The one graph input that is not an initializer: float32, [N, ...] with
 * every dimension after the batch a fixed size. */
static int take_input(onnx_imp *m, json_t *inputs)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < m->g->n_input; i++)
        if (!onnx_imp_find(m, m->g->input[i]->name)->t) {
            if (in)
                return tc_error_set(m->err, "%s: the graph has more than one input ('%s', "
                                            "'%s'); one image input is supported", m->origin,
                                    in->name, m->g->input[i]->name);
            in = m->g->input[i];
        }
    if (!in)
        return tc_error_set(m->err, "%s: the graph has no input", m->origin);
    const Onnx__TypeProto *tp = in->type;
    const Onnx__TensorShapeProto *sh =
        tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type
            ? tp->tensor_type->shape : NULL;
    if (!sh || tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        sh->n_dim < 2 || sh->n_dim > TC_MAX_DIMS)
        return tc_error_set(m->err, "%s: input '%s' must be a float32 tensor [N, ...] of 2 "
                                    "to %d dims with a known shape", m->origin, in->name,
                            TC_MAX_DIMS);
    json_t *shape = json_array();
    for (size_t d = 1; d < sh->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            dim->dim_value < 1 || dim->dim_value > ((int64_t)1 << 31)) {
            json_decref(shape);
            return tc_error_set(m->err, "%s: input '%s': dimension %zu must be a fixed size "
                                        "in [1, 2^31] (only the batch may be symbolic)",
                                m->origin, in->name, d);
        }
        json_array_append_new(shape, json_integer(dim->dim_value));
    }
    onnx_val *v = onnx_imp_find(m, in->name);
    v->tc = in->name;
    v->rank = (int)sh->n_dim;
    v->norm = 1;
    m->input = (int)(v - m->vals);
    m->channels = sh->n_dim == 4 ? (int)sh->dim[1]->dim_value : 1;
    json_t *o = json_pack("{s:s, s:o}", "name", in->name, "shape", shape);
    return json_array_append_new(inputs, o) != 0;
}

double onnx_short_float(double f)
{
    float want = (float)f;
    char buf[32];
    for (int p = 6; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)want);
        if ((float)strtod(buf, NULL) == want)
            return strtod(buf, NULL);
    }
    return (double)want;
}

/* The input's normalisation, folded in from leading Sub/Div nodes. */
static json_t *norm_json(const float *v, int n)
{
    if (n == 1)
        return json_real(onnx_short_float(v[0]));
    json_t *a = json_array();
    for (int c = 0; c < n; c++)
        json_array_append_new(a, json_real(onnx_short_float(v[c])));
    return a;
}

/* ---- the conversion ---------------------------------------------------- */

static int convert_nodes(onnx_imp *m)
{
    for (size_t i = 0; i < m->g->n_node; i++) {
        if (m->skip[i])
            continue;
        const Onnx__NodeProto *n = m->g->node[i];
        char lb[300];
        for (size_t k = 0; k < n->n_input; k++) {
            if (!n->input[k][0])
                continue;
            onnx_val *v = onnx_imp_find(m, n->input[k]);
            if (!v)
                return tc_error_set(m->err, "%s: node %s reads '%s', which no node, "
                                            "initializer or graph input defines", m->origin,
                                    onnx_imp_label(n, (int)i, lb, sizeof lb), n->input[k]);
            if (!v->defined)
                return tc_error_set(m->err, "%s: node %s reads '%s' before node #%d computes "
                                            "it: the graph has a cycle or is not in "
                                            "topological order", m->origin,
                                    onnx_imp_label(n, (int)i, lb, sizeof lb), n->input[k],
                                    v->node);
        }
        if (onnx_imp_node(m, (int)i) != 0)
            return 1;
    }
    return 0;
}

/* A name for the label input or the loss that no ONNX value has. */
static const char *free_name(onnx_imp *m, const char *want, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", want);
    for (int k = 2; onnx_imp_find(m, buf); k++)
        snprintf(buf, cap, "%s_%d", want, k);
    return buf;
}

/* The graph output: one value computed by a tinycnn node. */
static const char *take_output(onnx_imp *m)
{
    if (m->g->n_output != 1) {
        tc_error_set(m->err, "%s: the graph has %zu outputs; one (the logits) is supported",
                     m->origin, m->g->n_output);
        return NULL;
    }
    const char *name = m->g->output[0]->name;
    onnx_val *v = onnx_imp_find(m, name);
    if (!v || !v->tc || v->norm) {
        tc_error_set(m->err, "%s: the graph output '%s' is %s", m->origin, name,
                     !v ? "not defined by any node" : v->tc ? "the input itself" : "a constant");
        return NULL;
    }
    return v->tc;
}

/* The label input and the loss, so that the model trains as well: only for
 * logits [N, classes] (not after a Softmax). */
static int add_loss(onnx_imp *m, json_t *root, json_t *inputs, const char *output)
{
    onnx_val *ov = onnx_imp_find(m, m->g->output[0]->name);
    size_t last = json_array_size(m->nodes);
    const char *type = json_string_value(json_object_get(json_array_get(m->nodes, last - 1),
                                                         "type"));
    if ((ov->rank != 2 && !ov->squeezed) || (type && strcmp(type, "Softmax") == 0))
        return 0;
    char label[64], loss[64];
    free_name(m, "label", label, sizeof label);
    free_name(m, "loss", loss, sizeof loss);
    json_array_append_new(inputs, json_pack("{s:s, s:[], s:s}", "name", label, "shape", "role",
                                            "label"));
    json_array_append_new(m->nodes, json_pack("{s:s, s:s, s:[s,s]}", "name", loss, "type",
                                              "SoftmaxCrossEntropy", "inputs", output, label));
    return json_object_set_new(root, "loss", json_string(loss));
}

/* The "class_names" of metadata_props (a JSON array of strings). */
static int class_meta(onnx_imp *m, const Onnx__ModelProto *model, tc_checkpoint *out)
{
    json_t *meta = json_object(), *names = NULL;
    for (size_t i = 0; i < model->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *p = model->metadata_props[i];
        if (p->key && p->value && strcmp(p->key, "class_names") == 0)
            names = json_loads(p->value, JSON_REJECT_DUPLICATES, NULL);
    }
    int bad = 0;
    for (size_t k = 0; names && k < json_array_size(names); k++)
        bad |= !json_is_string(json_array_get(names, k));
    if (names && (!json_is_array(names) || bad)) {
        json_decref(names);
        json_decref(meta);
        return tc_error_set(m->err, "%s: metadata \"class_names\" must be a JSON array of "
                                    "strings", m->origin);
    }
    if (names)
        json_object_set_new(meta, "class_names", names);
    out->meta_json = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    return out->meta_json ? 0 : tc_error_set(m->err, "out of memory");
}

static int assemble(onnx_imp *m, const Onnx__ModelProto *model, tc_checkpoint *out)
{
    json_t *inputs = json_array();
    m->nodes = json_array();
    json_t *root = json_pack("{s:s, s:s, s:o, s:O}", "name",
                             m->g->name && m->g->name[0] ? m->g->name : "onnx_model",
                             "description", "imported from ONNX", "inputs", inputs, "nodes",
                             m->nodes);
    int rc = 1;
    const char *output;
    if (build_table(m) || take_input(m, inputs) || convert_nodes(m) || !(output = take_output(m)))
        goto out;
    json_t *in0 = json_array_get(inputs, 0);
    if (m->n_mean)
        json_object_set_new(in0, "mean", norm_json(m->mean, m->n_mean));
    if (m->n_std)
        json_object_set_new(in0, "std", norm_json(m->std, m->n_std));
    json_object_set_new(root, "output", json_string(output));
    if (add_loss(m, root, inputs, output) != 0)
        goto out;
    if (!(out->model_json = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
        tc_error_set(m->err, "out of memory");
    else
        rc = class_meta(m, model, out);
out:
    json_decref(root);
    return rc;
}

/* ---- verification and the public calls -------------------------------- */

/* What only the loaded model can tell: the features each Reshape to
 * [-1, K] assumed. Names are looked up through a sorted table: a hostile
 * file may hold many Reshapes. */
static int check_features(onnx_imp *m, const tc_graph *g)
{
    int n = tc_graph_n_nodes(g);
    tc_name_id *t = malloc(sizeof *t * (size_t)(n ? n : 1));
    if (!t)
        return tc_error_set(m->err, "out of memory");
    for (int k = 0; k < n; k++)
        t[k] = (tc_name_id){tc_graph_node_name(g, k), k};
    qsort(t, (size_t)n, sizeof *t, tc_name_id_cmp);
    int rc = 0;
    for (size_t i = 0; i < m->n_checks && !rc; i++) {
        int k = tc_name_id_find(t, n, m->checks[i].node);
        tc_shape s = k >= 0 ? tc_graph_node_shape(g, k) : tc_graph_input(g, 0)->shape;
        int64_t have = k >= 0 ? (s.ndim == 2 ? s.dims[1] : -1) : tc_shape_count(&s);
        if (have != m->checks[i].features)
            rc = tc_error_set(m->err, "%s: a Reshape to [-1, %lld] after '%s', which has %lld "
                                      "features per sample", m->origin,
                              (long long)m->checks[i].features, m->checks[i].node,
                              (long long)have);
    }
    free(t);
    return rc;
}

static int verify_loaded(onnx_imp *m, const tc_graph *g, const tc_checkpoint *ck)
{
    if (check_features(m, g))
        return 1;
    json_t *meta = json_loads(ck->meta_json, 0, NULL);
    size_t n = json_array_size(json_object_get(meta, "class_names"));
    json_decref(meta);
    if (n && (int)n != tc_graph_n_classes(g))
        return tc_error_set(m->err, "%s: metadata \"class_names\" has %zu names but the output "
                                    "has %d classes", m->origin, n, tc_graph_n_classes(g));
    return 0;
}

static void imp_free(onnx_imp *m)
{
    for (size_t i = 0; i < m->n_checks; i++)
        free(m->checks[i].node);
    free(m->checks);
    free(m->vals);
    free(m->slots);
    free(m->skip);
    json_decref(m->nodes);
}

int tc_onnx_import(const tc_registry *reg, const uint8_t *bytes, size_t len, const char *origin,
                   tc_checkpoint *out, tc_error *err)
{
    const uint16_t one = 1;
    memset(out, 0, sizeof *out);
    if (*(const uint8_t *)&one != 1)
        return tc_error_set(err, "ONNX import needs a little-endian host (raw_data layout)");
    onnx_file f;
    if (onnx_read(bytes, len, origin, &f, err) != 0) {
        onnx_read_free(&f);
        return 1;
    }
    onnx_imp m;
    memset(&m, 0, sizeof m);
    m.origin = origin;
    m.err = err;
    m.g = f.model->graph;
    m.opset = onnx_opset(f.model);
    m.ck = out;
    tc_graph *g = NULL;
    int rc = !(m.skip = calloc(m.g->n_node, 1)) ? tc_error_set(err, "out of memory")
                                                 : assemble(&m, f.model, out);
    if (!rc)
        rc = tc_checkpoint_graph(reg, out, origin, &g, err) || verify_loaded(&m, g, out);
    if (g)
        tc_graph_free(g);
    imp_free(&m);
    onnx_read_free(&f);
    if (rc)
        tc_checkpoint_free(out);
    return rc;
}

int tc_onnx_import_file(const tc_registry *reg, const char *onnx_path, const char *json_path,
                        const char *ckpt_path, tc_error *err)
{
    uint8_t *bytes;
    size_t len;
    if (onnx_read_file(onnx_path, TC_ONNX_MAX_BYTES, &bytes, &len, err) != 0)
        return 1;
    tc_checkpoint ck;
    int rc = tc_onnx_import(reg, bytes, len, onnx_path, &ck, err);
    free(bytes);
    if (!rc && ckpt_path)
        rc = tc_checkpoint_write(ckpt_path, &ck, err);
    if (!rc) {
        rc = onnx_write_atomic(json_path, ck.model_json, strlen(ck.model_json), err);
        if (rc && ckpt_path) /* both or neither */
            unlink(ckpt_path);
    }
    tc_checkpoint_free(&ck);
    return rc;
}
