/* Checkpoint and data faults: what an image limit keeps of a data set
 * listed class by class, two runs writing one checkpoint, the temporary
 * files of a writer killed mid-write, the checkpoint's mode, a resume with
 * another model or data, and a data folder that cannot be read.
 *
 * fault                                                test                      checked
 * ---------------------------------------------------- ------------------------- --------------------------------------
 * K1  --limit / --test-limit / eval --limit on a        test_limit_keeps_classes  every class in the sample (library,
 *     class-folder data set (listed class by class)                              session, eval's per-image labels)
 * K2  two trainings with the same -o                   test_second_writer        the second: exit 1 before training,
 *                                                                                "being written by another tinycnn run
 *                                                                                (pid N)"; the first unharmed
 * K3  PATH.tmp.XXXXXX left by a writer killed mid-write test_stale_temp_files     removed by the next run; other files
 *                                                                                (another checkpoint's) kept
 * K4  a 0600 checkpoint resumed; a new one under umask  test_checkpoint_mode      stays 0600; 0666 & ~umask
 * K5  --resume with ReLU -> Tanh, an added Dropout,     test_resume_changed       exit 1 naming node and key;
 *     another mean, another --limit                                              --allow-changes proceeds
 * K6  data folder of mode 000; split folder of mode 000 test_unreadable_data      "Permission denied" naming the folder
 *     (as user nobody when run as root)
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE /* setgroups */
#include <grp.h>
#include <pwd.h>
#include <time.h>

#include "hostile_util.h"
#include "image_util.h"

static const char *const common = "--threads 2 --quiet";


/* Writes the tiny model (with the given extra node) as name; mean replaces
 * the model's 0.1 when not NULL. */
