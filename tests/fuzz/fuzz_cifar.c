/* libFuzzer target: the CIFAR-10 loader. The first byte picks what the
 * rest is: even, the test batch (beside a good names file); odd, the names
 * file batches.meta.txt (beside a good one-record batch). The loader is run
 * directly and through tc_dataset_load_with, resizing to 3x16x16. */
#include "fuzz_file.h"

#include <string.h>
#include <sys/stat.h>

#include "tinycnn/tinycnn.h"

static void cifar_put(const char *dir, const char *name, const void *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fuzz_put(path, data, size);
}

static char cifar_scratch[64];

static void cifar_cleanup(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/test_batch.bin", cifar_scratch);
    remove(path);
    snprintf(path, sizeof path, "%s/batches.meta.txt", cifar_scratch);
    remove(path);
    rmdir(cifar_scratch);
}

/* A per-process folder, removed at exit. */
static const char *cifar_dir(void)
{
    if (!cifar_scratch[0]) {
        snprintf(cifar_scratch, sizeof cifar_scratch, "/tmp/tcfuzz-cifar-%ld", (long)getpid());
        mkdir(cifar_scratch, 0700);
        atexit(cifar_cleanup);
    }
    return cifar_scratch;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char names[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\n"
                                "ship\ntruck\n";
    static uint8_t record[3073];
    const char *dir = cifar_dir();
    int meta = size > 0 && (data[0] & 1);
    const uint8_t *rest = size > 0 ? data + 1 : data;
    size_t n = size > 0 ? size - 1 : 0;
    cifar_put(dir, "batches.meta.txt", meta ? (const void *)rest : names,
              meta ? n : sizeof names - 1);
    cifar_put(dir, "test_batch.bin", meta ? record : rest, meta ? sizeof record : n);
    tc_error err;
    tc_dataset ds;
    if (tc_cifar10_load(dir, "test", &ds, &err) == 0)
        tc_dataset_free(&ds);
    tc_data_options opt = {.channels = 3, .height = 16, .width = 16,
                           .resize = TC_RESIZE_STRETCH};
    if (tc_dataset_load_with(dir, "test", &opt, &ds, &err) == 0)
        tc_dataset_free(&ds);
    return 0;
}
