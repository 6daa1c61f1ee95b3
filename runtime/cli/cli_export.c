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
    int rc = cli_parse_one(g, "export", argc, argv, table, &ckpt, "missing CHECKPOINT");
    if (rc != 0 || cli_parse_only)
        return rc;
    char *def = out ? NULL : cli_with_extension(ckpt, ".onnx");
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    if (!(out = out ? out : def))
        rc = cli_fail("out of memory");
    else if (strcmp(out, ckpt) == 0)
        rc = cli_usage("export", "the ONNX file '%s' would overwrite the checkpoint", out);
    else if (cli_load_registry(g, &reg, &err) != 0 ||
             tc_onnx_export_file(reg, ckpt, out, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else
        printf("wrote %s (ONNX opset %d, IR version %d)\n", out, TC_ONNX_OPSET,
               TC_ONNX_IR_VERSION);
    tc_registry_free(reg);
    free(def);
    return rc;
}

const cli_command cli_export_command = {"export", "write a checkpoint as an ONNX model", help,
                                        run, NULL};
