/*
 * tinycnn/model.h - the inference API: open a trained model, classify.
 *
 * Two calls classify an image:
 *     tc_error err;
 *     tc_model *m = tc_model_open("lenet5.ckpt", NULL, &err);
 *     tc_prediction p;
 *     tc_model_predict_u8(m, pixels, sizeof pixels, 1, &p, 1, &err); // p.label, p.prob
 *     tc_model_close(m);
 *
 * The standard layer plugins are found automatically (tc_plugin_discover:
 * the folder installed beside the library, $TINYCNN_PLUGIN_PATH, then the
 * folders in the options), or an application hands its own registry (for
 * statically linked layers, see tc_register_standard_layers in
 * tinycnn/layers.h).
 *
 * Threads: a model may be used by several threads at the same time. The
 * weights are shared and read-only; each call runs on buffers of its own
 * (taken from a small pool inside the model, made on first need), so calls
 * never see each other's activations; the pool holds as many contexts as
 * calls ever ran at once. Within one call the model uses at most
 * options.threads worker threads; the process's OpenMP settings
 * (omp_set_num_threads) are never changed (tc_set_local_threads).
 * tc_model_close must not overlap a call on the same model.
 *
 * Errors as everywhere in the library: functions return 0 (or a pointer) on
 * success and fill err on failure; nothing is printed, nothing exits.
 */
#ifndef TINYCNN_MODEL_H
#define TINYCNN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "tinycnn/checkpoint.h"
#include "tinycnn/graph.h"
#include "tinycnn/plugin.h"
#include "tinycnn/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_model tc_model;

typedef struct tc_model_options {
    uint32_t struct_size;        /* sizeof(tc_model_options), or 0 (the same) */
    int32_t threads;             /* worker threads per call; 0: the machine's
                                    cores (tc_cpu_count) */
    const tc_registry *registry; /* NULL: discover the standard plugins (and
                                    plugin_dirs); else used as is and must
                                    outlive the model */
    const char *const *plugin_dirs; /* extra plugin folders, n_plugin_dirs of
                                       them; only without a registry */
    int32_t n_plugin_dirs;
    int32_t reserved0;
    uint64_t reserved[4];
} tc_model_options;

/* Opens a checkpoint written by `tinycnn train` (or tc_snapshot_save): reads
 * it with every check the runner applies, loads its model with the plugins
 * it needs and its weights and state. opts may be NULL (all defaults). A
 * missing layer type is an error naming the types and the folders searched.
 * The model needs one data input (besides an optional label input) and an
 * output of at least one class. Class names come from the checkpoint
 * metadata member "class_names" (an array of n_classes strings) if any.
 * Owner: the caller, freed by tc_model_close. */
tc_model *tc_model_open(const char *checkpoint_path, const tc_model_options *opts,
                        tc_error *err);
/* The same from a checkpoint image in memory (len bytes; copied as needed,
 * so data may be freed after the call). origin names it in messages. */
tc_model *tc_model_open_memory(const void *data, size_t len, const char *origin,
                               const tc_model_options *opts, tc_error *err);
void tc_model_close(tc_model *m);

/* The model's input, per sample: channels, height, width of its image
 * input, and the number of floats per sample (c * h * w). */
typedef struct tc_model_input {
    int32_t channels, height, width;
    int32_t reserved0;
    int64_t floats_per_sample;
    const float *mean, *std;     /* per channel, `channels` values each: the
                                    normalisation predict_u8 applies */
} tc_model_input;
int tc_model_input_info(const tc_model *m, tc_model_input *out);

int tc_model_n_classes(const tc_model *m);
/* Class i's name; the decimal index when the model stores none. The string
 * lives as long as the model. NULL when i is out of range. */
const char *tc_model_class_name(const tc_model *m, int i);
/* 1 when the checkpoint stored the class names (so class_name gives them
 * rather than the decimal index), 0 otherwise and for NULL. */
int tc_model_has_class_names(const tc_model *m);
const char *tc_model_name(const tc_model *m);

/* One image's result: the best class and its probability. */
typedef struct tc_prediction {
    int32_t label;
    float prob;
} tc_prediction;

/* Classifies n images of uint8 pixels, laid out image after image, each
 * channel-major (planar): pixels[((i * C + c) * H + y) * W + x], i.e.
 * C*H*W bytes an image, values 0..255 (a grey image is just H*W bytes);
 * pixels_len is the buffer's size in bytes. Each pixel becomes
 * (p / 255 - mean[c]) / std[c] (tc_normalize_u8). out gets n results. A
 * NULL pointer, n < 1, pixels_len < n * C*H*W or out_len < n is an error,
 * not a crash; so is a NaN or infinite output (naming the image and
 * class). */
int tc_model_predict_u8(tc_model *m, const uint8_t *pixels, size_t pixels_len, int n,
                        tc_prediction *out, size_t out_len, tc_error *err);

/* Reads a PNG or JPEG file (told apart by content) as the model takes it:
 * converted to its channel count (tc_image_load) and made height x width
 * as its image input's "resize" says (docs/model-format.md); without one,
 * an image of another size is an error naming the file and both sizes.
 * pixels gets C*H*W bytes (pixels_len of room), ready for predict_u8.
 * Safe from several threads (the model is only read). */
int tc_model_load_image(const tc_model *m, const char *path, uint8_t *pixels,
                        size_t pixels_len, tc_error *err);

