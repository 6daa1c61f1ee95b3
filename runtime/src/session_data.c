/* The data a model reads, as its training saw it (see tinycnn/session.h):
 * the image geometry and data options of its image input, and the splits
 * of a checkpoint's data folder with the checkpoint's class list. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
    return tc_session_image_size(g, &opt->channels, &opt->height, &opt->width, err);
}

/* The checkpoint's class list, when its metadata holds one of n strings.
 * Owner: the caller (json_decref); NULL when there is none. */
static json_t *meta_class_names(const char *meta_json, int64_t n)
{
    json_t *meta = meta_json && *meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    json_t *names = json_object_get(meta, "class_names");
    int ok = json_is_array(names) && (int64_t)json_array_size(names) == n;
    for (int64_t i = 0; ok && i < n; i++)
        ok = json_is_string(json_array_get(names, (size_t)i));
    json_t *out = ok ? json_incref(names) : NULL;
    json_decref(meta);
    return out;
}

int tc_session_load_split(const tc_graph *g, const char *meta_json, const char *data_dir,
                          const char *split, tc_dataset *out, tc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "test") != 0 &&
                   strcmp(split, "val") != 0))
        return tc_error_set(err, "split '%s': the splits are train, val and test",
                            split ? split : "(null)");
    if (!data_dir)
        return tc_error_set(err, "no data folder given");
    if (strcmp(split, "val") == 0)
        return tc_error_set(err, "%s: no validation split", data_dir);
    tc_data_options opt;
    if (tc_session_data_options(g, &opt, err) != 0)
        return 1;
    int64_t nc = tc_graph_n_classes(g);
    json_t *names = meta_class_names(meta_json, nc);
    const char **list = NULL;
    if (names && nc <= TC_MAX_CLASSES) {
        list = malloc((size_t)nc * sizeof *list);
        if (!list) {
            json_decref(names);
            return tc_error_set(err, "out of memory");
        }
        for (int64_t i = 0; i < nc; i++)
            list[i] = json_string_value(json_array_get(names, (size_t)i));
        opt.class_names = list;
        opt.n_class_names = (int)nc;
    }
    int rc = tc_dataset_load_with(data_dir, split, &opt, out, err);
    free(list);
    json_decref(names);
    return rc;
}
