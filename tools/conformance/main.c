/* tinycnn-conformance: the plugin conformance suite. Loads layer plugins,
 * makes one CUnit suite per layer type and one CUnit test per check, runs
 * them and prints the CUnit summary. Exit status 0 only when every check of
 * every type passed. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conformance.h"
#include "tinycnn/tinycnn.h"

tc_registry *cf_registry;
const char *cf_tmpdir;

enum { EXIT_PASS = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };
#define MAX_ARGS 64

static const char help[] =
    "usage: tinycnn-conformance [options] [PLUGIN.so]...\n"
    "       tinycnn check-plugin [options] [PLUGIN.so]...\n"
    "\n"
    "Runs the layer plugin conformance suite: one CUnit suite per layer type, one\n"
    "test per check, and the CUnit summary at the end.\n"
    "\n"
    "Without PLUGIN.so arguments it checks every layer type found where the runner\n"
    "finds them: <executable>/../lib/tinycnn/plugins, each folder of\n"
    "$TINYCNN_PLUGIN_PATH, each --plugin-dir. With PLUGIN.so arguments it checks the\n"
    "types those files register; --plugin-dir folders are then loaded too (for\n"
    "types the plugins need) but not checked.\n"
    "\n"
    "checks, for each layer type:\n"
    "  metadata        name, ABI version, inputs, declared parameters\n"
    "  construction    a one-node model with default parameters loads and runs\n"
    "  bad parameters  missing, wrongly typed, zero, negative and huge values are\n"
    "                  refused with a message, never a crash (each in a child process)\n"
    "  shape inference the planned output is exactly what forward writes, for\n"
    "                  batch sizes 1, 2, 5 and several input shapes; likewise the\n"
    "                  gradients backward writes\n"
    "  unequal input shapes\n"
    "                  for a layer of several inputs: each input's dimensions moved\n"
    "                  by 1; where plan() accepts, forward, backward and the gradient\n"
    "                  check run (in a child process) with guard pages around inputs\n"
    "  gradient check  central differences against backward for every input and\n"
    "                  weight, 3 seeds, kink-free inputs; relative-error tolerance %g\n"
    "                  (a type's test hints may set its own tolerance and step)\n"
    "  NULL input gradients\n"
    "                  backward with grad_inputs[i].data == NULL for each input and\n"
    "                  for all (as a model's image gets): no crash (child process),\n"
    "                  the other gradients unchanged\n"
    "  determinism     repeatable forward/backward; inputs, weights, output and\n"
    "                  output gradient left untouched\n"
    "  uninitialised scratch\n"
    "                  workspace and saved filled with NaN, +1e30 and -1e30 before\n"
    "                  each call give identical results (a stale read that fmax/fmin\n"
    "                  would hide from NaN shows up)\n"
    "  inference mode  training = 0 leaves state alone and ignores the random stream;\n"
    "                  a stateless layer gives at inference its training output (or,\n"
    "                  if random in training, the mean of 1000 training outputs)\n"
    "  per sample      for a layer with TC_LAYER_PER_SAMPLE: at inference each row of a\n"
    "                  batch of 3 equals that row run alone at batch 1 (relative\n"
    "                  tolerance 1e-5), and row 0 is unchanged when the other rows change\n"
    "  two threads     two instances used at once give the results of one alone\n"
    "  save/load       after training forwards, weights and state through a\n"
    "                  checkpoint file give identical outputs (nothing kept in the\n"
    "                  instance)\n"
    "  speed           forward + backward time against a plain elementwise pass of\n"
    "                  the same estimated FLOPs: a WARNING above 30x, a failure above\n"
    "                  1000x\n"
    "\n"
    "Each check runs in its own child process with a time limit (--check-timeout):\n"
    "a plugin that crashes (a signal, in any thread), calls exit() or does not\n"
    "finish fails that check with the reason (\"crashed (signal 11 SIGSEGV: ...)\",\n"
    "\"called exit(0)\", \"did not finish within N s\"), and the other checks still\n"
    "run. Each check prints its wall time; a summary of them ends the run.\n"
    "\n"
    "A layer type may give test hints (tc_layer_type.test_hints): the input shapes\n"
    "and parameter values to check it with, and its gradient tolerance and step.\n"
    "\n"
    "options:\n"
    "  --type NAME       check only the layer type NAME (repeatable)\n"
    "  --plugin-dir DIR  also load the plugins (*.so) in DIR (repeatable)\n"
    "  --list            list the layer types that would be checked, and exit\n"
    "  --no-hints        ignore the types' test hints (use the suite's own shapes)\n"
    "  --check ID        run only the check ID (repeatable): metadata, construction,\n"
    "                    bad-parameters, shapes, unequal-shapes, gradients,\n"
    "                    null-gradients, determinism, scratch, inference, per-sample,\n"
    "                    threads, save-load, speed\n"
    "  --check-timeout SECONDS\n"
    "                    time limit of each check (default %d; also the variable\n"
    "                    TINYCNN_CHECK_TIMEOUT); a check past it is killed and fails\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit status: 0 every check passed, 1 a check failed or a plugin did not load,\n"
    "             2 usage error\n";

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tinycnn-conformance: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "; see 'tinycnn-conformance --help'\n");
    return EXIT_USAGE;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- subjects and the CUnit glue ------------------------------------------ */

