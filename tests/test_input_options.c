/* The image input's "resize" and "classes" options in a model file: the
 * forms accepted, the errors (naming the file, the input and the value),
 * tc_session_data_options handing them to the data loaders, and
 * tc_graph_load_image fitting PNG and JPEG files of other sizes the way
 * the model asks. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_util.h"
#include "tinycnn/model.h"
#include "tinycnn/session.h"

/* A 3x32x32 (or `shape`) input with the options `opts`, and `classes`
 * outputs. */
static char *model_text(const char *shape, const char *opts, int classes)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"name\":\"opts\",\"inputs\":[{\"name\":\"image\",\"shape\":%s%s%s},"
             "{\"name\":\"label\",\"shape\":[],\"role\":\"label\"}],"
             "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]},"
             "{\"name\":\"fc\",\"type\":\"Linear\",\"inputs\":[\"flat\"],"
             "\"params\":{\"out_features\":%d}},"
             "{\"name\":\"loss\",\"type\":\"SoftmaxCrossEntropy\",\"inputs\":[\"fc\",\"label\"]}],"
             "\"output\":\"fc\",\"loss\":\"loss\"}",
             shape, opts[0] ? "," : "", opts, classes);
    return buf;
}

static tc_graph *load_shape(const char *shape, const char *opts, int classes, tc_error *err)
{
    return tc_graph_load_string(tcu_registry(), model_text(shape, opts, classes), "opts.json",
                                err);
}

static tc_graph *load(const char *opts, tc_error *err)
{
    return load_shape("[3,32,32]", opts, 3, err);
}

static const tc_input_info *image_input(const tc_graph *g)
{
    return tc_graph_input(g, tc_graph_image_input(g));
}

