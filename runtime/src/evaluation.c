/* A checkpoint evaluated on a split of its data (tinycnn/evaluation.h): the
 * model and the data live for the run only; the results keep copies of the
 * names they report. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"
#include "text.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/evaluation.h"
#include "tinycnn/model.h"
#include "tinycnn/session.h"
#include "tinycnn/status.h"

/* The largest output an evaluation counts classes of (its matrix is k x k). */
#define MAX_EVAL_CLASSES 100000

/* What a run holds until the results are made. */
typedef struct eval_run {
    const tc_evaluation_config *c;
    tc_checkpoint ck;
    tc_graph *graph;
    tc_dataset ds;
    int64_t *origin; /* after a limit: the split's index of each image kept */
} eval_run;

static int check_config(const tc_evaluation_config *c, tc_error *err)
{
    if (!c || !c->registry || !c->checkpoint)
        return tc_error_set(err, "tc_evaluation_run: no configuration, registry or checkpoint "
                                 "given");
    if (c->batch_size < 0)
        return tc_error_set(err, "batch size must be >= 1 (got %d)", c->batch_size);
    return 0;
}

/* s copied into *out (NULL stays NULL); non-zero when out of memory. */
static int keep(char **out, const char *s)
{
    *out = s ? strdup(s) : NULL;
    return s && !*out;
}

static int open_model(eval_run *r, tc_evaluation *e, tc_error *err)
{
    const tc_evaluation_config *c = r->c;
    if (tc_checkpoint_read(c->checkpoint, &r->ck, err) != 0 ||
        tc_checkpoint_graph(c->registry, &r->ck, c->checkpoint, &r->graph, err) != 0)
        return 1;
    e->n_classes = tc_graph_n_classes(r->graph);
    if (e->n_classes < 1 || e->n_classes > MAX_EVAL_CLASSES)
        return tc_error_set(err, "%s: the model's output has %lld classes", c->checkpoint,
                            (long long)e->n_classes);
    e->class_names = tc_session_class_names(r->ck.meta_json, e->n_classes);
    if (!c->data_dir) /* NULL when it names none: tc_session_load_split says so */
        e->data_dir = tc_session_stored_data_dir(r->ck.meta_json);
    /* the labels of the training run: class folders are looked up in the
     * checkpoint's list, not numbered afresh from this split's folders */
    return tc_session_load_split(r->graph, r->ck.meta_json, e->data_dir, e->split, &r->ds, err);
}

static int evaluate(eval_run *r, tc_evaluation *e, tc_error *err)
{
    const tc_evaluation_config *c = r->c;
    int64_t nc = e->n_classes;
    e->confusion = calloc((size_t)(nc * nc), sizeof *e->confusion);
    e->per_class = calloc((size_t)nc, sizeof *e->per_class);
    if (!e->confusion || !e->per_class)
        return tc_error_set(err, "out of memory for a %lld x %lld confusion matrix",
                            (long long)nc, (long long)nc);
    /* the same stratified sample as training's limits */
    if (tc_dataset_limit(&r->ds, c->limit, &r->origin, err) != 0)
        return 1;
    tc_per_image *w = NULL;
    if (c->per_image &&
        !(w = tc_per_image_open(c->per_image, (const char *const *)e->class_names, r->origin,
                                (const char *const *)r->ds.paths, err)))
        return 1;
    int rc = tc_evaluate_each(r->graph, &r->ds, c->batch_size ? c->batch_size : 256, 0,
                              e->confusion, NULL, NULL, w ? tc_per_image_write : NULL, w, err);
    /* a failed evaluation's message is the one to keep */
    if (tc_per_image_close(w, rc ? &(tc_error){{0}} : err) != 0)
        rc = 1;
    return rc || tc_metrics_from_confusion(e->confusion, nc, e->per_class, &e->summary, err);
}

static int keep_names(const tc_evaluation_config *c, tc_evaluation *e, tc_error *err)
{
    if (keep(&e->checkpoint, c->checkpoint) || keep(&e->split, c->split ? c->split : "test") ||
        keep(&e->data_dir, c->data_dir) || keep(&e->per_image, c->per_image))
        return tc_error_set(err, "out of memory");
    return 0;
}

