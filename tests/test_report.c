/* tinycnn report, looked at as a person would: a tiny model trained for 3
 * epochs on a data set drawn here (lines of three orientations, with a few
 * test images filed under the wrong class so that mistakes exist), its
 * report written by the runner, the files checked against what they show
 * (one curve point per epoch, each mistake tile the test image it names),
 * and the page rendered in headless Chromium: no console message, no
 * request, a screenshot that is not blank. Chromium missing is a failure. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "image_util.h"
#include "testutil.h"

#define BIN TC_TEST_BINARY_DIR "/bin/tinycnn"
#define SIDE 12
#define EPOCHS 3
static const char *const classes[3] = {"diagonal", "horizontal", "vertical"};

/* ---- the data set and the trained model ------------------------------ */

/* A line of class k through a noisy background; `v` varies its place. */
static void draw(int k, int v, uint32_t seed, uint8_t *px)
{
    iu_noise(px, SIDE * SIDE, seed);
    for (int i = 0; i < SIDE * SIDE; i++)
        px[i] = (uint8_t)(px[i] / 5);
    int at = 2 + v % (SIDE - 4);
    for (int t = 0; t < SIDE; t++) {
        int y = k == 1 ? at : t, x = k == 2 ? at : k == 1 ? t : (t + at) % SIDE;
        px[y * SIDE + x] = 255;
        if (k != 0)
            px[(k == 1 ? y + 1 : y) * SIDE + (k == 2 ? x + 1 : x)] = 230;
    }
}

/* test image i of class k is filed under class (k + 1) % 3 when i % 7 == 3 */
static void make_split(const char *split, int per_class, int mislabel)
{
    iu_mkdir(iu_path("data/%s", split));
    for (int k = 0; k < 3; k++)
        iu_mkdir(iu_path("data/%s/%s", split, classes[k]));
    uint8_t px[SIDE * SIDE];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < per_class; i++) {
            draw(k, i, (uint32_t)(k * 1000 + i + (mislabel ? 500 : 0)), px);
            int filed = mislabel && i % 7 == 3 ? (k + 1) % 3 : k;
            iu_write_png(iu_path("data/%s/%s/%c%03d.png", split, classes[filed], 'a' + k, i), 1,
                         SIDE, SIDE, px);
        }
}

static const char model_json[] =
    "{\"name\": \"lines\", \"inputs\": [{\"name\": \"image\", \"shape\": [1, 12, 12]},"
    " {\"name\": \"label\", \"shape\": [], \"role\": \"label\"}],"
    " \"nodes\": ["
    "  {\"name\": \"conv\", \"type\": \"Conv2d\", \"inputs\": [\"image\"],"
    "   \"params\": {\"out_channels\": 4, \"kernel_size\": 3, \"padding\": 1}},"
    "  {\"name\": \"relu\", \"type\": \"ReLU\", \"inputs\": [\"conv\"]},"
    "  {\"name\": \"pool\", \"type\": \"MaxPool2d\", \"inputs\": [\"relu\"],"
    "   \"params\": {\"kernel_size\": 2, \"stride\": 2}},"
    "  {\"name\": \"flat\", \"type\": \"Flatten\", \"inputs\": [\"pool\"]},"
    "  {\"name\": \"fc\", \"type\": \"Linear\", \"inputs\": [\"flat\"],"
    "   \"params\": {\"out_features\": 3}},"
    "  {\"name\": \"loss\", \"type\": \"SoftmaxCrossEntropy\", \"inputs\": [\"fc\", \"label\"]}],"
    " \"output\": \"fc\", \"loss\": \"loss\","
    " \"training\": {\"batch_size\": 16, \"lr\": 0.01, \"lr_schedule\": \"cosine\"}}";

/* Trains once and writes the report into tmp/report; 0 when all went well. */
static int prepared(void)
{
    static int state = -1;
    if (state >= 0)
        return state;
    iu_mkdir(iu_path("data"));
    make_split("train", 40, 0);
    make_split("test", 28, 1);
    const char *model = tcu_write_file("lines.json", model_json, strlen(model_json));
    char *out = NULL;
    int rc = tcu_shell(&out, "'%s' train '%s' --data '%s' --epochs %d --threads 1 -o '%s' 2>&1",
                       BIN, model, iu_path("data"), EPOCHS, iu_path("lines.ckpt"));
    if (rc == 0) {
        free(out);
        rc = tcu_shell(&out, "'%s' report '%s' --data '%s' -o '%s' 2>&1", BIN,
                       iu_path("lines.ckpt"), iu_path("data"), iu_path("report"));
    }
    if (rc != 0)
        fprintf(stderr, "\n  training or report failed (%d):\n%s\n", rc, out);
    free(out);
    state = rc == 0 ? 0 : 1;
    return state;
}

