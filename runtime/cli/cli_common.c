#define _XOPEN_SOURCE 700
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "tinycnn: %s\n", msg);
    return CLI_EXIT_RUNTIME;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (cmd)
        fprintf(stderr, "tinycnn %s: %s; see 'tinycnn %s --help'\n", cmd, msg, cmd);
    else
        fprintf(stderr, "tinycnn: %s; see 'tinycnn --help'\n", msg);
    return CLI_EXIT_USAGE;
}

/* ---- option parsing ---------------------------------------------------- */

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv, cli_globals *g)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
    a->globals = g;
}

int cli_value(cli_args *a, const char **out)
{
    if (a->inline_value) {
        *out = a->inline_value;
        return 0;
    }
    if (a->i >= a->argc) {
        cli_usage(a->cmd, "option %s needs a value", a->opt);
        return 1;
    }
    *out = a->argv[a->i++];
    return 0;
}

int cli_no_value(cli_args *a)
{
    if (a->inline_value) {
        cli_usage(a->cmd, "option %s takes no value (got '%s')", a->opt, a->inline_value);
        return 1;
    }
    return 0;
}

int cli_unknown(cli_args *a)
{
    cli_usage(a->cmd, "unknown option %s", a->opt);
    return 1;
}

int cli_next(cli_args *a, const char **pos)
{
    for (;;) {
        if (a->i >= a->argc)
            return CLI_ARG_END;
        const char *s = a->argv[a->i++];
        if (a->only_positional || s[0] != '-' || s[1] == 0) { /* "-" alone is a name */
            *pos = s;
            return CLI_ARG_POSITIONAL;
        }
        if (strcmp(s, "--") == 0) {
            a->only_positional = 1;
            continue;
        }
        a->inline_value = NULL;
        const char *eq = s[1] == '-' ? strchr(s, '=') : NULL;
        if (eq) {
            size_t n = (size_t)(eq - s);
            if (n >= sizeof a->optbuf)
                n = sizeof a->optbuf - 1;
            memcpy(a->optbuf, s, n);
            a->optbuf[n] = 0;
            a->opt = a->optbuf;
            a->inline_value = eq + 1;
        } else {
            a->opt = s;
        }
        if (strcmp(a->opt, "--plugin-dir") == 0) {
            const char *dir;
            if (cli_value(a, &dir) != 0)
                return CLI_ARG_ERROR;
            if (a->globals->n_plugin_dirs >= CLI_MAX_PLUGIN_DIRS) {
                cli_usage(a->cmd, "too many --plugin-dir options (at most %d)", CLI_MAX_PLUGIN_DIRS);
                return CLI_ARG_ERROR;
            }
            if (!*dir) {
                cli_usage(a->cmd, "option --plugin-dir needs a folder, got ''");
                return CLI_ARG_ERROR;
            }
            a->globals->plugin_dirs[a->globals->n_plugin_dirs++] = dir;
            continue;
        }
        return CLI_ARG_OPTION;
    }
}

