/* What a training run says (tinycnn/session_report.h): the runner's banner,
 * progress, epoch lines, summaries and stop messages, made into strings. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "session_internal.h"
#include "tinycnn/format.h"
#include "train_settings_json.h"
#include "tinycnn/session_report.h"

/* Text appended piece by piece; once memory runs out it stays failed. */
typedef struct report {
    char *s;
    size_t len, cap;
    int failed;
} report;

static void put(report *r, const char *fmt, ...) TC_PRINTF(2, 3);

static void put(report *r, const char *fmt, ...)
{
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t want = r->len + (n > 0 ? (size_t)n : 0) + 1;
    if (!r->failed && want > r->cap) {
        char *s = realloc(r->s, 2 * want);
        r->failed = !s;
        r->s = s ? s : r->s;
        r->cap = s ? 2 * want : r->cap;
    }
    if (!r->failed && n > 0) {
        vsnprintf(r->s + r->len, r->cap - r->len, fmt, again);
        r->len += (size_t)n;
    }
    va_end(again);
}

/* The text made (owner: the caller), "" when nothing was put; NULL when
 * memory ran out. */
static char *taken(report *r)
{
    if (!r->failed && !r->s)
        return calloc(1, 1);
    if (r->failed)
        free(r->s);
    return r->failed ? NULL : r->s;
}

/* ---- before training --------------------------------------------------- */

/* "V validation images (from), " and the augmentations, as the banner
 * says them. */
static void banner_extras(report *r, const tc_session_state *st, const tc_train_config *c,
                          int part)
{
    char nva[32];
    if (part == 0 && st->val_images > 0)
        put(r, "%s validation images (%s), ", tc_format_count(nva, sizeof nva, st->val_images),
            st->val_from == 1   ? "val/ folder"
            : st->val_from == 3 ? "given"
                                : "held out of the training set");
    if (part == 1 && c->augment_shift > 0)
        put(r, "shifts up to %d px, ", c->augment_shift);
    if (part == 1 && c->augment_crop > 0)
        put(r, "crops padded by %d px, ", c->augment_crop);
    if (part == 1 && c->augment_flip)
        put(r, "flips, ");
}

char *tc_session_banner(tc_session *s, const char *resume_path)
{
    if (!s)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    const tc_train_config *c = tc_session_settings(s);
    tc_graph *g = tc_session_graph(s);
    report r = {0};
    char nw[32], ntr[32], nte[32];
    if (resume_path)
        put(&r, "resuming %s from %s at epoch %d, batch %lld of %lld\n", tc_graph_name(g),
            resume_path, st.epoch + 1, (long long)st.batch, (long long)st.n_batches);
    put(&r, "training %s: %s weights, %s training images (%lld batches of %d), ",
        tc_graph_name(g), tc_format_count(nw, sizeof nw, tc_graph_n_weight_elements(g)),
        tc_format_count(ntr, sizeof ntr, st.train_images), (long long)st.n_batches,
        c->batch_size);
    banner_extras(&r, &st, c, 0);
    put(&r, "%s test images, %s, lr %g (%s), ", tc_format_count(nte, sizeof nte, st.test_images),
        tc_optimizer_kind_name(c->optim.kind), c->lr, tc_lr_schedule_name(c->schedule));
    banner_extras(&r, &st, c, 1);
    put(&r, "%d threads\n", st.threads);
    return taken(&r);
}

char *tc_session_notes(tc_session *s)
{
    if (!s)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    report r = {0};
    if (st.optimizer_switched)
        put(&r, "note: switching from %s to %s; the optimizer state starts afresh\n",
            tc_optimizer_kind_name(st.saved_optimizer),
            tc_optimizer_kind_name(tc_session_settings(s)->optim.kind));
    if (st.threads_before != 0 && st.threads != st.threads_before)
        put(&r, "note: the run started with %d threads and continues with %d; the results "
                "may differ in the last bits from an uninterrupted run\n",
            st.threads_before, st.threads);
    return taken(&r);
}

char *tc_session_finished_text(tc_session *s, const char *resume_path)
{
    if (!s)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    int epochs = tc_session_settings(s)->epochs;
    const char *from = resume_path ? resume_path : st.checkpoint;
    report r = {0};
    if (st.stopped_early)
        put(&r, "%s stopped early at epoch %d; pass a larger --early-stop (or 0) to train on\n",
            from, st.stopped_early);
    else if (st.epoch >= epochs)
        put(&r, "%s has already trained %d of %d epochs; pass --epochs N (N > %d) to train "
                "more\n",
            from, st.epoch, epochs, st.epoch);
    return taken(&r);
}

/* ---- the summary ------------------------------------------------------- */

