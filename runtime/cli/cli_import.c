/* tinycnn import: an ONNX model as a model file and checkpoint. */
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "tinycnn/onnx.h"

static const char help[] =
    "usage: tinycnn import MODEL.onnx -o MODEL.json [--checkpoint FILE | --no-checkpoint]\n"
    "\n"
    "Converts an ONNX model (from torch.onnx.export, tinycnn export or another\n"
    "producer; opsets 11 to 21) into a tinycnn model file and a checkpoint with its\n"
    "weights, which eval and predict use directly. The operators read: Conv, Gemm,\n"
    "MatMul (+ Add), Relu, LeakyRelu, Sigmoid, Tanh, Softmax, MaxPool, AveragePool,\n"
    "GlobalAveragePool, BatchNormalization, Add, Sum, Concat, Flatten and Reshape to\n"
    "2-D, Identity, Dropout, Constant, and Sub/Div by constants right after the\n"
    "input (they become the input's mean and std). Anything else is refused, naming\n"
    "the node and its op type; no file is written then. See docs/onnx.md.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the model file to write (required)\n"
    "  --checkpoint FILE  the checkpoint to write (default: the model file's name\n"
    "                     with .ckpt for its extension)\n"
    "  --no-checkpoint    write the model file only (the weights are dropped)\n"
    "  --plugin-dir DIR   also load the plugins in DIR (repeatable)\n";

static int run(cli_globals *g, int argc, char **argv)
{
    const char *onnx = NULL, *out = NULL, *ckpt = NULL;
    int no_ckpt = 0;
    const cli_opt table[] = {
        CLI_STRING("-o", &out),
        CLI_STRING("--output", &out),
        CLI_STRING("--checkpoint", &ckpt),
        CLI_FLAG("--no-checkpoint", &no_ckpt),
        CLI_OPT_END,
    };
    int rc = cli_parse_one(g, "import", argc, argv, table, &onnx, "missing MODEL.onnx");
    if (rc == 0 && !out)
        rc = cli_usage("import", "missing -o MODEL.json");
    else if (rc == 0 && no_ckpt && ckpt)
        rc = cli_usage("import", "--checkpoint and --no-checkpoint exclude each other");
    else if (rc == 0 && ((ckpt && strcmp(ckpt, out) == 0) || strcmp(onnx, out) == 0))
        rc = cli_usage("import", "the model file '%s' would overwrite %s", out,
                       strcmp(onnx, out) == 0 ? "the ONNX file" : "the checkpoint");
    if (rc != 0 || cli_parse_only)
        return rc;
    char *def = ckpt || no_ckpt ? NULL : cli_with_extension(out, ".ckpt");
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    if (!no_ckpt && !(ckpt = ckpt ? ckpt : def))
        rc = cli_fail("out of memory");
    else if (ckpt && strcmp(ckpt, onnx) == 0)
        rc = cli_usage("import", "the checkpoint '%s' would overwrite the ONNX file", ckpt);
    else if (cli_load_registry(g, &reg, &err) != 0 ||
             tc_onnx_import_file(reg, onnx, out, ckpt, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else
        printf("wrote %s%s%s\n", out, ckpt ? " and " : "", ckpt ? ckpt : "");
    tc_registry_free(reg);
    free(def);
    return rc;
}

const cli_command cli_import_command = {
    "import", "convert an ONNX model into a model and checkpoint", help, run, NULL};
