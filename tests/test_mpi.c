/* Data-parallel training over MPI (tinycnn/dist.h, docs/distributed.md):
 * `mpirun -np N tinycnn train` against one process, over loopback. With
 * MPI: the weights after K steps of N = 2 and 3 ranks (uneven shares)
 * equal a single process's within 1e-5 relative, the same N repeats bit
 * for bit, resume, rank 0 alone printing and writing, a killed rank and
 * SIGTERM to mpirun. Built without MPI: the refusals. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist_internal.h"
#include "testutil.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/dist.h"
#include "tinycnn/snapshot.h"
#include "tinycnn/status.h"

#ifndef TC_TEST_MPIEXEC
#define TC_TEST_MPIEXEC "mpirun"
#endif

#define RUNNER TC_TEST_BINARY_DIR "/bin/tinycnn"
#define LENET TC_TEST_SOURCE_DIR "/models/lenet5.json"

static char *path_in_tmp(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tcu_tmpdir(), name);
    return p;
}

/* The argv of `[mpirun -np N] tinycnn train LENET --data D ... extra`,
 * ranks 0: no mpirun. extra: space-separated words (no quoting). */
static void build_argv(char **argv, char *words, int ranks, const char *extra)
{
    int n = 0;
    static char np[16];
    if (ranks > 0) {
        snprintf(np, sizeof np, "%d", ranks);
        argv[n++] = TC_TEST_MPIEXEC;
        argv[n++] = "--allow-run-as-root";
        argv[n++] = "--oversubscribe";
        argv[n++] = "-np";
        argv[n++] = np;
    }
    argv[n++] = RUNNER;
    argv[n++] = "train";
    snprintf(words, 2048, "--data %s --threads 1 --test-limit 100 %s", tcu_data_dir(), extra);
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
}

/* Starts the run with output to `log`; returns the pid. */
static pid_t start_run(int ranks, const char *log, const char *extra)
{
    char *argv[64], words[2048];
    build_argv(argv, words, ranks, extra);
    pid_t pid = tcu_spawn_logged(log, argv);
    CU_ASSERT_FATAL(pid > 0);
    return pid;
}

/* Waits up to `seconds` for pid; returns its wait status, or -1 (then
 * kills it) when it is still running: a hang. */
static int wait_for(pid_t pid, double seconds)
{
    int st = 0;
    for (double t = 0; t < seconds; t += 0.05) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* Runs to the end; returns the exit status (-1: hung or killed). */
static int run(int ranks, const char *log, const char *extra)
{
    int st = wait_for(start_run(ranks, log, extra), 300);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void assert_log_has(const char *log, const char *needle)
{
    char *text = slurp(log);
    if (!strstr(text, needle))
        fprintf(stderr, "\n  %s lacks '%s':\n%s\n", log, needle, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, needle));
    free(text);
}

/* The largest over the weights of max|a - b| / max|a| (each tensor), the
 * optimiser state left aside; -1 when the two hold other tensors. */
static double weights_rel_diff(const char *a, const char *b)
{
    tc_checkpoint ca, cb;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(a, &ca, &err), &err);
    TCU_ASSERT_OK(tc_checkpoint_read(b, &cb, &err), &err);
    double worst = ca.n_tensors == cb.n_tensors && ca.n_tensors > 0 ? 0.0 : -1.0;
    for (size_t i = 0; worst >= 0 && i < ca.n_tensors; i++) {
        const tc_named_tensor *x = &ca.tensors[i];
        if (strncmp(x->name, TC_SNAPSHOT_OPTIM_PREFIX, strlen(TC_SNAPSHOT_OPTIM_PREFIX)) == 0)
            continue;
        const tc_named_tensor *y = tc_checkpoint_find(&cb, x->name);
        int64_t n = tc_shape_count(&x->shape);
        if (!y || tc_shape_count(&y->shape) != n) {
            worst = -1;
            break;
        }
        double dmax = 0, amax = 0;
        for (int64_t k = 0; k < n; k++) {
            dmax = fmax(dmax, fabs((double)x->data[k] - (double)y->data[k]));
            amax = fmax(amax, fabs((double)x->data[k]));
        }
        worst = fmax(worst, amax > 0 ? dmax / amax : dmax);
    }
    tc_checkpoint_free(&ca);
    tc_checkpoint_free(&cb);
    return worst;
}

