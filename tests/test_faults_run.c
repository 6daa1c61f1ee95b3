/* Faults around a run rather than in its data: output that cannot be
 * written, signals from the pipe and the file-size limit, plugins that
 * crash, exit or hang, and a batch that does not fit in memory
 * (docs/robustness.md, rows R1-R10). The rule each test checks: the run says
 * what happened and which node, layer type and plugin file were running,
 * the status says it failed, and the last checkpoint stays intact.
 *
 * row  fault                                          test                  checked
 * ---- ---------------------------------------------- --------------------- ---------------------------------------
 * R1   stdout on /dev/full (eval --json, --version,   test_stdout_full      exit 1, "writing standard output: No
 *      plugins, predict, train --json)                                      space left on device"
 * R2   stdout closed (>&-): eval --json, train        test_stdout_closed    exit 1, "Bad file descriptor"; train's
 *                                                                           checkpoint is not mixed with its output
 * R3   train ... | head -1                            test_train_pipe       exit 1, "Broken pipe", stopped after an
 *                                                                           epoch of 200 with its checkpoint
 * R4   `ulimit -f` set by the shell (SIGXFSZ not      test_ulimit_fsize     exit 1, "File too large", previous
 *      ignored by the caller)                                               checkpoint byte-identical, no .tmp
 * R5   plugin: SIGSEGV (main thread, OpenMP worker),  test_plugin_crash     dies of the signal; node, type and .so
 *      abort(), stack overflow                                              named; checkpoint intact, readable
 * R6   plugin calls exit(0)                           test_plugin_exit      exit 1, "exit(0) was called while
 *                                                                           training", node named
 * R7   plugin stuck: SIGINT, then SIGINT again        test_stuck_sigint     first acknowledged at once, second ends
 *                                                                           the run (SIGINT) naming the node
 * R8   plugin stuck, --step-timeout 0.5               test_step_timeout     exit 1 in seconds, node named
 * R9   --batch-size 65536 with 1.4 TB of buffers      test_batch_too_large  exit 1 before allocating: node, bytes,
 *                                                                           memory available; library: nothing
 *                                                                           allocated
 * R10  worker threads cannot start (OMP_STACKSIZE     test_threads_fail     exit 1, "cannot start 4 worker
 *      1000G; ulimit -v does the same)                                      threads", not libgomp's own exit
 */
#define _GNU_SOURCE
#include <time.h>

#include "hostile_util.h"
#include "tinycnn/tinycnn.h"

/* A plugin folder with only the FaultLayer plugin. */
static const char *plugins(void)
{
    static const char *const files[] = {"fault_layer.so"};
    return hu_plugin_copies(files, 1);
}

/* The tiny model with a FaultLayer "extra" of this mode going wrong at
 * forward call `at`; 256 images in batches of 16 make 17 forward calls an
 * epoch (16 steps and one evaluation), so at 18 epoch 1's checkpoint exists. */
static const char *fault_model(int mode, int at)
{
    static char paths[8][700];
    static int next;
    char *p = paths[next++ % 8], extra[200], name[64];
    snprintf(extra, sizeof extra,
             "{\"name\":\"extra\",\"type\":\"FaultLayer\",\"inputs\":[\"flat\"],"
             "\"params\":{\"mode\":%d,\"at\":%d}}", mode, at);
    snprintf(name, sizeof name, "fault%d-at%d.json", mode, at);
    snprintf(p, sizeof paths[0], "%s", hu_path(tcu_tmpdir(), name));
    char *m = hu_tiny_model(mode ? extra : NULL, NULL);
    hu_write(p, m, strlen(m));
    free(m);
    return p;
}

/* A trained checkpoint of the plain tiny model (one epoch). */
static const char *trained(void)
{
    static char ck[700];
    if (!ck[0]) {
        snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "trained.ckpt"));
        hu_run r = hu_tinycnn("train %s --data %s --epochs 1 --threads 2 --quiet -o %s",
                              fault_model(0, 0), hu_syn_data(), ck);
        CU_ASSERT_EQUAL_FATAL(r.status, 0);
        hu_run_free(&r);
    }
    return ck;
}

/* Epochs done in a checkpoint; -1 if it cannot be read. */
static long ckpt_epochs(const char *path)
{
    tc_checkpoint ck = {0};
    tc_error err = {{0}};
    if (tc_checkpoint_read(path, &ck, &err) != 0) {
        fprintf(stderr, "\n  %s\n", err.msg);
        return -1;
    }
    const char *e = ck.meta_json ? strstr(ck.meta_json, "\"epoch\":") : NULL;
    long n = e ? strtol(e + 8, NULL, 10) : -1;
    tc_checkpoint_free(&ck);
    return n;
}

