/* Image folders as users have them (tc_image_folder_load, tc_dataset_load_with):
 * torchvision's ImageFolder layout with class names, a fixed class list,
 * PNG and JPEG side by side, images of mixed sizes resized, files that are
 * no regular files, and the numbered layouts of before. Every image is
 * written here with libpng / libjpeg and its pixels known. */
#define _POSIX_C_SOURCE 200809L
#include "image_util.h"

#include <unistd.h>

/* A w x h RGB image whose pixels all differ from those of other tags. */
static void tagged(uint8_t *chw, int h, int w, int tag)
{
    iu_noise(chw, (size_t)3 * h * w, (uint32_t)tag * 7919u + 1u);
}

static void png_tagged(const char *path, int h, int w, int tag)
{
    uint8_t *px = malloc((size_t)3 * h * w);
    tagged(px, h, w, tag);
    iu_write_png(path, 3, h, w, px);
    free(px);
}

/* A JPEG's pixels as the loader gives them, for comparison. */
static uint8_t *jpeg_pixels(const char *path, int c, int *h, int *w)
{
    tc_error err;
    uint8_t *px = NULL;
    TCU_ASSERT_OK(tc_jpeg_load_any(path, c, &px, h, w, &err), &err);
    return px;
}

static void jpeg_tagged(const char *path, int h, int w, int tag)
{
    uint8_t *px = malloc((size_t)3 * h * w);
    tagged(px, h, w, tag);
    iu_write_jpeg(path, 3, h, w, px, 90);
    free(px);
}

/* ROOT/train/{ant,bee,cat,dog} (bee empty; cat has a sub-folder), PNG and
 * JPEG with names in every case, plus files the loader must skip. */
static const char *make_named_set(void)
{
    iu_mkdir(iu_path("named"));
    iu_mkdir(iu_path("named/train"));
    const char *cls[4] = {"dog", "cat", "bee", "ant"};
    for (int i = 0; i < 4; i++)
        iu_mkdir(iu_path("named/train/%s", cls[i]));
    png_tagged(iu_path("named/train/dog/d10.png"), 4, 4, 1);
    png_tagged(iu_path("named/train/dog/d9.PNG"), 4, 4, 2);
    jpeg_tagged(iu_path("named/train/dog/d11.JPG"), 4, 4, 3);
    jpeg_tagged(iu_path("named/train/ant/a.jpeg"), 4, 4, 4);
    png_tagged(iu_path("named/train/cat/c1.png"), 4, 4, 5);
    iu_mkdir(iu_path("named/train/cat/more"));
    jpeg_tagged(iu_path("named/train/cat/more/c0.Jpeg"), 4, 4, 6);
    iu_write(iu_path("named/train/cat/notes.txt"), "x", 1);
    iu_write(iu_path("named/train/dog/.hidden.png"), "x", 1);
    iu_mkdir(iu_path("named/train/.cache"));
    return iu_path("named");
}

static void expect_png_at(const tc_dataset *ds, int64_t i, int tag)
{
    size_t per = (size_t)ds->channels * ds->height * ds->width;
    uint8_t want[3 * 4 * 4];
    tagged(want, 4, 4, tag);
    CU_ASSERT_EQUAL(memcmp(ds->pixels + (size_t)i * per, want, per), 0);
}

static void expect_jpeg_at(const tc_dataset *ds, int64_t i, const char *path)
{
    int h, w;
    uint8_t *want = jpeg_pixels(path, ds->channels, &h, &w);
    size_t per = (size_t)ds->channels * ds->height * ds->width;
    CU_ASSERT_EQUAL(memcmp(ds->pixels + (size_t)i * per, want, per), 0);
    free(want);
}