/* The integer `key` of a checkpoint's training state; -1: none. */
static long long meta_int(const char *ckpt, const char *key)
{
    tc_checkpoint ck;
    tc_error err = {{0}};
    if (tc_checkpoint_read(ckpt, &ck, &err) != 0) {
        fprintf(stderr, "\n  %s\n", err.msg);
        return -1;
    }
    json_t *o = json_loads(ck.meta_json, 0, NULL);
    json_t *v = json_object_get(o, key);
    long long r = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(o);
    tc_checkpoint_free(&ck);
    return r;
}

/* 6 steps of SGD over 294 images in batches of 49: shares 25/24 over 2
 * ranks and 17/16/16 over 3; no augmentation (its draws follow the place
 * in the batch, which a share shifts) and no BatchNorm or dropout. */
#define EXACT "models/lenet5.json --epochs 1 --limit 294 --batch-size 49 --optimizer sgd " \
              "--lr 0.05 --augment-shift 0 --quiet"

static void run_exact(int ranks, const char *name)
{
    char extra[1024];
    snprintf(extra, sizeof extra, "%s/" EXACT " -o %s", TC_TEST_SOURCE_DIR, path_in_tmp(name));
    CU_ASSERT_EQUAL(run(ranks, path_in_tmp("exact.log"), extra), 0);
}

static void test_equivalence(void)
{
    run_exact(0, "single.ckpt");
    run_exact(2, "n2.ckpt");
    run_exact(3, "n3.ckpt");
    double d2 = weights_rel_diff(path_in_tmp("single.ckpt"), path_in_tmp("n2.ckpt"));
    double d3 = weights_rel_diff(path_in_tmp("single.ckpt"), path_in_tmp("n3.ckpt"));
    printf("\n    relative difference to one process: N=2 %.3g, N=3 %.3g\n", d2, d3);
    CU_ASSERT(d2 >= 0 && d2 <= 1e-5);
    CU_ASSERT(d3 >= 0 && d3 <= 1e-5);
    CU_ASSERT_EQUAL(meta_int(path_in_tmp("n3.ckpt"), "ranks"), 3);
    CU_ASSERT_EQUAL(meta_int(path_in_tmp("n3.ckpt"), "threads"), 1);
    CU_ASSERT_EQUAL(meta_int(path_in_tmp("single.ckpt"), "ranks"), 1);
}

static void test_repeatable(void)
{
    run_exact(3, "n3a.ckpt");
    run_exact(3, "n3b.ckpt");
    CU_ASSERT(tcu_same_tensors(path_in_tmp("n3a.ckpt"), path_in_tmp("n3b.ckpt"), 0));
}

/* The bucketed path forced on LeNet-5 (32 KiB buckets: 3 of them): N=2
 * and N=3 equal one process within 1e-5, N=3 repeats bit for bit, and
 * each equals the single-call path's weights of the same N within 1e-5
 * (printed: whether bit for bit - each element is summed by one allreduce
 * of the same ranks' same values either way, but the reduction algorithm
 * Open MPI picks may differ). Runs after test_equivalence. */
static void test_bucketed(void)
{
    setenv("TINYCNN_DIST_BUCKET_BYTES", "32768", 1);
    run_exact(2, "b2.ckpt");
    run_exact(3, "b3.ckpt");
    run_exact(3, "b3b.ckpt");
    unsetenv("TINYCNN_DIST_BUCKET_BYTES");
    double d2 = weights_rel_diff(path_in_tmp("single.ckpt"), path_in_tmp("b2.ckpt"));
    double d3 = weights_rel_diff(path_in_tmp("single.ckpt"), path_in_tmp("b3.ckpt"));
    double s2 = weights_rel_diff(path_in_tmp("n2.ckpt"), path_in_tmp("b2.ckpt"));
    double s3 = weights_rel_diff(path_in_tmp("n3.ckpt"), path_in_tmp("b3.ckpt"));
    printf("\n    bucketed: to one process N=2 %.3g, N=3 %.3g; to one call N=2 %.3g (%s), "
           "N=3 %.3g (%s)\n", d2, d3, s2,
           tcu_same_tensors(path_in_tmp("n2.ckpt"), path_in_tmp("b2.ckpt"), 1) ? "same bits"
                                                                              : "not the same bits",
           s3,
           tcu_same_tensors(path_in_tmp("n3.ckpt"), path_in_tmp("b3.ckpt"), 1) ? "same bits"
                                                                              : "not the same bits");
    CU_ASSERT(d2 >= 0 && d2 <= 1e-5);
    CU_ASSERT(d3 >= 0 && d3 <= 1e-5);
    CU_ASSERT(s2 >= 0 && s2 <= 1e-5);
    CU_ASSERT(s3 >= 0 && s3 <= 1e-5);
    CU_ASSERT(tcu_same_tensors(path_in_tmp("b3.ckpt"), path_in_tmp("b3b.ckpt"), 0));
}

