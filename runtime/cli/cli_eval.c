/* tinycnn eval: accuracy, confusion matrix and per-class metrics of a
 * checkpoint on one split of a data set, optionally a result per image. */
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
    char **names;            /* class names, or NULL */
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
    tc_class_names_free(s->names, s->nc);
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
    int n_pos;
    if (cli_parse_argv(g, "eval", argc, argv, table, &o->ckpt, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (n_pos == 0)
        return cli_usage("eval", "missing CHECKPOINT");
    if (o->per_image && !*o->per_image)
        return cli_usage("eval", "option --per-image needs a file name, got ''");
    return 0;
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
    s->names = tc_session_class_names(s->ck.meta_json, s->nc);
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
    if (tc_dataset_limit(&s->ds, o->limit, &s->origin, err) != 0)
        return 1;
    tc_per_image *w = NULL;
    if (o->per_image && !(w = tc_per_image_open(o->per_image, (const char *const *)s->names,
                                                s->origin, (const char *const *)s->ds.paths,
                                                err)))
        return 1;
    int rc = tc_evaluate_each(s->graph, &s->ds, (int)o->batch, 0, s->confusion, NULL,
                              NULL, w ? tc_per_image_write : NULL, w, err);
    if (tc_per_image_close(w, rc ? &(tc_error){{0}} : err) != 0)
        rc = 1;
    return rc || tc_metrics_from_confusion(s->confusion, s->nc, s->per_class, &s->sum, err);
}

/* ---- output ------------------------------------------------------------- */

static json_t *metrics_json(const eval_state *s)
{
    json_t *a = json_array();
    for (int64_t i = 0; i < s->nc; i++) {
        const tc_class_metrics *c = &s->per_class[i];
        json_t *e = json_object();
        json_object_set_new(e, "class", json_integer(i));
        if (s->names)
            json_object_set_new(e, "class_name", json_string(s->names[i]));
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
    json_t *names = s->names ? json_array() : NULL;
    for (int64_t i = 0; names && i < s->nc; i++)
        json_array_append_new(names, json_string(s->names[i]));
    if (names)
        json_object_set_new(r, "class_names", names);
    if (o->per_image)
        json_object_set_new(r, "per_image", json_string(o->per_image));
    cli_print_json(r);
}

static int print_text(const eval_opts *o, const eval_state *s)
{
    char *tables = tc_metrics_format(s->confusion, s->nc, s->per_class, &s->sum,
                                     (const char *const *)s->names);
    if (!tables)
        return cli_fail("out of memory formatting the results");
    printf("model %s, %lld %s images from %s\n", tc_graph_name(s->graph),
           (long long)s->sum.total, o->split, s->data_dir);
    fputs(tables, stdout);
    free(tables);
    if (o->per_image)
        printf("per-image results: %s\n", o->per_image);
    printf("accuracy: %.2f%% (%lld/%lld)\n", 100.0 * s->sum.accuracy,
           (long long)s->sum.correct, (long long)s->sum.total);
    return CLI_EXIT_OK;
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
    if (open_model(g, &o, &s, &err) != 0 || evaluate(&o, &s, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else if (o.json)
        print_json(&o, &s);
    else
        rc = print_text(&o, &s);
    eval_free(&s);
    return rc;
}

const cli_command cli_eval_command = {"eval", "evaluate a checkpoint on a split of its data",
                                      help, run, NULL};
