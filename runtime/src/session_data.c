/* The data a model reads, as its training saw it (see tinycnn/session.h):
 * the image geometry and data options of its image input, and the splits
 * of a checkpoint's data folder with the checkpoint's class list. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"
#include "tinycnn/session.h"
#include "tinycnn/status.h"

int tc_session_image_size(const tc_graph *g, int *c, int *h, int *w, tc_error *err)
{
    int i = tc_graph_image_input(g);
    if (i < 0)
        return tc_error_set(err, "model %s has no image input", tc_graph_name(g));
    const tc_input_info *in = tc_graph_input(g, i);
    const tc_shape *s = &in->shape;
    if (s->ndim != 2 && s->ndim != 3)
        return tc_error_set(err, "model %s: image input '%s' has %d dimensions; an image input "
                                 "is [channels, height, width]",
                            tc_graph_name(g), in->name, (int)s->ndim);
    /* Compare before narrowing: dims are int64 and may be up to 2^31. */
    for (int d = 0; d < s->ndim; d++)
        if (s->dims[d] > TC_PNG_MAX_DIM)
            return tc_error_set(err, "model %s: image input '%s' has size %lld in dimension %d; "
                                     "images larger than %d on a side are not supported",
                                tc_graph_name(g), in->name, (long long)s->dims[d], d,
                                TC_PNG_MAX_DIM);
    *c = s->ndim == 3 ? (int)s->dims[0] : 1;
    *h = (int)s->dims[s->ndim - 2];
    *w = (int)s->dims[s->ndim - 1];
    if (*c != 1 && *c != 3)
        return tc_error_set(err, "model %s: image input '%s' has %d channels; images have 1 or 3",
                            tc_graph_name(g), in->name, *c);
    return 0;
}

int tc_session_data_options(const tc_graph *g, tc_data_options *opt, tc_error *err)
{
    memset(opt, 0, sizeof *opt);
    if (tc_session_image_size(g, &opt->channels, &opt->height, &opt->width, err) != 0)
        return 1;
    /* the model file's "resize" and "classes", checked when it was loaded
     * (the class count against the output's) */
    const tc_input_info *in = tc_graph_input(g, tc_graph_image_input(g));
    opt->resize = in->resize;
    opt->resize_size = in->resize_size;
    opt->class_names = in->class_names;
    opt->n_class_names = in->n_class_names;
    return tc_data_options_check(opt, err);
}

/* What the checkpoint's metadata says of its data: the folder (NULL:
 * none), val_split and seed (0 when absent: no hold-out). */
static void meta_data_info(const char *meta_json, char **dir, double *val_split, uint64_t *seed)
{
    json_t *meta = meta_json && *meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    json_t *d = json_object_get(meta, "data"), *cfg = json_object_get(meta, "config");
    json_t *v = json_object_get(cfg, "val_split"), *sd = json_object_get(cfg, "seed");
    size_t n = json_is_string(d) ? strlen(json_string_value(d)) + 1 : 0;
    *dir = n ? malloc(n) : NULL; /* NULL (out of memory): as if none */
    if (*dir)
        memcpy(*dir, json_string_value(d), n);
    *val_split = json_is_number(v) ? json_number_value(v) : 0.0;
    *seed = json_is_integer(sd) ? (uint64_t)json_integer_value(sd) : 0;
    json_decref(meta);
}

char *tc_session_stored_data_dir(const char *meta_json)
{
    char *dir;
    double val_split;
    uint64_t seed;
    meta_data_info(meta_json, &dir, &val_split, &seed);
    return dir;
}

/* The split itself: "test" as it is, "train" and "val" as the session
 * divides them. */
static int load_named_split(const tc_graph *g, const char *dir, const char *split,
                            const tc_data_options *opt, double val_split, uint64_t seed,
                            tc_dataset *out, tc_error *err)
{
    if (strcmp(split, "test") == 0)
        return tc_dataset_load_with(dir, split, opt, out, err);
    tc_dataset train, val;
    tc_val_source from;
    if (tc_session_load_train_val(g, dir, opt, val_split, seed, &train, &val, &from, err) != 0)
        return 1;
    int want_val = strcmp(split, "val") == 0;
    if (want_val && from == TC_VAL_NONE) {
        tc_dataset_free(&train);
        return tc_error_set(err, "%s: no validation split: no val/ folder, and the training "
                                 "held none out (val_split 0)", dir);
    }
    *out = want_val ? val : train;
    tc_dataset_free(want_val ? &train : &val);
    return 0;
}

int tc_session_load_split(const tc_graph *g, const char *meta_json, const char *data_dir,
                          const char *split, tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "test") != 0 &&
                   strcmp(split, "val") != 0))
        return tc_error_set(err, "split '%s': the splits are train, val and test",
                            split ? split : "(null)");
    char *stored;
    double val_split;
    uint64_t seed;
    meta_data_info(meta_json, &stored, &val_split, &seed);
    const char *dir = data_dir ? data_dir : stored;
    tc_data_options opt;
    int rc = dir ? tc_session_data_options(g, &opt, err)
                 : tc_error_set(err, "no data folder given, and the checkpoint names none");
    int64_t nc = tc_graph_n_classes(g);
    char **names = rc == 0 ? tc_session_class_names(meta_json, nc) : NULL;
    if (names && nc <= TC_MAX_CLASSES) {
        opt.class_names = (const char *const *)names;
        opt.n_class_names = (int)nc;
    }
    if (rc == 0)
        rc = load_named_split(g, dir, split, &opt, val_split, seed, out, err);
    tc_class_names_free(names, nc);
    free(stored);
    return rc;
}