int cli_int(cli_args *a, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == 0 || *end != 0 || errno == ERANGE || end == s || v < lo || v > hi) {
        if (hi == INT64_MAX || hi >= (int64_t)1 << 53)
            cli_usage(a->cmd, "invalid value '%s' for %s (expected an integer >= %lld)", s, a->opt,
                      (long long)lo);
        else
            cli_usage(a->cmd, "invalid value '%s' for %s (expected an integer from %lld to %lld)",
                      s, a->opt, (long long)lo, (long long)hi);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_u64(cli_args *a, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    /* strtoull accepts "-1" as a huge number; refuse any sign. */
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != 0 || errno == ERANGE) {
        cli_usage(a->cmd, "invalid value '%s' for %s (expected an integer from 0 to %llu)", s,
                  a->opt, (unsigned long long)UINT64_MAX);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_double(cli_args *a, const char *s, double lo, int lo_open, double hi, int hi_open,
               double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    int bad = *s == 0 || *end != 0 || errno == ERANGE || !isfinite(v) || (lo_open ? v <= lo : v < lo) ||
              (hi_open ? v >= hi : v > hi);
    if (bad) {
        char range[128];
        if (isinf(hi))
            snprintf(range, sizeof range, "a number %s %g", lo_open ? ">" : ">=", lo);
        else
            snprintf(range, sizeof range, "a number in %s%g, %g%s", lo_open ? "(" : "[", lo, hi,
                     hi_open ? ")" : "]");
        cli_usage(a->cmd, "invalid value '%s' for %s (expected %s)", s, a->opt, range);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* ---- plugins ----------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Plugins skipped for safety (world-writable files) are worth a word. */
static void print_warnings(const tc_registry *reg)
{
    for (int i = 0; i < tc_registry_n_warnings(reg); i++)
        fprintf(stderr, "tinycnn: warning: %s\n", tc_registry_warning(reg, i));
}

int cli_load_registry(const cli_globals *g, tc_registry **out, tc_error *err)
{
    *out = NULL;
    /* named on the command line: say which option, before loading anything */
    for (int i = 0; i < g->n_plugin_dirs; i++)
        if (!is_dir(g->plugin_dirs[i]))
            return tc_error_set(err, "--plugin-dir %s: no such folder", g->plugin_dirs[i]);
    tc_registry *reg = tc_registry_new();
    if (!reg)
        return tc_error_set(err, "out of memory");
    int rc = tc_plugin_discover(reg, g->plugin_dirs, g->n_plugin_dirs, err);
    if (rc == TC_DISCOVER_NONE) {
        char msg[TC_ERROR_CAP];
        snprintf(msg, sizeof msg, "%s", err->msg);
        tc_error_set(err, "%s; use --plugin-dir DIR or TINYCNN_PLUGIN_PATH", msg);
    }
    print_warnings(reg);
    if (rc != 0) {
        tc_registry_free(reg);
        return 1;
    }
    *out = reg;
    return 0;
}

/* ---- models, data, checkpoints ----------------------------------------- */

const char *cli_data_dir(const char *opt)
{
    if (opt && *opt)
        return opt;
    const char *env = getenv("TINYCNN_DATA");
    if (env && *env)
        return env;
    return "data/mnist";
}

char *cli_with_extension(const char *path, const char *ext)
{
    size_t n = strlen(path), n_ext = strlen(ext);
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash) && dot != path)
        n = (size_t)(dot - path);
    char *out = malloc(n + n_ext + 1);
    if (out) {
        memcpy(out, path, n);
        memcpy(out + n, ext, n_ext + 1);
    }
    return out;
}

int cli_open_checkpoint(const tc_registry *reg, const char *path, tc_checkpoint *ck,
                        tc_graph **graph, tc_error *err)
{
    *graph = NULL;
    memset(ck, 0, sizeof *ck);
    if (tc_checkpoint_read(path, ck, err) != 0)
        return 1;
    /* what the inference API does with a checkpoint, checks and messages alike */
    if (tc_checkpoint_graph(reg, ck, path, graph, err) != 0) {
        tc_checkpoint_free(ck);
        return 1;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------ */

/* The errno of the first failed write to stdout (0: none yet), and whether
 * the loss was reported. */
static int stdout_errno;
static int stdout_reported;

static int note_stdout_error(int e)
{
    if (!stdout_errno)
        stdout_errno = e ? e : EIO;
    return stdout_errno;
}

int cli_flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout))
        return note_stdout_error(errno);
    return 0;
}

int cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(v);
    if (!s) {
        cli_fail("out of memory formatting the JSON output");
        return note_stdout_error(ENOMEM);
    }
    errno = 0;
    int bad = fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF;
    free(s);
    if (bad)
        return note_stdout_error(errno);
    return cli_flush_stdout();
}

void cli_output_init(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* read-only on stdout: a closed stdout stays an error, never a file */
        int nfd = open("/dev/null", fd == 2 ? O_WRONLY : O_RDONLY);
        if (nfd >= 0 && nfd != fd) {
            dup2(nfd, fd);
            close(nfd);
        }
    }
}

void cli_stdout_lost(const char *fmt, ...)
{
    if (stdout_reported)
        return;
    stdout_reported = 1;
    char more[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(more, sizeof more, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "tinycnn: writing standard output: %s%s%s\n",
            strerror(stdout_errno ? stdout_errno : EIO), *more ? "; " : "", more);
}

int cli_finish_output(int status)
{
    cli_flush_stdout();
    errno = 0;
    if (fclose(stdout) != 0 && errno != EBADF) /* EBADF with nothing pending: fine */
        note_stdout_error(errno);
    if (!stdout_errno)
        return status;
    cli_stdout_lost(NULL);
    return status == CLI_EXIT_OK ? CLI_EXIT_RUNTIME : status;
}
