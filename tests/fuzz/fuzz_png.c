/* libFuzzer target: the PNG loader, converting to gray and to RGB. */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_image(fuzz_write(data, size), tc_png_load_any, tc_png_load, NULL);
    return 0;
}
