/* tinycnn predict: classify PNG or JPEG images with a checkpoint. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

static const char help[] =
    "usage: tinycnn predict CHECKPOINT IMAGE.png... [--top K] [--threads N] [--json]\n"
    "\n"
    "Classifies each PNG or JPEG image (told apart by content) with the model and\n"
    "weights in CHECKPOINT and prints the predicted class and the K most probable\n"
    "classes with their softmax probabilities, by name when the checkpoint stores\n"
    "class names. Images must have the model's input size; colour images are\n"
    "converted to gray for one-channel models.\n"
    "\n"
    "options:\n"
    "  --top K           how many classes to show per image (default 3)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

#define CHUNK 256

/* "img.png: 3  (3: 97.10%, 8: 2.00%)", or with class names
 * "img.png: 3 cat  (cat: 97.10%, dog: 2.00%)". */
static void print_text(const char *path, const json_t *names, const tc_prediction *best,
                       int top)
{
    const char *name = cli_class_name(names, best[0].label);
    printf("%s: %d%s%s  (", path, (int)best[0].label, name ? " " : "", name ? name : "");
    for (int j = 0; j < top; j++) {
        name = cli_class_name(names, best[j].label);
        if (name)
            printf("%s%s: %.2f%%", j ? ", " : "", name, 100.0 * best[j].prob);
        else
            printf("%s%d: %.2f%%", j ? ", " : "", (int)best[j].label, 100.0 * best[j].prob);
    }
    printf(")\n");
}

