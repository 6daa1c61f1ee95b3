/* tinycnn eval: accuracy, confusion matrix and per-class metrics of a
 * checkpoint on one split of a data set, optionally a result per image. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "tinycnn/metrics.h"

static const char help[] =
    "usage: tinycnn eval CHECKPOINT [--data DIR] [--split train|val|test]\n"
    "                    [--per-image FILE] [--limit N] [--batch-size N]\n"
    "                    [--threads N] [--json]\n"
    "\n"
    "Loads the model and weights stored in CHECKPOINT, runs it on a split of the\n"
    "data (the test split unless --split says otherwise) and prints the confusion\n"
    "matrix (rows: true class, columns: prediction), each class's precision,\n"
    "recall, F1 and support with their macro averages and, as the last line,\n"
    "'accuracy: NN.NN% (C/T)'. A class never predicted has precision 0, one\n"
    "without images recall 0; the macro averages leave out the classes that\n"
    "neither occur in the split nor are predicted.\n"
    "\n"
    "options:\n"
    "  --data DIR        data folder (default: $TINYCNN_DATA, else data/mnist)\n"
    "  --split NAME      train, val or test (default test)\n"
    "  --per-image FILE  write one record per image: index (the image's place in\n"
    "                    the split as loaded), label, prediction, probability of\n"
    "                    the prediction, and the class names when the checkpoint\n"
    "                    has them; CSV when FILE ends in .csv, else JSON lines\n"
    "  --limit N         evaluate a sample of N images of the split that keeps\n"
    "                    every class (the same as train's limits; 0: all)\n"
    "  --batch-size N    images per forward pass (default 256)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

typedef struct eval_opts {
    const char *ckpt, *data, *split, *per_image;
    int64_t limit, batch, threads;
    int json;
} eval_opts;

/* What one evaluation holds; eval_free releases it. */
typedef struct eval_state {
    tc_registry *reg;
    tc_graph *graph;
    tc_checkpoint ck;
    tc_dataset ds;
    json_t *names;           /* class names, or NULL */
    int64_t nc;              /* classes */
    int64_t *confusion;      /* nc x nc */
    tc_class_metrics *per_class;
    tc_metrics_summary sum;
    const char *data_dir;
    int64_t *origin;         /* after --limit: the split's index of each image kept */
} eval_state;

static void eval_free(eval_state *s)
{
    free(s->confusion);
    free(s->per_class);
    free(s->origin);
    json_decref(s->names);
    tc_dataset_free(&s->ds);
    if (s->graph)
        tc_graph_free(s->graph);
    tc_checkpoint_free(&s->ck);
    if (s->reg)
        tc_registry_free(s->reg);
}

