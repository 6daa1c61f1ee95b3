/* Image folders: torchvision's ImageFolder layout (class-name folders),
 * numbered label folders and flat idx-N-label-L files, of PNG and JPEG
 * images; and telling the two formats apart by content. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"
#include "dataset_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Folders below a class folder are searched this deep; deeper is taken for
 * a symbolic link loop. */
#define MAX_CLASS_DEPTH 8

/* ---- one image of either format ------------------------------------------- */

enum { KIND_PNG, KIND_JPEG };

static int sniff(const char *path, int *kind, tc_error *err)
{
    FILE *f = tc_open_regular(path, "PNG or JPEG", err);
    if (!f)
        return 1;
    unsigned char h[8];
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    if (got == 0)
        return tc_error_set(err, "%s: empty file, not a PNG or JPEG image", path);
    if (got == 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        *kind = KIND_PNG;
    else if (got >= 2 && h[0] == 0xFF && h[1] == 0xD8)
        *kind = KIND_JPEG;
    else
        return tc_error_set(err, "%s: neither a PNG nor a JPEG file (its first bytes are "
                                 "neither signature)",
                            path);
    return 0;
}

int tc_image_decode(tc_image_decoder decode, const char *path, int channels, int height,
                    int width, uint8_t *out, tc_error *err)
{
    if (height <= 0 || width <= 0)
        return tc_error_set(err, "%s: invalid expected size %dx%d", path, height, width);
    return decode(path, channels, height, width, out, NULL, NULL, NULL, err);
}

int tc_image_decode_any(tc_image_decoder decode, const char *path, int channels,
                        uint8_t **pixels, int *height, int *width, tc_error *err)
{
    *pixels = NULL;
    return decode(path, channels, 0, 0, NULL, pixels, height, width, err);
}

int tc_image_load_any(const char *path, int channels, uint8_t **pixels, int *height,
                      int *width, tc_error *err)
{
    *pixels = NULL;
    int kind = KIND_PNG;
    if (sniff(path, &kind, err))
        return 1;
    return (kind == KIND_PNG ? tc_png_load_any : tc_jpeg_load_any)(path, channels, pixels, height,
                                                                    width, err);
}

int tc_image_load(const char *path, int channels, int height, int width, uint8_t *out,
                  tc_error *err)
{
    int kind = KIND_PNG;
    if (sniff(path, &kind, err))
        return 1;
    return (kind == KIND_PNG ? tc_png_load : tc_jpeg_load)(path, channels, height, width, out,
                                                            err);
}

/* Reads path into dst as opt's channels x height x width, resizing when
 * opt allows it. */
static int load_into(const char *path, const tc_data_options *opt, uint8_t *dst, tc_error *err)
{
    if (opt->resize == TC_RESIZE_NONE)
        return tc_image_load(path, opt->channels, opt->height, opt->width, dst, err);
    uint8_t *px;
    int h, w;
    if (tc_image_load_any(path, opt->channels, &px, &h, &w, err))
        return 1;
    int rc = tc_image_fit(px, opt->channels, h, w, opt->resize, opt->resize_size, dst,
                          opt->height, opt->width, path, err);
    free(px);
    return rc;
}

/* ---- listing -------------------------------------------------------------- */

typedef struct img_entry {
    char *path;
    const char *name; /* points into path: the part below the class folder */
    int label;
    uint64_t idx; /* flat layout: the N of idx-N */
} img_entry;

typedef struct entry_list {
    img_entry *v;
    size_t n, cap;
} entry_list;

/* Name order with runs of digits compared by value, so "idx-2" < "idx-10". */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0' && a[1] >= '0' && a[1] <= '9')
                a++;
            while (*b == '0' && b[1] >= '0' && b[1] <= '9')
                b++;
            size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = memcmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int cmp_labelled(const void *pa, const void *pb)
{
    const img_entry *a = pa, *b = pb;
    if (a->label != b->label)
        return a->label < b->label ? -1 : 1;
    int c = natural_cmp(a->name, b->name);
    return c ? c : strcmp(a->name, b->name);
}

static int cmp_flat(const void *pa, const void *pb)
{
    const img_entry *a = pa, *b = pb;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int cmp_name(const void *pa, const void *pb)
{
    const img_entry *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

/* Parses a run of 1-18 digits (no overflow possible); returns the end or NULL. */
static const char *parse_uint(const char *s, uint64_t *v)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18)
        return NULL;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    return s + n;
}

/* A folder name that is a label 0..255. */
static int parse_label(const char *s, int *label)
{
    uint64_t v;
    const char *e = parse_uint(s, &v);
    if (!e || *e || v > 255)
        return 1;
    *label = (int)v;
    return 0;
}

/* "idx-N-label-L.png" (or .jpg, .jpeg; the extension's case is free). */
static int parse_flat_name(const char *s, uint64_t *idx, int *label)
{
    uint64_t l;
    if (strncmp(s, "idx-", 4) != 0 || !(s = parse_uint(s + 4, idx)) ||
        strncmp(s, "-label-", 7) != 0 || !(s = parse_uint(s + 7, &l)) || l > 255 ||
        (strcasecmp(s, ".png") != 0 && strcasecmp(s, ".jpg") != 0 &&
         strcasecmp(s, ".jpeg") != 0))
        return 1;
    *label = (int)l;
    return 0;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

static void entries_free(entry_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Appends dir/name, whose `name` part starts name_at bytes into the path. */
static int entries_add(entry_list *l, const char *dir, const char *name, size_t name_at,
                       int label, uint64_t idx, tc_error *err)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 256;
        img_entry *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return tc_error_set(err, "%s: out of memory listing files", dir);
        l->v = nv;
        l->cap = ncap;
    }
    char *p = join_path(dir, name);
    if (!p)
        return tc_error_set(err, "%s: out of memory listing files", dir);
    l->v[l->n++] = (img_entry){p, p + name_at, label, idx};
    return 0;
}

/* Lists dir: sub-folders and image files, skipping hidden entries and
 * other files. An image name on anything but a regular file (a FIFO would
 * block the reader) is an error. */
static int scan_dir(const char *dir, entry_list *files, entry_list *folders, tc_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tc_error_set(err, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = 0;
    size_t at = strlen(dir) + 1;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *p = join_path(dir, e->d_name);
        struct stat st;
        if (!p) {
            rc = tc_error_set(err, "%s: out of memory listing files", dir);
            break;
        }
        if (stat(p, &st) != 0)
            rc = tc_error_set(err, "%s: cannot stat: %s", p, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = entries_add(folders, dir, e->d_name, at, -1, 0, err);
        else if (!tc_is_image_name(e->d_name))
            ; /* notes, labels files, thumbnails databases: not ours */
        else if (!S_ISREG(st.st_mode))
            rc = tc_error_set(err, "%s: is a %s, not a regular file; refusing to read it as an "
                                   "image",
                              p, tc_file_type_name(st.st_mode));
        else
            rc = entries_add(files, dir, e->d_name, at, -1, 0, err);
        free(p);
    }
    closedir(d);
    return rc;
}

/* Adds the images of dir and the folders below it to out with `label`;
 * names are kept relative to the class folder (root_at bytes in). */
static int collect_class(const char *dir, size_t root_at, int depth, int label,
                         entry_list *out, tc_error *err)
{
    entry_list files = {0}, folders = {0};
    int rc = scan_dir(dir, &files, &folders, err);
    for (size_t k = 0; !rc && k < files.n; k++)
        rc = entries_add(out, dir, files.v[k].path + strlen(dir) + 1, root_at, label, 0, err);
    if (!rc && folders.n && depth >= MAX_CLASS_DEPTH)
        rc = tc_error_set(err, "%s: folders nested more than %d deep below the class folder "
                               "(a symbolic link loop?)",
                          folders.v[0].path, MAX_CLASS_DEPTH);
    for (size_t k = 0; !rc && k < folders.n; k++)
        rc = collect_class(folders.v[k].path, root_at, depth + 1, label, out, err);
    entries_free(&files);
    entries_free(&folders);
    return rc;
}

/* ---- the three layouts ---------------------------------------------------- */

typedef struct class_plan {
    int *labels;         /* one per folder */
    const char **names;  /* the class names (pointing into folders or opt); NULL: numbers */
    int n_names;
    char **owned;        /* a copy of names that outlives the folder list */
} class_plan;

/* Labels for the sorted class folders: by a fixed list, by their numbers,
 * or by their sorted names. */
static int plan_classes(const entry_list *folders, const tc_data_options *opt,
                        class_plan *cp, tc_error *err)
{
    size_t n = folders->n, listed = (size_t)opt->n_class_names;
    size_t n_names = n > listed ? n : listed;
    cp->labels = malloc((n + 1) * sizeof *cp->labels);
    cp->names = malloc((n_names + 1) * sizeof *cp->names);
    if (!cp->labels || !cp->names)
        return tc_error_set(err, "out of memory for %zu class folders", n);
    if (opt->n_class_names > 0) {
        for (size_t i = 0; i < n; i++) {
            const char *f = folders->v[i].name;
            int k = 0;
            while (k < opt->n_class_names && strcmp(opt->class_names[k], f) != 0)
                k++;
            if (k == opt->n_class_names)
                return tc_error_set(err, "%s: '%s' is not one of the %d classes of the class "
                                         "list (%s%s%s)",
                                    folders->v[i].path, f, opt->n_class_names,
                                    opt->class_names[0], opt->n_class_names > 1 ? ", " : "",
                                    opt->n_class_names > 1 ? "..." : "");
            cp->labels[i] = k;
        }
        memcpy(cp->names, opt->class_names, (size_t)opt->n_class_names * sizeof *cp->names);
        cp->n_names = opt->n_class_names;
        return 0;
    }
    const img_entry *numbered = NULL, *named = NULL;
    for (size_t i = 0; i < n; i++) {
        int label;
        if (parse_label(folders->v[i].name, &label) == 0) {
            cp->labels[i] = label;
            numbered = numbered ? numbered : &folders->v[i];
        } else {
            named = named ? named : &folders->v[i];
        }
    }
    if (numbered && named)
        return tc_error_set(err,
                            "%s: folder name is not a label 0..255, but %s is: the folders must "
                            "all be labels or all be class names (or give the class list)",
                            named->path, numbered->path);
    if (numbered)
        return 0;
    if (n > TC_MAX_CLASSES)
        return tc_error_set(err, "%s: %zu class folders; at most %d classes are possible",
                            folders->v[0].path, n, TC_MAX_CLASSES);
    for (size_t i = 0; i < n; i++) { /* folders are in name order */
        cp->labels[i] = (int)i;
        cp->names[i] = folders->v[i].name;
    }
    cp->n_names = (int)n;
    return 0;
}

static int collect_folders(entry_list *folders, const tc_data_options *opt, entry_list *out,
                           class_plan *cp, tc_error *err)
{
    qsort(folders->v, folders->n, sizeof *folders->v, cmp_name);
    if (plan_classes(folders, opt, cp, err))
        return 1;
    for (size_t i = 0; i < folders->n; i++) {
        const img_entry *f = &folders->v[i];
        if (collect_class(f->path, strlen(f->path) + 1, 0, cp->labels[i], out, err))
            return 1;
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_labelled);
    return 0;
}

static int collect_flat(const char *dir, const entry_list *files, const tc_data_options *opt,
                        entry_list *out, tc_error *err)
{
    for (size_t i = 0; i < files->n; i++) {
        const img_entry *f = &files->v[i];
        uint64_t idx;
        int label;
        if (parse_flat_name(f->name, &idx, &label))
            return tc_error_set(err, "%s: file name does not match idx-N-label-L.png or .jpg "
                                     "(L a label 0..255)",
                                f->path);
        if (entries_add(out, dir, f->name, strlen(dir) + 1, label, idx, err))
            return 1;
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_flat);
    for (size_t i = 0; i < out->n; i++) { /* in index order: the same error every time */
        const img_entry *e = &out->v[i];
        if (i > 0 && e->idx == out->v[i - 1].idx)
            return tc_error_set(err, "%s and %s: duplicate image index %" PRIu64,
                                out->v[i - 1].path, e->path, e->idx);
        if (opt->n_class_names > 0 && e->label >= opt->n_class_names)
            return tc_error_set(err, "%s: label %d is beyond the %d classes of the class list",
                                e->path, e->label, opt->n_class_names);
    }
    return 0;
}

/* The images under dir in load order, each with its label; the class names
 * (into cp) where the layout has them. */
static int collect(const char *dir, const tc_data_options *opt, entry_list *out,
                   class_plan *cp, tc_error *err)
{
    entry_list files = {0}, folders = {0};
    int rc = scan_dir(dir, &files, &folders, err);
    if (rc)
        goto done;
    if (folders.n && files.n) {
        rc = tc_error_set(err,
                          "%s: mixes class folders (%s) and image files (%s); use either "
                          "<class>/<image> or flat idx-N-label-L.png files",
                          dir, folders.v[0].path, files.v[0].path);
        goto done;
    }
    if (folders.n)
        rc = collect_folders(&folders, opt, out, cp, err);
    else
        rc = collect_flat(dir, &files, opt, out, err);
    if (!rc && opt->n_class_names > 0 && !cp->names) {
        /* a flat folder under a fixed class list: names from the list */
        cp->names = malloc((size_t)opt->n_class_names * sizeof *cp->names);
        if (!cp->names)
            rc = tc_error_set(err, "%s: out of memory", dir);
        else
            memcpy(cp->names, opt->class_names, (size_t)opt->n_class_names * sizeof *cp->names);
        cp->n_names = opt->n_class_names;
    }
    if (!rc && cp->n_names > 0 && !(cp->owned = tc_names_copy(cp->names, cp->n_names)))
        rc = tc_error_set(err, "%s: out of memory for %d class names", dir, cp->n_names);
    if (!rc && out->n == 0)
        rc = tc_error_set(err, "%s: no images (no PNG images, no JPEG images): expected "
                               "%s/<class>/*.png|jpg or %s/idx-N-label-L.png",
                          dir, dir, dir);
done:
    entries_free(&files);
    entries_free(&folders);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

static int load_entries(const char *dir, const entry_list *list, const tc_data_options *opt,
                        class_plan *cp, tc_dataset *out, tc_error *err)
{
    size_t per = (size_t)opt->channels * (size_t)opt->height * (size_t)opt->width, total;
    if (__builtin_mul_overflow(per, list->n, &total) || total > (size_t)TC_IDX_MAX_BYTES * 4)
        return tc_error_set(err, "%s: %zu images of %dx%dx%d are too many to hold in memory", dir,
                            list->n, opt->channels, opt->height, opt->width);
    tc_dataset ds = {.count = (int64_t)list->n, .channels = opt->channels,
                     .height = opt->height, .width = opt->width};
    ds.pixels = malloc(total);
    ds.labels = malloc(list->n);
    ds.paths = calloc(list->n + 1, sizeof *ds.paths);
    ds.class_names = cp->owned; /* the data set's from now on */
    ds.n_classes = cp->owned ? cp->n_names : 0;
    cp->owned = NULL;
    for (size_t i = 0; ds.paths && i < list->n; i++)
        if (!(ds.paths[i] = strdup(list->v[i].path))) {
            ds.count = (int64_t)i; /* what tc_dataset_free frees */
            break;
        }
    if (!ds.pixels || !ds.labels || !ds.paths || ds.count != (int64_t)list->n) {
        tc_dataset_free(&ds);
        return tc_error_set(err, "%s: out of memory for %zu images", dir, list->n);
    }
    for (size_t i = 0; i < list->n; i++) {
        if (load_into(list->v[i].path, opt, ds.pixels + i * per, err)) {
            tc_dataset_free(&ds);
            return 1;
        }
        ds.labels[i] = (uint8_t)list->v[i].label;
    }
    *out = ds;
    return 0;
}

int tc_image_folder_load(const char *dir, const tc_data_options *opt, tc_dataset *out,
                         tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (tc_data_options_check(opt, err))
        return tc_error_prefix(err, "%s", dir);
    entry_list list = {0};
    class_plan cp = {0};
    int rc = collect(dir, opt, &list, &cp, err);
    if (!rc)
        rc = load_entries(dir, &list, opt, &cp, out, err);
    free(cp.labels);
    free(cp.names);
    tc_names_free(cp.owned, cp.n_names);
    entries_free(&list);
    return rc;
}

int tc_png_folder_load(const char *dir, int channels, int height, int width, tc_dataset *out,
                       tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3)
        return tc_error_set(err, "%s: cannot convert to %d channels (1: gray, 3: RGB)", dir,
                            channels);
    if (height <= 0 || width <= 0 || height > TC_PNG_MAX_DIM || width > TC_PNG_MAX_DIM)
        return tc_error_set(err, "%s: invalid image size %dx%d", dir, height, width);
    tc_data_options opt = {.channels = channels, .height = height, .width = width};
    return tc_image_folder_load(dir, &opt, out, err);
}
