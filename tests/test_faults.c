/* Training faults: what happens to a run, and to its checkpoint, when the
 * loss goes NaN or infinite, when SIGTERM or SIGINT arrives in the middle of
 * a batch, when the disk is full or the output cannot be written. The rule
 * each test checks: the run stops with a message that says where and why,
 * the last good checkpoint is never damaged, and a resumed run ends with the
 * same weights, bit for bit, as one that was never interrupted.
 *
 * fault                                                test                      checked
 * ---------------------------------------------------- ------------------------- --------------------------------------
 * F1  loss +Inf at epoch 2, step 3 (InfLoss plugin)     test_inf_loss             exit 1, epoch and step named, last good
 *                                                                                checkpoint named and byte-identical
 * F2  loss NaN (lr 1e30) from the first run             test_nan_loss             exit 1, step named, no file written
 * F3  SIGTERM inside step 6 of epoch 1 (raised by the   test_sigterm_mid_batch    exit 143, checkpoint at batch 6, no temp
 *     FailForward plugin, so the step is exact)                                  file; resume == uninterrupted, bitwise
 * F4  SIGINT inside step 5 of epoch 2                   test_sigint_epoch2        exit 130, batch 5 of epoch 2; resume ==
 *                                                                                uninterrupted, bitwise
 * F5  SIGTERM from another process at a random time     test_sigterm_async        exit 143 (or 0 if it had finished),
 *                                                                                readable checkpoint; resume == reference
 * F6  full disk (file-size limit) at an epoch's save    test_full_disk            exit 1, "File too large", previous
 *     and on a first run                                                         checkpoint byte-identical, no temp file
 * F7  unwritable output: missing folder, a folder, a    test_unwritable_output    exit 1 before training, the path named;
 *     file as folder, /dev/null, read-only folder                                /dev/null untouched
 * F8  weights gone NaN are never saved over a good one  test_nonfinite_not_saved tc_snapshot_save fails, file unchanged
 * F9  --resume from a damaged checkpoint                test_resume_damaged       exit 1, file unchanged
 */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <time.h>

#include "hostile_util.h"

#define LENET TC_TEST_SOURCE_DIR "/models/lenet5.json"

/* A plugin folder holding copies of the two test plugins this file uses. */
static const char *plugins(void)
{
    static const char *const files[] = {"bad_forward_error.so", "bad_inf_loss.so"};
    return hu_plugin_copies(files, 2);
}

/* Writes the tiny model (with the given extra node / loss) as name. */
static const char *model_file(const char *name, const char *extra, const char *loss)
{
    const char *p = tcu_tmp_path(name);
    char *m = hu_tiny_model(extra, loss);
    hu_write(p, m, strlen(m));
    free(m);
    return p;
}

/* The training state stored in a checkpoint: epochs done, batch. */
static void ckpt_position(const char *path, long *epoch, long *batch)
{
    tc_checkpoint ck = {0};
    tc_error err = {{0}};
    *epoch = *batch = -1;
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    const char *m = ck.meta_json ? ck.meta_json : "";
    const char *e = strstr(m, "\"epoch\":"), *b = strstr(m, "\"batch\":");
    if (e)
        *epoch = strtol(e + 8, NULL, 10);
    if (b)
        *batch = strtol(b + 8, NULL, 10);
    tc_checkpoint_free(&ck);
}

static const char *const common = "--threads 2 --quiet";

/* ---- F1, F2: a loss that stops being finite ------------------------------ */

