/* Classifying a list of image files a chunk at a time (see
 * tinycnn/model.h): what `tinycnn predict` does, and its results as text
 * and JSON. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "tinycnn/dataset.h"
#include "tinycnn/model.h"
#include "tinycnn/status.h"

/* Files read and classified per call of the model: bounds the memory
 * however many there are. */
#define CHUNK 256

typedef struct classifier {
    tc_model *model;
    tc_model_input in;
    int nc, top;
    size_t bytes;        /* one image's pixels */
    uint8_t *pixels;     /* CHUNK images */
    float *x, *logits;   /* their normalised values and the model's outputs */
    tc_prediction *best; /* top */
    tc_error *errs;      /* CHUNK messages */
    tc_path_result_fn fn;
    void *user;
} classifier;

/* One image's result from its logits (softmaxed in place). A NaN or
 * infinite logit has no probability to show: an error rather than "nan%"
 * (a plugin can produce one even from finite weights). */
static void one_result(classifier *c, const char *path, float *logits)
{
    tc_path_result r = {.path = path, .best = c->best, .top = c->top};
    char msg[TC_ERROR_CAP];
    for (int j = 0; j < c->nc && !r.error; j++)
        if (!isfinite(logits[j])) {
            snprintf(msg, sizeof msg, "%s: the model's output for this image is %s (class %d)",
                     path, isnan(logits[j]) ? "NaN" : "infinite", j);
            r.error = msg;
            r.best = NULL;
        }
    if (!r.error) {
        tc_softmax_rows(logits, 1, c->nc);
        tc_top_k(logits, c->nc, c->top, c->best);
    }
    c->fn(c->user, &r);
}

/* Reads, classifies and reports items[0..n) (n <= CHUNK) in order, the
 * files read in one call of the model. */
static int run_chunk(classifier *c, const tc_image_path *items, int n, tc_error *err)
{
    int slot[CHUNK], good = 0;
    for (int i = 0; i < n; i++) {
        slot[i] = -1;
        if (!items[i].error && tc_model_load_image(c->model, items[i].path,
                                                   c->pixels + (size_t)good * c->bytes,
                                                   c->bytes, &c->errs[i]) == 0)
            slot[i] = good++;
    }
    if (good) {
        const tc_model_input *in = &c->in;
        tc_normalize_u8(c->pixels, good, in->channels, (int64_t)in->height * in->width,
                        in->mean, in->std, c->x);
        if (tc_model_logits(c->model, c->x, c->bytes * (size_t)good, good, c->logits,
                            (size_t)c->nc * (size_t)good, err) != 0)
            return 1;
    }
    for (int i = 0; i < n; i++) {
        tc_path_result r = {.path = items[i].path,
                            .error = items[i].error ? items[i].error : c->errs[i].msg};
        if (slot[i] >= 0)
            one_result(c, items[i].path, c->logits + (size_t)slot[i] * (size_t)c->nc);
        else
            c->fn(c->user, &r);
    }
    return 0;
}

int tc_model_classify_paths(tc_model *m, const tc_image_path *items, size_t n, int top,
                            tc_path_result_fn fn, int (*stop)(void *user), void *user,
                            tc_error *err)
{
    classifier c = {.model = m, .fn = fn, .user = user};
    c.nc = tc_model_n_classes(m);
    c.top = top > c.nc ? c.nc : top;
    tc_model_input_info(m, &c.in);
    c.bytes = (size_t)c.in.floats_per_sample;
    c.pixels = malloc(c.bytes * CHUNK);
    c.x = malloc(sizeof(float) * c.bytes * CHUNK);
    c.logits = malloc(sizeof(float) * (size_t)c.nc * CHUNK);
    c.best = malloc((size_t)c.top * sizeof *c.best);
    c.errs = calloc(CHUNK, sizeof *c.errs);
    int rc = !c.pixels || !c.x || !c.logits || !c.best || !c.errs
                 ? tc_error_set(err, "out of memory")
                 : 0;
    for (size_t first = 0; rc == 0 && first < n; first += CHUNK) {
        rc = run_chunk(&c, items + first, (int)(n - first < CHUNK ? n - first : CHUNK), err);
        if (rc == 0 && stop && stop(user))
            break;
    }
    free(c.pixels);
    free(c.x);
    free(c.logits);
    free(c.best);
    free(c.errs);
    return rc;
}

/* ---- one result as text or JSON ------------------------------------------ */

/* The error message without the "PATH: " it starts with (it names the file
 * already shown). */
static const char *own_message(const tc_path_result *r)
{
    size_t n = strlen(r->path);
    int named = strncmp(r->error, r->path, n) == 0 && strncmp(r->error + n, ": ", 2) == 0;
    return named ? r->error + n + 2 : r->error;
}

char *tc_path_result_text(const tc_model *m, const tc_path_result *r)
{
    if (!m || !r)
        return NULL;
    tc_text text = {0}, *t = &text;
    const tc_prediction *b = r->best;
    int named = tc_model_has_class_names(m);
    if (r->error)
        tc_text_printf(t, "%s: error: %s", r->path, own_message(r));
    else
        tc_text_printf(t, "%s: %d%s%s  (", r->path, (int)b[0].label, named ? " " : "",
                       named ? tc_model_class_name(m, b[0].label) : "");
    for (int j = 0; !r->error && j < r->top; j++)
        tc_text_printf(t, "%s%s: %.2f%%", j ? ", " : "", tc_model_class_name(m, b[j].label),
                       100.0 * b[j].prob);
    if (!r->error)
        tc_text_append(t, ")", 1);
    return tc_text_take(t);
}

/* A string that is not UTF-8 (a file name in another encoding) leaves its
 * key out, as jansson refuses it. */
char *tc_path_result_json(const tc_model *m, const tc_path_result *r)
{
    if (!m || !r)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "image", json_string(r->path));
    if (r->error)
        json_object_set_new(o, "error", json_string(own_message(r)));
    int named = tc_model_has_class_names(m);
    if (!r->error) {
        json_t *t = json_array();
        json_object_set_new(o, "prediction", json_integer(r->best[0].label));
        if (named)
            json_object_set_new(o, "class_name",
                                json_string(tc_model_class_name(m, r->best[0].label)));
        for (int j = 0; j < r->top; j++) {
            const char *name = named ? tc_model_class_name(m, r->best[j].label) : NULL;
            json_array_append_new(t, json_pack("{s:i, s:s*, s:f}", "class", (int)r->best[j].label,
                                               "class_name", name, /* s*: none without a name */
                                               "probability", (double)r->best[j].prob));
        }
        json_object_set_new(o, "top", t);
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}
