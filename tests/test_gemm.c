/* The fast SGEMM (tc_sgemm) against hand-computed values, against an exact
 * integer oracle, and against tc_sgemm_reference with a rounding-error bound;
 * every algorithm path and instruction set is forced in turn through the
 * internal tc_sgemm_ex, so variants this machine would not pick are checked
 * too. Also: no reads of C when beta == 0, no reads or writes outside the
 * leading-dimension rows, and bit-identical results for any thread count,
 * from run to run and from inside a parallel region. */
#include "testutil.h"
#include "gemm_internal.h"
#include "tinycnn/kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 12345.5f /* fills C's padding: a write there shows */

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static float rnd_unit(void) /* uniform in [-1, 1) */
{
    return (float)((double)(rnd() & 0xffffff) / 8388608.0 - 1.0);
}

static int64_t rnd_range(int64_t lo, int64_t hi) /* in [lo, hi] */
{
    return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* A rows x cols matrix with leading dimension ld >= cols; the padding holds
 * pad (NaN for inputs, so that reading it poisons the result). */
static float *new_mat(int64_t rows, int64_t cols, int64_t ld, float pad)
{
    float *p = malloc((size_t)(rows * ld) * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int64_t i = 0; i < rows * ld; i++)
        p[i] = pad;
    (void)cols;
    return p;
}

typedef struct variant {
    tc_gemm_isa isa;
    tc_gemm_path path;
} variant;

static const variant variants[] = {
    {TC_GEMM_ISA_GENERIC, TC_GEMM_PATH_PACKED}, {TC_GEMM_ISA_GENERIC, TC_GEMM_PATH_DIRECT_B},
    {TC_GEMM_ISA_GENERIC, TC_GEMM_PATH_DOT},    {TC_GEMM_ISA_AVX2, TC_GEMM_PATH_PACKED},
    {TC_GEMM_ISA_AVX2, TC_GEMM_PATH_DIRECT_B},  {TC_GEMM_ISA_AVX2, TC_GEMM_PATH_DOT},
    {TC_GEMM_ISA_AVX512, TC_GEMM_PATH_PACKED},  {TC_GEMM_ISA_AVX512, TC_GEMM_PATH_DIRECT_B},
    {TC_GEMM_ISA_AVX512, TC_GEMM_PATH_DOT},     {TC_GEMM_ISA_AUTO, TC_GEMM_PATH_AUTO},
};
#define NVARIANTS (int)(sizeof variants / sizeof variants[0])

/* Whether variant v really runs (AVX2 needs the CPU, DOT needs A plain and
 * B transposed, DIRECT_B needs B plain); the others would only repeat the
 * fallback they turn into. */
static int variant_applies(const variant *v, int ta, int tb)
{
    if (v->isa == TC_GEMM_ISA_AVX2 && !tc_gemm_have_avx2())
        return 0;
    if (v->isa == TC_GEMM_ISA_AVX512 && !tc_gemm_have_avx512())
        return 0;
    if (v->path == TC_GEMM_PATH_DOT)
        return !ta && tb;
    if (v->path == TC_GEMM_PATH_DIRECT_B)
        return !tb;
    return 1;
}

/* One problem: op(A) m x k, op(B) k x n, C m x n, each stored with extra
 * padding columns. */
typedef struct problem {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    float *a, *b, *c0;
} problem;

static void problem_init(problem *p, int ta, int tb, int64_t m, int64_t n, int64_t k,
                         int64_t pad, float alpha, float beta)
{
    p->ta = ta;
    p->tb = tb;
    p->m = m;
    p->n = n;
    p->k = k;
    p->alpha = alpha;
    p->beta = beta;
    int64_t ar = ta ? k : m, ac = ta ? m : k;
    int64_t br = tb ? n : k, bc = tb ? k : n;
    p->lda = ac + pad;
    p->ldb = bc + pad;
    p->ldc = n + pad;
    p->a = new_mat(ar, ac, p->lda, NAN);
    p->b = new_mat(br, bc, p->ldb, NAN);
    p->c0 = new_mat(m, n, p->ldc, SENTINEL);
}

static void problem_free(problem *p)
{
    free(p->a);
    free(p->b);
    free(p->c0);
}

static float opa(const problem *p, int64_t i, int64_t q)
{
    return p->ta ? p->a[q * p->lda + i] : p->a[i * p->lda + q];
}

static float opb(const problem *p, int64_t q, int64_t j)
{
    return p->tb ? p->b[j * p->ldb + q] : p->b[q * p->ldb + j];
}

static float *aref(problem *p, int64_t i, int64_t q)
{
    return p->ta ? &p->a[q * p->lda + i] : &p->a[i * p->lda + q];
}

static float *bref(problem *p, int64_t q, int64_t j)
{
    return p->tb ? &p->b[j * p->ldb + q] : &p->b[q * p->ldb + j];
}

static float *run_variant(const problem *p, const variant *v)
{
    float *c = new_mat(p->m, p->n, p->ldc, 0.0f);
    memcpy(c, p->c0, (size_t)(p->m * p->ldc) * sizeof(float));
    tc_gemm_path used_path;
    tc_gemm_isa used_isa;
    tc_sgemm_ex(v->isa, v->path, p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b,
                p->ldb, p->beta, c, p->ldc, &used_path, &used_isa);
    /* The variant under test is the one that ran. */
    if (v->path != TC_GEMM_PATH_AUTO)
        CU_ASSERT_EQUAL(used_path, v->path);
    if (v->isa != TC_GEMM_ISA_AUTO)
        CU_ASSERT_EQUAL(used_isa, v->isa);
    return c;
}

/* The padding of C is untouched. */
static int pad_intact(const problem *p, const float *c)
{
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = p->n; j < p->ldc; j++)
            if (c[i * p->ldc + j] != SENTINEL)
                return 0;
    return 1;
}

