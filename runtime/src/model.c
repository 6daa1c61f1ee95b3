/* The inference API (tinycnn/model.h): a checkpoint opened once, then
 * classified with from any number of threads.
 *
 * The model's first graph (the master) owns the weights and state. Each call
 * takes a context from a pool: a graph of its own (activations, workspace,
 * layer instances) whose weight and state tensors point at the master's
 * (tc_graph_share_tensors); inference only reads them. The master is the
 * pool's first context. The pool is guarded by one mutex, held only to
 * take or return a context, never while computing; a context is made
 * (outside the lock) when every one is busy, so the pool ends up as large
 * as the most calls that ever ran at once. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/model.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h" /* tc_names_or_numbers */
#include "graph_internal.h"
#include "tinycnn/dataset.h"
#include "tinycnn/kernels.h"
#include "tinycnn/session.h"
#include "tinycnn/snapshot.h"
#include "tinycnn/status.h"

/* Images per forward pass: bounds a context's buffers whatever n a caller
 * passes. */
#define MODEL_CHUNK 64

struct tc_model {
    tc_registry *own_registry; /* discovered for this model, or NULL */
    const tc_registry *registry;
    char *origin;              /* "PATH (model)", for contexts' messages */
    int threads;
    tc_graph *master;
    int data_in, label_in;     /* input indices; label_in -1 if none */
    tc_model_input input;
    float *mean, *std;         /* input.channels each */
    int n_classes;
    char **class_names;        /* n_classes strings */
    int names_stored;          /* 1: from the checkpoint; 0: the decimal indices */

    pthread_mutex_t lock;
    tc_graph **idle;           /* contexts free to use, n_idle of them */
    int n_idle;
    tc_graph **all;            /* every context but the master */
    int n_all, cap;            /* idle and all both have cap slots */
};

/* ---- small pure functions --------------------------------------------- */

void tc_softmax_rows(float *logits, int64_t n, int n_classes)
{
    if (!logits || n < 1 || n_classes < 1)
        return;
    for (int64_t r = 0; r < n; r++) {
        float *x = logits + r * n_classes;
        double m = x[0], s = 0.0;
        for (int i = 1; i < n_classes; i++)
            if (x[i] > m || isnan(x[i]))
                m = x[i];
        for (int i = 0; i < n_classes; i++)
            s += exp((double)x[i] - m);
        /* the max contributes exp(0) = 1, so s >= 1 unless it is NaN */
        for (int i = 0; i < n_classes; i++)
            x[i] = (float)(exp((double)x[i] - m) / s);
    }
}

int tc_top_k(const float *probs, int n_classes, int k, tc_prediction *out)
{
    if (!probs || !out || n_classes < 1 || k < 1)
        return 0;
    if (k > n_classes)
        k = n_classes;
    int have = 0;
    for (int i = 0; i < n_classes; i++) {
        float p = probs[i];
        /* strictly greater: an equal later class stays behind the earlier */
        if (have == k && !(p > out[k - 1].prob))
            continue;
        int j = have < k ? have++ : k - 1;
        for (; j > 0 && p > out[j - 1].prob; j--)
            out[j] = out[j - 1];
        out[j] = (tc_prediction){.label = i, .prob = p};
    }
    return k;
}

void tc_normalize_u8(const uint8_t *pixels, int64_t n, int channels, int64_t plane_size,
                     const float *mean, const float *std, float *out)
{
    for (int c = 0; c < channels; c++) {
        /* the arithmetic of tc_dataset_fill_batch, so that a model sees
         * the numbers it was trained on */
        float lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = (float)(((double)v / 255.0 - (double)mean[c]) / (double)std[c]);
        for (int64_t i = 0; i < n; i++) {
            size_t off = ((size_t)i * (size_t)channels + (size_t)c) * (size_t)plane_size;
            const uint8_t *restrict src = pixels + off;
            float *restrict dst = out + off;
            for (int64_t k = 0; k < plane_size; k++)
                dst[k] = lut[src[k]];
        }
    }
}

/* ---- opening ------------------------------------------------------------ */

