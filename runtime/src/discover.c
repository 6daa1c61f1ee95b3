/* Plugin discovery: the one place that knows where an installation keeps
 * its layer plugins (the runner, the conformance tool, the benchmark and
 * the inference API all come here). */
#define _GNU_SOURCE /* dladdr1, RTLD_DL_LINKMAP */
#include "tinycnn/registry.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry_internal.h"
#include "tinycnn/status.h"

#define ENV_VAR "TINYCNN_PLUGIN_PATH"

/* Set by the build from the install layout; this default is the layout with
 * LIBDIR = lib. */
#ifndef TC_PLUGINS_FROM_LIBDIR
#define TC_PLUGINS_FROM_LIBDIR "tinycnn/plugins"
#endif

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The folder installed beside the library, into out (PATH_MAX + 64
 * bytes); 0 when this library's file cannot be found. The library's own
 * file comes from the dynamic linker: a shared library has a name in its
 * link map; linked into the program it has none (the main program's entry
 * is ""), and the program is /proc/self/exe. */
static int beside_library(char *out, size_t cap)
{
    char file[PATH_MAX], raw[PATH_MAX + 64];
    /* PREFIX/bin/PROG: the program's folder, then ../lib/tinycnn/plugins */
    const char *up[2] = {"/../lib/tinycnn/plugins", NULL};
    Dl_info info;
    struct link_map *map = NULL;
    if (dladdr1((void *)(uintptr_t)&tc_plugin_discover, &info, (void **)&map,
                RTLD_DL_LINKMAP) && map && map->l_name && map->l_name[0]) {
        if (!realpath(map->l_name, file))
            return 0;
        /* PREFIX/LIBDIR/libtinycnn.so: the plugins' install folder relative
         * to LIBDIR (it differs from "tinycnn/plugins" with a multiarch
         * LIBDIR such as lib/x86_64-linux-gnu), else beside it as in a
         * build tree */
        up[0] = "/" TC_PLUGINS_FROM_LIBDIR;
        up[1] = "/tinycnn/plugins";
    } else {
        ssize_t n = readlink("/proc/self/exe", file, sizeof file - 1);
        if (n <= 0)
            return 0;
        file[n] = 0;
    }
    char *slash = strrchr(file, '/');
    if (!slash)
        return 0;
    *slash = 0;
    for (int i = 0; i < 2 && up[i]; i++) {
        snprintf(raw, sizeof raw, "%s%s", file, up[i]);
        /* shown in messages and by `tinycnn plugins`: without the "bin/.." detour */
        if (!realpath(raw, out))
            snprintf(out, cap, "%s", raw);
        if (is_dir(out))
            return 1;
    }
    snprintf(raw, sizeof raw, "%s%s", file, up[0]); /* named in "looked in" messages */
    if (!realpath(raw, out))
        snprintf(out, cap, "%s", raw);
    return 1;
}

/* One folder of the search, in order. kind: 0 beside the library, 1 from
 * the environment, 2 named by the caller. Returns non-zero to stop. */
typedef int (*visit_fn)(void *ctx, const char *dir, int kind);

/* Walks the search path; a relative $TINYCNN_PLUGIN_PATH entry goes to
 * warn (may be NULL) instead of visit. Returns what visit returned when it
 * stopped the walk, or 0; 1 when out of memory. */
static int walk(const char *const *extra, int n_extra, visit_fn visit, void *ctx,
                void (*warn)(void *ctx, const char *entry), tc_error *err)
{
    char dir[PATH_MAX + 64];
    int rc;
    if (beside_library(dir, sizeof dir) && (rc = visit(ctx, dir, 0)) != 0)
        return rc;
    const char *env = getenv(ENV_VAR);
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        if (!copy)
            return tc_error_set(err, "out of memory");
        rc = 0;
        for (char *d = strtok_r(copy, ":", &save); d && rc == 0; d = strtok_r(NULL, ":", &save)) {
            /* A relative entry (".", "plugins") would load whatever lies in
             * the folder the program happens to be started from: the current
             * folder is never searched implicitly. (Empty entries never get
             * here: strtok_r drops them, unlike $PATH, where they mean the
             * current folder.) */
            if (d[0] != '/') {
                if (warn)
                    warn(ctx, d);
                continue;
            }
            rc = visit(ctx, d, 1);
        }
        free(copy);
        if (rc != 0)
            return rc;
    }
    for (int i = 0; i < n_extra; i++)
        if ((rc = visit(ctx, extra[i], 2)) != 0)
            return rc;
    return 0;
}

/* ---- the list of folders, for messages ---------------------------------- */

typedef struct listing {
    char *buf;
    size_t cap, len;
} listing;

static int list_dir(void *ctx, const char *dir, int kind)
{
    (void)kind;
    listing *l = ctx;
    if (l->len < l->cap) {
        int n = snprintf(l->buf + l->len, l->cap - l->len, "%s%s", l->len ? ", " : "", dir);
        l->len = n < 0 ? l->cap : l->len + (size_t)n;
    }
    return 0;
}

const char *tc_plugin_search_path(const char *const *extra_dirs, int n_extra, char *buf,
                                  size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    buf[0] = 0;
    listing l = {buf, cap, 0};
    tc_error ignore;
    walk(extra_dirs, extra_dirs ? n_extra : 0, list_dir, &l, NULL, &ignore);
    if (!buf[0])
        snprintf(buf, cap, "nothing");
    return buf;
}

/* ---- loading ------------------------------------------------------------- */

typedef struct loading {
    tc_registry *reg;
    tc_error *err;
} loading;

static int load_dir(void *ctx, const char *dir, int kind)
{
    loading *ld = ctx;
    if (kind == 2 && !is_dir(dir))
        return tc_error_set(ld->err, "plugin folder %s: no such folder", dir);
    if (kind != 2 && !is_dir(dir))
        return 0;
    if (tc_registry_load_dir(ld->reg, dir, ld->err) != 0) {
        if (kind == 1)
            tc_error_prefix(ld->err, ENV_VAR);
        return 1;
    }
    return 0;
}

static void warn_relative(void *ctx, const char *entry)
{
    loading *ld = ctx;
    char msg[PATH_MAX + 160];
    snprintf(msg, sizeof msg, ENV_VAR " entry '%s' is relative to the current folder; ignored "
                              "(give an absolute path)", entry);
    tc_registry_warn(ld->reg, msg);
}

int tc_plugin_discover(tc_registry *reg, const char *const *extra_dirs, int n_extra,
                       tc_error *err)
{
    if (!reg)
        return tc_error_set(err, "tc_plugin_discover: NULL registry");
    if (n_extra < 0 || (n_extra > 0 && !extra_dirs))
        return tc_error_set(err, "tc_plugin_discover: %d extra folders at %p", n_extra,
                            (const void *)extra_dirs);
    for (int i = 0; i < n_extra; i++)
        if (!extra_dirs[i] || !extra_dirs[i][0])
            return tc_error_set(err, "tc_plugin_discover: extra folder %d is %s", i,
                                extra_dirs[i] ? "empty" : "NULL");
    int before = tc_registry_count(reg);
    loading ld = {reg, err};
    if (walk(extra_dirs, n_extra, load_dir, &ld, warn_relative, err) != 0)
        return 1;
    if (tc_registry_count(reg) == before) {
        char looked[4096];
        tc_plugin_search_path(extra_dirs, n_extra, looked, sizeof looked);
        tc_error_set(err, "no layer plugins found (looked in %s)", looked);
        return TC_DISCOVER_NONE;
    }
    return 0;
}
