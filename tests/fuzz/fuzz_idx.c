/* libFuzzer target: the IDX reader (images and labels, plain or gzipped). */
#include "fuzz_file.h"
#include "tinycnn/tinycnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size);
    tc_error err;
    tc_dataset ds = {0};
    if (tc_idx_load_images(p, &ds, &err) == 0)
        tc_dataset_free(&ds);
    uint8_t *labels = NULL;
    int64_t n = 0;
    if (tc_idx_load_labels(p, &labels, &n, &err) == 0)
        free(labels);
    return 0;
}
