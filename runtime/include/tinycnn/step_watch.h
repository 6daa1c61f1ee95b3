/* tinycnn/step_watch.h - noticing a forward or backward pass that hangs.
 *
 * A watch is a thread that looks at a graph every few milliseconds and
 * calls back when one pass has had a layer callback running, with no new
 * pass started, for longer than a limit: an endless loop or a deadlock in a
 * plugin. It reads only the graph's lock-free state (tc_graph_running_node),
 * so it works while the pass holds any lock, and it touches no signal
 * setting: what to do about a stuck pass (report it and _exit, as `tinycnn
 * train --step-timeout` does) is the caller's. */
#ifndef TINYCNN_STEP_WATCH_H
#define TINYCNN_STEP_WATCH_H

#include "tinycnn/graph.h"
#include "tinycnn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_step_watch tc_step_watch;

/* Called on the watch's thread, at most once per pass: node is the node
 * whose callback was running, seconds how long the pass had been stuck. */
typedef void (*tc_step_stuck_fn)(void *user, int node, double seconds);

/* Starts watching g (which must outlive the watch) with the limit seconds
 * (> 0, finite). NULL with err set when the arguments are bad or the thread
 * cannot start. Owner: the caller, via tc_step_watch_stop. */
tc_step_watch *tc_step_watch_start(const tc_graph *g, double seconds, tc_step_stuck_fn on_stuck,
                                   void *user, tc_error *err);

/* Stops the watch and joins its thread (at once, not after a tick); after
 * it on_stuck is not called again. NULL is a no-op. Not from on_stuck. */
void tc_step_watch_stop(tc_step_watch *w);

#ifdef __cplusplus
}
#endif
#endif
