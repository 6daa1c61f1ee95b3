/* tinycnn predict: classify PNG or JPEG images, files or folders of them,
 * with a checkpoint. A file that cannot be classified gets an error entry
 * of its own and the others go on. The work is the library's (tc_image_paths,
 * tinycnn/model.h); this file parses the options and prints. */
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

static const char help[] =
    "usage: tinycnn predict CHECKPOINT PATH... [--top K] [--threads N] [--json]\n"
    "\n"
    "Classifies each PNG or JPEG image (told apart by content) with the model and\n"
    "weights in CHECKPOINT and prints the predicted class and the K most probable\n"
    "classes with their softmax probabilities, by name when the checkpoint stores\n"
    "class names. A PATH that is a folder stands for the files named *.png, *.jpg\n"
    "and *.jpeg (any case) in it and below it, in sorted order. Images must have\n"
    "the model's input size unless the model resizes; colour images are converted\n"
    "to gray for one-channel models.\n"
    "\n"
    "A file that cannot be classified (unreadable, not an image, damaged, of the\n"
    "wrong size) is reported in its place as 'PATH: error: MESSAGE' (with --json\n"
    "an entry {\"image\": PATH, \"error\": MESSAGE}) and the others go on; the exit\n"
    "status is then 1.\n"
    "\n"
    "options:\n"
    "  --top K           how many classes to show per image (default 3)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

typedef struct predictor {
    tc_model *model;
    int json, named, failed;
    json_t *results;
    char first_error[TC_ERROR_CAP];
} predictor;

/* An error entry: "PATH: error: MESSAGE" (the message without the path it
 * starts with), or {"image": PATH, "error": MESSAGE}. */
static void emit_error(predictor *p, const char *path, const char *msg)
{
    if (p->failed++ == 0)
        snprintf(p->first_error, sizeof p->first_error, "%s", msg);
    size_t n = strlen(path);
    const char *m = strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0 ? msg + n + 2
                                                                                : msg;
    if (!p->json) {
        printf("%s: error: %s\n", path, m);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "image", json_string(path));
    json_object_set_new(o, "error", json_string(m));
    json_array_append_new(p->results, o);
}

/* "img.png: 3  (3: 97.10%, 8: 2.00%)", or with class names
 * "img.png: 3 cat  (cat: 97.10%, dog: 2.00%)" (tc_model_class_name is the
 * number where the checkpoint names no classes); or its JSON object. */
static void emit_best(predictor *p, const char *path, const tc_prediction *b, int top)
{
    const tc_model *m = p->model;
    if (!p->json) {
        printf("%s: %d%s%s  (", path, (int)b[0].label, p->named ? " " : "",
               p->named ? tc_model_class_name(m, b[0].label) : "");
        for (int j = 0; j < top; j++)
            printf("%s%s: %.2f%%", j ? ", " : "", tc_model_class_name(m, b[j].label),
                   100.0 * b[j].prob);
        printf(")\n");
        return;
    }
    json_t *o = json_object(), *t = json_array();
    json_object_set_new(o, "image", json_string(path));
    json_object_set_new(o, "prediction", json_integer(b[0].label));
    if (p->named)
        json_object_set_new(o, "class_name", json_string(tc_model_class_name(m, b[0].label)));
    for (int j = 0; j < top; j++) {
        const char *name = p->named ? tc_model_class_name(m, b[j].label) : NULL;
        json_array_append_new(t, json_pack("{s:i, s:s*, s:f}", "class", (int)b[j].label,
                                           "class_name", name, /* s*: none without a name */
                                           "probability", (double)b[j].prob));
    }
    json_object_set_new(o, "top", t);
    json_array_append_new(p->results, o);
}

static void on_result(void *user, const tc_path_result *r)
{
    if (r->error)
        emit_error(user, r->path, r->error);
    else
        emit_best(user, r->path, r->best, r->top);
}

/* stdout is lost (main says so): no one reads the rest. */
static int output_lost(void *user)
{
    (void)user;
    return cli_flush_stdout() != 0;
}

/* ---- the command -------------------------------------------------------- */

typedef struct predict_opts {
    const char **pos; /* CHECKPOINT PATH... */
    int n_pos;
    int64_t top, threads;
    int json;
} predict_opts;

static int parse(cli_globals *g, int argc, char **argv, predict_opts *o)
{
    const cli_opt table[] = {
        CLI_INT("--top", &o->top, 1, 1000000),
        CLI_INT("--threads", &o->threads, 1, 1024),
        CLI_FLAG("--json", &o->json),
        CLI_OPT_END,
    };
    if (cli_parse_argv(g, "predict", argc, argv, table, o->pos, argc, &o->n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (o->n_pos == 0)
        return cli_usage("predict", "missing CHECKPOINT");
    if (o->n_pos == 1)
        return cli_usage("predict", "missing IMAGE (give at least one file or folder)");
    return 0;
}

static void print_summary(const predictor *p, const char *ckpt, size_t n)
{
    if (p->json) {
        json_t *root = json_object();
        json_object_set_new(root, "checkpoint", json_string(ckpt));
        json_object_set_new(root, "model", json_string(tc_model_name(p->model)));
        json_object_set(root, "predictions", p->results);
        json_object_set_new(root, "failed", json_integer(p->failed));
        cli_print_json(root);
    }
    if (p->failed == 1)
        cli_fail("%s", p->first_error);
    else if (p->failed > 1)
        cli_fail("%d of %zu images could not be classified; the first: %s", p->failed, n,
                 p->first_error);
}

/* Classifies every item; 0 when the model ran (failed files included). */
static int classify(const cli_globals *g, const predict_opts *o, const tc_image_path *items,
                    size_t n, predictor *p, tc_error *err)
{
    tc_registry *reg = NULL;
    if (cli_load_registry(g, &reg, err) != 0)
        return 1;
    /* the runner's registry, so that --plugin-dir counts */
    tc_model_options mo = {.struct_size = sizeof mo, .threads = (int32_t)o->threads,
                           .registry = reg};
    p->model = tc_model_open(o->pos[0], &mo, err);
    p->named = tc_model_has_class_names(p->model);
    int rc = !p->model                        ? 1
             : !(p->results = json_array()) ? tc_error_set(err, "out of memory")
                                            : tc_model_classify_paths(p->model, items, n, (int)o->top, on_result,
                                           output_lost, p, err);
    if (rc == 0)
        print_summary(p, o->pos[0], n);
    json_decref(p->results);
    tc_model_close(p->model); /* the model before the registry it uses */
    tc_registry_free(reg);
    return rc;
}

static int run(cli_globals *g, int argc, char **argv)
{
    predict_opts o = {.top = 3};
    o.pos = calloc((size_t)argc, sizeof *o.pos);
    if (!o.pos)
        return cli_fail("out of memory");
    int rc = parse(g, argc, argv, &o);
    if (rc != 0 || cli_parse_only) {
        free(o.pos);
        return rc;
    }
    tc_set_threads((int)o.threads); /* the image reader's too */
    tc_image_path *items = NULL;
    size_t n = 0;
    predictor p = {.json = o.json};
    tc_error err = {{0}};
    if (tc_image_paths(o.pos + 1, o.n_pos - 1, &items, &n, &err) != 0 ||
        classify(g, &o, items, n, &p, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else
        rc = p.failed ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
    tc_image_paths_free(items, n);
    free(o.pos);
    return rc;
}

const cli_command cli_predict_command = {"predict",
                                         "classify PNG or JPEG images (files or folders)", help,
                                         run, NULL};
