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
    int no_ckpt = 0, n_pos;
    const cli_opt table[] = {
        CLI_STRING("-o", &out),
        CLI_STRING("--output", &out),
        CLI_STRING("--checkpoint", &ckpt),
        CLI_FLAG("--no-checkpoint", &no_ckpt),
        CLI_OPT_END,
    };
    if (cli_parse_argv(g, "import", argc, argv, table, &onnx, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (!onnx)
        return cli_usage("import", "missing MODEL.onnx");
    if (!out)
        return cli_usage("import", "missing -o MODEL.json");
    if (no_ckpt && ckpt)
        return cli_usage("import", "--checkpoint and --no-checkpoint exclude each other");
    if ((ckpt && strcmp(ckpt, out) == 0) || strcmp(onnx, out) == 0)
        return cli_usage("import", "the model file '%s' would overwrite %s", out,
                         strcmp(onnx, out) == 0 ? "the ONNX file" : "the checkpoint");
    if (cli_parse_only)
        return CLI_EXIT_OK;
    char *def = ckpt || no_ckpt ? NULL : cli_with_extension(out, ".ckpt");
    if (!ckpt && !no_ckpt && !(ckpt = def))
        return cli_fail("out of memory");
    if (ckpt && strcmp(ckpt, onnx) == 0) {
        free(def);
        return cli_usage("import", "the checkpoint '%s' would overwrite the ONNX file", ckpt);
    }
    tc_error err = {{0}};
    tc_registry *reg = NULL;
    int rc = CLI_EXIT_OK;
    if (cli_load_registry(g, &reg, &err) != 0 ||
        tc_onnx_import_file(reg, onnx, out, ckpt, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else if (ckpt)
        printf("wrote %s and %s\n", out, ckpt);
    else
        printf("wrote %s\n", out);
    if (reg)
        tc_registry_free(reg);
    free(def);
    return rc;
}

const cli_command cli_import_command = {"import", "convert an ONNX model into a model and checkpoint",
                                        help, run, NULL};