/* One banner, one line per epoch, one summary: rank 0 alone prints. */
static void test_rank0_prints(void)
{
    char extra[1024];
    const char *log = path_in_tmp("print.log");
    snprintf(extra, sizeof extra, "%s --epochs 2 --limit 128 --batch-size 32 -o %s", LENET,
             path_in_tmp("print.ckpt"));
    CU_ASSERT_EQUAL_FATAL(run(2, log, extra), 0);
    char *text = slurp(log);
    CU_ASSERT_EQUAL(count_of(text, "training lenet5"), 1);
    CU_ASSERT_EQUAL(count_of(text, "epoch 1/2 "), 1);
    CU_ASSERT_EQUAL(count_of(text, "epoch 2/2 "), 1);
    CU_ASSERT_EQUAL(count_of(text, "allreduce over 2 ranks"), 1);
    free(text);
}

/* Two epochs at once, or one and a resume on every rank: the same bits. */
static void test_resume(void)
{
    char extra[1024];
    const char *common = "--limit 192 --batch-size 32 --lr-schedule constant --quiet";
    snprintf(extra, sizeof extra, "%s %s --epochs 2 -o %s", LENET, common,
             path_in_tmp("full.ckpt"));
    CU_ASSERT_EQUAL(run(2, path_in_tmp("r.log"), extra), 0);
    snprintf(extra, sizeof extra, "%s %s --epochs 1 -o %s", LENET, common,
             path_in_tmp("half.ckpt"));
    CU_ASSERT_EQUAL(run(2, path_in_tmp("r.log"), extra), 0);
    snprintf(extra, sizeof extra, "--resume %s --epochs 2 --quiet", path_in_tmp("half.ckpt"));
    CU_ASSERT_EQUAL(run(2, path_in_tmp("r.log"), extra), 0);
    CU_ASSERT_EQUAL(meta_int(path_in_tmp("half.ckpt"), "epoch"), 2);
    CU_ASSERT(tcu_same_tensors(path_in_tmp("full.ckpt"), path_in_tmp("half.ckpt"), 0));
}

/* Waits (up to a minute) for the first checkpoint of a long run. */
static void wait_for_file(const char *path, pid_t pid)
{
    struct stat st;
    for (int i = 0; i < 1200 && stat(path, &st) != 0; i++) {
        CU_ASSERT_EQUAL_FATAL(waitpid(pid, NULL, WNOHANG), 0);
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
}

/* The pid of mpirun's child that is rank `rank`; -1: none. */
static pid_t rank_pid(pid_t mpirun, int rank)
{
    char path[128], want[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)mpirun, (int)mpirun);
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    char *kids = slurp(path);
    pid_t found = -1;
    for (char *save = NULL, *w = strtok_r(kids, " \n", &save); w && found < 0;
         w = strtok_r(NULL, " \n", &save)) {
        snprintf(path, sizeof path, "/proc/%s/environ", w);
        FILE *f = fopen(path, "rb");
        char var[4096];
        size_t n = 0;
        int c;
        while (f && (c = fgetc(f)) != EOF) {
            var[n < sizeof var - 1 ? n++ : n] = (char)c;
            if (c == 0) {
                if (strcmp(var, want) == 0)
                    found = (pid_t)atoi(w);
                n = 0;
            }
        }
        if (f)
            fclose(f);
    }
    free(kids);
    return found;
}

#define LONG_RUN "%s --epochs 300 --limit 320 --batch-size 32 --lr-schedule constant --quiet -o %s"

