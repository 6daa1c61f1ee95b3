/* Internal: what other parts of the library add to a registry. */
#ifndef TC_REGISTRY_INTERNAL_H
#define TC_REGISTRY_INTERNAL_H

#include "tinycnn/registry.h"

/* Records a warning (a copy of msg) for tc_registry_warning, as loading
 * does for skipped unsafe files; plugin discovery (discover.c) adds its
 * own. Out of memory drops it: a warning is never worth a failure. */
void tc_registry_warn(tc_registry *reg, const char *msg);

/* The host table's register_layer (host.c): adds type to the registry
 * whose plugin is being initialised through ctx (registry.c). */
int tc_registry_register_from_plugin(tc_plugin_ctx *ctx, const tc_layer_type *type);

#endif
