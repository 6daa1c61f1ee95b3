#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    if (!s)
        return h;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    /* a separator so ("ab", "c") and ("a", "bc") differ */
    h ^= 0xff;
    h *= 0x100000001b3ULL;
    return h;
}

void tc_rng_seed(tc_rng *r, uint64_t seed, const char *a, const char *b, uint64_t extra)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, a);
    h = fnv1a(h, b);
    uint64_t x = seed ^ splitmix64(&h);
    x ^= extra * 0xd1342543de82ef95ULL;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tc_rng_next(tc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float tc_rng_uniform(tc_rng *r)
{
    return (float)(tc_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float tc_rng_normal(tc_rng *r)
{
    /* Box-Muller, one value per call so a stream's position never depends on
     * a cached second value. */
    double u1 = ((double)(tc_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(tc_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t tc_rng_below(tc_rng *r, uint64_t n)
{
    /* Lemire's nearly-divisionless method would be faster; rejection keeps it
     * obviously unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = tc_rng_next(r);
    while (x >= limit);
    return x % n;
}