static int parse(cli_globals *g, int argc, char **argv, eval_opts *o)
{
    static const char *const splits[] = {"train", "val", "test", NULL};
    const cli_opt table[] = {
        CLI_STRING("--data", &o->data),
        CLI_CHOICE("--split", &o->split, splits),
        CLI_STRING("--per-image", &o->per_image),
        CLI_INT("--limit", &o->limit, 0, INT64_MAX),
        CLI_INT("--batch-size", &o->batch, 1, 65536),
        CLI_INT("--threads", &o->threads, 1, 1024),
        CLI_FLAG("--json", &o->json),
        CLI_OPT_END,
    };
    cli_args a;
    cli_args_init(&a, "eval", argc, argv, g);
    int n_pos;
    if (cli_parse(&a, table, &o->ckpt, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (n_pos == 0)
        return cli_usage("eval", "missing CHECKPOINT");
    if (o->per_image && !*o->per_image)
        return cli_usage("eval", "option --per-image needs a file name, got ''");
    return 0;
}

/* ---- the per-image file ------------------------------------------------- */

typedef struct per_image {
    FILE *f;
    const char *path;
    int csv;
    const json_t *names;
    const int64_t *origin; /* the split's index of each image evaluated; NULL: the same */
    char *const *paths;    /* the file of each image evaluated; NULL: none (IDX, CIFAR) */
} per_image;

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static int write_failed(const per_image *w, tc_error *err)
{
    return tc_error_set(err, "%s: cannot write the per-image results: %s", w->path,
                        strerror(errno ? errno : EIO));
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fprintf(f, ",%s", s);
        return;
    }
    fputs(",\"", f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int per_image_open(per_image *w, const char *path, const json_t *names, tc_error *err)
{
    w->path = path;
    w->names = names;
    w->csv = ends_with(path, ".csv") || ends_with(path, ".CSV");
    errno = 0;
    w->f = fopen(path, "w");
    if (!w->f)
        return tc_error_set(err, "%s: cannot open for writing: %s", path, strerror(errno));
    if (w->csv && fprintf(w->f, "index%s,label,prediction,probability%s\n",
                          w->paths ? ",path" : "",
                          names ? ",label_name,prediction_name" : "") < 0)
        return write_failed(w, err);
    return 0;
}

static int per_image_jsonl(const per_image *w, const tc_image_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(w->origin ? w->origin[r->index] : r->index));
    if (w->paths)
        json_object_set_new(o, "path", json_string(w->paths[r->index]));
    json_object_set_new(o, "label", json_integer(r->label));
    json_object_set_new(o, "prediction", json_integer(r->prediction));
    json_object_set_new(o, "probability",
                        isfinite(r->probability) ? json_real(r->probability) : json_null());
    if (w->names) {
        json_object_set_new(o, "label_name", json_string(cli_class_name(w->names, r->label)));
        json_object_set_new(o, "prediction_name",
                            json_string(cli_class_name(w->names, r->prediction)));
    }
    int rc = json_dumpf(o, w->f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return rc != 0 || fputc('\n', w->f) == EOF;
}

static int per_image_row(void *user, const tc_image_result *r, tc_error *err)
{
    const per_image *w = user;
    errno = 0;
    if (!w->csv)
        return per_image_jsonl(w, r) ? write_failed(w, err) : 0;
    fprintf(w->f, "%lld", (long long)(w->origin ? w->origin[r->index] : r->index));
    if (w->paths)
        csv_field(w->f, w->paths[r->index]);
    fprintf(w->f, ",%d,%d,%.9g", r->label, r->prediction, (double)r->probability);
    if (w->names) {
        csv_field(w->f, cli_class_name(w->names, r->label));
        csv_field(w->f, cli_class_name(w->names, r->prediction));
    }
    return fputc('\n', w->f) == EOF || ferror(w->f) ? write_failed(w, err) : 0;
}

/* Closes the file; a write error found only now (a full disk) fails. */
static int per_image_close(per_image *w, tc_error *err)
{
    if (!w->f)
        return 0;
    errno = 0;
    int bad = fflush(w->f) != 0 || ferror(w->f);
    bad = fclose(w->f) != 0 || bad;
    w->f = NULL;
    return bad ? write_failed(w, err) : 0;
}

/* ---- evaluation --------------------------------------------------------- */

static int open_model(const cli_globals *g, const eval_opts *o, eval_state *s, tc_error *err)
{
    if (cli_load_registry(g, &s->reg, err) != 0 ||
        cli_open_checkpoint(s->reg, o->ckpt, &s->ck, &s->graph, err) != 0)
        return 1;
    s->nc = tc_graph_n_classes(s->graph);
    if (s->nc < 1 || s->nc > 100000)
        return tc_error_set(err, "%s: the model's output has %lld classes", o->ckpt,
                            (long long)s->nc);
    s->names = cli_class_names(&s->ck, s->nc);
    /* the labels of the training run: class folders are looked up in the
     * checkpoint's list, not numbered afresh from this split's folders */
    s->data_dir = cli_data_dir(o->data);
    return tc_session_load_split(s->graph, s->ck.meta_json, s->data_dir, o->split, &s->ds, err);
}

static int evaluate(const eval_opts *o, eval_state *s, tc_error *err)
{
    s->confusion = calloc((size_t)(s->nc * s->nc), sizeof *s->confusion);
    s->per_class = calloc((size_t)s->nc, sizeof *s->per_class);
    if (!s->confusion || !s->per_class)
        return tc_error_set(err, "out of memory for a %lld x %lld confusion matrix",
                            (long long)s->nc, (long long)s->nc);
    /* --limit keeps the same stratified sample as training's limits */
    per_image w = {0};
    if (tc_dataset_limit(&s->ds, o->limit, &s->origin, err) != 0)
        return 1;
    w.origin = s->origin;
    w.paths = s->ds.paths;
    if (o->per_image && per_image_open(&w, o->per_image, s->names, err) != 0) {
        per_image_close(&w, &(tc_error){{0}});
        return 1;
    }
    int rc = tc_evaluate_each(s->graph, &s->ds, (int)o->batch, 0, s->confusion, NULL,
                              NULL, w.f ? per_image_row : NULL, &w, err);
    if (per_image_close(&w, rc ? &(tc_error){{0}} : err) != 0)
        rc = 1;
    return rc || tc_metrics_from_confusion(s->confusion, s->nc, s->per_class, &s->sum, err);
}

/* ---- output ------------------------------------------------------------- */

/* Width of the class column: the longest name, at least 5. */
static int label_width(const json_t *names, int64_t k)
{
    int lw = 5;
    for (int64_t i = 0; names && i < k; i++)
        if ((int)strlen(cli_class_name(names, i)) > lw)
            lw = (int)strlen(cli_class_name(names, i));
    return lw;
}

static void print_row_label(const json_t *names, int64_t i, int lw)
{
    if (names)
        printf("%*s:", lw, cli_class_name(names, i));
    else
        printf("%*lld:", lw, (long long)i);
}

/* Rows are labelled with the class names where the checkpoint has them
 * (columns keep the numbers, with the legend above: names are wide). */
static void print_confusion(const int64_t *m, int64_t k, const json_t *names)
{
    int64_t maxv = 0;
    for (int64_t i = 0; i < k * k; i++)
        if (m[i] > maxv)
            maxv = m[i];
    int w = 1;
    for (int64_t v = maxv; v >= 10; v /= 10)
        w++;
    if (w < 3)
        w = 3;
    int lw = label_width(names, k);
    if (names) {
        printf("classes:");
        for (int64_t i = 0; i < k; i++)
            printf("%s %lld = %s", i ? "," : "", (long long)i, cli_class_name(names, i));
        printf("\n");
    }
    printf("confusion matrix (rows: true class, columns: predicted)\n");
    printf("%*s", lw + 1, "");
    for (int64_t j = 0; j < k; j++)
        printf(" %*lld", w, (long long)j);
    printf("\n");
    for (int64_t i = 0; i < k; i++) {
        int64_t row = 0;
        for (int64_t j = 0; j < k; j++)
            row += m[i * k + j];
        print_row_label(names, i, lw);
        for (int64_t j = 0; j < k; j++)
            printf(" %*lld", w, (long long)m[i * k + j]);
        if (row > 0)
            printf("   %6.2f%%", 100.0 * (double)m[i * k + i] / (double)row);
        printf("\n");
    }
}

static void print_metrics(const eval_state *s)
{
    int lw = label_width(s->names, s->nc);
    printf("per class\n%*s %9s %7s %7s %8s\n", lw + 1, "", "precision", "recall", "f1",
           "support");
    for (int64_t i = 0; i < s->nc; i++) {
        const tc_class_metrics *c = &s->per_class[i];
        print_row_label(s->names, i, lw);
        printf(" %9.4f %7.4f %7.4f %8lld%s%s\n", c->precision, c->recall, c->f1,
               (long long)c->support, c->no_predictions ? "  (never predicted)" : "",
               c->no_support ? "  (no images)" : "");
    }
    printf("%*s: %9.4f %7.4f %7.4f   (mean of %lld classes)\n", lw, "macro",
           s->sum.macro_precision, s->sum.macro_recall, s->sum.macro_f1,
           (long long)s->sum.classes_averaged);
}

static json_t *metrics_json(const eval_state *s)
{
    json_t *a = json_array();
    for (int64_t i = 0; i < s->nc; i++) {
        const tc_class_metrics *c = &s->per_class[i];
        json_t *e = json_object();
        json_object_set_new(e, "class", json_integer(i));
        if (s->names)
            json_object_set_new(e, "class_name", json_string(cli_class_name(s->names, i)));
        json_object_set_new(e, "precision", json_real(c->precision));
        json_object_set_new(e, "recall", json_real(c->recall));
        json_object_set_new(e, "f1", json_real(c->f1));
        json_object_set_new(e, "support", json_integer(c->support));
        json_object_set_new(e, "predicted", json_integer(c->predicted));
        json_array_append_new(a, e);
    }
    return a;
}

static void print_json(const eval_opts *o, const eval_state *s)
{
    json_t *r = json_object();
    json_object_set_new(r, "checkpoint", json_string(o->ckpt));
    json_object_set_new(r, "model", json_string(tc_graph_name(s->graph)));
    json_object_set_new(r, "data", json_string(s->data_dir));
    json_object_set_new(r, "split", json_string(o->split));
    json_object_set_new(r, "correct", json_integer(s->sum.correct));
    json_object_set_new(r, "total", json_integer(s->sum.total));
    json_object_set_new(r, "accuracy", json_real(s->sum.accuracy));
    json_t *m = json_array();
    for (int64_t i = 0; i < s->nc; i++) {
        json_t *row = json_array();
        for (int64_t j = 0; j < s->nc; j++)
            json_array_append_new(row, json_integer(s->confusion[i * s->nc + j]));
        json_array_append_new(m, row);
    }
    json_object_set_new(r, "confusion", m);
    json_object_set_new(r, "per_class", metrics_json(s));
    json_t *macro = json_object();
    json_object_set_new(macro, "precision", json_real(s->sum.macro_precision));
    json_object_set_new(macro, "recall", json_real(s->sum.macro_recall));
    json_object_set_new(macro, "f1", json_real(s->sum.macro_f1));
    json_object_set_new(macro, "classes", json_integer(s->sum.classes_averaged));
    json_object_set_new(r, "macro", macro);
    if (s->names)
        json_object_set(r, "class_names", s->names);
    if (o->per_image)
        json_object_set_new(r, "per_image", json_string(o->per_image));
    cli_print_json(r);
}

static void print_text(const eval_opts *o, const eval_state *s)
{
    printf("model %s, %lld %s images from %s\n", tc_graph_name(s->graph),
           (long long)s->sum.total, o->split, s->data_dir);
    print_confusion(s->confusion, s->nc, s->names);
    print_metrics(s);
    if (o->per_image)
        printf("per-image results: %s\n", o->per_image);
    printf("accuracy: %.2f%% (%lld/%lld)\n", 100.0 * s->sum.accuracy,
           (long long)s->sum.correct, (long long)s->sum.total);
}

static int run(cli_globals *g, int argc, char **argv)
{
    eval_opts o = {.split = "test", .batch = 256};
    int rc = parse(g, argc, argv, &o);
    if (rc != 0 || cli_parse_only)
        return rc;
    tc_set_threads((int)o.threads);
    tc_error err = {{0}};
    eval_state s;
    memset(&s, 0, sizeof s);
    if (open_model(g, &o, &s, &err) != 0 || evaluate(&o, &s, &err) != 0) {
        rc = cli_fail("%s", err.msg);
    } else {
        if (o.json)
            print_json(&o, &s);
        else
            print_text(&o, &s);
        rc = CLI_EXIT_OK;
    }
    eval_free(&s);
    return rc;
}

const cli_command cli_eval_command = {"eval", "evaluate a checkpoint on a split of its data",
                                      help, run, NULL};
