/* tinycnn train: the options of a training session (tinycnn/session.h)
 * and what it shows - progress bar, epoch lines, summary, profile. The
 * session itself (loop, evaluation, checkpoints, resumption) lives in the
 * library. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "tinycnn/dist.h"
#include "tinycnn/session_report.h"
#include "tinycnn/train_log.h"

/* ---- help: the settings' lines come from the table of settings ---------- */

static const char help_head[] =
    "usage: tinycnn train MODEL.json [options]\n"
    "       tinycnn train --resume CHECKPOINT [MODEL.json] [options]\n"
    "\n"
    "Trains the model on the train split, evaluates it on the validation set (a\n"
    "val/ folder or --val-split) and the test split after every epoch and then\n"
    "writes the checkpoint (atomically). The best epoch is chosen on the\n"
    "validation set when there is one, else on the test set. Options override\n"
    "the model's \"training\" object; when resuming, they override the settings\n"
    "stored in the checkpoint, and the model comes from the checkpoint unless\n"
    "MODEL.json is given.\n"
    "\n"
    "training settings (in a model's \"training\" object too, by the keys listed in\n"
    "docs/model-format.md, all but";

static const char help_tail[] =
    "\n"
    "other options:\n"
    "  --data DIR            data folder (default: $TINYCNN_DATA, else data/mnist;\n"
    "                        when resuming, the checkpoint's folder)\n"
    "  --threads N           worker threads (default: all cores); results are\n"
    "                        reproducible for a given seed and thread count\n"
    "  --test-limit N        evaluate on a sample of N test images that keeps every\n"
    "                        class (the same one each run; 0: all)\n"
    "  -o, --output FILE     checkpoint to write (default: <model name>.ckpt, or the\n"
    "                        --resume checkpoint)\n"
    "  --resume CHECKPOINT   continue a run where its checkpoint left off\n"
    "  --allow-changes       resume although MODEL.json, --data, --limit or\n"
    "                        --val-split differ from the checkpoint's (refused\n"
    "                        otherwise, listing the differences)\n"
    "  --log FILE            stream a training log while training: one line per\n"
    "                        epoch, JSON lines (CSV when FILE ends in .csv);\n"
    "                        appended to when resuming\n"
    "  --log-every N         also a line every N steps\n"
    "  --save-best FILE      also write the best epoch's checkpoint to FILE whenever\n"
    "                        the best improves\n"
    "  --profile             print per-node forward/backward times at the end\n"
    "  --json                print one JSON object (epochs and summary) to stdout\n"
    "  --quiet               no progress bar and no per-epoch lines\n"
    "  --plugin-dir DIR      also load the plugins in DIR (repeatable)\n"
    "  --distributed         train data-parallel with the other processes of an MPI\n"
    "                        job (mpirun -np N tinycnn train ...; implied when\n"
    "                        started by mpirun): rank 0 alone prints, evaluates\n"
    "                        and writes checkpoints (docs/distributed.md)\n"
    "  --step-timeout SEC    end the run (exit status 1) when one forward or\n"
    "                        backward pass runs longer than SEC seconds, naming\n"
    "                        the node that runs\n"
    "\n"
    "SIGINT or SIGTERM stops at the end of the current batch and writes the\n"
    "checkpoint (exit status 130 or 143); a second one stops at once, naming the\n"
    "node that runs, and leaves the last checkpoint as it was. --resume continues\n"
    "from that batch with the same results as an uninterrupted run. A NaN or\n"
    "infinite loss stops with exit status 1 and leaves the last good checkpoint in\n"
    "place; so does lost standard output (a closed pipe, a full disk), after the\n"
    "epoch's checkpoint.\n";

static char help[8192];

/* The help text, built from the settings table on first use. */
static const char *train_help(void)
{
    if (help[0])
        return help;
    const size_t cap = sizeof help;
    size_t o = (size_t)snprintf(help, cap, "%s", help_head);
    int n = tc_train_settings_count(), runs = 0;
    for (int i = 0; i < n; i++)
        runs += !tc_train_setting_at(i)->in_model;
    for (int i = 0, k = 0; i < n && o < cap; i++)
        if (!tc_train_setting_at(i)->in_model)
            o += (size_t)snprintf(help + o, cap - o, "%s %s", k++ == 0 ? "" : k == runs ? " and" : ",",
                                  tc_train_setting_at(i)->option);
    o += (size_t)snprintf(help + o, o < cap ? cap - o : 0, "):\n");
    if (o < cap)
        o += tc_train_settings_help(help + o, cap - o);
    if (o < cap)
        snprintf(help + o, cap - o, "%s", help_tail);
    return help;
}

