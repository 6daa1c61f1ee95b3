/* tinycnn plugins: every registered layer type with its parameters. */
#include <math.h>
#include <string.h>

#include "cli_common.h"

static const char help[] =
    "usage: tinycnn plugins [--json] [--plugin-dir DIR]...\n"
    "\n"
    "Lists every registered layer type: the plugin file it came from, how many\n"
    "inputs it takes, and its parameters with type, default, range and help.\n"
    "\n"
    "options:\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

static const char *type_name(tc_value_type t)
{
    switch (t) {
    case TC_VALUE_INT: return "int";
    case TC_VALUE_FLOAT: return "float";
    case TC_VALUE_BOOL: return "bool";
    }
    return "?";
}

/* Integers as integers, huge bounds as "inf". */
static const char *num(char *buf, size_t cap, double v, tc_value_type t)
{
    if (isinf(v) || fabs(v) >= 1e300)
        snprintf(buf, cap, "%sinf", v < 0 ? "-" : "");
    else if (t != TC_VALUE_FLOAT && fabs(v) < 9.007199254740992e15)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%g", v);
    return buf;
}

static json_t *json_num(double v, tc_value_type t)
{
    if (!isfinite(v) || fabs(v) >= 1e300)
        return json_null(); /* JSON has no infinity: unbounded */
    if (t != TC_VALUE_FLOAT && fabs(v) < 9.007199254740992e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static const char *inputs_str(char *buf, size_t cap, const tc_layer_type *t)
{
    if (t->max_inputs < 0)
        snprintf(buf, cap, "%d or more", t->min_inputs);
    else if (t->min_inputs == t->max_inputs)
        snprintf(buf, cap, "%d", t->min_inputs);
    else
        snprintf(buf, cap, "%d to %d", t->min_inputs, t->max_inputs);
    return buf;
}

static json_t *param_json(const tc_param_desc *d)
{
    json_t *po = json_object();
    json_object_set_new(po, "name", json_string(d->name ? d->name : ""));
    json_object_set_new(po, "type", json_string(type_name(d->type)));
    json_object_set_new(po, "required", json_boolean(d->required));
    json_object_set_new(po, "default", d->required ? json_null()
                                       : d->type == TC_VALUE_BOOL
                                           ? json_boolean(d->default_value != 0)
                                           : json_num(d->default_value, d->type));
    json_object_set_new(po, "min", json_num(d->min_value, d->type));
    json_object_set_new(po, "max", json_num(d->max_value, d->type));
    json_object_set_new(po, "help", json_string(d->help ? d->help : ""));
    return po;
}

static json_t *type_json(const tc_layer_type *t, const char *origin)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "file", json_string(origin ? origin : ""));
    json_object_set_new(o, "summary", json_string(t->summary ? t->summary : ""));
    json_object_set_new(o, "min_inputs", json_integer(t->min_inputs));
    json_object_set_new(o, "max_inputs",
                        t->max_inputs < 0 ? json_null() : json_integer(t->max_inputs));
    json_object_set_new(o, "loss", json_boolean(t->flags & TC_LAYER_LOSS));
    json_t *ps = json_array();
    for (int p = 0; p < t->n_params; p++)
        json_array_append_new(ps, param_json(&t->params[p]));
    json_object_set_new(o, "params", ps);
    return o;
}

static void print_param(const tc_param_desc *d)
{
    char def[80], range[160], b1[64], b2[64];
    if (d->required)
        snprintf(def, sizeof def, "required");
    else if (d->type == TC_VALUE_BOOL)
        snprintf(def, sizeof def, "default %s", d->default_value != 0 ? "true" : "false");
    else
        snprintf(def, sizeof def, "default %s", num(b1, sizeof b1, d->default_value, d->type));
    if (d->type == TC_VALUE_BOOL)
        snprintf(range, sizeof range, "true|false");
    else
        snprintf(range, sizeof range, "[%s, %s]", num(b1, sizeof b1, d->min_value, d->type),
                 num(b2, sizeof b2, d->max_value, d->type));
    printf("    %-16s %-5s %-16s %-22s %s\n", d->name ? d->name : "?", type_name(d->type), def,
           range, d->help ? d->help : "");
}

static void print_type(const tc_layer_type *t, const char *origin)
{
    char b[64];
    printf("%s%s\n", t->name, (t->flags & TC_LAYER_LOSS) ? "  (loss)" : "");
    if (t->summary && *t->summary)
        printf("  %s\n", t->summary);
    printf("  file:   %s\n", origin ? origin : "(built in)");
    printf("  inputs: %s\n", inputs_str(b, sizeof b, t));
    printf(t->n_params == 0 ? "  params: none\n" : "  params:\n");
    for (int p = 0; p < t->n_params; p++)
        print_param(&t->params[p]);
}

static int run(cli_globals *g, int argc, char **argv)
{
    int as_json = 0, n_pos;
    const cli_opt table[] = {CLI_FLAG("--json", &as_json), CLI_OPT_END};
    if (cli_parse_argv(g, "plugins", argc, argv, table, NULL, 0, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (cli_parse_only)
        return CLI_EXIT_OK;
    tc_error err = {{0}};
    tc_registry *reg;
    if (cli_load_registry(g, &reg, &err) != 0)
        return cli_fail("%s", err.msg);
    int n = tc_registry_count(reg);
    json_t *arr = as_json ? json_array() : NULL;
    for (int i = 0; i < n; i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_get(reg, i, &origin);
        if (t && as_json)
            json_array_append_new(arr, type_json(t, origin));
        else if (t)
            print_type(t, origin);
        if (t && !as_json && i + 1 < n)
            printf("\n");
    }
    if (as_json) {
        json_t *root = json_object();
        json_object_set_new(root, "types", arr);
        cli_print_json(root);
    }
    tc_registry_free(reg);
    return CLI_EXIT_OK;
}

const cli_command cli_plugins_command = {"plugins", "list the layer types and their parameters",
                                         help, run, NULL};