static void test_inf_loss(void)
{
    const char *good = model_file("inf-never.json", NULL,
                                  "{\"name\":\"loss\",\"type\":\"InfLoss\",\"inputs\":[\"fc\","
                                  "\"label\"],\"params\":{\"inf_at\":1000000}}");
    const char *bad = model_file("inf-at-3.json", NULL,
                                 "{\"name\":\"loss\",\"type\":\"InfLoss\",\"inputs\":[\"fc\","
                                 "\"label\"],\"params\":{\"inf_at\":3}}");
    char ck[700], ref[700];
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "inf.ckpt"));
    hu_run r = hu_tinycnn("--plugin-dir %s train %s --data %s --epochs 1 %s -o %s", plugins(), good,
                          hu_syn_data(), common, ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    snprintf(ref, sizeof ref, "%s", hu_path(tcu_tmpdir(), "inf-epoch1.copy"));
    hu_copy(ck, ref, 0644);

    /* 256 images in batches of 16: 16 steps an epoch, so epoch 2's third
     * step is global step 19 */
    r = hu_tinycnn("--plugin-dir %s train --resume %s %s --allow-changes --data %s --epochs 3 %s",
                   plugins(), ck, bad, hu_syn_data(), common);
    char last_good[800];
    snprintf(last_good, sizeof last_good, "the last good checkpoint is %s", ck);
    HU_EXPECT_ERROR(r, "the loss became infinite at epoch 2, step 19 (batch 3 of 16)", last_good);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "diverged"));
    hu_run_free(&r);
    CU_ASSERT(hu_same_file(ck, ref));
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);

    /* a first run that goes infinite at its second step writes nothing */
    const char *fresh = hu_path(tcu_tmpdir(), "inf-fresh.ckpt");
    const char *bad2 = model_file("inf-at-2.json", NULL,
                                  "{\"name\":\"loss\",\"type\":\"InfLoss\",\"inputs\":[\"fc\","
                                  "\"label\"],\"params\":{\"inf_at\":2}}");
    r = hu_tinycnn("--plugin-dir %s train %s --data %s %s -o %s", plugins(), bad2, hu_syn_data(), common,
                   fresh);
    HU_EXPECT_ERROR(r, "the loss became infinite at epoch 1, step 2", "no checkpoint was written");
    hu_run_free(&r);
    CU_ASSERT_NOT_EQUAL(access(fresh, F_OK), 0);
}

static void test_nan_loss(void)
{
    /* LeNet diverges at once with this step size (the linear tiny model
     * does not: on separable data its loss only saturates) */
    const char *ck = hu_path(tcu_tmpdir(), "nan.ckpt");
    hu_run r = hu_tinycnn("train %s --data %s --lr 1e30 --optimizer sgd --batch-size 64 "
                          "--epochs 2 %s -o %s", LENET, hu_syn_data(), common, ck);
    HU_EXPECT_ERROR(r, "the loss became ", "at epoch 1, step 2 (batch 2 of 4)",
                    "no checkpoint was written");
    hu_run_free(&r);
    CU_ASSERT_NOT_EQUAL(access(ck, F_OK), 0);
}

/* ---- F3, F4, F5: signals -------------------------------------------------- */

/* Runs the interrupted and reference trainings for one signal case and
 * checks the checkpoint position and the bitwise equality after resuming. */
static void signal_case(const char *tag, int raise_at, int sig, int want_status, long want_epoch,
                        long want_batch, const char *want_words)
{
    char extra_raise[200], name[64];
    snprintf(extra_raise, sizeof extra_raise,
             "{\"name\":\"extra\",\"type\":\"FailForward\",\"inputs\":[\"flat\"],"
             "\"params\":{\"fail_at\":0,\"raise_at\":%d,\"signal\":%d}}",
             raise_at, sig);
    snprintf(name, sizeof name, "%s-raise.json", tag);
    char raising[700], plain[700], ck[700], ref[700];
    snprintf(raising, sizeof raising, "%s", model_file(name, extra_raise, NULL));
    snprintf(name, sizeof name, "%s-plain.json", tag);
    snprintf(plain, sizeof plain, "%s",
             model_file(name,
                        "{\"name\":\"extra\",\"type\":\"FailForward\",\"inputs\":[\"flat\"],"
                        "\"params\":{\"fail_at\":0}}",
                        NULL));
    snprintf(name, sizeof name, "%s.ckpt", tag);
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), name));
    snprintf(name, sizeof name, "%s-ref.ckpt", tag);
    snprintf(ref, sizeof ref, "%s", hu_path(tcu_tmpdir(), name));
    const char *opts = "--epochs 3 --optimizer adam --lr 0.003";

    hu_run r = hu_tinycnn("--plugin-dir %s train %s --data %s %s %s -o %s", plugins(), raising,
                          hu_syn_data(), opts, common, ck);
    if (r.status != want_status)
        fprintf(stderr, "\n  exit %d (signal %d), expected %d:\n%s%s\n", r.status, r.sig,
                want_status, r.out, r.err);
    CU_ASSERT_EQUAL(r.status, want_status);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want_words));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, ": stopping at the end of the current batch")); /* at once */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "tinycnn train --resume "));
    hu_run_free(&r);
    long epoch, batch;
    ckpt_position(ck, &epoch, &batch);
    CU_ASSERT_EQUAL(epoch, want_epoch);
    CU_ASSERT_EQUAL(batch, want_batch);
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);

    /* resume with the same model minus the signal: same settings, from the
     * checkpoint */
    r = hu_tinycnn("--plugin-dir %s train --resume %s %s --allow-changes --data %s %s", plugins(), ck,
                   plain,
                   hu_syn_data(), common);
    if (r.status != 0)
        fprintf(stderr, "\n  resume: exit %d:\n%s%s\n", r.status, r.out, r.err);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NULL(strstr(r.err, "note:")); /* nothing changed between the runs */
    hu_run_free(&r);
    r = hu_tinycnn("--plugin-dir %s train %s --data %s %s %s -o %s", plugins(), plain, hu_syn_data(), opts,
                   common, ref);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    CU_ASSERT(tcu_same_tensors(ck, ref, 0));
    ckpt_position(ck, &epoch, &batch);
    CU_ASSERT_EQUAL(epoch, 3);
    CU_ASSERT_EQUAL(batch, 0);
}

