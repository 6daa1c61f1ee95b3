/* tinycnn/status.h - error reporting shared by every part of the library. */
#ifndef TINYCNN_STATUS_H
#define TINYCNN_STATUS_H

#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* printf into err->msg (truncating). Returns 1 so callers can write
 * `return tc_error_set(err, ...);`. err may be NULL. */
int tc_error_set(tc_error *err, const char *fmt, ...) TC_PRINTF(2, 3);

/* Prepend "prefix: " to an existing message (e.g. the file name). */
int tc_error_prefix(tc_error *err, const char *fmt, ...) TC_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif
