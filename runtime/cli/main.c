/* tinycnn: the command-line runner. Dispatches to the subcommands and takes
 * the global options (--help, --version, --plugin-dir); sets up the signals
 * and checks that standard output was written. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"

extern const cli_command cli_export_command, cli_import_command; /* cli_export.c, cli_import.c */
extern const cli_command cli_summary_command, cli_report_command; /* cli_summary.c, cli_report.c */
static const cli_command *const commands[] = {
    &cli_train_command,
    &cli_eval_command,
    &cli_predict_command,
    &cli_plugins_command,
    &cli_check_command,
    &cli_export_command,
    &cli_import_command,
    &cli_summary_command,
    &cli_report_command,
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void print_main_help(FILE *f)
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
}

static void print_version(void)
{
    printf("tinycnn %s (plugin ABI %u, checkpoint format %u)\n", TC_VERSION_STRING,
           TC_PLUGIN_ABI_VERSION, TC_CHECKPOINT_VERSION);
}

static const cli_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static int dispatch(int argc, char **argv)
{
    cli_globals globals;
    memset(&globals, 0, sizeof globals);

    int i = 1;
    for (; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            print_main_help(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(s, "--version") == 0 || strcmp(s, "-V") == 0) {
            print_version();
            return CLI_EXIT_OK;
        }
        if (strcmp(s, "--plugin-dir") == 0 || strncmp(s, "--plugin-dir=", 13) == 0) {
            const char *dir = s[12] == '=' ? s + 13 : (i + 1 < argc ? argv[++i] : NULL);
            if (!dir || !*dir)
                return cli_usage(NULL, "option --plugin-dir needs a folder");
            if (globals.n_plugin_dirs >= CLI_MAX_PLUGIN_DIRS)
                return cli_usage(NULL, "too many --plugin-dir options (at most %d)",
                                 CLI_MAX_PLUGIN_DIRS);
            globals.plugin_dirs[globals.n_plugin_dirs++] = dir;
            continue;
        }
        if (s[0] == '-')
            return cli_usage(NULL, "unknown option %s", s);
        break;
    }
    if (i >= argc) {
        print_main_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        if (i + 1 >= argc) {
            print_main_help(stdout);
            return CLI_EXIT_OK;
        }
        const cli_command *c = find_command(argv[i + 1]);
        if (!c)
            return cli_usage(NULL, "unknown command '%s'", argv[i + 1]);
        fputs(cli_help(c), stdout);
        return CLI_EXIT_OK;
    }
    const cli_command *c = find_command(name);
    if (!c)
        return cli_usage(NULL, "unknown command '%s'", name);
    int cargc = argc - i;
    char **cargv = argv + i;
    if (cli_wants_help(cargc, cargv)) {
        fputs(cli_help(c), stdout);
        return CLI_EXIT_OK;
    }
    return c->run(&globals, cargc, cargv);
}

/* Output is part of the result: a command whose stdout could not be
 * written fails (cli_finish_output), whichever command it was. */
int main(int argc, char **argv)
{
    cli_output_init();
    cli_signals_init();
    return cli_finish_output(dispatch(argc, argv));
}