static int run(cli_globals *g, int argc, char **argv)
{
    const char *ckpt_path = NULL;
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_images = 0;
    int64_t top = 3, threads = 0;
    int as_json = 0;
    if (!images)
        return cli_fail("out of memory");
    cli_args a;
    cli_args_init(&a, "predict", argc, argv, g);
    const char *pos, *v;
    int k, rc = CLI_EXIT_USAGE;
    while ((k = cli_next(&a, &pos)) != CLI_ARG_END) {
        if (k == CLI_ARG_ERROR)
            goto usage;
        if (k == CLI_ARG_POSITIONAL) {
            if (!ckpt_path)
                ckpt_path = pos;
            else
                images[n_images++] = pos;
            continue;
        }
        if (strcmp(a.opt, "--top") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 1000000, &top))
                goto usage;
        } else if (strcmp(a.opt, "--threads") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 1024, &threads))
                goto usage;
        } else if (strcmp(a.opt, "--json") == 0) {
            if (cli_no_value(&a))
                goto usage;
            as_json = 1;
        } else {
            cli_unknown(&a);
            goto usage;
        }
    }
    if (!ckpt_path) {
        cli_usage("predict", "missing CHECKPOINT");
        goto usage;
    }
    if (n_images == 0) {
        cli_usage("predict", "missing IMAGE.png (give at least one)");
        goto usage;
    }
    tc_set_threads((int)threads);

    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_graph *graph = NULL;
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    uint8_t *pixels = NULL;
    float *prob = NULL, mean[3], std[3];
    tc_prediction *best = NULL;
    json_t *results = as_json ? json_array() : NULL, *names = NULL;
    int c, h, w;
    rc = CLI_EXIT_RUNTIME;

    if (cli_load_registry(g, &reg, &err) != 0 ||
        cli_open_checkpoint(reg, ckpt_path, &ck, &graph, &err) != 0 ||
        tc_session_image_size(graph, &c, &h, &w, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    int64_t nc = tc_graph_n_classes(graph);
    if (nc < 1) {
        cli_fail("%s: the model's output has no classes", ckpt_path);
        goto out;
    }
    if (top > nc)
        top = nc;
    size_t img_bytes = (size_t)c * (size_t)h * (size_t)w;
    pixels = malloc(img_bytes * CHUNK);
    prob = malloc((size_t)nc * sizeof *prob);
    best = malloc((size_t)top * sizeof *best);
    if (!pixels || !prob || !best) {
        cli_fail("out of memory");
        goto out;
    }
    names = cli_class_names(&ck, nc);
    int img_in = tc_graph_image_input(graph), lbl_in = tc_graph_label_input(graph);
    const tc_input_info *info = tc_graph_input(graph, img_in);
    for (int k = 0; k < c; k++) { /* per channel, as tc_normalize_u8 takes them */
        mean[k] = tc_input_mean(info, k);
        std[k] = tc_input_std(info, k);
    }
    for (int first = 0; first < n_images; first += CHUNK) {
        int cnt = n_images - first < CHUNK ? n_images - first : CHUNK;
        for (int i = 0; i < cnt; i++) {
            if (tc_image_load(images[first + i], c, h, w, pixels + (size_t)i * img_bytes,
                              &err) != 0) {
                cli_fail("%s", err.msg);
                goto out;
            }
        }
        if (tc_graph_prepare(graph, cnt, 0, &err) != 0) {
            cli_fail("%s", err.msg);
            goto out;
        }
        if (lbl_in >= 0) /* the labels are not used: zeros */
            memset(tc_graph_input_data(graph, lbl_in), 0, sizeof(float) * (size_t)cnt);
        tc_normalize_u8(pixels, cnt, c, (int64_t)h * w, mean, std,
                        tc_graph_input_data(graph, img_in));
        if (tc_graph_forward(graph, 0, 0, &err) != 0) {
            cli_fail("%s", err.msg);
            goto out;
        }
        const tc_tensor *out = tc_graph_output(graph);
        int64_t per = tc_shape_count(&out->shape) / cnt;
        if (per != nc) {
            cli_fail("%s: the output has %lld values per image, expected %lld", ckpt_path,
                     (long long)per, (long long)nc);
            goto out;
        }
        for (int i = 0; i < cnt; i++) {
            /* A NaN or infinite logit has no probability to show: say so
             * rather than print "nan%" (a plugin can produce one even from
             * finite weights). */
            const float *lg = out->data + (int64_t)i * per;
            for (int64_t j = 0; j < nc; j++)
                if (!isfinite(lg[j])) {
                    cli_fail("%s: the model's output for this image is %s (class %lld)",
                             images[first + i], isnan(lg[j]) ? "NaN" : "infinite",
                             (long long)j);
                    goto out;
                }
            memcpy(prob, lg, sizeof(float) * (size_t)nc);
            tc_softmax_rows(prob, 1, (int)nc);
            tc_top_k(prob, (int)nc, (int)top, best);
            const char *path = images[first + i];
            if (as_json) {
                json_t *o = json_object();
                json_object_set_new(o, "image", json_string(path));
                json_object_set_new(o, "prediction", json_integer(best[0].label));
                if (names)
                    json_object_set_new(o, "class_name",
                                        json_string(cli_class_name(names, best[0].label)));
                json_t *t = json_array();
                for (int j = 0; j < top; j++) {
                    json_t *e = json_object();
                    json_object_set_new(e, "class", json_integer(best[j].label));
                    if (names)
                        json_object_set_new(e, "class_name",
                                            json_string(cli_class_name(names, best[j].label)));
                    json_object_set_new(e, "probability", json_real(best[j].prob));
                    json_array_append_new(t, e);
                }
                json_object_set_new(o, "top", t);
                json_array_append_new(results, o);
            } else {
                print_text(path, names, best, (int)top);
            }
        }
    }
    if (as_json) {
        json_t *root = json_object();
        json_object_set_new(root, "checkpoint", json_string(ckpt_path));
        json_object_set_new(root, "model", json_string(tc_graph_name(graph)));
        json_object_set(root, "predictions", results);
        cli_print_json(root);
    }
    rc = CLI_EXIT_OK;
out:
    json_decref(results);
    json_decref(names);
    free(prob);
    free(best);
    free(pixels);
    if (graph)
        tc_graph_free(graph);
    tc_checkpoint_free(&ck);
    if (reg)
        tc_registry_free(reg);
usage:
    free(images);
    return rc;
}

const cli_command cli_predict_command = {"predict", "classify PNG or JPEG images with a checkpoint",
                                         help, run, NULL};
