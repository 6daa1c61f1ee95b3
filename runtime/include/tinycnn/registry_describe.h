/* tinycnn/registry_describe.h - the layer types of a registry described for
 * people and programs (`tinycnn plugins`): per type the plugin file it came
 * from, its summary, how many inputs it takes, whether it is a loss, and
 * its parameters with type, default, range and help. */
#ifndef TINYCNN_REGISTRY_DESCRIBE_H
#define TINYCNN_REGISTRY_DESCRIBE_H

#include "tinycnn/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every registered type in registration order, as blocks separated by an
 * empty line:
 *   NAME[  (loss)]
 *     SUMMARY                          (when it has one)
 *     file:   PATH | (built in)
 *     inputs: N | N to M | N or more
 *     params: none | params:, then per parameter its name, type, "required"
 *             or "default V", range "[MIN, MAX]" or "true|false", help
 * Integers print as integers and bounds from 1e300 up as "inf". Every line
 * ends in '\n'; "" for an empty registry. Owner of the string: the caller
 * (free()); NULL when out of memory or reg is NULL. */
char *tc_registry_describe_text(const tc_registry *reg);

/* The same as one JSON object {"types": [...]}, indented by 2, no final
 * newline: per type name, file ("" when built in), summary, min_inputs,
 * max_inputs (null: no limit), loss, and params (name, type, required,
 * default: null when required, min and max: null when unbounded, help).
 * Reals have 10 significant digits. Owner of the string: the caller
 * (free()); NULL when out of memory or reg is NULL. */
char *tc_registry_describe_json(const tc_registry *reg);

#ifdef __cplusplus
}
#endif
#endif
