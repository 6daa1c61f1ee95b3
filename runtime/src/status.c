#include "tinycnn/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tc_error_set(tc_error *err, const char *fmt, ...)
{
    if (!err)
        return 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return 1;
}

int tc_error_prefix(tc_error *err, const char *fmt, ...)
{
    if (!err)
        return 1;
    char prefix[TC_ERROR_CAP];
    char old[TC_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[2 * TC_ERROR_CAP + 2];
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    snprintf(joined, sizeof joined, "%s: %s", prefix, old);
    memcpy(err->msg, joined, sizeof err->msg);
    err->msg[sizeof err->msg - 1] = 0;
    return 1;
}
