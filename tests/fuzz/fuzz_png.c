/* libFuzzer target: the PNG loader, converting to gray and to RGB. */
#include "fuzz_file.h"
#include "tinycnn/tinycnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size);
    tc_error err;
    for (int c = 1; c <= 3; c += 2) {
        uint8_t *px = NULL;
        int h = 0, w = 0;
        if (tc_png_load_any(p, c, &px, &h, &w, &err) == 0)
            free(px);
    }
    /* the data set path: an expected size, into a caller's buffer */
    static uint8_t img[3 * 28 * 28];
    tc_png_load(p, 3, 28, 28, img, &err);
    return 0;
}
