/* tinycnn/format.h - the numbers a report shows, formatted once for every
 * program that prints them (the runner, the HTML report, an embedding
 * application's own log). */
#ifndef TINYCNN_FORMAT_H
#define TINYCNN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 61706 -> "61,706", -1234 -> "-1,234" into buf (cut short to fit cap;
 * cap 0: nothing written, buf may be NULL); returns buf so it can sit
 * inside an argument list. */
const char *tc_format_count(char *buf, size_t cap, int64_t v);

/* A duration rounded to whole seconds: "42s", "3m05s", "2h07m" (negative,
 * NaN or infinite: "0s"; past 1e15 s: capped there) into buf as
 * tc_format_count writes; returns buf. */
const char *tc_format_duration(char *buf, size_t cap, double seconds);

#ifdef __cplusplus
}
#endif

#endif
