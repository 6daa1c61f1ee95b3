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

/* Files above this size are refused before anything is allocated. */
#define TC_CHECKPOINT_MAX_BYTES ((uint64_t)2 << 30)

/* Section kinds. Readers skip kinds they do not know, so a later version
 * can add sections without breaking older readers. Each known kind must
 * appear exactly once. */
enum {
    TC_CKPT_SECTION_MODEL = 1,   /* model JSON text, no NUL bytes */
    TC_CKPT_SECTION_META = 2,    /* metadata JSON text, no NUL bytes */
    TC_CKPT_SECTION_TENSORS = 3  /* u32 count; per tensor: u32 name length,
                                    name bytes (no NUL), u32 ndim (<= TC_MAX_DIMS),
                                    ndim x i64 dims (>= 0), float32 data */
};

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

/* Writes ck atomically to path (temporary file "PATH.tmp.XXXXXX" in the same
 * folder, fsync, rename, fsync of the folder). On any failure (missing or
 * unwritable folder, full disk) the previous file at path is left intact and
 * the temporary file removed. Refused before anything is written: a
 * checkpoint larger than TC_CHECKPOINT_MAX_BYTES (the reader would refuse
 * it) and a path that exists but is not a regular file (rename() would
 * replace a device or FIFO). The struct is only read. NULL texts are
 * written as empty texts. The new file keeps the mode of the file it
 * replaces (a 0600 checkpoint stays 0600); a new one gets 0666 less the
 * umask. */
int tc_checkpoint_write(const char *path, const tc_checkpoint *ck, tc_error *err);

/* The advisory lock of a checkpoint path, held by one writer at a time
 * (tinycnn train takes it for its output before training): flock() on
 * "PATH.lock", which holds the holder's pid. Taking it fails at once,
 * naming that pid, when another process holds it. Once held, the
 * temporary files "PATH.tmp.XXXXXX" that tc_checkpoint_write left behind
 * when its process died (kill -9 during a write) are removed: with the
 * lock held no other writer can be using them. *stale (may be NULL) gets
 * how many were. Owner: the caller (tc_checkpoint_unlock, which removes
 * the lock file). NULL on failure, err saying why. */
typedef struct tc_checkpoint_lock tc_checkpoint_lock;
tc_checkpoint_lock *tc_checkpoint_lock_take(const char *path, int *stale, tc_error *err);
void tc_checkpoint_unlock(tc_checkpoint_lock *lock);

/* Serialises ck to an open descriptor, as is: no temporary file, no fsync.
 * origin names the destination in errors. */
int tc_checkpoint_write_fd(int fd, const char *origin, const tc_checkpoint *ck,
                           tc_error *err);

/* Serialises ck to memory. Owner of *bytes: the caller, released with free().
 * On failure *bytes is NULL and *len 0. */
int tc_checkpoint_encode(const tc_checkpoint *ck, uint8_t **bytes, size_t *len,
                         tc_error *err);

/* Reads and verifies a checkpoint (magic, version, section bounds, CRC,
 * tensor sizes, duplicate names). Owner of out's contents: the caller, freed
 * by tc_checkpoint_free. out is overwritten, not freed, so pass an empty or
 * freed struct. On failure out is left empty (zeroed) and nothing leaks.
 * Every tensor's data is non-NULL, even when it has zero elements. */
int tc_checkpoint_read(const char *path, tc_checkpoint *out, tc_error *err);

/* The same from memory (fuzzing, tests); origin names it in errors. */
int tc_checkpoint_parse(const uint8_t *bytes, size_t len, const char *origin,
                        tc_checkpoint *out, tc_error *err);

/* Frees the tensors and both texts (which must be malloc()ed or NULL, as
 * tc_checkpoint_read makes them) and zeroes the struct. ck may be NULL. */
void tc_checkpoint_free(tc_checkpoint *ck);

/* Appends a copy of (name, shape, data) to ck; ck then owns the copy. Start
 * from a zeroed struct. Refuses an empty or duplicate name, ndim outside
 * [0, TC_MAX_DIMS] (0 is a scalar of one element), a negative dimension or an
 * element count that overflows; data may be NULL only for zero elements. */
int tc_checkpoint_add(tc_checkpoint *ck, const char *name, const tc_shape *shape,
                      const float *data, tc_error *err);

/* Finds a tensor by name; NULL if absent. */
const tc_named_tensor *tc_checkpoint_find(const tc_checkpoint *ck, const char *name);

#ifdef __cplusplus
}
#endif
#endif
