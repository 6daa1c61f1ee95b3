/*
 * plugin.c - the entry point of the example plugin. The runtime dlopen()s
 * example_layers.so, looks up the one exported symbol tc_plugin_init and
 * calls it with its table of host functions; we register our layer types.
 * One shared object may register any number of types.
 */
#include <stdio.h>

#include "example.h"

TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err)
{
    /* A host of another ABI version may lay its table out differently, so
     * its set_error cannot be trusted: write the message ourselves. */
    if (!host || host->abi_version != TC_PLUGIN_ABI_VERSION ||
        host->struct_size < offsetof(tc_host, reserved)) {
        snprintf(err->msg, sizeof err->msg,
                 "example_layers: built for plugin ABI version %u, the host speaks %u; rebuild "
                 "the plugin against the installed tiny-cnn",
                 TC_PLUGIN_ABI_VERSION, host ? host->abi_version : 0u);
        return 1;
    }
    if (host->register_layer(ctx, &example_leaky_relu_type) != 0)
        return 1; /* the runtime has recorded why (e.g. a name clash) */
    return host->register_layer(ctx, &example_scale_type);
}