/* The history's record of epoch e (1-based), or NULL. */
static const tc_epoch_record *record_of(tc_session *s, int e)
{
    int n = 0;
    const tc_epoch_record *h = tc_session_history(s, &n);
    for (int i = 0; i < n; i++)
        if (h[i].epoch == e)
            return &h[i];
    return NULL;
}

/* The first line: the accuracies on what selected the best epoch. */
static void summary_head(report *r, tc_session *s, const tc_session_state *st,
                         const char *status)
{
    int epochs = tc_session_settings(s)->epochs;
    char wb[32];
    const char *wall = tc_format_duration(wb, sizeof wb, st->wall_seconds);
    const tc_epoch_record *b = record_of(s, st->best_epoch);
    put(r, "%s: %d/%d epochs in %s", status, st->epoch, epochs, wall);
    if (st->last_accuracy >= 0 && st->val_images > 0 && st->last_val_accuracy >= 0)
        put(r, "; validation accuracy: best %.2f%% (epoch %d, test %.2f%%), final %.2f%% "
               "(test %.2f%%)",
            100.0 * st->best_accuracy, st->best_epoch, b ? 100.0 * b->test_accuracy : 0.0,
            100.0 * st->last_val_accuracy, 100.0 * st->last_accuracy);
    else if (st->last_accuracy >= 0)
        put(r, "; test accuracy: best %.2f%% (epoch %d), final %.2f%%",
            100.0 * st->best_accuracy, st->best_epoch, 100.0 * st->last_accuracy);
    put(r, "\n");
}

char *tc_session_summary_text(tc_session *s, const char *status, int with_profile)
{
    if (!s || !status)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    report r = {0};
    summary_head(&r, s, &st, status);
    if (st.stopped_early)
        put(&r, "stopped early at epoch %d: no better %s accuracy for %d epochs\n",
            st.stopped_early, st.val_images > 0 ? "validation" : "test",
            tc_session_settings(s)->early_stop);
    if (st.checkpoint_written)
        put(&r, "checkpoint: %s\n", st.checkpoint);
    if (st.best_checkpoint)
        put(&r, "best checkpoint: %s (epoch %d)\n", st.best_checkpoint, st.best_epoch);
    if (with_profile) {
        char *profile = tc_session_profile_format(tc_session_graph(s));
        r.failed |= !profile;
        put(&r, "%s", profile ? profile : "");
        free(profile);
    }
    return taken(&r);
}

/* v, or null when it could not be made (out of memory). */
static json_t *or_null(json_t *v)
{
    return v ? v : json_null();
}

static json_t *acc_or_null(double a)
{
    return a < 0 ? json_null() : json_real(a);
}

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The summary's selection fields: the best epoch is chosen on the
 * validation set when there is one (the test accuracy is that epoch's). */
static void json_selection(json_t *j, tc_session *s, const tc_session_state *st)
{
    const tc_epoch_record *b = record_of(s, st->best_epoch);
    int on_val = st->val_images > 0;
    json_object_set_new(j, "selection", json_string(on_val ? "val" : "test"));
    json_object_set_new(j, "best_epoch", json_integer(st->best_epoch));
    json_object_set_new(j, "best_val_accuracy",
                        on_val ? acc_or_null(st->best_accuracy) : json_null());
    json_object_set_new(j, "best_test_accuracy",
                        !on_val ? acc_or_null(st->best_accuracy)
                                : b ? json_real(b->test_accuracy) : json_null());
    json_object_set_new(j, "final_val_accuracy", acc_or_null(st->last_val_accuracy));
    json_object_set_new(j, "final_test_accuracy", acc_or_null(st->last_accuracy));
    json_object_set_new(j, "stopped_early",
                        st->stopped_early ? json_integer(st->stopped_early) : json_null());
    json_object_set_new(j, "best_checkpoint", string_or_null(st->best_checkpoint));
}

static json_t *summary_object(tc_session *s, const tc_session_state *st, const char *status,
                              const char *error)
{
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string(status));
    if (error)
        json_object_set_new(j, "error", json_string(error));
    json_object_set_new(j, "epochs_done", json_integer(st->epoch));
    json_object_set_new(j, "batch", json_integer(st->batch));
    json_object_set_new(j, "wall_seconds", json_real(st->wall_seconds));
    json_selection(j, s, st);
    json_object_set_new(j, "checkpoint",
                        st->checkpoint_written ? json_string(st->checkpoint) : json_null());
    return j;
}

static json_t *profile_json(const tc_graph *g)
{
    json_t *a = json_array();
    for (int i = 0; i < tc_graph_n_nodes(g); i++) {
        double fw, bw;
        int64_t calls;
        tc_graph_profile(g, i, &fw, &bw, &calls);
        json_t *o = json_object();
        json_object_set_new(o, "node", json_string(tc_graph_node_name(g, i)));
        json_object_set_new(o, "type", json_string(tc_graph_node_type(g, i)));
        json_object_set_new(o, "forward_seconds", json_real(fw));
        json_object_set_new(o, "backward_seconds", json_real(bw));
        json_object_set_new(o, "calls", json_integer(calls));
        json_array_append_new(a, o);
    }
    return a;
}

