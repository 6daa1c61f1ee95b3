/* tinycnn predict: classify PNG or JPEG images, files or folders of them,
 * with a checkpoint. A file that cannot be classified gets an error entry
 * of its own and the others go on. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli_common.h"

static const char help[] =
    "usage: tinycnn predict CHECKPOINT PATH... [--top K] [--threads N] [--json]\n"
    "\n"
    "Classifies each PNG or JPEG image (told apart by content) with the model and\n"
    "weights in CHECKPOINT and prints the predicted class and the K most probable\n"
    "classes with their softmax probabilities, by name when the checkpoint stores\n"
    "class names. A PATH that is a folder stands for the files named *.png, *.jpg\n"
    "and *.jpeg (any case) in it and below it, in sorted order. Images must have\n"
    "the model's input size unless the model resizes; colour images are converted\n"
    "to gray for one-channel models.\n"
    "\n"
    "A file that cannot be classified (unreadable, not an image, damaged, of the\n"
    "wrong size) is reported in its place as 'PATH: error: MESSAGE' (with --json\n"
    "an entry {\"image\": PATH, \"error\": MESSAGE}) and the others go on; the exit\n"
    "status is then 1.\n"
    "\n"
    "options:\n"
    "  --top K           how many classes to show per image (default 3)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --json            print one JSON object instead of text\n"
    "  --plugin-dir DIR  also load the plugins in DIR (repeatable)\n";

#define CHUNK 256
#define MAX_DEPTH 32 /* folder nesting followed, against symbolic link loops */

/* ---- the list of images ------------------------------------------------- */

/* One input: a file to classify, or (error set) a path already known bad. */
typedef struct item {
    char *path;
    char *error; /* the full message, naming the path; NULL: to be read */
} item;

typedef struct item_list {
    item *v;
    size_t n, cap;
} item_list;

static void items_free(item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].error);
    }
    free(l->v);
}

/* Adds path (copied) with the error message fmt (NULL: none); 1 when out
 * of memory. */
static int items_add(item_list *l, const char *path, const char *fmt, ...) TC_PRINTF(3, 4);
static int items_add(item_list *l, const char *path, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        item *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    item it = {strdup(path), NULL};
    if (fmt) {
        char msg[TC_ERROR_CAP];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        it.error = strdup(msg);
    }
    if (!it.path || (fmt && !it.error)) {
        free(it.path);
        free(it.error);
        return 1;
    }
    l->v[l->n++] = it;
    return 0;
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The image files under dir, recursively (entries starting with '.'
 * skipped, as the data set loader does), in any order; an unreadable
 * folder becomes an error entry. 1 when out of memory. */
static int walk(item_list *l, const char *dir, int depth)
{
    if (depth > MAX_DEPTH)
        return items_add(l, dir, "%s: folders nested more than %d deep", dir, MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d)
        return items_add(l, dir, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = 1;
            break;
        }
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        if (is_dir(p))
            rc = walk(l, p, depth + 1);
        else if (has_image_ext(e->d_name))
            rc = items_add(l, p, NULL);
        free(p);
    }
    closedir(d);
    return rc;
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const item *)a)->path, ((const item *)b)->path);
}

/* Each argument: a file as given, a folder as its image files in sorted
 * order (or an error entry when it holds none). 1 when out of memory. */
static int expand(const char *const *args, int n, item_list *l)
{
    for (int i = 0; i < n; i++) {
        if (!is_dir(args[i])) {
            if (items_add(l, args[i], NULL))
                return 1;
            continue;
        }
        size_t first = l->n;
        if (walk(l, args[i], 0))
            return 1;
        qsort(l->v + first, l->n - first, sizeof *l->v, item_cmp);
        if (l->n == first &&
            items_add(l, args[i], "%s: is a folder without PNG or JPEG images (*.png, *.jpg, "
                                  "*.jpeg) in it or below it", args[i]))
            return 1;
    }
    return 0;
}

/* ---- classification ----------------------------------------------------- */