static cf_subject *subjects;
static size_t subjects_bytes;
static int n_subjects;

static cf_subject *current(void)
{
    CU_pSuite suite = CU_get_current_suite();
    for (int i = 0; suite && i < n_subjects; i++)
        if (strcmp(subjects[i].type->name, suite->pName) == 0)
            return &subjects[i];
    return NULL;
}

static void print_wall_time(double t)
{
    if (t < 1)
        printf("\n    wall time %.3g ms\n  ", 1e3 * t);
    else
        printf("\n    wall time %.3g s\n  ", t);
}

static const char *test_name(int id);

/* Each check runs in a child process (child.c); its wall time is printed
 * after it and kept for the summary. */
static void run_test(void (*check)(cf_subject *s), int id)
{
    cf_subject *s = current();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    cf_fails_in_test = 0;
    double t0 = tc_monotonic_seconds();
    cf_run_check(s, test_name(id), check);
    s->seconds[id] = tc_monotonic_seconds() - t0;
    print_wall_time(s->seconds[id]);
}

/* In the order of the CF_T_* ids. */
static const struct {
    const char *name;
    const char *id; /* for --check */
    void (*check)(cf_subject *s);
} tests[] = {
    {"metadata", "metadata", cf_check_metadata},
    {"construction with default parameters", "construction", cf_check_defaults},
    {"bad parameters", "bad-parameters", cf_check_bad_params},
    {"shape inference", "shapes", cf_check_shapes},
    {"unequal input shapes", "unequal-shapes", cf_check_unequal_shapes},
    {"gradient check", "gradients", cf_check_gradients},
    {"NULL input gradients", "null-gradients", cf_check_null_grads},
    {"determinism and purity", "determinism", cf_check_determinism},
    {"uninitialised scratch", "scratch", cf_check_scratch},
    {"inference mode", "inference", cf_check_inference},
    {"per sample", "per-sample", cf_check_per_sample},
    {"two instances on two threads", "threads", cf_check_threads},
    {"save/load through a checkpoint", "save-load", cf_check_save_load},
    {"speed", "speed", cf_check_speed},
};
#define N_TESTS (int)(sizeof tests / sizeof tests[0])
_Static_assert(N_TESTS == CF_N_CHECKS, "one CUnit test per check id");

static const char *test_name(int id)
{
    return tests[id].name;
}

/* The one CUnit test function: the running test's name picks the check. */
static void run_current(void)
{
    const char *name = CU_get_current_test()->pName;
    for (int id = 0; id < N_TESTS; id++)
        if (strcmp(tests[id].name, name) == 0) {
            run_test(tests[id].check, id);
            return;
        }
    CU_FAIL_FATAL("a test of no known check");
}

