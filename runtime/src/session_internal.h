/* Internal: the training and validation sets of a data folder as a
 * training session reads them, shared by the session (session.c) and
 * tc_session_load_split (session_data.c), so that both see the same
 * images. */
#ifndef TC_SESSION_INTERNAL_H
#define TC_SESSION_INTERNAL_H

#include "tinycnn/session.h"

/* Where a session's validation set comes from. */
typedef enum tc_val_source {
    TC_VAL_NONE = 0,
    TC_VAL_FOLDER, /* the data folder's val/ split */
    TC_VAL_SPLIT,  /* the val_split hold-out of the training split */
    TC_VAL_GIVEN   /* a data set given in memory (tc_session_config.val) */
} tc_val_source;

/* The session's epoch records as a JSON array (what tc_session_history_json
 * prints), or NULL when out of memory. Owner: the caller (json_decref). */
struct json_t *tc_session_history_value(const tc_session *s);

/* The data folder a checkpoint's metadata names (its "data"), or NULL
 * (none, or out of memory). Owner: the caller (free). */
char *tc_session_stored_data_dir(const char *meta_json);

/* 1 when dir has a val/ folder. */
int tc_session_has_val_folder(const char *dir);

/* Loads the train split of dir with opt and the validation set: the val/
 * folder (with the training split's class list) or, val_split > 0, the
 * hold-out of the training split (tc_session_hold_out with seed), which
 * *train then lacks. Both at once is an error. *val stays zeroed when there
 * is none; *from says which. g (may be NULL) checks the labels of the
 * training split (before the hold-out, so that an image's index is its
 * place in the split) and of the val/ folder (tc_session_check_labels). Owner of *train and *val: the caller
 * (tc_dataset_free). */
int tc_session_load_train_val(const tc_graph *g, const char *dir, const tc_data_options *opt,
                              double val_split, uint64_t seed, tc_dataset *train,
                              tc_dataset *val, tc_val_source *from, tc_error *err);

/* What a resumed run compares with its checkpoint. */
typedef struct tc_resume_check {
    const char *checkpoint;
    const char *stored_model;       /* the checkpoint's model text */
    const char *model_text;         /* the model file given; NULL: the checkpoint's own */
    const char *stored_data_dir;    /* the checkpoint's data folder; NULL: unknown */
    const char *data_dir;           /* the folder given; NULL: the checkpoint's */
    const tc_train_config *stored;  /* the checkpoint's settings */
    const tc_train_config *now;     /* with this run's overrides */
    int allow;                      /* report nothing: changes were allowed */
} tc_resume_check;

/* Refuses (unless r->allow) a resume whose model (compared as JSON, less
 * "training" and "description"), data folder, limit or val_split differ
 * from the checkpoint's, listing the first differences by node name and
 * key: `node 'relu1'.type: "ReLU" -> "Tanh"`, `node 'drop' added`,
 * `limit 20000 -> 19990`. */
int tc_session_check_resume(const tc_resume_check *r, tc_error *err);

/* One record of a checkpoint's "history" (the schema in tinycnn/session.h),
 * read back; absent fields are 0. The session's resume and the report use
 * it. o is a jansson object (json_t *). */
struct json_t;
void tc_epoch_record_from_json(struct json_t *o, tc_epoch_record *r);

#endif
