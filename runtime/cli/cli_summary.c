/* tinycnn summary: a model's nodes, shapes, weights and FLOPs as a table. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "tinycnn/summary.h"

static const char help[] =
    "usage: tinycnn summary MODEL.json|CHECKPOINT [--json]\n"
    "\n"
    "Prints one line per node of the model: its type, inputs, output shape per\n"
    "image, learnable weights, state elements (running statistics) and forward\n"
    "MFLOPs per image (a multiply-add counts as 2; '-' where the layer type does\n"
    "not count them, and the total then says 'at least'), then the totals.\n"
    "A file starting with '{' is read as a model, any other as a checkpoint.\n"
    "\n"
    "options:\n"
    "  --json            print one JSON object instead of the table\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

/* 1 when the file's first non-blank byte is '{': a model, not a checkpoint. */
static int looks_like_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    int c = EOF;
    while (f && (c = fgetc(f)) != EOF && isspace(c))
        ;
    if (f)
        fclose(f);
    return c == '{';
}

static tc_graph *open_graph(const tc_registry *reg, const char *path, tc_error *err)
{
    if (looks_like_json(path))
        return tc_graph_load_file(reg, path, err);
    tc_checkpoint ck;
    tc_graph *g = NULL;
    if (cli_open_checkpoint(reg, path, &ck, &g, err) != 0)
        return NULL;
    tc_checkpoint_free(&ck);
    return g;
}

/* "[16,28,28]" */
static const char *shape_text(const tc_shape *sh, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < sh->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? "," : "", (long long)sh->dims[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

typedef struct widths {
    int name, type, inputs, shape;
} widths;

static void inputs_text(const tc_node_summary *ns, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < ns->n_inputs && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", k ? "," : "", ns->inputs[k].name);
}

static void measure(const tc_summary *s, widths *w)
{
    *w = (widths){4, 4, 6, 6};
    char buf[256];
    for (int i = 0; i < s->n_nodes; i++) {
        const tc_node_summary *ns = &s->nodes[i];
        int l;
        if ((l = (int)strlen(ns->name)) > w->name)
            w->name = l;
        if ((l = (int)strlen(ns->type)) > w->type)
            w->type = l;
        inputs_text(ns, buf, sizeof buf);
        if ((l = (int)strlen(buf)) > w->inputs)
            w->inputs = l;
        shape_text(&ns->output, buf, sizeof buf);
        if ((l = (int)strlen(buf)) > w->shape)
            w->shape = l;
    }
}

static void print_row(const widths *w, const tc_node_summary *ns)
{
    char in[256], shape[96], wt[32], st[32], fl[32];
    inputs_text(ns, in, sizeof in);
    shape_text(&ns->output, shape, sizeof shape);
    if (ns->flops >= 0)
        snprintf(fl, sizeof fl, "%.3f", (double)ns->flops / 1e6);
    else
        snprintf(fl, sizeof fl, "-");
    printf("%-*s  %-*s  %-*s  %-*s  %11s  %9s  %10s%s\n", w->name, ns->name, w->type, ns->type,
           w->inputs, in, w->shape, shape, tc_format_count(wt, sizeof wt, ns->weights),
           tc_format_count(st, sizeof st, ns->state), fl, ns->is_loss ? "  (training only)" : "");
}

static void print_table(const tc_graph *g, const tc_summary *s)
{
    widths w;
    measure(s, &w);
    char wt[32], st[32];
    printf("model %s: %d nodes\n", tc_graph_name(g), s->n_nodes);
    printf("%-*s  %-*s  %-*s  %-*s  %11s  %9s  %10s\n", w.name, "node", w.type, "type", w.inputs,
           "inputs", w.shape, "output", "weights", "state", "MFLOPs");
    for (int i = 0; i < s->n_nodes; i++)
        print_row(&w, &s->nodes[i]);
    printf("total: %s weights, %s state elements, %s%.3f forward MFLOPs per image",
           tc_format_count(wt, sizeof wt, s->weights), tc_format_count(st, sizeof st, s->state),
           s->flops_unknown ? "at least " : "", (double)s->flops / 1e6);
    if (s->flops_unknown)
        printf(" (%d node%s of types that do not count theirs)", s->flops_unknown,
               s->flops_unknown == 1 ? "" : "s");
    printf("\n");
}

static int run(cli_globals *gl, int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0, n_pos;
    const cli_opt table[] = {CLI_FLAG("--json", &as_json), CLI_OPT_END};
    if (cli_parse_argv(gl, "summary", argc, argv, table, &path, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (!path)
        return cli_usage("summary", "missing MODEL.json or CHECKPOINT");
    if (cli_parse_only)
        return CLI_EXIT_OK;
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_graph *g = NULL;
    tc_summary s = {0};
    int rc = CLI_EXIT_RUNTIME;
    if (cli_load_registry(gl, &reg, &err) != 0 || !(g = open_graph(reg, path, &err)) ||
        tc_summary_make(g, &s, &err) != 0) {
        cli_fail("%s", err.msg);
    } else if (as_json) {
        char *text = tc_summary_json(g, &s);
        rc = text ? CLI_EXIT_OK : cli_fail("out of memory");
        if (text)
            printf("%s\n", text);
        free(text);
    } else {
        print_table(g, &s);
        rc = CLI_EXIT_OK;
    }
    tc_summary_free(&s);
    if (g)
        tc_graph_free(g);
    if (reg)
        tc_registry_free(reg);
    return rc;
}

const cli_command cli_summary_command = {
    "summary", "a model's nodes, shapes, weights and FLOPs", help, run, NULL};
