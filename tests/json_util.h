/* JSON helpers for the test programs that read what the library or the
 * runner writes (jansson; header only, so programs without JSON need not
 * link it). */
#ifndef TC_JSON_UTIL_H
#define TC_JSON_UTIL_H

#include <jansson.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/checkpoint.h"

/* The metadata of the checkpoint at path, parsed; fails the current test
 * (fatally) if the file does not read or the metadata is no JSON. Owner:
 * the caller (json_decref()). */
static inline json_t *tcu_checkpoint_meta(const char *path)
{
    tc_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    tc_error err = {{0}};
    TCU_ASSERT_OK(tc_checkpoint_read(path, &ck, &err), &err);
    json_t *m = json_loads(ck.meta_json ? ck.meta_json : "", 0, NULL);
    tc_checkpoint_free(&ck);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}
#endif
