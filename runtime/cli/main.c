/* tinycnn: the command-line runner. Dispatches to the subcommands and takes
 * the global options (--help, --version, --plugin-dir); sets up the signals
 * and checks that standard output was written. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"

static const cli_command *const commands[] = {
    &cli_train_command,   &cli_eval_command,   &cli_predict_command,
    &cli_plugins_command, &cli_check_command,  &cli_export_command,
    &cli_import_command,  &cli_summary_command, &cli_report_command,
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

/* The runner's help on f; returns status. */
static int print_main_help(FILE *f, int status)
{
    fprintf(f,
            "usage: tinycnn [--plugin-dir DIR]... COMMAND [ARGS]\n"
            "\n"
            "Train and run convolutional networks described in JSON model files.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f,
            "  help CMD     show the help of a command\n"
            "\n"
            "global options (valid before or after the command):\n"
            "  --plugin-dir DIR  also load the layer plugins (*.so) in DIR; repeatable\n"
            "  -h, --help        show this help (or a command's, after the command)\n"
            "  --version         show the version\n"
            "\n"
            "Layer plugins are loaded from <executable>/../lib/tinycnn/plugins, then each\n"
            "folder of $TINYCNN_PLUGIN_PATH (colon-separated), then each --plugin-dir.\n"
            "Data is read from --data DIR, else $TINYCNN_DATA, else data/mnist.\n"
            "\n"
            "exit status: 0 success, 1 runtime error (a failed write to standard output\n"
            "             too), 2 usage error, 130/143 training stopped by SIGINT/SIGTERM\n"
            "             (checkpoint written), 128+N killed by signal N (a crash: the\n"
            "             message names the node and plugin that were running)\n");
    return status;
}

static int print_version(void)
{
    printf("tinycnn %s (plugin ABI %u, checkpoint format %u)\n", TC_VERSION_STRING,
           TC_PLUGIN_ABI_VERSION, TC_CHECKPOINT_VERSION);
    return CLI_EXIT_OK;
}

static const cli_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* --help or -h among a command's arguments (before "--") */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static int dispatch(int argc, char **argv)
{
    cli_globals g = {.n_plugin_dirs = 0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) { /* the global options before the command */
        const char *s = argv[i], *dir;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            return print_main_help(stdout, CLI_EXIT_OK);
        if (strcmp(s, "--version") == 0 || strcmp(s, "-V") == 0)
            return print_version();
        if (strncmp(s, "--plugin-dir=", 13) == 0)
            dir = s + 13;
        else if (strcmp(s, "--plugin-dir") == 0)
            dir = i + 1 < argc ? argv[++i] : "";
        else
            return cli_usage(NULL, "unknown option %s", s);
        if (!*dir)
            return cli_usage(NULL, "option --plugin-dir needs a folder");
        if (g.n_plugin_dirs >= CLI_MAX_PLUGIN_DIRS)
            return cli_usage(NULL, "too many --plugin-dir options (at most %d)",
                             CLI_MAX_PLUGIN_DIRS);
        g.plugin_dirs[g.n_plugin_dirs++] = dir;
    }
    if (i >= argc)
        return print_main_help(stderr, CLI_EXIT_USAGE);
    int asked = strcmp(argv[i], "help") == 0; /* "help CMD" */
    if (asked && i + 1 >= argc)
        return print_main_help(stdout, CLI_EXIT_OK);
    const cli_command *c = find_command(argv[i + asked]);
    if (!c)
        return cli_usage(NULL, "unknown command '%s'", argv[i + asked]);
    if (asked || wants_help(argc - i, argv + i)) {
        fputs(c->help_fn ? c->help_fn() : c->help, stdout);
        return CLI_EXIT_OK;
    }
    return c->run(&g, argc - i, argv + i);
}

/* Output is part of the result: a command whose stdout could not be
 * written fails (cli_finish_output), whichever command it was. */
int main(int argc, char **argv)
{
    cli_output_init();
    cli_signals_init();
    return cli_finish_output(dispatch(argc, argv));
}
