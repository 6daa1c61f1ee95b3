/* The plugin loader: the standard plugins load and register by name; each
 * kind of bad plugin is refused with a message naming the file; unsafe
 * (world-writable) plugin files and folders are not loaded. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static const char *const standard[] = {"Conv2d", "MaxPool2d", "AvgPool2d", "Linear",
                                       "Flatten", "ReLU", "Tanh", "Sigmoid", "Dropout", "Add",
                                       "SoftmaxCrossEntropy"};

static void test_standard_plugins(void)
{
    tc_registry *reg = tcu_registry();
    CU_ASSERT(tc_registry_count(reg) >= 11);
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_find(reg, standard[i], &origin);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (!t) {
            fprintf(stderr, "\n  missing standard layer %s\n", standard[i]);
            continue;
        }
        CU_ASSERT_STRING_EQUAL(t->name, standard[i]);
        CU_ASSERT_EQUAL(t->abi_version, TC_PLUGIN_ABI_VERSION);
        CU_ASSERT_PTR_NOT_NULL(origin);
        CU_ASSERT_PTR_NOT_NULL(strstr(origin, TC_TEST_PLUGIN_DIR));
        CU_ASSERT_PTR_NOT_NULL(t->summary);
    }
    CU_ASSERT_PTR_NULL(tc_registry_find(reg, "NoSuchLayer", NULL));
    CU_ASSERT_EQUAL(tc_registry_n_warnings(reg), 0);
}

/* Loading the plugin file p into a new registry fails with a message that
 * names p and says why (and why2 unless NULL); returns the registry, which
 * the caller frees. */
static tc_registry *load_refused(const char *p, const char *why, const char *why2)
{
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(tc_registry_load_file(reg, p, &err), &err, p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, why));
    if (why2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, why2));
    return reg;
}

static void test_not_a_shared_object(void)
{
    const char *p = tcu_write_file("text.so", "this is not ELF\n", 16);
    tc_registry *reg = load_refused(p, "not a loadable plugin", NULL);
    CU_ASSERT_EQUAL(tc_registry_count(reg), 0);
    tc_registry_free(reg);
}

static void test_missing_entry(void)
{
    tc_registry_free(load_refused(TC_TEST_BAD_PLUGIN_DIR "/bad_no_entry.so",
                                  "no entry symbol 'tc_plugin_init'", NULL));
}

static void test_old_abi(void)
{
    tc_registry *reg = load_refused(TC_TEST_BAD_PLUGIN_DIR "/bad_old_abi.so",
                                    "built for plugin ABI version 1",
                                    "rebuild the plugin against the installed");
    CU_ASSERT_PTR_NULL(tc_registry_find(reg, "OldAbi", NULL));
    tc_registry_free(reg);
}

static void test_init_error(void)
{
    tc_registry_free(load_refused(TC_TEST_BAD_PLUGIN_DIR "/bad_init_fails.so",
                                  "needs host ABI version 99", NULL));
}

static void test_duplicate_names_both_files(void)
{
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_registry_load_file(reg, TC_TEST_PLUGIN_DIR "/relu.so", &err), &err);
    const char *dup = TC_TEST_BAD_PLUGIN_DIR "/bad_duplicate_relu.so";
    TCU_ASSERT_FAILS_WITH(tc_registry_load_file(reg, dup, &err), &err, dup);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, TC_TEST_PLUGIN_DIR "/relu.so"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'ReLU' is registered twice"));
    /* the first registration stays, nothing of the refused file does */
    const char *origin = NULL;
    CU_ASSERT_PTR_NOT_NULL(tc_registry_find(reg, "ReLU", &origin));
    CU_ASSERT_PTR_NOT_NULL(origin && strstr(origin, "/relu.so"));
    CU_ASSERT_EQUAL(tc_registry_count(reg), 1);
    tc_registry_free(reg);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CU_ASSERT_FATAL(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        CU_ASSERT_FATAL(fwrite(buf, 1, n, out) == n);
    fclose(in);
    fclose(out);
}

static void test_world_writable_refused(void)
{
    char dir[600], file[700];
    snprintf(dir, sizeof dir, "%s/unsafe", tcu_tmpdir());
    CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
    snprintf(file, sizeof file, "%s/relu.so", dir);
    copy_file(TC_TEST_PLUGIN_DIR "/relu.so", file);

    /* a world-writable file: refused when named, skipped with a warning in a folder */
    CU_ASSERT_FATAL(chmod(file, 0666) == 0);
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(tc_registry_load_file(reg, file, &err), &err, file);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "every user can write"));
    TCU_ASSERT_OK(tc_registry_load_dir(reg, dir, &err), &err);
    CU_ASSERT_EQUAL(tc_registry_count(reg), 0);
    CU_ASSERT_EQUAL(tc_registry_n_warnings(reg), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_registry_warning(reg, 0), file));
    tc_registry_free(reg);

    /* a safe file in a world-writable folder: the folder is skipped */
    CU_ASSERT_FATAL(chmod(file, 0644) == 0);
    CU_ASSERT_FATAL(chmod(dir, 0777) == 0);
    reg = tc_registry_new();
    TCU_ASSERT_OK(tc_registry_load_dir(reg, dir, &err), &err);
    CU_ASSERT_EQUAL(tc_registry_count(reg), 0);
    CU_ASSERT_EQUAL(tc_registry_n_warnings(reg), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tc_registry_warning(reg, 0), "folder"));
    tc_registry_free(reg);

    /* and once safe, it loads */
    CU_ASSERT_FATAL(chmod(dir, 0755) == 0);
    reg = tc_registry_new();
    TCU_ASSERT_OK(tc_registry_load_dir(reg, dir, &err), &err);
    CU_ASSERT_EQUAL(tc_registry_count(reg), 1);
    tc_registry_free(reg);
}

static void test_missing_folder(void)
{
    tc_registry *reg = tc_registry_new();
    tc_error err = {{0}};
    TCU_ASSERT_FAILS_WITH(tc_registry_load_dir(reg, "/nonexistent/plugins", &err), &err,
                          "/nonexistent/plugins");
    tc_registry_free(reg);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"standard plugins register by name", test_standard_plugins},
        {"a file that is not a shared object", test_not_a_shared_object},
        {"a shared object without the entry symbol", test_missing_entry},
        {"a layer built for another ABI version", test_old_abi},
        {"an entry that reports an error", test_init_error},
        {"a duplicate type name names both files", test_duplicate_names_both_files},
        {"world-writable plugins and folders are not loaded", test_world_writable_refused},
        {"a missing plugin folder", test_missing_folder},
        {NULL, NULL},
    };
    return tcu_run("registry", tests);
}
