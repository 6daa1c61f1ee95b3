/* The table of training settings (see tinycnn/train_settings.h) and every
 * conversion through it: text, JSON, tc_train_config fields. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/train_settings.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinycnn/augment.h"
#include "tinycnn/status.h"
#include "train_settings_json.h"

/* How a setting is held in tc_train_config. */
typedef enum storage { AS_INT, AS_INT64, AS_U64, AS_FLOAT, AS_DOUBLE, AS_ENUM } storage;

typedef struct entry {
    tc_train_setting s; /* first: a tc_train_setting * is an entry * */
    storage as;
    size_t offset;
} entry;

/* CHOICE settings hold the enum value as the index into choices[]. */
_Static_assert(TC_OPTIM_SGD == 0 && TC_OPTIM_ADAM == 1, "optimizer choices follow the enum");
_Static_assert(TC_LR_CONSTANT == 0 && TC_LR_COSINE == 1 && TC_LR_STEP == 2,
               "schedule choices follow the enum");
_Static_assert(sizeof(tc_optim_kind) == sizeof(int) && sizeof(tc_lr_schedule) == sizeof(int),
               "enums are stored as int");

static const char *const optimizers[] = {"sgd", "adam", NULL};
static const char *const schedules[] = {"constant", "cosine", "step", NULL};

#define OFF(field) offsetof(tc_train_config, field)
#define INT(lo, hi, dflt) .type = TC_SETTING_INT, .imin = (lo), .imax = (hi), .def = {.i = (dflt)}
#define NUM(lo, lo_open, hi, hi_open, dflt)                                                   \
    .type = TC_SETTING_NUMBER, .min = (lo), .min_open = (lo_open), .max = (hi),              \
    .max_open = (hi_open), .def = {.d = (dflt)}
#define CHOICE(list, dflt) .type = TC_SETTING_CHOICE, .choices = (list), .def = {.i = (dflt)}

/* Ranges: epochs, warm-up and the step period share one cap; lr must stay
 * finite as the float32 the optimiser uses; the batch cap keeps the
 * per-image random streams (step * 65536 + image) apart. */