/* Per type: total wall time and the slowest check. */
static void print_times(void)
{
    printf("\nwall time per layer type (seconds): total, then the slowest checks\n");
    for (int i = 0; i < n_subjects; i++) {
        const cf_subject *s = &subjects[i];
        double total = 0;
        int order[CF_N_CHECKS];
        for (int k = 0; k < CF_N_CHECKS; k++) {
            total += s->seconds[k];
            order[k] = k;
        }
        for (int a = 1; a < CF_N_CHECKS; a++) /* insertion sort, slowest first */
            for (int b = a; b > 0 && s->seconds[order[b]] > s->seconds[order[b - 1]]; b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        printf("  %-24s %7.3f:", s->type->name, total);
        for (int k = 0; k < 3; k++)
            printf(" %s %.3f%s", tests[order[k]].id, s->seconds[order[k]], k < 2 ? "," : "");
        printf("\n");
    }
}

/* Checks chosen with --check (none chosen: all). */
static int selected[CF_N_CHECKS], n_selected;

static int check_select(const char *id)
{
    for (int k = 0; k < N_TESTS; k++)
        if (strcmp(tests[k].id, id) == 0) {
            n_selected += !selected[k];
            selected[k] = 1;
            return 0;
        }
    return 1;
}

/* ---- loading -------------------------------------------------------------- */

static pid_t main_pid;

/* At exit of the suite itself, not of a child a plugin made call exit(). */
static void remove_tmpdir(void)
{
    if (cf_tmpdir && getpid() == main_pid)
        rmdir(cf_tmpdir);
}

/* The command line. */
typedef struct cf_args {
    const char *files[MAX_ARGS], *dirs[MAX_ARGS], *types[MAX_ARGS];
    int n_files, n_dirs, n_types, list_only;
} cf_args;

/* cf_check_seconds from text; 1 when it is not 1..86400 whole seconds. */
static int set_timeout(const char *v)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 86400)
        return 1;
    cf_check_seconds = (int)n;
    return 0;
}

/* The value of option `name` at argv[*i]: "NAME VALUE" (taking the next
 * argument; "" when there is none) or "NAME=VALUE"; NULL when argv[*i] is
 * another argument. */
static const char *opt_value(const char *name, int argc, char **argv, int *i)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0 || (a[n] && a[n] != '='))
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    return *i + 1 < argc ? argv[++*i] : "";
}

/* Appends the value v of a repeatable option to list (*n entries): -1, or
 * the usage error's exit status when v is empty or the list full. */
static int add_value(const char **list, int *n, const char *v, const char *name)
{
    if (!*v)
        return usage("option %s needs a value", name);
    if (*n >= MAX_ARGS)
        return usage("too many %s options", name);
    list[(*n)++] = v;
    return -1;
}

/* -1 to go on, or the exit status (help, a usage error). */
static int parse_args(int argc, char **argv, cf_args *o)
{
    const char *env = getenv("TINYCNN_CHECK_TIMEOUT");
    if (env && *env && set_timeout(env))
        return usage("TINYCNN_CHECK_TIMEOUT needs a whole number of seconds, 1 to 86400, "
                     "got '%s'", env);
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf(help, TC_GRADCHECK_TOLERANCE, CF_CHECK_SECONDS);
            return EXIT_PASS;
        } else if (strcmp(a, "--list") == 0) {
            o->list_only = 1;
        } else if (strcmp(a, "--no-hints") == 0) {
            cf_no_hints = 1;
        } else if ((v = opt_value("--check-timeout", argc, argv, &i))) {
            if (set_timeout(v))
                return usage("--check-timeout needs a whole number of seconds, 1 to 86400, "
                             "got '%s'", v);
        } else if ((v = opt_value("--check", argc, argv, &i))) {
            if (check_select(v))
                return usage("--check needs one of the check ids (see --help), got '%s'", v);
        } else if ((v = opt_value("--type", argc, argv, &i))) {
            if ((rc = add_value(o->types, &o->n_types, v, "--type")) >= 0)
                return rc;
        } else if ((v = opt_value("--plugin-dir", argc, argv, &i))) {
            if ((rc = add_value(o->dirs, &o->n_dirs, v, "--plugin-dir")) >= 0)
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return usage("unknown option %s", a);
        } else {
            if (o->n_files >= MAX_ARGS)
                return usage("too many plugin files (at most 64)%s", "");
            o->files[o->n_files++] = a;
        }
    }
    return -1;
}

/* The plugins into reg: the named files (then --plugin-dir folders, for
 * types they use but are not checked), or those found as the runner finds
 * them. *n_checked: the registered types to check, [0, n). 1 on failure,
 * said on stderr. */
static int load_plugins(tc_registry *reg, const cf_args *o, int *n_checked)
{
    tc_error err = {{0}};
    if (o->n_files > 0) {
        for (int i = 0; i < o->n_files; i++)
            if (tc_registry_load_file(reg, o->files[i], &err)) {
                fprintf(stderr, "tinycnn-conformance: %s\n", err.msg);
                return 1;
            }
        *n_checked = tc_registry_count(reg);
        for (int i = 0; i < o->n_dirs; i++)
            if (!is_dir(o->dirs[i]) || tc_registry_load_dir(reg, o->dirs[i], &err)) {
                fprintf(stderr, "tinycnn-conformance: %s\n",
                        is_dir(o->dirs[i]) ? err.msg : "--plugin-dir: no such folder");
                return 1;
            }
        return 0;
    }
    for (int i = 0; i < o->n_dirs; i++)
        if (!is_dir(o->dirs[i])) {
            fprintf(stderr, "tinycnn-conformance: --plugin-dir %s: no such folder\n",
                    o->dirs[i]);
            return 1;
        }
    int rc = tc_plugin_discover(reg, o->dirs, o->n_dirs, &err);
    if (rc) {
        for (int i = 0; i < tc_registry_n_warnings(reg); i++)
            fprintf(stderr, "tinycnn-conformance: warning: %s\n", tc_registry_warning(reg, i));
        fprintf(stderr, "tinycnn-conformance: %s%s\n", err.msg,
                rc == TC_DISCOVER_NONE ? "; name PLUGIN.so files, or use --plugin-dir or "
                                         "TINYCNN_PLUGIN_PATH" : "");
        return 1;
    }
    *n_checked = tc_registry_count(reg);
    return 0;
}

/* subjects: the first n_checked types of reg, only those named by --type
 * when any is; 1 (said on stderr) when a --type names none of them. */
static int select_subjects(tc_registry *reg, const cf_args *o, int n_checked)
{
    /* shared with the checks' child processes: what a probe finds stays */
    subjects_bytes = (size_t)n_checked * sizeof *subjects;
    void *m = mmap(NULL, subjects_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED) {
        perror("tinycnn-conformance: mmap");
        return 1;
    }
    subjects = m; /* zeroed */
    for (int i = 0; i < n_checked; i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_get(reg, i, &origin);
        int wanted = o->n_types == 0;
        for (int k = 0; k < o->n_types; k++)
            wanted |= strcmp(o->types[k], t->name) == 0;
        if (wanted)
            subjects[n_subjects++] = (cf_subject){.type = t, .origin = origin};
    }
    for (int k = 0; k < o->n_types; k++) {
        int found = 0;
        for (int i = 0; i < n_subjects; i++)
            found |= strcmp(subjects[i].type->name, o->types[k]) == 0;
        if (!found) {
            fprintf(stderr, "tinycnn-conformance: --type %s: no such layer type among the %d "
                            "loaded for checking\n", o->types[k], n_checked);
            return 1;
        }
    }
    return 0;
}

/* The folder the checks write their files into, removed at exit. */
static int make_tmpdir(void)
{
    static char tmp[PATH_MAX];
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/tinycnn-conformance-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("tinycnn-conformance: mkdtemp");
        return 1;
    }
    cf_tmpdir = tmp;
    main_pid = getpid();
    atexit(remove_tmpdir);
    return 0;
}

/* Runs the selected checks on every subject under CUnit and prints the
 * summary; the exit status. */
