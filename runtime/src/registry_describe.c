/* The registered layer types as text and JSON (tinycnn/registry_describe.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "tinycnn/plugin.h"
#include "tinycnn/registry_describe.h"

/* Past 2^53 a double no longer holds every integer: print it as a real. */
#define EXACT_INT_LIMIT 9.007199254740992e15

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
    else if (t != TC_VALUE_FLOAT && fabs(v) < EXACT_INT_LIMIT)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%g", v);
    return buf;
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

static void param_text(tc_text *t, const tc_param_desc *d)
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
    tc_text_printf(t, "    %-16s %-5s %-16s %-22s %s\n", d->name ? d->name : "?",
                   type_name(d->type), def, range, d->help ? d->help : "");
}

static void type_text(tc_text *out, const tc_layer_type *t, const char *origin)
{
    char b[64];
    tc_text_printf(out, "%s%s\n", t->name, (t->flags & TC_LAYER_LOSS) ? "  (loss)" : "");
    if (t->summary && *t->summary)
        tc_text_printf(out, "  %s\n", t->summary);
    tc_text_printf(out, "  file:   %s\n", origin ? origin : "(built in)");
    tc_text_printf(out, "  inputs: %s\n", inputs_str(b, sizeof b, t));
    tc_text_printf(out, "%s", t->n_params == 0 ? "  params: none\n" : "  params:\n");
    for (int p = 0; p < t->n_params; p++)
        param_text(out, &t->params[p]);
}

char *tc_registry_describe_text(const tc_registry *reg)
{
    if (!reg)
        return NULL;
    tc_text text = {0};
    int n = tc_registry_count(reg);
    for (int i = 0; i < n; i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_get(reg, i, &origin);
        if (t)
            type_text(&text, t, origin);
        if (t && i + 1 < n)
            tc_text_append(&text, "\n", 1);
    }
    return tc_text_take(&text);
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *json_num(double v, tc_value_type t)
{
    if (!isfinite(v) || fabs(v) >= 1e300)
        return json_null(); /* JSON has no infinity: unbounded */
    if (t != TC_VALUE_FLOAT && fabs(v) < EXACT_INT_LIMIT)
        return json_integer((json_int_t)v);
    return json_real(v);
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

char *tc_registry_describe_json(const tc_registry *reg)
{
    if (!reg)
        return NULL;
    json_t *types = json_array();
    for (int i = 0; i < tc_registry_count(reg); i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_get(reg, i, &origin);
        if (t)
            json_array_append_new(types, type_json(t, origin));
    }
    json_t *root = json_object();
    json_object_set_new(root, "types", types);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    return text;
}