static const entry table[] = {
    {{"epochs", "--epochs", "N", "epochs", INT(1, TC_TRAIN_MAX_EPOCHS, 10), .in_model = 1,
      .help = "number of epochs"}, AS_INT, OFF(epochs)},
    {{"batch_size", "--batch-size", "N", "batch size", INT(1, TC_TRAIN_MAX_BATCH, 64),
      .in_model = 1, .help = "images per step"}, AS_INT, OFF(batch_size)},
    {{"optimizer", "--optimizer", "NAME", "optimizer", CHOICE(optimizers, TC_OPTIM_ADAM),
      .in_model = 1, .help = "the optimizer (SGD with --momentum)"}, AS_ENUM, OFF(optim.kind)},
    {{"lr", "--lr", "F", "learning rate", NUM(0.0, 1, FLT_MAX, 0, 0.001), .in_model = 1,
      .help = "learning rate"}, AS_DOUBLE, OFF(lr)},
    {{"momentum", "--momentum", "F", "momentum", NUM(0.0, 0, 1.0, 1, 0.9), .in_model = 1,
      .help = "SGD momentum"}, AS_FLOAT, OFF(optim.momentum)},
    {{"weight_decay", "--weight-decay", "F", "weight decay", NUM(0.0, 0, 1.0, 0, 0.0),
      .in_model = 1, .help = "L2 weight decay (not applied to biases)"},
     AS_FLOAT, OFF(optim.weight_decay)},
    {{"beta1", "--adam-beta1", "F", "Adam beta1", NUM(0.0, 0, 1.0, 1, 0.9), .in_model = 1,
      .help = "Adam's decay of the mean gradient"}, AS_FLOAT, OFF(optim.beta1)},
    {{"beta2", "--adam-beta2", "F", "Adam beta2", NUM(0.0, 0, 1.0, 1, 0.999), .in_model = 1,
      .help = "Adam's decay of the squared gradient"}, AS_FLOAT, OFF(optim.beta2)},
    {{"eps", "--adam-eps", "F", "Adam eps", NUM(0.0, 1, 1.0, 0, 1e-8), .in_model = 1,
      .help = "Adam's epsilon"}, AS_FLOAT, OFF(optim.eps)},
    {{"lr_schedule", "--lr-schedule", "NAME", "learning rate schedule",
      CHOICE(schedules, TC_LR_CONSTANT), .in_model = 1,
      .help = "learning rate schedule: cosine decays to zero over the run, step by "
               "--step-gamma every --step-epochs"}, AS_ENUM, OFF(schedule)},
    {{"warmup_epochs", "--warmup-epochs", "F", "warmup epochs",
      NUM(0.0, 0, TC_TRAIN_MAX_EPOCHS, 0, 0.0), .in_model = 1,
      .help = "linear warm-up length in epochs"}, AS_DOUBLE, OFF(warmup_epochs)},
    {{"step_epochs", "--step-epochs", "N", "step schedule period",
      INT(0, TC_TRAIN_MAX_EPOCHS, 0), .in_model = 1,
      .help = "step schedule: epochs between drops (0: a third of the run)"},
     AS_INT, OFF(step_epochs)},
    {{"step_gamma", "--step-gamma", "F", "step schedule factor", NUM(0.0, 1, 1.0, 0, 0.1),
      .in_model = 1, .help = "step schedule: the factor at each drop"},
     AS_DOUBLE, OFF(step_gamma)},
    {{"seed", "--seed", "N", "seed", INT(0, INT64_MAX, 42),
      .help = "seed of the weights, the shuffle, dropout and augmentation"},
     AS_U64, OFF(seed)},
    {{"limit", "--limit", "N", "image limit", INT(0, INT64_MAX, 0),
      .help = "train on N training images only, a sample that keeps every class (0: all)"}, AS_INT64, OFF(limit)},
    {{"shuffle", "--no-shuffle", NULL, "shuffle", .type = TC_SETTING_BOOL, .def = {.i = 1},
      .flag_value = 0, .help = "visit the training images in file order, not reshuffled"},
     AS_INT, OFF(shuffle)},
    {{"augment_shift", "--augment-shift", "N", "augment shift",
      INT(0, TC_AUGMENT_MAX_SHIFT, 0), .in_model = 1,
      .help = "shift each training image by a random 0..N pixels each way"},
     AS_INT, OFF(augment_shift)},
    {{"augment_crop", "--augment-crop", "N", "augment crop padding",
      INT(0, TC_AUGMENT_MAX_PAD, 0), .in_model = 1,
      .help = "random crop of each training image padded by N black pixels per side "
              "(torchvision's RandomCrop(size, padding=N)); 0: off"},
     AS_INT, OFF(augment_crop)},
    {{"augment_flip", "--augment-flip", NULL, "augment flip", .type = TC_SETTING_BOOL,
      .def = {.i = 0}, .flag_value = 1, .in_model = 1,
      .help = "flip each training image horizontally with probability 1/2"},
     AS_INT, OFF(augment_flip)},
    {{"val_split", "--val-split", "F", "validation split", NUM(0.0, 0, 0.9, 0, 0.0),
      .in_model = 1,
      .help = "hold out this fraction of the training set (seeded by --seed, the same share "
              "of every class) to validate on and choose the best epoch by (0: the data's "
              "val/ folder, if any)"},
     AS_DOUBLE, OFF(val_split)},
    {{"early_stop", "--early-stop", "N", "early stop patience", INT(0, TC_TRAIN_MAX_EPOCHS, 0),
      .in_model = 1,
      .help = "stop after N epochs without a better validation (else test) accuracy (0: "
              "never)"},
     AS_INT, OFF(early_stop)},
};
#define N_SETTINGS ((int)(sizeof table / sizeof table[0]))
_Static_assert(sizeof table / sizeof table[0] <= TC_TRAIN_MAX_SETTINGS, "overrides hold them all");