/* ---- reading what was written ---------------------------------------- */

static char *slurp_text(const char *path)
{
    size_t n;
    uint8_t *b = iu_read(path, &n);
    b[n] = 0;
    return (char *)b;
}

/* RGB pixels of a PNG (libpng's simplified API); NULL if it does not decode. */
static uint8_t *decode_png(const char *path, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return NULL;
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    if (!px || !png_image_finish_read(&im, NULL, px, 0, NULL)) {
        free(px);
        png_image_free(&im);
        return NULL;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    return px;
}

/* The "x,y" pairs of a points attribute (up to its closing quote). */
static int count_points(const char *points)
{
    int n = 0;
    for (const char *p = points; *p && *p != '"'; p++)
        n += *p == ',';
    return n;
}

static void test_curves(void)
{
    CU_ASSERT_FATAL(prepared() == 0);
    char *svg = slurp_text(iu_path("report/curves.svg"));
    const char *want[] = {"loss", "train accuracy", "test accuracy", "lr"};
    int found = 0;
    for (const char *p = svg; (p = strstr(p, "<polyline class=\"series\"")); p++) {
        const char *name = strstr(p, "data-series=\""), *pts = strstr(p, "points=\"");
        CU_ASSERT_FATAL(name && pts);
        int points = count_points(pts + 8);
        if (points != EPOCHS)
            fprintf(stderr, "\n  series at '%.40s': %d points, %d epochs\n", name, points,
                    EPOCHS);
        CU_ASSERT_EQUAL(points, EPOCHS);
        for (int k = 0; k < 4; k++) {
            size_t len = strlen(want[k]);
            if (strncmp(name + 13, want[k], len) == 0 && name[13 + len] == '"')
                found |= 1 << k;
        }
    }
    CU_ASSERT_EQUAL(found, 15); /* every series, each once or more */
    free(svg);
}

/* ---- mistakes.png against mistakes.json and the test split ----------- */

static void load_test_split(tc_dataset *ds)
{
    tc_data_options opt = {.channels = 1, .height = SIDE, .width = SIDE};
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_dataset_load_with(iu_path("data"), "test", &opt, ds, &err), &err);
}

/* 1 when the tile at (x, y) is image `index` scaled `scale` times. */
static int tile_matches(const uint8_t *png, int pw, const tc_dataset *ds, int64_t index, int x,
                        int y, int scale)
{
    const uint8_t *img = ds->pixels + index * SIDE * SIDE;
    for (int ty = 0; ty < SIDE * scale; ty++)
        for (int tx = 0; tx < SIDE * scale; tx++) {
            const uint8_t *p = png + ((size_t)(y + ty) * pw + (size_t)(x + tx)) * 3;
            uint8_t v = img[(ty / scale) * SIDE + tx / scale];
            if (p[0] != v || p[1] != v || p[2] != v)
                return 0;
        }
    return 1;
}

/* The misclassified count, from `tinycnn eval --json`: an independent pass. */
static int64_t eval_mistakes(void)
{
    char *out = NULL;
    int rc = tcu_shell(&out, "'%s' eval '%s' --data '%s' --json 2>&1", BIN,
                       iu_path("lines.ckpt"), iu_path("data"));
    CU_ASSERT_EQUAL(rc, 0);
    json_t *o = json_loads(out, 0, NULL);
    free(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    int64_t n = json_integer_value(json_object_get(o, "total")) -
                json_integer_value(json_object_get(o, "correct"));
    json_decref(o);
    return n;
}

static void check_tile(const json_t *e, const uint8_t *png, int pw, const tc_dataset *ds,
                       int scale, int *matched)
{
    int64_t index = json_integer_value(json_object_get(e, "index"));
    int truth = (int)json_integer_value(json_object_get(e, "true"));
    int pred = (int)json_integer_value(json_object_get(e, "predicted"));
    CU_ASSERT_FATAL(index >= 0 && index < ds->count);
    CU_ASSERT_EQUAL(truth, ds->labels[index]);
    CU_ASSERT_NOT_EQUAL(truth, pred);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "true_name")), classes[truth]);
    int ok = tile_matches(png, pw, ds, index, (int)json_integer_value(json_object_get(e, "x")),
                          (int)json_integer_value(json_object_get(e, "y")), scale);
    if (!ok)
        fprintf(stderr, "\n  tile of test image %lld does not show it\n", (long long)index);
    *matched += ok;
}

