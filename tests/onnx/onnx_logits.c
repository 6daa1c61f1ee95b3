/* onnx_logits CHECKPOINT PIXELS.u8 N OUT.f32 [PLUGIN_DIR]: tinycnn's logits
 * for N images of uint8 pixels (planar, the model's C*H*W bytes each),
 * normalised as predict does (tc_normalize_u8), written as N x classes
 * float32 (PLUGIN_DIR: plugins loaded besides the standard layers). The
 * ONNX tests compare them with ONNX Runtime's and PyTorch's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/tinycnn.h"

static int die(const char *msg)
{
    fprintf(stderr, "onnx_logits: %s\n", msg);
    return 1;
}

static int forward(tc_graph *g, const uint8_t *px, long n, FILE *out, tc_error *err)
{
    const tc_input_info *in = tc_graph_input(g, tc_graph_image_input(g));
    int c = (int)in->shape.dims[0];
    int64_t plane = tc_shape_count(&in->shape) / c;
    float mean[TC_MAX_INPUT_CHANNELS], std[TC_MAX_INPUT_CHANNELS];
    for (int k = 0; k < c && k < TC_MAX_INPUT_CHANNELS; k++) {
        mean[k] = tc_input_mean(in, k);
        std[k] = tc_input_std(in, k);
    }
    for (long first = 0; first < n; first += 256) {
        int cnt = (int)(n - first < 256 ? n - first : 256);
        if (tc_graph_prepare(g, cnt, 0, err) != 0)
            return 1;
        int lbl = tc_graph_label_input(g);
        if (lbl >= 0)
            memset(tc_graph_input_data(g, lbl), 0, sizeof(float) * (size_t)cnt);
        tc_normalize_u8(px + (size_t)first * (size_t)(c * plane), cnt, c, plane, mean, std,
                        tc_graph_input_data(g, tc_graph_image_input(g)));
        if (tc_graph_forward(g, 0, 0, err) != 0)
            return 1;
        const tc_tensor *o = tc_graph_output(g);
        fwrite(o->data, sizeof(float), (size_t)tc_shape_count(&o->shape), out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6)
        return die("usage: onnx_logits CHECKPOINT PIXELS.u8 N OUT.f32 [PLUGIN_DIR]");
    tc_error err = {{0}};
    tc_registry *reg = tc_registry_new();
    tc_checkpoint ck;
    tc_graph *g = NULL;
    if (tc_registry_load_dir(reg, TC_TEST_PLUGIN_DIR, &err) != 0 ||
        (argc == 6 && tc_registry_load_dir(reg, argv[5], &err) != 0) ||
        tc_checkpoint_read(argv[1], &ck, &err) != 0 ||
        tc_checkpoint_graph(reg, &ck, argv[1], &g, &err) != 0)
        return die(err.msg);
    long n = atol(argv[3]);
    const tc_input_info *in = tc_graph_input(g, tc_graph_image_input(g));
    size_t bytes = (size_t)n * (size_t)tc_shape_count(&in->shape);
    uint8_t *px = malloc(bytes ? bytes : 1);
    FILE *f = fopen(argv[2], "rb");
    if (!px || !f || fread(px, 1, bytes, f) != bytes)
        return die("cannot read the pixels (too few for N images?)");
    fclose(f);
    FILE *out = fopen(argv[4], "wb");
    if (!out || forward(g, px, n, out, &err) != 0 || fclose(out) != 0)
        return die(err.msg[0] ? err.msg : "cannot write the logits");
    free(px);
    tc_graph_free(g);
    tc_checkpoint_free(&ck);
    tc_registry_free(reg);
    return 0;
}
