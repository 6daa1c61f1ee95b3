/* Replays the option-parser fuzzer's seeds (tests/fuzz/corpus/cli/) and
 * findings (tests/fuzz/regressions/cli/) through the target's own code,
 * linked here with the runner's sources but main.c, so that they stay
 * regression tests in every build (the sanitizer build included); and
 * checks that parse-only mode parses and does nothing else. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LLVMFuzzerTestOneInput fuzz_cli_one
#define LLVMFuzzerInitialize fuzz_cli_init /* not called: the output stays visible */
#include "fuzz/fuzz_cli.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

#include "fuzz/fuzz_replay.h"
#include "testutil.h"

static void test_replay(void)
{
    cli_parse_only = 1;
    int seeds = fuzz_replay_dir(TC_TEST_SOURCE_DIR "/tests/fuzz/corpus/cli", fuzz_cli_one);
    fuzz_replay_dir(TC_TEST_SOURCE_DIR "/tests/fuzz/regressions/cli", fuzz_cli_one);
    CU_ASSERT(seeds >= 8); /* one seed a command at least */
}

/* A command's status in parse-only mode. */
static int parse_status(const cli_command *c, const char *args)
{
    char buf[1024], *argv[64], *save = NULL;
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", args);
    argv[argc++] = (char *)c->name;
    for (char *w = strtok_r(buf, " ", &save); w && argc < 63; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    cli_globals g;
    memset(&g, 0, sizeof g);
    cli_parse_only = 1;
    return c->run(&g, argc, argv);
}

static void test_parse_only(void)
{
    char out[700];
    snprintf(out, sizeof out, "%s/never.ckpt", tcu_tmpdir());
    char args[900];
    snprintf(args, sizeof args, "m.json --epochs 3 --lr 0.1 --limit 100 --allow-changes -o %s",
             out);
    CU_ASSERT_EQUAL(parse_status(&cli_train_command, args), CLI_EXIT_OK);
    struct stat st;
    CU_ASSERT_NOT_EQUAL(stat(out, &st), 0); /* parsed, nothing run */
    CU_ASSERT_EQUAL(parse_status(&cli_train_command, "m.json --epochs -1"), CLI_EXIT_USAGE);
    CU_ASSERT_EQUAL(parse_status(&cli_train_command, "--epochs 2"), CLI_EXIT_USAGE);
    CU_ASSERT_EQUAL(parse_status(&cli_eval_command, "x.ckpt --limit 5 --split val"), CLI_EXIT_OK);
    CU_ASSERT_EQUAL(parse_status(&cli_eval_command, "--limit 5"), CLI_EXIT_USAGE);
    CU_ASSERT_EQUAL(parse_status(&cli_predict_command, "x.ckpt a.png --top 0"), CLI_EXIT_USAGE);
    CU_ASSERT_EQUAL(parse_status(&cli_report_command, "x.ckpt -o d --limit x"), CLI_EXIT_USAGE);
    CU_ASSERT_EQUAL(parse_status(&cli_summary_command, "m.json --json"), CLI_EXIT_OK);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"option-parser seeds and findings", test_replay},
        {"parse-only mode parses and runs nothing", test_parse_only},
        {NULL, NULL},
    };
    return tcu_run("option-parser fuzz replay", tests);
}