static void test_class_names(void)
{
    const char *root = make_named_set();
    tc_error err;
    tc_dataset ds;
    tc_data_options opt = {.channels = 3, .height = 4, .width = 4};
    TCU_ASSERT_OK(tc_dataset_load_with(root, "train", &opt, &ds, &err), &err);
    /* classes sorted by name, the empty one kept: ant bee cat dog */
    CU_ASSERT_EQUAL_FATAL(ds.n_classes, 4);
    const char *names[4] = {"ant", "bee", "cat", "dog"};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_STRING_EQUAL(ds.class_names[i], names[i]);
    /* ant/a, cat/c1, cat/more/c0, dog/d9, dog/d10, dog/d11 */
    CU_ASSERT_EQUAL_FATAL(ds.count, 6);
    const uint8_t labels[6] = {0, 2, 2, 3, 3, 3};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(ds.labels[i], labels[i]);
    expect_jpeg_at(&ds, 0, iu_path("named/train/ant/a.jpeg"));
    expect_png_at(&ds, 1, 5);
    expect_jpeg_at(&ds, 2, iu_path("named/train/cat/more/c0.Jpeg"));
    expect_png_at(&ds, 3, 2);
    expect_png_at(&ds, 4, 1);
    expect_jpeg_at(&ds, 5, iu_path("named/train/dog/d11.JPG"));

    /* a subset keeps the names; freeing frees them (ASan/valgrind see it) */
    tc_dataset sub;
    int64_t pick[2] = {5, 0};
    TCU_ASSERT_OK(tc_dataset_subset(&ds, pick, 2, &sub, &err), &err);
    CU_ASSERT_EQUAL(sub.count, 2);
    CU_ASSERT_EQUAL(sub.labels[0], 3);
    CU_ASSERT_EQUAL(sub.labels[1], 0);
    CU_ASSERT_EQUAL(sub.n_classes, 4);
    CU_ASSERT_STRING_EQUAL(sub.class_names[3], "dog");
    CU_ASSERT_EQUAL(memcmp(sub.pixels, ds.pixels + 5 * 48, 48), 0);
    /* every image's file, in load order, and the subset's picked ones */
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds.paths);
    CU_ASSERT_STRING_EQUAL(ds.paths[0], iu_path("named/train/ant/a.jpeg"));
    CU_ASSERT_STRING_EQUAL(ds.paths[2], iu_path("named/train/cat/more/c0.Jpeg"));
    CU_ASSERT_STRING_EQUAL(ds.paths[5], iu_path("named/train/dog/d11.JPG"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sub.paths);
    CU_ASSERT_STRING_EQUAL(sub.paths[0], ds.paths[5]);
    CU_ASSERT_STRING_EQUAL(sub.paths[1], ds.paths[0]);
    int64_t bad = 6;
    tc_dataset none;
    TCU_ASSERT_FAILS_WITH(tc_dataset_subset(&ds, &bad, 1, &none, &err), &err,
                          "index 6 (entry 0) is outside the 6 images");
    tc_dataset_free(&sub);
    CU_ASSERT_PTR_NULL(sub.class_names);
    CU_ASSERT_EQUAL(sub.n_classes, 0);
    tc_dataset_free(&ds);

    /* gray works on the same files */
    opt.channels = 1;
    TCU_ASSERT_OK(tc_image_folder_load(iu_path("named/train"), &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 6);
    expect_jpeg_at(&ds, 5, iu_path("named/train/dog/d11.JPG"));
    tc_dataset_free(&ds);

    /* a val split is just another folder */
    iu_mkdir(iu_path("named/val"));
    iu_mkdir(iu_path("named/val/cat"));
    png_tagged(iu_path("named/val/cat/v.png"), 4, 4, 9);
    opt.channels = 3;
    TCU_ASSERT_OK(tc_dataset_load_with(root, "val", &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 1);
    CU_ASSERT_EQUAL(ds.labels[0], 0); /* alone, cat is class 0 of val ... */
    tc_dataset_free(&ds);
    /* ... which is why val and test are loaded with train's class list */
    opt.class_names = names;
    opt.n_class_names = 4;
    TCU_ASSERT_OK(tc_dataset_load_with(root, "val", &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.labels[0], 2);
    CU_ASSERT_EQUAL(ds.n_classes, 4);
    tc_dataset_free(&ds);
    tcu_assert_load_fails(root, "test", &opt, "and an image folder");
}

static void test_fixed_class_list(void)
{
    const char *root = iu_path("named"); /* made by test_class_names */
    tc_error err;
    tc_dataset ds;
    const char *order[5] = {"dog", "cat", "eel", "ant", "bee"};
    tc_data_options opt = {.channels = 3, .height = 4, .width = 4, .class_names = order,
                           .n_class_names = 5};
    TCU_ASSERT_OK(tc_dataset_load_with(root, "train", &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.n_classes, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_STRING_EQUAL(ds.class_names[i], order[i]);
    /* labels follow the list; images come class by class in its order */
    const uint8_t labels[6] = {0, 0, 0, 1, 1, 3};
    CU_ASSERT_EQUAL_FATAL(ds.count, 6);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(ds.labels[i], labels[i]);
    expect_png_at(&ds, 0, 2); /* dog/d9 */
    tc_dataset_free(&ds);

    /* a folder the list does not know */
    opt.n_class_names = 3; /* dog cat eel */
    TCU_ASSERT_FAILS_WITH(tc_dataset_load_with(root, "train", &opt, &ds, &err), &err,
                          "named/train/ant: 'ant' is not one of the 3 classes of the class list");
    CU_ASSERT_PTR_NULL(ds.pixels);
    /* broken lists */
    const char *dup[3] = {"dog", "cat", "dog"};
    opt.class_names = dup;
    tcu_assert_load_fails(root, "train", &opt, "'dog' appears twice (classes 0 and 2)");
    const char *empty[2] = {"dog", ""};
    opt.class_names = empty;
    opt.n_class_names = 2;
    tcu_assert_load_fails(root, "train", &opt, "class 1 of the class list: '' is no folder name");
    opt.class_names = NULL;
    tcu_assert_load_fails(root, "train", &opt, "given without the names");
    opt.n_class_names = 257;
    tcu_assert_load_fails(root, "train", &opt, "at most 256");

    /* numbered folders under a list: looked up by name, not by number */
    iu_mkdir(iu_path("numlist"));
    iu_mkdir(iu_path("numlist/7"));
    iu_mkdir(iu_path("numlist/2"));
    png_tagged(iu_path("numlist/7/a.png"), 4, 4, 1);
    png_tagged(iu_path("numlist/2/a.png"), 4, 4, 2);
    const char *nums[2] = {"7", "2"};
    opt.class_names = nums;
    opt.n_class_names = 2;
    TCU_ASSERT_OK(tc_image_folder_load(iu_path("numlist"), &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.count, 2);
    CU_ASSERT_EQUAL(ds.labels[0], 0);
    expect_png_at(&ds, 0, 1);
    CU_ASSERT_EQUAL(ds.labels[1], 1);
    tc_dataset_free(&ds);
    /* without a list: the numbers, and no names */
    opt.class_names = NULL;
    opt.n_class_names = 0;
    TCU_ASSERT_OK(tc_image_folder_load(iu_path("numlist"), &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.labels[0], 2);
    CU_ASSERT_EQUAL(ds.labels[1], 7);
    CU_ASSERT_EQUAL(ds.n_classes, 0);
    CU_ASSERT_PTR_NULL(ds.class_names);
    tc_dataset_free(&ds);
}

static void test_layout_errors(void)
{
    tc_error err;
    tc_dataset ds;
    tc_data_options opt = {.channels = 3, .height = 4, .width = 4};
    iu_mkdir(iu_path("mixed"));
    iu_mkdir(iu_path("mixed/3"));
    iu_mkdir(iu_path("mixed/cat"));
    png_tagged(iu_path("mixed/3/a.png"), 4, 4, 1);
    png_tagged(iu_path("mixed/cat/a.png"), 4, 4, 2);
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("mixed"), &opt, &ds, &err), &err,
                          "mixed/cat: folder name is not a label 0..255, but");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mixed/3 is"));

    /* a FIFO named like an image: refused by name, never opened */
    iu_mkdir(iu_path("fifo"));
    iu_mkdir(iu_path("fifo/cat"));
    png_tagged(iu_path("fifo/cat/a.png"), 4, 4, 1);
    CU_ASSERT_EQUAL_FATAL(mkfifo(iu_path("fifo/cat/x.png"), 0644), 0);
    CU_ASSERT_EQUAL_FATAL(mkfifo(iu_path("fifo/cat/pipe.txt"), 0644), 0); /* not an image: skipped */
    alarm(20);
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("fifo"), &opt, &ds, &err), &err,
                          "fifo/cat/x.png: is a FIFO, not a regular file");
    alarm(0);
    unlink(iu_path("fifo/cat/x.png"));
    TCU_ASSERT_OK(tc_image_folder_load(iu_path("fifo"), &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.count, 1);
    tc_dataset_free(&ds);

    /* a symbolic link loop below a class folder */
    CU_ASSERT_EQUAL_FATAL(symlink(".", iu_path("fifo/cat/loop")), 0);
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("fifo"), &opt, &ds, &err), &err,
                          "nested more than 8 deep");
    unlink(iu_path("fifo/cat/loop"));

    /* more classes than one byte labels */
    iu_mkdir(iu_path("many"));
    for (int i = 0; i < 257; i++)
        iu_mkdir(iu_path("many/c%03d", i));
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("many"), &opt, &ds, &err), &err,
                          "257 class folders; at most 256");

    /* only JPEG-named garbage: the file is named */
    iu_mkdir(iu_path("junk"));
    iu_mkdir(iu_path("junk/cat"));
    iu_write(iu_path("junk/cat/a.jpg"), "GIF89a", 6);
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("junk"), &opt, &ds, &err), &err,
                          "junk/cat/a.jpg: neither a PNG nor a JPEG");
    /* nothing at all */
    iu_mkdir(iu_path("void"));
    iu_mkdir(iu_path("void/cat"));
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("void"), &opt, &ds, &err), &err,
                          "no images");
    /* a flat JPEG file */
    iu_mkdir(iu_path("flat"));
    jpeg_tagged(iu_path("flat/idx-3-label-2.jpg"), 4, 4, 1);
    png_tagged(iu_path("flat/idx-1-label-5.png"), 4, 4, 2);
    TCU_ASSERT_OK(tc_image_folder_load(iu_path("flat"), &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.count, 2);
    CU_ASSERT_EQUAL(ds.labels[0], 5);
    CU_ASSERT_EQUAL(ds.labels[1], 2);
    expect_jpeg_at(&ds, 1, iu_path("flat/idx-3-label-2.jpg"));
    tc_dataset_free(&ds);
    const char *six[6] = {"a", "b", "c", "d", "e", "f"};
    opt.class_names = six;
    opt.n_class_names = 6;
    TCU_ASSERT_OK(tc_image_folder_load(iu_path("flat"), &opt, &ds, &err), &err);
    CU_ASSERT_EQUAL(ds.n_classes, 6);
    CU_ASSERT_STRING_EQUAL(ds.class_names[5], "f");
    tc_dataset_free(&ds);
    opt.n_class_names = 2; /* labels 2 and 5 both out: idx-1's comes first */
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("flat"), &opt, &ds, &err), &err,
                          "flat/idx-1-label-5.png: label 5 is beyond the 2 classes of the class list");
}

