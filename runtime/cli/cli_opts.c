/* The runner's option parsing (see cli_common.h): the argv walk and the
 * table-driven parser on it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

int cli_parse_only;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv, cli_globals *g)
{
    *a = (cli_args){.cmd = cmd, .argc = argc, .argv = argv, .i = 1, .globals = g};
}

int cli_value(cli_args *a, const char **out)
{
    *out = a->inline_value ? a->inline_value : a->i < a->argc ? a->argv[a->i++] : NULL;
    return *out ? 0 : cli_usage(a->cmd, "option %s needs a value", a->opt);
}

int cli_no_value(cli_args *a)
{
    if (a->inline_value)
        return cli_usage(a->cmd, "option %s takes no value (got '%s')", a->opt, a->inline_value);
    return 0;
}

static int take_plugin_dir(cli_args *a)
{
    const char *dir;
    cli_globals *g = a->globals;
    if (cli_value(a, &dir) != 0)
        return 1;
    if (g->n_plugin_dirs >= CLI_MAX_PLUGIN_DIRS)
        return cli_usage(a->cmd, "too many --plugin-dir options (at most %d)", CLI_MAX_PLUGIN_DIRS);
    if (!*dir)
        return cli_usage(a->cmd, "option --plugin-dir needs a folder, got ''");
    g->plugin_dirs[g->n_plugin_dirs++] = dir;
    return 0;
}

enum { ARG_END, ARG_OPTION, ARG_POSITIONAL, ARG_ERROR };

/* The next item of argv: ARG_OPTION (a->opt and a->inline_value set),
 * ARG_POSITIONAL (*pos set), ARG_END, or ARG_ERROR (after the usage error).
 * --plugin-dir is taken here, for every command. */
static int next(cli_args *a, const char **pos)
{
    for (;;) {
        if (a->i >= a->argc)
            return ARG_END;
        const char *s = a->argv[a->i++];
        if (a->only_positional || s[0] != '-' || s[1] == 0) { /* "-" alone is a name */
            *pos = s;
            return ARG_POSITIONAL;
        }
        if (strcmp(s, "--") == 0) {
            a->only_positional = 1;
            continue;
        }
        const char *eq = s[1] == '-' ? strchr(s, '=') : NULL;
        a->inline_value = eq ? eq + 1 : NULL;
        a->opt = s;
        if (eq) {
            snprintf(a->optbuf, sizeof a->optbuf, "%.*s", (int)(eq - s), s);
            a->opt = a->optbuf;
        }
        if (strcmp(a->opt, "--plugin-dir") != 0)
            return ARG_OPTION;
        if (take_plugin_dir(a) != 0)
            return ARG_ERROR;
    }
}

/* Strict numbers: the whole value, in range; the message gives the range. */
static int take_int(cli_args *a, const char *s, const cli_opt *o)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && errno != ERANGE && v >= o->lo && v <= o->hi) {
        *(int64_t *)o->out = v;
        return 0;
    }
    if (o->hi >= (int64_t)1 << 53)
        return cli_usage(a->cmd, "invalid value '%s' for %s (expected an integer >= %lld)", s,
                         a->opt, (long long)o->lo);
    return cli_usage(a->cmd, "invalid value '%s' for %s (expected an integer from %lld to %lld)",
                     s, a->opt, (long long)o->lo, (long long)o->hi);
}

static int take_double(cli_args *a, const char *s, const cli_opt *o)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s && !*end && errno != ERANGE && isfinite(v) && (o->lo_open ? v > o->dlo : v >= o->dlo) &&
        (o->hi_open ? v < o->dhi : v <= o->dhi)) {
        *(double *)o->out = v;
        return 0;
    }
    char range[128];
    if (isinf(o->dhi))
        snprintf(range, sizeof range, "a number %s %g", o->lo_open ? ">" : ">=", o->dlo);
    else
        snprintf(range, sizeof range, "a number in %s%g, %g%s", o->lo_open ? "(" : "[", o->dlo,
                 o->dhi, o->hi_open ? ")" : "]");
    return cli_usage(a->cmd, "invalid value '%s' for %s (expected %s)", s, a->opt, range);
}

static int take_string(cli_args *a, const char *v, const cli_opt *o)
{
    int found = !o->choices;
    for (int i = 0; o->choices && o->choices[i]; i++)
        found |= strcmp(v, o->choices[i]) == 0;
    if (!found) {
        char list[256]; /* "train, val or test" */
        size_t n = 0;
        list[0] = 0;
        for (int i = 0; o->choices[i] && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                                  i == 0 ? "" : o->choices[i + 1] ? ", " : " or ", o->choices[i]);
        return cli_usage(a->cmd, "invalid value '%s' for %s (expected %s)", v, a->opt, list);
    }
    if (o->nonempty && !*v)
        return cli_usage(a->cmd, "option %s needs a file name, got ''", a->opt);
    *(const char **)o->out = v;
    return 0;
}

/* The current option's value into o->out; non-zero after a usage error. */
static int take(cli_args *a, const cli_opt *o)
{
    const char *v;
    if (o->kind == CLI_OPT_FLAG)
        return cli_no_value(a) ? 1 : (*(int *)o->out = 1, 0);
    if (cli_value(a, &v))
        return 1;
    return o->kind == CLI_OPT_INT      ? take_int(a, v, o)
           : o->kind == CLI_OPT_DOUBLE ? take_double(a, v, o)
                                       : take_string(a, v, o);
}

int cli_parse_argv(cli_globals *g, const char *cmd, int argc, char **argv, const cli_opt *opts,
                   const char **pos, int max_pos, int *n_pos)
{
    cli_args a;
    cli_args_init(&a, cmd, argc, argv, g);
    return cli_parse_with(&a, opts, NULL, NULL, pos, max_pos, n_pos);
}

int cli_parse_one(cli_globals *g, const char *cmd, int argc, char **argv, const cli_opt *opts,
                  const char **pos, const char *missing)
{
    int n_pos;
    if (cli_parse_argv(g, cmd, argc, argv, opts, pos, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    return n_pos ? 0 : cli_usage(cmd, "%s", missing);
}

int cli_parse_with(cli_args *a, const cli_opt *opts, cli_opt_fn other, void *user,
                   const char **pos, int max_pos, int *n_pos)
{
    const char *p;
    int k;
    *n_pos = 0;
    while ((k = next(a, &p)) != ARG_END) {
        if (k == ARG_ERROR)
            return CLI_EXIT_USAGE;
        if (k == ARG_POSITIONAL) {
            if (*n_pos >= max_pos)
                return cli_usage(a->cmd, "unexpected argument '%s'", p);
            pos[(*n_pos)++] = p;
            continue;
        }
        int taken = other ? other(a, user) : -1;
        if (taken > 0)
            return CLI_EXIT_USAGE;
        if (taken == 0)
            continue;
        const cli_opt *o = opts;
        while (o->name && strcmp(o->name, a->opt) != 0)
            o++;
        if (!o->name)
            return cli_usage(a->cmd, "unknown option %s", a->opt);
        if (take(a, o) != 0)
            return CLI_EXIT_USAGE;
    }
    return 0;
}
