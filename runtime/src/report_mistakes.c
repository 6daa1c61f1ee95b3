/* The report's evaluation and its mistakes: the test images the model gets
 * wrong with the highest confidence (tc_evaluate_each gives each image's
 * prediction and probability), drawn as a grid of tiles into a PNG
 * (libpng). */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "tinycnn/metrics.h"
#include "tinycnn/status.h"

/* Keeps the `max` most confident mistakes in m (sorted, most confident
 * first), *n of them so far. */
static void keep_mistake(tc_mistake *m, int *n, int max, tc_mistake c)
{
    if (*n == max && (max == 0 || m[max - 1].prob >= c.prob))
        return;
    int j = *n < max ? (*n)++ : max - 1;
    for (; j > 0 && m[j - 1].prob < c.prob; j--)
        m[j] = m[j - 1];
    m[j] = c;
}

typedef struct collector {
    tc_mistake *m;
    int n, max;
} collector;

static int collect(void *user, const tc_image_result *r, tc_error *err)
{
    (void)err;
    collector *c = user;
    /* a NaN probability (a broken output) sorts as the least confident */
    float p = r->probability == r->probability ? r->probability : -1.0f;
    if (r->prediction != r->label)
        keep_mistake(c->m, &c->n, c->max, (tc_mistake){r->index, r->label, r->prediction, p, 0, 0});
    return 0;
}

int tc_report_evaluate(tc_graph *g, const tc_dataset *ds, int batch, int64_t limit, int max,
                       int64_t *confusion, int64_t *correct, int64_t *total, tc_mistake **out,
                       int *n_out, tc_error *err)
{
    *out = NULL;
    *n_out = 0;
    collector c = {calloc((size_t)max + 1, sizeof *c.m), 0, max};
    if (!c.m)
        return tc_error_set(err, "out of memory");
    if (tc_evaluate_each(g, ds, batch, limit, confusion, correct, total, collect, &c, err)) {
        free(c.m);
        return 1;
    }
    *out = c.m;
    *n_out = c.n;
    return 0;
}

/* ---- the PNG ------------------------------------------------------------*/

static void lay_out(const tc_dataset *ds, tc_mistake *m, int n, tc_mistake_grid *gr)
{
    int side = ds->height > ds->width ? ds->height : ds->width;
    gr->scale = side >= 96 ? 1 : 96 / (side > 0 ? side : 1);
    gr->tile_w = ds->width * gr->scale;
    gr->tile_h = ds->height * gr->scale;
    gr->gap = 6;
    gr->columns = n < 8 ? (n > 0 ? n : 1) : 8;
    gr->rows = n > 0 ? (n + gr->columns - 1) / gr->columns : 1;
    gr->width = gr->gap + gr->columns * (gr->tile_w + gr->gap);
    gr->height = gr->gap + gr->rows * (gr->tile_h + gr->gap);
    for (int i = 0; i < n; i++) {
        m[i].x = gr->gap + (i % gr->columns) * (gr->tile_w + gr->gap);
        m[i].y = gr->gap + (i / gr->columns) * (gr->tile_h + gr->gap);
    }
}

/* The grid as RGB rows: grey background, each image scaled up by pixel
 * replication (no smoothing: the pixels the model saw). */
static unsigned char *paint(const tc_dataset *ds, const tc_mistake *m, int n,
                            const tc_mistake_grid *gr)
{
    size_t stride = (size_t)gr->width * 3;
    unsigned char *rgb = malloc(stride * (size_t)gr->height);
    if (!rgb)
        return NULL;
    memset(rgb, 200, stride * (size_t)gr->height);
    int c = ds->channels, h = ds->height, w = ds->width;
    for (int i = 0; i < n; i++) {
        const uint8_t *img = ds->pixels + (size_t)m[i].index * c * h * w;
        for (int y = 0; y < gr->tile_h; y++)
            for (int x = 0; x < gr->tile_w; x++) {
                size_t src = (size_t)(y / gr->scale) * w + (size_t)(x / gr->scale);
                unsigned char *px = rgb + (size_t)(m[i].y + y) * stride + (size_t)(m[i].x + x) * 3;
                for (int k = 0; k < 3; k++)
                    px[k] = img[(size_t)(c == 3 ? k : 0) * h * w + src];
            }
    }
    return rgb;
}

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} membuf;

static void png_to_memory(png_structp png, png_bytep data, png_size_t n)
{
    membuf *b = png_get_io_ptr(png);
    if (b->failed || b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = b->failed ? NULL : realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            png_error(png, "out of memory");
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void png_flush_nothing(png_structp png)
{
    (void)png;
}

static int encode_png(const unsigned char *rgb, int w, int h, membuf *b, tc_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        return tc_error_set(err, "mistakes.png: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return tc_error_set(err, "mistakes.png: libpng could not encode the grid");
    }
    png_set_write_fn(png, b, png_to_memory, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int tc_report_mistakes_png(const tc_dataset *ds, tc_mistake *m, int n, tc_mistake_grid *grid,
                           unsigned char **png, size_t *len, tc_error *err)
{
    *png = NULL;
    *len = 0;
    lay_out(ds, m, n, grid);
    unsigned char *rgb = paint(ds, m, n, grid);
    if (!rgb)
        return tc_error_set(err, "mistakes.png: out of memory for %d x %d pixels", grid->width,
                            grid->height);
    membuf b = {0};
    int rc = encode_png(rgb, grid->width, grid->height, &b, err);
    free(rgb);
    if (rc) {
        free(b.data);
        return 1;
    }
    *png = b.data;
    *len = b.len;
    return 0;
}
