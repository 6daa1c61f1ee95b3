/* The class list a checkpoint's metadata holds (see tinycnn/session.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/session.h"

void tc_class_names_free(char **names, int64_t n)
{
    for (int64_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* The copies of the n strings of a (checked to be strings), or NULL. */
static char **copy_names(const json_t *a, int64_t n)
{
    char **out = n > 0 ? calloc((size_t)n, sizeof *out) : NULL;
    for (int64_t i = 0; out && i < n; i++) {
        const char *s = json_string_value(json_array_get(a, (size_t)i));
        size_t len = strlen(s) + 1;
        if (!(out[i] = malloc(len))) {
            tc_class_names_free(out, n);
            return NULL;
        }
        memcpy(out[i], s, len);
    }
    return out;
}

char **tc_session_class_names(const char *meta_json, int64_t n)
{
    json_t *meta = meta_json && *meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    json_t *names = json_object_get(meta, "class_names");
    int ok = json_is_array(names) && (int64_t)json_array_size(names) == n;
    for (int64_t i = 0; ok && i < n; i++)
        ok = json_is_string(json_array_get(names, (size_t)i));
    char **out = ok ? copy_names(names, n) : NULL;
    json_decref(meta);
    return out;
}