int tc_checkpoint_graph(const tc_registry *reg, const tc_checkpoint *ck, const char *origin,
                        tc_graph **graph, tc_error *err)
{
    if (!graph)
        return tc_error_set(err, "tc_checkpoint_graph: NULL graph pointer");
    *graph = NULL;
    if (!origin)
        origin = "checkpoint";
    if (!reg || !ck)
        return tc_error_set(err, "%s: NULL %s", origin, reg ? "checkpoint" : "registry");
    if (!ck->model_json || !*ck->model_json)
        return tc_error_set(err, "%s: the checkpoint holds no model", origin);
    char what[1100];
    snprintf(what, sizeof what, "%s (model)", origin);
    tc_graph *g = tc_graph_load_string(reg, ck->model_json, what, err);
    if (!g)
        return 1;
    if (tc_snapshot_load_weights(g, ck, err) != 0) {
        tc_error_prefix(err, "%s", origin);
        tc_graph_free(g);
        return 1;
    }
    *graph = g;
    return 0;
}

/* The layer types of the model text that reg lacks, as "'A', 'B'" into
 * list; 0 when none is missing (or the text does not parse: then the graph
 * loader names the fault). */
static int missing_types(const tc_registry *reg, const char *json_text, char *list, size_t cap)
{
    json_t *root = json_loads(json_text, 0, NULL);
    json_t *nodes = json_object_get(root, "nodes");
    int n = 0;
    size_t len = 0;
    list[0] = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(nodes, i), "type"));
        if (!t || tc_registry_find(reg, t, NULL))
            continue;
        char quoted[200];
        snprintf(quoted, sizeof quoted, "'%.180s'", t);
        if (strstr(list, quoted)) /* named once however often it is used */
            continue;
        if (len < cap)
            len += (size_t)snprintf(list + len, cap - len, "%s%s", n ? ", " : "", quoted);
        n++;
    }
    json_decref(root);
    return n;
}

/* The metadata's "class_names": NULL names when absent. */
static int read_class_names(tc_model *m, const char *meta_json, const char *origin,
                            tc_error *err)
{
    json_t *meta = meta_json && *meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    json_t *names = json_object_get(meta, "class_names");
    int rc = 0;
    if (!names)
        goto out;
    if (!json_is_array(names) || json_array_size(names) != (size_t)m->n_classes) {
        rc = tc_error_set(err, "%s: metadata \"class_names\" must be an array of %d strings "
                               "(one per class)%s", origin, m->n_classes,
                          json_is_array(names) ? "; it has another length" : "");
        goto out;
    }
    m->class_names = calloc((size_t)m->n_classes, sizeof *m->class_names);
    if (!m->class_names) {
        rc = tc_error_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < m->n_classes; i++) {
        const char *s = json_string_value(json_array_get(names, (size_t)i));
        if (!s) {
            rc = tc_error_set(err, "%s: metadata \"class_names\"[%d] is not a string", origin, i);
            goto out;
        }
        if (!(m->class_names[i] = strdup(s))) {
            rc = tc_error_set(err, "out of memory");
            goto out;
        }
    }
    m->names_stored = 1;
out:
    json_decref(meta);
    return rc;
}

/* Decimal indices for a model that stores no names. */
static int number_classes(tc_model *m, tc_error *err)
{
    m->class_names = tc_names_or_numbers(NULL, 0, m->n_classes);
    if (!m->class_names)
        return tc_error_set(err, "out of memory");
    return 0;
}

/* Which input is fed, its geometry and normalisation, the class count. */
static int describe(tc_model *m, const char *origin, tc_error *err)
{
    const tc_graph *g = m->master;
    m->label_in = tc_graph_label_input(g);
    m->data_in = tc_graph_image_input(g);
    int n_data = tc_graph_n_inputs(g) - (m->label_in >= 0);
    if (m->data_in < 0 || n_data != 1)
        return tc_error_set(err, "%s: model %s has %d data inputs; the inference API feeds "
                                 "exactly one", origin, tc_graph_name(g), n_data);
    const tc_input_info *in = tc_graph_input(g, m->data_in);
    const tc_shape *s = &in->shape;
    tc_model_input *mi = &m->input;
    mi->channels = s->ndim == 3 ? (int32_t)s->dims[0] : 1;
    mi->height = s->ndim >= 2 ? (int32_t)s->dims[s->ndim - 2] : 1;
    mi->width = s->ndim >= 1 ? (int32_t)s->dims[s->ndim - 1] : 1;
    mi->floats_per_sample = tc_shape_count(s);
    if (s->ndim > 3 || mi->floats_per_sample < 1)
        return tc_error_set(err, "%s: input '%s' of model %s is not an image ([channels, height, "
                                 "width] or [height, width])", origin, in->name, tc_graph_name(g));
    m->mean = malloc(sizeof(float) * (size_t)mi->channels);
    m->std = malloc(sizeof(float) * (size_t)mi->channels);
    if (!m->mean || !m->std)
        return tc_error_set(err, "out of memory");
    /* the model file's arrays, or its one value for every channel */
    for (int c = 0; c < mi->channels; c++) {
        m->mean[c] = tc_input_mean(in, c);
        m->std[c] = tc_input_std(in, c);
    }
    mi->mean = m->mean;
    mi->std = m->std;
    m->n_classes = tc_graph_n_classes(g);
    if (m->n_classes < 1)
        return tc_error_set(err, "%s: the model's output has no classes", origin);
    return 0;
}