typedef struct predictor {
    tc_graph *graph;
    tc_data_options opt;   /* size, channels and resizing of the model's images */
    int64_t nc;
    int top, json;
    int img_in, lbl_in;
    float mean[3], std[3];
    json_t *names, *results;
    uint8_t *pixels;       /* CHUNK images */
    float *prob;
    tc_prediction *best;
    tc_error *errs;        /* CHUNK messages */
    int failed;
    char first_error[TC_ERROR_CAP];
} predictor;

static int predictor_init(predictor *p, tc_graph *g, const tc_checkpoint *ck, int64_t top,
                          tc_error *err)
{
    p->graph = g;
    if (tc_session_data_options(g, &p->opt, err) != 0)
        return 1;
    p->nc = tc_graph_n_classes(g);
    if (p->nc < 1)
        return tc_error_set(err, "model %s: the output has no classes", tc_graph_name(g));
    p->top = (int)(top > p->nc ? p->nc : top);
    p->img_in = tc_graph_image_input(g);
    p->lbl_in = tc_graph_label_input(g);
    const tc_input_info *info = tc_graph_input(g, p->img_in);
    for (int k = 0; k < p->opt.channels; k++) { /* per channel, as tc_normalize_u8 takes them */
        p->mean[k] = tc_input_mean(info, k);
        p->std[k] = tc_input_std(info, k);
    }
    size_t bytes = (size_t)p->opt.channels * (size_t)p->opt.height * (size_t)p->opt.width;
    p->pixels = malloc(bytes * CHUNK);
    p->prob = malloc((size_t)p->nc * sizeof *p->prob);
    p->best = malloc((size_t)p->top * sizeof *p->best);
    p->errs = calloc(CHUNK, sizeof *p->errs);
    p->names = cli_class_names(ck, p->nc);
    if (p->json)
        p->results = json_array();
    if (!p->pixels || !p->prob || !p->best || !p->errs || (p->json && !p->results))
        return tc_error_set(err, "out of memory");
    return 0;
}

static void predictor_free(predictor *p)
{
    free(p->pixels);
    free(p->prob);
    free(p->best);
    free(p->errs);
    json_decref(p->names);
    json_decref(p->results);
}

/* One image into dst at the model's size: read as it is, or resized as the
 * model's input asks. */
static int load_image(const predictor *p, const char *path, uint8_t *dst, tc_error *err)
{
    const tc_data_options *o = &p->opt;
    if (o->resize == TC_RESIZE_NONE)
        return tc_image_load(path, o->channels, o->height, o->width, dst, err);
    uint8_t *px = NULL;
    int h, w;
    if (tc_image_load_any(path, o->channels, &px, &h, &w, err) != 0)
        return 1;
    int rc = tc_image_fit(px, o->channels, h, w, o->resize, o->resize_size, dst, o->height,
                          o->width, path, err);
    free(px);
    return rc;
}

/* The logits of the first n images of p->pixels. */
static const float *forward(predictor *p, int n, tc_error *err)
{
    const tc_data_options *o = &p->opt;
    if (tc_graph_prepare(p->graph, n, 0, err) != 0)
        return NULL;
    if (p->lbl_in >= 0) /* the labels are not used: zeros */
        memset(tc_graph_input_data(p->graph, p->lbl_in), 0, sizeof(float) * (size_t)n);
    tc_normalize_u8(p->pixels, n, o->channels, (int64_t)o->height * o->width, p->mean, p->std,
                    tc_graph_input_data(p->graph, p->img_in));
    if (tc_graph_forward(p->graph, 0, 0, err) != 0)
        return NULL;
    const tc_tensor *out = tc_graph_output(p->graph);
    int64_t per = tc_shape_count(&out->shape) / n;
    if (per != p->nc) {
        tc_error_set(err, "model %s: the output has %lld values per image, expected %lld",
                     tc_graph_name(p->graph), (long long)per, (long long)p->nc);
        return NULL;
    }
    return out->data;
}

