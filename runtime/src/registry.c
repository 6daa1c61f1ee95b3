/* The plugin registry: dlopen()ed plugin files and the layer types they
 * registered, looked up by type name. */
#define _XOPEN_SOURCE 700
#include "tinycnn/registry.h"

#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"
#include "registry_internal.h"
#include "tinycnn/status.h"

typedef struct entry {
    const tc_layer_type *type;
    int plugin; /* index into plugins, -1 for tc_registry_add */
    char *origin;
} entry;

struct tc_registry {
    entry *entries;
    int n_entries, cap_entries;
    void **handles;
    int n_handles, cap_handles;
    char **warnings;
    int n_warnings;
};

/* Registration context for one plugin file being loaded. */
struct tc_plugin_ctx {
    tc_registry *reg;
    const char *path;
    int plugin;
    int first_entry; /* entries from here on belong to this file */
    tc_error *err;
    int failed;
};

tc_registry *tc_registry_new(void)
{
    return calloc(1, sizeof(tc_registry));
}

void tc_registry_free(tc_registry *reg)
{
    if (!reg)
        return;
    for (int i = 0; i < reg->n_entries; i++)
        free(reg->entries[i].origin);
    free(reg->entries);
    for (int i = 0; i < reg->n_handles; i++)
        dlclose(reg->handles[i]);
    free(reg->handles);
    for (int i = 0; i < reg->n_warnings; i++)
        free(reg->warnings[i]);
    free(reg->warnings);
    free(reg);
}

static int check_type(const tc_layer_type *t, const char *origin, tc_error *err)
{
    /* abi_version and name sit at the same offsets in every ABI version, so
     * they are read before the size, which differs between versions. */
    if (t && t->abi_version != TC_PLUGIN_ABI_VERSION)
        return tc_error_set(err, "%s: layer type '%s' was built for plugin ABI version %u, "
                                 "this runtime speaks version %u; rebuild the plugin against "
                                 "the installed tinycnn/plugin.h",
                            origin, t->name ? t->name : "?", t->abi_version,
                            TC_PLUGIN_ABI_VERSION);
    if (!t || t->struct_size < TC_LAYER_TYPE_MIN_SIZE)
        return tc_error_set(err, "%s: a layer type struct is too small or NULL "
                                 "(built against an incompatible plugin.h)", origin);
    if (!t->name || !t->name[0])
        return tc_error_set(err, "%s: a layer type has no name", origin);
    if (t->struct_size > offsetof(tc_layer_type, test_hints) && t->test_hints &&
        t->test_hints->struct_size < offsetof(tc_test_hints, reserved))
        return tc_error_set(err, "%s: layer type '%s' has test hints of a too small struct",
                            origin, t->name);
    if (!t->plan || !t->forward)
        return tc_error_set(err, "%s: layer type '%s' has no plan() or forward()", origin,
                            t->name);
    if (t->min_inputs < 0 || t->max_inputs < t->min_inputs)
        return tc_error_set(err, "%s: layer type '%s' declares inputs %d..%d", origin,
                            t->name, t->min_inputs, t->max_inputs);
    if (t->n_params < 0 || (t->n_params > 0 && !t->params))
        return tc_error_set(err, "%s: layer type '%s' declares %d parameters but no table",
                            origin, t->name, t->n_params);
    for (int i = 0; i < t->n_params; i++) {
        const tc_param_desc *p = &t->params[i];
        if (!p->name || (p->type != TC_VALUE_INT && p->type != TC_VALUE_FLOAT &&
                         p->type != TC_VALUE_BOOL))
            return tc_error_set(err, "%s: layer type '%s' parameter %d is malformed", origin,
                                t->name, i);
    }
    return 0;
}

static int add_entry(tc_registry *reg, const tc_layer_type *t, int plugin, const char *origin,
                     tc_error *err)
{
    const char *other;
    if (check_type(t, origin, err))
        return 1;
    if (tc_registry_find(reg, t->name, &other))
        return tc_error_set(err, "layer type '%s' is registered twice: by %s and by %s",
                            t->name, other, origin);
    if (reg->n_entries == reg->cap_entries) {
        int cap = reg->cap_entries ? reg->cap_entries * 2 : 16;
        entry *e = realloc(reg->entries, sizeof *e * (size_t)cap);
        if (!e)
            return tc_error_set(err, "out of memory");
        reg->entries = e;
        reg->cap_entries = cap;
    }
    char *o = strdup(origin);
    if (!o)
        return tc_error_set(err, "out of memory");
    reg->entries[reg->n_entries++] = (entry){t, plugin, o};
    return 0;
}

