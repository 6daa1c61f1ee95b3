/* The host function table handed to every plugin. */
#include <stdarg.h>
#include <stdio.h>

#include "registry_internal.h"
#include "rng.h"
#include "tinycnn/kernels.h"
#include "tinycnn/registry.h"

static void host_set_error(tc_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static const tc_host host_table = {
    TC_STRUCT_HEADER(tc_host), .level = TC_HOST_LEVEL,
    .register_layer = tc_registry_register_from_plugin, .set_error = host_set_error,
    .sgemm = tc_sgemm, .parallel_for = tc_parallel_for,
    .rng_uniform = tc_rng_uniform, .rng_normal = tc_rng_normal,
};

const tc_host *tc_host_table(void)
{
    return &host_table;
}
