/* tinycnn eval: accuracy, confusion matrix and per-class metrics of a
 * checkpoint on one split of a data set, optionally a result per image
 * (tinycnn/evaluation.h does the work). */
#include <stdlib.h>

#include "cli_common.h"
#include "tinycnn/evaluation.h"

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

static int parse(cli_globals *g, int argc, char **argv, tc_evaluation_config *c,
                 int64_t *threads, int *json)
{
    static const char *const splits[] = {"train", "val", "test", NULL};
    int64_t batch = 256;
    const cli_opt table[] = {
        CLI_STRING("--data", &c->data_dir),
        CLI_CHOICE("--split", &c->split, splits),
        CLI_STRING("--per-image", &c->per_image),
        CLI_INT("--limit", &c->limit, 0, INT64_MAX),
        CLI_INT("--batch-size", &batch, 1, 65536),
        CLI_INT("--threads", threads, 1, 1024),
        CLI_FLAG("--json", json),
        CLI_OPT_END,
    };
    int n_pos;
    if (cli_parse_argv(g, "eval", argc, argv, table, &c->checkpoint, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    c->batch_size = (int)batch;
    if (n_pos == 0)
        return cli_usage("eval", "missing CHECKPOINT");
    if (c->per_image && !*c->per_image)
        return cli_usage("eval", "option --per-image needs a file name, got ''");
    return 0;
}

static int run(cli_globals *g, int argc, char **argv)
{
    tc_evaluation_config c = {.split = "test"};
    int64_t threads = 0;
    int json = 0;
    int rc = parse(g, argc, argv, &c, &threads, &json);
    if (rc != 0 || cli_parse_only)
        return rc;
    tc_set_threads((int)threads);
    c.data_dir = cli_data_dir(c.data_dir);
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_evaluation *e = NULL;
    char *text = NULL;
    if (cli_load_registry(g, &reg, &err) == 0) {
        c.registry = reg;
        e = tc_evaluation_run(&c, &err);
    }
    if (!e)
        rc = cli_fail("%s", err.msg);
    else if (!(text = json ? tc_evaluation_json(e) : tc_evaluation_text(e)))
        rc = cli_fail(json ? "out of memory formatting the JSON output"
                           : "out of memory formatting the results");
    else
        cli_print_text(text, json);
    free(text);
    tc_evaluation_free(e);
    if (reg)
        tc_registry_free(reg);
    return rc;
}

const cli_command cli_eval_command = {"eval", "evaluate a checkpoint on a split of its data",
                                      help, run, NULL};