/* The signal that asked us to stop (0: none; SIGPIPE: standard output was
 * lost). A static because a signal handler (cli_signals.c) can reach
 * nothing else; the library only ever sees a pointer. */
static volatile sig_atomic_t stop_signal;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- options ------------------------------------------------------------- */

typedef struct train_opts {
    const char *model_path, *data_opt, *out_path, *resume_path, *best_path, *log_path;
    int64_t log_every;
    int64_t test_limit, threads;
    double step_timeout; /* seconds, 0: none */
    int profile, json, quiet, allow_changes, distributed;
    tc_train_overrides settings;
    tc_dist *dist;  /* the MPI group (--distributed); NULL: alone */
    int rank;       /* in dist; a rank other than 0 prints nothing but its own errors */
    int error_fd;   /* where those go (its stderr before it was silenced); -1: stderr */
} train_opts;

/* An option of the table of settings: checked now, applied by the session
 * (-1: opt is none of them). */
static int setting_opt(cli_args *a, void *user)
{
    const tc_train_setting *s = tc_train_setting_find_option(a->opt);
    if (!s)
        return -1;
    tc_setting_value v = {s->flag_value, 0.0};
    const char *text;
    tc_error err = {{0}};
    if (!s->metavar ? cli_no_value(a) : cli_value(a, &text))
        return 1;
    if (s->metavar && tc_train_setting_parse(s, text, &v, &err) != 0) {
        cli_usage("train", "invalid value '%s' for %s (%s)", text, a->opt, err.msg);
        return 1;
    }
    tc_train_overrides_put(&((train_opts *)user)->settings, s, v);
    return 0;
}

