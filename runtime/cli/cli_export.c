/* tinycnn export: a checkpoint's inference graph as an ONNX model. */
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "tinycnn/onnx.h"

static const char help[] =
    "usage: tinycnn export CHECKPOINT [-o MODEL.onnx]\n"
    "\n"
    "Writes the model and weights of CHECKPOINT as an ONNX model (opset 13, IR\n"
    "version 7) for ONNX Runtime and other frameworks: the inference graph\n"
    "without the loss, weights and BatchNorm running statistics as initializers,\n"
    "a symbolic batch dimension N, the model's input and output names, and the\n"
    "class names in the metadata (\"class_names\"). The model's mean/std\n"
    "normalisation is part of the graph, so the ONNX model takes pixel/255\n"
    "(float32 NCHW in [0, 1]). A layer type without an ONNX mapping is an error\n"
    "naming the node; no file is written then. See docs/onnx.md.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the ONNX file (default: CHECKPOINT with .onnx for its\n"
    "                     extension)\n"
    "  --plugin-dir DIR   also load the plugins in DIR (repeatable)\n";

static int run(cli_globals *g, int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL;
    const cli_opt table[] = {CLI_STRING("-o", &out), CLI_STRING("--output", &out), CLI_OPT_END};
    int n_pos;
    if (cli_parse_argv(g, "export", argc, argv, table, &ckpt, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (!ckpt)
        return cli_usage("export", "missing CHECKPOINT");
    if (cli_parse_only)
        return CLI_EXIT_OK;
    char *def = out ? NULL : cli_with_extension(ckpt, ".onnx");
    if (!out && !(out = def))
        return cli_fail("out of memory");
    if (strcmp(out, ckpt) == 0) {
        free(def);
        return cli_usage("export", "the ONNX file '%s' would overwrite the checkpoint", out);
    }
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    int rc = CLI_EXIT_OK;
    if (cli_load_registry(g, &reg, &err) != 0 || tc_onnx_export_file(reg, ckpt, out, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else
        printf("wrote %s (ONNX opset %d, IR version %d)\n", out, TC_ONNX_OPSET,
               TC_ONNX_IR_VERSION);
    if (reg)
        tc_registry_free(reg);
    free(def);
    return rc;
}

const cli_command cli_export_command = {"export", "write a checkpoint as an ONNX model", help,
                                        run, NULL};