static void test_sigterm_mid_batch(void)
{
    /* forward call 6 is training step 6 of epoch 1 */
    signal_case("term", 6, SIGTERM, 143, 0, 6, "interrupted by SIGTERM at epoch 1, batch 6 of 16");
}

static void test_sigint_epoch2(void)
{
    /* epoch 1: 16 training calls and 1 evaluation call (64 test images in
     * one batch of 256); call 22 is step 5 of epoch 2 */
    signal_case("int", 22, SIGINT, 130, 1, 5, "interrupted by SIGINT at epoch 2, batch 5 of 16");
}

static void test_sigterm_async(void)
{
    /* LeNet, small batches: long enough for a signal to land mid-run */
    /* 2 x 2048 steps: over a second even on a fast machine, so the signal
     * sent 30 ms after the start lands mid-run */
    const char *d = hu_synth_mnist("syn-big", 8192, 64);
    char ck[700], ref[700], log[700];
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "async.ckpt"));
    snprintf(ref, sizeof ref, "%s", hu_path(tcu_tmpdir(), "async-ref.ckpt"));
    snprintf(log, sizeof log, "%s", hu_path(tcu_tmpdir(), "async.log"));
    char *argv[] = {HU_BIN, "train", LENET, "--data", (char *)d, "--epochs", "2", "--batch-size",
                    "4", "--threads", "2", "-o", ck, NULL};
    pid_t pid = tcu_spawn_logged(log, argv);
    CU_ASSERT_FATAL(pid >= 0);
    /* the "training ..." line is printed once the handlers are in place */
    struct timespec nap = {0, 5000000};
    int waited = 0;
    for (;;) {
        char *out = hu_slurp(log, NULL);
        int started = out && strstr(out, "training lenet5");
        free(out);
        if (started || waited > 60000)
            break;
        nanosleep(&nap, NULL);
        waited += 5;
    }
    struct timespec later = {0, 30000000};
    nanosleep(&later, NULL);
    kill(pid, SIGTERM);
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    char *out = hu_slurp(log, NULL);
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (status != 143)
        fprintf(stderr, "\n  exit %d (expected 143, stopped by SIGTERM):\n%s\n", status,
                out ? out : "");
    CU_ASSERT_EQUAL(status, 143);
    CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "interrupted by SIGTERM"));
    free(out);
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);
    long epoch, batch;
    ckpt_position(ck, &epoch, &batch); /* readable, whenever the signal came */
    CU_ASSERT(epoch >= 0 && epoch < 2 && batch >= 0 && batch < 2048);
    hu_run r0 = hu_tinycnn("train --resume %s --data %s --threads 2 --quiet", ck, d);
    CU_ASSERT_EQUAL(r0.status, 0);
    hu_run_free(&r0);
    hu_run r = hu_tinycnn("train %s --data %s --epochs 2 --batch-size 4 --threads 2 --quiet -o %s",
                          LENET, d, ref);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    CU_ASSERT(tcu_same_tensors(ck, ref, 0));
}

/* ---- F6, F7: the output cannot be written --------------------------------- */

