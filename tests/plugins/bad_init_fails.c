/* A plugin whose entry reports an error (e.g. an unsupported host version). */
#include "tinycnn/plugin.h"

TC_PLUGIN_DEFINE(bad_init_fails)
{
    (void)ctx;
    host->set_error(err, "needs host ABI version %u or later", 99u);
    return 1;
}