/* An error entry: "PATH: error: MESSAGE" (the message without the path it
 * starts with), or {"image": PATH, "error": MESSAGE}. */
static void emit_error(predictor *p, const char *path, const char *msg)
{
    if (p->failed++ == 0)
        snprintf(p->first_error, sizeof p->first_error, "%s", msg);
    size_t n = strlen(path);
    const char *m = strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0 ? msg + n + 2
                                                                                : msg;
    if (!p->json) {
        printf("%s: error: %s\n", path, m);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "image", json_string(path));
    json_object_set_new(o, "error", json_string(m));
    json_array_append_new(p->results, o);
}

/* "img.png: 3  (3: 97.10%, 8: 2.00%)", or with class names
 * "img.png: 3 cat  (cat: 97.10%, dog: 2.00%)". */
static void print_text(const char *path, const json_t *names, const tc_prediction *best,
                       int top)
{
    const char *name = cli_class_name(names, best[0].label);
    printf("%s: %d%s%s  (", path, (int)best[0].label, name ? " " : "", name ? name : "");
    for (int j = 0; j < top; j++) {
        name = cli_class_name(names, best[j].label);
        if (name)
            printf("%s%s: %.2f%%", j ? ", " : "", name, 100.0 * best[j].prob);
        else
            printf("%s%d: %.2f%%", j ? ", " : "", (int)best[j].label, 100.0 * best[j].prob);
    }
    printf(")\n");
}

static json_t *prediction_json(const predictor *p, const char *path)
{
    json_t *o = json_object();
    json_object_set_new(o, "image", json_string(path));
    json_object_set_new(o, "prediction", json_integer(p->best[0].label));
    if (p->names)
        json_object_set_new(o, "class_name", json_string(cli_class_name(p->names,
                                                                        p->best[0].label)));
    json_t *t = json_array();
    for (int j = 0; j < p->top; j++) {
        json_t *e = json_object();
        json_object_set_new(e, "class", json_integer(p->best[j].label));
        if (p->names)
            json_object_set_new(e, "class_name",
                                json_string(cli_class_name(p->names, p->best[j].label)));
        json_object_set_new(e, "probability", json_real(p->best[j].prob));
        json_array_append_new(t, e);
    }
    json_object_set_new(o, "top", t);
    return o;
}

/* One image's result from its logits. A NaN or infinite logit has no
 * probability to show: an error entry rather than "nan%" (a plugin can
 * produce one even from finite weights). */
static void emit_prediction(predictor *p, const char *path, const float *logits)
{
    for (int64_t j = 0; j < p->nc; j++)
        if (!isfinite(logits[j])) {
            char msg[TC_ERROR_CAP];
            snprintf(msg, sizeof msg, "%s: the model's output for this image is %s (class %lld)",
                     path, isnan(logits[j]) ? "NaN" : "infinite", (long long)j);
            emit_error(p, path, msg);
            return;
        }
    memcpy(p->prob, logits, sizeof(float) * (size_t)p->nc);
    tc_softmax_rows(p->prob, 1, (int)p->nc);
    tc_top_k(p->prob, (int)p->nc, p->top, p->best);
    if (p->json)
        json_array_append_new(p->results, prediction_json(p, path));
    else
        print_text(path, p->names, p->best, p->top);
}

/* Reads, classifies and reports items[0..n) (n <= CHUNK) in order. Only a
 * failure of the model itself stops the run. */
static int run_chunk(predictor *p, const item *items, int n, tc_error *err)
{
    size_t bytes = (size_t)p->opt.channels * (size_t)p->opt.height * (size_t)p->opt.width;
    int slot[CHUNK], good = 0;
    for (int i = 0; i < n; i++) {
        slot[i] = -1;
        if (!items[i].error &&
            load_image(p, items[i].path, p->pixels + (size_t)good * bytes, &p->errs[i]) == 0)
            slot[i] = good++;
    }
    const float *logits = good ? forward(p, good, err) : NULL;
    if (good && !logits)
        return 1;
    for (int i = 0; i < n; i++) {
        if (slot[i] >= 0)
            emit_prediction(p, items[i].path, logits + (int64_t)slot[i] * p->nc);
        else
            emit_error(p, items[i].path, items[i].error ? items[i].error : p->errs[i].msg);
    }
    return 0;
}

