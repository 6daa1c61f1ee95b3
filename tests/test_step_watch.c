/* The step watch (tinycnn/step_watch.h) and the async-signal-safe text
 * (tinycnn/signal_text.h). A stuck pass is a graph whose running-callback
 * word is set by hand (graph_internal.h): a real hung callback could not be
 * ended in this process. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "graph_internal.h"
#include "testutil.h"
#include "tinycnn/signal_text.h"
#include "tinycnn/step_watch.h"

static tc_graph *lenet(void)
{
    tc_error err = {{0}};
    return tcu_graph_ok(
        tc_graph_load_file(tcu_registry(), TC_TEST_SOURCE_DIR "/models/lenet5.json", &err), &err);
}

/* What the graph says it is doing: node's callback of kind running (node
 * -1: none), after `passes` passes. */
static void pretend(tc_graph *g, int node, int kind, uint64_t passes)
{
    atomic_store(&g->passes, passes);
    atomic_store(&g->running, node < 0 ? 0 : (node + 1) << 2 | kind);
}

typedef struct seen {
    atomic_int calls;
    atomic_int node;
    _Atomic double seconds;
} seen;

static void on_stuck(void *user, int node, double seconds)
{
    seen *s = user;
    atomic_store(&s->node, node);
    atomic_store(&s->seconds, seconds);
    atomic_fetch_add(&s->calls, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Waits up to 10 s for the count of calls to reach n. */
static void wait_calls(seen *s, int n)
{
    for (double t0 = now(); atomic_load(&s->calls) < n && now() - t0 < 10;)
        nap(0.01);
}

/* A watch of LeNet-5 (pretending to be in node `node`'s callback `kind`)
 * with the limit `seconds`, calling on_stuck with s. */
static tc_step_watch *watch(tc_graph **g, seen *s, int node, int kind, double seconds)
{
    tc_error err = {{0}};
    *g = lenet();
    pretend(*g, node, kind, 7);
    tc_step_watch *w = tc_step_watch_start(*g, seconds, on_stuck, s, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    return w;
}

static void finish(tc_step_watch *w, tc_graph *g)
{
    tc_step_watch_stop(w);
    tc_graph_free(g);
}

/* One pass stuck in node 3's backward: one call, after the limit, naming
 * node 3; none more for the same pass; a new pass stuck as long is a new
 * call. */
static void test_stuck_pass(void)
{
    tc_graph *g;
    seen s = {0};
    double t0 = now();
    tc_step_watch *w = watch(&g, &s, 3, TC_CALLBACK_BACKWARD, 0.2);
    wait_calls(&s, 1);
    double waited = now() - t0;
    CU_ASSERT_EQUAL(atomic_load(&s.calls), 1);
    CU_ASSERT_EQUAL(atomic_load(&s.node), 3);
    CU_ASSERT(atomic_load(&s.seconds) > 0.2);
    CU_ASSERT(waited > 0.2);
    nap(0.5); /* the same pass, still stuck */
    CU_ASSERT_EQUAL(atomic_load(&s.calls), 1);
    pretend(g, 5, TC_CALLBACK_FORWARD, 8);
    wait_calls(&s, 2);
    CU_ASSERT_EQUAL(atomic_load(&s.calls), 2);
    CU_ASSERT_EQUAL(atomic_load(&s.node), 5);
    finish(w, g);
}

/* Passes that each end in time, and a graph with no callback running for a
 * long while (data loading, a checkpoint being written), are not stuck. */
static void test_no_call_when_running(void)
{
    seen s = {0};
    tc_graph *g;
    tc_step_watch *w = watch(&g, &s, 2, TC_CALLBACK_FORWARD, 0.25);
    for (uint64_t p = 8; p < 48; p++) { /* 0.8 s of 20 ms passes */
        nap(0.02);
        pretend(g, (int)(p % 4), p % 2 ? TC_CALLBACK_FORWARD : TC_CALLBACK_BACKWARD, p);
    }
    pretend(g, -1, 0, 48);
    nap(0.8);
    CU_ASSERT_EQUAL(atomic_load(&s.calls), 0);
    finish(w, g);
}

/* Stopping wakes the thread at once (not after its 50 ms tick, nor the
 * limit), joins it, and no call comes after, even for a pass stuck then. */
static void test_stop_joins(void)
{
    tc_graph *g;
    seen s = {0};
    tc_step_watch *w = watch(&g, &s, -1, 0, 1000);
    nap(0.02);
    double t0 = now();
    tc_step_watch_stop(w);
    CU_ASSERT(now() - t0 < 1.0); /* loose: a loaded machine */
    tc_error err = {{0}};
    w = tc_step_watch_start(g, 0.05, on_stuck, &s, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    tc_step_watch_stop(w);
    pretend(g, 1, TC_CALLBACK_FORWARD, 3);
    nap(0.3);
    CU_ASSERT_EQUAL(atomic_load(&s.calls), 0);
    tc_step_watch_stop(NULL);
    tc_graph_free(g);
}

static void test_bad_arguments(void)
{
    tc_graph *g = lenet();
    seen s = {0};
    const double limits[] = {0, -1, NAN, INFINITY};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        tc_error err = {{0}};
        CU_ASSERT_PTR_NULL(tc_step_watch_start(g, limits[i], on_stuck, &s, &err));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "step watch"));
    }
    tc_error err = {{0}};
    CU_ASSERT_PTR_NULL(tc_step_watch_start(NULL, 1, on_stuck, &s, &err));
    CU_ASSERT_PTR_NULL(tc_step_watch_start(g, 1, NULL, &s, &err));
    CU_ASSERT_PTR_NULL(tc_step_watch_start(g, 0, on_stuck, &s, NULL)); /* err may be NULL */
    tc_graph_free(g);
}

/* ---- signal text ---------------------------------------------------------- */

static void test_text_pieces(void)
{
    tc_signal_text t = {.len = 0};
    tc_signal_text_add(&t, "ab");
    tc_signal_text_add(&t, NULL);
    tc_signal_text_add(&t, "");
    tc_signal_text_add(&t, "c ");
    const long ints[] = {0, 7, -42, 1234567, LONG_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        tc_signal_text_int(&t, ints[i]);
        tc_signal_text_add(&t, " ");
    }
    /* tenths rounded half up; a whole number without ".0" */
    const double secs[] = {2, 0.5, 0.04, 0.05, 1.25, 30, 1e6};
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        tc_signal_text_seconds(&t, secs[i]);
        tc_signal_text_add(&t, "|");
    }
    const char *want = "abc 0 7 -42 1234567 -9223372036854775808 2|0.5|0|0.1|1.3|30|1000000|";
    CU_ASSERT_STRING_EQUAL(t.text, want);
    CU_ASSERT_EQUAL(t.len, strlen(want));
}