tc_evaluation *tc_evaluation_run(const tc_evaluation_config *c, tc_error *err)
{
    if (check_config(c, err) != 0)
        return NULL;
    tc_evaluation *e = calloc(1, sizeof *e);
    if (!e) {
        tc_error_set(err, "out of memory");
        return NULL;
    }
    eval_run r = {.c = c};
    int rc = keep_names(c, e, err) || open_model(&r, e, err) || evaluate(&r, e, err);
    if (rc == 0 && keep(&e->model, tc_graph_name(r.graph)))
        rc = tc_error_set(err, "out of memory");
    free(r.origin);
    tc_dataset_free(&r.ds);
    if (r.graph)
        tc_graph_free(r.graph);
    tc_checkpoint_free(&r.ck);
    if (rc == 0)
        return e;
    tc_evaluation_free(e);
    return NULL;
}

void tc_evaluation_free(tc_evaluation *e)
{
    if (!e)
        return;
    char *names[] = {e->checkpoint, e->model, e->split, e->data_dir, e->per_image};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        free(names[i]);
    tc_class_names_free(e->class_names, e->n_classes);
    free(e->confusion);
    free(e->per_class);
    free(e);
}

/* ---- the report ---------------------------------------------------------- */

char *tc_evaluation_text(const tc_evaluation *e)
{
    if (!e)
        return NULL;
    char *tables = tc_metrics_format(e->confusion, e->n_classes, e->per_class, &e->summary,
                                     (const char *const *)e->class_names);
    if (!tables)
        return NULL;
    tc_text text = {0}, *t = &text;
    tc_text_printf(t, "model %s, %lld %s images from %s\n", e->model, (long long)e->summary.total,
                   e->split, e->data_dir);
    tc_text_append(t, tables, strlen(tables));
    free(tables);
    if (e->per_image)
        tc_text_printf(t, "per-image results: %s\n", e->per_image);
    tc_text_printf(t, "accuracy: %.2f%% (%lld/%lld)\n", 100.0 * e->summary.accuracy,
                   (long long)e->summary.correct, (long long)e->summary.total);
    return tc_text_take(t);
}

static json_t *per_class_json(const tc_evaluation *e)
{
    json_t *a = json_array();
    for (int64_t i = 0; i < e->n_classes; i++) {
        const tc_class_metrics *c = &e->per_class[i];
        json_t *o = json_object();
        json_object_set_new(o, "class", json_integer(i));
        if (e->class_names)
            json_object_set_new(o, "class_name", json_string(e->class_names[i]));
        json_object_set_new(o, "precision", json_real(c->precision));
        json_object_set_new(o, "recall", json_real(c->recall));
        json_object_set_new(o, "f1", json_real(c->f1));
        json_object_set_new(o, "support", json_integer(c->support));
        json_object_set_new(o, "predicted", json_integer(c->predicted));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *confusion_json(const tc_evaluation *e)
{
    json_t *m = json_array();
    for (int64_t i = 0; i < e->n_classes; i++) {
        json_t *row = json_array();
        for (int64_t j = 0; j < e->n_classes; j++)
            json_array_append_new(row, json_integer(e->confusion[i * e->n_classes + j]));
        json_array_append_new(m, row);
    }
    return m;
}

static json_t *macro_json(const tc_metrics_summary *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "precision", json_real(s->macro_precision));
    json_object_set_new(o, "recall", json_real(s->macro_recall));
    json_object_set_new(o, "f1", json_real(s->macro_f1));
    json_object_set_new(o, "classes", json_integer(s->classes_averaged));
    return o;
}

char *tc_evaluation_json(const tc_evaluation *e)
{
    if (!e)
        return NULL;
    json_t *r = json_object();
    json_object_set_new(r, "checkpoint", json_string(e->checkpoint));
    json_object_set_new(r, "model", json_string(e->model));
    json_object_set_new(r, "data", json_string(e->data_dir));
    json_object_set_new(r, "split", json_string(e->split));
    json_object_set_new(r, "correct", json_integer(e->summary.correct));
    json_object_set_new(r, "total", json_integer(e->summary.total));
    json_object_set_new(r, "accuracy", json_real(e->summary.accuracy));
    json_object_set_new(r, "confusion", confusion_json(e));
    json_object_set_new(r, "per_class", per_class_json(e));
    json_object_set_new(r, "macro", macro_json(&e->summary));
    if (e->class_names) {
        json_t *names = json_array();
        for (int64_t i = 0; i < e->n_classes; i++)
            json_array_append_new(names, json_string(e->class_names[i]));
        json_object_set_new(r, "class_names", names);
    }
    if (e->per_image)
        json_object_set_new(r, "per_image", json_string(e->per_image));
    char *text = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(r);
    return text;
}
