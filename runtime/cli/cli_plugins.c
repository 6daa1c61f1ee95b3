/* tinycnn plugins: every registered layer type with its parameters
 * (tinycnn/registry_describe.h describes them). */
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "tinycnn/registry_describe.h"

static const char help[] =
    "usage: tinycnn plugins [--json] [--plugin-dir DIR]...\n"
    "\n"
    "Lists every registered layer type: the plugin file it came from, how many\n"
    "inputs it takes, and its parameters with type, default, range and help.\n"
    "\n"
    "options:\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

static int run(cli_globals *g, int argc, char **argv)
{
    int as_json = 0, n_pos;
    const cli_opt table[] = {CLI_FLAG("--json", &as_json), CLI_OPT_END};
    if (cli_parse_argv(g, "plugins", argc, argv, table, NULL, 0, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (cli_parse_only)
        return CLI_EXIT_OK;
    tc_error err = {{0}};
    tc_registry *reg;
    if (cli_load_registry(g, &reg, &err) != 0)
        return cli_fail("%s", err.msg);
    char *text = as_json ? tc_registry_describe_json(reg) : tc_registry_describe_text(reg);
    int rc = text ? CLI_EXIT_OK
                  : cli_fail(as_json ? "out of memory formatting the JSON output"
                                     : "out of memory listing the layer types");
    cli_print_text(text ? text : "", text && as_json);
    free(text);
    tc_registry_free(reg);
    return rc;
}

const cli_command cli_plugins_command = {"plugins", "list the layer types and their parameters",
                                         help, run, NULL};
