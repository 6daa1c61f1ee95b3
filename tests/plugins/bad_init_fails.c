/* A plugin whose entry reports an error (e.g. an unsupported host version). */
#include "tinycnn/plugin.h"

TC_PLUGIN_EXPORT int tc_plugin_init(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err)
{
    (void)ctx;
    host->set_error(err, "needs host ABI version %u or later", 99u);
    return 1;
}