/* Runs a shell command line (its own redirections) with stderr into
 * TMP/.sh.err; returns the shell's exit status with what it printed. */
static hu_run run_sh(const char *fmt, ...) TC_PRINTF(1, 2);
static hu_run run_sh(const char *fmt, ...)
{
    char cmd[4096], errp[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(errp, sizeof errp, "%s/.sh.err", tcu_tmpdir());
    hu_run r = {0};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fe < 0)
            _exit(126);
        dup2(fe, 2);
        close(fe);
        signal(SIGXFSZ, SIG_DFL); /* as a user's shell has them */
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    r.status = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = hu_slurp(errp, NULL);
    r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    return r;
}

/* ---- R1-R4: output is part of the result -------------------------------- */

static void expect_lost_output(const hu_run *r, const char *reason)
{
    char want[200];
    snprintf(want, sizeof want, "tinycnn: writing standard output: %s", reason);
    CU_ASSERT_EQUAL(r->status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, want));
    if (r->status != 1 || !strstr(r->err, want))
        fprintf(stderr, "\n  expected exit 1 and '%s'; got exit %d (signal %d): %s\n", want,
                r->status, r->sig, r->err);
}

static void test_stdout_full(void)
{
    const char *ck = trained();
    hu_run r = hu_tinycnn("eval %s --data %s --json > /dev/full", ck, hu_syn_data());
    expect_lost_output(&r, "No space left on device");
    CU_ASSERT(hu_one_error(&r, 1, "No space left on device", (const char *)NULL));
    hu_run_free(&r);
    r = hu_tinycnn("--version > /dev/full");
    expect_lost_output(&r, "No space left on device");
    hu_run_free(&r);
    r = hu_tinycnn("plugins > /dev/full");
    expect_lost_output(&r, "No space left on device");
    hu_run_free(&r);
    r = hu_tinycnn("predict %s %s/tests/data/t10k-0-label-7.png > /dev/full", ck,
                   TC_TEST_SOURCE_DIR);
    expect_lost_output(&r, "No space left on device");
    hu_run_free(&r);
    /* train --json writes at the end only: the run completes, the status says the output
     * was lost */
    r = hu_tinycnn("train %s --data %s --epochs 1 --threads 2 --json -o %s > /dev/full",
                   fault_model(0, 0), hu_syn_data(), hu_path(tcu_tmpdir(), "json.ckpt"));
    expect_lost_output(&r, "No space left on device");
    hu_run_free(&r);
    CU_ASSERT_EQUAL(ckpt_epochs(hu_path(tcu_tmpdir(), "json.ckpt")), 1);
    /* the same output to a file is fine: the failure above is the device's */
    r = hu_tinycnn("eval %s --data %s --json", ck, hu_syn_data());
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"accuracy\""));
    hu_run_free(&r);
}

static void test_stdout_closed(void)
{
    hu_run r = hu_tinycnn("eval %s --data %s --json >&-", trained(), hu_syn_data());
    expect_lost_output(&r, "Bad file descriptor");
    hu_run_free(&r);
    /* the checkpoint file must not become the closed stdout */
    const char *ck = hu_path(tcu_tmpdir(), "closed.ckpt");
    r = hu_tinycnn("train %s --data %s --epochs 3 --threads 2 -o %s >&-", fault_model(0, 0),
                   hu_syn_data(), ck);
    expect_lost_output(&r, "Bad file descriptor");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "training stopped after epoch 1 of 3"));
    hu_run_free(&r);
    CU_ASSERT_EQUAL(ckpt_epochs(ck), 1);
}

static void test_train_pipe(void)
{
    const char *ck = hu_path(tcu_tmpdir(), "pipe.ckpt");
    char stp[700];
    snprintf(stp, sizeof stp, "%s", hu_path(tcu_tmpdir(), "pipe.status"));
    hu_run r = run_sh("{ '%s' train %s --data %s --epochs 200 --threads 2 -o %s; echo $? > %s; } "
                      "| head -1 > /dev/null", HU_BIN, fault_model(0, 0), hu_syn_data(), ck, stp);
    char *st = hu_slurp(stp, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    r.status = atoi(st);
    free(st);
    expect_lost_output(&r, "Broken pipe");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "; training stopped after epoch "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "tinycnn train --resume "));
    hu_run_free(&r);
    long e = ckpt_epochs(ck);
    CU_ASSERT(e >= 1 && e < 200); /* stopped with its checkpoint, long before the end */
}