/* ---- hand-computed ------------------------------------------------------- */

/* A = [1 2 3; 4 5 6], B = [7 8; 9 10; 11 12]: A*B = [58 64; 139 154].
 * With alpha = 2, beta = 0.5 and C0 = [2 4; 6 8]:
 * C = [117 130; 281 312]. Stored transposed where the flags say so. */
static void test_hand_2x3x2(void)
{
    const float a[6] = {1, 2, 3, 4, 5, 6}, at[6] = {1, 4, 2, 5, 3, 6};
    const float b[6] = {7, 8, 9, 10, 11, 12}, bt[6] = {7, 9, 11, 8, 10, 12};
    const float want[4] = {117, 130, 281, 312};
    for (int vi = 0; vi < NVARIANTS; vi++) {
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                if (!variant_applies(&variants[vi], ta, tb))
                    continue;
                float c[4] = {2, 4, 6, 8};
                tc_sgemm_ex(variants[vi].isa, variants[vi].path, ta, tb, 2, 2, 3, 2.0f,
                            ta ? at : a, ta ? 2 : 3, tb ? bt : b, tb ? 3 : 2, 0.5f, c, 2, NULL,
                            NULL);
                for (int i = 0; i < 4; i++)
                    CU_ASSERT_EQUAL(c[i], want[i]);
            }
        }
    }
    /* The reference and the public entry point agree with the hand values. */
    float c[4] = {2, 4, 6, 8};
    tc_sgemm_reference(0, 0, 2, 2, 3, 2.0f, a, 3, b, 2, 0.5f, c, 2);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(c[i], want[i]);
    float d[4] = {2, 4, 6, 8};
    tc_sgemm(1, 1, 2, 2, 3, 2.0f, at, 2, bt, 3, 0.5f, d, 2);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(d[i], want[i]);
}

/* ---- exact integer oracle ------------------------------------------------ */

/* Small integers make every partial sum exact in float, so any order of
 * accumulation must give exactly the closed-form value the test computes
 * itself: a tile, edge or packing mistake cannot hide inside a tolerance. */