static const entry *entry_of(const tc_train_setting *s)
{
    return (const entry *)s;
}

int tc_train_settings_count(void)
{
    return N_SETTINGS;
}

const tc_train_setting *tc_train_setting_at(int i)
{
    return i >= 0 && i < N_SETTINGS ? &table[i].s : NULL;
}

const tc_train_setting *tc_train_setting_find(const char *key)
{
    for (int i = 0; key && i < N_SETTINGS; i++)
        if (strcmp(table[i].s.key, key) == 0)
            return &table[i].s;
    return NULL;
}

const tc_train_setting *tc_train_setting_find_option(const char *option)
{
    for (int i = 0; option && i < N_SETTINGS; i++)
        if (strcmp(table[i].s.option, option) == 0)
            return &table[i].s;
    return NULL;
}

static int64_t n_choices(const tc_train_setting *s)
{
    int64_t n = 0;
    while (s->choices[n])
        n++;
    return n;
}

static int number_in(const tc_train_setting *s, double x)
{
    return isfinite(x) && (s->min_open ? x > s->min : x >= s->min) &&
           (s->max_open ? x < s->max : x <= s->max);
}

int tc_train_setting_accepts(const tc_train_setting *s, tc_setting_value v)
{
    switch (s->type) {
    case TC_SETTING_INT:
        return v.i >= s->imin && v.i <= s->imax;
    case TC_SETTING_NUMBER:
        if (!number_in(s, v.d))
            return 0;
        /* a float32 setting: the value as it will be used, too */
        return entry_of(s)->as != AS_FLOAT || (fabs(v.d) <= FLT_MAX && number_in(s, (float)v.d));
    case TC_SETTING_BOOL:
        return v.i == 0 || v.i == 1;
    case TC_SETTING_CHOICE:
        return v.i >= 0 && v.i < n_choices(s);
    }
    return 0;
}

const char *tc_train_setting_range(const tc_train_setting *s, char *buf, size_t cap)
{
    switch (s->type) {
    case TC_SETTING_INT:
        if (s->imax == INT64_MAX)
            snprintf(buf, cap, "an integer >= %lld", (long long)s->imin);
        else
            snprintf(buf, cap, "an integer in [%lld, %lld]", (long long)s->imin,
                     (long long)s->imax);
        break;
    case TC_SETTING_NUMBER:
        snprintf(buf, cap, "a number in %s%g, %g%s", s->min_open ? "(" : "[", s->min, s->max,
                 s->max_open ? ")" : "]");
        break;
    case TC_SETTING_BOOL:
        snprintf(buf, cap, "true or false");
        break;
    case TC_SETTING_CHOICE: {
        size_t o = (size_t)snprintf(buf, cap, "one of ");
        for (int i = 0; s->choices[i] && o < cap; i++)
            o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", s->choices[i]);
        break;
    }
    }
    return buf;
}

const char *tc_train_setting_format(const tc_train_setting *s, tc_setting_value v, char *buf,
                                    size_t cap)
{
    switch (s->type) {
    case TC_SETTING_INT:
        snprintf(buf, cap, "%lld", (long long)v.i);
        break;
    case TC_SETTING_NUMBER:
        snprintf(buf, cap, "%g", v.d);
        break;
    case TC_SETTING_BOOL:
        snprintf(buf, cap, "%s", v.i ? "true" : "false");
        break;
    case TC_SETTING_CHOICE:
        snprintf(buf, cap, "%s",
                 v.i >= 0 && v.i < n_choices(s) ? s->choices[v.i] : "(not a choice)");
        break;
    }
    return buf;
}

