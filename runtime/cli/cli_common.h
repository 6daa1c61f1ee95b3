/* Shared pieces of the tinycnn runner: option parsing, error reporting,
 * plugin discovery, number formatting, checkpoint <-> graph transfer. */
#ifndef TC_CLI_COMMON_H
#define TC_CLI_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tinycnn/model.h"
#include "tinycnn/snapshot.h"
#include "tinycnn/tinycnn.h"
#include "tinycnn/train.h"

/* Exit statuses. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

#define CLI_MAX_PLUGIN_DIRS 64

/* Options every subcommand accepts. */
typedef struct cli_globals {
    const char *plugin_dirs[CLI_MAX_PLUGIN_DIRS]; /* --plugin-dir, in order given */
    int n_plugin_dirs;
} cli_globals;

/* A subcommand: name, one-line summary, full help text, entry point. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    const char *help;
    int (*run)(cli_globals *g, int argc, char **argv); /* argv[0] is the command name */
    const char *(*help_fn)(void); /* when the help is made at run time (NULL: help) */
} cli_command;

/* The help text of command c. */
static inline const char *cli_help(const cli_command *c)
{
    return c->help_fn ? c->help_fn() : c->help;
}

extern const cli_command cli_train_command;
extern const cli_command cli_eval_command;
extern const cli_command cli_predict_command;
extern const cli_command cli_plugins_command;
extern const cli_command cli_check_command;

/* "tinycnn: <message>" on stderr; returns CLI_EXIT_RUNTIME. */
int cli_fail(const char *fmt, ...) TC_PRINTF(1, 2);

/* One line "tinycnn CMD: <message>; see 'tinycnn CMD --help'" on stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) TC_PRINTF(2, 3);

/* ---- option parsing ----------------------------------------------------
 * Walks argv[1..argc): "--name value", "--name=value", "-o value", "--" ends
 * options. --plugin-dir DIR is taken here for every command. */
typedef struct cli_args {
    const char *cmd;
    int argc;
    char **argv;
    int i;
    int only_positional;
    const char *opt;    /* the current option as written, without "=value" */
    const char *inline_value; /* value after '=', or NULL */
    char optbuf[128];
    cli_globals *globals;
} cli_args;

enum { CLI_ARG_END = 0, CLI_ARG_OPTION = 1, CLI_ARG_POSITIONAL = 2, CLI_ARG_ERROR = 3 };

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv, cli_globals *g);

/* Next item: CLI_ARG_OPTION (a->opt set), CLI_ARG_POSITIONAL (*pos set),
 * CLI_ARG_END, or CLI_ARG_ERROR (message printed; exit CLI_EXIT_USAGE). */
int cli_next(cli_args *a, const char **pos);

/* The current option's value; prints a usage error and returns non-zero if
 * it is missing. */
int cli_value(cli_args *a, const char **out);

/* For an option without a value: fails if one was given with '='. */
int cli_no_value(cli_args *a);

/* Unknown option (usage error). */
int cli_unknown(cli_args *a);

/* Strict number parsing for an option's value; the error names the option
 * and the value and gives the allowed range. */
int cli_int(cli_args *a, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_u64(cli_args *a, const char *s, uint64_t *out);
/* lo_open: lo itself is refused; hi_open likewise. */
int cli_double(cli_args *a, const char *s, double lo, int lo_open, double hi, int hi_open,
               double *out);

/* ---- plugins -----------------------------------------------------------
 * Loads the plugins tc_plugin_discover finds: beside the library (for the
 * runner, dirname(/proc/self/exe)/../lib/tinycnn/plugins, if that folder
 * exists), each folder of $TINYCNN_PLUGIN_PATH (missing ones skipped,
 * relative ones skipped with a warning), then each --plugin-dir (missing ones
 * are an error). Never the current folder implicitly. Prints the registry's
 * warnings. Owner of *out: the caller (tc_registry_free). */
int cli_load_registry(const cli_globals *g, tc_registry **out, tc_error *err);

/* ---- models, data, checkpoints -----------------------------------------*/

/* --data, else $TINYCNN_DATA, else data/mnist. */
const char *cli_data_dir(const char *opt);

/* Reads a checkpoint and builds its graph with the weights loaded. Owner of
 * *graph and *ck: the caller. */
int cli_open_checkpoint(const tc_registry *reg, const char *path, tc_checkpoint *ck,
                        tc_graph **graph, tc_error *err);

/* ---- output ------------------------------------------------------------*/

/* 12345678 -> "12,345,678" into buf (at least 32 bytes). */
/* The checkpoint metadata's "class_names" when it is an array of
 * n_classes strings (a new reference), else NULL: numbers stand for the
 * classes. cli_class_name(names, i) is then names[i] or NULL. */
json_t *cli_class_names(const tc_checkpoint *ck, int64_t n_classes);
const char *cli_class_name(const json_t *names, int64_t i);

const char *cli_group(char *buf, size_t cap, int64_t v);

/* "1h02m", "3m05s", "12s". */
const char *cli_duration(char *buf, size_t cap, double seconds);

/* Prints a JSON value to stdout followed by a newline; frees it. */
void cli_print_json(json_t *v);

/* Returns 1 if s ends with --help / -h anywhere among argv[1..argc). */
int cli_wants_help(int argc, char **argv);

#endif
