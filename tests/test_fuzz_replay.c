/* Replays every fuzzing seed (tests/fuzz/corpus/<target>/) and every input a
 * fuzzer ever crashed on (tests/fuzz/regressions/<target>/) through the very
 * code of the libFuzzer targets, so each finding stays a regression test in
 * every build: under the sanitizer build a crash, leak or undefined
 * behaviour fails this test, in the others a crash does. The targets are
 * compiled in here with their entry points renamed. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#define TC_FUZZ_PLUGIN_DIR TC_TEST_PLUGIN_DIR
#define LLVMFuzzerTestOneInput fuzz_model_one
#include "fuzz/fuzz_model.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_checkpoint_one
#include "fuzz/fuzz_checkpoint.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_png_one
#include "fuzz/fuzz_png.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_jpeg_one
#include "fuzz/fuzz_jpeg.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_cifar_one
#include "fuzz/fuzz_cifar.c"
#undef LLVMFuzzerTestOneInput

#include "fuzz/fuzz_replay.h"
#include "testutil.h"

static void replay(const char *target, fuzz_fn fn)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", TC_TEST_SOURCE_DIR, target);
    int seeds = fuzz_replay_dir(dir, fn);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", TC_TEST_SOURCE_DIR, target);
    int found = fuzz_replay_dir(dir, fn);
    printf(" (%d seeds, %d regressions)", seeds, found < 0 ? 0 : found);
    CU_ASSERT(seeds >= 1); /* an empty corpus would make this test pass vacuously */
}

static void test_model(void)
{
    replay("model", fuzz_model_one);
}

static void test_checkpoint(void)
{
    replay("checkpoint", fuzz_checkpoint_one);
}

static void test_idx(void)
{
    replay("idx", fuzz_idx_one);
}

static void test_png(void)
{
    replay("png", fuzz_png_one);
}

static void test_jpeg(void)
{
    replay("jpeg", fuzz_jpeg_one);
}

static void test_cifar(void)
{
    replay("cifar", fuzz_cifar_one);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"model loader seeds and findings", test_model},
        {"checkpoint reader seeds and findings", test_checkpoint},
        {"IDX reader seeds and findings", test_idx},
        {"PNG loader seeds and findings", test_png},
        {"JPEG loader seeds and findings", test_jpeg},
        {"CIFAR-10 loader seeds and findings", test_cifar},
        {NULL, NULL},
    };
    int rc = tcu_run("fuzz replay", tests);
    remove(fuzz_write((const uint8_t *)"", 0)); /* the targets' scratch file */
    return rc;
}
