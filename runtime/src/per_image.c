/* The per-image results file of an evaluation (see tinycnn/metrics.h): CSV
 * or JSON lines, one record per image. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/metrics.h"
#include "tinycnn/status.h"

struct tc_per_image {
    FILE *f;
    char *path;
    int csv;
    const char *const *names;
    const int64_t *origin;
    const char *const *paths;
};

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static int write_failed(const tc_per_image *w, tc_error *err)
{
    return tc_error_set(err, "%s: cannot write the per-image results: %s", w->path,
                        strerror(errno ? errno : EIO));
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fprintf(f, ",%s", s);
        return;
    }
    fputs(",\"", f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

tc_per_image *tc_per_image_open(const char *path, const char *const *names,
                                const int64_t *origin, const char *const *paths, tc_error *err)
{
    tc_per_image *w = calloc(1, sizeof *w);
    size_t len = strlen(path) + 1;
    if (!w || !(w->path = malloc(len))) {
        free(w);
        tc_error_set(err, "%s: out of memory for the per-image results", path);
        return NULL;
    }
    memcpy(w->path, path, len);
    w->names = names;
    w->origin = origin;
    w->paths = paths;
    w->csv = ends_with(path, ".csv") || ends_with(path, ".CSV");
    errno = 0;
    w->f = fopen(path, "w");
    if (!w->f)
        tc_error_set(err, "%s: cannot open for writing: %s", path, strerror(errno));
    else if (w->csv && fprintf(w->f, "index%s,label,prediction,probability%s\n",
                               paths ? ",path" : "",
                               names ? ",label_name,prediction_name" : "") < 0)
        write_failed(w, err);
    else
        return w;
    tc_per_image_close(w, &(tc_error){{0}});
    return NULL;
}

static int jsonl(const tc_per_image *w, const tc_image_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(w->origin ? w->origin[r->index] : r->index));
    if (w->paths)
        json_object_set_new(o, "path", json_string(w->paths[r->index]));
    json_object_set_new(o, "label", json_integer(r->label));
    json_object_set_new(o, "prediction", json_integer(r->prediction));
    json_object_set_new(o, "probability",
                        isfinite(r->probability) ? json_real(r->probability) : json_null());
    if (w->names) {
        json_object_set_new(o, "label_name", json_string(w->names[r->label]));
        json_object_set_new(o, "prediction_name", json_string(w->names[r->prediction]));
    }
    int rc = json_dumpf(o, w->f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return rc != 0 || fputc('\n', w->f) == EOF;
}

int tc_per_image_write(void *user, const tc_image_result *r, tc_error *err)
{
    const tc_per_image *w = user;
    errno = 0;
    if (!w->csv)
        return jsonl(w, r) ? write_failed(w, err) : 0;
    fprintf(w->f, "%lld", (long long)(w->origin ? w->origin[r->index] : r->index));
    if (w->paths)
        csv_field(w->f, w->paths[r->index]);
    fprintf(w->f, ",%d,%d,%.9g", r->label, r->prediction, (double)r->probability);
    if (w->names) {
        csv_field(w->f, w->names[r->label]);
        csv_field(w->f, w->names[r->prediction]);
    }
    return fputc('\n', w->f) == EOF || ferror(w->f) ? write_failed(w, err) : 0;
}

int tc_per_image_close(tc_per_image *w, tc_error *err)
{
    if (!w)
        return 0;
    int bad = 0;
    if (w->f) {
        errno = 0;
        bad = fflush(w->f) != 0 || ferror(w->f);
        bad = fclose(w->f) != 0 || bad;
    }
    int rc = bad ? write_failed(w, err) : 0;
    free(w->path);
    free(w);
    return rc;
}
