/* tinycnn/train_settings.h - the one table of training settings.
 *
 * Every setting of a training run (epochs, lr, seed, ...) is described once,
 * here: its key (in a model file's "training" object and in a checkpoint's
 * training state), its command-line option, its type, its range, its
 * built-in default and a line of help. The model loader, the runner's
 * options and --help, tc_train_config_check and the checkpoint metadata all
 * go through this table, so a value is accepted in one place exactly when it
 * is accepted in every other. */
#ifndef TINYCNN_TRAIN_SETTINGS_H
#define TINYCNN_TRAIN_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include "tinycnn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_setting_type {
    TC_SETTING_INT,    /* an integer in [imin, imax] */
    TC_SETTING_NUMBER, /* a finite number between min and max, each end open or closed */
    TC_SETTING_BOOL,   /* true or false */
    TC_SETTING_CHOICE  /* one of choices[], held as its index (the enum value) */
} tc_setting_type;

/* A setting's value: INT, BOOL (0 or 1) and CHOICE in i, NUMBER in d. */
typedef struct tc_setting_value {
    int64_t i;
    double d;
} tc_setting_value;

typedef struct tc_train_setting {
    const char *key;       /* "batch_size" */
    const char *option;    /* "--batch-size" */
    const char *metavar;   /* "N"; NULL: a flag without a value, setting flag_value */
    const char *name;      /* "batch size", for messages */
    tc_setting_type type;
    int64_t imin, imax;    /* INT */
    double min, max;       /* NUMBER; a float32 setting is checked as stored too */
    int min_open, max_open;
    const char *const *choices; /* CHOICE: NULL-terminated */
    tc_setting_value def;  /* the built-in default */
    int flag_value;        /* BOOL with metavar NULL: what the option sets */
    int in_model;          /* 1: may appear in a model file's "training" object */
    const char *help;      /* one line, without range or default */
} tc_train_setting;

/* The table, in the order settings are listed (help, JSON). */
int tc_train_settings_count(void);
const tc_train_setting *tc_train_setting_at(int i);

/* By key ("batch_size") or by option ("--batch-size"); NULL if none. */
const tc_train_setting *tc_train_setting_find(const char *key);
const tc_train_setting *tc_train_setting_find_option(const char *option);

/* 1 if v is a value of s: within its range (a float32 setting both as
 * given and as converted to float32). */
int tc_train_setting_accepts(const tc_train_setting *s, tc_setting_value v);

/* The accepted values in words: "an integer in [1, 100000]", "a number in
 * (0, 3.40282e+38]", "one of sgd, adam", "true or false". Returns buf. */
const char *tc_train_setting_range(const tc_train_setting *s, char *buf, size_t cap);

/* v as text ("0.001", "adam", "true"). Returns buf. */
const char *tc_train_setting_format(const tc_train_setting *s, tc_setting_value v, char *buf,
                                    size_t cap);

/* Parses text (a command-line value) as a value of s and checks it; the
 * message is "expected <range>". */
int tc_train_setting_parse(const tc_train_setting *s, const char *text, tc_setting_value *v,
                           tc_error *err);

/* Reads / writes s's field of cfg. set refuses a value s does not accept
 * ("<name> must be <range> (got <value>)") and leaves cfg unchanged. */
tc_setting_value tc_train_setting_get(const tc_train_setting *s, const tc_train_config *cfg);
int tc_train_setting_set(const tc_train_setting *s, tc_setting_value v, tc_train_config *cfg,
                         tc_error *err);

/* The help of every setting, in table order, into buf (cap bytes, always
 * terminated when cap > 0): a line "  --option META" padded to column 24,
 * then the help, the accepted values and the default, wrapped at 80
 * columns. Returns the length the whole text needs (as snprintf). */
size_t tc_train_settings_help(char *buf, size_t cap);

/* Settings a caller gives over the model's or a checkpoint's (the runner's
 * options): at most one value per setting, the last one given wins. */
#define TC_TRAIN_MAX_SETTINGS 32
typedef struct tc_train_overrides {
    int n;
    const tc_train_setting *setting[TC_TRAIN_MAX_SETTINGS];
    tc_setting_value value[TC_TRAIN_MAX_SETTINGS];
} tc_train_overrides;

void tc_train_overrides_put(tc_train_overrides *o, const tc_train_setting *s, tc_setting_value v);
int tc_train_overrides_apply(const tc_train_overrides *o, tc_train_config *cfg, tc_error *err);

/* Every setting of cfg as one JSON object, keys in table order: the
 * "config" of a checkpoint's training state. Owner: the caller (free());
 * NULL when out of memory. */
char *tc_train_config_json(const tc_train_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