char *tc_session_summary_json(tc_session *s, const char *status, const char *error,
                              int threads, int with_profile)
{
    if (!s || !status)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    json_t *root = json_object();
    json_object_set_new(root, "model", json_string(tc_graph_name(tc_session_graph(s))));
    json_object_set_new(root, "checkpoint", string_or_null(st.checkpoint));
    json_object_set_new(root, "data", string_or_null(st.data_dir));
    json_object_set_new(root, "threads", json_integer(threads));
    json_object_set_new(root, "config", or_null(tc_train_settings_to_json(tc_session_settings(s))));
    json_object_set_new(root, "epochs", or_null(tc_session_history_value(s)));
    json_object_set_new(root, "summary", summary_object(s, &st, status, error));
    if (with_profile)
        json_object_set_new(root, "profile", profile_json(tc_session_graph(s)));
    char *text =
        json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    return text;
}

/* ---- during training --------------------------------------------------- */

size_t tc_train_progress_line(char *buf, size_t cap, const tc_train_progress *p, int epochs,
                              double epoch_overhead)
{
    if (!p) {
        if (cap > 0)
            buf[0] = 0;
        return 0;
    }
    int64_t done = p->batch - p->start_batch;
    double per_batch = done > 0 ? p->seconds / (double)done : 0.0;
    /* the rest of this epoch, the epochs after it, and this one's evaluation */
    double eta = (double)(p->n_batches - p->batch) * per_batch +
                 (double)(epochs - p->epoch - 1) * ((double)p->n_batches * per_batch +
                                                    epoch_overhead) +
                 epoch_overhead;
    enum { width = 20 };
    int fill = p->n_batches > 0 ? (int)(width * p->batch / p->n_batches) : 0;
    char bar[width + 1], ips[32], etab[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    int n = snprintf(buf, cap, "epoch %d/%d [%s] %lld/%lld  loss %.4f  acc %.2f%%  %s img/s  ETA %s",
                     p->epoch + 1, epochs, bar, (long long)p->batch, (long long)p->n_batches,
                     p->loss, 100.0 * p->accuracy,
                     tc_format_count(ips, sizeof ips, (int64_t)(p->images_per_s + 0.5)),
                     tc_format_duration(etab, sizeof etab, eta));
    return n > 0 ? (size_t)n : 0;
}

size_t tc_epoch_line(char *buf, size_t cap, const tc_epoch_record *r, int epochs)
{
    if (!r) {
        if (cap > 0)
            buf[0] = 0;
        return 0;
    }
    char ips[32], val[64] = "";
    if (r->val_total > 0)
        snprintf(val, sizeof val, "  val %.2f%% (loss %.4f)", 100.0 * r->val_accuracy,
                 r->val_loss);
    int n = snprintf(buf, cap, "epoch %d/%d  loss %.4f  train %.2f%%%s  test %.2f%%  %.1f s  %s img/s",
                     r->epoch, epochs, r->loss, 100.0 * r->train_accuracy, val,
                     100.0 * r->test_accuracy, r->seconds,
                     tc_format_count(ips, sizeof ips, (int64_t)(r->images_per_second + 0.5)));
    return n > 0 ? (size_t)n : 0;
}

/* ---- after a stop ------------------------------------------------------ */

char *tc_session_stop_text(tc_session *s, const char *reason)
{
    if (!s)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    report r = {0};
    if (reason)
        put(&r, "%s; ", reason);
    if (st.batch > 0)
        put(&r, "training stopped at epoch %d, batch %lld of %lld", st.epoch + 1,
            (long long)st.batch, (long long)st.n_batches);
    else
        put(&r, "training stopped after epoch %d of %d", st.epoch,
            tc_session_settings(s)->epochs);
    if (st.checkpoint_written)
        put(&r, "; checkpoint written to %s", st.checkpoint);
    return taken(&r);
}

char *tc_session_interrupt_text(tc_session *s, const char *signal_name)
{
    if (!s || !signal_name)
        return NULL;
    tc_session_state st;
    tc_session_get_state(s, &st);
    report r = {0};
    if (st.batch > 0 || st.epoch == 0)
        put(&r, "interrupted by %s at epoch %d, batch %lld of %lld", signal_name,
            st.epoch + 1, (long long)st.batch, (long long)st.n_batches);
    else
        put(&r, "interrupted by %s after epoch %d", signal_name, st.epoch);
    put(&r, "; checkpoint written to %s", st.checkpoint);
    return taken(&r);
}
