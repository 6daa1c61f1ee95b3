/* Internal: the table of training settings (tinycnn/train_settings.h)
 * against JSON objects - a model file's "training" object and the "config"
 * of a checkpoint's training state. */
#ifndef TC_TRAIN_SETTINGS_JSON_H
#define TC_TRAIN_SETTINGS_JSON_H

#include <jansson.h>

#include "tinycnn/train_settings.h"

/* Every setting of cfg, in table order. NULL when out of memory. */
json_t *tc_train_settings_to_json(const tc_train_config *cfg);

/* Sets the fields of cfg that obj gives, each checked by the table; absent
 * keys keep cfg's values. model = 1 (a model file): a key that is not a
 * setting, or a setting of the run rather than of the model, is an error;
 * model = 0 (a checkpoint): other keys are ignored. Errors read
 * "<origin>: <what>.<key> must be <range>". On failure cfg may be partly
 * set. */
int tc_train_settings_from_json(json_t *obj, int model, const char *origin, const char *what,
                                tc_train_config *cfg, tc_error *err);

#endif
