/* Shared pieces of the tinycnn runner: option parsing, error reporting,
 * plugin loading, checkpoints, standard output, signals. */
#ifndef TC_CLI_COMMON_H
#define TC_CLI_COMMON_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tinycnn/tinycnn.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

#define CLI_MAX_PLUGIN_DIRS 64

/* Options every subcommand accepts. */
typedef struct cli_globals {
    const char *plugin_dirs[CLI_MAX_PLUGIN_DIRS]; /* --plugin-dir, in order given */
    int n_plugin_dirs;
} cli_globals;

/* A subcommand; help_fn (may be NULL) makes the help text at run time. */
typedef struct cli_command {
    const char *name, *summary, *help;
    int (*run)(cli_globals *g, int argc, char **argv); /* argv[0] is the command name */
    const char *(*help_fn)(void);
} cli_command;

/* Set by the option-parser fuzzer (tests/fuzz/fuzz_cli.c): each command
 * returns right after parsing its options, 0 when they parse. */
extern int cli_parse_only;

extern const cli_command cli_train_command, cli_eval_command, cli_predict_command,
    cli_plugins_command, cli_check_command, cli_export_command, cli_import_command,
    cli_summary_command, cli_report_command;

/* "tinycnn: <message>" on stderr; returns CLI_EXIT_RUNTIME. */
int cli_fail(const char *fmt, ...) TC_PRINTF(1, 2);

/* "tinycnn CMD: <message>; see 'tinycnn CMD --help'" on stderr (cmd NULL:
 * the runner's own); returns CLI_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) TC_PRINTF(2, 3);

/* ---- option parsing (cli_opts.c) ---------------------------------------
 * A walk over argv[1..argc): "--name value", "--name=value", "-o value";
 * "--" ends the options, "-" alone is a positional argument; --plugin-dir
 * DIR is taken for every command. */
typedef struct cli_args {
    const char *cmd;
    int argc;
    char **argv;
    int i, only_positional;
    const char *opt;          /* the current option as written, without "=value" */
    const char *inline_value; /* value after '=', or NULL */
    char optbuf[128];
    cli_globals *globals;
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv, cli_globals *g);

/* The current option's value (non-zero after the usage error when it is
 * missing); for an option without one, cli_no_value refuses "=value". */
int cli_value(cli_args *a, const char **out);
int cli_no_value(cli_args *a);

/* A command's options as a table: each entry names an option, its kind and
 * where its value goes. Numbers are strict (the whole value, in range; the
 * message gives the range). */
typedef enum cli_opt_kind {
    CLI_OPT_FLAG,   /* int *: set to 1; a value with '=' is refused */
    CLI_OPT_INT,    /* int64_t *, in [lo, hi] */
    CLI_OPT_DOUBLE, /* double *, in [dlo, dhi] (lo_open / hi_open: the end refused) */
    CLI_OPT_STRING  /* const char **; one of choices (NULL-terminated) when given */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name; /* "--limit"; NULL ends the table */
    cli_opt_kind kind;
    void *out;
    int64_t lo, hi;
    double dlo, dhi;
    int lo_open, hi_open;
    const char *const *choices;
    int nonempty; /* CLI_OPT_STRING: '' refused ("needs a file name") */
} cli_opt;

/* Parses argv[1..) for the command cmd: options into their outputs, the
 * positional arguments in order into pos[0..max_pos), their count into
 * *n_pos (one more is "unexpected argument 'X'"). Returns 0, or
 * CLI_EXIT_USAGE after printing the usage error. */
int cli_parse_argv(cli_globals *g, const char *cmd, int argc, char **argv, const cli_opt *opts,
                   const char **pos, int max_pos, int *n_pos);

/* cli_parse_argv for a command of one positional argument, *pos (left as
 * it is when absent: then the usage error `missing`). */
int cli_parse_one(cli_globals *g, const char *cmd, int argc, char **argv, const cli_opt *opts,
                  const char **pos, const char *missing);

/* The same on a, where other (may be NULL) is asked first about each
 * option: 0 when it took it, 1 after a usage error, -1 when it is not its
 * own (then looked up in opts). */
typedef int (*cli_opt_fn)(cli_args *a, void *user);
int cli_parse_with(cli_args *a, const cli_opt *opts, cli_opt_fn other, void *user,
                   const char **pos, int max_pos, int *n_pos);

