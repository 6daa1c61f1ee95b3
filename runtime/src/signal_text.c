/* Async-signal-safe message building (tinycnn/signal_text.h): plain loops
 * over the caller's struct, and the graph's lock-free accessors. */
#include <signal.h>

#include "tinycnn/signal_text.h"

void tc_signal_text_add(tc_signal_text *t, const char *s)
{
    for (; s && *s && t->len + 1 < sizeof t->text; s++)
        t->text[t->len++] = *s;
    t->text[t->len] = 0;
}

void tc_signal_text_int(tc_signal_text *t, long v)
{
    char d[24];
    int i = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do
        d[i++] = (char)('0' + u % 10);
    while ((u /= 10) && i < (int)sizeof d);
    if (v < 0)
        tc_signal_text_add(t, "-");
    while (i > 0 && t->len + 1 < sizeof t->text)
        t->text[t->len++] = d[--i];
    t->text[t->len] = 0;
}

void tc_signal_text_seconds(tc_signal_text *t, double s)
{
    long tenths = (long)(s * 10 + 0.5);
    tc_signal_text_int(t, tenths / 10);
    if (tenths % 10) {
        tc_signal_text_add(t, ".");
        tc_signal_text_int(t, tenths % 10);
    }
}

void tc_signal_text_running(tc_signal_text *t, const tc_graph *g)
{
    int phase;
    int k = g ? tc_graph_running_node(g, &phase, NULL) : -1;
    if (k < 0) {
        tc_signal_text_add(t, "while no layer callback was running (in tinycnn itself or a "
                              "library it uses)");
        return;
    }
    static const char *const what[] = {"", "plan()", "forward()", "backward()"};
    const char *origin = tc_graph_node_origin(g, k);
    tc_signal_text_add(t, "in node '");
    tc_signal_text_add(t, tc_graph_node_name(g, k));
    tc_signal_text_add(t, "' (layer type ");
    tc_signal_text_add(t, tc_graph_node_type(g, k));
    tc_signal_text_add(t, ", plugin ");
    tc_signal_text_add(t, origin ? origin : "unknown");
    tc_signal_text_add(t, "), in its ");
    tc_signal_text_add(t, what[phase & 3]);
}

const char *tc_signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
    }
}
