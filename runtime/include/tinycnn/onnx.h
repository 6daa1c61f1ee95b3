/* tinycnn/onnx.h - model exchange with ONNX (docs/onnx.md).
 *
 * Export writes a model's inference graph (the loss node and the label input
 * dropped) as an ONNX model: opset TC_ONNX_OPSET, IR version
 * TC_ONNX_IR_VERSION, the weights and BatchNorm running statistics as
 * initializers, a symbolic batch dimension "N", the model's input and output
 * names, and the checkpoint's class names in metadata_props ("class_names",
 * a JSON array). The input normalisation is part of the exported graph (Sub
 * and Div nodes), so the ONNX model takes pixel / 255, the same [0, 1]
 * values whatever the model's mean and std.
 *
 * Import reads an ONNX model (any producer: torch.onnx.export, this
 * exporter) with the operator set of docs/onnx.md, treating the file as
 * hostile: every size, dimension, name and reference is checked before it
 * is used. The result is a checkpoint image (model JSON, metadata, weights)
 * that eval and predict use as is.
 *
 * Errors as everywhere in the library: 0 (or a pointer) on success, err
 * filled on failure, naming the file and the node (name and op type or
 * layer type); nothing printed. No partial output file is ever left. */
#ifndef TINYCNN_ONNX_H
#define TINYCNN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "tinycnn/checkpoint.h"
#include "tinycnn/graph.h"
#include "tinycnn/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_ONNX_OPSET 13      /* the default-domain opset export declares */
#define TC_ONNX_IR_VERSION 7  /* the IR version of opset 13 (ONNX 1.8) */

/* ONNX files above this size are refused before they are read. */
#define TC_ONNX_MAX_BYTES ((uint64_t)1 << 30)

/* Serialises the inference graph of g (weights and state as they are) to an
 * ONNX model in memory. meta_json: the checkpoint metadata (for its
 * "class_names"), or NULL. A node of a layer type without an ONNX mapping
 * is an error naming the node and its type. Owner of *bytes: the caller,
 * released with free(); NULL and 0 on failure. */
int tc_onnx_export(tc_graph *g, const char *meta_json, uint8_t **bytes, size_t *len,
                   tc_error *err);

/* Reads the checkpoint at ckpt_path (its plugins from reg), exports it and
 * writes onnx_path atomically (a temporary file renamed into place): on any
 * failure no file is left at onnx_path (an existing one is kept as it was). */
int tc_onnx_export_file(const tc_registry *reg, const char *ckpt_path, const char *onnx_path,
                        tc_error *err);

/* Converts an ONNX model (len bytes; origin names it in messages) into a
 * checkpoint image: out->model_json (the model file text: its graph input
 * named as the ONNX input, its nodes as the ONNX values they compute, a
 * label input and SoftmaxCrossEntropy loss added when the output is
 * [N, classes] logits), out->meta_json ({"class_names": [...]} when the
 * file has them, else {}) and the weight and state tensors. The result is
 * loaded with reg (every layer, shape and weight checked) before it is
 * returned. On failure out is left empty. Owner of out's contents: the
 * caller (tc_checkpoint_free). */
int tc_onnx_import(const tc_registry *reg, const uint8_t *bytes, size_t len, const char *origin,
                   tc_checkpoint *out, tc_error *err);

/* Reads onnx_path (at most TC_ONNX_MAX_BYTES), converts it, then writes the model file json_path and, when
 * ckpt_path is not NULL, the checkpoint ckpt_path, each atomically. On any
 * failure neither file is left behind. */
int tc_onnx_import_file(const tc_registry *reg, const char *onnx_path, const char *json_path,
                        const char *ckpt_path, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