static void test_full_disk(void)
{
    const char *m = model_file("disk.json", NULL, NULL);
    char ck[700], ref[700];
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "disk.ckpt"));
    snprintf(ref, sizeof ref, "%s", hu_path(tcu_tmpdir(), "disk-epoch1.copy"));
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 %s -o %s", m, hu_syn_data(), common, ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    hu_copy(ck, ref, 0644);
    size_t n = 0;
    free(hu_slurp(ck, &n));
    CU_ASSERT_FATAL(n > 8192); /* so that the limit below cuts the next write short */

    hu_opts o = {.fsize_limit = 4096};
    r = hu_tinycnn_opt(&o, "train --resume %s --data %s --epochs 2 %s", ck, hu_syn_data(), common);
    char unchanged[800];
    snprintf(unchanged, sizeof unchanged, "the last good checkpoint %s is unchanged", ck);
    HU_EXPECT_ERROR(r, ck, "write failed", strerror(EFBIG), unchanged);
    hu_run_free(&r);
    CU_ASSERT(hu_same_file(ck, ref));
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);

    /* the same with nothing before it: nothing after it */
    const char *fresh = hu_path(tcu_tmpdir(), "disk-fresh.ckpt");
    r = hu_tinycnn_opt(&o, "train %s --data %s --epochs 1 %s -o %s", m, hu_syn_data(), common, fresh);
    HU_EXPECT_ERROR(r, fresh, strerror(EFBIG), "no checkpoint was written");
    hu_run_free(&r);
    CU_ASSERT_NOT_EQUAL(access(fresh, F_OK), 0);
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);

    /* and an interrupted run that cannot save says so, keeping the old one */
    const char *raising = model_file(
        "disk-raise.json",
        "{\"name\":\"extra\",\"type\":\"FailForward\",\"inputs\":[\"flat\"],"
        "\"params\":{\"fail_at\":0,\"raise_at\":3}}",
        NULL);
    const char *plain = model_file(
        "disk-plain.json",
        "{\"name\":\"extra\",\"type\":\"FailForward\",\"inputs\":[\"flat\"],"
        "\"params\":{\"fail_at\":0}}",
        NULL);
    char ck2[700], ref2[700];
    snprintf(ck2, sizeof ck2, "%s", hu_path(tcu_tmpdir(), "disk2.ckpt"));
    snprintf(ref2, sizeof ref2, "%s", hu_path(tcu_tmpdir(), "disk2.copy"));
    r = hu_tinycnn("--plugin-dir %s train %s --data %s --epochs 1 %s -o %s", plugins(), plain, hu_syn_data(),
                   common, ck2);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    hu_copy(ck2, ref2, 0644);
    r = hu_tinycnn_opt(&o, "--plugin-dir %s train --resume %s %s --allow-changes --data %s "
                           "--epochs 2 %s",
                       plugins(), ck2, raising, hu_syn_data(), common);
    snprintf(unchanged, sizeof unchanged, "the last good checkpoint %s is unchanged", ck2);
    /* the signal's acknowledgement first, then the one error */
    const char *ack = "tinycnn: SIGTERM: stopping at the end of the current batch";
    CU_ASSERT_EQUAL(strncmp(r.err, ack, strlen(ack)), 0);
    char *second = strchr(r.err, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(second);
    memmove(r.err, second + 1, strlen(second + 1) + 1);
    HU_EXPECT_ERROR(r, "interrupted, and writing the checkpoint failed", unchanged);
    hu_run_free(&r);
    CU_ASSERT(hu_same_file(ck2, ref2));
    CU_ASSERT_EQUAL(hu_temp_files(tcu_tmpdir()), 0);
}

