/* tinycnn/registry.h - loading layer plugins and looking layer types up by
 * name. The registry is the one piece of mutable state shared by graphs; it
 * is an object the caller owns, not a global. */
#ifndef TINYCNN_REGISTRY_H
#define TINYCNN_REGISTRY_H

#include <stddef.h>

#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_registry tc_registry;

/* Allocates an empty registry. Owner: the caller, freed by tc_registry_free
 * (which also dlclose()s every loaded plugin). NULL when out of memory. */
tc_registry *tc_registry_new(void);
void tc_registry_free(tc_registry *reg);

/* Loads one plugin file. Refuses (with a message naming the file): a file,
 * or a folder holding it, that other users can write to (world-writable,
 * group-writable for a group other than this process's, or owned by a user
 * other than root and this one; a sticky folder such as /tmp is fine for a
 * named file), a file that is not a loadable shared object, one without the
 * entry symbol, a layer type built for another ABI version, and a type name
 * that is already registered (naming both files). A path without a slash
 * names a file in the current folder, never one on the library path. On
 * failure nothing from that file stays registered. */
int tc_registry_load_file(tc_registry *reg, const char *path, tc_error *err);

/* Loads every "*.so" in dir, in name order. A missing folder is an error.
 * For safety a plugin file or folder that other users can write to (as for
 * tc_registry_load_file, sticky or not) is not
 * loaded: the folder or file is skipped and a warning saying why is recorded
 * (see tc_registry_warning); loading the rest goes on. */
int tc_registry_load_dir(tc_registry *reg, const char *dir, tc_error *err);

/* Finds and loads the layer plugins of an installation, in this order:
 *  1. the folder installed beside the library: PREFIX/lib/tinycnn/plugins
 *     for a shared PREFIX/lib/libtinycnn.so, and for the library linked
 *     into a program PREFIX/bin/PROG, PREFIX/bin/../lib/tinycnn/plugins
 *     (the build tree has the same layout); skipped when missing;
 *  2. each folder of $TINYCNN_PLUGIN_PATH (colon-separated): missing ones
 *     are skipped, and relative ones too, with a warning (see
 *     tc_registry_warning): the current folder is never searched unless
 *     named by an absolute path;
 *  3. extra_dirs[0 .. n_extra), e.g. from a command line: a missing one is
 *     an error naming it.
 * Each folder is loaded as by tc_registry_load_dir (unsafe files skipped
 * with a warning; a type name found twice is an error naming both files).
 * Returns 0 on success; TC_DISCOVER_NONE when everything loaded but no
 * plugin was found anywhere (err names the folders searched, so a caller
 * may add its own hint); 1 on any other failure. On failure the registry
 * keeps what was loaded before it: free it. Nothing is printed. */
#define TC_DISCOVER_NONE 2
int tc_plugin_discover(tc_registry *reg, const char *const *extra_dirs, int n_extra,
                       tc_error *err);

/* The folders tc_plugin_discover searches, in its order, as one ", "-
 * separated line into buf (cap bytes, truncated; "nothing" when there is
 * none): for messages. Relative $TINYCNN_PLUGIN_PATH entries are left out.
 * Returns buf. */
const char *tc_plugin_search_path(const char *const *extra_dirs, int n_extra, char *buf,
                                  size_t cap);

/* Warnings recorded while loading (skipped unsafe files, ignored relative
 * $TINYCNN_PLUGIN_PATH entries), oldest first. */
int tc_registry_n_warnings(const tc_registry *reg);
const char *tc_registry_warning(const tc_registry *reg, int i);

/* Registers a layer type compiled into the caller (tests, fuzzers); origin
 * is what `plugins` shows as its file. */
int tc_registry_add(tc_registry *reg, const tc_layer_type *type, const char *origin,
                    tc_error *err);

/* Registers the layer types of a plugin linked into the program (its entry
 * defined with TC_PLUGIN_DEFINE(id), built with -DTC_PLUGIN_STATIC): calls
 * init (e.g. tc_plugin_init_relu) as dlopen() loading would, with the same
 * checks and messages; origin names it in messages and `plugins`. On
 * failure nothing it registered stays. */
int tc_registry_add_static(tc_registry *reg, tc_plugin_init_fn init, const char *origin,
                           tc_error *err);

/* Looks a type up by name; NULL if none. origin (may be NULL) receives the
 * path of the plugin file it came from. */
const tc_layer_type *tc_registry_find(const tc_registry *reg, const char *name,
                                      const char **origin);

/* Enumerates registered types in registration order. */
int tc_registry_count(const tc_registry *reg);
const tc_layer_type *tc_registry_get(const tc_registry *reg, int i, const char **origin);

/* The host function table handed to plugins; static, never freed. */
const tc_host *tc_host_table(void);

#ifdef __cplusplus
}
#endif
#endif
