/* The report numbers of tinycnn/format.h. */
#include <math.h>
#include <stdio.h>

#include "tinycnn/format.h"

const char *tc_format_count(char *buf, size_t cap, int64_t v)
{
    char raw[32], out[48];
    int n = snprintf(raw, sizeof raw, "%lld", (long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && raw[i - 1] != '-' && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
    if (cap > 0)
        snprintf(buf, cap, "%s", out);
    return buf;
}

const char *tc_format_duration(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || !isfinite(s))
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%lds", t);
    return buf;
}
