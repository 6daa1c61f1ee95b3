/* bench_gemm - GFLOP/s of tc_sgemm on the LeNet-5 products and a 512^3
 * square, against tc_sgemm_reference, on 1 and 2 threads.
 *
 *   bench_gemm            the table for bench/README.md
 *   bench_gemm --paths    also every algorithm / instruction set forced, one
 *                         thread (to tune the path choice in gemm.c)
 *   bench_gemm --quick    shorter timings
 *
 * Each figure is taken over many timed groups of calls: "best" is the
 * fastest group, "med" the median one. The 1- and 2-thread timings are
 * taken in turns (three rounds each) so that a burst of other work on the
 * machine does not land on one of them only. */
#define _POSIX_C_SOURCE 200809L
#include "gemm_internal.h"
#include "tinycnn/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *name;
    int ta, tb;
    int64_t m, n, k;
} shape;

static const shape shapes[] = {
    {"conv1 fwd (1 img)", 0, 0, 6, 784, 25},
    {"conv1 fwd (32 img)", 0, 0, 6, 25088, 25},
    {"conv2 fwd (1 img)", 0, 0, 16, 100, 150},
    {"conv2 fwd (32 img)", 0, 0, 16, 3200, 150},
    {"fc1 fwd b32", 0, 1, 32, 120, 400},
    {"fc2 fwd b32", 0, 1, 32, 84, 120},
    {"fc3 fwd b32", 0, 1, 32, 10, 84},
    {"fc1 fwd b1000", 0, 1, 1000, 120, 400},
    {"fc2 fwd b1000", 0, 1, 1000, 84, 120},
    {"fc3 fwd b1000", 0, 1, 1000, 10, 84},
    {"fc1 dW b32", 1, 0, 120, 400, 32},
    {"fc1 dW b1000", 1, 0, 120, 400, 1000},
    {"fc3 dW b1000", 1, 0, 10, 84, 1000},
    {"fc1 dX b32", 0, 0, 32, 400, 120},
    {"fc1 dX b1000", 0, 0, 1000, 400, 120},
    {"fc3 dX b1000", 0, 0, 1000, 84, 10},
    {"conv1 dW (1 img)", 0, 1, 6, 25, 784},
    {"conv1 dW (32 img)", 0, 1, 6, 25, 25088},
    {"conv2 dW (1 img)", 0, 1, 16, 150, 100},
    {"conv2 dW (32 img)", 0, 1, 16, 150, 3200},
    {"conv1 dcol (32 img)", 1, 0, 25, 25088, 6},
    {"conv2 dcol (32 img)", 1, 0, 150, 3200, 16},
    {"square 512", 0, 0, 512, 512, 512},
    {"square 512 NT", 0, 1, 512, 512, 512},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bufs {
    float *a, *b, *c;
} bufs;

static bufs make(const shape *s)
{
    bufs x;
    size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n), nc = (size_t)(s->m * s->n);
    x.a = malloc(na * sizeof(float));
    x.b = malloc(nb * sizeof(float));
    x.c = malloc(nc * sizeof(float));
    if (!x.a || !x.b || !x.c) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < na; i++)
        x.a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (size_t i = 0; i < nb; i++)
        x.b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    memset(x.c, 0, nc * sizeof(float));
    return x;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

typedef struct rate {
    double best, median; /* GFLOP/s */
} rate;

/* Timings, in seconds per call, of groups of calls. */
enum { MAX_GROUPS = 4096 };
typedef struct samples {
    double t[MAX_GROUPS];
    int n;
    long reps; /* calls per group, 0 until sized */
} samples;

/* Adds about `budget` seconds (at least 3 groups) of timings of one variant
 * to *sm: reference when ref, else tc_sgemm_ex(isa, path). Groups last at
 * least 100 us so that the clock is not what is measured. */
static void sample(samples *sm, const shape *s, const bufs *x, int ref, tc_gemm_isa isa,
                   tc_gemm_path path, double budget)
{
    const int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n, ldc = s->n;
    double start = now();
    int added = 0;
    while (sm->n < MAX_GROUPS && (added < 3 || now() - start < budget)) {
        long reps = sm->reps ? sm->reps : 1;
        double t0 = now();
        for (long r = 0; r < reps; r++) {
            if (ref)
                tc_sgemm_reference(s->ta, s->tb, s->m, s->n, s->k, 1.0f, x->a, lda, x->b, ldb,
                                   0.0f, x->c, ldc);
            else
                tc_sgemm_ex(isa, path, s->ta, s->tb, s->m, s->n, s->k, 1.0f, x->a, lda, x->b,
                            ldb, 0.0f, x->c, ldc, NULL, NULL);
        }
        double dt = (now() - t0) / (double)reps;
        if (!sm->reps) { /* warm-up call: size the groups */
            sm->reps = dt >= 100e-6 ? 1 : (long)(100e-6 / dt) + 1;
            continue;
        }
        sm->t[sm->n++] = dt;
        added++;
    }
}

