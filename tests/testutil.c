#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static tc_registry *registry;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (registry)
        tc_registry_free(registry);
}

const char *tcu_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/tctest-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return tmpdir;
}

const char *tcu_write_file(const char *name, const void *data, size_t len)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tcu_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        abort();
    }
    if (len && fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
    return p;
}

tc_registry *tcu_registry(void)
{
    if (!registry) {
        tc_error err = {{0}};
        registry = tc_registry_new();
        if (tc_registry_load_dir(registry, TC_TEST_PLUGIN_DIR, &err) != 0) {
            fprintf(stderr, "loading plugins: %s\n", err.msg);
            CU_FAIL_FATAL("cannot load the standard plugins");
        }
        if (!tmpdir[0])
            tcu_tmpdir(); /* registers cleanup */
    }
    return registry;
}

const char *tcu_data_dir(void)
{
    const char *d = getenv("TINYCNN_DATA");
    return d && *d ? d : TC_TEST_DATA_DIR;
}

double tcu_rel_err(double a, double b)
{
    double m = fmax(1.0, fmax(fabs(a), fabs(b)));
    return fabs(a - b) / m;
}

int tcu_run(const char *suite_name, const tcu_test *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    if (!suite)
        return 2;
    for (const tcu_test *t = tests; t->name; t++)
        if (!CU_add_test(suite, t->name, t->fn))
            return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    printf("\n");
    return (failed == 0 && ran > 0) ? 0 : 1;
}

int tcu_same_tensors(const char *a, const char *b, int quiet)
{
    tc_checkpoint ca, cb;
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(a, &ca, &err), &err);
    TCU_ASSERT_OK(tc_checkpoint_read(b, &cb, &err), &err);
    int same = ca.n_tensors == cb.n_tensors && ca.n_tensors > 0;
    for (size_t i = 0; same && i < ca.n_tensors; i++) {
        const tc_named_tensor *x = &ca.tensors[i];
        const tc_named_tensor *y = tc_checkpoint_find(&cb, x->name);
        int64_t n = tc_shape_count(&x->shape);
        same = y && tc_shape_count(&y->shape) == n &&
               memcmp(x->data, y->data, (size_t)n * sizeof(float)) == 0;
        if (!same && !quiet)
            fprintf(stderr, "\n  tensor %s differs between %s and %s\n", x->name, a, b);
    }
    tc_checkpoint_free(&ca);
    tc_checkpoint_free(&cb);
    return same;
}

int tcu_spawn_logged(const char *log, char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return (int)pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
}