/* Table entries (designated, so that the unused fields stay zero). */
#define CLI_FLAG(n, p) {.name = (n), .kind = CLI_OPT_FLAG, .out = (int *){p}}
#define CLI_INT(n, p, l, h) \
    {.name = (n), .kind = CLI_OPT_INT, .out = (int64_t *){p}, .lo = (l), .hi = (h)}
#define CLI_DOUBLE(n, p, l, lopen, h, hopen)                                          \
    {.name = (n), .kind = CLI_OPT_DOUBLE, .out = (double *){p}, .dlo = (l), .dhi = (h), \
     .lo_open = (lopen), .hi_open = (hopen)}
#define CLI_STRING(n, p) {.name = (n), .kind = CLI_OPT_STRING, .out = (const char **){p}}
#define CLI_FILE(n, p) \
    {.name = (n), .kind = CLI_OPT_STRING, .out = (const char **){p}, .nonempty = 1}
#define CLI_CHOICE(n, p, c) \
    {.name = (n), .kind = CLI_OPT_STRING, .out = (const char **){p}, .choices = (c)}
#define CLI_OPT_END {.name = NULL}

/* ---- plugins, data, checkpoints ----------------------------------------*/

/* The plugins tc_plugin_discover finds (beside the library, then
 * $TINYCNN_PLUGIN_PATH), then each --plugin-dir (a missing one is an
 * error); never the current folder implicitly. Prints the registry's
 * warnings. Owner of *out: the caller (tc_registry_free). */
int cli_load_registry(const cli_globals *g, tc_registry **out, tc_error *err);

/* --data, else $TINYCNN_DATA, else data/mnist. */
const char *cli_data_dir(const char *opt);

/* path with the extension of its last component (if any) replaced by ext:
 * ("dir/m.json", ".onnx") -> "dir/m.onnx". NULL when out of memory. Owner:
 * the caller. */
char *cli_with_extension(const char *path, const char *ext);

/* Reads a checkpoint and builds its graph with the weights loaded. Owner of
 * *graph and *ck: the caller. */
int cli_open_checkpoint(const tc_registry *reg, const char *path, tc_checkpoint *ck,
                        tc_graph **graph, tc_error *err);

/* ---- standard output: part of the result -------------------------------
 * A failed write to stdout (full disk, closed pipe or descriptor, file-size
 * limit) fails the command. cli_output_init (first in main) puts /dev/null
 * on closed descriptors 0-2, read-only on stdout, so that no file opened
 * becomes stdout. cli_print_json prints v (freed) with a newline;
 * cli_flush_stdout flushes; both return 0 or the errno of the failed write,
 * remembered. cli_stdout_lost prints once "tinycnn: writing standard
 * output: <reason>[; <fmt...>]". cli_finish_output (last in main) closes
 * stdout and returns status, or CLI_EXIT_RUNTIME (after the message) when a
 * write failed. */
void cli_output_init(void);
int cli_print_json(json_t *v);
/* Prints text (and a newline when asked) so that a full disk is reported
 * as such, however long the text. */
void cli_print_text(const char *text, int newline);
int cli_flush_stdout(void);
void cli_stdout_lost(const char *fmt, ...) TC_PRINTF(1, 2);
int cli_finish_output(int status);

/* ---- signals (cli_signals.c) -------------------------------------------
 * cli_signals_init (main): SIGPIPE and SIGXFSZ ignored (a failed write is
 * reported like a full disk); SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT
 * reported from an alternate stack, naming the running node of a watched
 * graph, then the process dies of the signal (status 128+N).
 * cli_watch_run (train): watches g; a crash, an exit() meanwhile (status 1)
 * and a second SIGINT or SIGTERM name its running node and the checkpoint
 * left: last_good (may be NULL) until cli_watch_saved says out_path was
 * written. The first SIGINT or SIGTERM sets *stop to the signal: the run
 * stops at the next batch. step_timeout > 0: a pass running longer ends
 * the run (status 1). cli_watch_end stops watching and restores SIGINT and
 * SIGTERM. */
void cli_signals_init(void);
void cli_watch_run(const tc_graph *g, const char *out_path, const char *last_good,
                   volatile sig_atomic_t *stop, double step_timeout);
void cli_watch_saved(void);
void cli_watch_end(void);

#endif