static int read_options(const tc_model_options *opts, tc_model_options *o, tc_error *err)
{
    memset(o, 0, sizeof *o);
    if (!opts)
        return 0;
    if (opts->struct_size != 0 && opts->struct_size < sizeof *o)
        return tc_error_set(err, "tc_model_options.struct_size is %u; this library needs %zu "
                                 "(set it to sizeof(tc_model_options))",
                            (unsigned)opts->struct_size, sizeof *o);
    *o = *opts;
    if (o->threads < 0)
        return tc_error_set(err, "tc_model_options.threads is %d; give 0 (all cores) or more",
                            (int)o->threads);
    if (o->n_plugin_dirs < 0 || (o->n_plugin_dirs > 0 && !o->plugin_dirs))
        return tc_error_set(err, "tc_model_options: %d plugin_dirs at %p", (int)o->n_plugin_dirs,
                            (const void *)o->plugin_dirs);
    if (o->registry && o->n_plugin_dirs > 0)
        return tc_error_set(err, "tc_model_options: plugin_dirs are for the plugins the "
                                 "library finds; with a registry of your own, load them into it");
    return 0;
}

/* The registry to use: the caller's, or the plugins found. */
static int find_plugins(tc_model *m, const tc_model_options *o, tc_error *err)
{
    if (o->registry) {
        m->registry = o->registry;
        return 0;
    }
    m->own_registry = tc_registry_new();
    if (!m->own_registry)
        return tc_error_set(err, "out of memory");
    m->registry = m->own_registry;
    int rc = tc_plugin_discover(m->own_registry, o->plugin_dirs, o->n_plugin_dirs, err);
    if (rc == TC_DISCOVER_NONE) {
        char msg[TC_ERROR_CAP];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        tc_error_set(err, "%s; set TINYCNN_PLUGIN_PATH or pass plugin_dirs", msg);
    }
    return rc != 0;
}

static int check_types(const tc_model *m, const tc_model_options *o, const tc_checkpoint *ck,
                       const char *origin, tc_error *err)
{
    char types[300], where[400];
    int n = ck->model_json ? missing_types(m->registry, ck->model_json, types, sizeof types) : 0;
    if (n == 0)
        return 0;
    if (m->own_registry)
        tc_plugin_search_path(o->plugin_dirs, o->n_plugin_dirs, where, sizeof where);
    return tc_error_set(err, "%s: the model needs layer type%s %s, which no plugin provides "
                             "(%s%s)", origin, n == 1 ? "" : "s", types,
                        m->own_registry ? "plugin folders searched: " : "",
                        m->own_registry ? where : "not in the layer registry in use");
}

