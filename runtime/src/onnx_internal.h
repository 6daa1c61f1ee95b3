/* Internal: what the ONNX exporter (onnx_export*.c) and importer
 * (onnx_read.c, onnx_import*.c) share: the protobuf-c code generated from
 * onnx.proto at build time, an arena for the messages the exporter builds,
 * and the file helpers (onnx_util.c). */
#ifndef TC_ONNX_INTERNAL_H
#define TC_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "onnx.pb-c.h"
#include "tinycnn/onnx.h"
#include "tinycnn/status.h"

/* ---- arena: every block freed at once (onnx_util.c) --------------------- */
typedef struct onnx_arena {
    void **blocks;
    size_t n, cap;
} onnx_arena;

/* size zeroed bytes owned by the arena; NULL when out of memory */
void *onnx_alloc(onnx_arena *a, size_t size);
char *onnx_strdup(onnx_arena *a, const char *s);
void onnx_arena_free(onnx_arena *a);

/* ---- files (onnx_util.c) ------------------------------------------------ */

/* Writes len bytes to path through "PATH.tmp.XXXXXX" in the same folder,
 * fsync and rename: path holds either its old content or all of the new. */
int onnx_write_atomic(const char *path, const void *data, size_t len, tc_error *err);

/* Reads a whole regular file of at most max bytes. Owner of *data: the
 * caller (free). */
int onnx_read_file(const char *path, uint64_t max, uint8_t **data, size_t *len, tc_error *err);

/* ---- reading (onnx_read.c) ---------------------------------------------- */

/* Limits on what an imported file may hold; beyond them it is refused. */
#define ONNX_MAX_NODES 100000
#define ONNX_MAX_ATTRIBUTES 64     /* per node */
#define ONNX_MAX_ATTR_INTS 16      /* ints in one attribute (pads, kernel_shape ...) */
#define ONNX_MAX_NODE_INPUTS 64
#define ONNX_MAX_NAME 4096

/* An unpacked file and the capped allocator that owns its memory. */
typedef struct onnx_file {
    Onnx__ModelProto *model;
    ProtobufCAllocator alloc;
    size_t used, cap; /* bytes the allocator handed out, and its limit */
} onnx_file;

/* Unpacks bytes into f->model with an allocator capped in proportion to len
 * (so a few bytes cannot claim gigabytes), and checks what every later
 * step relies on: a graph, an opset, names present and of bounded length,
 * counts within the limits above, initializers that are plain float or
 * int64 tensors whose dims agree with their data and have no external data.
 * Owner of f's contents: the caller, freed by onnx_read_free (also after a
 * failure). */
int onnx_read(const uint8_t *bytes, size_t len, const char *origin, onnx_file *f,
              tc_error *err);
void onnx_read_free(onnx_file *f);

/* The default-domain opset version the model imports, or 0 when none. */
int64_t onnx_opset(const Onnx__ModelProto *m);

/* The element count of t (checked by onnx_read), its float values into a
 * new array (Owner: the caller) or its int64 values into a new array. */
int64_t onnx_tensor_count(const Onnx__TensorProto *t);
float *onnx_tensor_floats(const Onnx__TensorProto *t);
int64_t *onnx_tensor_int64s(const Onnx__TensorProto *t);

/* Checks one tensor (an initializer, a Constant's value) as onnx_read does;
 * what names it in messages. */
int onnx_check_tensor(const Onnx__TensorProto *t, const char *origin, const char *what,
                      tc_error *err);

/* ---- nodes' attributes (onnx_read.c) ------------------------------------ */
const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);


/* ---- export (onnx_export.c builds the model, onnx_export_ops.c maps each
 * layer type onto ONNX nodes) ------------------------------------------- */
struct tc_node;

#define ONNX_EX_MAX_ATTRS 8 /* per exported node */

typedef struct onnx_ex {
    onnx_arena arena;   /* every message, string and copied array */
    struct tc_graph *g;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    const char **value_name; /* the ONNX name of each graph value */
    tc_error *err;
} onnx_ex;

/* A new node op(in...) -> out named name; NULL (err set) when out of memory. */
Onnx__NodeProto *onnx_ex_node(onnx_ex *x, const char *op, const char *name,
                              const char *const *in, int n_in, const char *out);