static void test_ulimit_fsize(void)
{
    const char *ck = hu_path(tcu_tmpdir(), "fsize.ckpt");
    char ref[700];
    snprintf(ref, sizeof ref, "%s", hu_path(tcu_tmpdir(), "fsize.copy"));
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 --threads 2 --quiet -o %s",
                          fault_model(0, 0), hu_syn_data(), ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    hu_copy(ck, ref, 0644);
    /* 8 blocks of 512 bytes: the 64 KB checkpoint cannot be written */
    r = run_sh("ulimit -f 8; exec '%s' train --resume %s --data %s --epochs 2 --threads 2 "
               "--quiet > /dev/null", HU_BIN, ck, hu_syn_data());
    char unchanged[800];
    snprintf(unchanged, sizeof unchanged, "the last good checkpoint %s is unchanged", ck);
    CU_ASSERT(hu_one_error(&r, 1, "write failed: File too large", unchanged, (const char *)NULL));
    hu_run_free(&r);
    CU_ASSERT(hu_same_file(ck, ref));
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);
}

/* ---- R5-R8: plugins that crash, exit or hang ---------------------------- */

/* "in node 'extra' (layer type FaultLayer, plugin PLUG/fault_layer.so), in
 * its forward()" and that ck is named intact, in r's stderr. */
static void expect_node_named(const char *err, const char *ck)
{
    char node[900], intact[800];
    snprintf(node, sizeof node,
             "in node 'extra' (layer type FaultLayer, plugin %s/fault_layer.so), in its forward()",
             plugins());
    snprintf(intact, sizeof intact, "the last checkpoint %s is intact", ck);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, node));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, intact));
    if (!strstr(err, node) || !strstr(err, intact))
        fprintf(stderr, "\n  expected '%s' and '%s' in: %s\n", node, intact, err);
}

static void crash_case(int mode, int sig, const char *words)
{
    char name[64];
    snprintf(name, sizeof name, "crash%d.ckpt", mode);
    const char *ck = hu_path(tcu_tmpdir(), name);
    /* mode 2 may need several calls to get a chunk onto a worker thread */
    hu_run r = hu_tinycnn("--plugin-dir %s train %s --data %s --epochs 20 --threads 2 --quiet "
                          "-o %s", plugins(), fault_model(mode, 18), hu_syn_data(), ck);
    CU_ASSERT_EQUAL(r.status, -1);
    CU_ASSERT_EQUAL(r.sig, sig);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, words));
    CU_ASSERT_EQUAL(hu_count_lines(r.err), 1);
    expect_node_named(r.err, ck);
    hu_run_free(&r);
    CU_ASSERT_EQUAL(ckpt_epochs(ck), 1);
}

static void test_plugin_crash(void)
{
    crash_case(1, SIGSEGV, "tinycnn: fatal signal SIGSEGV (invalid memory access) in node");
    crash_case(2, SIGSEGV, "tinycnn: fatal signal SIGSEGV (invalid memory access) in a worker "
                           "thread in node");
    crash_case(3, SIGABRT, "tinycnn: fatal signal SIGABRT (abort) in node");
    crash_case(4, SIGSEGV, "tinycnn: fatal signal SIGSEGV (invalid memory access) in node");
}