/* ---- the command -------------------------------------------------------- */

typedef struct predict_opts {
    const char **pos; /* CHECKPOINT PATH... */
    int n_pos;
    int64_t top, threads;
    int json;
} predict_opts;

static int parse(cli_globals *g, int argc, char **argv, predict_opts *o)
{
    const cli_opt table[] = {
        CLI_INT("--top", &o->top, 1, 1000000),
        CLI_INT("--threads", &o->threads, 1, 1024),
        CLI_FLAG("--json", &o->json),
        CLI_OPT_END,
    };
    cli_args a;
    cli_args_init(&a, "predict", argc, argv, g);
    if (cli_parse(&a, table, o->pos, argc, &o->n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (o->n_pos == 0)
        return cli_usage("predict", "missing CHECKPOINT");
    if (o->n_pos == 1)
        return cli_usage("predict", "missing IMAGE (give at least one file or folder)");
    return 0;
}

static void print_summary(const predictor *p, const char *ckpt, size_t n)
{
    if (p->json) {
        json_t *root = json_object();
        json_object_set_new(root, "checkpoint", json_string(ckpt));
        json_object_set_new(root, "model", json_string(tc_graph_name(p->graph)));
        json_object_set(root, "predictions", p->results);
        json_object_set_new(root, "failed", json_integer(p->failed));
        cli_print_json(root);
    }
    if (p->failed == 1)
        cli_fail("%s", p->first_error);
    else if (p->failed > 1)
        cli_fail("%d of %zu images could not be classified; the first: %s", p->failed, n,
                 p->first_error);
}

/* Classifies every item; 0 when the model ran (failed files included). */
static int classify(const cli_globals *g, const predict_opts *o, const item_list *items,
                    predictor *p, tc_error *err)
{
    tc_registry *reg = NULL;
    tc_graph *graph = NULL;
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    int rc = cli_load_registry(g, &reg, err) != 0 ||
             cli_open_checkpoint(reg, o->pos[0], &ck, &graph, err) != 0 ||
             predictor_init(p, graph, &ck, o->top, err) != 0;
    for (size_t first = 0; rc == 0 && first < items->n; first += CHUNK) {
        size_t cnt = items->n - first < CHUNK ? items->n - first : CHUNK;
        rc = run_chunk(p, items->v + first, (int)cnt, err);
        if (rc == 0 && cli_flush_stdout() != 0)
            break; /* stdout is lost (main says so): no one reads the rest */
    }
    if (rc == 0)
        print_summary(p, o->pos[0], items->n);
    if (graph)
        tc_graph_free(graph);
    tc_checkpoint_free(&ck);
    if (reg)
        tc_registry_free(reg);
    return rc;
}

static int run(cli_globals *g, int argc, char **argv)
{
    predict_opts o = {.top = 3};
    o.pos = calloc((size_t)argc, sizeof *o.pos);
    if (!o.pos)
        return cli_fail("out of memory");
    int rc = parse(g, argc, argv, &o);
    if (rc != 0) {
        free(o.pos);
        return rc;
    }
    tc_set_threads((int)o.threads);
    item_list items = {0};
    predictor p;
    memset(&p, 0, sizeof p);
    p.json = o.json;
    tc_error err = {{0}};
    if (expand(o.pos + 1, o.n_pos - 1, &items) != 0)
        rc = cli_fail("out of memory listing the images");
    else if (classify(g, &o, &items, &p, &err) != 0)
        rc = cli_fail("%s", err.msg);
    else
        rc = p.failed ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
    predictor_free(&p);
    items_free(&items);
    free(o.pos);
    return rc;
}

const cli_command cli_predict_command = {"predict",
                                         "classify PNG or JPEG images (files or folders)", help,
                                         run, NULL};
