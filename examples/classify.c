/* classify CHECKPOINT IMAGE.png: prints the image's class and its probability
 * under a checkpoint written by `tinycnn train`. Built with
 * -DCLASSIFY_STATIC_LAYERS it carries the standard layers (libtinycnn_layers.a)
 * instead of loading the plugin files. */
#include <stdio.h>
#include <stdlib.h>

#include <tinycnn/dataset.h>
#include <tinycnn/layers.h>
#include <tinycnn/model.h>

static int classify(const char *ckpt, const char *png, const tc_model_options *opts,
                    tc_error *err)
{
    tc_model_input in;
    tc_prediction p;
    uint8_t *pixels = NULL; /* C*H*W bytes: the model's input size */
    tc_model *m = tc_model_open(ckpt, opts, err);
    int rc = !m || tc_model_input_info(m, &in) ||
             !(pixels = malloc((size_t)in.floats_per_sample)) ||
             tc_png_load(png, in.channels, in.height, in.width, pixels, err) ||
             tc_model_predict_u8(m, pixels, (size_t)in.floats_per_sample, 1, &p, 1, err);
    if (rc == 0)
        printf("%s %.6f\n", tc_model_class_name(m, p.label), p.prob);
    free(pixels);
    if (m)
        tc_model_close(m);
    return rc;
}

int main(int argc, char **argv)
{
    tc_error err = {{0}};
    tc_model_options opts = {.struct_size = sizeof opts};
    if (argc != 3) {
        fprintf(stderr, "usage: classify CHECKPOINT IMAGE.png\n");
        return 2;
    }
#ifdef CLASSIFY_STATIC_LAYERS
    tc_registry *reg = tc_registry_new(); /* the layers linked in, not loaded */
    if (!reg || tc_register_standard_layers(reg, &err)) {
        fprintf(stderr, "classify: %s\n", reg ? err.msg : "out of memory");
        return 1;
    }
    opts.registry = reg;
#endif
    int rc = classify(argv[1], argv[2], &opts, &err);
    if (rc)
        fprintf(stderr, "classify: %s\n", err.msg[0] ? err.msg : "out of memory");
#ifdef CLASSIFY_STATIC_LAYERS
    tc_registry_free(reg); /* after the model that used it */
#endif
    return rc;
}
