/* libFuzzer target: the checkpoint reader. */
#include <stdint.h>

#include "tinycnn/tinycnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tc_checkpoint ck;
    tc_error err;
    if (tc_checkpoint_parse(data, size, "fuzz.ckpt", &ck, &err) == 0)
        tc_checkpoint_free(&ck);
    return 0;
}
