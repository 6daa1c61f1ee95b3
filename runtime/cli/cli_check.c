/* tinycnn check-plugin: runs the plugin conformance suite, the program
 * tinycnn-conformance installed beside this one, with the same arguments. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"

static const char help[] =
    "usage: tinycnn check-plugin [--type NAME]... [--plugin-dir DIR]...\n"
    "                            [--check-timeout SECONDS] [PLUGIN.so]...\n"
    "\n"
    "Runs the layer plugin conformance suite (tinycnn-conformance, installed beside\n"
    "tinycnn) on the layer types PLUGIN.so registers, or, without PLUGIN.so, on\n"
    "every layer type found in the plugin folders. For each type it checks the\n"
    "metadata, construction and refusal of bad parameters, shape inference,\n"
    "gradients against finite differences, determinism, use from two threads and\n"
    "the checkpoint round trip, and prints the CUnit summary. Each check runs in\n"
    "a child process: a plugin that crashes (a signal in any thread), calls exit()\n"
    "or hangs fails that check with the reason, and the other checks still run.\n"
    "\n"
    "options:\n"
    "  --type NAME       check only the layer type NAME (repeatable)\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n"
    "  --list            list the layer types that would be checked\n"
    "  --check-timeout SECONDS\n"
    "                    time limit of each check (default 300; also the variable\n"
    "                    TINYCNN_CHECK_TIMEOUT)\n"
    "\n"
    "exit status: 0 every check passed, 1 a check failed, 2 usage error.\n"
    "'tinycnn-conformance --help' describes every check.\n";

static int run(cli_globals *g, int argc, char **argv)
{
    char exe[PATH_MAX], tool[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return cli_fail("check-plugin: cannot find this program's folder: %s", strerror(errno));
    exe[n] = 0;
    *strrchr(exe, '/') = 0; /* the link is an absolute path */
    snprintf(tool, sizeof tool, "%s/tinycnn-conformance", exe);
    if (access(tool, X_OK) != 0)
        return cli_fail("check-plugin: %s: %s (it is built and installed with tinycnn)", tool,
                        strerror(errno));
    /* the global --plugin-dir options (given before the command) first */
    char **args = calloc((size_t)argc + 2 * (size_t)g->n_plugin_dirs + 1, sizeof *args);
    if (!args)
        return cli_fail("out of memory");
    int k = 0;
    args[k++] = tool;
    for (int i = 0; i < g->n_plugin_dirs; i++) {
        args[k++] = "--plugin-dir";
        args[k++] = (char *)g->plugin_dirs[i];
    }
    for (int i = 1; i < argc; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    fflush(NULL);
    execv(tool, args);
    int e = errno;
    free(args);
    return cli_fail("check-plugin: cannot run %s: %s", tool, strerror(e));
}

const cli_command cli_check_command = {"check-plugin", "run the plugin conformance suite",
                                       help, run, NULL};
