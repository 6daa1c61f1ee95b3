/* libFuzzer target: the ONNX importer (protobuf, every check, the loaded
 * model), and for small results one inference and an export back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_registry.h"
#include "tinycnn/onnx.h"
#include "tinycnn/tinycnn.h"

static void run_model(const tc_checkpoint *ck)
{
    tc_error err;
    tc_graph *g = NULL;
    if (tc_checkpoint_graph(fuzz_registry(), ck, "fuzz.onnx", &g, &err) != 0)
        abort(); /* tc_onnx_import loaded this very checkpoint */
    int64_t elems = tc_graph_n_weight_elements(g);
    for (int i = 0; i < tc_graph_n_nodes(g); i++) {
        tc_shape s = tc_graph_node_shape(g, i);
        elems += tc_shape_count(&s);
    }
    if (elems < 200000 && tc_graph_prepare(g, 2, 0, &err) == 0) {
        for (int i = 0; i < tc_graph_n_inputs(g); i++) {
            const tc_input_info *in = tc_graph_input(g, i);
            int64_t n = 2 * tc_shape_count(&in->shape);
            float *x = tc_graph_input_data(g, i);
            for (int64_t j = 0; j < n; j++)
                x[j] = in->is_label ? 0.0f : (float)((j * 7) % 13) / 13.0f;
        }
        tc_graph_forward(g, 0, 0, &err);
    }
    uint8_t *bytes;
    size_t len;
    if (tc_onnx_export(g, ck->meta_json, &bytes, &len, &err) == 0)
        free(bytes);
    tc_graph_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tc_checkpoint ck;
    tc_error err;
    if (tc_onnx_import(fuzz_registry(), data, size, "fuzz.onnx", &ck, &err) == 0) {
        run_model(&ck);
        tc_checkpoint_free(&ck);
    }
    return 0;
}
