/* What a limit of N images keeps of a data set (see tinycnn/dataset.h): a
 * stratified, seeded sample, never the first N of the listing - a folder
 * data set is listed class by class, so its first N are class 0 alone. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "rng.h"
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"

/* Images per class (quota) for n of count images, count_c per class:
 * every class present gets one when n allows, the rest in proportion to
 * what each class has beyond that (largest remainders first, ties to the
 * lower label), so the quotas add up to n exactly and never exceed a
 * class's images. */
static void sample_quotas(const int64_t *per, int64_t count, int64_t n, int64_t *quota)
{
    int present = 0;
    for (int c = 0; c < TC_MAX_CLASSES; c++)
        present += per[c] > 0;
    int one = n >= present; /* one image of every class first */
    int64_t left = n - (one ? present : 0), pool = count - (one ? present : 0);
    int64_t rem[TC_MAX_CLASSES], given = 0;
    for (int c = 0; c < TC_MAX_CLASSES; c++) {
        int64_t have = per[c] > 0 && one ? per[c] - 1 : per[c];
        /* left and have are image counts (< 2^31): the product fits */
        quota[c] = pool > 0 ? left * have / pool : 0;
        rem[c] = pool > 0 ? left * have % pool : 0;
        given += quota[c];
        if (one && per[c] > 0)
            quota[c]++;
    }
    for (; given < left; given++) {
        int best = -1;
        for (int c = 0; c < TC_MAX_CLASSES; c++)
            if (rem[c] > 0 && (best < 0 || rem[c] > rem[best]))
                best = c;
        if (best < 0)
            break;
        quota[best]++;
        rem[best] = 0;
    }
}

int tc_pick_per_class(const uint8_t *labels, int64_t n, const int64_t *quota, uint64_t seed,
                      const char *stream, uint8_t *pick)
{
    int64_t count[TC_MAX_CLASSES] = {0}, start[TC_MAX_CLASSES], fill[TC_MAX_CLASSES];
    for (int64_t i = 0; i < n; i++)
        count[labels ? labels[i] : 0]++;
    for (int c = 0; c < TC_MAX_CLASSES; c++)
        start[c] = fill[c] = c == 0 ? 0 : start[c - 1] + count[c - 1];
    int64_t *by_class = malloc(((size_t)n + 1) * sizeof *by_class);
    if (!by_class)
        return 1;
    for (int64_t i = 0; i < n; i++)
        by_class[fill[labels ? labels[i] : 0]++] = i;
    for (int c = 0; c < TC_MAX_CLASSES; c++) {
        int64_t *g = by_class + start[c];
        tc_rng r;
        tc_rng_seed(&r, seed, stream, NULL, (uint64_t)c);
        for (int64_t k = count[c] - 1; k > 0; k--) {
            int64_t j = (int64_t)tc_rng_below(&r, (uint64_t)k + 1);
            int64_t t = g[k];
            g[k] = g[j];
            g[j] = t;
        }
        for (int64_t k = 0; k < quota[c]; k++)
            pick[g[k]] = 1;
    }
    free(by_class);
    return 0;
}

/* labels may be NULL: one class. */
int tc_dataset_sample(const uint8_t *labels, int64_t count, int64_t n, int64_t **kept,
                      int64_t *n_kept, tc_error *err)
{
    *kept = NULL;
    *n_kept = 0;
    if (count < 0 || n < 0)
        return tc_error_set(err, "a sample of %" PRId64 " of %" PRId64 " images", n, count);
    if (n == 0 || n > count)
        n = count;
    int64_t per[TC_MAX_CLASSES] = {0}, quota[TC_MAX_CLASSES];
    for (int64_t i = 0; i < count; i++)
        per[labels ? labels[i] : 0]++;
    sample_quotas(per, count, n, quota);
    uint8_t *take = calloc((size_t)count + 1, 1);
    int64_t *out = malloc(((size_t)n + 1) * sizeof *out);
    /* a fixed seed: the sample depends on the labels and n only, so every
     * run, resume and eval with the same limit sees the same images */
    if (!take || !out ||
        tc_pick_per_class(labels, count, quota, TC_SAMPLE_SEED, "limit", take) != 0) {
        free(take);
        free(out);
        return tc_error_set(err, "out of memory sampling %" PRId64 " images", count);
    }
    int64_t m = 0;
    for (int64_t i = 0; i < count; i++)
        if (take[i])
            out[m++] = i;
    free(take);
    *kept = out;
    *n_kept = m;
    return 0;
}

int tc_dataset_limit(tc_dataset *ds, int64_t n, int64_t **origin, tc_error *err)
{
    if (origin)
        *origin = NULL;
    if (n < 0)
        return tc_error_set(err, "image limit must be >= 0 (got %" PRId64 ")", n);
    if (n == 0 || n >= ds->count)
        return 0;
    int64_t *kept, m;
    if (tc_dataset_sample(ds->labels, ds->count, n, &kept, &m, err) != 0)
        return 1;
    tc_dataset sub;
    if (tc_dataset_subset(ds, kept, m, &sub, err) != 0) {
        free(kept);
        return 1;
    }
    tc_dataset_free(ds);
    *ds = sub;
    if (origin)
        *origin = kept;
    else
        free(kept);
    return 0;
}