static void test_mistakes(void)
{
    CU_ASSERT_FATAL(prepared() == 0);
    char *text = slurp_text(iu_path("report/mistakes.json"));
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    json_t *list = json_object_get(o, "mistakes");
    int scale = (int)json_integer_value(json_object_get(o, "scale"));
    int w, h, matched = 0;
    uint8_t *png = decode_png(iu_path("report/mistakes.png"), &w, &h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(png);
    tc_dataset ds;
    load_test_split(&ds);
    int64_t wrong = eval_mistakes();
    CU_ASSERT(wrong >= 1); /* 12 test images are filed under another class */
    CU_ASSERT_EQUAL((int64_t)json_array_size(list), wrong < 32 ? wrong : 32);
    size_t i;
    json_t *e;
    double last = 2.0;
    json_array_foreach(list, i, e) {
        check_tile(e, png, w, &ds, scale, &matched);
        double p = json_real_value(json_object_get(e, "probability"));
        CU_ASSERT(p <= last); /* most confident first */
        last = p;
    }
    CU_ASSERT_EQUAL((size_t)matched, json_array_size(list));
    int cols = (int)json_integer_value(json_object_get(o, "columns"));
    int rows = (int)((json_array_size(list) + (size_t)cols - 1) / (size_t)cols);
    int gap = (int)json_integer_value(json_object_get(o, "gap"));
    CU_ASSERT_EQUAL(w, gap + cols * (SIDE * scale + gap));
    CU_ASSERT_EQUAL(h, gap + rows * (SIDE * scale + gap));
    free(png);
    tc_dataset_free(&ds);
    json_decref(o);
}

/* ---- the other pictures ---------------------------------------------- */

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_confusion_and_graph(void)
{
    CU_ASSERT_FATAL(prepared() == 0);
    char *svg = slurp_text(iu_path("report/confusion.svg"));
    CU_ASSERT_EQUAL(count_of(svg, "class=\"cell\""), 9);
    for (int k = 0; k < 3; k++)
        CU_ASSERT(count_of(svg, classes[k]) >= 2); /* row and column labels */
    free(svg);
    svg = slurp_text(iu_path("report/graph.svg"));
    /* 2 inputs + 6 nodes; edges: one per node input (conv 1 ... loss 2) */
    CU_ASSERT_EQUAL(count_of(svg, "<g class=\"node\">"), 8);
    CU_ASSERT_EQUAL(count_of(svg, "class=\"edge\""), 7);
    free(svg);
    char *html = slurp_text(iu_path("report/index.html"));
    CU_ASSERT(strstr(html, "<table class=\"summary\">") != NULL);
    CU_ASSERT(strstr(html, "data:image/png;base64,") != NULL);
    free(html);
}

/* The checkpoint's summary, and what the command refuses. */
static void test_command_edges(void)
{
    CU_ASSERT_FATAL(prepared() == 0);
    /* each command: its exit status and a text its output must hold */
    struct {
        int want;
        const char *needle;
        char args[3000];
    } c[] = {
        {0, "total: 475 weights, 0 state elements", ""}, /* conv 4*1*3*3 + 4, fc 4*6*6*3 + 3 */
        {2, "missing -o DIR", ""},
        {1, "lines.json: cannot make the report folder: it is a file", ""},
        {1, "nothing.ckpt", ""},
    };
    snprintf(c[0].args, sizeof c[0].args, "summary '%s'", iu_path("lines.ckpt"));
    snprintf(c[1].args, sizeof c[1].args, "report '%s' --data '%s'", iu_path("lines.ckpt"),
             iu_path("data"));
    snprintf(c[2].args, sizeof c[2].args, "report '%s' --data '%s' -o '%s'",
             iu_path("lines.ckpt"), iu_path("data"), iu_path("lines.json"));
    snprintf(c[3].args, sizeof c[3].args, "report '%s' -o '%s'", iu_path("nothing.ckpt"),
             iu_path("r2"));
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *out = NULL;
        CU_ASSERT_EQUAL(tcu_tinycnn(&out, "%s", c[i].args), c[i].want);
        CU_ASSERT(strstr(out, c[i].needle) != NULL);
        free(out);
    }
}

/* ---- in the browser ---------------------------------------------------*/

typedef struct page_check {
    int console;   /* console messages (the page has no script: any is an error) */
    int requests;  /* network requests the page made */
    int colours;   /* distinct colours of the screenshot */
    double inked;  /* share of its pixels that are not white */
} page_check;

/* Requests the page made: URL_REQUEST_START_JOB events of the net log
 * whose initiator is the page (the browser's own background requests have
 * "not an origin"). */