/* Converts text by type only; the range is checked by the caller. */
static int parse_text(const tc_train_setting *s, const char *text, tc_setting_value *v)
{
    char *end = NULL;
    memset(v, 0, sizeof *v);
    errno = 0;
    switch (s->type) {
    case TC_SETTING_INT:
        v->i = strtoll(text, &end, 10);
        return *text && !*end && errno != ERANGE;
    case TC_SETTING_NUMBER:
        /* an underflow gives the nearest value, as in JSON; the range
         * decides */
        v->d = strtod(text, &end);
        return *text && !*end && !(errno == ERANGE && isinf(v->d));
    case TC_SETTING_BOOL:
        v->i = strcmp(text, "true") == 0 || strcmp(text, "1") == 0;
        return v->i || strcmp(text, "false") == 0 || strcmp(text, "0") == 0;
    case TC_SETTING_CHOICE:
        for (v->i = 0; s->choices[v->i]; v->i++)
            if (strcmp(text, s->choices[v->i]) == 0)
                return 1;
        return 0;
    }
    return 0;
}

int tc_train_setting_parse(const tc_train_setting *s, const char *text, tc_setting_value *v,
                           tc_error *err)
{
    char range[128];
    if (!text || !parse_text(s, text, v) || !tc_train_setting_accepts(s, *v))
        return tc_error_set(err, "expected %s", tc_train_setting_range(s, range, sizeof range));
    return 0;
}

tc_setting_value tc_train_setting_get(const tc_train_setting *s, const tc_train_config *cfg)
{
    const entry *e = entry_of(s);
    const char *p = (const char *)cfg + e->offset;
    tc_setting_value v = {0, 0.0};
    int i;
    float f;
    uint64_t u;
    switch (e->as) {
    case AS_INT:
    case AS_ENUM:
        memcpy(&i, p, sizeof i);
        v.i = i;
        break;
    case AS_INT64:
        memcpy(&v.i, p, sizeof v.i);
        break;
    case AS_U64:
        memcpy(&u, p, sizeof u);
        v.i = u > (uint64_t)INT64_MAX ? -1 : (int64_t)u; /* out of range either way */
        break;
    case AS_FLOAT:
        memcpy(&f, p, sizeof f);
        v.d = (double)f;
        break;
    case AS_DOUBLE:
        memcpy(&v.d, p, sizeof v.d);
        break;
    }
    return v;
}

/* Stores an accepted value (the range guarantees every conversion fits). */
static void store(const entry *e, tc_setting_value v, tc_train_config *cfg)
{
    char *p = (char *)cfg + e->offset;
    int i = (int)v.i;
    float f = (float)v.d;
    if (e->as == AS_INT || e->as == AS_ENUM)
        memcpy(p, &i, sizeof i);
    else if (e->as == AS_FLOAT)
        memcpy(p, &f, sizeof f);
    else if (e->as == AS_DOUBLE)
        memcpy(p, &v.d, sizeof v.d);
    else /* AS_INT64, AS_U64: an int64_t has the bits of its uint64_t conversion */
        memcpy(p, &v.i, sizeof v.i);
}

int tc_train_setting_set(const tc_train_setting *s, tc_setting_value v, tc_train_config *cfg,
                         tc_error *err)
{
    if (!tc_train_setting_accepts(s, v)) {
        char range[128], got[64];
        return tc_error_set(err, "%s must be %s (got %s)", s->name,
                            tc_train_setting_range(s, range, sizeof range),
                            tc_train_setting_format(s, v, got, sizeof got));
    }
    store(entry_of(s), v, cfg);
    return 0;
}

/* ---- tc_train_config as a whole ----------------------------------------- */

void tc_train_config_defaults(tc_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_SETTINGS; i++)
        store(&table[i], table[i].s.def, cfg);
}

int tc_train_config_check(const tc_train_config *cfg, tc_error *err)
{
    tc_train_config scratch = *cfg;
    for (int i = 0; i < N_SETTINGS; i++)
        if (tc_train_setting_set(&table[i].s, tc_train_setting_get(&table[i].s, cfg), &scratch,
                                 err))
            return 1;
    return 0;
}

void tc_train_overrides_put(tc_train_overrides *o, const tc_train_setting *s, tc_setting_value v)
{
    int i = 0;
    while (i < o->n && o->setting[i] != s)
        i++;
    if (i == TC_TRAIN_MAX_SETTINGS)
        return; /* cannot happen: one slot per setting */
    o->setting[i] = s;
    o->value[i] = v;
    if (i == o->n)
        o->n++;
}

