/* Shared pieces of the tinycnn runner: option parsing, error reporting,
 * plugin discovery, number formatting, checkpoint <-> graph transfer. */
#ifndef TC_CLI_COMMON_H
#define TC_CLI_COMMON_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tinycnn/model.h"
#include "tinycnn/snapshot.h"
#include "tinycnn/format.h"
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

/* Set by the option-parser fuzzer (tests/fuzz/fuzz_cli.c): each command
 * returns right after parsing its options, 0 when they parse. */
extern int cli_parse_only;

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

/* path with its extension (if its last component has one) replaced by ext
 * (".onnx"): "dir/m.json" -> "dir/m.onnx". NULL when out of memory. Owner:
 * the caller. */
char *cli_with_extension(const char *path, const char *ext);

/* Reads a checkpoint and builds its graph with the weights loaded. Owner of
 * *graph and *ck: the caller. */
int cli_open_checkpoint(const tc_registry *reg, const char *path, tc_checkpoint *ck,
                        tc_graph **graph, tc_error *err);

/* ---- output ------------------------------------------------------------*/

/* Prints a JSON value to stdout followed by a newline and flushes; frees
 * it. Returns 0, or the errno of a failed write (cli_finish_output reports
 * it). */
int cli_print_json(json_t *v);

/* ---- standard output: part of the result -------------------------------
 * A write to stdout that fails (full disk, closed pipe, closed descriptor,
 * file-size limit) fails the command. cli_output_init (first thing in main)
 * puts /dev/null on closed descriptors 0-2 so that no file the command opens
 * becomes its stdout (a closed stdout gets a read-only one: writes fail with
 * EBADF). cli_flush_stdout flushes and returns 0 or the errno of the failed
 * write, remembered. cli_stdout_lost prints once "tinycnn: writing standard
 * output: <reason>" plus what follows (may be NULL). cli_finish_output (last
 * thing in main) flushes and closes stdout and returns status, or
 * CLI_EXIT_RUNTIME (after the message, if not printed yet) when any write
 * failed. */
void cli_output_init(void);
int cli_flush_stdout(void);
void cli_stdout_lost(const char *fmt, ...) TC_PRINTF(1, 2);
int cli_finish_output(int status);

/* ---- signals (cli_signals.c) -------------------------------------------
 * The library never changes signal settings; the runner does.
 * cli_signals_init (main): SIGPIPE and SIGXFSZ ignored, so that a closed
 * pipe or a file-size limit is a failed write (EPIPE, EFBIG) reported like a
 * full disk; SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT reported from a
 * handler on an alternate stack (stack overflows too), naming the node,
 * layer type and plugin whose callback was running when a graph is watched,
 * then the process dies of the same signal (status 128+N).
 * cli_watch_run (train, around the run): watches g; the crash report, an
 * exit() called meanwhile (reported, exit status 1) and a second SIGINT or
 * SIGTERM name its running node and the checkpoint: last_good (may be NULL)
 * until cli_watch_saved says out_path was written. The first SIGINT or
 * SIGTERM sets *stop (to the signal) and says that the run stops at the next
 * batch boundary; the second ends the run at once. step_timeout > 0: a
 * forward or backward pass running longer ends the run (exit status 1).
 * cli_watch_end restores SIGINT and SIGTERM and stops watching. */
void cli_signals_init(void);
void cli_watch_run(const tc_graph *g, const char *out_path, const char *last_good,
                   volatile sig_atomic_t *stop, double step_timeout);
void cli_watch_saved(void);
void cli_watch_end(void);

/* Returns 1 if s ends with --help / -h anywhere among argv[1..argc). */
int cli_wants_help(int argc, char **argv);

/* ---- option tables (cli_opts.c) -----------------------------------------
 * A command's options as a table, parsed with the cli_args walk above: each
 * entry names an option, its kind and where its value goes. Messages are
 * those of cli_value, cli_no_value, cli_int, cli_double and cli_unknown. */
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

/* Parses argv[1..) of a against opts: options into their outputs, the
 * positional arguments, in order, into pos[0..max_pos) with their count in
 * *n_pos (more than max_pos is the usage error "unexpected argument 'X'").
 * Returns 0, or CLI_EXIT_USAGE after printing the usage error. */
int cli_parse(cli_args *a, const cli_opt *opts, const char **pos, int max_pos, int *n_pos);

/* cli_parse of a cli_args_init for the command cmd (what every command's
 * option parsing starts with). */
int cli_parse_argv(cli_globals *g, const char *cmd, int argc, char **argv, const cli_opt *opts,
                   const char **pos, int max_pos, int *n_pos);

/* cli_parse, where other (may be NULL) is asked first about each option:
 * it returns 0 when it took the option, 1 after a usage error, -1 when the
 * option is not its own (then looked up in opts). */
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

#endif
