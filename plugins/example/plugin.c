/*
 * plugin.c - the entry point of the example plugin. The runtime dlopen()s
 * example_layers.so, looks up the exported symbol tc_plugin_init and calls
 * it with its table of host functions; we register our layer types. One
 * shared object may register any number of types.
 *
 * TC_PLUGIN_DEFINE(example_layers) defines tc_plugin_init_example_layers
 * and the exported tc_plugin_init that calls it. Compiled with
 * -DTC_PLUGIN_STATIC, only the former is defined, and a program linking
 * these files registers them with
 *     tc_registry_add_static(reg, tc_plugin_init_example_layers, "example_layers", &err);
 */
#include "example.h"

TC_PLUGIN_DEFINE(example_layers)
{
    /* Refuse a host of another major ABI version, or one older than the
     * feature level we use (0: only what every 2.x host has). The message
     * is written without the host's set_error, which a foreign table may
     * not have where we expect it. */
    if (tc_host_check(host, 0, "example_layers", err))
        return 1;
    if (host->register_layer(ctx, &example_elu_type) != 0)
        return 1; /* the runtime has recorded why (e.g. a name clash) */
    return host->register_layer(ctx, &example_scale_type);
}