/* Mixed sizes: an error naming the file by default; resized when asked. */
static void test_mixed_sizes(void)
{
    iu_mkdir(iu_path("sizes"));
    iu_mkdir(iu_path("sizes/a"));
    iu_mkdir(iu_path("sizes/b"));
    png_tagged(iu_path("sizes/a/0.png"), 8, 8, 1);
    png_tagged(iu_path("sizes/a/1.png"), 10, 16, 2);
    jpeg_tagged(iu_path("sizes/b/2.jpg"), 20, 12, 3);
    tc_error err;
    tc_dataset ds;
    tc_data_options opt = {.channels = 3, .height = 8, .width = 8};
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("sizes"), &opt, &ds, &err), &err,
                          "sizes/a/1.png: image is 10x16 (height x width) but 8x8 was expected");
    const tc_resize_mode modes[2] = {TC_RESIZE_STRETCH, TC_RESIZE_CROP};
    const char *files[3] = {"sizes/a/0.png", "sizes/a/1.png", "sizes/b/2.jpg"};
    for (int m = 0; m < 2; m++) {
        opt.resize = modes[m];
        opt.resize_size = m ? 9 : 0;
        TCU_ASSERT_OK(tc_image_folder_load(iu_path("sizes"), &opt, &ds, &err), &err);
        CU_ASSERT_EQUAL_FATAL(ds.count, 3);
        for (int i = 0; i < 3; i++) {
            uint8_t *px, want[3 * 8 * 8];
            int h, w;
            TCU_ASSERT_OK(tc_image_load_any(iu_path("%s", files[i]), 3, &px, &h, &w, &err),
                          &err);
            TCU_ASSERT_OK(tc_image_fit(px, 3, h, w, opt.resize, opt.resize_size, want, 8, 8,
                                       NULL, &err),
                          &err);
            CU_ASSERT_EQUAL(memcmp(ds.pixels + i * 192, want, 192), 0);
            free(px);
        }
        tc_dataset_free(&ds);
    }
    opt.resize_size = 7; /* cannot hold an 8x8 crop */
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("sizes"), &opt, &ds, &err), &err,
                          "resize size 7");
    opt.resize = (tc_resize_mode)9;
    TCU_ASSERT_FAILS_WITH(tc_image_folder_load(iu_path("sizes"), &opt, &ds, &err), &err,
                          "unknown resize mode 9");
}