int tc_registry_register_from_plugin(tc_plugin_ctx *ctx, const tc_layer_type *type)
{
    if (!ctx || ctx->failed)
        return 1;
    if (add_entry(ctx->reg, type, ctx->plugin, ctx->path, ctx->err)) {
        ctx->failed = 1;
        return 1;
    }
    return 0;
}

int tc_registry_add(tc_registry *reg, const tc_layer_type *type, const char *origin,
                    tc_error *err)
{
    return add_entry(reg, type, -1, origin ? origin : "(built in)", err);
}

static void rollback(tc_registry *reg, int first_entry)
{
    for (int i = first_entry; i < reg->n_entries; i++)
        free(reg->entries[i].origin);
    reg->n_entries = first_entry;
}

static void add_warning(tc_registry *reg, const char *msg)
{
    char **w = realloc(reg->warnings, sizeof *w * (size_t)(reg->n_warnings + 1));
    if (!w)
        return;
    reg->warnings = w;
    if ((w[reg->n_warnings] = strdup(msg)))
        reg->n_warnings++;
}

void tc_registry_warn(tc_registry *reg, const char *msg)
{
    add_warning(reg, msg);
}

int tc_registry_n_warnings(const tc_registry *reg)
{
    return reg->n_warnings;
}

const char *tc_registry_warning(const tc_registry *reg, int i)
{
    return i >= 0 && i < reg->n_warnings ? reg->warnings[i] : NULL;
}

/* Loading code from a file or folder that another user can write to would
 * let that user run code as whoever runs tinycnn. Other users can write to
 * it when it is world-writable, when it is group-writable for a group other
 * than this process's own (with user-private groups, the usual umask 002
 * setup, the own group holds only the user), or when another user owns it
 * (an owner can always chmod). Root's files are trusted. */
static int check_not_writable_by_others(const char *path, const char *what, int allow_sticky,
                                        tc_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return tc_error_set(err, "%s: cannot read the %s: %s", path, what, strerror(errno));
    unsigned mode = (unsigned)(st.st_mode & 07777);
    /* In a sticky folder (/tmp) others may add files but not replace ours:
     * fine for the folder of one named file, not for a folder we scan. */
    if (allow_sticky && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))
        mode &= ~(unsigned)(S_IWOTH | S_IWGRP);
    else if (st.st_mode & S_IWOTH)
        return tc_error_set(err, "%s: refusing to load plugins from a %s that every user can "
                                 "write to (mode %03o); run chmod o-w on it",
                            path, what, mode & 0777);
    if ((mode & S_IWGRP) && st.st_gid != getegid())
        return tc_error_set(err, "%s: refusing to load plugins from a %s that group %u can "
                                 "write to (mode %03o); run chmod g-w on it",
                            path, what, (unsigned)st.st_gid, mode & 0777);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return tc_error_set(err, "%s: refusing to load plugins from a %s owned by another user "
                                 "(uid %u), who could change it; run chown on it",
                            path, what, (unsigned)st.st_uid);
    return 0;
}

/* Calls a plugin's entry and checks that it registered something; on
 * failure rolls back what it registered. plugin: the handle index, or -1. */
static int run_init(tc_registry *reg, tc_plugin_init_fn init, const char *path, int plugin,
                    tc_error *err)
{
    tc_error local = {{0}};
    tc_plugin_ctx ctx = {reg, path, plugin, reg->n_entries, &local, 0};
    int rc = init(tc_host_table(), &ctx, &local);
    if (rc != 0 || ctx.failed) {
        rollback(reg, ctx.first_entry);
        if (!local.msg[0])
            return tc_error_set(err, "%s: %s() returned %d", path, TC_PLUGIN_ENTRY, rc);
        if (ctx.failed) /* our own message already names the file */
            return tc_error_set(err, "%s", local.msg);
        return tc_error_set(err, "%s: %s", path, local.msg);
    }
    if (reg->n_entries == ctx.first_entry)
        return tc_error_set(err, "%s: the plugin registered no layer type", path);
    return 0;
}

