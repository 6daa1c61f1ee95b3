/* tinycnn report: a checkpoint's training run as an HTML page with pictures. */

#include "cli_common.h"
#include "tinycnn/report.h"

static const char help[] =
    "usage: tinycnn report CHECKPOINT -o DIR [--data DIR] [--limit N] [--mistakes N]\n"
    "                      [--batch-size N] [--threads N]\n"
    "\n"
    "Writes DIR/index.html, one self-contained page (open it in a browser; it\n"
    "loads nothing from elsewhere): the loss, accuracy and learning-rate curves\n"
    "over the epochs of the checkpoint's history, the test split's confusion\n"
    "matrix as a heat map with per-class precision, recall and F1, the most\n"
    "confidently misclassified test images, the model graph and its summary.\n"
    "The pictures are also written alone: curves.svg, confusion.svg, graph.svg,\n"
    "mistakes.png (with mistakes.json: the test image of each tile).\n"
    "\n"
    "options:\n"
    "  -o, --output DIR  folder to write (made if missing)\n"
    "  --data DIR        data folder (default: $TINYCNN_DATA, else data/mnist)\n"
    "  --limit N         evaluate only the first N test images (0: all)\n"
    "  --mistakes N      show at most N misclassified images (default 32)\n"
    "  --batch-size N    images per forward pass (default 256)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

typedef struct report_args {
    const char *ckpt, *out, *data;
    int64_t limit, mistakes, batch, threads;
} report_args;

static int parse(cli_globals *g, int argc, char **argv, report_args *r)
{
    const cli_opt table[] = {
        CLI_STRING("-o", &r->out),
        CLI_STRING("--output", &r->out),
        CLI_STRING("--data", &r->data),
        CLI_INT("--limit", &r->limit, 0, INT64_MAX),
        CLI_INT("--mistakes", &r->mistakes, 1, 1024),
        CLI_INT("--batch-size", &r->batch, 1, 65536),
        CLI_INT("--threads", &r->threads, 1, 1024),
        CLI_OPT_END,
    };
    int rc = cli_parse_one(g, "report", argc, argv, table, &r->ckpt, "missing CHECKPOINT");
    if (rc == 0 && !r->out)
        rc = cli_usage("report", "missing -o DIR (the folder to write)");
    return rc;
}

static int run(cli_globals *g, int argc, char **argv)
{
    report_args r = {0};
    int rc = parse(g, argc, argv, &r);
    if (rc != 0 || cli_parse_only)
        return rc;
    tc_set_threads((int)r.threads);
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    if (cli_load_registry(g, &reg, &err) != 0)
        return cli_fail("%s", err.msg);
    tc_report_options o = {reg, r.ckpt, cli_data_dir(r.data), r.limit, (int)r.batch,
                           (int)r.mistakes};
    tc_report_result res;
    rc = tc_report_write(&o, r.out, &res, &err);
    tc_registry_free(reg);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("report of %s: %d epochs, test accuracy %.2f%% (%lld/%lld), %d mistakes shown\n",
           r.ckpt, res.epochs,
           res.test_images ? 100.0 * (double)res.correct / (double)res.test_images : 0.0,
           (long long)res.correct, (long long)res.test_images, res.n_mistakes);
    printf("wrote %s/index.html (and curves.svg, confusion.svg, graph.svg, mistakes.png, "
           "mistakes.json)\n", r.out);
    return CLI_EXIT_OK;
}

const cli_command cli_report_command = {
    "report", "a training run as an HTML page: curves, confusion, mistakes", help,
    run, NULL};
