/* libFuzzer target: the JPEG loader (gray and RGB, any size and a fixed
 * one), the content sniffing of tc_image_load_any, and resizing what
 * decodes. */
#include "fuzz_image.h"

/* The model-input path: shorter side to 12, centre 10x10. */
static void jpeg_fit(const uint8_t *px, int c, int h, int w, const char *path)
{
    static uint8_t fit[3 * 10 * 10];
    tc_error err;
    tc_image_fit(px, c, h, w, TC_RESIZE_CROP, 12, fit, 10, 10, path, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size);
    fuzz_image(p, tc_jpeg_load_any, tc_jpeg_load, jpeg_fit);
    tc_error err;
    uint8_t *px = NULL;
    int h = 0, w = 0;
    if (tc_image_load_any(p, 1, &px, &h, &w, &err) == 0)
        free(px);
    return 0;
}
