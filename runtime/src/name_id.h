/* Internal: a name -> index table, sorted with qsort(tc_name_id_cmp) and
 * searched with tc_name_id_find (node names in the loader and the ONNX
 * importer). */
#ifndef TC_NAME_ID_H
#define TC_NAME_ID_H

#include <stdlib.h>
#include <string.h>

typedef struct tc_name_id {
    const char *name;
    int id;
} tc_name_id;

static inline int tc_name_id_cmp(const void *a, const void *b)
{
    return strcmp(((const tc_name_id *)a)->name, ((const tc_name_id *)b)->name);
}

/* The id of name in the sorted map[0..n), or -1. */
static inline int tc_name_id_find(const tc_name_id *map, int n, const char *name)
{
    tc_name_id key = {name, 0};
    const tc_name_id *hit = bsearch(&key, map, (size_t)n, sizeof *map, tc_name_id_cmp);
    return hit ? hit->id : -1;
}

#endif