/* The fastest group shows what the kernel can do, the median what one gets
 * on a machine shared with other work. */
static rate stats(samples *sm, const shape *s)
{
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    qsort(sm->t, (size_t)sm->n, sizeof sm->t[0], cmp_double);
    rate r = {flops / sm->t[0] * 1e-9, flops / sm->t[sm->n / 2] * 1e-9};
    return r;
}

static rate measure(const shape *s, const bufs *x, int ref, tc_gemm_isa isa, tc_gemm_path path,
                    double budget)
{
    static samples sm;
    sm.n = 0;
    sm.reps = 0;
    sample(&sm, s, x, ref, isa, path, budget);
    return stats(&sm, s);
}

int main(int argc, char **argv)
{
    int paths = 0;
    double budget = 0.3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--paths"))
            paths = 1;
        else if (!strcmp(argv[i], "--quick"))
            budget = 0.05;
        else {
            fprintf(stderr, "usage: %s [--paths] [--quick]\n", argv[0]);
            return 2;
        }
    }
    const int saved = tc_get_threads();
    printf("GFLOP/s, single precision; %s kernels\n\n", tc_gemm_isa_name(tc_gemm_default_isa()));
    printf("| %-20s | %-2s | %5s %5s %5s | %-6s | %9s | %7s | %7s | %7s | %7s |", "product", "op",
           "M", "N", "K", "path", "reference", "1t best", "1t med", "2t best", "2t med");
    if (paths)
        printf(" %7s %7s %7s %7s %7s %7s %7s %7s %7s |", "gen-pk", "gen-dB", "gen-dot", "avx-pk",
               "avx-dB", "avx-dot", "512-pk", "512-dB", "512-dot");
    printf("\n|%s|----|%s|--------|-----------|---------|---------|---------|---------|",
           "----------------------", "-------------------");
    if (paths)
        printf("-------------------------------------------------------------------------|");
    printf("\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        bufs x = make(s);
        tc_gemm_path chosen;
        tc_sgemm_ex(TC_GEMM_ISA_AUTO, TC_GEMM_PATH_AUTO, s->ta, s->tb, s->m, s->n, s->k, 1.0f,
                    x.a, s->ta ? s->m : s->k, x.b, s->tb ? s->k : s->n, 0.0f, x.c, s->n, &chosen,
                    NULL);
        tc_set_threads(1);
        rate r = measure(s, &x, 1, 0, 0, budget);
        static samples s1, s2;
        s1.n = s2.n = 0;
        s1.reps = s2.reps = 0;
        for (int round = 0; round < 3; round++) {
            tc_set_threads(1);
            sample(&s1, s, &x, 0, TC_GEMM_ISA_AUTO, TC_GEMM_PATH_AUTO, budget / 3);
            tc_set_threads(2);
            sample(&s2, s, &x, 0, TC_GEMM_ISA_AUTO, TC_GEMM_PATH_AUTO, budget / 3);
        }
        rate f1 = stats(&s1, s), f2 = stats(&s2, s);
        static const char *pname[] = {"auto", "packed", "direct", "dot"};
        printf("| %-20s | %c%c | %5lld %5lld %5lld | %-6s | %9.2f | %7.1f | %7.1f | %7.1f | %7.1f |",
               s->name, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', (long long)s->m, (long long)s->n,
               (long long)s->k, pname[chosen], r.median, f1.best, f1.median, f2.best, f2.median);
        if (paths) {
            tc_set_threads(1);
            for (int isa = TC_GEMM_ISA_GENERIC; isa <= TC_GEMM_ISA_AVX512; isa++)
                for (int p = TC_GEMM_PATH_PACKED; p <= TC_GEMM_PATH_DOT; p++) {
                    int ok = (p != TC_GEMM_PATH_DOT || (!s->ta && s->tb)) &&
                             (p != TC_GEMM_PATH_DIRECT_B || !s->tb);
                    if (ok)
                        printf(" %7.1f", measure(s, &x, 0, isa, p, budget / 2).best);
                    else
                        printf(" %7s", "-");
                }
        }
        printf("\n");
        fflush(stdout);
        free(x.a);
        free(x.b);
        free(x.c);
    }
    tc_set_threads(saved);
    return 0;
}
