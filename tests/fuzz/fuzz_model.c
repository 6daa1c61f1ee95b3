/* libFuzzer target: the JSON model loader through shape inference, and for
 * small graphs one inference and one training step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_registry.h"
#include "tinycnn/tinycnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    tc_error err;
    tc_graph *g = tc_graph_load_string(fuzz_registry(), text, "fuzz.json", &err);
    free(text);
    if (!g)
        return 0;
    /* the model's "training" object, as the runner reads it */
    tc_train_config cfg;
    tc_train_config_from_graph(g, &cfg, &err);
    /* run only graphs small enough not to turn the fuzzer into a memory
     * test (initialising 2^29 weights alone takes seconds) */
    int64_t elems = tc_graph_n_weight_elements(g);
    for (int i = 0; i < tc_graph_n_nodes(g); i++) {
        tc_shape s = tc_graph_node_shape(g, i);
        elems += tc_shape_count(&s);
    }
    if (elems < 200000)
        tc_graph_init_weights(g, 1);
    if (elems < 200000 && tc_graph_prepare(g, 2, tc_graph_label_input(g) >= 0, &err) == 0) {
        for (int i = 0; i < tc_graph_n_inputs(g); i++) {
            const tc_input_info *in = tc_graph_input(g, i);
            int64_t n = 2 * tc_shape_count(&in->shape);
            float *x = tc_graph_input_data(g, i);
            for (int64_t j = 0; j < n; j++)
                x[j] = in->is_label ? (float)(j % 2) : (float)((j * 7) % 13) / 13.0f;
        }
        int training = tc_graph_label_input(g) >= 0;
        if (tc_graph_forward(g, training, 0, &err) == 0 && training)
            tc_graph_backward(g, &err);
    }
    tc_graph_free(g);
    return 0;
}