/* MNIST through the same options: resized, and named by a class list. */
static void test_mnist_options(void)
{
    const char *digits[10] = {"zero", "one", "two",   "three", "four",
                              "five", "six", "seven", "eight", "nine"};
    tc_data_options opt = {.channels = 1, .height = 32, .width = 32,
                           .resize = TC_RESIZE_STRETCH, .class_names = digits,
                           .n_class_names = 10};
    tc_error err;
    tc_dataset ds, raw;
    TCU_ASSERT_OK(tc_dataset_load_with(tcu_data_dir(), "test", &opt, &ds, &err), &err);
    TCU_ASSERT_OK(tc_mnist_load(tcu_data_dir(), "test", &raw, &err), &err);
    CU_ASSERT_EQUAL(ds.count, raw.count);
    CU_ASSERT_EQUAL(ds.height, 32);
    CU_ASSERT_STRING_EQUAL(ds.class_names[7], "seven");
    uint8_t want[32 * 32];
    for (int64_t i = 0; i < raw.count; i += 997) {
        TCU_ASSERT_OK(tc_image_resize(raw.pixels + i * 784, 1, 28, 28, want, 32, 32, &err), &err);
        CU_ASSERT_EQUAL(memcmp(ds.pixels + i * 1024, want, 1024), 0);
        CU_ASSERT_EQUAL(ds.labels[i], raw.labels[i]);
    }
    tc_dataset_free(&ds);
    tc_dataset_free(&raw);
    /* too few names for the labels; wrong channel count; no resize */
    opt.n_class_names = 9;
    tcu_assert_load_fails(tcu_data_dir(), "test", &opt, "has label 9, beyond the 9 classes");
    opt.n_class_names = 10;
    opt.channels = 3;
    tcu_assert_load_fails(tcu_data_dir(), "test", &opt,
                          "images are 1x28x28 (channels x height x width) but 3x32x32");
    opt.channels = 1;
    opt.resize = TC_RESIZE_NONE;
    tcu_assert_load_fails(tcu_data_dir(), "test", &opt, "but 1x32x32 was asked for");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"class-name folders, PNG and JPEG", test_class_names},
        {"a fixed class list", test_fixed_class_list},
        {"layout errors, FIFO, loops", test_layout_errors},
        {"mixed sizes: error or resize", test_mixed_sizes},
        {"MNIST with resizing and names", test_mnist_options},
        {NULL, NULL},
    };
    return tcu_run("data folders", tests);
}
