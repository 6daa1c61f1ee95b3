/* tinycnn eval: test-split accuracy and confusion matrix of a checkpoint. */
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

static const char help[] =
    "usage: tinycnn eval CHECKPOINT [--data DIR] [--limit N] [--batch-size N]\n"
    "                    [--threads N] [--json]\n"
    "\n"
    "Loads the model and weights stored in CHECKPOINT, runs it on the test split\n"
    "and prints the confusion matrix (rows: true class, columns: prediction) and,\n"
    "as the last line, 'accuracy: NN.NN% (C/T)'.\n"
    "\n"
    "options:\n"
    "  --data DIR        data folder (default: $TINYCNN_DATA, else data/mnist)\n"
    "  --limit N         evaluate only the first N test images (0: all)\n"
    "  --batch-size N    images per forward pass (default 256)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

/* Rows are labelled with the class names where the checkpoint has them
 * (columns keep the numbers, with the legend above: names are wide). */
static void print_confusion(const int64_t *m, int64_t k, const json_t *names)
{
    int64_t maxv = 0;
    for (int64_t i = 0; i < k * k; i++)
        if (m[i] > maxv)
            maxv = m[i];
    int w = 1;
    for (int64_t v = maxv; v >= 10; v /= 10)
        w++;
    if (w < 3)
        w = 3;
    int lw = 5;
    for (int64_t i = 0; names && i < k; i++)
        if ((int)strlen(cli_class_name(names, i)) > lw)
            lw = (int)strlen(cli_class_name(names, i));
    if (names) {
        printf("classes:");
        for (int64_t i = 0; i < k; i++)
            printf("%s %lld = %s", i ? "," : "", (long long)i, cli_class_name(names, i));
        printf("\n");
    }
    printf("confusion matrix (rows: true class, columns: predicted)\n");
    printf("%*s", lw + 1, "");
    for (int64_t j = 0; j < k; j++)
        printf(" %*lld", w, (long long)j);
    printf("\n");
    for (int64_t i = 0; i < k; i++) {
        int64_t row = 0;
        for (int64_t j = 0; j < k; j++)
            row += m[i * k + j];
        if (names)
            printf("%*s:", lw, cli_class_name(names, i));
        else
            printf("%5lld:", (long long)i);
        for (int64_t j = 0; j < k; j++)
            printf(" %*lld", w, (long long)m[i * k + j]);
        if (row > 0)
            printf("   %6.2f%%", 100.0 * (double)m[i * k + i] / (double)row);
        printf("\n");
    }
}

static int run(cli_globals *g, int argc, char **argv)
{
    const char *ckpt_path = NULL, *data_opt = NULL;
    int64_t limit = 0, batch = 256, threads = 0;
    int as_json = 0;
    cli_args a;
    cli_args_init(&a, "eval", argc, argv, g);
    const char *pos, *v;
    int k;
    while ((k = cli_next(&a, &pos)) != CLI_ARG_END) {
        if (k == CLI_ARG_ERROR)
            return CLI_EXIT_USAGE;
        if (k == CLI_ARG_POSITIONAL) {
            if (ckpt_path)
                return cli_usage("eval", "unexpected argument '%s'", pos);
            ckpt_path = pos;
            continue;
        }
        if (strcmp(a.opt, "--data") == 0) {
            if (cli_value(&a, &data_opt))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a.opt, "--limit") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 0, INT64_MAX, &limit))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a.opt, "--batch-size") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 65536, &batch))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a.opt, "--threads") == 0) {
            if (cli_value(&a, &v) || cli_int(&a, v, 1, 1024, &threads))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a.opt, "--json") == 0) {
            if (cli_no_value(&a))
                return CLI_EXIT_USAGE;
            as_json = 1;
        } else {
            cli_unknown(&a);
            return CLI_EXIT_USAGE;
        }
    }
    if (!ckpt_path)
        return cli_usage("eval", "missing CHECKPOINT");
    tc_set_threads((int)threads);

    tc_error err = {{0}};
    tc_registry *reg = NULL;
    tc_graph *graph = NULL;
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    tc_dataset test;
    memset(&test, 0, sizeof test);
    int64_t *confusion = NULL;
    json_t *names = NULL;
    int rc = CLI_EXIT_RUNTIME;
    int c, h, w;

    if (cli_load_registry(g, &reg, &err) != 0 ||
        cli_open_checkpoint(reg, ckpt_path, &ck, &graph, &err) != 0 ||
        tc_session_image_size(graph, &c, &h, &w, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    const char *data_dir = cli_data_dir(data_opt);
    int64_t nc = tc_graph_n_classes(graph);
    if (nc < 1 || nc > 100000) {
        cli_fail("%s: the model's output has %lld classes", ckpt_path, (long long)nc);
        goto out;
    }
    /* the labels of the training run: class folders are looked up in the
     * checkpoint's list, not numbered afresh from this split's folders */
    names = cli_class_names(&ck, nc);
    const char *list[TC_MAX_CLASSES];
    tc_data_options opt = {.channels = c, .height = h, .width = w};
    if (names && nc <= TC_MAX_CLASSES) {
        for (int64_t i = 0; i < nc; i++)
            list[i] = cli_class_name(names, i);
        opt.class_names = list;
        opt.n_class_names = (int)nc;
    }
    if (tc_dataset_load_with(data_dir, "test", &opt, &test, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    confusion = calloc((size_t)(nc * nc), sizeof *confusion);
    if (!confusion) {
        cli_fail("out of memory for a %lld x %lld confusion matrix", (long long)nc, (long long)nc);
        goto out;
    }
    int64_t correct = 0, total = 0;
    if (tc_evaluate(graph, &test, (int)batch, limit, confusion, &correct, &total, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    double acc = total ? 100.0 * (double)correct / (double)total : 0.0;
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "checkpoint", json_string(ckpt_path));
        json_object_set_new(o, "model", json_string(tc_graph_name(graph)));
        json_object_set_new(o, "data", json_string(data_dir));
        json_object_set_new(o, "correct", json_integer(correct));
        json_object_set_new(o, "total", json_integer(total));
        json_object_set_new(o, "accuracy", json_real(acc / 100.0));
        json_t *m = json_array();
        for (int64_t i = 0; i < nc; i++) {
            json_t *row = json_array();
            for (int64_t j = 0; j < nc; j++)
                json_array_append_new(row, json_integer(confusion[i * nc + j]));
            json_array_append_new(m, row);
        }
        json_object_set_new(o, "confusion", m);
        if (names)
            json_object_set(o, "class_names", names);
        cli_print_json(o);
    } else {
        printf("model %s, %lld test images from %s\n", tc_graph_name(graph), (long long)total,
               data_dir);
        print_confusion(confusion, nc, names);
        printf("accuracy: %.2f%% (%lld/%lld)\n", acc, (long long)correct, (long long)total);
    }
    rc = CLI_EXIT_OK;
out:
    free(confusion);
    json_decref(names);
    tc_dataset_free(&test);
    if (graph)
        tc_graph_free(graph);
    tc_checkpoint_free(&ck);
    if (reg)
        tc_registry_free(reg);
    return rc;
}

const cli_command cli_eval_command = {"eval", "evaluate a checkpoint on the test split", help,
                                      run, NULL};
