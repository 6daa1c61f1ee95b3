/* The streamed training log (see tinycnn/train_log.h): JSON lines or CSV,
 * one line per epoch or per N steps, flushed as written. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/train_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h" /* tc_monotonic_seconds */

struct tc_train_log {
    FILE *f;
    char *path;
    int csv;
    double t0, wall_before;
};

/* One line's values; a negative accuracy or loss means "none". */
typedef struct log_line {
    const char *kind;
    int epoch;
    int64_t steps;
    double loss, train_acc, val_acc, val_loss, test_acc, lr, ips;
} log_line;

static const char csv_header[] = "kind,epoch,step,loss,train_accuracy,val_accuracy,val_loss,"
                                 "test_accuracy,lr,images_per_second,wall_seconds\n";

static int ends_with_csv(const char *p)
{
    size_t n = strlen(p);
    return n >= 4 && strcmp(p + n - 4, ".csv") == 0;
}

tc_train_log *tc_train_log_open(const char *path, int append, double wall_before,
                                tc_error *err)
{
    tc_train_log *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        tc_error_set(err, "%s: out of memory", path);
        return NULL;
    }
    l->csv = ends_with_csv(path);
    l->t0 = tc_monotonic_seconds();
    l->wall_before = wall_before;
    if (!(l->f = fopen(path, append ? "a" : "w"))) {
        tc_error_set(err, "%s: cannot open the training log: %s", path, strerror(errno));
        free(l->path);
        free(l);
        return NULL;
    }
    /* a CSV file gets its header once, also when a resumed run appends */
    if (l->csv && ftell(l->f) == 0 && fputs(csv_header, l->f) == EOF) {
        tc_error_set(err, "%s: cannot write the training log: %s", path, strerror(errno));
        fclose(l->f);
        free(l->path);
        free(l);
        return NULL;
    }
    return l;
}

/* ",x" with %.10g, or "," for none (CSV); ", \"key\": x" or nothing (JSON). */
static void put_num(const tc_train_log *l, const char *key, double v, int present)
{
    if (l->csv)
        present ? fprintf(l->f, ",%.10g", v) : fputc(',', l->f);
    else if (present)
        fprintf(l->f, ", \"%s\": %.10g", key, v);
}

static int write_line(tc_train_log *l, const log_line *x, tc_error *err)
{
    double wall = l->wall_before + tc_monotonic_seconds() - l->t0;
    if (l->csv)
        fprintf(l->f, "%s,%d,%lld", x->kind, x->epoch, (long long)x->steps);
    else
        fprintf(l->f, "{\"kind\": \"%s\", \"epoch\": %d, \"step\": %lld", x->kind, x->epoch,
                (long long)x->steps);
    put_num(l, "loss", x->loss, 1);
    put_num(l, "train_accuracy", x->train_acc, 1);
    put_num(l, "val_accuracy", x->val_acc, x->val_acc >= 0);
    put_num(l, "val_loss", x->val_loss, x->val_loss >= 0);
    put_num(l, "test_accuracy", x->test_acc, x->test_acc >= 0);
    put_num(l, "lr", x->lr, 1);
    put_num(l, "images_per_second", x->ips, 1);
    put_num(l, "wall_seconds", wall, 1);
    fputs(l->csv ? "\n" : "}\n", l->f);
    if (fflush(l->f) != 0 || ferror(l->f))
        return tc_error_set(err, "%s: cannot write the training log: %s", l->path,
                            strerror(errno ? errno : EIO));
    return 0;
}

int tc_train_log_epoch(tc_train_log *l, const tc_epoch_record *r, int64_t steps,
                       tc_error *err)
{
    int val = r->val_total > 0;
    log_line x = {"epoch", r->epoch, steps, r->loss, r->train_accuracy,
                  val ? r->val_accuracy : -1, val ? r->val_loss : -1,
                  r->test_total > 0 ? r->test_accuracy : -1, r->lr, r->images_per_second};
    return write_line(l, &x, err);
}

int tc_train_log_step(tc_train_log *l, const tc_train_progress *p, int64_t steps,
                      tc_error *err)
{
    log_line x = {"step", p->epoch + 1, steps, p->loss, p->accuracy, -1, -1, -1, p->lr,
                  p->images_per_s};
    return write_line(l, &x, err);
}

int tc_train_log_close(tc_train_log *l, tc_error *err)
{
    if (!l)
        return 0;
    int bad = ferror(l->f);
    int rc = fclose(l->f);
    if ((bad || rc != 0) && err)
        tc_error_set(err, "%s: cannot write the training log: %s", l->path,
                     strerror(errno ? errno : EIO));
    free(l->path);
    free(l);
    return bad || rc != 0;
}
