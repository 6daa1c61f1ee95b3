/* The step watch of tinycnn/step_watch.h: a thread waking every tick
 * (1/20 of the limit, between 1 ms and 50 ms) on a monotonic clock, so that
 * stopping it is immediate and a changed wall clock changes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shape.h" /* tc_monotonic_seconds */
#include "tinycnn/step_watch.h"

struct tc_step_watch {
    const tc_graph *g;
    double limit, tick;
    tc_step_stuck_fn on_stuck;
    void *user;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit; /* under mu */
};

/* Sleeps one tick, or less when stopped meanwhile; returns 1 when stopped. */
static int nap(tc_step_watch *w)
{
    double t = tc_monotonic_seconds() + w->tick;
    struct timespec until = {(time_t)t, (long)((t - floor(t)) * 1e9)};
    pthread_mutex_lock(&w->mu);
    while (!w->quit && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
        ; /* woken early without quit: a spurious wake-up */
    int quit = w->quit;
    pthread_mutex_unlock(&w->mu);
    return quit;
}

/* A pass is stuck when the same pass (the count of passes unchanged) has
 * had some callback running at every tick for longer than the limit. */
static void *watch(void *arg)
{
    tc_step_watch *w = arg;
    uint64_t seen = 0;
    double since = tc_monotonic_seconds();
    int told = 0;
    while (!nap(w)) {
        uint64_t passes;
        int k = tc_graph_running_node(w->g, NULL, &passes);
        double t = tc_monotonic_seconds();
        if (k < 0 || passes != seen) {
            since = t;
            seen = passes;
            told = 0;
        } else if (t - since > w->limit && !told) {
            told = 1;
            w->on_stuck(w->user, k, t - since);
        }
    }
    return NULL;
}

static void free_watch(tc_step_watch *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

tc_step_watch *tc_step_watch_start(const tc_graph *g, double seconds, tc_step_stuck_fn on_stuck,
                                   void *user, tc_error *err)
{
    if (!g || !on_stuck || !(seconds > 0) || !isfinite(seconds)) {
        tc_error_set(err, "step watch: needs a graph, a callback and a limit > 0 s (got %g)",
                     seconds);
        return NULL;
    }
    tc_step_watch *w = calloc(1, sizeof *w);
    if (!w) {
        tc_error_set(err, "out of memory");
        return NULL;
    }
    *w = (tc_step_watch){.g = g, .limit = seconds, .on_stuck = on_stuck, .user = user};
    w->tick = fmin(fmax(seconds / 20, 0.001), 0.05);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&w->thread, NULL, watch, w);
    if (e == 0)
        return w;
    tc_error_set(err, "step watch: cannot start its thread: %s", strerror(e));
    free_watch(w);
    return NULL;
}

void tc_step_watch_stop(tc_step_watch *w)
{
    if (w) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        free_watch(w);
    }
}
