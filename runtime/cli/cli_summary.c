/* tinycnn summary: a model's nodes, shapes, weights and FLOPs as a table
 * (tinycnn/summary.h makes it). */
#include <stdlib.h>

#include "cli_common.h"
#include "tinycnn/summary.h"

static const char help[] =
    "usage: tinycnn summary MODEL.json|CHECKPOINT [--json]\n"
    "\n"
    "Prints one line per node of the model: its type, inputs, output shape per\n"
    "image, learnable weights, state elements (running statistics) and forward\n"
    "MFLOPs per image (a multiply-add counts as 2; '-' where the layer type does\n"
    "not count them, and the total then says 'at least'), then the totals.\n"
    "A file starting with '{' is read as a model, any other as a checkpoint.\n"
    "\n"
    "options:\n"
    "  --json            print one JSON object instead of the table\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

static int run(cli_globals *gl, int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0;
    const cli_opt table[] = {CLI_FLAG("--json", &as_json), CLI_OPT_END};
    int rc = cli_parse_one(gl, "summary", argc, argv, table, &path,
                           "missing MODEL.json or CHECKPOINT");
    if (rc != 0 || cli_parse_only)
        return rc;
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_graph *g = NULL;
    tc_summary s = {0};
    char *text = NULL;
    if (cli_load_registry(gl, &reg, &err) != 0 || !(g = tc_summary_open(reg, path, &err)) ||
        tc_summary_make(g, &s, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else if (!(text = as_json ? tc_summary_json(g, &s) : tc_summary_text(g, &s)))
        rc = cli_fail("out of memory");
    else
        cli_print_text(text, as_json);
    free(text);
    tc_summary_free(&s);
    if (g)
        tc_graph_free(g);
    if (reg)
        tc_registry_free(reg);
    return rc;
}

const cli_command cli_summary_command = {
    "summary", "a model's nodes, shapes, weights and FLOPs", help, run, NULL};
