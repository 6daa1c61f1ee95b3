/* tinycnn/checkpoint.h - the self-contained, versioned checkpoint file.
 *
 * Layout (little-endian): "TCNNCKPT" magic, u32 format version, u32 section
 * count, then sections (u32 kind, u64 length, bytes), then a CRC-32 of all
 * preceding bytes. Sections: the model JSON text, a metadata JSON text
 * (training state), and the named float32 tensors (weights, then optimiser
 * state). Written to a temporary file in the same folder, fsync()ed and
 * renamed, so a crash never leaves a half-written checkpoint. */
#ifndef TINYCNN_CHECKPOINT_H
#define TINYCNN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "tinycnn/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_CHECKPOINT_VERSION 1u

typedef struct tc_named_tensor {
    char *name;
    tc_shape shape; /* as stored: no implicit batch dimension */
    float *data;
} tc_named_tensor;

typedef struct tc_checkpoint {
    char *model_json; /* NUL-terminated */
    char *meta_json;  /* NUL-terminated, free-form JSON object */
    size_t n_tensors;
    tc_named_tensor *tensors;
} tc_checkpoint;

/* Writes ck atomically to path (temporary file + fsync + rename). On any
 * failure (unwritable folder, full disk) the previous file at path is left
 * intact and the temporary file removed. The struct is only read. */
int tc_checkpoint_write(const char *path, const tc_checkpoint *ck, tc_error *err);

/* Reads and verifies a checkpoint (magic, version, section bounds, CRC,
 * tensor sizes). Owner of out's contents: the caller, freed by
 * tc_checkpoint_free. On failure out is left empty. */
int tc_checkpoint_read(const char *path, tc_checkpoint *out, tc_error *err);

/* The same from memory (fuzzing, tests); origin names it in errors. */
int tc_checkpoint_parse(const uint8_t *bytes, size_t len, const char *origin,
                        tc_checkpoint *out, tc_error *err);

/* Frees what tc_checkpoint_read allocated and zeroes the struct. */
void tc_checkpoint_free(tc_checkpoint *ck);

/* Appends a copy of (name, shape, data) to ck; ck then owns the copy. */
int tc_checkpoint_add(tc_checkpoint *ck, const char *name, const tc_shape *shape,
                      const float *data, tc_error *err);

/* Finds a tensor by name; NULL if absent. */
const tc_named_tensor *tc_checkpoint_find(const tc_checkpoint *ck, const char *name);

#ifdef __cplusplus
}
#endif
#endif
