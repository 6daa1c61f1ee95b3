#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

const tc_layer_type *tcu_find_type(const char *name)
{
    const tc_layer_type *t = tc_registry_find(tcu_registry(), name, NULL);
    if (!t)
        fprintf(stderr, "\n  layer type %s not registered\n", name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

int tcu_make_check(tc_layer_check *lc, const tc_layer_type *t, const char *params, int n_inputs,
                   const tc_shape *shapes, int n_threads, tc_error *err)
{
    double v[TC_LAYER_CHECK_MAX_PARAMS];
    char buf[256], *save = NULL;
    tc_layer_check_defaults(t, v);
    snprintf(buf, sizeof buf, "%s", params ? params : "");
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        CU_ASSERT_PTR_NOT_NULL_FATAL(eq);
        *eq = 0;
        if (tc_layer_check_set_param(t, v, tok, atof(eq + 1), err))
            return 1;
    }
    return tc_layer_check_create(lc, t, v, shapes, n_inputs, n_threads, err);
}

int tcu_make(tc_layer_check *lc, const char *type, const char *params, int n_inputs,
             const tc_shape *shapes, int n_threads, tc_error *err)
{
    return tcu_make_check(lc, tcu_find_type(type), params, n_inputs, shapes, n_threads, err);
}

void tcu_set_data(tc_tensor *t, const float *values)
{
    memcpy(t->data, values, sizeof(float) * (size_t)tc_shape_count(&t->shape));
}

void tcu_fill_value(tc_tensor *t, float v)
{
    for (int64_t i = 0; i < tc_shape_count(&t->shape); i++)
        t->data[i] = v;
}

int tcu_assert_shape(const tc_shape *s, tc_shape want)
{
    int same = s->ndim == want.ndim;
    CU_ASSERT_EQUAL(s->ndim, want.ndim);
    for (int i = 0; i < want.ndim && i < s->ndim; i++) {
        if (s->dims[i] != want.dims[i])
            fprintf(stderr, "\n  dimension %d: got %lld, want %lld\n", i,
                    (long long)s->dims[i], (long long)want.dims[i]);
        CU_ASSERT_EQUAL(s->dims[i], want.dims[i]);
        same = same && s->dims[i] == want.dims[i];
    }
    return same;
}

double tcu_assert_gradcheck(const tc_layer_check *lc, const tc_gradcheck_report *rep, int rc,
                            const tc_error *err, const char *type, const char *params,
                            uint64_t seed)
{
    double worst = 0;
    if (rc)
        fprintf(stderr, "\n  %s (%s) seed %llu: %s\n", type, params ? params : "",
                (unsigned long long)seed, err->msg);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(rep->first_failed, -1);
    /* every input but a label, and every weight, was checked */
    int expect = lc->plan.n_weights;
    for (int i = 0; i < lc->n_inputs; i++)
        expect += !lc->is_label[i];
    CU_ASSERT_EQUAL(rep->n_tensors, expect);
    for (int i = 0; i < rep->n_tensors; i++) {
        CU_ASSERT(rep->tensors[i].n_checked > 0);
        if (rep->tensors[i].worst > worst)
            worst = rep->tensors[i].worst;
    }
    return worst;
}

double tcu_rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

void tcu_fill_uniform(tc_tensor *t, uint64_t *state)
{
    for (int64_t i = 0; i < tc_shape_count(&t->shape); i++)
        t->data[i] = (float)(2.0 * tcu_rnd(state) - 1.0);
}

void tcu_fill_check_uniform(tc_layer_check *lc, uint64_t *state)
{
    tcu_fill_uniform(&lc->inputs[0], state);
    for (int i = 0; i < lc->plan.n_weights; i++)
        tcu_fill_uniform(&lc->weights[i], state);
    tcu_fill_uniform(&lc->grad_output, state);
}

const char *tcu_tmp_path(const char *name)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tcu_tmpdir(), name);
    return b;
}