static void test_plugin_exit(void)
{
    const char *ck = hu_path(tcu_tmpdir(), "exit.ckpt");
    hu_run r = hu_tinycnn("--plugin-dir %s train %s --data %s --epochs 3 --threads 2 --quiet "
                          "-o %s", plugins(), fault_model(5, 18), hu_syn_data(), ck);
    CU_ASSERT(hu_one_error(&r, 1, "tinycnn: exit(0) was called while training in node 'extra'",
                           "the run did not finish", (const char *)NULL));
    expect_node_named(r.err, ck);
    CU_ASSERT_PTR_NULL(strstr(r.out, "completed"));
    hu_run_free(&r);
    CU_ASSERT_EQUAL(ckpt_epochs(ck), 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Starts tinycnn with argv (argv[0] ignored), stdout to /dev/null and
 * stderr into errp. */
static pid_t start(const char *errp, char **argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fo = open("/dev/null", O_WRONLY);
        if (fe < 0 || fo < 0)
            _exit(126);
        dup2(fo, 1);
        dup2(fe, 2);
        signal(SIGINT, SIG_DFL);
        execv(HU_BIN, argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to `seconds` for pid; its wait status, or -1 after killing it. */
static int wait_for(pid_t pid, double seconds)
{
    double end = now_s() + seconds;
    int st;
    while (now_s() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* Waits up to `seconds` until file holds needle. */
static int wait_text(const char *file, const char *needle, double seconds)
{
    double end = now_s() + seconds;
    for (;;) {
        char *s = hu_slurp(file, NULL);
        int found = s && strstr(s, needle);
        free(s);
        if (found || now_s() >= end)
            return found;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
}

/* The checkpoint and stderr files of one stuck-plugin run, named after it. */
typedef struct {
    char ck[700], err[700];
} run_files;

static run_files run_files_for(const char *stem)
{
    run_files f;
    char name[64];
    snprintf(name, sizeof name, "%s.ckpt", stem);
    snprintf(f.ck, sizeof f.ck, "%s", hu_path(tcu_tmpdir(), name));
    snprintf(name, sizeof name, "%s.err", stem);
    snprintf(f.err, sizeof f.err, "%s", hu_path(tcu_tmpdir(), name));
    return f;
}

/* A run stopped inside the stuck node: stderr says why and names the node,
 * and the checkpoint holds the one epoch finished before it. */
static void expect_stopped_in_node(const run_files *f, const char *why)
{
    char *err = hu_slurp(f->err, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
    expect_node_named(err, f->ck);
    free(err);
    CU_ASSERT_EQUAL(ckpt_epochs(f->ck), 1);
}

static void test_stuck_sigint(void)
{
    run_files f = run_files_for("stuck");
    char *ck = f.ck, *errp = f.err;
    char *argv[] = {"tinycnn", "--plugin-dir", (char *)plugins(), "train",
                    (char *)fault_model(6, 18), "--data", (char *)hu_syn_data(), "--epochs", "3",
                    "--threads", "2", "--quiet", "-o", ck, NULL};
    pid_t pid = start(errp, argv);
    CU_ASSERT_FATAL(pid > 0);
    double t0 = now_s();
    while (access(ck, F_OK) != 0 && now_s() - t0 < 30) /* epoch 1 done, then stuck */
        usleep(20000);
    usleep(300000);
    kill(pid, SIGINT);
    CU_ASSERT(wait_text(errp, "tinycnn: SIGINT: stopping at the end of the current batch", 3));
    usleep(300000);
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, WNOHANG), 0); /* still stuck: no batch boundary */
    kill(pid, SIGINT);
    st = wait_for(pid, 10);
    CU_ASSERT(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    expect_stopped_in_node(&f, "tinycnn: second SIGINT: stopping at once in node");
}

static void test_step_timeout(void)
{
    run_files f = run_files_for("timeout");
    char *ck = f.ck, *errp = f.err;
    char *argv[] = {"tinycnn", "--plugin-dir", (char *)plugins(), "train",
                    (char *)fault_model(6, 18), "--data", (char *)hu_syn_data(), "--epochs", "3",
                    "--threads", "2", "--quiet", "--step-timeout", "0.5", "-o", ck, NULL};
    double t0 = now_s();
    int st = wait_for(start(errp, argv), 30);
    double took = now_s() - t0;
    CU_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CU_ASSERT(took < 20);
    expect_stopped_in_node(&f, "tinycnn: step timeout: a pass has run for more than 0.5 s in node");
}

/* ---- R9: memory -------------------------------------------------------- */

/* 4x4 images through a 1x1 convolution to 65536 channels: 4 MB of output
 * per image, 549.8 GB at batch 65536 with its gradient. */
static const char wide_model[] =
    "{\"name\":\"wide\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
    "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],\"nodes\":["
    "{\"name\":\"c1\",\"type\":\"Conv2d\",\"inputs\":[\"image\"],"
    "\"params\":{\"out_channels\":8,\"kernel_size\":3,\"padding\":1}},"
    "{\"name\":\"c2\",\"type\":\"Conv2d\",\"inputs\":[\"c1\"],"
    "\"params\":{\"out_channels\":65536,\"kernel_size\":1}},"
    "{\"name\":\"pool\",\"type\":\"GlobalAvgPool2d\",\"inputs\":[\"c2\"]},"
    "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"pool\"],\"params\":{\"out_features\":10}},"
    "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
    "\"output\":\"fc\",\"loss\":\"loss\"}";

static void test_batch_too_large(void)
{
    /* the runner: 65536 images of 4x4 in one batch */
    const char *d = hu_synth_idx("wide-data", 65536, 16, 4);
    const char *m = hu_path(tcu_tmpdir(), "wide.json");
    hu_write(m, wide_model, strlen(wide_model));
    const char *ck = hu_path(tcu_tmpdir(), "wide.ckpt");
    double t0 = now_s();
    hu_run r = hu_tinycnn("train %s --data %s --batch-size 65536 --epochs 1 --threads 2 --quiet "
                          "-o %s", m, d, ck);
    CU_ASSERT(hu_one_error(&r, 1, "node 'c2' (Conv2d) needs ", " GB at batch 65536, all buffers ",
                           " available (", "use a smaller batch size", (const char *)NULL));
    hu_run_free(&r);
    CU_ASSERT(now_s() - t0 < 30); /* refused, not swapped through */
    CU_ASSERT_NOT_EQUAL(access(ck, F_OK), 0);

    /* the library: refused before anything is allocated */
    tc_error err = {{0}};
    tc_graph *g =
        tcu_graph_ok(tc_graph_load_string(tcu_registry(), wide_model, "wide.json", &err), &err);
    TCU_ASSERT_OK(tc_graph_prepare(g, 2, 1, &err), &err);
    size_t before = tc_graph_planned_bytes(g);
    TCU_ASSERT_FAILS_WITH(tc_graph_prepare(g, 1 << 20, 1, &err), &err,
                          "node 'c2' (Conv2d) needs 8796.1 GB at batch 1048576");
    CU_ASSERT_EQUAL(tc_graph_planned_bytes(g), before);
    CU_ASSERT_EQUAL(tc_graph_batch(g), 0); /* unprepared: no pass runs on half a plan */
    TCU_ASSERT_OK(tc_graph_prepare(g, 2, 1, &err), &err);
    TCU_ASSERT_OK(tc_graph_forward(g, 1, 0, &err), &err);
    tc_graph_free(g);
}

/* ---- R10: threads ------------------------------------------------------- */

static void test_threads_fail(void)
{
    /* a stack no thread can get: what a low ulimit -v does, on any machine */
    hu_run r = run_sh("OMP_STACKSIZE=1000G exec '%s' eval %s --data %s --threads 4 > /dev/null",
                      HU_BIN, trained(), hu_syn_data());
    CU_ASSERT(hu_one_error(&r, 1, "cannot start 4 worker threads: thread 1 of 3 failed to start",
                           "use fewer threads", "OMP_STACKSIZE=1000G", (const char *)NULL));
    CU_ASSERT_PTR_NULL(strstr(r.err, "libgomp"));
    hu_run_free(&r);
    r = run_sh("OMP_STACKSIZE=1000G exec '%s' train %s --data %s --epochs 1 --threads 4 --quiet "
               "-o %s > /dev/null", HU_BIN, fault_model(0, 0), hu_syn_data(),
               hu_path(tcu_tmpdir(), "threads.ckpt"));
    /* refused when the session plans its batch, before any training */
    CU_ASSERT(hu_one_error(&r, 1, "cannot start 4 worker threads", "fault0-at0.json",
                           (const char *)NULL));
    CU_ASSERT_EQUAL(access(hu_path(tcu_tmpdir(), "threads.ckpt"), F_OK), -1);
    hu_run_free(&r);
    /* one thread needs no worker */
    r = run_sh("OMP_STACKSIZE=1000G exec '%s' eval %s --data %s --threads 1 > /dev/null", HU_BIN,
               trained(), hu_syn_data());
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"R1 stdout on a full device", test_stdout_full},
        {"R2 stdout closed", test_stdout_closed},
        {"R3 train | head -1", test_train_pipe},
        {"R4 ulimit -f from the shell", test_ulimit_fsize},
        {"R5 plugin crashes name the node", test_plugin_crash},
        {"R6 plugin calls exit(0)", test_plugin_exit},
        {"R7 stuck plugin: SIGINT twice", test_stuck_sigint},
        {"R8 stuck plugin: --step-timeout", test_step_timeout},
        {"R9 batch too large for memory", test_batch_too_large},
        {"R10 worker threads that cannot start", test_threads_fail},
        {NULL, NULL},
    };
    return tcu_run("faults_run", tests);
}
