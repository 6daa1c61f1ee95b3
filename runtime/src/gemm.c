/* The fast SGEMM entry point: trivial cases, choice of algorithm and
 * instruction set, and the split over threads. The kernels themselves are in
 * gemm_driver.inc, compiled once per instruction set (gemm_generic.c,
 * gemm_avx2.c, gemm_avx512.c).
 *
 * Threads split M or N, never K, and every element of C is computed the same
 * way whichever thread owns it (see gemm_driver.inc), so the result does not
 * depend on the thread count. */
#include "tinycnn/kernels.h"
#include "gemm_internal.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Below this many flops a second thread costs more (waking it, sharing
 * caches) than it saves. */
#define PAR_MIN_FLOPS 1.0e6

/* ---- per-thread scratch ---------------------------------------------------
 * Each thread that runs a kernel keeps its packing buffers between calls (an
 * allocation per call would cost more than the small products it serves).
 * A thread-specific key frees them when the thread exits, OpenMP workers
 * included: their pool shrinks when the thread count goes down. The key is
 * created once and never changes after (process-wide, like default_isa
 * below). */
typedef struct scratch {
    float *buf[TC_GEMM_BUF_COUNT];
    size_t cap[TC_GEMM_BUF_COUNT];
} scratch;

static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;
static int scratch_key_ok;

static void scratch_free(void *p)
{
    scratch *s = p;
    for (int i = 0; i < TC_GEMM_BUF_COUNT; i++)
        free(s->buf[i]);
    free(s);
}

static void scratch_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

float *tc_gemm_scratch(int which, size_t floats)
{
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok)
        return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap[which] < floats) {
        size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
        float *p = aligned_alloc(64, bytes);
        if (!p)
            return NULL;
        free(s->buf[which]);
        s->buf[which] = p;
        s->cap[which] = bytes / sizeof(float);
    }
    return s->buf[which];
}