static void test_unwritable_output(void)
{
    const char *m = model_file("out.json", NULL, NULL);
    char path[800];
    snprintf(path, sizeof path, "%s/no/such/folder/x.ckpt", tcu_tmpdir());
    hu_run r = hu_tinycnn("train %s --data %s %s -o %s", m, hu_syn_data(), common, path);
    HU_EXPECT_ERROR(r, path, "no/such/folder", strerror(ENOENT));
    CU_ASSERT_EQUAL(r.out[0], 0); /* refused before the first epoch */
    hu_run_free(&r);

    const char *folder = hu_mkdir("a-folder");
    r = hu_tinycnn("train %s --data %s %s -o %s", m, hu_syn_data(), common, folder);
    HU_EXPECT_ERROR(r, folder, "not a regular file");
    hu_run_free(&r);

    snprintf(path, sizeof path, "%s/x.ckpt", m); /* the model file as a folder */
    r = hu_tinycnn("train %s --data %s %s -o %s", m, hu_syn_data(), common, path);
    HU_EXPECT_ERROR(r, path, strerror(ENOTDIR));
    hu_run_free(&r);

    /* as root a rename over /dev/null would replace the device: refused */
    struct stat before, after;
    CU_ASSERT_FATAL(stat("/dev/null", &before) == 0);
    r = hu_tinycnn("train %s --data %s %s -o /dev/null", m, hu_syn_data(), common);
    HU_EXPECT_ERROR(r, "/dev/null", "not a regular file");
    hu_run_free(&r);
    CU_ASSERT_FATAL(stat("/dev/null", &after) == 0);
    CU_ASSERT(S_ISCHR(after.st_mode) && after.st_rdev == before.st_rdev);

    if (geteuid() != 0) {
        const char *ro = hu_mkdir("read-only");
        CU_ASSERT_FATAL(chmod(ro, 0555) == 0);
        snprintf(path, sizeof path, "%s/x.ckpt", ro);
        r = hu_tinycnn("train %s --data %s %s -o %s", m, hu_syn_data(), common, path);
        HU_EXPECT_ERROR(r, path, strerror(EACCES));
        hu_run_free(&r);
        chmod(ro, 0755);
    } else {
        fprintf(stderr, "\n  note: root writes into read-only folders; that case needs a user\n");
    }
}

/* ---- F8, F9 ---------------------------------------------------------------- */

static void test_nonfinite_not_saved(void)
{
    char *text = hu_tiny_model(NULL, NULL);
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_string(tcu_registry(), text, "tiny.json", &err);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, 5);
    const char *p = hu_path(tcu_tmpdir(), "finite.ckpt");
    TCU_ASSERT_OK(tc_snapshot_save(p, g, NULL, NULL, &err), &err);
    size_t n0 = 0;
    char *before = hu_slurp(p, &n0);
    tc_weight *w = tc_graph_find_weight(g, "fc.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    w->value.data[123] = NAN;
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(p, g, NULL, NULL, &err), &err,
                          "weight 'fc.weight' holds NaN at element 123");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, p));
    w->value.data[123] = -INFINITY;
    TCU_ASSERT_FAILS_WITH(tc_snapshot_save(p, g, NULL, NULL, &err), &err, "-Inf at element 123");
    size_t n1 = 0;
    char *after = hu_slurp(p, &n1);
    CU_ASSERT(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    tc_graph_free(g);
}

static void test_resume_damaged(void)
{
    const char *m = model_file("damaged.json", NULL, NULL);
    char ck[700];
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "damaged.ckpt"));
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 %s -o %s", m, hu_syn_data(), common, ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    size_t n = 0;
    char *b = hu_slurp(ck, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    b[n - 100] ^= 0x20;
    hu_write(ck, b, n);
    r = hu_tinycnn("train --resume %s --data %s --epochs 2 %s", ck, hu_syn_data(), common);
    HU_EXPECT_ERROR(r, ck, "checksum mismatch");
    hu_run_free(&r);
    size_t n2 = 0;
    char *a = hu_slurp(ck, &n2);
    CU_ASSERT(a && n2 == n && memcmp(a, b, n) == 0);
    free(a);
    free(b);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"F1 infinite loss keeps the last good checkpoint", test_inf_loss},
        {"F2 NaN loss on a first run writes nothing", test_nan_loss},
        {"F3 SIGTERM in a batch: checkpoint, resume bitwise", test_sigterm_mid_batch},
        {"F4 SIGINT in epoch 2: checkpoint, resume bitwise", test_sigint_epoch2},
        {"F5 SIGTERM from outside at any time", test_sigterm_async},
        {"F6 full disk keeps the previous checkpoint", test_full_disk},
        {"F7 unwritable output paths", test_unwritable_output},
        {"F8 non-finite weights are never saved", test_nonfinite_not_saved},
        {"F9 resume from a damaged checkpoint", test_resume_damaged},
        {NULL, NULL},
    };
    return tcu_run("faults", tests);
}
