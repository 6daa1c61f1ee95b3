/* Table-driven option parsing for the runner's commands (see cli_common.h). */
#include <string.h>

#include "cli_common.h"

int cli_parse_only;

/* "train, val or test" */
static void choice_list(const char *const *choices, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; choices[i] && o < cap; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", sep, choices[i]);
    }
}

static int take_string(cli_args *a, const cli_opt *o, const char *v)
{
    if (o->choices) {
        int found = 0;
        for (int i = 0; o->choices[i]; i++)
            found |= strcmp(v, o->choices[i]) == 0;
        if (!found) {
            char list[256];
            choice_list(o->choices, list, sizeof list);
            cli_usage(a->cmd, "invalid value '%s' for %s (expected %s)", v, a->opt, list);
            return 1;
        }
    }
    if (o->nonempty && !*v) {
        cli_usage(a->cmd, "option %s needs a file name, got ''", a->opt);
        return 1;
    }
    *(const char **)o->out = v;
    return 0;
}

/* The current option's value into o->out; non-zero after a usage error. */
static int take(cli_args *a, const cli_opt *o)
{
    const char *v;
    if (o->kind == CLI_OPT_FLAG) {
        if (cli_no_value(a))
            return 1;
        *(int *)o->out = 1;
        return 0;
    }
    if (cli_value(a, &v))
        return 1;
    switch (o->kind) {
    case CLI_OPT_INT:
        return cli_int(a, v, o->lo, o->hi, (int64_t *)o->out);
    case CLI_OPT_DOUBLE:
        return cli_double(a, v, o->dlo, o->lo_open, o->dhi, o->hi_open, (double *)o->out);
    case CLI_OPT_STRING:
        return take_string(a, o, v);
    case CLI_OPT_FLAG:
        break;
    }
    return 1;
}

int cli_parse(cli_args *a, const cli_opt *opts, const char **pos, int max_pos, int *n_pos)
{
    return cli_parse_with(a, opts, NULL, NULL, pos, max_pos, n_pos);
}

int cli_parse_argv(cli_globals *g, const char *cmd, int argc, char **argv, const cli_opt *opts,
                   const char **pos, int max_pos, int *n_pos)
{
    cli_args a;
    cli_args_init(&a, cmd, argc, argv, g);
    return cli_parse(&a, opts, pos, max_pos, n_pos);
}

int cli_parse_with(cli_args *a, const cli_opt *opts, cli_opt_fn other, void *user,
                   const char **pos, int max_pos, int *n_pos)
{
    const char *p;
    int k;
    *n_pos = 0;
    while ((k = cli_next(a, &p)) != CLI_ARG_END) {
        if (k == CLI_ARG_ERROR)
            return CLI_EXIT_USAGE;
        if (k == CLI_ARG_POSITIONAL) {
            if (*n_pos >= max_pos)
                return cli_usage(a->cmd, "unexpected argument '%s'", p);
            pos[(*n_pos)++] = p;
            continue;
        }
        int taken = other ? other(a, user) : -1;
        if (taken >= 0) {
            if (taken > 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        const cli_opt *o = opts;
        while (o->name && strcmp(o->name, a->opt) != 0)
            o++;
        if (!o->name) {
            cli_unknown(a);
            return CLI_EXIT_USAGE;
        }
        if (take(a, o) != 0)
            return CLI_EXIT_USAGE;
    }
    return 0;
}