int tc_gemm_have_avx2(void)
{
#ifdef TC_GEMM_HAVE_AVX2_KERNELS
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int tc_gemm_have_avx512(void)
{
#ifdef TC_GEMM_HAVE_AVX2_KERNELS
    /* libgcc's check includes the OS saving the 512-bit state (XCR0) */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && tc_gemm_have_avx2();
#else
    return 0;
#endif
}

/* isa, or the widest this CPU has below it. */
static tc_gemm_isa usable_isa(tc_gemm_isa isa)
{
    if (isa == TC_GEMM_ISA_AVX512 && !tc_gemm_have_avx512())
        isa = TC_GEMM_ISA_AVX2;
    if (isa == TC_GEMM_ISA_AVX2 && !tc_gemm_have_avx2())
        isa = TC_GEMM_ISA_GENERIC;
    return isa;
}

const char *tc_gemm_isa_name(tc_gemm_isa isa)
{
    return isa == TC_GEMM_ISA_AVX512 ? "avx512" : isa == TC_GEMM_ISA_AVX2 ? "avx2" : "generic";
}

/* The instruction set AUTO means (0: not chosen yet): set once from the
 * environment, or by tc_gemm_set_isa. The second process-wide state here. */
static _Atomic int default_isa;

tc_gemm_isa tc_gemm_set_isa(tc_gemm_isa isa)
{
    tc_gemm_isa use = usable_isa(isa == TC_GEMM_ISA_AUTO ? TC_GEMM_ISA_AVX512 : isa);
    atomic_store(&default_isa, (int)use);
    return use;
}

tc_gemm_isa tc_gemm_default_isa(void)
{
    int isa = atomic_load(&default_isa);
    if (isa != 0)
        return (tc_gemm_isa)isa;
    const char *env = getenv("TINYCNN_GEMM_ISA");
    tc_gemm_isa want = TC_GEMM_ISA_AVX512;
    if (env && strcmp(env, "generic") == 0)
        want = TC_GEMM_ISA_GENERIC;
    else if (env && strcmp(env, "avx2") == 0)
        want = TC_GEMM_ISA_AVX2;
    return tc_gemm_set_isa(want);
}

/* The algorithm for a shape, chosen by the shape alone (never by the thread
 * count, which would change the arithmetic). */
static tc_gemm_path choose_path(tc_gemm_isa isa, int trans_a, int trans_b, int64_t m, int64_t n,
                                int64_t k)
{
    (void)k;
    if (!trans_a && trans_b) {
        /* Packing B^T is a transpose, as dear as MR..NR rows of compute;
         * with few rows of A, or so few columns that the register tile is
         * mostly padding, dot products along K win. The AVX-512 tile does
         * twice the work per packed value: there the packed path wins from
         * 16 rows on (measured on convolution weight gradients, m = 16..32,
         * n = 144..288: 1.3-3x). */
        if (m <= (isa == TC_GEMM_ISA_AVX512 ? 8 : 32) || n <= 12)
            return TC_GEMM_PATH_DOT;
    }
    /* With few rows of A, each sliver of B is used about once: copying it
     * first costs more than reading it in place (with AVX-512 measured up
     * to 64 rows: 1.15-1.35x on convolution products). */
    if (!trans_b && m <= (isa == TC_GEMM_ISA_AVX512 ? 64 : 4 * TC_GEMM_MR))
        return TC_GEMM_PATH_DIRECT_B;
    return TC_GEMM_PATH_PACKED;
}

typedef struct job {
    tc_gemm_args g;
    tc_gemm_isa isa;
    tc_gemm_path path;
    int split_n;  /* 1: threads own column ranges, 0: row ranges */
    int64_t unit; /* rows or columns per work unit: a register tile */
} job;

static void run_serial(const job *j, const tc_gemm_args *g)
{
    int rc;
#ifdef TC_GEMM_HAVE_AVX2_KERNELS
    if (j->isa == TC_GEMM_ISA_AVX512)
        rc = j->path == TC_GEMM_PATH_DOT
                 ? tc_gemm_dot_avx512(g)
                 : tc_gemm_packed_avx512(g, j->path == TC_GEMM_PATH_DIRECT_B);
    else if (j->isa == TC_GEMM_ISA_AVX2)
        rc = j->path == TC_GEMM_PATH_DOT
                 ? tc_gemm_dot_avx2(g)
                 : tc_gemm_packed_avx2(g, j->path == TC_GEMM_PATH_DIRECT_B);
    else
#endif
        rc = j->path == TC_GEMM_PATH_DOT
                 ? tc_gemm_dot_generic(g)
                 : tc_gemm_packed_generic(g, j->path == TC_GEMM_PATH_DIRECT_B);
    /* Out of memory for the packing buffers (C untouched): still give the
     * right answer, slowly, since tc_sgemm cannot report errors. */
    if (rc != 0)
        tc_sgemm_reference(g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, g->a, g->lda,
                           g->b, g->ldb, g->beta, g->c, g->ldc);
}

static void run_range(void *arg, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const job *j = arg;
    tc_gemm_args s = j->g;
    int64_t lo = begin * j->unit, hi = end * j->unit;
    if (j->split_n) {
        if (hi > s.n)
            hi = s.n;
        s.n = hi - lo;
        s.b += s.trans_b ? lo * s.ldb : lo;
        s.c += lo;
    } else {
        if (hi > s.m)
            hi = s.m;
        s.m = hi - lo;
        s.a += s.trans_a ? lo : lo * s.lda;
        s.c += lo * s.ldc;
    }
    run_serial(j, &s);
}

/* C = beta * C, not reading C when beta == 0. */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

void tc_sgemm_ex(tc_gemm_isa isa, tc_gemm_path path, int trans_a, int trans_b, int64_t m,
                 int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                 tc_gemm_path *used_path, tc_gemm_isa *used_isa)
{
    isa = isa == TC_GEMM_ISA_AUTO ? tc_gemm_default_isa() : usable_isa(isa);
    trans_a = trans_a != 0;
    trans_b = trans_b != 0;
    if (path == TC_GEMM_PATH_AUTO) {
        path = choose_path(isa, trans_a, trans_b, m, n, k);
        /* dot products of 16 lanes were measured slower than of 8 (the
         * longer reduction, half as many independent rows in L1) */
        if (path == TC_GEMM_PATH_DOT && isa == TC_GEMM_ISA_AVX512)
            isa = TC_GEMM_ISA_AVX2;
    } else if ((path == TC_GEMM_PATH_DOT && !(!trans_a && trans_b)) ||
             (path == TC_GEMM_PATH_DIRECT_B && trans_b))
        path = TC_GEMM_PATH_PACKED;
    if (used_path)
        *used_path = path;
    if (used_isa)
        *used_isa = isa;
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }

    job j = {
        .g = {trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc},
        .isa = isa,
        .path = path,
    };
    /* Split the longer side: when the threads own columns each packs all of
     * A, when they own rows each packs all of B, so the shorter side is the
     * one copied twice. */
    j.split_n = n >= m;
    if (path == TC_GEMM_PATH_DOT)
        j.unit = j.split_n ? TC_GEMM_DNR : TC_GEMM_DMR;
    else if (isa == TC_GEMM_ISA_AVX512)
        j.unit = j.split_n ? TC_GEMM_NR_AVX512 : TC_GEMM_MR_AVX512;
    else
        j.unit = j.split_n ? TC_GEMM_NR : TC_GEMM_MR;
    int64_t units = ((j.split_n ? n : m) + j.unit - 1) / j.unit;
    int nt = tc_in_parallel() ? 1 : tc_get_threads();
    if (nt > 1 && units > 1 && 2.0 * (double)m * (double)n * (double)k >= PAR_MIN_FLOPS)
        tc_parallel_for(units, run_range, &j);
    else
        run_serial(&j, &j.g);
}

void tc_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc)
{
    tc_sgemm_ex(TC_GEMM_ISA_AUTO, TC_GEMM_PATH_AUTO, trans_a, trans_b, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc, NULL, NULL);
}
