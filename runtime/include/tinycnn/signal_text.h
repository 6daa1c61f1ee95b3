/* tinycnn/signal_text.h - a message built where only async-signal-safe
 * calls are allowed: in a fatal-signal handler, an exit handler, a step
 * watch's callback. No malloc, no locks, no stdio; what does not fit is cut
 * off. Writing the text out (write(2)) is the caller's. */
#ifndef TINYCNN_SIGNAL_TEXT_H
#define TINYCNN_SIGNAL_TEXT_H

#include <stddef.h>

#include "tinycnn/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zero-initialise one ({0}): an empty text. text is NUL-terminated. */
typedef struct tc_signal_text {
    char text[1536];
    size_t len;
} tc_signal_text;

void tc_signal_text_add(tc_signal_text *t, const char *s); /* NULL adds nothing */
void tc_signal_text_int(tc_signal_text *t, long v);        /* decimal */
void tc_signal_text_seconds(tc_signal_text *t, double s);  /* one decimal at most: "2", "0.5" */

/* Where g is: "in node 'c1' (layer type Conv2d, plugin /x/conv2d.so), in
 * its forward()" (plan(), backward()), or, with no layer callback running
 * (g may be NULL), "while no layer callback was running (in tinycnn itself
 * or a library it uses)". */
void tc_signal_text_running(tc_signal_text *t, const tc_graph *g);

/* "SIGSEGV (invalid memory access)", "SIGINT", ...; "a signal" for one
 * without a description. A static string. */
const char *tc_signal_name(int sig);

#ifdef __cplusplus
}
#endif
#endif