/* Loads opts, which must succeed, and checks the resize it gives. */
static void check_resize(const char *opts, tc_resize_mode mode, int size)
{
    tc_error err = {{0}};
    tc_graph *g = load(opts, &err);
    if (!g)
        fprintf(stderr, "\n  %s: %s\n", opts, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(image_input(g)->resize, mode);
    CU_ASSERT_EQUAL(image_input(g)->resize_size, size);
    tc_graph_free(g);
}

static void test_resize_forms(void)
{
    check_resize("", TC_RESIZE_NONE, 0);
    check_resize("\"resize\":\"none\"", TC_RESIZE_NONE, 0);
    check_resize("\"resize\":\"stretch\"", TC_RESIZE_STRETCH, 0);
    check_resize("\"resize\":{\"mode\":\"stretch\"}", TC_RESIZE_STRETCH, 0);
    check_resize("\"resize\":\"crop\"", TC_RESIZE_CROP, 0);
    check_resize("\"resize\":{\"mode\":\"crop\",\"size\":36}", TC_RESIZE_CROP, 36);
    check_resize("\"resize\":{\"mode\":\"crop\",\"size\":32}", TC_RESIZE_CROP, 32);
}

/* Loading opts (with the input shape and class count given) fails with a
 * message holding the file, the input and every needle. */
static void check_refused(const char *shape, int classes, const char *opts, const char *n1,
                          const char *n2)
{
    tc_error err = {{0}};
    tc_graph *g = load_shape(shape, opts, classes, &err);
    CU_ASSERT_PTR_NULL(g);
    tc_graph_free(g);
    const char *needles[] = {"opts.json: input '", n1, n2};
    for (int k = 0; k < 3; k++)
        if (needles[k] && !strstr(err.msg, needles[k])) {
            fprintf(stderr, "\n  %s: expected '%s' in: %s\n", opts, needles[k], err.msg);
            CU_FAIL("message");
        }
}

static void test_resize_errors(void)
{
    const char *img = "[3,32,32]";
    check_refused(img, 3, "\"resize\":\"zoom\"", "image': \"resize\" must be", "\"zoom\"");
    check_refused(img, 3, "\"resize\":3", "\"resize\" must be", "got 3");
    check_refused(img, 3, "\"resize\":{\"size\":40}", "\"resize\" must be", "got nothing");
    check_refused(img, 3, "\"resize\":{\"mode\":\"crop\",\"sise\":40}", "unknown key 'sise'",
                  "mode, size");
    check_refused(img, 3, "\"resize\":{\"mode\":\"crop\",\"size\":31}",
                  "\"size\" must be an integer from 32", "got 31");
    check_refused("[3,20,40]", 3, "\"resize\":{\"mode\":\"crop\",\"size\":39}",
                  "from 40 (the larger of height and width)", "got 39");
    check_refused(img, 3, "\"resize\":{\"mode\":\"crop\",\"size\":36.5}", "an integer",
                  "got 36.5");
    check_refused(img, 3, "\"resize\":{\"mode\":\"crop\",\"size\":20000}", "to 16384",
                  "got 20000");
    check_refused(img, 3, "\"resize\":{\"mode\":\"stretch\",\"size\":40}",
                  "\"size\" is for mode \"crop\" only", "\"stretch\"");
    check_refused("[96]", 3, "\"resize\":\"crop\"", "\"resize\" needs an image input",
                  "has 1 sizes");
    /* on the label input: the option belongs to the image */
    tc_error err = {{0}};
    const char *text =
        "{\"name\":\"opts\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4]},"
        "{\"name\":\"label\",\"shape\":[],\"role\":\"label\",\"resize\":\"stretch\"}],"
        "\"nodes\":[{\"name\":\"flat\",\"type\":\"Flatten\",\"inputs\":[\"image\"]}],"
        "\"output\":\"flat\"}";
    CU_ASSERT_PTR_NULL(tc_graph_load_string(tcu_registry(), text, "opts.json", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "opts.json: input 'label': \"resize\" is an option "
                                           "of the image input"));
}

static void test_classes(void)
{
    tc_error err = {{0}};
    tc_graph *g = tcu_graph_ok(load("\"classes\":[\"zebra\",\"cat\",\"dog\"]", &err), &err);
    const tc_input_info *in = image_input(g);
    CU_ASSERT_EQUAL_FATAL(in->n_class_names, 3);
    /* the file's order, not sorted */
    CU_ASSERT_STRING_EQUAL(in->class_names[0], "zebra");
    CU_ASSERT_STRING_EQUAL(in->class_names[2], "dog");
    tc_graph_free(g);

    const char *img = "[3,32,32]";
    check_refused(img, 3, "\"classes\":[\"cat\",\"dog\"]",
                  "\"classes\" lists 2 classes but the model opts has 3", "output 'fc'");
    check_refused(img, 1, "\"classes\":[\"cat\",\"dog\"]", "lists 2 classes", "has 1");
    check_refused(img, 3, "\"classes\":[\"cat\",\"dog\",\"cat\"]",
                  "\"classes\"[2]: class 'cat' is listed twice", NULL);
    check_refused(img, 3, "\"classes\":[\"cat\",\"\",\"dog\"]", "\"classes\"[1] must be a "
                  "non-empty string", NULL);
    check_refused(img, 3, "\"classes\":[\"cat\",7,\"dog\"]", "\"classes\"[1]", NULL);
    check_refused(img, 3, "\"classes\":[]", "\"classes\" must be an array of 1 to 256", NULL);
    check_refused(img, 3, "\"classes\":\"cat\"", "\"classes\" must be an array", NULL);
}

static void test_session_data_options(void)
{
    tc_error err = {{0}};
    tc_graph *g = load("\"resize\":{\"mode\":\"crop\",\"size\":40},"
                       "\"classes\":[\"red\",\"green\",\"blue\"]", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    tc_data_options opt;
    TCU_ASSERT_OK(tc_session_data_options(g, &opt, &err), &err);
    CU_ASSERT_EQUAL(opt.channels, 3);
    CU_ASSERT_EQUAL(opt.height, 32);
    CU_ASSERT_EQUAL(opt.width, 32);
    CU_ASSERT_EQUAL(opt.resize, TC_RESIZE_CROP);
    CU_ASSERT_EQUAL(opt.resize_size, 40);
    CU_ASSERT_EQUAL_FATAL(opt.n_class_names, 3);
    CU_ASSERT_STRING_EQUAL(opt.class_names[1], "green");
    tc_graph_free(g);

    /* without the options: the defaults (no resizing, classes from the data) */
    g = load("", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    TCU_ASSERT_OK(tc_session_data_options(g, &opt, &err), &err);
    CU_ASSERT_EQUAL(opt.resize, TC_RESIZE_NONE);
    CU_ASSERT_PTR_NULL(opt.class_names);
    CU_ASSERT_EQUAL(opt.n_class_names, 0);
    tc_graph_free(g);
}

/* A 40x80 RGB image: its left quarter red, the rest blue. */
#define SRC_H 40
#define SRC_W 80
static void quarter_red(uint8_t *chw)
{
    memset(chw, 0, 3 * SRC_H * SRC_W);
    for (int y = 0; y < SRC_H; y++)
        for (int x = 0; x < SRC_W; x++) {
            chw[(0 * SRC_H + y) * SRC_W + x] = x < SRC_W / 4 ? 255 : 0;
            chw[(2 * SRC_H + y) * SRC_W + x] = x < SRC_W / 4 ? 0 : 255;
        }
}

#define PX(img, c, y, x) ((img)[((c) * 32 + (y)) * 32 + (x)])

static void load_image(const char *opts, const char *path, uint8_t *out)
{
    tc_error err = {{0}};
    tc_graph *g = load(opts, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    TCU_ASSERT_OK(tc_graph_load_image(g, path, out, 3 * 32 * 32, &err), &err);
    tc_graph_free(g);
}

static void test_load_image(void)
{
    uint8_t src[3 * SRC_H * SRC_W], out[3 * 32 * 32], want[3 * 32 * 32];
    quarter_red(src);
    const char *png = iu_path("wide.png"), *jpg = iu_path("wide.jpg");
    iu_write_png(png, 3, SRC_H, SRC_W, src);
    iu_write_jpeg(jpg, 3, SRC_H, SRC_W, src, 95);

    /* stretch: the red quarter stays the left quarter (8 columns) */
    load_image("\"resize\":\"stretch\"", png, out);
    CU_ASSERT(PX(out, 0, 16, 2) > 240 && PX(out, 2, 16, 2) < 15);
    CU_ASSERT(PX(out, 0, 16, 20) < 15 && PX(out, 2, 16, 20) > 240);
    /* crop: scaled to 32x64, the centre 32 columns are 16..47, all blue */
    load_image("\"resize\":\"crop\"", png, out);
    CU_ASSERT(PX(out, 0, 16, 4) < 15 && PX(out, 2, 16, 4) > 240);
    CU_ASSERT(PX(out, 0, 0, 31) < 15 && PX(out, 2, 31, 31) > 240);
    /* the size is used: the same as the library's fit with that size */
    load_image("\"resize\":{\"mode\":\"crop\",\"size\":48}", png, out);
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_image_fit(src, 3, SRC_H, SRC_W, TC_RESIZE_CROP, 48, want, 32, 32, NULL,
                               &err), &err);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof out), 0);
    TCU_ASSERT_OK(tc_image_fit(src, 3, SRC_H, SRC_W, TC_RESIZE_CROP, 0, want, 32, 32, NULL,
                               &err), &err);
    CU_ASSERT_NOT_EQUAL(memcmp(out, want, sizeof out), 0);
    /* JPEG the same way (lossy: colours close) */
    load_image("\"resize\":\"stretch\"", jpg, out);
    CU_ASSERT(PX(out, 0, 16, 2) > 200 && PX(out, 2, 16, 2) < 50);
    CU_ASSERT(PX(out, 0, 16, 20) < 50 && PX(out, 2, 16, 20) > 200);

    /* no "resize": another size is an error naming the file and both sizes */
    tc_graph *g = load("", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    TCU_ASSERT_FAILS_WITH(tc_graph_load_image(g, jpg, out, sizeof out, &err), &err, jpg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "40x80"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "32x32"));
    /* too small a buffer is refused, not overrun */
    TCU_ASSERT_FAILS_WITH(tc_graph_load_image(g, png, out, sizeof out - 1, &err), &err,
                          "bytes of room");
    tc_graph_free(g);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"resize: the accepted forms", test_resize_forms},
        {"resize: refused values name the file, input and value", test_resize_errors},
        {"classes: the file's order; count and names checked", test_classes},
        {"tc_session_data_options takes both", test_session_data_options},
        {"tc_graph_load_image resizes as the model asks", test_load_image},
        {NULL, NULL},
    };
    return tcu_run("input_options", tests);
}