static int run_checks(void)
{
    printf("tinycnn-conformance %s (plugin ABI %u): %d layer type%s to check\n",
           TC_VERSION_STRING, TC_PLUGIN_ABI_VERSION, n_subjects, n_subjects == 1 ? "" : "s");
    printf("gradient check: central differences with step %g on inputs kept %g away from 0 "
           "and from each other (no ReLU or max-pool kink is crossed); a tensor fails when "
           "max |analytic - numeric| / max(|analytic|, |numeric|, %g x its largest "
           "|gradient|) > %g (relative-error tolerance)\n",
           TC_GRADCHECK_STEP, 2 * TC_GRADCHECK_STEP, TC_GRADCHECK_FLOOR, TC_GRADCHECK_TOLERANCE);

    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "tinycnn-conformance: CUnit: %s\n", CU_get_error_msg());
        return EXIT_FAILED;
    }
    for (int i = 0; i < n_subjects; i++) {
        CU_pSuite suite = CU_add_suite(subjects[i].type->name, NULL, NULL);
        for (int k = 0; suite && k < N_TESTS; k++)
            if ((n_selected == 0 || selected[k]) && !CU_add_test(suite, tests[k].name, run_current))
                suite = NULL;
        if (!suite) {
            fprintf(stderr, "tinycnn-conformance: CUnit: %s\n", CU_get_error_msg());
            CU_cleanup_registry();
            return EXIT_FAILED;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned ran = CU_get_number_of_tests_run(), failed = CU_get_number_of_tests_failed();
    unsigned expected = (unsigned)(n_subjects * (n_selected ? n_selected : N_TESTS));
    print_times();
    if (cf_n_warnings)
        printf("\n%d warning%s (not failures):\n", cf_n_warnings, cf_n_warnings == 1 ? "" : "s");
    for (int i = 0; i < cf_n_warnings; i++)
        printf("  WARNING %s\n", cf_warnings[i]);
    printf("\n");
    if (failed == 0 && ran == expected && CU_get_error() == CUE_SUCCESS) {
        printf("tinycnn-conformance: PASS: %u checks of %d layer type%s\n", ran, n_subjects,
               n_subjects == 1 ? "" : "s");
    } else {
        printf("tinycnn-conformance: FAIL: %u of %u checks failed (%u ran); failing:\n", failed,
               expected, ran);
        for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext)
            printf("  %s\n", f->strCondition ? f->strCondition : "?");
    }
    int rc = (failed == 0 && ran == expected) ? EXIT_PASS : EXIT_FAILED;
    CU_cleanup_registry();
    return rc;
}

int main(int argc, char **argv)
{
    static cf_args args;
    setvbuf(stdout, NULL, _IONBF, 0); /* a crashing plugin still shows where it was */
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;

    tc_registry *reg = tc_registry_new();
    if (!reg) {
        fprintf(stderr, "tinycnn-conformance: out of memory\n");
        return EXIT_FAILED;
    }
    cf_registry = reg;
    int n_checked = 0;
    rc = EXIT_FAILED;
    if (load_plugins(reg, &args, &n_checked))
        goto out;
    for (int i = 0; i < tc_registry_n_warnings(reg); i++)
        fprintf(stderr, "tinycnn-conformance: warning: %s\n", tc_registry_warning(reg, i));
    if (n_checked == 0) {
        fprintf(stderr, "tinycnn-conformance: no layer types to check (no plugins found; name "
                        "PLUGIN.so files, or use --plugin-dir or TINYCNN_PLUGIN_PATH)\n");
        goto out;
    }
    /* the loss checks need a logits node; a name clash only means the
     * plugin's own type of that name serves */
    tc_error ignore = {{0}};
    tc_registry_add(reg, &cf_identity_type, "(tinycnn-conformance)", &ignore);
    if (select_subjects(reg, &args, n_checked))
        goto out;
    if (args.list_only) {
        for (int i = 0; i < n_subjects; i++)
            printf("%-24s %s\n", subjects[i].type->name, subjects[i].origin);
        rc = EXIT_PASS;
        goto out;
    }
    if (make_tmpdir() == 0)
        rc = run_checks();
out:
    if (subjects)
        munmap(subjects, subjects_bytes);
    tc_registry_free(reg);
    return rc;
}