/* Starts the long two-rank run that writes ckpt (its output in log) and
 * waits for its first checkpoint; returns mpirun's pid. */
static pid_t start_long_run(const char *ckpt, const char *log)
{
    char extra[1024];
    snprintf(extra, sizeof extra, LONG_RUN, LENET, ckpt);
    pid_t pid = start_run(2, log, extra);
    wait_for_file(ckpt, pid);
    return pid;
}

/* A rank killed mid-run: the others stop (no hang), the error names the
 * rank, the last checkpoint stays sound. */
static void test_killed_rank(void)
{
    const char *ckpt = path_in_tmp("kill.ckpt"), *log = path_in_tmp("kill.log");
    pid_t pid = start_long_run(ckpt, log);
    pid_t victim = rank_pid(pid, 1);
    CU_ASSERT_FATAL(victim > 0);
    CU_ASSERT_EQUAL(kill(victim, SIGKILL), 0);
    int st = wait_for(pid, 60);
    CU_ASSERT(st >= 0);                               /* no hang */
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 0); /* an error */
    assert_log_has(log, "rank 1");
    CU_ASSERT(meta_int(ckpt, "epoch") >= 1);          /* readable, and sound */
    CU_ASSERT_EQUAL(meta_int(ckpt, "ranks"), 2);
}

/* SIGTERM to mpirun: every rank stops at the same batch boundary, rank 0
 * writes one checkpoint, and a resume from it ends with the weights of a
 * run never stopped (a constant learning rate: the epoch count then
 * changes nothing else). */
static void test_sigterm(void)
{
    char extra[1024];
    const char *ckpt = path_in_tmp("term.ckpt"), *log = path_in_tmp("term.log");
    pid_t pid = start_long_run(ckpt, log);
    CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
    int st = wait_for(pid, 60);
    CU_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
    assert_log_has(log, "interrupted by SIGTERM");
    assert_log_has(log, "checkpoint written to");
    long long epoch = meta_int(ckpt, "epoch");
    CU_ASSERT_FATAL(epoch >= 1 && epoch < 300);
    snprintf(extra, sizeof extra, "--resume %s --epochs %lld --quiet", ckpt, epoch + 1);
    CU_ASSERT_EQUAL(run(2, path_in_tmp("term2.log"), extra), 0);
    CU_ASSERT_EQUAL(meta_int(ckpt, "epoch"), epoch + 1);
    snprintf(extra, sizeof extra, LONG_RUN " --epochs %lld", LENET, path_in_tmp("ref.ckpt"),
             epoch + 1);
    CU_ASSERT_EQUAL(run(2, path_in_tmp("ref.log"), extra), 0);
    CU_ASSERT(tcu_same_tensors(path_in_tmp("ref.ckpt"), ckpt, 0));
}

/* A loss that becomes infinite at step 3 on every rank (the test plugin
 * InfLoss): all ranks stop before that update, the error names the first
 * rank, and no hang. */
static void test_diverged(void)
{
    static const char model[] =
        "{\"name\":\"inf\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,28,28]},"
        "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],\"nodes\":["
        "{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
        "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
        "\"params\":{\"out_features\":10}},"
        "{\"name\":\"loss\",\"type\":\"InfLoss\",\"inputs\":[\"fc\",\"label\"],"
        "\"params\":{\"inf_at\":3}}],\"output\":\"fc\",\"loss\":\"loss\"}";
    const char *json = tcu_write_file("inf.json", model, sizeof model - 1);
    char cmd[1024], extra[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/bad_inf_loss.so %s", path_in_tmp("plug"),
             TC_TEST_BAD_PLUGIN_DIR, path_in_tmp("plug"));
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    snprintf(extra, sizeof extra, "--plugin-dir %s %s --epochs 1 --limit 128 --batch-size 32 "
             "--quiet -o %s", path_in_tmp("plug"), json, path_in_tmp("inf.ckpt"));
    const char *log = path_in_tmp("inf.log");
    CU_ASSERT_EQUAL(run(2, log, extra), 1);
    assert_log_has(log, "the loss became NaN or infinite on rank 0 at epoch 1, step 3 "
                        "(batch 3 of 4)");
    assert_log_has(log, "no checkpoint was written");
}

