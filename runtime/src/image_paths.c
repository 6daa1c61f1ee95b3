/* Lists of image files: the files and folders a user names, expanded into
 * the image files to read, in a stable order (tinycnn/dataset.h,
 * tc_image_paths). A folder that cannot be listed is an entry of its own,
 * so that one bad path never hides the others. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int tc_is_image_name(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    return dot && dot != name &&
           (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
            strcasecmp(dot, ".jpeg") == 0);
}

typedef struct path_list {
    tc_image_path *v;
    size_t n, cap;
} path_list;

/* Adds path (copied) with an error message made from fmt (NULL: none).
 * 1 when out of memory. */
static int add(path_list *l, const char *path, const char *fmt, ...) TC_PRINTF(3, 4);
static int add(path_list *l, const char *path, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        tc_image_path *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    tc_image_path it = {strdup(path), NULL};
    if (fmt) {
        char msg[TC_ERROR_CAP];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        it.error = strdup(msg);
    }
    if (!it.path || (fmt && !it.error)) {
        free(it.path);
        free(it.error);
        return 1;
    }
    l->v[l->n++] = it;
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The image files under dir, recursively, in readdir order; an unreadable
 * or too deep folder becomes an error entry. Entries starting with '.' are
 * skipped, as the image folder loader does. Files are not opened here: an
 * entry named like an image that is no regular file is left to the reader,
 * which names what it is. 1 when out of memory. */
static int walk(path_list *l, const char *dir, int depth)
{
    if (depth > TC_IMAGE_PATHS_MAX_DEPTH)
        return add(l, dir, "%s: folders nested more than %d deep", dir,
                   TC_IMAGE_PATHS_MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d)
        return add(l, dir, "%s: cannot open folder: %s", dir, strerror(errno));
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = 1;
            break;
        }
        snprintf(p, n, "%s%s%s", dir, sep, e->d_name);
        if (is_dir(p))
            rc = walk(l, p, depth + 1);
        else if (tc_is_image_name(e->d_name))
            rc = add(l, p, NULL);
        free(p);
    }
    closedir(d);
    return rc;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(((const tc_image_path *)a)->path, ((const tc_image_path *)b)->path);
}

/* One argument: a file as given, a folder as its sorted image files (or an
 * error entry when it holds none). 1 when out of memory. */
static int expand(path_list *l, const char *arg)
{
    if (!is_dir(arg))
        return add(l, arg, NULL);
    size_t first = l->n;
    if (walk(l, arg, 0))
        return 1;
    if (l->n == first)
        return add(l, arg, "%s: is a folder without PNG or JPEG images (*.png, *.jpg, *.jpeg) "
                           "in it or below it", arg);
    qsort(l->v + first, l->n - first, sizeof *l->v, path_cmp);
    return 0;
}

int tc_image_paths(const char *const *paths, int n, tc_image_path **list, size_t *count,
                   tc_error *err)
{
    if (!list || !count)
        return tc_error_set(err, "tc_image_paths: NULL %s", !list ? "list" : "count");
    *list = NULL;
    *count = 0;
    if (n < 0 || (n > 0 && !paths))
        return tc_error_set(err, "tc_image_paths: %d paths at %p", n, (const void *)paths);
    path_list l = {0};
    for (int i = 0; i < n; i++) {
        if (!paths[i]) {
            tc_image_paths_free(l.v, l.n);
            return tc_error_set(err, "tc_image_paths: path %d is NULL", i);
        }
        if (expand(&l, paths[i]) != 0) {
            tc_image_paths_free(l.v, l.n);
            return tc_error_set(err, "%s: out of memory listing the images", paths[i]);
        }
    }
    *list = l.v;
    *count = l.n;
    return 0;
}

void tc_image_paths_free(tc_image_path *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++) {
        free(list[i].path);
        free(list[i].error);
    }
    free(list);
}
