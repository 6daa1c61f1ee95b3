/* classify CHECKPOINT IMAGE: prints the class of a PNG or JPEG image and its
 * probability under a checkpoint written by `tinycnn train`. Built with
 * -DCLASSIFY_STATIC_LAYERS it carries the standard layers (libtinycnn_layers.a)
 * instead of loading the plugin files. */
#include <stdio.h>

#include <tinycnn/layers.h>
#include <tinycnn/model.h>

int main(int argc, char **argv)
{
    tc_error err = {{0}};
    tc_model_options opts = {.struct_size = sizeof opts};
    if (argc != 3)
        return fprintf(stderr, "usage: classify CHECKPOINT IMAGE\n"), 2;
#ifdef CLASSIFY_STATIC_LAYERS
    tc_registry *reg = tc_registry_new(); /* the layers linked in, not loaded */
    if (!reg || tc_register_standard_layers(reg, &err))
        return fprintf(stderr, "classify: %s\n", reg ? err.msg : "out of memory"), 1;
    opts.registry = reg;
#endif
    tc_prediction p;
    tc_model *m = tc_model_open(argv[1], &opts, &err);
    int rc = !m || tc_model_predict_file(m, argv[2], &p, 1, &err);
    if (rc)
        fprintf(stderr, "classify: %s\n", err.msg);
    else
        printf("%s %.6f\n", tc_model_class_name(m, p.label), p.prob);
    tc_model_close(m);
#ifdef CLASSIFY_STATIC_LAYERS
    tc_registry_free(reg); /* after the model that used it */
#endif
    return rc;
}
