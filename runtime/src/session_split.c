/* The validation set of a training session (see tinycnn/session.h): a
 * val/ folder or a seeded, stratified hold-out of the training set; and the
 * check that a data set's labels fit the model. */
#define _POSIX_C_SOURCE 200809L
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tinycnn/status.h"

int tc_session_hold_out(tc_dataset *train, double fraction, uint64_t seed, tc_dataset *val,
                        tc_error *err)
{
    memset(val, 0, sizeof *val);
    if (!(fraction > 0.0 && fraction < 1.0))
        return tc_error_set(err, "validation split must lie in (0, 1) (got %g)", fraction);
    int64_t *ti = NULL, *vi = NULL, nt = 0, nv = 0;
    tc_dataset rest;
    memset(&rest, 0, sizeof rest);
    int rc = tc_split_stratified(train->labels, train->count, fraction, seed, &ti, &nt, &vi, &nv,
                                 err);
    if (rc == 0 && nv == 0)
        rc = tc_error_set(err, "a validation split of %g of %lld training images holds no "
                               "image; raise it",
                          fraction, (long long)train->count);
    if (rc == 0)
        rc = tc_dataset_subset(train, vi, nv, val, err) ||
             tc_dataset_subset(train, ti, nt, &rest, err);
    free(ti);
    free(vi);
    if (rc != 0) {
        tc_dataset_free(val);
        tc_dataset_free(&rest);
        return 1;
    }
    tc_dataset_free(train);
    *train = rest;
    return 0;
}

int tc_session_has_val_folder(const char *dir)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/val", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int load_val_folder(const char *dir, const tc_data_options *opt, const tc_dataset *train,
                           tc_dataset *val, tc_error *err)
{
    tc_data_options vo = *opt;
    vo.class_names = (const char *const *)train->class_names;
    vo.n_class_names = train->class_names ? train->n_classes : 0;
    return tc_dataset_load_with(dir, "val", &vo, val, err);
}

/* "DIR (SPLIT split)", naming the data in messages. */
static const char *split_name(const char *dir, const char *split, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s (%s split)", dir, split);
    return buf;
}

int tc_session_load_train_val(const tc_graph *g, const char *dir, const tc_data_options *opt,
                              double val_split, uint64_t seed, tc_dataset *train,
                              tc_dataset *val, tc_val_source *from, tc_error *err)
{
    memset(val, 0, sizeof *val);
    *from = TC_VAL_NONE;
    int folder = tc_session_has_val_folder(dir);
    if (folder && val_split > 0)
        return tc_error_set(err, "%s has a val/ folder and a validation split of %g was asked "
                                 "for: use one of them (val_split 0 takes the folder)",
                            dir, val_split);
    if (tc_dataset_load_with(dir, "train", opt, train, err) != 0)
        return 1;
    char what[4200];
    /* before the hold-out, so that an image's index is its place in the split */
    int rc = g ? tc_session_check_labels(g, train, split_name(dir, "train", what, sizeof what),
                                         err)
               : 0;
    if (rc == 0 && folder)
        rc = load_val_folder(dir, opt, train, val, err) ||
             (g && tc_session_check_labels(g, val, split_name(dir, "val", what, sizeof what),
                                           err));
    else if (rc == 0 && val_split > 0)
        rc = tc_session_hold_out(train, val_split, seed, val, err);
    if (rc == 0 && (folder || val_split > 0) && val->count == 0)
        rc = tc_error_set(err, "%s: the validation set is empty", dir);
    if (rc != 0) {
        tc_dataset_free(train);
        tc_dataset_free(val);
        return 1;
    }
    *from = folder ? TC_VAL_FOLDER : val_split > 0 ? TC_VAL_SPLIT : TC_VAL_NONE;
    return 0;
}

/* Labels are checked against the model before any training, so that a
 * data error is never reported as a failed step. */
int tc_session_check_labels(const tc_graph *g, const tc_dataset *ds, const char *what,
                            tc_error *err)
{
    int64_t nc = tc_graph_n_classes(g);
    if (ds->class_names && ds->n_classes > nc)
        return tc_error_set(err, "%s has %d classes but model %s has %lld (class %d is '%s')",
                            what, (int)ds->n_classes, tc_graph_name(g), (long long)nc, (int)nc,
                            ds->class_names[nc]);
    for (int64_t i = 0; ds->labels && i < ds->count; i++)
        if ((int64_t)ds->labels[i] >= nc)
            return tc_error_set(err, "%s: image %lld has label %d, but model %s has %lld classes "
                                     "(labels 0..%lld)",
                                what, (long long)i, (int)ds->labels[i], tc_graph_name(g),
                                (long long)nc, (long long)(nc - 1));
    return 0;
}
