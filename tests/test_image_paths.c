/* tc_image_paths: files and folders expanded into the image files to read
 * (what `tinycnn predict` classifies), and tc_is_image_name. */
#define _POSIX_C_SOURCE 200809L
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_util.h"
#include "testutil.h"
#include "tinycnn/dataset.h"

static void touch(const char *path)
{
    iu_write(path, "x", 1); /* nothing is opened: the content never matters */
}

/* Checks the list against want[0..n) (paths; an error entry as
 * "!PATH|NEEDLE": error set, naming PATH and holding NEEDLE). */
static void expect_list(const tc_image_path *got, size_t count, const char *const *want,
                        size_t n)
{
    CU_ASSERT_EQUAL(count, n);
    for (size_t i = 0; i < n && i < count; i++) {
        char path[600];
        const char *needle = NULL;
        snprintf(path, sizeof path, "%s", want[i][0] == '!' ? want[i] + 1 : want[i]);
        if (want[i][0] == '!') {
            char *bar = strchr(path, '|');
            *bar = 0;
            needle = bar + 1;
        }
        CU_ASSERT_STRING_EQUAL(got[i].path, path);
        if (!needle) {
            CU_ASSERT_PTR_NULL(got[i].error);
            if (got[i].error)
                fprintf(stderr, "\n  unexpected error for %s: %s\n", path, got[i].error);
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(got[i].error);
        CU_ASSERT(strncmp(got[i].error, path, strlen(path)) == 0); /* it names the path */
        CU_ASSERT_PTR_NOT_NULL(strstr(got[i].error, needle));
        if (!strstr(got[i].error, needle))
            fprintf(stderr, "\n  expected '%s' in: %s\n", needle, got[i].error);
    }
}

static void test_image_names(void)
{
    static const struct {
        const char *name;
        int image;
    } rows[] = {
        {"a.png", 1},  {"A.PNG", 1},      {"x.jpg", 1},     {"x.JpEg", 1},  {"a.tar.jpeg", 1},
        {"..png", 1},  {"a.png.txt", 0},  {"png", 0},       {".png", 0},    {"a.gif", 0},
        {"a.", 0},     {"", 0},           {"a.pn", 0},      {"a.jpegx", 0}, {"a_png", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int got = tc_is_image_name(rows[i].name);
        CU_ASSERT_EQUAL(got, rows[i].image);
        if (got != rows[i].image)
            fprintf(stderr, "\n  tc_is_image_name(\"%s\") = %d\n", rows[i].name, got);
    }
    CU_ASSERT_EQUAL(tc_is_image_name(NULL), 0);
}

/* root/ with images at two levels, hidden entries, other files and a FIFO
 * named like an image. */
static const char *make_tree(void)
{
    static char root[600];
    snprintf(root, sizeof root, "%s", iu_path("tree"));
    iu_mkdir(root);
    iu_mkdir(iu_path("tree/sub"));
    iu_mkdir(iu_path("tree/sub/deeper"));
    iu_mkdir(iu_path("tree/.git"));
    iu_mkdir(iu_path("tree/nothing"));
    touch(iu_path("tree/b.png"));
    touch(iu_path("tree/a.JPG"));
    touch(iu_path("tree/notes.txt"));
    touch(iu_path("tree/.hidden.png"));
    touch(iu_path("tree/.git/x.png"));
    touch(iu_path("tree/sub/c.jpeg"));
    touch(iu_path("tree/sub/z.txt"));
    touch(iu_path("tree/sub/deeper/d.png"));
    touch(iu_path("tree/sub/B.png"));
    touch(iu_path("tree/Z.png"));
    CU_ASSERT_FATAL(mkfifo(iu_path("tree/sub/pipe.png"), 0644) == 0);
    return root;
}

static void test_folder(void)
{
    const char *root = make_tree();
    tc_error err = {{0}};
    tc_image_path *l = NULL;
    size_t n = 0;
    const char *args[] = {root};
    TCU_ASSERT_OK(tc_image_paths(args, 1, &l, &n, &err), &err);
    char w[7][700];
    /* byte order of the whole path: upper case first, a folder's files
     * among its sub-folders' by name */
    snprintf(w[0], sizeof w[0], "%s/Z.png", root);
    snprintf(w[1], sizeof w[1], "%s/a.JPG", root);
    snprintf(w[2], sizeof w[2], "%s/b.png", root);
    snprintf(w[3], sizeof w[3], "%s/sub/B.png", root);
    snprintf(w[4], sizeof w[4], "%s/sub/c.jpeg", root);
    snprintf(w[5], sizeof w[5], "%s/sub/deeper/d.png", root);
    snprintf(w[6], sizeof w[6], "%s/sub/pipe.png", root); /* listed; the reader refuses it */
    const char *want[] = {w[0], w[1], w[2], w[3], w[4], w[5], w[6]};
    expect_list(l, n, want, 7);
    tc_image_paths_free(l, n);

    /* a trailing slash is not doubled */
    char slash[700];
    snprintf(slash, sizeof slash, "%s/", root);
    const char *args2[] = {slash};
    TCU_ASSERT_OK(tc_image_paths(args2, 1, &l, &n, &err), &err);
    expect_list(l, n, want, 7);
    tc_image_paths_free(l, n);
}

/* Several arguments: files as given (whatever their name, existing or
 * not), folders expanded in place, a folder without images an entry. */
static void test_arguments(void)
{
    char root[600], sub[700], nothing[700], w[4][1024];
    snprintf(root, sizeof root, "%s", iu_path("args"));
    iu_mkdir(root);
    snprintf(sub, sizeof sub, "%s/sub", root);
    iu_mkdir(sub);
    snprintf(nothing, sizeof nothing, "%s/nothing", root);
    iu_mkdir(nothing);
    touch(iu_path("args/nothing/readme.txt"));
    snprintf(w[0], sizeof w[0], "%s/z.png", sub);
    snprintf(w[1], sizeof w[1], "%s/y.jpg", sub);
    touch(w[0]);
    touch(w[1]);
    snprintf(w[2], sizeof w[2], "%s/missing.png", root);
    snprintf(w[3], sizeof w[3], "%s/nothing/readme.txt", root);
    const char *args[] = {w[2], sub, nothing, w[3], w[0]};
    tc_error err = {{0}};
    tc_image_path *l = NULL;
    size_t n = 0;
    TCU_ASSERT_OK(tc_image_paths(args, 5, &l, &n, &err), &err);
    char e[1200];
    snprintf(e, sizeof e, "!%s|is a folder without PNG or JPEG images", nothing);
    const char *want[] = {w[2], w[1], w[0], e, w[3], w[0]};
    expect_list(l, n, want, 6);
    tc_image_paths_free(l, n);

    /* no paths: an empty list */
    static tc_image_path dummy;
    l = &dummy; /* to be overwritten */
    TCU_ASSERT_OK(tc_image_paths(NULL, 0, &l, &n, &err), &err);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(l);
    tc_image_paths_free(NULL, 0);
}

/* A chain of folders deeper than TC_IMAGE_PATHS_MAX_DEPTH: images down to
 * that depth are listed, the next folder is an error entry; a symbolic
 * link to its own folder ends the same way instead of looping. */
static void test_depth(void)
{
    static char p[8192];
    size_t o = (size_t)snprintf(p, sizeof p, "%s", iu_path("deep"));
    iu_mkdir(p);
    static char img[TC_IMAGE_PATHS_MAX_DEPTH + 2][8300];
    for (int d = 1; d <= TC_IMAGE_PATHS_MAX_DEPTH + 1; d++) {
        o += (size_t)snprintf(p + o, sizeof p - o, "/d%d", d);
        iu_mkdir(p);
        snprintf(img[d], sizeof img[d], "%s/i.png", p);
        touch(img[d]);
    }
    tc_error err = {{0}};
    tc_image_path *l = NULL;
    size_t n = 0;
    const char *args[] = {iu_path("deep")};
    TCU_ASSERT_OK(tc_image_paths(args, 1, &l, &n, &err), &err);
    /* ".../dK/dK+1" sorts before ".../dK/i.png": the deepest first, and
     * first of all the folder one too deep */
    const char *want[TC_IMAGE_PATHS_MAX_DEPTH + 1];
    static char e[8400];
    snprintf(e, sizeof e, "!%s|folders nested more than %d deep", p, TC_IMAGE_PATHS_MAX_DEPTH);
    want[0] = e;
    for (int d = TC_IMAGE_PATHS_MAX_DEPTH; d >= 1; d--)
        want[TC_IMAGE_PATHS_MAX_DEPTH + 1 - d] = img[d];
    expect_list(l, n, want, TC_IMAGE_PATHS_MAX_DEPTH + 1);
    tc_image_paths_free(l, n);

    const char *loop = iu_path("loop");
    iu_mkdir(loop);
    touch(iu_path("loop/a.png"));
    CU_ASSERT_FATAL(symlink(".", iu_path("loop/again")) == 0);
    const char *args2[] = {loop};
    TCU_ASSERT_OK(tc_image_paths(args2, 1, &l, &n, &err), &err);
    /* a.png at each of the depths 0..32, and one error entry */
    CU_ASSERT_EQUAL(n, TC_IMAGE_PATHS_MAX_DEPTH + 2);
    size_t errors = 0;
    for (size_t i = 0; i < n; i++)
        if (l[i].error) {
            errors++;
            CU_ASSERT_PTR_NOT_NULL(strstr(l[i].error, "nested more than"));
            CU_ASSERT(strncmp(l[i].error, l[i].path, strlen(l[i].path)) == 0);
        } else {
            CU_ASSERT(strlen(l[i].path) > 5 &&
                      strcmp(l[i].path + strlen(l[i].path) - 5, "a.png") == 0);
        }
    CU_ASSERT_EQUAL(errors, 1);
    tc_image_paths_free(l, n);
}

static void test_bad_calls(void)
{
    tc_error err = {{0}};
    tc_image_path *l = NULL;
    size_t n = 7;
    const char *args[] = {"x.png", NULL};
    TCU_ASSERT_FAILS_WITH(tc_image_paths(args, 2, &l, &n, &err), &err, "path 1 is NULL");
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_EQUAL(n, 0);
    TCU_ASSERT_FAILS_WITH(tc_image_paths(NULL, 1, &l, &n, &err), &err, "1 paths");
    TCU_ASSERT_FAILS_WITH(tc_image_paths(args, -1, &l, &n, &err), &err, "-1 paths");
    TCU_ASSERT_FAILS_WITH(tc_image_paths(args, 1, NULL, &n, &err), &err, "NULL list");
    TCU_ASSERT_FAILS_WITH(tc_image_paths(args, 1, &l, NULL, &err), &err, "NULL count");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"image file names", test_image_names},
        {"a folder: its images below it, sorted", test_folder},
        {"files, folders and empty folders in order", test_arguments},
        {"nesting limit and symbolic link loops", test_depth},
        {"bad calls are errors", test_bad_calls},
        {NULL, NULL},
    };
    return tcu_run("image_paths", tests);
}
