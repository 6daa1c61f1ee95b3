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
    const char **pos; /* CHECKPOINT PATH... */
    int n_pos, json, failed, oom;
    int64_t top, threads;
    tc_model *model;
    json_t *results;
    char first_error[TC_ERROR_CAP];
} predictor;

/* Each result as the library formats it: a text line, or a JSON object of
 * the "predictions" array. */
static void on_result(void *user, const tc_path_result *r)
{
    predictor *p = user;
    if (r->error && p->failed++ == 0)
        snprintf(p->first_error, sizeof p->first_error, "%s", r->error);
    char *s = p->json ? tc_path_result_json(p->model, r) : tc_path_result_text(p->model, r);
    p->oom |= !s;
    if (s && p->json)
        p->oom |= json_array_append_new(p->results, json_loads(s, 0, NULL)) != 0;
    else if (s)
        printf("%s\n", s);
    free(s);
}

/* stdout is lost (main says so): no one reads the rest. */
static int output_lost(void *user)
{
    return cli_flush_stdout() != 0 || ((predictor *)user)->oom;
}

static int parse(cli_globals *g, int argc, char **argv, predictor *p)
{
    const cli_opt table[] = {
        CLI_INT("--top", &p->top, 1, 1000000),
        CLI_INT("--threads", &p->threads, 1, 1024),
        CLI_FLAG("--json", &p->json),
        CLI_OPT_END,
    };
    int rc = cli_parse_argv(g, "predict", argc, argv, table, p->pos, argc, &p->n_pos);
    if (rc == 0 && p->n_pos < 2)
        rc = cli_usage("predict", "missing %s",
                       p->n_pos ? "IMAGE (give at least one file or folder)" : "CHECKPOINT");
    return rc;
}

static void print_summary(const predictor *p, size_t n)
{
    if (p->json) {
        json_t *root = json_object();
        json_object_set_new(root, "checkpoint", json_string(p->pos[0]));
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
static int classify(const cli_globals *g, const tc_image_path *items, size_t n, predictor *p,
                    tc_error *err)
{
    tc_registry *reg = NULL;
    if (cli_load_registry(g, &reg, err) != 0)
        return 1;
    /* the runner's registry, so that --plugin-dir counts */
    tc_model_options mo = {.struct_size = sizeof mo, .threads = (int32_t)p->threads,
                           .registry = reg};
    int rc = !(p->model = tc_model_open(p->pos[0], &mo, err)) ? 1
             : !(p->results = json_array())                   ? tc_error_set(err, "out of memory")
             : tc_model_classify_paths(p->model, items, n, (int)p->top, on_result, output_lost,
                                       p, err);
    if (rc == 0 && p->oom)
        rc = tc_error_set(err, "out of memory");
    if (rc == 0)
        print_summary(p, n);
    json_decref(p->results);
    tc_model_close(p->model); /* the model before the registry it uses */
    tc_registry_free(reg);
    return rc;
}

/* Classifies and prints the images of p->pos[1..]; the exit status. */
static int predict(const cli_globals *g, predictor *p)
{
    tc_set_threads((int)p->threads); /* the image reader's too */
    tc_image_path *items = NULL;
    size_t n = 0;
    tc_error err = {{0}};
    int rc = CLI_EXIT_OK;
    if (tc_image_paths(p->pos + 1, p->n_pos - 1, &items, &n, &err) != 0 ||
        classify(g, items, n, p, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else if (p->failed)
        rc = CLI_EXIT_RUNTIME;
    tc_image_paths_free(items, n);
    return rc;
}

static int run(cli_globals *g, int argc, char **argv)
{
    predictor p = {.top = 3, .pos = calloc((size_t)argc, sizeof(const char *))};
    if (!p.pos)
        return cli_fail("out of memory");
    int rc = parse(g, argc, argv, &p);
    if (rc == 0 && !cli_parse_only)
        rc = predict(g, &p);
    free(p.pos);
    return rc;
}

const cli_command cli_predict_command = {"predict",
                                         "classify PNG or JPEG images (files or folders)", help,
                                         run, NULL};