static const char *model_file(const char *name, const char *extra, const char *mean)
{
    const char *p = tcu_tmp_path(name);
    char *m = hu_tiny_model(extra, NULL);
    char *at = strstr(m, "\"mean\":0.1,");
    if (mean && at) {
        char *rest = strdup(at + strlen("\"mean\":0.1,"));
        sprintf(at, "\"mean\":%s,%s", mean, rest);
        free(rest);
    }
    hu_write(p, m, strlen(m));
    free(m);
    return p;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- K1: limits keep every class ---------------------------------------- */

/* A class-folder data set: train/ and test/ each with classes ant, bee,
 * cat (in that order on disk), per_class 28x28 gray PNGs per class. */
static const char *class_folders(int per_class)
{
    static const char *const names[] = {"ant", "bee", "cat"};
    static char root[600];
    snprintf(root, sizeof root, "%s", iu_path("classes"));
    iu_mkdir(root);
    uint8_t px[28 * 28];
    for (int s = 0; s < 2; s++) {
        const char *split = s == 0 ? "train" : "test";
        iu_mkdir(iu_path("classes/%s", split));
        for (int c = 0; c < 3; c++) {
            iu_mkdir(iu_path("classes/%s/%s", split, names[c]));
            for (int i = 0; i < per_class; i++) {
                iu_noise(px, sizeof px, (uint32_t)(c * 1000 + i + 7 * s));
                iu_write_png(iu_path("classes/%s/%s/img%d.png", split, names[c], i), 1, 28, 28,
                             px);
            }
        }
    }
    return root;
}

/* The classes among the labels of a per-image CSV (bit c: label c). */
static int csv_classes(const char *path, int *rows)
{
    char *text = hu_slurp(path, NULL);
    int mask = 0;
    *rows = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    char *line = strchr(text, '\n'); /* after the header */
    while (line && line[1]) {
        long index, label;
        char path[700];
        /* index,path,label,...: the images come from folders */
        if (sscanf(line + 1, "%ld,%699[^,],%ld", &index, path, &label) == 3 && label >= 0 &&
            label < 30) {
            mask |= 1 << label;
            (*rows)++;
        }
        line = strchr(line + 1, '\n');
    }
    free(text);
    return mask;
}

static void test_limit_keeps_classes(void)
{
    const char *dir = class_folders(20);
    tc_error err = {{0}};
    tc_dataset ds;
    TCU_ASSERT_OK(tc_dataset_load(dir, "test", 1, 28, 28, &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.count, 60);
    CU_ASSERT_EQUAL(ds.labels[0], 0); /* listed class by class: the first 20 are class 0 */
    CU_ASSERT_EQUAL(ds.labels[19], 0);

    int64_t *origin = NULL;
    TCU_ASSERT_OK(tc_dataset_limit(&ds, 9, &origin, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 9);
    int per[3] = {0};
    for (int64_t i = 0; i < ds.count; i++)
        per[ds.labels[i] % 3]++;
    CU_ASSERT(per[0] == 3 && per[1] == 3 && per[2] == 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(origin);
    for (int64_t i = 1; i < ds.count; i++)
        CU_ASSERT(origin[i] > origin[i - 1]); /* in their order */
    free(origin);
    tc_dataset_free(&ds);

    /* fewer than the classes: n images; uneven classes: exactly n, all kept */
    uint8_t labels[100];
    for (int i = 0; i < 100; i++)
        labels[i] = i < 90 ? 0 : i < 99 ? 1 : 2; /* 90, 9, 1 */
    int64_t *kept, n;
    TCU_ASSERT_OK(tc_dataset_sample(labels, 100, 10, &kept, &n, &err), &err);
    CU_ASSERT_EQUAL(n, 10);
    int seen[3] = {0};
    for (int64_t i = 0; i < n; i++)
        seen[labels[kept[i]]]++;
    CU_ASSERT(seen[0] >= 7 && seen[1] >= 1 && seen[2] == 1);
    free(kept);
    TCU_ASSERT_OK(tc_dataset_sample(labels, 100, 2, &kept, &n, &err), &err);
    CU_ASSERT_EQUAL(n, 2);
    free(kept);

    /* the runner: training with both limits, then eval --limit on the
     * same checkpoint: the same six test images (the same accuracy), and
     * all three classes among them */
    const char *model = model_file("k1.json", NULL, NULL);
    const char *ck = hu_path(tcu_tmpdir(), "k1.ckpt");
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 --limit 12 --test-limit 6 --json "
                          "--threads 2 -o %s",
                          model, dir, ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    const char *fa = strstr(r.out, "\"final_test_accuracy\":");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fa);
    double train_acc = strtod(strchr(fa, ':') + 1, NULL);
    hu_run_free(&r);
    const char *csv = hu_path(tcu_tmpdir(), "k1.csv");
    r = hu_tinycnn("eval %s --data %s --limit 6 --json --per-image %s", ck, dir, csv);
    if (r.status != 0)
        fprintf(stderr, "\n  eval: %s", r.err);
    CU_ASSERT_EQUAL(r.status, 0);
    const char *ea = strstr(r.out, "\"accuracy\":");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ea);
    CU_ASSERT_DOUBLE_EQUAL(strtod(strchr(ea, ':') + 1, NULL), train_acc, 1e-9);
    hu_run_free(&r);
    int rows = 0;
    CU_ASSERT_EQUAL(csv_classes(csv, &rows), 7); /* classes 0, 1 and 2 */
    CU_ASSERT_EQUAL(rows, 6);

    /* the session's counts */
    tc_session_config sc = {.registry = tcu_registry(), .model_path = model, .data_dir = dir,
                            .output_path = hu_path(tcu_tmpdir(), "k1s.ckpt"), .test_limit = 6};
    tc_train_overrides ov = {0};
    tc_setting_value v = {12, 0};
    tc_train_overrides_put(&ov, tc_train_setting_find("limit"), v);
    sc.overrides = &ov;
    tc_session *s = tc_session_new(&sc, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    tc_session_state st;
    tc_session_get_state(s, &st);
    CU_ASSERT_EQUAL(st.test_images, 6);
    CU_ASSERT_EQUAL(st.train_images, 12);
    tc_session_free(s);
}

/* ---- K2: one writer per checkpoint --------------------------------------- */

static void test_second_writer(void)
{
    const char *model = model_file("k2.json", NULL, NULL);
    char ck[700], lock[720], log[700];
    snprintf(ck, sizeof ck, "%s", hu_path(tcu_tmpdir(), "k2.ckpt"));
    snprintf(lock, sizeof lock, "%s.lock", ck);
    snprintf(log, sizeof log, "%s", hu_path(tcu_tmpdir(), "k2.log"));

    /* the library: a second lock in this very process is refused too */
    tc_error err = {{0}};
    tc_checkpoint_lock *l = tc_checkpoint_lock_take(ck, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    char pid[64];
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    CU_ASSERT_PTR_NULL(tc_checkpoint_lock_take(ck, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is being written by another tinycnn run"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, pid));
    tc_checkpoint_unlock(l);
    CU_ASSERT(!file_exists(lock));

    /* two runners: the first trains for long, the second must not start */
    char *argv[] = {HU_BIN, "train", (char *)model, "--data", (char *)hu_syn_data(), "--epochs", "5000",
                    "--threads", "1", "--quiet", "-o", ck, NULL};
    int first = tcu_spawn_logged(log, argv);
    CU_ASSERT_FATAL(first > 0);
    for (int i = 0; i < 3000 && !file_exists(lock); i++) /* 30 s at most */
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    CU_ASSERT_FATAL(file_exists(lock));
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 %s -o %s", model, hu_syn_data(), common, ck);
    snprintf(pid, sizeof pid, "(pid %d)", first);
    HU_EXPECT_ERROR(r, ck, "is being written by another tinycnn run", pid);
    CU_ASSERT_PTR_NULL(strstr(r.out, "epoch 1"));
    hu_run_free(&r);

    /* the first one ends as usual, and then the output is free again */
    kill(first, SIGTERM);
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(first, &st, 0), first);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 143);
    CU_ASSERT(!file_exists(lock));
    r = hu_tinycnn("train --resume %s --epochs 1 %s", ck, common);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
}

/* ---- K3: temporary files of a writer that is gone ------------------------ */

static void test_stale_temp_files(void)
{
    const char *dir = hu_mkdir("k3");
    const char *model = model_file("k3.json", NULL, NULL);
    char ck[700], stale1[720], stale2[720], other[720], kept[720];
    snprintf(ck, sizeof ck, "%s", hu_path(dir, "k3.ckpt"));
    snprintf(stale1, sizeof stale1, "%s.tmp.Ab12Cd", ck);
    snprintf(stale2, sizeof stale2, "%s.tmp.zzzzzz", ck);
    snprintf(other, sizeof other, "%s", hu_path(dir, "other.ckpt.tmp.Ab12Cd"));
    snprintf(kept, sizeof kept, "%s.tmp.notmine", ck); /* not a writer's name */
    const char *junk = "half a checkpoint";
    hu_write(stale1, junk, strlen(junk));
    hu_write(stale2, junk, strlen(junk));
    hu_write(other, junk, strlen(junk));
    hu_write(kept, junk, strlen(junk));
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 %s -o %s", model, hu_syn_data(), common, ck);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    CU_ASSERT(!file_exists(stale1));
    CU_ASSERT(!file_exists(stale2));
    CU_ASSERT(file_exists(other)); /* another checkpoint's: its writer may be alive */
    CU_ASSERT(file_exists(kept));
    CU_ASSERT(file_exists(ck));

    /* the library reports how many it removed */
    hu_write(stale1, junk, strlen(junk));
    tc_error err = {{0}};
    int n = -1;
    tc_checkpoint_lock *l = tc_checkpoint_lock_take(ck, &n, &err);
    CU_ASSERT_PTR_NOT_NULL(l);
    CU_ASSERT_EQUAL(n, 1);
    tc_checkpoint_unlock(l);
}

/* ---- K4: the checkpoint's mode ------------------------------------------- */

static mode_t mode_of(const char *p)
{
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static void test_checkpoint_mode(void)
{
    const char *model = model_file("k4.json", NULL, NULL);
    const char *ck = hu_path(tcu_tmpdir(), "k4.ckpt");
    mode_t old = umask(022);
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 %s -o %s", model, hu_syn_data(), common, ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    CU_ASSERT_EQUAL(mode_of(ck), 0644);
    CU_ASSERT_EQUAL(chmod(ck, 0600), 0);
    r = hu_tinycnn("train --resume %s --epochs 2 %s", ck, common);
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    CU_ASSERT_EQUAL(mode_of(ck), 0600); /* was 0644 after every write */

    /* new files: 0666 less the umask */
    tc_checkpoint c = {0};
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(ck, &c, &err), &err);
    static const mode_t masks[] = {027, 077, 002};
    for (int i = 0; i < 3; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s", hu_path(tcu_tmpdir(), "k4-new.ckpt"));
        unlink(p);
        umask(masks[i]);
        TCU_ASSERT_OK(tc_checkpoint_write(p, &c, &err), &err);
        CU_ASSERT_EQUAL(mode_of(p), 0666 & ~masks[i]);
    }
    umask(old);
    tc_checkpoint_free(&c);
}

/* ---- K5: resuming with another model or data ----------------------------- */

static void test_resume_changed(void)
{
    const char *relu = model_file("k5-relu.json",
                                  "{\"name\":\"extra\",\"type\":\"ReLU\",\"inputs\":[\"flat\"]}",
                                  NULL);
    const char *tanh_m = model_file("k5-tanh.json",
                                    "{\"name\":\"extra\",\"type\":\"Tanh\",\"inputs\":[\"flat\"]}",
                                    NULL);
    const char *drop = model_file("k5-drop.json",
                                  "{\"name\":\"extra\",\"type\":\"ReLU\",\"inputs\":[\"flat\"]},"
                                  "{\"name\":\"drop\",\"type\":\"Dropout\",\"inputs\":[\"extra\"]}",
                                  NULL);
    const char *mean = model_file("k5-mean.json",
                                  "{\"name\":\"extra\",\"type\":\"ReLU\",\"inputs\":[\"flat\"]}",
                                  "0.25");
    const char *ck = hu_path(tcu_tmpdir(), "k5.ckpt");
    hu_run r = hu_tinycnn("train %s --data %s --epochs 1 %s -o %s", relu, hu_syn_data(), common, ck);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    hu_run_free(&r);
    char ref[700];
    snprintf(ref, sizeof ref, "%s", hu_path(tcu_tmpdir(), "k5.copy"));
    hu_copy(ck, ref, 0644);

    r = hu_tinycnn("train --resume %s %s --epochs 2 %s", ck, tanh_m, common);
    HU_EXPECT_ERROR(r, ck, "node 'extra'.type: \"ReLU\" -> \"Tanh\"", "--allow-changes");
    hu_run_free(&r);
    r = hu_tinycnn("train --resume %s %s --epochs 2 %s", ck, drop, common);
    HU_EXPECT_ERROR(r, "node 'drop' added");
    hu_run_free(&r);
    r = hu_tinycnn("train --resume %s %s --epochs 2 %s", ck, mean, common);
    HU_EXPECT_ERROR(r, "input 'image'.mean: 0.1 -> 0.25");
    hu_run_free(&r);
    r = hu_tinycnn("train --resume %s --limit 200 --epochs 2 %s", ck, common);
    HU_EXPECT_ERROR(r, "limit 0 -> 200");
    hu_run_free(&r);
    r = hu_tinycnn("train --resume %s --val-split 0.25 --epochs 2 %s", ck, common);
    HU_EXPECT_ERROR(r, "val_split 0 -> 0.25");
    hu_run_free(&r);
    const char *other = hu_synth_mnist("syn-other", 256, 64);
    r = hu_tinycnn("train --resume %s --data %s --epochs 2 %s", ck, other, common);
    HU_EXPECT_ERROR(r, "data folder", "syn-other");
    hu_run_free(&r);
    CU_ASSERT(hu_same_file(ck, ref)); /* refused before anything was written */

    /* the same model file (another layout) and data: accepted */
    const char *same = model_file("k5-same.json",
                                  "{\"type\":\"ReLU\",\"inputs\":[\"flat\"],\"name\":\"extra\"}",
                                  NULL);
    r = hu_tinycnn("train --resume %s %s --data %s --epochs 2 %s -o %s", ck, same, hu_syn_data(), common,
                   hu_path(tcu_tmpdir(), "k5-same.ckpt"));
    CU_ASSERT_EQUAL(r.status, 0);
    hu_run_free(&r);
    /* --allow-changes proceeds */
    r = hu_tinycnn("train --resume %s %s --allow-changes --epochs 2 %s", ck, drop, common);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.err, "");
    hu_run_free(&r);
    CU_ASSERT(!hu_same_file(ck, ref));
}

/* ---- K6: a data folder that cannot be read -------------------------------- */

/* In a forked child: becomes user nobody when this runs as root (root
 * reads any folder). Returns 0, or -1 when that failed. */
static int drop_root(void)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("nobody");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || geteuid() == 0)
        return -1;
    return 0;
}

/* Reads the child's pipe into msg and waits for it; returns its exit
 * status (-1: it did not exit). */
static int child_result(pid_t pid, int fd, char *msg, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = read(fd, msg + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    msg[got] = 0;
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Forks with a pipe from the child (fd[1], kept there) to this process
 * (fd[0], kept here); returns fork()'s value. */
static pid_t fork_piped(int fd[2])
{
    CU_ASSERT_EQUAL_FATAL(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        close(fd[0]);
    else
        close(fd[1]);
    return pid;
}

/* Loads split of dir in a child process, as user nobody when this runs as
 * root; the message comes back in msg. Returns the load's status (other
 * values: the child failed). */
static int load_as_user(const char *dir, const char *split, char *msg, size_t cap)
{
    int fd[2];
    pid_t pid = fork_piped(fd);
    if (pid == 0) {
        if (drop_root() != 0)
            _exit(3);
        tc_error err = {{0}};
        tc_dataset ds;
        int rc = tc_dataset_load(dir, split, 1, 28, 28, &ds, &err);
        if (rc == 0)
            tc_dataset_free(&ds);
        if (write(fd[1], err.msg, strlen(err.msg)) < 0)
            _exit(4);
        _exit(rc != 0);
    }
    return child_result(pid, fd[0], msg, cap);
}

/* "tinycnn train MODEL --data DIR -o OUT" as that user; its stderr in msg.
 * Returns its exit status. */
static int train_as_user(const char *model, const char *dir, const char *out, char *msg,
                         size_t cap)
{
    int fd[2];
    pid_t pid = fork_piped(fd);
    if (pid == 0) {
        dup2(fd[1], 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        if (drop_root() != 0)
            _exit(3);
        execl(HU_BIN, HU_BIN, "train", model, "--data", dir, "--epochs", "1", "--quiet", "-o",
              out, (char *)NULL);
        _exit(127);
    }
    return child_result(pid, fd[0], msg, cap);
}

static void test_unreadable_data(void)
{
    /* the folders on the way must be open to that user */
    CU_ASSERT_EQUAL(chmod(tcu_tmpdir(), 0755), 0);
    const char *d = hu_synth_mnist("k6-closed", 32, 16);
    CU_ASSERT_EQUAL(chmod(d, 0755), 0);
    char msg[TC_ERROR_CAP + 1];
    CU_ASSERT_EQUAL(load_as_user(d, "train", msg, sizeof msg), 0); /* readable: loads */
    CU_ASSERT_EQUAL(chmod(d, 0), 0);
    CU_ASSERT_EQUAL(load_as_user(d, "train", msg, sizeof msg), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, d));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "Permission denied"));
    CU_ASSERT_PTR_NULL(strstr(msg, "looked for"));
    fprintf(stderr, "\n  mode 000: %s", msg);

    /* the runner says the same, once */
    const char *model = model_file("k6.json", NULL, NULL);
    const char *outdir = hu_mkdir("k6-out");
    CU_ASSERT_EQUAL(chmod(outdir, 0777), 0);
    CU_ASSERT_EQUAL(train_as_user(model, d, hu_path(outdir, "k6.ckpt"), msg, sizeof msg), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, d));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "Permission denied"));
    CU_ASSERT_EQUAL(hu_count_lines(msg), 1);
    CU_ASSERT_PTR_NULL(strstr(msg, "looked for"));
    fprintf(stderr, "\n  train on it: %s", msg);
    chmod(d, 0755);
    /* and trains once readable: the refusal was the permission */
    CU_ASSERT_EQUAL(train_as_user(model, d, hu_path(outdir, "k6.ckpt"), msg, sizeof msg), 0);

    /* an image folder whose train/ cannot be read */
    const char *root = hu_mkdir("k6-split");
    CU_ASSERT_EQUAL(chmod(root, 0755), 0);
    char train[700];
    snprintf(train, sizeof train, "%s/train", root);
    CU_ASSERT_EQUAL(mkdir(train, 0), 0);
    CU_ASSERT_EQUAL(load_as_user(root, "train", msg, sizeof msg), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, train));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "Permission denied"));
    fprintf(stderr, "\n  train/ of mode 000: %s\n", msg);
    chmod(train, 0755);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"K1 limits keep every class", test_limit_keeps_classes},
        {"K2 a second writer of a checkpoint is refused", test_second_writer},
        {"K3 stale temporary files are removed", test_stale_temp_files},
        {"K4 the checkpoint keeps its mode; new ones honour the umask", test_checkpoint_mode},
        {"K5 resume with another model or data is refused", test_resume_changed},
        {"K6 an unreadable data folder is named", test_unreadable_data},
        {NULL, NULL},
    };
    return tcu_run("checkpoint and data faults", tests);
}