static tc_model *open_checkpoint(tc_checkpoint *ck, const char *origin,
                                 const tc_model_options *opts, tc_error *err)
{
    tc_model_options o;
    if (read_options(opts, &o, err) != 0) {
        tc_checkpoint_free(ck);
        return NULL;
    }
    tc_model *m = calloc(1, sizeof *m);
    if (!m) {
        tc_checkpoint_free(ck);
        tc_error_set(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->threads = o.threads > 0 ? o.threads : tc_cpu_count();
    /* plans made while loading are for the model's thread count */
    int prev = tc_set_local_threads(m->threads);
    char what[1100];
    snprintf(what, sizeof what, "%s (model)", origin);
    int rc = (m->origin = strdup(what)) == NULL ? tc_error_set(err, "out of memory") : 0;
    if (rc == 0)
        rc = find_plugins(m, &o, err) || check_types(m, &o, ck, origin, err) ||
             tc_checkpoint_graph(m->registry, ck, origin, &m->master, err) ||
             describe(m, origin, err) || read_class_names(m, ck->meta_json, origin, err) ||
             (!m->class_names && number_classes(m, err));
    if (rc == 0 && !(m->idle = malloc(sizeof *m->idle))) /* room for the master */
        rc = tc_error_set(err, "out of memory");
    tc_set_local_threads(prev);
    tc_checkpoint_free(ck);
    if (rc != 0) {
        tc_model_close(m);
        return NULL;
    }
    m->idle[m->n_idle++] = m->master;
    m->cap = 1;
    return m;
}

tc_model *tc_model_open(const char *checkpoint_path, const tc_model_options *opts,
                        tc_error *err)
{
    tc_checkpoint ck;
    if (!checkpoint_path) {
        tc_error_set(err, "tc_model_open: NULL checkpoint path");
        return NULL;
    }
    if (tc_checkpoint_read(checkpoint_path, &ck, err) != 0)
        return NULL;
    return open_checkpoint(&ck, checkpoint_path, opts, err);
}

tc_model *tc_model_open_memory(const void *data, size_t len, const char *origin,
                               const tc_model_options *opts, tc_error *err)
{
    tc_checkpoint ck;
    if (!origin)
        origin = "checkpoint in memory";
    if (!data) {
        tc_error_set(err, "%s: NULL checkpoint data", origin);
        return NULL;
    }
    if (tc_checkpoint_parse(data, len, origin, &ck, err) != 0)
        return NULL;
    return open_checkpoint(&ck, origin, opts, err);
}

void tc_model_close(tc_model *m)
{
    if (!m)
        return;
    /* contexts borrow the master's tensors: they go first */
    for (int i = 0; i < m->n_all; i++)
        tc_graph_free(m->all[i]);
    free(m->all);
    free(m->idle);
    tc_graph_free(m->master);
    tc_names_free(m->class_names, m->n_classes);
    free(m->mean);
    free(m->std);
    free(m->origin);
    tc_registry_free(m->own_registry);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- what a model is ---------------------------------------------------- */

int tc_model_input_info(const tc_model *m, tc_model_input *out)
{
    if (!m || !out)
        return 1;
    *out = m->input;
    return 0;
}

int tc_model_n_classes(const tc_model *m)
{
    return m ? m->n_classes : 0;
}

const char *tc_model_class_name(const tc_model *m, int i)
{
    return m && i >= 0 && i < m->n_classes ? m->class_names[i] : NULL;
}

int tc_model_has_class_names(const tc_model *m)
{
    return m ? m->names_stored : 0;
}

const char *tc_model_name(const tc_model *m)
{
    return m ? tc_graph_name(m->master) : NULL;
}

/* ---- the pool of contexts ---------------------------------------------- */

/* A new context: the model text loaded again, the master's tensors shared.
 * Room in idle and all is made first, so that giving it back never fails. */
static tc_graph *new_context(tc_model *m, tc_error *err)
{
    tc_graph *g = tc_graph_load_string(m->registry, tc_graph_json(m->master), m->origin, err);
    if (!g)
        return NULL;
    if (tc_graph_share_tensors(g, m->master, err) != 0) {
        tc_graph_free(g);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    int ok = 1;
    if (m->n_all + 1 >= m->cap) { /* the master is in idle, not in all */
        int cap = 2 * m->cap + 2;
        tc_graph **idle = realloc(m->idle, sizeof *idle * (size_t)cap);
        if (idle)
            m->idle = idle;
        tc_graph **all = idle ? realloc(m->all, sizeof *all * (size_t)cap) : NULL;
        if (all) {
            m->all = all;
            m->cap = cap;
        }
        ok = idle && all;
    }
    if (ok)
        m->all[m->n_all++] = g;
    pthread_mutex_unlock(&m->lock);
    if (!ok) {
        tc_graph_free(g);
        tc_error_set(err, "out of memory");
        return NULL;
    }
    return g;
}

static tc_graph *take_context(tc_model *m, tc_error *err)
{
    pthread_mutex_lock(&m->lock);
    tc_graph *g = m->n_idle > 0 ? m->idle[--m->n_idle] : NULL;
    pthread_mutex_unlock(&m->lock);
    return g ? g : new_context(m, err);
}

static void give_back(tc_model *m, tc_graph *g)
{
    pthread_mutex_lock(&m->lock);
    m->idle[m->n_idle++] = g;
    pthread_mutex_unlock(&m->lock);
}

/* ---- prediction --------------------------------------------------------- */

/* One forward pass over cnt samples from u8 pixels or floats; probabilities
 * into probs (cnt rows) or, without probs, in place in the graph's output;
 * best classes into out (may be NULL). raw: the outputs as they are into
 * probs, no softmax and no check that they are finite. first numbers the
 * images in messages. */
static int run_chunk(tc_model *m, tc_graph *g, const uint8_t *px, const float *fx, int cnt,
                     int first, int raw, float *probs, tc_prediction *out, tc_error *err)
{
    if (tc_graph_prepare(g, cnt, 0, err) != 0)
        return 1;
    const tc_model_input *mi = &m->input;
    float *in = tc_graph_input_data(g, m->data_in);
    if (px)
        tc_normalize_u8(px, cnt, mi->channels, (int64_t)mi->height * mi->width, m->mean, m->std,
                        in);
    else
        memcpy(in, fx, sizeof(float) * (size_t)cnt * (size_t)mi->floats_per_sample);
    if (m->label_in >= 0) /* not needed for inference; never left undefined */
        memset(tc_graph_input_data(g, m->label_in), 0,
               sizeof(float) * (size_t)cnt *
                   (size_t)tc_shape_count(&tc_graph_input(g, m->label_in)->shape));
    if (tc_graph_forward(g, 0, 0, err) != 0)
        return 1;
    const tc_tensor *o = tc_graph_output(g);
    int nc = m->n_classes;
    if (tc_shape_count(&o->shape) != (int64_t)cnt * nc)
        return tc_error_set(err, "%s: the output has %lld values for %d images, expected %d "
                                 "each", m->origin, (long long)tc_shape_count(&o->shape), cnt,
                            nc);
    if (raw) {
        memcpy(probs, o->data, sizeof(float) * (size_t)cnt * (size_t)nc);
        return 0;
    }
    for (int i = 0; i < cnt; i++) {
        const float *lg = o->data + (size_t)i * (size_t)nc;
        for (int j = 0; j < nc; j++)
            if (!isfinite(lg[j]))
                return tc_error_set(err, "%s: the output for image %d is %s (class %d)",
                                    m->origin, first + i, isnan(lg[j]) ? "NaN" : "infinite", j);
    }
    float *p = probs ? probs : o->data;
    if (probs)
        memcpy(probs, o->data, sizeof(float) * (size_t)cnt * (size_t)nc);
    tc_softmax_rows(p, cnt, nc);
    for (int i = 0; out && i < cnt; i++)
        tc_top_k(p + (size_t)i * (size_t)nc, nc, 1, &out[i]);
    return 0;
}

/* Checks a call's buffers: need elements of room, have given. */
static int check_room(const tc_model *m, const char *fn, const char *what, const void *p,
                      size_t have, size_t need, tc_error *err)
{
    if (!p)
        return tc_error_set(err, "%s: %s: NULL %s", fn, m->origin, what);
    if (have < need)
        return tc_error_set(err, "%s: %s: %s has room for %zu values, %zu needed", fn, m->origin,
                            what, have, need);
    return 0;
}

/* The calls' common body. probs_name: what the caller calls probs
 * ("probs", or "logits" for raw outputs: see run_chunk). */
static int predict(tc_model *m, const char *fn, int u8, const void *input, size_t in_len, int n,
                   const char *probs_name, float *probs, size_t probs_len, tc_prediction *out,
                   size_t out_len, tc_error *err)
{
    int raw = strcmp(probs_name, "logits") == 0;
    const uint8_t *px = u8 ? input : NULL;
    const float *fx = u8 ? NULL : input;
    if (!m)
        return tc_error_set(err, "%s: NULL model", fn);
    if (n < 1)
        return tc_error_set(err, "%s: %s: %d images; give at least one", fn, m->origin, n);
    size_t per = (size_t)m->input.floats_per_sample, need_in, need_p = 0;
    if (__builtin_mul_overflow(per, (size_t)n, &need_in) ||
        __builtin_mul_overflow((size_t)m->n_classes, (size_t)n, &need_p))
        return tc_error_set(err, "%s: %s: %d images is too many", fn, m->origin, n);
    if (check_room(m, fn, u8 ? "pixels" : "input", input, in_len, need_in, err))
        return 1;
    if (raw && check_room(m, fn, probs_name, probs, probs_len, need_p, err))
        return 1;
    if (!probs && !out)
        return tc_error_set(err, "%s: %s: NULL %s", fn, m->origin, u8 ? "out" : "probs and out");
    if ((probs && check_room(m, fn, probs_name, probs, probs_len, need_p, err)) ||
        (out && check_room(m, fn, "out", out, out_len, (size_t)n, err)))
        return 1;
    int prev = tc_set_local_threads(m->threads);
    tc_graph *g = take_context(m, err);
    int rc = g ? 0 : 1;
    for (int first = 0; rc == 0 && first < n; first += MODEL_CHUNK) {
        int cnt = n - first < MODEL_CHUNK ? n - first : MODEL_CHUNK;
        size_t at = (size_t)first * per;
        rc = run_chunk(m, g, u8 ? px + at : NULL, u8 ? NULL : fx + at, cnt, first, raw,
                       probs ? probs + (size_t)first * (size_t)m->n_classes : NULL,
                       out ? out + first : NULL, err);
    }
    if (g)
        give_back(m, g);
    tc_set_local_threads(prev);
    return rc;
}

int tc_model_predict_u8(tc_model *m, const uint8_t *pixels, size_t pixels_len, int n,
                        tc_prediction *out, size_t out_len, tc_error *err)
{
    return predict(m, "tc_model_predict_u8", 1, pixels, pixels_len, n, "probs", NULL, 0, out,
                   out_len, err);
}

int tc_model_predict(tc_model *m, const float *input, size_t input_len, int n, float *probs,
                     size_t probs_len, tc_prediction *out, size_t out_len, tc_error *err)
{
    return predict(m, "tc_model_predict", 0, input, input_len, n, "probs", probs, probs_len, out,
                   out_len, err);
}

int tc_model_logits(tc_model *m, const float *input, size_t input_len, int n, float *logits,
                    size_t logits_len, tc_error *err)
{
    return predict(m, "tc_model_logits", 0, input, input_len, n, "logits", logits, logits_len,
                   NULL, 0, err);
}

/* ---- image files --------------------------------------------------------- */

int tc_graph_load_image(const tc_graph *g, const char *path, uint8_t *out, size_t out_len,
                        tc_error *err)
{
    tc_data_options opt;
    if (!g || !path || !out)
        return tc_error_set(err, "tc_graph_load_image: NULL %s",
                            !g ? "graph" : !path ? "path" : "output buffer");
    if (tc_session_data_options(g, &opt, err) != 0)
        return 1;
    size_t need = (size_t)opt.channels * (size_t)opt.height * (size_t)opt.width;
    if (out_len < need)
        return tc_error_set(err, "%s: %zu bytes of room for a %dx%dx%d image of %zu bytes", path,
                            out_len, opt.channels, opt.height, opt.width, need);
    /* Without resizing the size is judged from the header, before any pixel
     * memory is taken. */
    if (opt.resize == TC_RESIZE_NONE)
        return tc_image_load(path, opt.channels, opt.height, opt.width, out, err);
    uint8_t *px;
    int h, w;
    if (tc_image_load_any(path, opt.channels, &px, &h, &w, err) != 0)
        return 1;
    int rc = tc_image_fit(px, opt.channels, h, w, opt.resize, opt.resize_size, out, opt.height,
                          opt.width, path, err);
    free(px);
    return rc;
}

int tc_model_load_image(const tc_model *m, const char *path, uint8_t *pixels,
                        size_t pixels_len, tc_error *err)
{
    if (!m)
        return tc_error_set(err, "tc_model_load_image: NULL model");
    return tc_graph_load_image(m->master, path, pixels, pixels_len, err);
}

int tc_model_predict_file(tc_model *m, const char *path, tc_prediction *out, size_t out_len,
                          tc_error *err)
{
    tc_model_input in;
    if (!m || !path)
        return tc_error_set(err, "tc_model_predict_file: NULL %s", !m ? "model" : "path");
    tc_model_input_info(m, &in);
    size_t len = (size_t)in.floats_per_sample; /* one byte per value */
    uint8_t *px = malloc(len);
    if (!px)
        return tc_error_set(err, "%s: out of memory for a %zu-byte image", path, len);
    int rc = tc_model_load_image(m, path, px, len, err) ||
             tc_model_predict_u8(m, px, len, 1, out, out_len, err);
    free(px);
    return rc;
}