/* Built without MPI: joining is refused, by the library and the runner. */
static void test_refused_without_mpi(void)
{
    tc_error err = {{0}};
    CU_ASSERT_PTR_NULL(tc_dist_init(&err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "built without MPI"));
    char extra[1024];
    snprintf(extra, sizeof extra, "%s --distributed --epochs 1 --limit 64 -o %s", LENET,
             path_in_tmp("none.ckpt"));
    const char *log = path_in_tmp("none.log");
    CU_ASSERT_EQUAL(run(0, log, extra), 1);
    assert_log_has(log, "built without MPI");
}

static void test_shares(void)
{
    int64_t lo, hi, next = 0;
    for (int r = 0; r < 3; r++) {
        tc_dist_share(50, r, 3, &lo, &hi);
        CU_ASSERT_EQUAL(lo, next);
        CU_ASSERT_EQUAL(hi - lo, r < 2 ? 17 : 16);
        next = hi;
    }
    CU_ASSERT_EQUAL(next, 50);
    tc_dist_share(1, 1, 2, &lo, &hi); /* an empty share */
    CU_ASSERT_EQUAL(hi - lo, 0);
}

/* A transport of one rank that records the sums it is asked to start:
 * where in the flat buffer, how many, and whether backward was running
 * (the hook installed). A sum over one rank changes nothing. */
static struct {
    int64_t off[64], n[64];
    int in_backward[64];
    int starts, waits, calls;
} fake;

static int fake_sum_f32(tc_dist *d, float *x, int64_t n, tc_error *err)
{
    (void)d, (void)x, (void)n, (void)err;
    fake.calls++;
    return 0;
}

static int fake_start(tc_dist *d, float *x, int n, tc_error *err)
{
    (void)err;
    if (fake.starts < 64) {
        fake.off[fake.starts] = x - d->flat;
        fake.n[fake.starts] = n;
        fake.in_backward[fake.starts] = d->hooked != NULL;
    }
    fake.starts++;
    return 0;
}

static int fake_progress(tc_dist *d, tc_error *err)
{
    (void)d, (void)err;
    return 0;
}

static int fake_wait(tc_dist *d, tc_error *err)
{
    (void)d, (void)err;
    fake.waits++;
    return 0;
}

static void fake_finalize(tc_dist *d)
{
    (void)d;
}

static const tc_dist_ops fake_ops = {NULL, fake_sum_f32, NULL, NULL, fake_finalize,
                                     fake_start, fake_progress, fake_wait};

/* One step of LeNet-5 at batch 8 through a group of one: bucket_bytes 0
 * (one call) or 32 KiB (buckets); the gradients after the sum, copied
 * into grads (the model's weight elements), and the extras. */