tc_graph *tcu_graph_ok(tc_graph *g, const tc_error *err)
{
    if (!g)
        fprintf(stderr, "\n  %s\n", err->msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    return g;
}

void tcu_gray_dataset(tc_dataset *ds, int n, int h, int w)
{
    memset(ds, 0, sizeof *ds);
    ds->count = n;
    ds->channels = 1;
    ds->height = h;
    ds->width = w;
    ds->pixels = malloc((size_t)n * (size_t)h * (size_t)w);
    ds->labels = malloc((size_t)n);
    if (!ds->pixels || !ds->labels)
        abort();
}

void tcu_save_lenet(const char *path, uint64_t seed, const char *meta)
{
    tc_error err = {{0}};
    tc_graph *g = tc_graph_load_file(tcu_registry(), TC_TEST_SOURCE_DIR "/models/lenet5.json",
                                     &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_graph_init_weights(g, seed);
    TCU_ASSERT_OK(tc_snapshot_save(path, g, NULL, meta, &err), &err);
    tc_graph_free(g);
}

char *tcu_read_command(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    *status = pclose(p);
    return buf;
}

int tcu_shell(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st;
    char *buf = tcu_read_command(cmd, &st);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tcu_put_setting(tc_train_overrides *o, const char *key, const char *text)
{
    const tc_train_setting *s = tc_train_setting_find(key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    tc_setting_value v;
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_train_setting_parse(s, text, &v, &err), &err);
    tc_train_overrides_put(o, s, v);
}

int tcu_tinycnn(char **out, const char *fmt, ...)
{
    char args[4096], cmd[4800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", TC_TEST_BINARY_DIR "/bin/tinycnn", args);
    int st;
    char *buf = tcu_read_command(cmd, &st);
    if (out)
        *out = buf;
    else
        free(buf);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    fprintf(stderr, "\n  tinycnn %s: killed by signal %d\n", args, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return -1;
}

int tcu_has_text(const char *out, const char *needle)
{
    int has = out && strstr(out, needle) != NULL;
    if (!has)
        fprintf(stderr, "\n  expected '%s' in:\n%s\n", needle, out ? out : "(null)");
    return has;
}

void tcu_assert_load_fails(const char *dir, const char *split, const tc_data_options *opt,
                           const char *needle)
{
    tc_error err = {{0}};
    tc_dataset ds;
    TCU_ASSERT_FAILS_WITH(tc_dataset_load_with(dir, split, opt, &ds, &err), &err, needle);
}

/* The fill's lattice spreads n values over about +-n/80. BatchNorm is
 * invariant to the input's scale, so on a large input a step of 0.01
 * moves the loss by little more than the float rounding of its thousands
 * of outputs; scaled down, the same tensor gets a meaningful check. The
 * lattice's spacing only matters at kinks, which BatchNorm has none of. */
static void scale_to_unit(tc_tensor *t)
{
    int64_t n = tc_shape_count(&t->shape);
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(t->data[i]));
    for (int64_t i = 0; m > 0 && i < n; i++)
        t->data[i] = (float)(t->data[i] / m);
}

/* The gradient check of case k with seed; returns its worst relative error. */
static double gradcheck_case(const tcu_gc_case *k, uint64_t seed, tcu_gc_worst *worst)
{
    tc_error err = {{0}};
    tc_layer_check lc;
    tc_gradcheck_report rep;
    tc_gradcheck_opts opts = {0, 0, k->max_elements};
    TCU_ASSERT_OK(tcu_make(&lc, k->type, k->params, k->n_inputs, k->shapes, k->threads, &err),
                  &err);
    lc.training = !k->inference;
    tc_layer_check_fill(&lc, seed, 0);
    if (k->unit_inputs)
        scale_to_unit(&lc.inputs[0]);
    for (int i = 0; k->inference && i < lc.plan.n_state; i++)
        for (int64_t e = 0; e < tc_shape_count(&lc.state[i].shape); e++)
            lc.state[i].data[e] = (float)(i ? 0.5 + 0.25 * (double)e : 0.1 * (double)e);
    int rc = tc_layer_check_gradients(&lc, &opts, &rep, &err);
    double case_worst = tcu_assert_gradcheck(&lc, &rep, rc, &err, k->type, k->params, seed);
    for (int i = 0; worst && i < rep.n_tensors; i++)
        if (rep.tensors[i].worst > worst->value) {
            worst->value = rep.tensors[i].worst;
            snprintf(worst->where, sizeof worst->where, "%s (%s), %s", k->type,
                     k->params ? k->params : "", rep.tensors[i].name);
        }
    tc_layer_check_free(&lc);
    return case_worst;
}

void tcu_run_gradchecks(const tcu_gc_case *cases, size_t n, tcu_gc_worst *worst)
{
    static const uint64_t seeds[] = {1, 2, 3};
    for (size_t c = 0; c < n; c++) {
        const tcu_gc_case *k = &cases[c];
        tcu_find_type(k->type); /* fails the test by name when missing */
        double case_worst = 0.0;
        for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
            case_worst = fmax(case_worst, gradcheck_case(k, seeds[s], worst));
        printf("\n    %-20s %-48s%s worst rel. error %.2e", k->type, k->params ? k->params : "",
               k->inference ? " (inference)" : "", case_worst);
    }
    printf("\n  ");
}
