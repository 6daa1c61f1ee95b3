/* The report numbers of tinycnn/format.h. */
#include <math.h>
#include <stdio.h>

#include "tinycnn/format.h"

/* snprintf writes nothing at cap 0 (buf may then be NULL), so both
 * functions below call it unguarded. */

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
    snprintf(buf, cap, "%s", out);
    return buf;
}

/* Past 1e15 s (30 million years) the value is capped: the cast below
 * would otherwise overflow. */
const char *tc_format_duration(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || !isfinite(s))
        s = 0;
    long long t = (long long)(fmin(s, 1e15) + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%lldh%02lldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%llds", t);
    return buf;
}