int tc_registry_add_static(tc_registry *reg, tc_plugin_init_fn init, const char *origin,
                           tc_error *err)
{
    if (!reg || !init)
        return tc_error_set(err, "tc_registry_add_static: NULL registry or entry");
    return run_init(reg, init, origin ? origin : "(static plugin)", -1, err);
}

int tc_registry_load_file(tc_registry *reg, const char *path, tc_error *err)
{
    if (check_not_writable_by_others(path, "plugin file", 0, err))
        return 1;
    /* The file's folder too: whoever can write there can swap the file. */
    char *dir = tc_path_folder(path);
    if (!dir)
        return tc_error_set(err, "out of memory");
    int unsafe = check_not_writable_by_others(dir, "folder", 1, err);
    free(dir);
    if (unsafe)
        return tc_error_prefix(err, "%s", path);
    /* dlopen() of a name without a slash searches the library path
     * (LD_LIBRARY_PATH, /usr/lib, ...): a caller naming "x.so" means the
     * file x.so, so it is given as "./x.so". */
    char *dotted = NULL;
    if (!strchr(path, '/')) {
        dotted = malloc(strlen(path) + 3);
        if (!dotted)
            return tc_error_set(err, "out of memory");
        strcpy(dotted, "./");
        strcat(dotted, path);
    }
    dlerror();
    void *h = dlopen(dotted ? dotted : path, RTLD_NOW | RTLD_LOCAL);
    free(dotted);
    if (!h) {
        const char *why = dlerror();
        return tc_error_set(err, "%s: not a loadable plugin (%s)", path,
                            why ? why : "dlopen failed");
    }
    tc_plugin_init_fn init;
    void *sym = dlsym(h, TC_PLUGIN_ENTRY);
    if (!sym) {
        dlclose(h);
        return tc_error_set(err, "%s: no entry symbol '%s'; a plugin must export it "
                                 "(see plugin.h)", path, TC_PLUGIN_ENTRY);
    }
    memcpy(&init, &sym, sizeof init); /* object-to-function pointer, POSIX-sanctioned */

    if (reg->n_handles == reg->cap_handles) {
        int cap = reg->cap_handles ? reg->cap_handles * 2 : 16;
        void **hs = realloc(reg->handles, sizeof *hs * (size_t)cap);
        if (!hs) {
            dlclose(h);
            return tc_error_set(err, "out of memory");
        }
        reg->handles = hs;
        reg->cap_handles = cap;
    }
    if (run_init(reg, init, path, reg->n_handles, err)) {
        dlclose(h);
        return 1;
    }
    reg->handles[reg->n_handles++] = h;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tc_registry_load_dir(tc_registry *reg, const char *dir, tc_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tc_error_set(err, "%s: cannot open plugin folder: %s", dir, strerror(errno));
    tc_error unsafe;
    if (check_not_writable_by_others(dir, "folder", 0, &unsafe)) {
        closedir(d);
        add_warning(reg, unsafe.msg);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, sizeof *nn * cap);
            if (!nn) {
                rc = tc_error_set(err, "out of memory");
                goto out;
            }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = tc_error_set(err, "out of memory");
            goto out;
        }
        n++;
    }
    if (n > 1) /* names is NULL in a folder without plugins */
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path) {
            rc = tc_error_set(err, "out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, names[i]);
        if (check_not_writable_by_others(path, "plugin file", 0, &unsafe))
            add_warning(reg, unsafe.msg);
        else
            rc = tc_registry_load_file(reg, path, err);
        free(path);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

const tc_layer_type *tc_registry_find(const tc_registry *reg, const char *name,
                                      const char **origin)
{
    for (int i = 0; i < reg->n_entries; i++) {
        if (strcmp(reg->entries[i].type->name, name) == 0) {
            if (origin)
                *origin = reg->entries[i].origin;
            return reg->entries[i].type;
        }
    }
    return NULL;
}

int tc_registry_count(const tc_registry *reg)
{
    return reg->n_entries;
}

const tc_layer_type *tc_registry_get(const tc_registry *reg, int i, const char **origin)
{
    if (i < 0 || i >= reg->n_entries)
        return NULL;
    if (origin)
        *origin = reg->entries[i].origin;
    return reg->entries[i].type;
}