static tc_dist *fake_step(int64_t bucket_bytes, int zero, float *grads, float *extra)
{
    char path[512];
    tc_error err = {{0}};
    snprintf(path, sizeof path, "%s/models/lenet5.json", TC_TEST_SOURCE_DIR);
    tc_graph *g = tc_graph_load_file(tcu_registry(), path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 3);
    TCU_ASSERT_OK(tc_graph_prepare(g, 8, 1, &err), &err);
    uint64_t seed = 11;
    for (int i = 0; i < tc_graph_n_inputs(g); i++) {
        const tc_input_info *in = tc_graph_input(g, i);
        float *x = tc_graph_input_data(g, i);
        for (int64_t k = 0; k < tc_shape_count(&in->shape) * 8; k++)
            x[k] = in->is_label ? (float)(k % 10) : (float)(2.0 * tcu_rnd(&seed) - 1.0);
    }
    memset(&fake, 0, sizeof fake);
    tc_dist *d = tc_dist_new_group(&fake_ops, 0, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    tc_dist_set_bucket_bytes(d, bucket_bytes);
    TCU_ASSERT_OK(tc_dist_begin_gradients(d, g, 0.25f, 3, &err), &err);
    TCU_ASSERT_OK(tc_graph_forward(g, 1, 1, &err), &err);
    if (!zero)
        TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
    TCU_ASSERT_OK(tc_dist_sum_gradients(d, g, 0.25f, zero, extra, 3, &err), &err);
    for (int w = 0, at = 0; w < tc_graph_n_weights(g); w++) {
        const tc_tensor *t = &tc_graph_weight(g, w)->grad;
        memcpy(grads + at, t->data, (size_t)tc_shape_count(&t->shape) * sizeof(float));
        at += (int)tc_shape_count(&t->shape);
    }
    tc_graph_free(g);
    return d;
}

/* Buckets (32 KiB on LeNet-5's 241 KiB of gradients): more than one, all
 * but the last started while backward ran, in flat order from the end,
 * covering the buffer once; the sums bit-identical to the single call's;
 * the extras carried; a rank with nothing to contribute sends zeros. */
static void test_buckets_in_backward(void)
{
    enum { N = 61706 };
    static float one[N], bucketed[N];
    float ex1[3] = {1, 2, 3}, ex2[3] = {1, 2, 3};
    tc_dist *d = fake_step(0, 0, one, ex1);
    CU_ASSERT_EQUAL(tc_dist_n_buckets(d), 1);
    CU_ASSERT_EQUAL(fake.calls, 1);
    CU_ASSERT_EQUAL(fake.starts, 0);
    tc_dist_free(d);
    d = fake_step(32768, 0, bucketed, ex2);
    int nb = tc_dist_n_buckets(d), during = 0;
    for (int i = 0; i < fake.starts && i < 64; i++)
        during += fake.in_backward[i];
    printf("\n    %d buckets, %d started during backward\n", nb, during);
    CU_ASSERT(nb >= 3 && nb <= 64);
    CU_ASSERT_EQUAL(fake.starts, nb);
    CU_ASSERT_EQUAL(fake.waits, 1);
    CU_ASSERT_EQUAL(fake.calls, 0);
    int64_t end = N + 3;
    for (int i = 0; i < nb && i < 64; i++) {
        CU_ASSERT_EQUAL(fake.in_backward[i], i < nb - 1);
        CU_ASSERT_EQUAL(fake.off[i] + fake.n[i], end);
        CU_ASSERT(i == nb - 1 || fake.n[i] * 4 >= 32768);
        end = fake.off[i];
    }
    CU_ASSERT_EQUAL(end, 0);
    CU_ASSERT(memcmp(one, bucketed, sizeof one) == 0);
    CU_ASSERT(ex2[0] == 1 && ex2[1] == 2 && ex2[2] == 3);
    int nonzero = 0;
    for (int k = 0; k < N; k++)
        nonzero += one[k] != 0;
    CU_ASSERT(nonzero > N / 2);
    tc_dist_free(d);
    d = fake_step(32768, 1, bucketed, ex2);
    CU_ASSERT_EQUAL(fake.starts, tc_dist_n_buckets(d));
    CU_ASSERT_EQUAL(fake.in_backward[0], 0);
    int zeros = 1;
    for (int k = 0; k < N; k++)
        zeros &= bucketed[k] == 0;
    CU_ASSERT(zeros);
    tc_dist_free(d);
}

int main(void)
{
    static const tcu_test with_mpi[] = {
        {"batch shares", test_shares},
        {"N=2 and N=3 equal one process", test_equivalence},
        {"the same N repeats bit for bit", test_repeatable},
        {"bucketed: equal, repeatable, as one call", test_bucketed},
        {"buckets start during backward", test_buckets_in_backward},
        {"rank 0 alone prints", test_rank0_prints},
        {"resume on every rank", test_resume},
        {"a non-finite loss stops every rank", test_diverged},
        {"a killed rank stops the others", test_killed_rank},
        {"SIGTERM to mpirun", test_sigterm},
        {NULL, NULL},
    };
    static const tcu_test without_mpi[] = {
        {"batch shares", test_shares},
        {"refused without MPI", test_refused_without_mpi},
        {"buckets start during backward", test_buckets_in_backward},
        {NULL, NULL},
    };
    /* the build says which: a runner that fell back to the stub must fail */
    if (tc_dist_available() != TC_TEST_WITH_MPI) {
        fprintf(stderr, "tc_dist_available() is %d in a build with TINYCNN_MPI=%d\n",
                tc_dist_available(), TC_TEST_WITH_MPI);
        return 1;
    }
    return tcu_run("mpi", TC_TEST_WITH_MPI ? with_mpi : without_mpi);
}
