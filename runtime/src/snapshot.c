/* Snapshots: a graph's weights and its optimiser's state to and from a
 * checkpoint, matched by name, with every mismatch refused before anything
 * is copied (so a failed load never leaves a half-loaded model). */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/snapshot.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "tinycnn/status.h"

enum { PREFIX_LEN = sizeof TC_SNAPSHOT_OPTIM_PREFIX - 1 };

static int has_prefix(const char *name)
{
    return strncmp(name, TC_SNAPSHOT_OPTIM_PREFIX, PREFIX_LEN) == 0;
}

/* Fails, naming the tensor, the element and the value, if data holds a NaN
 * or an infinity: such weights would make every later result NaN, so they
 * are neither loaded nor allowed to replace a good checkpoint. */
static int check_finite(const char *what, const char *name, const float *data, int64_t n,
                        tc_error *err)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(data[i]))
            return tc_error_set(err, "%s '%s' holds %s at element %" PRId64 " (of %" PRId64 ")",
                                what, name, isnan(data[i]) ? "NaN" : data[i] > 0 ? "+Inf" : "-Inf",
                                i, n);
    return 0;
}

/* The metadata text to store: meta_json checked to be an object, with the
 * step count set when there is an optimiser. Owner: the caller (free()). */
static char *meta_text(const char *path, const char *meta_json, const tc_optimizer *opt,
                       tc_error *err)
{
    const char *src = meta_json ? meta_json : "{}";
    json_error_t je;
    json_t *root = json_loads(src, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        tc_error_set(err, "%s: the metadata is not valid JSON: %s (line %d, column %d)", path,
                     je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        tc_error_set(err, "%s: the metadata must be a JSON object", path);
        return NULL;
    }
    if (!opt) {
        json_decref(root);
        char *copy = strdup(src);
        if (!copy)
            tc_error_set(err, "%s: out of memory", path);
        return copy;
    }
    uint64_t steps = tc_optimizer_steps(opt);
    if (steps > (uint64_t)INT64_MAX) {
        json_decref(root);
        tc_error_set(err, "%s: the optimiser step count %" PRIu64 " is too large to store", path,
                     steps);
        return NULL;
    }
    char *text = NULL;
    if (json_object_set_new(root, TC_SNAPSHOT_STEPS_KEY, json_integer((json_int_t)steps)) == 0)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        tc_error_set(err, "%s: out of memory", path);
    return text;
}

/* Weights and state, in that order: what a snapshot stores beside the
 * optimiser's tensors. */
static int n_stored(tc_graph *g)
{
    return tc_graph_n_weights(g) + tc_graph_n_states(g);
}

static tc_weight *stored(tc_graph *g, int i, const char **kind)
{
    int nw = tc_graph_n_weights(g);
    if (kind)
        *kind = i < nw ? "weight" : "state tensor";
    return i < nw ? tc_graph_weight(g, i) : tc_graph_state(g, i - nw);
}

static tc_weight *find_stored(tc_graph *g, const char *name)
{
    tc_weight *w = tc_graph_find_weight(g, name);
    return w ? w : tc_graph_find_state(g, name);
}

/* Refuses names that clash with the optimiser prefix and non-finite values,
 * before anything is written. */
static int check_savable(const char *path, tc_graph *g, tc_optimizer *opt, tc_error *err)
{
    int nw = n_stored(g);
    int ns = opt ? tc_optimizer_n_state(opt) : 0;
    for (int i = 0; i < nw; i++) {
        const char *kind;
        tc_weight *w = stored(g, i, &kind);
        if (has_prefix(w->name))
            return tc_error_set(err, "%s: %s '%s' starts with \"%s\", the prefix reserved "
                                "for optimiser state; rename its node", path, kind, w->name,
                                TC_SNAPSHOT_OPTIM_PREFIX);
        if (check_finite(kind, w->name, w->value.data, tc_shape_count(&w->value.shape), err))
            return tc_error_prefix(err, "%s: not written (the file is left as it was)", path);
    }
    for (int i = 0; i < ns; i++) {
        const char *name = NULL;
        tc_tensor *t = tc_optimizer_state(opt, i, &name);
        if (check_finite("optimiser state", name, t->data, tc_shape_count(&t->shape), err))
            return tc_error_prefix(err, "%s: not written (the file is left as it was)", path);
    }
    return 0;
}

int tc_snapshot_save(const char *path, tc_graph *g, tc_optimizer *opt, const char *meta_json,
                     tc_error *err)
{
    if (!path || !g)
        return tc_error_set(err, "tc_snapshot_save: NULL path or graph");
    int nw = n_stored(g);
    int ns = opt ? tc_optimizer_n_state(opt) : 0;
    if (check_savable(path, g, opt, err))
        return 1;
    char *meta = meta_text(path, meta_json, opt, err);
    if (!meta)
        return 1;
    /* The struct borrows the graph's and optimiser's buffers: the writer
     * only reads it, and copying every weight would double peak memory. */
    tc_checkpoint ck = {0};
    ck.model_json = (char *)tc_graph_json(g);
    ck.meta_json = meta;
    ck.tensors = calloc((size_t)(nw + ns) + 1, sizeof *ck.tensors);
    char **names = calloc((size_t)ns + 1, sizeof *names);
    int rc = 1;
    if (!ck.tensors || !names) {
        tc_error_set(err, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < nw; i++) {
        tc_weight *w = stored(g, i, NULL);
        tc_named_tensor *t = &ck.tensors[ck.n_tensors++];
        t->name = (char *)w->name;
        t->shape = w->value.shape;
        t->data = w->value.data;
    }
    for (int i = 0; i < ns; i++) {
        const char *name = NULL;
        tc_tensor *s = tc_optimizer_state(opt, i, &name);
        names[i] = malloc(PREFIX_LEN + strlen(name) + 1);
        if (!names[i]) {
            tc_error_set(err, "%s: out of memory", path);
            goto done;
        }
        strcpy(names[i], TC_SNAPSHOT_OPTIM_PREFIX);
        strcat(names[i], name);
        tc_named_tensor *t = &ck.tensors[ck.n_tensors++];
        t->name = names[i];
        t->shape = s->shape;
        t->data = s->data;
    }
    rc = tc_checkpoint_write(path, &ck, err);
done:
    if (names)
        for (int i = 0; i < ns; i++)
            free(names[i]);
    free(names);
    free(ck.tensors);
    free(meta);
    return rc;
}

/* The checkpoint tensor for stored tensor w (a weight or state), checked for
 * presence, shape and finiteness; NULL with err set otherwise. */
static const tc_named_tensor *match_stored(tc_graph *g, const tc_checkpoint *ck,
                                           const tc_weight *w, const char *kind, tc_error *err)
{
    char a[160], b[160];
    const tc_named_tensor *t = tc_checkpoint_find(ck, w->name);
    if (!t) {
        tc_error_set(err, "the checkpoint lacks %s '%s' (shape %s in model '%s')", kind,
                     w->name, tc_shape_format(&w->value.shape, a, sizeof a), tc_graph_name(g));
        return NULL;
    }
    if (!tc_shape_equal(&t->shape, &w->value.shape)) {
        tc_error_set(err, "%s '%s': the checkpoint has shape %s, model '%s' has %s", kind,
                     w->name, tc_shape_format(&t->shape, a, sizeof a), tc_graph_name(g),
                     tc_shape_format(&w->value.shape, b, sizeof b));
        return NULL;
    }
    if (check_finite(kind, t->name, t->data, tc_shape_count(&t->shape), err)) {
        tc_error_prefix(err, "the checkpoint is unusable");
        return NULL;
    }
    return t;
}

int tc_snapshot_load_weights(tc_graph *g, const tc_checkpoint *ck, tc_error *err)
{
    if (!g || !ck)
        return tc_error_set(err, "tc_snapshot_load_weights: NULL graph or checkpoint");
    char a[160];
    int nw = n_stored(g);
    const tc_named_tensor **src = calloc((size_t)nw + 1, sizeof *src);
    if (!src)
        return tc_error_set(err, "out of memory");
    for (int i = 0; i < nw; i++) {
        const char *kind;
        tc_weight *w = stored(g, i, &kind);
        if (!(src[i] = match_stored(g, ck, w, kind, err))) {
            free(src);
            return 1;
        }
    }
    /* Every weight matched; now the other way round: a tensor the graph
     * lacks means the checkpoint belongs to another model. */
    for (size_t j = 0; j < ck->n_tensors; j++) {
        const tc_named_tensor *t = &ck->tensors[j];
        if (!has_prefix(t->name) && !find_stored(g, t->name)) {
            free(src);
            return tc_error_set(err, "the checkpoint has weight '%s' (shape %s) that model '%s' "
                                "lacks: it is a checkpoint of another model",
                                t->name, tc_shape_format(&t->shape, a, sizeof a), tc_graph_name(g));
        }
    }
    for (int i = 0; i < nw; i++) {
        tc_weight *w = stored(g, i, NULL);
        int64_t n = tc_shape_count(&w->value.shape);
        if (n > 0)
            memcpy(w->value.data, src[i]->data, (size_t)n * sizeof(float));
    }
    free(src);
    return 0;
}

/* The step count from the metadata, or an error saying why there is none. */
static int read_steps(const tc_checkpoint *ck, uint64_t *steps, tc_error *err)
{
    json_error_t je;
    json_t *root = json_loads(ck->meta_json ? ck->meta_json : "", 0, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return tc_error_set(err, "the checkpoint's metadata is not a JSON object, so it holds "
                            "no optimiser step count");
    }
    json_t *v = json_object_get(root, TC_SNAPSHOT_STEPS_KEY);
    int rc = 0;
    if (!v)
        rc = tc_error_set(err, "the checkpoint has no optimiser state (its metadata lacks \"%s\"; "
                          "it was saved without an optimiser)", TC_SNAPSHOT_STEPS_KEY);
    else if (!json_is_integer(v) || json_integer_value(v) < 0)
        rc = tc_error_set(err, "the checkpoint's \"%s\" must be a non-negative integer",
                          TC_SNAPSHOT_STEPS_KEY);
    else
        *steps = (uint64_t)json_integer_value(v);
    json_decref(root);
    return rc;
}

int tc_snapshot_load_optimizer(tc_optimizer *opt, const tc_checkpoint *ck, tc_error *err)
{
    if (!opt || !ck)
        return tc_error_set(err, "tc_snapshot_load_optimizer: NULL optimiser or checkpoint");
    uint64_t steps = 0;
    if (read_steps(ck, &steps, err))
        return 1;
    char a[160], b[160];
    int ns = tc_optimizer_n_state(opt);
    const tc_named_tensor **src = calloc((size_t)ns + 1, sizeof *src);
    if (!src)
        return tc_error_set(err, "out of memory");
    for (int i = 0; i < ns; i++) {
        const char *name = NULL;
        tc_tensor *s = tc_optimizer_state(opt, i, &name);
        const tc_named_tensor *t = NULL;
        /* Match "optim/<name>" without building the string. */
        for (size_t j = 0; j < ck->n_tensors && !t; j++)
            if (has_prefix(ck->tensors[j].name) &&
                strcmp(ck->tensors[j].name + PREFIX_LEN, name) == 0)
                t = &ck->tensors[j];
        if (!t) {
            free(src);
            return tc_error_set(err, "the checkpoint lacks optimiser state '%s%s' (shape %s): "
                                "saved with another optimiser, or without one?",
                                TC_SNAPSHOT_OPTIM_PREFIX, name,
                                tc_shape_format(&s->shape, a, sizeof a));
        }
        if (!tc_shape_equal(&t->shape, &s->shape)) {
            free(src);
            return tc_error_set(err, "optimiser state '%s': the checkpoint has shape %s, the "
                                "optimiser %s", t->name, tc_shape_format(&t->shape, a, sizeof a),
                                tc_shape_format(&s->shape, b, sizeof b));
        }
        if (check_finite("optimiser state", t->name, t->data, tc_shape_count(&t->shape), err)) {
            free(src);
            return tc_error_prefix(err, "the checkpoint is unusable");
        }
        src[i] = t;
    }
    for (size_t j = 0; j < ck->n_tensors; j++) {
        const tc_named_tensor *t = &ck->tensors[j];
        if (!has_prefix(t->name))
            continue;
        int found = 0;
        for (int i = 0; i < ns && !found; i++)
            found = src[i] == t;
        if (!found) {
            free(src);
            return tc_error_set(err, "the checkpoint has optimiser state '%s' (shape %s) that "
                                "this optimiser lacks: saved with another optimiser or model",
                                t->name, tc_shape_format(&t->shape, a, sizeof a));
        }
    }
    for (int i = 0; i < ns; i++) {
        tc_tensor *s = tc_optimizer_state(opt, i, NULL);
        int64_t n = tc_shape_count(&s->shape);
        if (n > 0)
            memcpy(s->data, src[i]->data, (size_t)n * sizeof(float));
    }
    tc_optimizer_set_steps(opt, steps);
    free(src);
    return 0;
}
