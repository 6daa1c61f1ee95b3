/* A plugin built for plugin ABI version 1, as an old binary would be: its
 * layer type has the version-1 layout (callbacks without the host table, no
 * test_hints) and says abi_version 1. The runtime must refuse it by name,
 * reading no further than the fields every version shares. tinycnn/plugin.h
 * is version 2 now, so the version-1 struct is written out here. */
#include "tinycnn/plugin.h"

typedef struct abi1_layer_type {
    uint32_t struct_size;
    uint32_t abi_version;
    const char *name;
    const char *summary;
    uint32_t flags;
    int32_t min_inputs;
    int32_t max_inputs;
    int32_t n_params;
    const tc_param_desc *params;
    int (*create)(const tc_host *host, const double *values, void **self, tc_error *err);
    void (*destroy)(void *self);
    int (*plan)(void *self, const tc_shape *inputs, int n_inputs, int n_threads, void *plan,
                tc_error *err);
    int (*forward)(void *self, const void *x, tc_error *err);
    int (*backward)(void *self, const void *x, tc_error *err);
    void *reserved[8];
} abi1_layer_type;

static int plan(void *self, const tc_shape *in, int n, int nt, void *p, tc_error *err)
{
    (void)self, (void)in, (void)n, (void)nt, (void)p, (void)err;
    return 0;
}
static int fwd(void *self, const void *x, tc_error *err)
{
    (void)self, (void)x, (void)err;
    return 0;
}
static const abi1_layer_type old = {
    .struct_size = sizeof(abi1_layer_type), .abi_version = 1, .name = "OldAbi",
    .summary = "built for ABI 1", .min_inputs = 1, .max_inputs = 1,
    .plan = plan, .forward = fwd};

/* A version-1 entry, exported by hand (TC_PLUGIN_DEFINE is version 2). It
 * skips the host check a real version-1 plugin would make (which would
 * refuse this host by itself), so that what is tested is the runtime's check
 * of the layer type; register_layer kept its offset in version 2, so the
 * call reaches that check. */
TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err);
TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err)
{
    (void)err;
    return host->register_layer(ctx, (const tc_layer_type *)(const void *)&old);
}
