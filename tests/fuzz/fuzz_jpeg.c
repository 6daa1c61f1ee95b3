/* libFuzzer target: the JPEG loader (gray and RGB, any size and a fixed
 * one), the content sniffing of tc_image_load_any, and resizing what
 * decodes. */
#include "fuzz_file.h"
#include "tinycnn/tinycnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size);
    tc_error err;
    for (int c = 1; c <= 3; c += 2) {
        uint8_t *px = NULL;
        int h = 0, w = 0;
        if (tc_jpeg_load_any(p, c, &px, &h, &w, &err) == 0) {
            /* the model-input path: shorter side to 12, centre 10x10 */
            static uint8_t fit[3 * 10 * 10];
            tc_image_fit(px, c, h, w, TC_RESIZE_CROP, 12, fit, 10, 10, p, &err);
            free(px);
        }
    }
    static uint8_t img[3 * 28 * 28];
    tc_jpeg_load(p, 3, 28, 28, img, &err);
    uint8_t *px = NULL;
    int h = 0, w = 0;
    if (tc_image_load_any(p, 1, &px, &h, &w, &err) == 0)
        free(px);
    return 0;
}
