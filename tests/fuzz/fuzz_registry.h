/* The standard layer plugins of this build, loaded once per fuzzing
 * process (targets that build graphs share it). */
#ifndef TC_FUZZ_REGISTRY_H
#define TC_FUZZ_REGISTRY_H
#include <stdlib.h>

#include "tinycnn/tinycnn.h"

static tc_registry *fuzz_registry(void)
{
    static tc_registry *reg;
    if (!reg) {
        tc_error err;
        reg = tc_registry_new();
        if (tc_registry_load_dir(reg, TC_FUZZ_PLUGIN_DIR, &err) != 0)
            abort(); /* a broken build, not a finding */
    }
    return reg;
}
#endif
