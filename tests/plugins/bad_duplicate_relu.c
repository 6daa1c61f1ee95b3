/* A plugin that registers a type name the standard layers already use. */
#include "tinycnn/plugin.h"

static int plan(const tc_host *host, void *self, const tc_shape *in, int n, int nt, tc_plan *p,
                tc_error *err)
{
    (void)host, (void)self, (void)n, (void)nt, (void)err;
    p->output = in[0];
    return 0;
}
static int fwd(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)host, (void)self, (void)x, (void)err;
    return 0;
}
static const tc_layer_type dup = {
    .struct_size = sizeof(tc_layer_type), .abi_version = TC_PLUGIN_ABI_VERSION, .name = "ReLU",
    .summary = "a second ReLU", .min_inputs = 1, .max_inputs = 1, .plan = plan, .forward = fwd};

TC_PLUGIN_DEFINE(bad_duplicate_relu)
{
    if (tc_host_check(host, 0, "bad_duplicate_relu", err))
        return 1;
    return host->register_layer(ctx, &dup);
}
