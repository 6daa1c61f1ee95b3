/* libFuzzer target: the runner's option parsing, every command but
 * check-plugin (which hands its arguments to tinycnn-conformance). The
 * first byte picks the command; the rest, split at NUL and newline bytes,
 * are its arguments. With cli_parse_only set a command returns once its
 * options are parsed, so nothing is loaded, trained or written; what the
 * parsers print goes to /dev/null (sanitizer reports still reach fd 2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

extern const cli_command cli_export_command, cli_import_command, cli_summary_command,
    cli_report_command;

enum { MAX_WORDS = 64 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cli_parse_only = 1;
    FILE *null = fopen("/dev/null", "w");
    if (!null)
        abort();
    stdout = null;
    stderr = null;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cli_command *const commands[] = {
        &cli_train_command,   &cli_eval_command,    &cli_predict_command,
        &cli_plugins_command, &cli_export_command,  &cli_import_command,
        &cli_summary_command, &cli_report_command,
    };
    if (size < 1)
        return 0;
    const cli_command *c = commands[data[0] % (sizeof commands / sizeof commands[0])];
    char *text = malloc(size); /* the words, each NUL-terminated */
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    argv[argc++] = (char *)c->name;
    size_t start = 1;
    for (size_t i = 1; i <= size && argc < MAX_WORDS + 1; i++) {
        if (i < size && data[i] != 0 && data[i] != '\n')
            continue;
        memcpy(text + start - 1, data + start, i - start);
        text[i - 1] = 0;
        argv[argc++] = text + start - 1;
        start = i + 1;
    }
    argv[argc] = NULL;
    cli_globals g;
    memset(&g, 0, sizeof g);
    c->run(&g, argc, argv);
    fflush(NULL);
    free(text);
    return 0;
}
