/* tinycnn report (tinycnn/report.h): reads a checkpoint and its history,
 * evaluates it on the test split, and writes the page and the pictures. */
#define _POSIX_C_SOURCE 200809L /* strdup, mkdir */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h" /* tc_names_or_numbers */
#include "report_internal.h"
#include "session_internal.h"
#include "svg.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/model.h"
#include "tinycnn/session.h"
#include "tinycnn/status.h"

int tc_history_from_meta(const char *meta_json, tc_epoch_record **out, int *n, tc_error *err)
{
    *out = NULL;
    *n = 0;
    json_error_t je;
    json_t *meta = meta_json && *meta_json ? json_loads(meta_json, 0, &je) : NULL;
    if (meta_json && *meta_json && !meta)
        return tc_error_set(err, "the checkpoint's metadata is not JSON: %s (line %d)", je.text,
                            je.line);
    json_t *h = json_object_get(meta, "history");
    size_t cnt = json_is_array(h) ? json_array_size(h) : 0;
    tc_epoch_record *r = calloc(cnt + 1, sizeof *r);
    if (!r) {
        json_decref(meta);
        return tc_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++)
        tc_epoch_record_from_json(json_array_get(h, i), &r[i]);
    json_decref(meta);
    *out = r;
    *n = (int)cnt;
    return 0;
}

/* ---- gathering ----------------------------------------------------------*/

static int class_names(tc_report_data *d, const tc_dataset *test, tc_error *err)
{
    d->names = tc_names_or_numbers((const char *const *)test->class_names, test->n_classes,
                                   d->n_classes);
    if (!d->names)
        return tc_error_set(err, "out of memory");
    return 0;
}

static int evaluate(tc_report_data *d, tc_graph *g, const tc_dataset *test,
                    const tc_report_options *o, tc_error *err)
{
    int batch = o->batch_size > 0 ? o->batch_size : 256;
    int max = o->max_mistakes > 0 ? o->max_mistakes : 32;
    int64_t k = d->n_classes;
    d->confusion = calloc((size_t)(k * k), sizeof *d->confusion);
    if (!d->confusion)
        return tc_error_set(err, "out of memory for a %lld x %lld confusion matrix",
                            (long long)k, (long long)k);
    if (tc_report_evaluate(g, test, batch, o->limit, max, d->confusion, &d->correct, &d->total,
                           &d->mistakes, &d->n_mistakes, err) != 0)
        return 1;
    return tc_report_mistakes_png(test, d->mistakes, d->n_mistakes, &d->grid, &d->png,
                                  &d->png_len, err);
}

static int gather(tc_report_data *d, tc_graph *g, const tc_checkpoint *ck,
                  const tc_report_options *o, tc_error *err)
{
    tc_dataset test;
    memset(&test, 0, sizeof test);
    d->g = g;
    d->checkpoint = o->checkpoint;
    d->n_classes = tc_graph_n_classes(g);
    if (d->n_classes < 1 || d->n_classes > TC_MAX_CLASSES)
        return tc_error_set(err, "%s: the model's output has %d classes (1 to %d drawn)",
                            o->checkpoint, d->n_classes, TC_MAX_CLASSES);
    int rc = tc_summary_make(g, &d->summary, err) ||
             tc_history_from_meta(ck->meta_json, &d->history, &d->n_history, err) ||
             tc_session_load_split(g, ck->meta_json, o->data_dir, "test", &test, err) ||
             tc_dataset_limit(&test, o->limit, NULL, err) || /* as train's --test-limit */
             class_names(d, &test, err) || evaluate(d, g, &test, o, err);
    tc_dataset_free(&test);
    if (rc)
        return 1;
    d->curves_svg = tc_report_curves_svg(d->history, d->n_history);
    d->confusion_svg = tc_report_confusion_svg(d->confusion, d->n_classes, d->names);
    d->graph_svg = tc_report_graph_svg(g, &d->summary);
    if (!d->curves_svg || !d->confusion_svg || !d->graph_svg)
        return tc_error_set(err, "out of memory drawing the report");
    return 0;
}

static void release(tc_report_data *d)
{
    tc_summary_free(&d->summary);
    free(d->history);
    tc_names_free(d->names, d->n_classes);
    free(d->confusion);
    free(d->mistakes);
    free(d->png);
    free(d->curves_svg);
    free(d->confusion_svg);
    free(d->graph_svg);
}

/* ---- writing ------------------------------------------------------------*/

static int write_text(const char *dir, const char *name, char *text, tc_error *err)
{
    char path[4096];
    if (!text)
        return tc_error_set(err, "out of memory writing %s", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = tc_write_file(path, text, strlen(text), err);
    return rc;
}

static int write_all(const tc_report_data *d, const char *dir, tc_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mistakes.png", dir);
    char *json = tc_report_mistakes_json(d), *html = tc_report_html(d);
    int rc = write_text(dir, "curves.svg", d->curves_svg, err) ||
             write_text(dir, "confusion.svg", d->confusion_svg, err) ||
             write_text(dir, "graph.svg", d->graph_svg, err) ||
             tc_write_file(path, d->png, d->png_len, err) ||
             write_text(dir, "mistakes.json", json, err) ||
             write_text(dir, "index.html", html, err);
    free(json);
    free(html);
    return rc;
}

static int make_dir(const char *dir, tc_error *err)
{
    struct stat st;
    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return tc_error_set(err, "%s: cannot make the report folder: %s", dir,
                        errno == EEXIST ? "it is a file" : strerror(errno));
}

int tc_report_write(const tc_report_options *o, const char *out_dir, tc_report_result *res,
                    tc_error *err)
{
    if (res)
        memset(res, 0, sizeof *res);
    if (!o || !o->registry || !o->checkpoint || !out_dir)
        return tc_error_set(err, "tc_report_write: no registry, checkpoint or folder given");
    tc_checkpoint ck;
    tc_graph *g = NULL;
    tc_report_data d;
    memset(&d, 0, sizeof d);
    if (tc_checkpoint_read(o->checkpoint, &ck, err) != 0)
        return 1;
    int rc = tc_checkpoint_graph(o->registry, &ck, o->checkpoint, &g, err) ||
             gather(&d, g, &ck, o, err) || make_dir(out_dir, err) || write_all(&d, out_dir, err);
    if (rc == 0 && res)
        *res = (tc_report_result){d.n_history, d.total, d.correct, d.n_mistakes};
    release(&d);
    if (g)
        tc_graph_free(g);
    tc_checkpoint_free(&ck);
    return rc;
}