/* Attributes of n; 1 (err set) when out of memory. */
int onnx_ex_attr_int(onnx_ex *x, Onnx__NodeProto *n, const char *name, int64_t v);
int onnx_ex_attr_float(onnx_ex *x, Onnx__NodeProto *n, const char *name, float v);
int onnx_ex_attr_ints(onnx_ex *x, Onnx__NodeProto *n, const char *name, const int64_t *v,
                      int count);
/* A float initializer: data is used in place (it must outlive the export)
 * unless copy is set. Returns its name (arena-owned), or NULL. */
const char *onnx_ex_init(onnx_ex *x, const char *name, const tc_shape *shape,
                         const float *data, int copy);
/* Appends the ONNX nodes of node nd (onnx_export_ops.c), its output named
 * as the node; a layer type without a mapping is an error naming both. */
int onnx_ex_map_node(onnx_ex *x, const struct tc_node *nd);
/* A plugin layer's own mapping (onnx_export_plugin.c): 1 when type t has an
 * onnx_export callback (ABI 2.2) within its struct_size; onnx_ex_map_plugin
 * runs it, and refuses a failure or a missing output naming node and type. */
int onnx_ex_plugin_has(const struct tc_layer_type *t);
int onnx_ex_map_plugin(onnx_ex *x, const struct tc_node *nd);

/* ---- import (onnx_import.c walks the graph and writes the model,
 * onnx_import_ops.c converts each operator) ------------------------------ */

/* One ONNX value: a graph input, an initializer or Constant, or a node's
 * output, and what it is on the tinycnn side. */
typedef struct onnx_val {
    const char *name;            /* the ONNX name (the file's) */
    const char *tc;              /* the tinycnn input or node it is; NULL for constants */
    const Onnx__TensorProto *t;  /* constants: the initializer or Constant value */
    int node;                    /* the ONNX node that computes it; -1 when none */
    int defined;                 /* computed by a node converted so far (or not a node's) */
    int rank;                    /* dims of the ONNX value, batch included */
    int squeezed;                /* ONNX [N,C,1,1] that tinycnn holds as [N,C] */
    int norm;                    /* the graph input: 1, after its Sub 2, after its Div 3 */
    int consumers;               /* node inputs and graph outputs reading it */
    int reader;                  /* the first node reading it; -1 none */
} onnx_val;

/* A Reshape turned into Flatten whose size is checked once the model loads. */
typedef struct onnx_flat_check {
    char *node;
    int64_t features;
} onnx_flat_check;

typedef struct onnx_imp {
    const char *origin;
    tc_error *err;
    const Onnx__GraphProto *g;
    int64_t opset;
    onnx_val *vals;
    size_t n_vals, cap_vals;
    size_t *slots;               /* hash table of vals (index + 1; 0: empty) */
    size_t n_slots;
    json_t *nodes;               /* the model file's "nodes" */
    tc_checkpoint *ck;           /* the weights and state go here */
    int input;                   /* the graph input's value */
    int channels;                /* its channels (dim 1), for per-channel mean/std */
    float mean[TC_MAX_INPUT_CHANNELS], std[TC_MAX_INPUT_CHANNELS];
    int n_mean, n_std;           /* 0: none; 1: one for all; else per channel */
    unsigned char *skip;         /* per node: folded into an earlier one (MatMul's Add) */
    onnx_flat_check *checks;
    size_t n_checks;
} onnx_imp;

/* The shortest decimal that reads back as f (0.1f -> 0.1, not
 * 0.10000000149...), so model files show the numbers their author wrote. */
double onnx_short_float(double f);

/* The value named name, or NULL. */
onnx_val *onnx_imp_find(onnx_imp *m, const char *name);
/* "'conv1' (Conv)" or "#3 (Conv)" for messages, into buf. */
const char *onnx_imp_label(const Onnx__NodeProto *n, int i, char *buf, size_t cap);
/* Converts ONNX node i (onnx_import_ops.c); refuses any op outside the set
 * of docs/onnx.md, naming the node and its op type. */
int onnx_imp_node(onnx_imp *m, int i);

#endif
