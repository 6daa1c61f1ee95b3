/* Internal: seeded random streams (xoshiro256**, seeded through splitmix64). */
#ifndef TC_RNG_H
#define TC_RNG_H

#include <stdint.h>
#include "tinycnn/plugin.h"

/* Seeds a stream from (seed, a, b, extra): the same four always give the same
 * stream, whatever else exists. a and b may be NULL. */
void tc_rng_seed(tc_rng *r, uint64_t seed, const char *a, const char *b, uint64_t extra);
uint64_t tc_rng_next(tc_rng *r);
float tc_rng_uniform(tc_rng *r); /* [0, 1) */
float tc_rng_normal(tc_rng *r);  /* N(0, 1) */
/* Uniform integer in [0, n). */
uint64_t tc_rng_below(tc_rng *r, uint64_t n);

#endif
