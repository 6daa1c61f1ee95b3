/* PNG images through libpng: one file, and folders of labelled images. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- one image ------------------------------------------------------------ */

/* Everything the setjmp-protected decoder touches lives here, outside the
 * function that calls setjmp, so nothing is indeterminate after a longjmp
 * and the caller can free whatever was allocated. */
typedef struct png_job {
    const char *path;
    FILE *fp;
    png_structp png;
    png_infop info;
    char msg[200];
    int want_h, want_w; /* 0: any size */
    int size_mismatch;
    uint32_t h, w;
    int src_channels; /* after the libpng transforms: 1 G, 2 GA, 3 RGB, 4 RGBA */
    uint8_t *raw;
    png_bytep *rows;
} png_job;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* libpng's default prints to stderr; the library must not print, and a
 * warning alone never makes an image unusable, so it is dropped. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_png_read(png_structp png, png_bytep data, size_t len)
{
    png_job *j = png_get_io_ptr(png);
    if (fread(data, 1, len, j->fp) != len)
        png_error(png, ferror(j->fp) ? "read error" : "truncated file: unexpected end of data");
}

static int png_decode(png_job *j)
{
    if (setjmp(png_jmpbuf(j->png)))
        return 1;
    png_set_read_fn(j->png, j, on_png_read);
    png_set_sig_bytes(j->png, 8);
    png_set_user_limits(j->png, TC_PNG_MAX_DIM, TC_PNG_MAX_DIM);
    png_read_info(j->png, j->info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    j->w = w;
    j->h = h;
    if (j->want_h && (h != (png_uint_32)j->want_h || w != (png_uint_32)j->want_w)) {
        j->size_mismatch = 1;
        return 1;
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(j->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(j->png);
    if (png_get_valid(j->png, j->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(j->png);
    if (depth == 16)
        png_set_scale_16(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    j->src_channels = png_get_channels(j->png, j->info);
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    if (j->src_channels < 1 || j->src_channels > 4 || png_get_bit_depth(j->png, j->info) != 8 ||
        rowbytes != (size_t)w * (size_t)j->src_channels)
        png_error(j->png, "unsupported pixel layout after conversion");
    j->raw = malloc(rowbytes * h);
    j->rows = malloc(sizeof *j->rows * h);
    if (!j->raw || !j->rows)
        png_error(j->png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = j->raw + (size_t)y * rowbytes;
    png_read_image(j->png, j->rows);
    /* Reads up to IEND so that a file cut after the pixel data still fails. */
    png_read_end(j->png, NULL);
    return 0;
}

/* Composites on black: round(v * a / 255). */
static inline unsigned over_black(unsigned v, unsigned a)
{
    return (v * a + 127) / 255;
}

/* Converts the decoded G/GA/RGB/RGBA rows into channels planes (CHW). */
static void png_convert(const png_job *j, int channels, uint8_t *dst)
{
    size_t plane = (size_t)j->h * j->w, n = plane;
    const uint8_t *s = j->raw;
    int sc = j->src_channels;
    for (size_t i = 0; i < n; i++, s += sc) {
        unsigned r, g, b, a = 255;
        if (sc <= 2) {
            r = g = b = s[0];
            if (sc == 2)
                a = s[1];
        } else {
            r = s[0];
            g = s[1];
            b = s[2];
            if (sc == 4)
                a = s[3];
        }
        if (a != 255) {
            r = over_black(r, a);
            g = over_black(g, a);
            b = over_black(b, a);
        }
        if (channels == 1) {
            /* Rec. 601 luma in integers; exact for gray (weights sum to 1000). */
            dst[i] = sc <= 2 ? (uint8_t)r : (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        } else {
            dst[i] = (uint8_t)r;
            dst[plane + i] = (uint8_t)g;
            dst[2 * plane + i] = (uint8_t)b;
        }
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads path into dst (when want_h > 0: exactly want_h x want_w, dst holds
 * channels*h*w bytes) or into a new buffer *alloc (owned by the caller). */
static int png_load(const char *path, int channels, int want_h, int want_w, uint8_t *dst,
                    uint8_t **alloc, int *out_h, int *out_w, tc_error *err)
{
    if (channels != 1 && channels != 3)
        return tc_error_set(err, "%s: cannot convert to %d channels (1: gray, 3: RGB)", path,
                            channels);
    png_job j = {0};
    j.path = path;
    j.want_h = want_h;
    j.want_w = want_w;
    j.fp = fopen(path, "rb");
    if (!j.fp)
        return tc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = 1;
    struct stat st;
    if (fstat(fileno(j.fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        tc_error_set(err, "%s: is a folder, not a PNG file", path);
        goto done;
    }

    /* Signature and IHDR size, checked by hand so that absurd sizes are
     * refused with a clear message before libpng sees the file. */
    unsigned char head[24];
    size_t got = fread(head, 1, sizeof head, j.fp);
    if (got == 0) {
        tc_error_set(err, "%s: empty file, not a PNG", path);
        goto done;
    }
    if (got < 8 || png_sig_cmp(head, 0, 8) != 0) {
        tc_error_set(err, "%s: not a PNG file (bad signature)", path);
        goto done;
    }
    if (got < sizeof head) {
        tc_error_set(err, "%s: corrupt PNG: truncated file: unexpected end of data", path);
        goto done;
    }
    if (memcmp(head + 12, "IHDR", 4) != 0) {
        tc_error_set(err, "%s: corrupt PNG: first chunk is not IHDR", path);
        goto done;
    }
    uint32_t w = be32(head + 16), h = be32(head + 20);
    if (w > TC_PNG_MAX_DIM || h > TC_PNG_MAX_DIM) {
        tc_error_set(err, "%s: image is %" PRIu32 "x%" PRIu32 " (height x width), larger than "
                          "the %dx%d limit",
                     path, h, w, TC_PNG_MAX_DIM, TC_PNG_MAX_DIM);
        goto done;
    }
    if (fseek(j.fp, 8, SEEK_SET) != 0) {
        tc_error_set(err, "%s: cannot seek: %s", path, strerror(errno));
        goto done;
    }

    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_png_error, on_png_warning);
    if (j.png)
        j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        tc_error_set(err, "%s: out of memory for the PNG decoder", path);
        goto done;
    }
    if (png_decode(&j)) {
        if (j.size_mismatch)
            tc_error_set(err, "%s: image is %" PRIu32 "x%" PRIu32 " (height x width) but %dx%d "
                              "was expected",
                         path, j.h, j.w, want_h, want_w);
        else
            tc_error_set(err, "%s: corrupt PNG: %s", path, j.msg);
        goto done;
    }
    /* Bytes after IEND are no part of the image: a file that holds them
     * is damaged or two files glued together, like an oversized IDX file. */
    long extra = 0;
    while (fgetc(j.fp) != EOF && extra < (1L << 20))
        extra++;
    if (extra > 0) {
        tc_error_set(err, "%s: corrupt PNG: %s%ld bytes after the IEND chunk that ends the image",
                     path, extra >= (1L << 20) ? "more than " : "", extra);
        goto done;
    }
    if (!dst) {
        dst = malloc((size_t)channels * j.h * j.w);
        if (!dst) {
            tc_error_set(err, "%s: out of memory", path);
            goto done;
        }
        *alloc = dst;
    }
    png_convert(&j, channels, dst);
    if (out_h)
        *out_h = (int)j.h;
    if (out_w)
        *out_w = (int)j.w;
    rc = 0;
done:
    if (j.png)
        png_destroy_read_struct(&j.png, j.info ? &j.info : NULL, NULL);
    free(j.rows);
    free(j.raw);
    fclose(j.fp);
    return rc;
}

int tc_png_load(const char *path, int channels, int height, int width, uint8_t *out,
                tc_error *err)
{
    if (height <= 0 || width <= 0)
        return tc_error_set(err, "%s: invalid expected size %dx%d", path, height, width);
    return png_load(path, channels, height, width, out, NULL, NULL, NULL, err);
}

int tc_png_load_any(const char *path, int channels, uint8_t **pixels, int *height, int *width,
                    tc_error *err)
{
    *pixels = NULL;
    return png_load(path, channels, 0, 0, NULL, pixels, height, width, err);
}

/* ---- folders -------------------------------------------------------------- */

typedef struct png_entry {
    char *path;
    const char *name; /* points into path */
    int label;
    uint64_t idx; /* flat layout: the N of idx-N */
} png_entry;

typedef struct entry_list {
    png_entry *v;
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
    const png_entry *a = pa, *b = pb;
    if (a->label != b->label)
        return a->label < b->label ? -1 : 1;
    int c = natural_cmp(a->name, b->name);
    return c ? c : strcmp(a->name, b->name);
}

static int cmp_flat(const void *pa, const void *pb)
{
    const png_entry *a = pa, *b = pb;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int has_png_ext(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
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

/* "idx-N-label-L.png" (the extension's case is free). */
static int parse_flat_name(const char *s, uint64_t *idx, int *label)
{
    uint64_t l;
    if (strncmp(s, "idx-", 4) != 0 || !(s = parse_uint(s + 4, idx)) ||
        strncmp(s, "-label-", 7) != 0 || !(s = parse_uint(s + 7, &l)) || l > 255 ||
        strcasecmp(s, ".png") != 0)
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

/* Appends dir/name; takes nothing from the caller. */
static int entries_add(entry_list *l, const char *dir, const char *name, int label, uint64_t idx,
                       tc_error *err)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 256;
        png_entry *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return tc_error_set(err, "%s: out of memory listing files", dir);
        l->v = nv;
        l->cap = ncap;
    }
    char *p = join_path(dir, name);
    if (!p)
        return tc_error_set(err, "%s: out of memory listing files", dir);
    l->v[l->n++] = (png_entry){p, p + strlen(dir) + 1, label, idx};
    return 0;
}

/* Lists dir: sub-folders and *.png files, skipping hidden entries. */
static int scan_dir(const char *dir, entry_list *files, entry_list *folders, tc_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tc_error_set(err, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = 0;
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
        if (stat(p, &st) != 0) {
            rc = tc_error_set(err, "%s: cannot stat: %s", p, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (folders)
                rc = entries_add(folders, dir, e->d_name, -1, 0, err);
        } else if (has_png_ext(e->d_name)) {
            rc = entries_add(files, dir, e->d_name, -1, 0, err);
        }
        free(p);
    }
    closedir(d);
    return rc;
}

/* The images under dir in load order, each with its label. */
static int collect(const char *dir, entry_list *out, tc_error *err)
{
    entry_list files = {0}, folders = {0};
    int rc = scan_dir(dir, &files, &folders, err);
    if (rc)
        goto done;
    if (folders.n && files.n) {
        rc = tc_error_set(err,
                          "%s: mixes label folders (%s) and flat image files (%s); use either "
                          "<label>/*.png or idx-N-label-L.png files",
                          dir, folders.v[0].path, files.v[0].path);
        goto done;
    }
    if (folders.n) {
        for (size_t i = 0; i < folders.n; i++) {
            png_entry *f = &folders.v[i];
            int label;
            if (parse_label(f->name, &label)) {
                rc = tc_error_set(err, "%s: folder name is not a label 0..255", f->path);
                goto done;
            }
            entry_list inner = {0};
            rc = scan_dir(f->path, &inner, NULL, err);
            for (size_t k = 0; !rc && k < inner.n; k++)
                rc = entries_add(out, f->path, inner.v[k].name, label, 0, err);
            entries_free(&inner);
            if (rc)
                goto done;
        }
        if (out->n)
            qsort(out->v, out->n, sizeof *out->v, cmp_labelled);
    } else {
        for (size_t i = 0; i < files.n; i++) {
            png_entry *f = &files.v[i];
            uint64_t idx;
            int label;
            if (parse_flat_name(f->name, &idx, &label)) {
                rc = tc_error_set(err, "%s: file name does not match idx-N-label-L.png "
                                       "(L a label 0..255)",
                                  f->path);
                goto done;
            }
            if ((rc = entries_add(out, dir, f->name, label, idx, err)))
                goto done;
        }
        if (out->n)
            qsort(out->v, out->n, sizeof *out->v, cmp_flat);
        for (size_t i = 1; i < out->n; i++)
            if (out->v[i].idx == out->v[i - 1].idx) {
                rc = tc_error_set(err, "%s and %s: duplicate image index %" PRIu64,
                                  out->v[i - 1].path, out->v[i].path, out->v[i].idx);
                goto done;
            }
    }
    if (out->n == 0)
        rc = tc_error_set(err, "%s: no PNG images: expected %s/<label>/*.png or "
                               "%s/idx-N-label-L.png",
                          dir, dir, dir);
done:
    entries_free(&files);
    entries_free(&folders);
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
    entry_list list = {0};
    if (collect(dir, &list, err)) {
        entries_free(&list);
        return 1;
    }
    size_t per = (size_t)channels * (size_t)height * (size_t)width, total;
    tc_dataset ds = {0};
    if (__builtin_mul_overflow(per, list.n, &total) || total > (size_t)TC_IDX_MAX_BYTES * 4) {
        entries_free(&list);
        return tc_error_set(err, "%s: %zu images of %dx%dx%d are too many to hold in memory", dir,
                            list.n, channels, height, width);
    }
    ds.count = (int64_t)list.n;
    ds.channels = channels;
    ds.height = height;
    ds.width = width;
    ds.pixels = malloc(total);
    ds.labels = malloc(list.n);
    if (!ds.pixels || !ds.labels) {
        tc_dataset_free(&ds);
        entries_free(&list);
        return tc_error_set(err, "%s: out of memory for %zu images", dir, list.n);
    }
    for (size_t i = 0; i < list.n; i++) {
        if (png_load(list.v[i].path, channels, height, width, ds.pixels + i * per, NULL, NULL,
                     NULL, err)) {
            tc_dataset_free(&ds);
            entries_free(&list);
            return 1;
        }
        ds.labels[i] = (uint8_t)list.v[i].label;
    }
    entries_free(&list);
    *out = ds;
    return 0;
}
