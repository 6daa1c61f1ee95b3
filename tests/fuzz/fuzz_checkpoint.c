/* libFuzzer target: the checkpoint reader, and for a checkpoint that reads,
 * what the runner does next: build its model, load its weights, and load
 * an Adam optimiser's state from it (each step may refuse; none may crash).
 * Each input is parsed twice: as it is, and with its last four bytes
 * replaced by the right CRC-32, since a mutated file almost never carries
 * a matching checksum and the fuzzer would otherwise rarely get past it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tinycnn/snapshot.h"
#include "fuzz_registry.h"
#include "tinycnn/tinycnn.h"

static void one_checkpoint(const uint8_t *data, size_t size)
{
    tc_checkpoint ck;
    tc_error err;
    if (tc_checkpoint_parse(data, size, "fuzz.ckpt", &ck, &err) != 0)
        return;
    tc_graph *g = NULL;
    if (ck.model_json && ck.model_json[0])
        g = tc_graph_load_string(fuzz_registry(), ck.model_json, "fuzz.ckpt (model)", &err);
    /* keep to models whose weights fit a fuzzing budget */
    if (g && tc_graph_n_weight_elements(g) < 1000000 &&
        tc_snapshot_load_weights(g, &ck, &err) == 0) {
        tc_optim_config oc = {0};
        oc.kind = TC_OPTIM_ADAM;
        oc.beta1 = 0.9f;
        oc.beta2 = 0.999f;
        oc.eps = 1e-8f;
        tc_optimizer *opt = tc_optimizer_new(g, &oc, &err);
        if (opt) {
            tc_snapshot_load_optimizer(opt, &ck, &err);
            tc_optimizer_free(opt);
        }
    }
    tc_graph_free(g);
    tc_checkpoint_free(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_checkpoint(data, size);
    if (size < 20 || size > (1u << 24))
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), fixed, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        fixed[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    if (memcmp(fixed + size - 4, data + size - 4, 4) != 0)
        one_checkpoint(fixed, size);
    free(fixed);
    return 0;
}