/* tc_model_load_image then tc_model_predict_u8 for one image file: its
 * out_len most probable classes. Safe from several threads. */
int tc_model_predict_file(tc_model *m, const char *path, tc_prediction *out, size_t out_len,
                          tc_error *err);

/* The same from already normalised floats (n * floats_per_sample of them,
 * NCHW; input_len floats of room), writing every class probability
 * (softmax of the logits) into probs: n * n_classes floats, probs_len of
 * room. probs may be NULL when only `out` is wanted, and out (out_len >= n)
 * may be NULL when only probs are; not both. */
int tc_model_predict(tc_model *m, const float *input, size_t input_len, int n, float *probs,
                     size_t probs_len, tc_prediction *out, size_t out_len, tc_error *err);

/* The model's raw outputs (the logits, before the softmax) for n images
 * given as to tc_model_predict: n * n_classes floats into logits
 * (logits_len of room). A NaN or infinite output is no error here: it
 * comes back as it is, for a caller that reports such an image on its own
 * and classifies the others (`tinycnn predict`). tc_softmax_rows of a
 * finite row gives tc_model_predict's probabilities, bit for bit. */
int tc_model_logits(tc_model *m, const float *input, size_t input_len, int n, float *logits,
                    size_t logits_len, tc_error *err);

/* One image file's result of tc_model_classify_paths: its top most
 * probable classes (best, best first), or error, a message naming path (the
 * file could not be read or decoded, or the model's output for it is NaN or
 * infinite; best is then NULL). Valid during the callback only. */
typedef struct tc_path_result {
    const char *path;
    const tc_prediction *best;
    int top;
    const char *error;
} tc_path_result;
typedef void (*tc_path_result_fn)(void *user, const tc_path_result *r);

/* Classifies the files items[0..n) (tc_image_paths, tinycnn/dataset.h;
 * entries with an error are reported as such), reading and running 256 at
 * a time so that the memory is bounded, and gives fn each result in order:
 * the top (clamped to the class count) classes. After each such chunk
 * stop (may be NULL) is asked: non-zero ends the run early (0 returned).
 * A bad file is a result, not a failure: non-zero (err set) only when the
 * model itself fails or memory runs out. */
struct tc_image_path;
int tc_model_classify_paths(tc_model *m, const struct tc_image_path *items, size_t n, int top,
                            tc_path_result_fn fn, int (*stop)(void *user), void *user,
                            tc_error *err);

/* One result of tc_model_classify_paths as `tinycnn predict` prints it, on
 * one line without its newline: "img.png: 3  (3: 97.10%, 8: 2.00%)" (the
 * best class, then the top classes with their probabilities), with class
 * names "img.png: 3 cat  (cat: 97.10%, dog: 2.00%)"; for an error "PATH:
 * error: MESSAGE", the message without the "PATH: " it may start with.
 * Owner: the caller (free); NULL when m or r is NULL or out of memory. */
char *tc_path_result_text(const tc_model *m, const tc_path_result *r);

/* The same as compact JSON text: {"image": PATH, "prediction": 3,
 * "class_name": "cat", "top": [{"class": 3, "class_name": "cat",
 * "probability": 0.971}, ...]} (class_name only when the checkpoint names
 * its classes; reals with 17 digits, so that they read back exactly), or
 * {"image": PATH, "error": MESSAGE}. A string that is not UTF-8 leaves its
 * key out. Owner: the caller (free); NULL when m or r is NULL or out of
 * memory. */
char *tc_path_result_json(const tc_model *m, const tc_path_result *r);

/* The k most probable classes of one probability row (n_classes values),
 * best first; ties keep the lower index first. Returns how many were written
 * (min(k, n_classes)). */
int tc_top_k(const float *probs, int n_classes, int k, tc_prediction *out);

/* Softmax of n rows of n_classes logits, in place, stable for large values
 * (max-subtracted, summed in double). A row holding a NaN becomes NaN. */
void tc_softmax_rows(float *logits, int64_t n, int n_classes);

/* The normalisation of predict_u8 (and of training, tc_dataset_fill_batch,
 * bit for bit): n images of `channels` planes of plane_size bytes each into
 * floats (pixel / 255 - mean[c]) / std[c]. Checks nothing: std non-zero,
 * the buffers large enough. */
void tc_normalize_u8(const uint8_t *pixels, int64_t n, int channels, int64_t plane_size,
                     const float *mean, const float *std, float *out);

/* ---- lower level: the graph behind a model -------------------------------
 * What tc_model_open does to a checkpoint read by tc_checkpoint_read or
 * tc_checkpoint_parse: loads its model text with reg (messages name
 * "ORIGIN (model)" and the node at fault) and copies in its weights and
 * state, with every check (a missing model, a tensor of another model, a
 * NaN weight: see tc_snapshot_load_weights). For programs that need the
 * graph itself (evaluation, the runner). Owner of *graph: the caller. */
int tc_checkpoint_graph(const tc_registry *reg, const tc_checkpoint *ck, const char *origin,
                        tc_graph **graph, tc_error *err);

/* tc_model_load_image for the image input of a graph (the geometry of
 * tc_session_image_size, the options of tc_session_data_options): what
 * `tinycnn predict` reads a file with. out gets channels * height * width
 * bytes (out_len of room). */
int tc_graph_load_image(const tc_graph *g, const char *path, uint8_t *out, size_t out_len,
                        tc_error *err);

#ifdef __cplusplus
}
#endif
#endif