/* What does not fit is cut off, one byte kept for the NUL, digits too. */
static void test_text_cut_off(void)
{
    tc_signal_text t = {.len = 0};
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    tc_signal_text_add(&t, big);
    CU_ASSERT_EQUAL(t.len, sizeof t.text - 1);
    CU_ASSERT_EQUAL(t.text[sizeof t.text - 1], 0);
    tc_signal_text_int(&t, 5);
    tc_signal_text_add(&t, "y");
    CU_ASSERT_EQUAL(t.len, sizeof t.text - 1);
    CU_ASSERT_PTR_NULL(strchr(t.text, '5'));
    t.len = sizeof t.text - 3; /* room for two more characters */
    tc_signal_text_int(&t, 12345);
    CU_ASSERT_STRING_EQUAL(t.text + sizeof t.text - 3, "12");
}

/* The running node by name, type, plugin file and phase; or none. */
static void test_text_running(void)
{
    tc_graph *g = lenet();
    tc_signal_text t = {.len = 0};
    tc_signal_text_running(&t, g);
    const char *none = "while no layer callback was running (in tinycnn itself or a library it "
                       "uses)";
    CU_ASSERT_STRING_EQUAL(t.text, none);
    t = (tc_signal_text){.len = 0};
    tc_signal_text_running(&t, NULL);
    CU_ASSERT_STRING_EQUAL(t.text, none);
    static const char *const phase[] = {"plan()", "forward()", "backward()"};
    for (int k = TC_CALLBACK_PLAN; k <= TC_CALLBACK_BACKWARD; k++) {
        pretend(g, 0, k, 0);
        t = (tc_signal_text){.len = 0};
        tc_signal_text_running(&t, g);
        const char *origin = tc_graph_node_origin(g, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(origin);
        CU_ASSERT(strlen(origin) > 10 && strcmp(origin + strlen(origin) - 10, "/conv2d.so") == 0);
        char want[1536];
        snprintf(want, sizeof want, "in node 'conv1' (layer type Conv2d, plugin %s), in its %s",
                 origin, phase[k - 1]);
        CU_ASSERT_STRING_EQUAL(t.text, want);
    }
    pretend(g, -1, 0, 0);
    tc_graph_free(g);
}

static void test_signal_names(void)
{
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGSEGV), "SIGSEGV (invalid memory access)");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGBUS), "SIGBUS (bus error)");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGFPE), "SIGFPE (arithmetic exception)");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGILL), "SIGILL (illegal instruction)");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGABRT), "SIGABRT (abort)");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGINT), "SIGINT");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGTERM), "SIGTERM");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(SIGUSR1), "a signal");
    CU_ASSERT_STRING_EQUAL(tc_signal_name(0), "a signal");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"a stuck pass is reported once, naming its node", test_stuck_pass},
        {"passes that end in time and idle time are not stuck", test_no_call_when_running},
        {"stop wakes and joins the thread; no call after", test_stop_joins},
        {"bad limits, graph or callback refused", test_bad_arguments},
        {"signal text: strings, integers, seconds", test_text_pieces},
        {"signal text: cut off at the end of its buffer", test_text_cut_off},
        {"signal text: the running node and phase", test_text_running},
        {"signal names", test_signal_names},
        {NULL, NULL},
    };
    return tcu_run("step_watch", tests);
}
