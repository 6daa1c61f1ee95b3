/* The runner's messages, plugin loading, checkpoints and standard output
 * (see cli_common.h). */
#define _XOPEN_SOURCE 700
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* buf (an array) from fmt and the arguments after it */
#define FORMAT(buf, fmt)                     \
    do {                                     \
        va_list ap;                          \
        va_start(ap, fmt);                   \
        vsnprintf(buf, sizeof buf, fmt, ap); \
        va_end(ap);                          \
    } while (0)

int cli_fail(const char *fmt, ...)
{
    char msg[2048];
    FORMAT(msg, fmt);
    fflush(stdout);
    fprintf(stderr, "tinycnn: %s\n", msg);
    return CLI_EXIT_RUNTIME;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    FORMAT(msg, fmt);
    fflush(stdout);
    fprintf(stderr, "tinycnn%s%s: %s; see 'tinycnn %s%s--help'\n", cmd ? " " : "", cmd ? cmd : "",
            msg, cmd ? cmd : "", cmd ? " " : "");
    return CLI_EXIT_USAGE;
}

/* ---- plugins ----------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
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
    size_t n = strlen(err->msg);
    if (rc == TC_DISCOVER_NONE)
        snprintf(err->msg + n, sizeof err->msg - n,
                 "; use --plugin-dir DIR or TINYCNN_PLUGIN_PATH");
    /* plugins skipped for safety (world-writable files) are worth a word */
    for (int i = 0; i < tc_registry_n_warnings(reg); i++)
        fprintf(stderr, "tinycnn: warning: %s\n", tc_registry_warning(reg, i));
    if (rc != 0)
        tc_registry_free(reg);
    else
        *out = reg;
    return rc != 0;
}

/* ---- models, data, checkpoints ----------------------------------------- */

const char *cli_data_dir(const char *opt)
{
    const char *env = getenv("TINYCNN_DATA");
    return opt && *opt ? opt : env && *env ? env : "data/mnist";
}

char *cli_with_extension(const char *path, const char *ext)
{
    size_t n = strlen(path);
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash) && dot != path)
        n = (size_t)(dot - path);
    char *out = malloc(n + strlen(ext) + 1);
    if (out)
        sprintf(out, "%.*s%s", (int)n, path, ext);
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
    if (tc_checkpoint_graph(reg, ck, path, graph, err) == 0)
        return 0;
    tc_checkpoint_free(ck);
    return 1;
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
    return fflush(stdout) != 0 || ferror(stdout) ? note_stdout_error(errno) : 0;
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
    return bad ? note_stdout_error(errno) : cli_flush_stdout();
}

/* A line at a time: stdio drops a buffer whose write failed, and the lines
 * after it fill it again, so that the last flush (cli_finish_output) fails
 * too and reports why (a full disk), not just that a write failed. */
void cli_print_text(const char *text, int newline)
{
    for (size_t n; *text; text += n) {
        n = strcspn(text, "\n");
        n += text[n] == '\n';
        fwrite(text, 1, n, stdout);
    }
    if (newline)
        putchar('\n');
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
    if (stdout_reported++)
        return;
    char more[1024] = "";
    if (fmt)
        FORMAT(more, fmt);
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