int tc_train_overrides_apply(const tc_train_overrides *o, tc_train_config *cfg, tc_error *err)
{
    for (int i = 0; o && i < o->n; i++)
        if (tc_train_setting_set(o->setting[i], o->value[i], cfg, err))
            return 1;
    return 0;
}

/* ---- JSON ----------------------------------------------------------------- */

json_t *tc_train_settings_to_json(const tc_train_config *cfg)
{
    json_t *o = json_object();
    for (int i = 0; o && i < N_SETTINGS; i++) {
        const tc_train_setting *s = &table[i].s;
        tc_setting_value v = tc_train_setting_get(s, cfg);
        json_t *j = NULL;
        switch (s->type) {
        case TC_SETTING_INT: j = json_integer((json_int_t)v.i); break;
        case TC_SETTING_NUMBER: j = json_real(v.d); break;
        case TC_SETTING_BOOL: j = json_boolean(v.i); break;
        case TC_SETTING_CHOICE:
            j = json_string(v.i >= 0 && v.i < n_choices(s) ? s->choices[v.i] : "?");
            break;
        }
        if (json_object_set_new(o, s->key, j) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

char *tc_train_config_json(const tc_train_config *cfg)
{
    json_t *o = tc_train_settings_to_json(cfg);
    /* default real precision (17 digits): every double survives the trip */
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* The JSON value as a value of s, by type only (0: wrong JSON type). */
static int from_json_value(const tc_train_setting *s, json_t *j, tc_setting_value *v)
{
    memset(v, 0, sizeof *v);
    switch (s->type) {
    case TC_SETTING_INT:
        v->i = json_is_integer(j) ? json_integer_value(j) : 0;
        return json_is_integer(j);
    case TC_SETTING_NUMBER:
        v->d = json_is_number(j) ? json_number_value(j) : 0.0;
        return json_is_number(j);
    case TC_SETTING_BOOL:
        v->i = json_is_true(j);
        return json_is_boolean(j);
    case TC_SETTING_CHOICE:
        return json_is_string(j) && parse_text(s, json_string_value(j), v);
    }
    return 0;
}

/* A model file's key that is not a model setting. */
static int refuse_key(const char *origin, const char *what, const char *key, tc_error *err)
{
    const tc_train_setting *s = tc_train_setting_find(key);
    if (s)
        return tc_error_set(err, "%s: %s.%s is a setting of the run, not of the model: give it "
                                 "on the command line (%s)",
                            origin, what, key, s->option);
    char list[512];
    size_t o = 0;
    list[0] = 0;
    for (int i = 0; i < N_SETTINGS && o < sizeof list; i++)
        if (table[i].s.in_model)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                  table[i].s.key);
    return tc_error_set(err, "%s: %s: unknown key '%s' (expected: %s)", origin, what, key, list);
}

int tc_train_settings_from_json(json_t *obj, int model, const char *origin, const char *what,
                                tc_train_config *cfg, tc_error *err)
{
    if (!json_is_object(obj))
        return tc_error_set(err, "%s: \"%s\" must be an object", origin, what);
    const char *key;
    json_t *j;
    json_object_foreach(obj, key, j) {
        const tc_train_setting *s = tc_train_setting_find(key);
        if (model && (!s || !s->in_model))
            return refuse_key(origin, what, key, err);
    }
    /* in table order, so that the first bad value reported does not depend
     * on the order of the file's keys */
    for (int i = 0; i < N_SETTINGS; i++) {
        const tc_train_setting *s = &table[i].s;
        tc_setting_value v;
        if (!(j = json_object_get(obj, s->key)) || (model && !s->in_model))
            continue;
        if (!from_json_value(s, j, &v) || !tc_train_setting_accepts(s, v)) {
            char range[128];
            return tc_error_set(err, "%s: %s.%s must be %s", origin, what, s->key,
                                tc_train_setting_range(s, range, sizeof range));
        }
        store(&table[i], v, cfg);
    }
    return 0;
}
