/* tinycnn/layers.h - the standard layers linked into a program.
 *
 * libtinycnn_layers.a (CMake: tinycnn::layers) holds every standard layer
 * built as a static plugin, so a program can carry its layers instead of
 * loading the plugin files: with the static runtime it is one
 * self-contained executable that needs no tinycnn file at run time.
 *
 *     tc_error err = {{0}};
 *     tc_registry *reg = tc_registry_new();
 *     if (!reg || tc_register_standard_layers(reg, &err)) ... fail ...
 *     tc_model_options opts = {.struct_size = sizeof opts, .registry = reg};
 *     tc_model *m = tc_model_open("lenet5.ckpt", &opts, &err);
 *     ...
 *     tc_model_close(m);
 *     tc_registry_free(reg);      // after every model using it
 *
 * Link: CMake target tinycnn::layers (it brings tinycnn::tinycnn_static), or
 * -ltinycnn_layers before the runtime's own link line.
 */
#ifndef TINYCNN_LAYERS_H
#define TINYCNN_LAYERS_H

#include "tinycnn/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers every standard layer type in reg, each as a static plugin
 * (tc_registry_add_static) whose origin is "standard:<file>", e.g.
 * "standard:conv2d" for Conv2d. Fails, with err naming both origins, when
 * reg already holds one of the types (say the standard plugin folder was
 * loaded into it too); the types registered before the failing one then
 * stay in reg. Defined in libtinycnn_layers.a, not in libtinycnn. */
int tc_register_standard_layers(tc_registry *reg, tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