static int parse_opts(cli_globals *g, int argc, char **argv, train_opts *o)
{
    memset(o, 0, sizeof *o);
    const cli_opt table[] = {
        CLI_FLAG("--profile", &o->profile),
        CLI_FLAG("--allow-changes", &o->allow_changes),
        CLI_FLAG("--json", &o->json),
        CLI_FLAG("--quiet", &o->quiet),
        CLI_FLAG("-q", &o->quiet),
        CLI_FLAG("--distributed", &o->distributed),
        CLI_STRING("--data", &o->data_opt),
        CLI_STRING("--resume", &o->resume_path),
        CLI_STRING("--save-best", &o->best_path),
        CLI_STRING("--log", &o->log_path),
        CLI_INT("--log-every", &o->log_every, 1, INT64_MAX),
        CLI_INT("--threads", &o->threads, 1, 1024),
        CLI_DOUBLE("--step-timeout", &o->step_timeout, 0, 1, 1e6, 0),
        CLI_INT("--test-limit", &o->test_limit, 0, INT64_MAX),
        CLI_FILE("-o", &o->out_path),
        CLI_FILE("--output", &o->out_path),
        CLI_OPT_END,
    };
    cli_args a;
    cli_args_init(&a, "train", argc, argv, g);
    int n_pos;
    if (cli_parse_with(&a, table, setting_opt, o, &o->model_path, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (!o->model_path && !o->resume_path)
        return cli_usage("train", "missing MODEL.json");
    return 0;
}

/* ---- progress bar and epoch lines ---------------------------------------- */

/* Room for any line of tc_train_progress_line or tc_epoch_line: under 500
 * characters even with a loss near DBL_MAX. */
enum { LINE_CAP = 512 };

typedef struct progress_ui {
    tc_train_log *log;     /* --log, or NULL */
    int64_t log_every;     /* step lines every N steps; 0: none */
    int64_t n_batches;     /* per epoch, for the step count */
    tc_error log_error;    /* the log's first write error */
    int tty;               /* draw the progress bar */
    int epochs;
    int epoch;             /* the epoch drawn */
    double last_draw;
    double epoch_overhead; /* seconds of evaluation + saving per epoch, measured */
    int drawn;
    int lines;             /* print a line per epoch */
} progress_ui;

static void clear_bar(progress_ui *ui)
{
    if (ui->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        ui->drawn = 0;
    }
}

static void draw_progress(progress_ui *ui, const tc_train_progress *p)
{
    double t = now_s();
    if (p->epoch != ui->epoch) {
        ui->epoch = p->epoch;
        ui->last_draw = 0;
    }
    if (p->batch == p->n_batches) {
        clear_bar(ui); /* the epoch's training is done; evaluation follows */
        return;
    }
    if (t - ui->last_draw < 0.1)
        return; /* at most ten redraws a second */
    ui->last_draw = t;
    char line[LINE_CAP];
    tc_train_progress_line(line, sizeof line, p, ui->epochs, ui->epoch_overhead);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    ui->drawn = 1;
}

/* A log line that cannot be written is lost output: stop at the next batch
 * boundary, as when standard output is lost, and say why at the end. */
static void log_failed(progress_ui *ui)
{
    tc_train_log_close(ui->log, NULL);
    ui->log = NULL;
    if (!stop_signal)
        stop_signal = SIGPIPE;
}

static void on_progress(void *user, const tc_train_progress *p)
{
    progress_ui *ui = user;
    if (ui->log && ui->log_every > 0 && p->batch > p->start_batch &&
        (p->batch % ui->log_every == 0 || p->batch == p->n_batches) &&
        tc_train_log_step(ui->log, p, (int64_t)p->epoch * ui->n_batches + p->batch,
                          &ui->log_error) != 0)
        log_failed(ui);
    if (ui->tty)
        draw_progress(ui, p);
}

static void epoch_line(void *user, const tc_epoch_record *r)
{
    progress_ui *ui = user;
    clear_bar(ui);
    cli_watch_saved(); /* the epoch's checkpoint is written */
    if (ui->log && tc_train_log_epoch(ui->log, r, (int64_t)r->epoch * ui->n_batches,
                                      &ui->log_error) != 0)
        log_failed(ui);
    ui->epoch_overhead = r->overhead_seconds;
    if (!ui->lines)
        return;
    char line[LINE_CAP];
    tc_epoch_line(line, sizeof line, r, ui->epochs);
    printf("%s\n", line);
    if (cli_flush_stdout() != 0 && !stop_signal)
        stop_signal = SIGPIPE; /* output lost: stop here, the checkpoint just written */
}

/* ---- what the run says (the texts are the library's) ---------------------- */

/* Writes a text of the library's to f and frees it (NULL: out of memory,
 * nothing to write). */
static void put_text(FILE *f, char *text)
{
    if (text)
        fputs(text, f);
    free(text);
    fflush(f);
}

static void resume_hint(const train_opts *o, const cli_globals *g, const char *out_path)
{
    fprintf(stderr, "resume with: tinycnn train --resume %s", out_path);
    for (int i = 0; i < g->n_plugin_dirs; i++)
        fprintf(stderr, " --plugin-dir %s", g->plugin_dirs[i]);
    if (o->data_opt)
        fprintf(stderr, " --data %s", o->data_opt);
    if (o->threads)
        fprintf(stderr, " --threads %lld", (long long)o->threads);
    fprintf(stderr, "\n");
}

static void print_summary(const train_opts *o, tc_session *s, const char *status,
                          const char *error)
{
    if (!o->json) {
        put_text(stdout, tc_session_summary_text(s, status, o->profile));
        return;
    }
    /* the library's text is already indented as cli_print_json indents */
    char *text = tc_session_summary_json(s, status, error, tc_get_threads(), o->profile);
    if (!text) {
        cli_fail("out of memory formatting the JSON output");
        return;
    }
    cli_print_text(text, 1);
    free(text);
    cli_flush_stdout();
}

/* Says where a run that stopped short stopped (on stderr), with the resume
 * hint when epochs are left. */
static void say_stop(const train_opts *o, const cli_globals *g, tc_session *s, char *text)
{
    cli_fail("%s", text ? text : "out of memory");
    free(text);
    tc_session_state st;
    tc_session_get_state(s, &st);
    if (st.checkpoint_written && st.epoch < tc_session_settings(s)->epochs)
        resume_hint(o, g, st.checkpoint);
}

/* A stop asked for by a signal, the checkpoint written: where it stopped. */
static int report_interrupt(const train_opts *o, const cli_globals *g, tc_session *s)
{
    tc_session_state st;
    tc_session_get_state(s, &st);
    if (stop_signal == SIGPIPE) {
        char *text = tc_session_stop_text(s, NULL);
        cli_stdout_lost("%s", text ? text : "training stopped");
        free(text);
        resume_hint(o, g, st.checkpoint);
        return CLI_EXIT_RUNTIME;
    }
    int sig = stop_signal ? stop_signal : SIGINT;
    char *text = tc_session_interrupt_text(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fprintf(stderr, "tinycnn: %s\n", text ? text : "interrupted");
    free(text);
    resume_hint(o, g, st.checkpoint);
    return 128 + sig;
}

/* ---- the command ------------------------------------------------------------ */

/* The --log file could not be written: the run stopped at the next batch
 * boundary with its checkpoint (or had failed on its own). */
static int finish_log_lost(const train_opts *o, const cli_globals *g, tc_session *s,
                           const tc_error *log_err, int rc, const tc_error *err)
{
    if (rc != 0)
        cli_fail("%s", err->msg);
    say_stop(o, g, s, tc_session_stop_text(s, log_err->msg));
    print_summary(o, s, "failed", log_err->msg);
    return CLI_EXIT_RUNTIME;
}

/* An error of this rank: rank 0 (or a run alone) says it as always; another
 * rank only when the others cannot know it (tc_dist_broken), naming itself. */
static void fail_here(const train_opts *o, const char *msg)
{
    if (o->rank == 0)
        cli_fail("%s", msg);
    else if (tc_dist_broken(o->dist) && o->error_fd >= 0)
        dprintf(o->error_fd, "tinycnn: rank %d: %s\n", o->rank, msg);
}

/* The session's status after its run, as the summary and the exit status. */
static int finish(const train_opts *o, const cli_globals *g, tc_session *s,
                  tc_session_status status, int rc, const tc_error *err)
{
    if (rc != 0)
        fail_here(o, err->msg);
    switch (status) {
    case TC_SESSION_COMPLETED:
        print_summary(o, s, "completed", NULL);
        return CLI_EXIT_OK;
    case TC_SESSION_INTERRUPTED:
        rc = rc ? CLI_EXIT_RUNTIME : report_interrupt(o, g, s);
        print_summary(o, s, "interrupted", NULL);
        return rc;
    case TC_SESSION_DIVERGED:
        print_summary(o, s, "diverged", err->msg);
        return CLI_EXIT_RUNTIME;
    case TC_SESSION_FAILED:
        print_summary(o, s, "failed", err->msg);
        break;
    }
    return CLI_EXIT_RUNTIME;
}

/* Trains what is left and reports it; returns the exit status. */
static int train(const train_opts *o, const cli_globals *g, tc_session *s)
{
    tc_session_state st;
    tc_session_get_state(s, &st);
    const tc_train_config *c = tc_session_settings(s);
    if (st.stopped_early || st.epoch >= c->epochs) {
        if (!o->json)
            put_text(stdout, tc_session_finished_text(s, o->resume_path));
        print_summary(o, s, "completed", NULL);
        return CLI_EXIT_OK;
    }
    progress_ui ui = {.epochs = c->epochs, .epoch = -1, .lines = !o->json && !o->quiet,
                      .tty = isatty(STDERR_FILENO) && !o->quiet, .log_every = o->log_every,
                      .n_batches = st.n_batches};
    tc_error err = {{0}};
    if (o->log_path &&
        !(ui.log = tc_train_log_open(o->log_path, o->resume_path != NULL, st.wall_seconds, &err)))
        return cli_fail("%s", err.msg);
    tc_train_hooks hooks = {
        .progress = ui.tty || (ui.log && ui.log_every > 0) ? on_progress : NULL,
        .user = &ui,
        .progress_every = 1,
        .cancel = &stop_signal,
        .epoch_end = epoch_line,
    };
    tc_session_status status;
    int rc = tc_session_run(s, &hooks, &status, &err);
    clear_bar(&ui);
    if (tc_train_log_close(ui.log, &ui.log_error) != 0 || ui.log_error.msg[0])
        return finish_log_lost(o, g, s, &ui.log_error, rc, &err);
    return finish(o, g, s, status, rc, &err);
}
static tc_session *open_session(const train_opts *o, const tc_registry *reg, tc_error *err)
{
    tc_session_config sc = {
        .registry = reg,
        .model_path = o->model_path,
        .resume_path = o->resume_path,
        .output_path = o->out_path,
        /* a resumed run reads the checkpoint's folder unless told otherwise */
        .data_dir = o->resume_path && !o->data_opt ? NULL : cli_data_dir(o->data_opt),
        .best_path = o->best_path,
        .overrides = &o->settings,
        .test_limit = o->test_limit,
        .profile = o->profile,
        .allow_changes = o->allow_changes,
        .dist = o->dist,
    };
    return tc_session_new(&sc, err);
}

/* Under mpirun (or --distributed): joins the group; a rank other than 0
 * then prints nothing (standard output and error go to /dev/null, its own
 * errors to the error stream it had) and writes no log. */
static int join_group(train_opts *o, tc_error *err)
{
    o->error_fd = -1;
    if (!o->distributed && !tc_dist_launched())
        return 0;
    if (!(o->dist = tc_dist_init(err)))
        return tc_error_prefix(err, "%s", o->distributed ? "--distributed" : "started by mpirun");
    o->rank = tc_dist_rank(o->dist);
    if (o->rank == 0)
        return 0;
    fflush(stdout);
    fflush(stderr);
    o->error_fd = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    o->quiet = 1;
    o->log_path = NULL;
    return 0;
}

/* Rank 0 of a group: the time the gradients' allreduce took. */
static void print_comm(const train_opts *o, double seconds)
{
    int ranks = tc_dist_size(o->dist);
    int64_t calls = tc_dist_comm_calls(o->dist);
    if (!o->dist || o->rank != 0 || o->json || o->quiet || calls == 0)
        return;
    double comm = tc_dist_comm_seconds(o->dist);
    printf("allreduce over %d ranks: %.3f ms per step (%lld steps), %.1f%% of %.1f s\n", ranks,
           1e3 * comm / (double)calls, (long long)calls, seconds > 0 ? 100.0 * comm / seconds : 0.0,
           seconds);
}

/* Leaves the group: every rank together, or (this rank failed alone) all
 * at once, so that none waits for it. */
static int leave_group(const train_opts *o, int rc)
{
    if (o->dist && rc != CLI_EXIT_OK && tc_dist_broken(o->dist))
        tc_dist_abort(o->dist, rc);
    tc_dist_free(o->dist);
    return rc;
}

static int run(cli_globals *g, int argc, char **argv)
{
    train_opts o;
    if (parse_opts(g, argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    if (cli_parse_only)
        return CLI_EXIT_OK;
    tc_set_threads((int)o.threads);
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_session *s = NULL;
    if (join_group(&o, &err) != 0)
        return cli_fail("%s", err.msg);
    if (cli_load_registry(g, &reg, &err) != 0 || !(s = open_session(&o, reg, &err))) {
        /* each rank opens its own session: a failure here is this rank's alone */
        tc_dist_mark_broken(o.dist);
        fail_here(&o, err.msg);
        if (reg)
            tc_registry_free(reg);
        return leave_group(&o, CLI_EXIT_RUNTIME);
    }
    if (!o.json)
        put_text(stderr, tc_session_notes(s));

    /* From here on a signal means: stop at the next batch boundary; a
     * second one ends the run at once (the checkpoint write is atomic). A
     * crash, an exit() or a stuck step names the node that was running. */
    tc_session_state st0;
    tc_session_get_state(s, &st0);
    cli_watch_run(tc_session_graph(s), st0.checkpoint, st0.last_good, &stop_signal,
                  o.step_timeout);
    if (!o.json && !o.quiet)
        put_text(stdout, tc_session_banner(s, o.resume_path));
    double t0 = now_s();
    int rc = train(&o, g, s);
    print_comm(&o, now_s() - t0);
    cli_watch_end();
    tc_session_free(s);
    tc_registry_free(reg);
    return leave_group(&o, rc);
}

const cli_command cli_train_command = {"train", "train a model, writing a checkpoint each epoch",
                                       NULL, run, train_help};
