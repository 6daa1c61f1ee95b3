/* What a resumed run may not change silently (see tinycnn/session.h): the
 * model and the data the checkpoint was trained with. The model texts are
 * compared as JSON values, so layout, key order and 1 vs 1.0 do not count;
 * a change is named by its place (node name, key). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "session_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/status.h"

enum { MAX_LISTED = 4 };

typedef struct changes {
    char text[TC_ERROR_CAP];
    int n; /* changes found; the first MAX_LISTED are in text */
} changes;

static void note(changes *c, const char *fmt, ...) TC_PRINTF(2, 3);
static void note(changes *c, const char *fmt, ...)
{
    if (c->n++ >= MAX_LISTED)
        return;
    size_t len = strlen(c->text);
    if (len > 0 && len + 2 < sizeof c->text) {
        memcpy(c->text + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->text + len, sizeof c->text - len, fmt, ap);
    va_end(ap);
}

/* A short text of v (cut at 40 characters). */
static void brief(const json_t *v, char *buf, size_t cap)
{
    char *d = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(9)) : NULL;
    snprintf(buf, cap, "%.40s%s", d ? d : "(none)", d && strlen(d) > 40 ? "..." : "");
    free(d);
}

static int same_value(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static void diff(const json_t *a, const json_t *b, const char *where, changes *c);

/* The element of arr named name ("name" key), or NULL. */
static json_t *named(const json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

/* 1 when every element is an object with a string "name". */
static int all_named(const json_t *arr)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_string(json_object_get(e, "name")))
            return 0;
    }
    return json_array_size(arr) > 0;
}

/* Nodes and inputs are matched by name: what was added, removed or
 * changed in each. */
static void diff_named(const json_t *a, const json_t *b, const char *where, changes *c)
{
    size_t i;
    json_t *e;
    char sub[300];
    json_array_foreach(a, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        snprintf(sub, sizeof sub, "%s '%s'", where, n);
        json_t *f = named(b, n);
        if (!f)
            note(c, "%s removed", sub);
        else
            diff(e, f, sub, c);
    }
    json_array_foreach(b, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (!named(a, n))
            note(c, "%s '%s' added", where, n);
    }
}

static void diff_object(const json_t *a, const json_t *b, const char *where, changes *c)
{
    const char *k;
    json_t *v;
    char sub[300];
    json_object_foreach((json_t *)a, k, v)
    {
        snprintf(sub, sizeof sub, "%s%s%s", where, *where ? "." : "", k);
        json_t *w = json_object_get(b, k);
        if (!w)
            note(c, "%s removed", sub);
        else
            diff(v, w, sub, c);
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (!json_object_get(a, k))
            note(c, "%s%s%s added", where, *where ? "." : "", k);
    }
}

static void diff(const json_t *a, const json_t *b, const char *where, changes *c)
{
    if (json_is_object(a) && json_is_object(b)) {
        diff_object(a, b, where, c);
        return;
    }
    if (json_is_array(a) && json_is_array(b) && all_named(a) && all_named(b)) {
        /* "nodes" -> "node", "inputs" -> "input" */
        char one[64];
        size_t n = strlen(where);
        snprintf(one, sizeof one, "%.*s", n > 1 && where[n - 1] == 's' ? (int)n - 1 : (int)n,
                 where);
        diff_named(a, b, one, c);
        return;
    }
    if (!same_value(a, b)) {
        char x[64], y[64];
        brief(a, x, sizeof x);
        brief(b, y, sizeof y);
        note(c, "%s: %s -> %s", where, x, y);
    }
}

/* The model text as compared: its JSON less what is no model (the
 * training settings, compared as settings, and the description). */
static json_t *model_value(const char *text)
{
    json_t *m = json_loads(text ? text : "", JSON_DECODE_ANY, NULL);
    if (json_is_object(m)) {
        json_object_del(m, "training");
        json_object_del(m, "description");
    }
    return m;
}

static void diff_data(const tc_resume_check *r, changes *c)
{
    if (r->data_dir && r->stored_data_dir) {
        char *abs = realpath(r->data_dir, NULL);
        const char *now = abs ? abs : r->data_dir;
        if (strcmp(now, r->stored_data_dir) != 0)
            note(c, "data folder %s -> %s", r->stored_data_dir, now);
        free(abs);
    }
    if (r->stored->limit != r->now->limit)
        note(c, "limit %lld -> %lld", (long long)r->stored->limit, (long long)r->now->limit);
    if (r->stored->val_split != r->now->val_split)
        note(c, "val_split %g -> %g", r->stored->val_split, r->now->val_split);
}

int tc_session_check_resume(const tc_resume_check *r, tc_error *err)
{
    changes c = {{0}, 0};
    if (r->model_text) {
        json_t *a = model_value(r->stored_model), *b = model_value(r->model_text);
        diff(a, b, "", &c);
        json_decref(a);
        json_decref(b);
    }
    diff_data(r, &c);
    if (c.n == 0 || r->allow)
        return 0;
    char more[40] = "";
    if (c.n > MAX_LISTED)
        snprintf(more, sizeof more, "; and %d more", c.n - MAX_LISTED);
    return tc_error_set(err, "%s: resuming with another model or data than the checkpoint was "
                             "trained with: %s%s; give --allow-changes to resume anyway",
                        r->checkpoint, c.text, more);
}