static int exact_case(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, float beta)
{
    problem p;
    problem_init(&p, ta, tb, m, n, k, 3, alpha, beta);
    for (int64_t i = 0; i < m; i++)
        for (int64_t q = 0; q < k; q++)
            *aref(&p, i, q) = (float)((i * 7 + q * 3) % 5 - 2);
    for (int64_t q = 0; q < k; q++)
        for (int64_t j = 0; j < n; j++)
            *bref(&p, q, j) = (float)((q * 5 + j * 11) % 7 - 3);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            p.c0[i * p.ldc + j] = beta == 0.0f ? NAN : (float)((i + 2 * j) % 9 - 4);
    double *want = malloc((size_t)(m * n) * sizeof(double));
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++)
                s += (double)(((i * 7 + q * 3) % 5 - 2) * ((q * 5 + j * 11) % 7 - 3));
            want[i * n + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * ((i + 2 * j) % 9 - 4));
        }
    int bad = 0;
    for (int vi = 0; vi < NVARIANTS; vi++) {
        if (!variant_applies(&variants[vi], ta, tb))
            continue;
        float *c = run_variant(&p, &variants[vi]);
        for (int64_t i = 0; i < m && !bad; i++) {
            for (int64_t j = 0; j < n; j++) {
                if (c[i * p.ldc + j] != (float)want[i * n + j]) {
                    fprintf(stderr, "\n  exact: variant %d ta=%d tb=%d %lldx%lldx%lld: C(%lld,%lld)=%g want %g",
                            vi, ta, tb, (long long)m, (long long)n, (long long)k, (long long)i,
                            (long long)j, c[i * p.ldc + j], want[i * n + j]);
                    bad = 1;
                    break;
                }
            }
        }
        if (!pad_intact(&p, c))
            bad = 1;
        free(c);
    }
    free(want);
    problem_free(&p);
    return bad;
}

static void test_exact_edges(void)
{
    /* Around the register tiles (6 x 16, dot 3 x 4, vector 8), the cache
     * blocks (MC 144, KC 256) and the K chunks. */
    static const int64_t ms[] = {1, 2, 5, 6, 7, 13, 17, 150};
    static const int64_t ns[] = {1, 3, 4, 15, 16, 17, 33, 84};
    static const int64_t ks[] = {1, 2, 7, 8, 9, 25, 300};
    int bad = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                        /* Vary alpha / beta with the shape: power-of-two
                         * alpha and integer beta keep the values exact. */
                        int sel = (int)(mi + ni + ki) % 3;
                        float alpha = sel == 0 ? 1.0f : sel == 1 ? 2.0f : -0.5f;
                        float beta = sel == 0 ? 0.0f : sel == 1 ? 1.0f : -3.0f;
                        bad += exact_case(ta, tb, ms[mi], ns[ni], ks[ki], alpha, beta);
                    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Sizes past one cache block, two directions at a time (M > MC = 144,
 * N > NC = 2048, K > KC = 256), and dot products over several K chunks with
 * the accumulators kept in between (also for A's rows in two groups). */
static void test_exact_beyond_blocks(void)
{
    CU_ASSERT_EQUAL(exact_case(0, 0, 150, 40, 520, 1.0f, 1.0f), 0);
    CU_ASSERT_EQUAL(exact_case(1, 1, 13, 2100, 300, 2.0f, 0.0f), 0);
    CU_ASSERT_EQUAL(exact_case(1, 0, 149, 2050, 9, 1.0f, -1.0f), 0);
    CU_ASSERT_EQUAL(exact_case(0, 1, 200, 170, 100, 1.0f, 1.0f), 0);
    CU_ASSERT_EQUAL(exact_case(0, 1, 40, 300, 401, -0.5f, 0.0f), 0);
}

/* ---- random values against the reference --------------------------------- */

/* Tolerance: each element is a sum of k float products accumulated in float
 * (fused or not, in some order) and merged as alpha * sum + beta * c0. The
 * standard bound for that is (k + 2) u (|alpha| sum |a b| + |beta c0|), with
 * u = 2^-24 the unit roundoff; the reference accumulates in double and
 * rounds about three times, so (k + 6) u of the same magnitude bounds the
 * difference. sum |a b| is bounded in turn by |row of A| |column of B|
 * (Cauchy-Schwarz), which is cheap and for random data only ~4/3 larger. It
 * is a worst case, not a guess, so the test cannot be flaky; a product
 * missing or doubled shows up hundreds of times above it. */
static int check_against_reference(problem *p, const char *what)
{
    int bad = 0;
    float *ref = new_mat(p->m, p->n, p->ldc, 0.0f);
    memcpy(ref, p->c0, (size_t)(p->m * p->ldc) * sizeof(float));
    tc_sgemm_reference(p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b, p->ldb,
                       p->beta, ref, p->ldc);
    double *bound = malloc((size_t)(p->m * p->n) * sizeof(double));
    double *rn = malloc((size_t)p->m * sizeof(double)), *cn = malloc((size_t)p->n * sizeof(double));
    CU_ASSERT_FATAL(bound && rn && cn);
    for (int64_t i = 0; i < p->m; i++) {
        rn[i] = 0;
        for (int64_t q = 0; q < p->k; q++)
            rn[i] += (double)opa(p, i, q) * opa(p, i, q);
        rn[i] = sqrt(rn[i]);
    }
    for (int64_t j = 0; j < p->n; j++) {
        cn[j] = 0;
        for (int64_t q = 0; q < p->k; q++)
            cn[j] += (double)opb(p, q, j) * opb(p, q, j);
        cn[j] = sqrt(cn[j]);
    }
    const double u = ldexp(1.0, -24);
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++) {
            double mag = fabs(p->alpha) * rn[i] * cn[j] +
                         (p->beta == 0.0f ? 0.0 : fabs(p->beta * p->c0[i * p->ldc + j]));
            bound[i * p->n + j] = (double)(p->k + 6) * u * mag + 1e-37;
        }
    free(rn);
    free(cn);
    for (int vi = 0; vi < NVARIANTS; vi++) {
        if (!variant_applies(&variants[vi], p->ta, p->tb))
            continue;
        float *c = run_variant(p, &variants[vi]);
        for (int64_t i = 0; i < p->m && !bad; i++)
            for (int64_t j = 0; j < p->n; j++) {
                double d = fabs((double)c[i * p->ldc + j] - ref[i * p->ldc + j]);
                if (!(d <= bound[i * p->n + j])) { /* also catches NaN */
                    fprintf(stderr,
                            "\n  %s variant %d ta=%d tb=%d %lldx%lldx%lld alpha=%g beta=%g: "
                            "C(%lld,%lld)=%.9g ref %.9g bound %.3g",
                            what, vi, p->ta, p->tb, (long long)p->m, (long long)p->n,
                            (long long)p->k, p->alpha, p->beta, (long long)i, (long long)j,
                            c[i * p->ldc + j], ref[i * p->ldc + j], bound[i * p->n + j]);
                    bad = 1;
                    break;
                }
            }
        if (!pad_intact(p, c)) {
            fprintf(stderr, "\n  %s variant %d wrote into C's padding", what, vi);
            bad = 1;
        }
        free(c);
    }
    free(bound);
    free(ref);
    return bad;
}

static void fill_random(problem *p)
{
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t q = 0; q < p->k; q++)
            *aref(p, i, q) = rnd_unit();
    for (int64_t q = 0; q < p->k; q++)
        for (int64_t j = 0; j < p->n; j++)
            *bref(p, q, j) = rnd_unit();
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++)
            p->c0[i * p->ldc + j] = p->beta == 0.0f ? NAN : rnd_unit();
}