static int page_requests(const char *netlog)
{
    json_t *o = json_load_file(netlog, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    json_t *types = json_object_get(json_object_get(o, "constants"), "logEventTypes");
    json_int_t start = json_integer_value(json_object_get(types, "URL_REQUEST_START_JOB"));
    CU_ASSERT_FATAL(start > 0);
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(json_object_get(o, "events"), i, e) {
        if (json_integer_value(json_object_get(e, "type")) != start)
            continue;
        json_t *p = json_object_get(e, "params");
        const char *who = json_string_value(json_object_get(p, "initiator"));
        if (who && strcmp(who, "not an origin") != 0) {
            fprintf(stderr, "\n  the page requested %s\n",
                    json_string_value(json_object_get(p, "url")));
            n++;
        }
    }
    json_decref(o);
    return n;
}

static void screenshot_stats(const char *path, page_check *c)
{
    int w, h;
    uint8_t *px = decode_png(path, &w, &h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(px);
    static uint8_t seen[1 << 21]; /* colours quantised to 7 bits a channel */
    memset(seen, 0, sizeof seen);
    int64_t inked = 0;
    for (int64_t i = 0; i < (int64_t)w * h; i++) {
        const uint8_t *p = px + i * 3;
        unsigned q = (unsigned)(p[0] >> 1) << 14 | (unsigned)(p[1] >> 1) << 7 | (p[2] >> 1);
        c->colours += !seen[q];
        seen[q] = 1;
        inked += p[0] < 250 || p[1] < 250 || p[2] < 250;
    }
    c->inked = (double)inked / ((double)w * h);
    free(px);
}

/* Renders page in headless Chromium with its console on stderr and a net
 * log; fresh profile, the browser's background services off. */
static void render(const char *page, const char *tag, page_check *c)
{
    memset(c, 0, sizeof c[0]);
    char *out = NULL;
    int rc = tcu_shell(&out, "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
                             "--no-first-run --disable-background-networking "
                             "--disable-component-update --disable-sync --disable-default-apps "
                             "--disable-extensions --user-data-dir='%s' --enable-logging=stderr "
                             "--v=0 --log-net-log='%s' --window-size=1280,2000 "
                             "--screenshot='%s' 'file://%s' 2>&1",
                       iu_path("chrome-%s", tag), iu_path("net-%s.json", tag),
                       iu_path("shot-%s.png", tag), page);
    if (rc != 0)
        fprintf(stderr, "\n  chromium failed (%d):\n%s\n", rc, out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    for (const char *p = out; (p = strstr(p, ":CONSOLE")); p++) {
        const char *eol = strchr(p, '\n');
        fprintf(stderr, "\n  console (%s): %.*s\n", tag, eol ? (int)(eol - p) : 200, p);
        c->console++;
    }
    free(out);
    c->requests = page_requests(iu_path("net-%s.json", tag));
    screenshot_stats(iu_path("shot-%s.png", tag), c);
}

static void test_browser(void)
{
    CU_ASSERT_FATAL(prepared() == 0);
    if (tcu_shell(NULL, "command -v chromium 2>&1") != 0) {
        CU_FAIL("chromium is not installed: run scripts/install-deps.sh --test");
        return;
    }
    page_check c;
    render(iu_path("report/index.html"), "report", &c);
    printf("\n  report: %d console messages, %d requests, %d colours, %.1f%% inked\n",
           c.console, c.requests, c.colours, 100 * c.inked);
    CU_ASSERT_EQUAL(c.console, 0);
    CU_ASSERT_EQUAL(c.requests, 0);
    CU_ASSERT(c.colours >= 50);
    CU_ASSERT(c.inked > 0.05);
    /* the same checks catch a page that logs an error and fetches a picture */
    const char bad[] = "<!DOCTYPE html><html><body><p>bad</p><img src=\"http://127.0.0.1:9/x.png\">"
                       "<script>console.error('broken')</script></body></html>";
    render(tcu_write_file("bad.html", bad, strlen(bad)), "bad", &c);
    CU_ASSERT(c.console >= 1);
    CU_ASSERT(c.requests >= 1);
    CU_ASSERT(c.inked < 0.05); /* a line of text on white: "blank" by the same measure */
}

int main(void)
{
    static const tcu_test tests[] = {
        {"curves.svg: one point per epoch and series", test_curves},
        {"mistakes.png: each tile is the test image mistakes.json names", test_mistakes},
        {"confusion.svg and graph.svg: a cell per class pair, a box per node",
         test_confusion_and_graph},
        {"summary of the checkpoint; report's refusals", test_command_edges},
        {"index.html in headless Chromium: no console message, no request, not blank",
         test_browser},
        {NULL, NULL}};
    return tcu_run("report", tests);
}