static int random_case(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t pad, float alpha,
                       float beta, const char *what)
{
    problem p;
    problem_init(&p, ta, tb, m, n, k, pad, alpha, beta);
    fill_random(&p);
    int bad = check_against_reference(&p, what);
    problem_free(&p);
    return bad;
}

static void test_random_shapes(void)
{
    static const float alphas[] = {1.0f, -1.0f, 0.37f, 2.5f};
    static const float betas[] = {0.0f, 1.0f, -0.8f, 0.25f};
    int bad = 0;
    for (int it = 0; it < 48; it++) {
        int ta = it & 1, tb = (it >> 1) & 1;
        /* Mostly small, some up to 300 in each dimension. */
        int64_t hi = it % 4 == 3 ? 300 : 70;
        int64_t m = rnd_range(1, hi), n = rnd_range(1, hi), k = rnd_range(1, hi);
        bad += random_case(ta, tb, m, n, k, rnd_range(0, 5), alphas[rnd() % 4], betas[it / 4 % 4],
                           "random");
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* The products LeNet-5 training runs: im2col convolutions, fully connected
 * layers (Y = X W^T) and their backward products. */
static void test_lenet_shapes(void)
{
    static const struct {
        int ta, tb;
        int64_t m, n, k;
    } s[] = {
        {0, 0, 6, 784, 25},     /* conv1 forward, one image */
        {0, 0, 6, 25088, 25},   /* conv1 forward, batch of 32 */
        {0, 0, 16, 100, 150},   /* conv2 forward */
        {0, 0, 16, 3200, 150},  /* conv2 forward, batch of 32 */
        {0, 1, 32, 120, 400},   /* fc1 forward, batch 32 */
        {0, 1, 32, 84, 120},    /* fc2 */
        {0, 1, 32, 10, 84},     /* fc3 */
        {0, 1, 1000, 120, 400}, /* fc1 forward, batch 1000 */
        {0, 1, 1000, 10, 84},   /* fc3, batch 1000 */
        {1, 0, 120, 400, 32},   /* fc1 dW = dY^T X */
        {1, 0, 10, 84, 1000},   /* fc3 dW, batch 1000 */
        {0, 0, 32, 400, 120},   /* fc1 dX = dY W */
        {0, 0, 1000, 84, 10},   /* fc3 dX, batch 1000 */
        {0, 1, 6, 25, 784},     /* conv1 dW = dY col^T */
        {0, 1, 16, 150, 100},   /* conv2 dW */
        {0, 1, 6, 25, 25088},   /* conv1 dW, batch */
        {1, 0, 25, 784, 6},     /* conv1 dcol = W^T dY */
        {1, 0, 150, 100, 16},   /* conv2 dcol */
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        bad += random_case(s[i].ta, s[i].tb, s[i].m, s[i].n, s[i].k, 0, 1.0f, 0.0f, "lenet");
        /* Accumulating into C (as gradients do), padded; the few large
         * products once only, to keep the test fast. */
        if (s[i].m * s[i].n * s[i].k <= 4000000)
            bad += random_case(s[i].ta, s[i].tb, s[i].m, s[i].n, s[i].k, 2, -0.5f, 1.0f, "lenet");
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* beta == 0 must not read C (NaN there stays out of the result); alpha == 0
 * or k == 0 reduce to C = beta * C; m or n == 0 touches nothing. */
static void test_special_scalars(void)
{
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}; /* A*B = [19 22; 43 50] */
    float c[4] = {NAN, NAN, NAN, NAN};
    tc_sgemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    CU_ASSERT_EQUAL(c[0], 19.0f);
    CU_ASSERT_EQUAL(c[1], 22.0f);
    CU_ASSERT_EQUAL(c[2], 43.0f);
    CU_ASSERT_EQUAL(c[3], 50.0f);

    float d[4] = {1, 2, 3, 4};
    tc_sgemm(0, 0, 2, 2, 2, 0.0f, a, 2, b, 2, 3.0f, d, 2);
    CU_ASSERT_EQUAL(d[0], 3.0f);
    CU_ASSERT_EQUAL(d[3], 12.0f);
    float e[4] = {NAN, NAN, NAN, NAN};
    tc_sgemm(0, 0, 2, 2, 0, 1.0f, a, 2, b, 2, 0.0f, e, 2);
    CU_ASSERT_EQUAL(e[0], 0.0f);
    CU_ASSERT_EQUAL(e[3], 0.0f);
    float f[4] = {1, 2, 3, 4};
    tc_sgemm(0, 0, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, f, 2);
    tc_sgemm(0, 0, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, f, 2);
    CU_ASSERT_EQUAL(f[0], 1.0f);
    CU_ASSERT_EQUAL(f[3], 4.0f);

    /* A large beta == 0 product over NaN-filled C, every variant. */
    CU_ASSERT_EQUAL(random_case(0, 0, 40, 50, 30, 1, 1.5f, 0.0f, "nan-c"), 0);
    CU_ASSERT_EQUAL(random_case(0, 1, 40, 50, 30, 1, 1.5f, 0.0f, "nan-c"), 0);
}

/* ---- determinism ----------------------------------------------------------- */

typedef struct nested_arg {
    const problem *p;
    const variant *v;
    float *c[2];
} nested_arg;

static void nested_fn(void *arg, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    nested_arg *na = arg;
    for (int64_t i = begin; i < end; i++) {
        memcpy(na->c[i], na->p->c0, (size_t)(na->p->m * na->p->ldc) * sizeof(float));
        tc_sgemm_ex(na->v->isa, na->v->path, na->p->ta, na->p->tb, na->p->m, na->p->n,
                    na->p->k, na->p->alpha, na->p->a, na->p->lda, na->p->b, na->p->ldb,
                    na->p->beta, na->c[i], na->p->ldc, NULL, NULL);
    }
}

static void test_threads_bit_identical(void)
{
    /* Each above the size (1e6 flops) at which the work is split over
     * threads; splits of N and of M, several K blocks, every path. */
    static const struct {
        int ta, tb;
        int64_t m, n, k;
    } s[] = {
        {0, 0, 6, 4000, 25},   {0, 0, 100, 90, 130}, {1, 0, 60, 200, 150}, {0, 1, 200, 60, 100},
        {0, 1, 16, 60, 1200},  {1, 1, 97, 101, 130}, {0, 0, 150, 37, 300},
    };
    const int saved = tc_get_threads();
    int bad = 0;
    for (size_t si = 0; si < sizeof s / sizeof s[0]; si++) {
        problem p;
        problem_init(&p, s[si].ta, s[si].tb, s[si].m, s[si].n, s[si].k, 1, 1.0f, 0.5f);
        fill_random(&p);
        for (int vi = 0; vi < NVARIANTS; vi++) {
            if (!variant_applies(&variants[vi], p.ta, p.tb))
                continue;
            tc_set_threads(1);
            float *one = run_variant(&p, &variants[vi]);
            tc_set_threads(2);
            float *two = run_variant(&p, &variants[vi]);
            float *again = run_variant(&p, &variants[vi]);
            tc_set_threads(3);
            float *three = run_variant(&p, &variants[vi]);
            size_t bytes = (size_t)(p.m * p.ldc) * sizeof(float);
            /* Called from inside a parallel region: runs serially there. */
            tc_set_threads(2);
            nested_arg na = {&p, &variants[vi], {new_mat(p.m, p.n, p.ldc, 0.0f),
                                                 new_mat(p.m, p.n, p.ldc, 0.0f)}};
            tc_parallel_for(2, nested_fn, &na);
            if (memcmp(one, two, bytes) || memcmp(two, again, bytes) ||
                memcmp(one, three, bytes) || memcmp(one, na.c[0], bytes) ||
                memcmp(one, na.c[1], bytes)) {
                fprintf(stderr, "\n  threads: variant %d shape %zu differs", vi, si);
                bad++;
            }
            free(one);
            free(two);
            free(again);
            free(three);
            free(na.c[0]);
            free(na.c[1]);
        }
        problem_free(&p);
    }
    tc_set_threads(saved);
    CU_ASSERT_EQUAL(bad, 0);
}

/* The variants the other tests force must exist here: on a CPU without
 * AVX2 the AVX2 half is not run, and that is said, not counted as passed. */
static void test_isa_report(void)
{
    tc_gemm_isa used;
    float a = 2, b = 3, c = 0;
    tc_sgemm_ex(TC_GEMM_ISA_AUTO, TC_GEMM_PATH_AUTO, 0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f,
                &c, 1, NULL, &used);
    CU_ASSERT_EQUAL(c, 6.0f);
    /* the widest this CPU has, unless TINYCNN_GEMM_ISA caps it */
    tc_gemm_isa widest = tc_gemm_have_avx512() ? TC_GEMM_ISA_AVX512
                         : tc_gemm_have_avx2() ? TC_GEMM_ISA_AVX2 : TC_GEMM_ISA_GENERIC;
    CU_ASSERT_EQUAL(used, getenv("TINYCNN_GEMM_ISA") ? tc_gemm_default_isa() : widest);
    if (!tc_gemm_have_avx2())
        fprintf(stderr, "\n  note: this CPU has no AVX2+FMA; only the generic kernels ran");
    else if (!tc_gemm_have_avx512())
        fprintf(stderr, "\n  note: this CPU has no AVX-512F; the AVX-512 kernels were not run");
}

int main(void)
{
    static const tcu_test tests[] = {
        {"hand-computed 2x3x2, all transposes and variants", test_hand_2x3x2},
        {"exact integer products around tile and block edges", test_exact_edges},
        {"exact integer products beyond one cache block", test_exact_beyond_blocks},
        {"random shapes against the reference", test_random_shapes},
        {"LeNet-5 shapes against the reference", test_lenet_shapes},
        {"beta 0 over NaN, alpha 0, k 0, empty", test_special_scalars},
        {"bit-identical for 1, 2, 3 threads, reruns, nested", test_threads_bit_identical},
        {"instruction set in use", test_isa_report},
        {NULL, NULL},
    };
    return tcu_run("gemm", tests);
}
