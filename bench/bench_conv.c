/* bench_conv - GFLOP/s of the Conv2d layer on 3x3 convolutions (stride 1
 * or 2, padding 1, C in = C out unless --shape says O) of 16-256 channels
 * (or the kernel size and padding --shape gives, e.g. LeNet-5's 5x5),
 * forward, backward-data and backward-weights, against one core's FP32 FMA
 * peak measured here.
 *
 *   bench_conv [--threads N] [--batch "32 128"] [--isa "avx2 avx512"]
 *              [--reps R] [--stride S] [--shape C,HW[,O[,K[,P]]]]...
 *              [--plugins DIR]
 *
 * With --stride 2 and no --shape the shapes are those of ResNet stages'
 * first convolutions (C -> 2C, halving the image) and a few C -> C.
 *
 * The peak is the rate of 12 independent chains of vector FMAs (long enough
 * to hide the latency), one per instruction set the CPU has. With several
 * --isa values the shapes are timed with the GEMM forced to each in turn,
 * shape by shape (round robin, R rounds, best kept), so that a burst of
 * other work on a shared machine lands on all of them alike; compare those
 * columns as ratios. Backward-weights is backward without the input
 * gradient; backward-data is the full backward minus that. --plugins loads
 * Conv2d from another folder (a saved build of it, to compare builds). */
#define _POSIX_C_SOURCE 200809L
#include "gemm_internal.h"
#include "tinycnn/kernels.h"
#include "tinycnn/layer_check.h"
#include "tinycnn/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define MAX_ISAS 3
#define MAX_SHAPES 16
#define CHAINS 12

/* Process CPU time on one thread (time the machine gives to other work does
 * not count: the figures stay comparable on a shared machine), wall-clock
 * time with more threads. */
static int use_cpu_clock = 1;

static double now(void)
{
    struct timespec ts;
    clock_gettime(use_cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- peak: CHAINS independent FMA chains ------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
#define FMA_PEAK(NAME, TARGET, T, SET1, FMA, ADD, LANES)                                    \
    __attribute__((target(TARGET))) static double NAME(long iters)                          \
    {                                                                                        \
        T acc[CHAINS];                                                                       \
        const T m = SET1(0.999999f), a = SET1(1e-7f);                                        \
        for (int i = 0; i < CHAINS; i++)                                                     \
            acc[i] = SET1((float)i);                                                         \
        double t0 = now();                                                                   \
        for (long it = 0; it < iters; it++)                                                  \
            for (int i = 0; i < CHAINS; i++)                                                 \
                acc[i] = FMA(acc[i], m, a);                                                  \
        double t = now() - t0;                                                               \
        T s = acc[0];                                                                        \
        for (int i = 1; i < CHAINS; i++)                                                     \
            s = ADD(s, acc[i]);                                                              \
        float out[LANES];                                                                    \
        memcpy(out, &s, sizeof out);                                                         \
        if (out[0] == 12345.0f) /* keeps the chains live */                                  \
            printf(" ");                                                                     \
        return 2.0 * LANES * CHAINS * (double)iters / t * 1e-9;                              \
    }
FMA_PEAK(peak_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
FMA_PEAK(peak_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
#endif

/* Best of 5 runs of ~0.2 s: GFLOP/s of one core with isa's vectors. */
static double measure_peak(tc_gemm_isa isa)
{
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double g = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (isa == TC_GEMM_ISA_AVX512)
            g = peak_avx512(20000000);
        else if (isa == TC_GEMM_ISA_AVX2)
            g = peak_avx2(20000000);
#endif
        if (g > best)
            best = g;
    }
    return best;
}

/* ---- the convolutions -------------------------------------------------- */

typedef struct conv_shape {
    int64_t c, hw, o; /* input channels, input height = width, output channels */
    int64_t k, p;     /* kernel size and padding (3, 1 unless --shape says) */
} conv_shape;

static const conv_shape default_shapes[] = {
    {16, 32, 16, 3, 1},   {32, 32, 32, 3, 1},  {64, 32, 64, 3, 1},  {64, 16, 64, 3, 1},
    {128, 16, 128, 3, 1}, {128, 8, 128, 3, 1}, {256, 8, 256, 3, 1}, {256, 4, 256, 3, 1},
};
static const conv_shape default_shapes_s2[] = {
    {16, 32, 32, 3, 1},  {32, 16, 64, 3, 1}, {64, 16, 128, 3, 1},  {128, 16, 256, 3, 1},
    {32, 32, 32, 3, 1},  {64, 16, 64, 3, 1}, {128, 8, 128, 3, 1}, {256, 8, 256, 3, 1},
};

/* Seconds of the best of `reps` calls of fn on lc. */
typedef int (*layer_call)(tc_layer_check *lc, tc_error *err);
static double time_call(tc_layer_check *lc, layer_call fn, int reps)
{
    tc_error err = {{0}};
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (fn(lc, &err)) {
            fprintf(stderr, "bench_conv: %s\n", err.msg);
            exit(1);
        }
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

/* Best seconds of forward, full backward and weights-only backward. */
typedef struct timing {
    double fwd, bwd, bwd_w;
} timing;

static void time_shape(tc_layer_check *lc, int reps, timing *t)
{
    t->fwd = time_call(lc, tc_layer_check_forward, reps);
    lc->needs_grad[0] = 1;
    t->bwd = time_call(lc, tc_layer_check_backward, reps);
    lc->needs_grad[0] = 0;
    t->bwd_w = time_call(lc, tc_layer_check_backward, reps);
    lc->needs_grad[0] = 1;
}

static void keep_best(timing *best, const timing *t)
{
    if (t->fwd < best->fwd)
        best->fwd = t->fwd;
    if (t->bwd < best->bwd)
        best->bwd = t->bwd;
    if (t->bwd_w < best->bwd_w)
        best->bwd_w = t->bwd_w;
}

static tc_gemm_isa parse_isa(const char *s)
{
    if (strcmp(s, "avx512") == 0)
        return TC_GEMM_ISA_AVX512;
    if (strcmp(s, "avx2") == 0)
        return TC_GEMM_ISA_AVX2;
    if (strcmp(s, "generic") == 0)
        return TC_GEMM_ISA_GENERIC;
    fprintf(stderr, "bench_conv: unknown instruction set %s (generic, avx2, avx512)\n", s);
    exit(2);
}

typedef struct options {
    int threads, reps, n_isas, n_batches, n_shapes, stride;
    const char *plugins; /* the folder Conv2d is loaded from */
    tc_gemm_isa isas[MAX_ISAS];
    int64_t batches[4];
    conv_shape shapes[MAX_SHAPES];
} options;

static void parse_args(int argc, char **argv, options *o)
{
    *o = (options){.threads = 1, .reps = 3, .n_isas = 1, .n_batches = 2, .batches = {32, 128},
                   .plugins = TC_BENCH_PLUGIN_DIR, .stride = 1};
    o->isas[0] = tc_gemm_default_isa(); /* the widest, or TINYCNN_GEMM_ISA */
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char buf[256], *save = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bench_conv [--threads N] [--batch \"32 128\"] [--isa \"avx2 avx512\"]\n"
                   "                  [--reps R] [--stride S] [--shape C,HW[,O[,K[,P]]]]...\n"
                   "                  [--plugins DIR]\n"
                   "3x3 convolutions (stride S, default 1, padding 1, O = C unless given;\n"
                   "--shape 6,14,16,5,0: 5x5 kernels, no padding, as LeNet-5's conv2):\n"
                   "GFLOP/s of forward, backward-data and backward-weights and %% of the\n"
                   "FP32 FMA peak measured first. --plugins loads Conv2d from DIR (default %s).\n",
                   TC_BENCH_PLUGIN_DIR);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "bench_conv: %s needs a value\n", argv[i]);
            exit(2);
        }
        snprintf(buf, sizeof buf, "%s", v);
        if (strcmp(argv[i], "--threads") == 0) {
            o->threads = atoi(v);
        } else if (strcmp(argv[i], "--plugins") == 0) {
            o->plugins = v;
        } else if (strcmp(argv[i], "--stride") == 0) {
            o->stride = atoi(v);
            if (o->stride < 1) {
                fprintf(stderr, "bench_conv: --stride wants 1 or more, got %s\n", v);
                exit(2);
            }
        } else if (strcmp(argv[i], "--reps") == 0) {
            o->reps = atoi(v);
        } else if (strcmp(argv[i], "--isa") == 0) {
            o->n_isas = 0;
            for (char *t = strtok_r(buf, " ,", &save); t && o->n_isas < MAX_ISAS;
                 t = strtok_r(NULL, " ,", &save))
                o->isas[o->n_isas++] = parse_isa(t);
        } else if (strcmp(argv[i], "--batch") == 0) {
            o->n_batches = 0;
            for (char *t = strtok_r(buf, " ,", &save); t && o->n_batches < 4;
                 t = strtok_r(NULL, " ,", &save))
                o->batches[o->n_batches++] = atoll(t);
        } else if (strcmp(argv[i], "--shape") == 0 && o->n_shapes < MAX_SHAPES) {
            conv_shape s = {0, 0, 0, 3, 1};
            int got = sscanf(v, "%lld,%lld,%lld,%lld,%lld", (long long *)&s.c,
                             (long long *)&s.hw, (long long *)&s.o, (long long *)&s.k,
                             (long long *)&s.p);
            if (got < 2 || s.k < 1 || s.p < 0 || s.hw + 2 * s.p < s.k) {
                fprintf(stderr, "bench_conv: --shape wants C,HW[,O[,K[,P]]], got %s\n", v);
                exit(2);
            }
            if (got == 2)
                s.o = s.c;
            o->shapes[o->n_shapes++] = s;
        } else {
            fprintf(stderr, "bench_conv: unknown option %s\n", argv[i]);
            exit(2);
        }
        i++;
    }
    if (o->n_shapes == 0 && o->stride == 2) {
        o->n_shapes = (int)(sizeof default_shapes_s2 / sizeof default_shapes_s2[0]);
        memcpy(o->shapes, default_shapes_s2, sizeof default_shapes_s2);
    } else if (o->n_shapes == 0) {
        o->n_shapes = (int)(sizeof default_shapes / sizeof default_shapes[0]);
        memcpy(o->shapes, default_shapes, sizeof default_shapes);
    }
}

static void make_layer(const tc_layer_type *t, const conv_shape *s, int64_t batch, int stride,
                       int threads, tc_layer_check *lc)
{
    double v[TC_LAYER_CHECK_MAX_PARAMS];
    tc_error err = {{0}};
    tc_layer_check_defaults(t, v);
    tc_shape in = {.ndim = 4, .dims = {batch, s->c, s->hw, s->hw}};
    if (tc_layer_check_set_param(t, v, "out_channels", (double)s->o, &err) ||
        tc_layer_check_set_param(t, v, "kernel_size", (double)s->k, &err) ||
        tc_layer_check_set_param(t, v, "stride", stride, &err) ||
        tc_layer_check_set_param(t, v, "padding", (double)s->p, &err) ||
        tc_layer_check_create(lc, t, v, &in, 1, threads, &err)) {
        fprintf(stderr, "bench_conv: %s\n", err.msg);
        exit(1);
    }
    tc_layer_check_fill(lc, 1, 0.0);
}

/* One row per instruction set: GFLOP/s and % of peak of the 3 products. */
static void print_rows(const conv_shape *s, int64_t batch, const options *o,
                       const timing *best, double peak)
{
    const int64_t ohw = (s->hw + 2 * s->p - s->k) / o->stride + 1;
    double flops = 2.0 * (double)batch * (double)s->c * (double)(s->k * s->k) * (double)s->o *
                   (double)(ohw * ohw);
    peak *= o->threads; /* of as many cores as threads */
    for (int i = 0; i < o->n_isas; i++) {
        const timing *t = &best[i];
        double f = flops / t->fwd * 1e-9, w = flops / t->bwd_w * 1e-9;
        double dd = t->bwd - t->bwd_w, d = dd > 0 ? flops / dd * 1e-9 : 0;
        char kp[24] = "";
        if (s->k != 3 || s->p != 1)
            snprintf(kp, sizeof kp, " k%lld p%lld", (long long)s->k, (long long)s->p);
        printf("| %3lld->%-3lld %3lldx%-3lld b%-3lld%s | %-7s | %6.1f %3.0f%% | %6.1f %3.0f%% | "
               "%6.1f %3.0f%% |\n",
               (long long)s->c, (long long)s->o, (long long)s->hw, (long long)s->hw,
               (long long)batch, kp, tc_gemm_isa_name(o->isas[i]), f,
               100 * f / peak, d, 100 * d / peak, w, 100 * w / peak);
    }
}

int main(int argc, char **argv)
{
    options o;
    parse_args(argc, argv, &o);
    tc_set_threads(o.threads);
    use_cpu_clock = o.threads == 1;
    tc_error err = {{0}};
    tc_registry *reg = tc_registry_new();
    if (!reg || tc_registry_load_dir(reg, o.plugins, &err)) {
        fprintf(stderr, "bench_conv: %s\n", err.msg);
        return 1;
    }
    const tc_layer_type *type = tc_registry_find(reg, "Conv2d", NULL);
    if (!type) {
        fprintf(stderr, "bench_conv: no Conv2d in %s\n", o.plugins);
        return 1;
    }
    double p2 = tc_gemm_have_avx2() ? measure_peak(TC_GEMM_ISA_AVX2) : 0;
    double p5 = tc_gemm_have_avx512() ? measure_peak(TC_GEMM_ISA_AVX512) : 0;
    double peak = p5 > p2 ? p5 : p2;
    printf("one core's FP32 FMA peak: AVX2 %.1f GFLOP/s, AVX-512 %.1f GFLOP/s "
           "(%% below: of %.1f x %d threads); %s time\n\n",
           p2, p5, peak, o.threads, use_cpu_clock ? "CPU" : "wall-clock");
    if (peak <= 0)
        peak = 1;
    printf("| conv (3x3 p1 unless named) s%d | GEMM | forward GF/s %%pk | bwd-data GF/s %%pk | "
           "bwd-weights GF/s %%pk |\n|---|---|---|---|---|\n",
           o.stride);
    for (int b = 0; b < o.n_batches; b++)
        for (int si = 0; si < o.n_shapes; si++) {
            tc_layer_check lc;
            make_layer(type, &o.shapes[si], o.batches[b], o.stride, o.threads, &lc);
            timing best[MAX_ISAS];
            for (int i = 0; i < o.n_isas; i++)
                best[i] = (timing){1e30, 1e30, 1e30};
            for (int r = 0; r < o.reps; r++)
                for (int i = 0; i < o.n_isas; i++) {
                    o.isas[i] = tc_gemm_set_isa(o.isas[i]);
                    timing t;
                    time_shape(&lc, 1, &t);
                    keep_best(&best[i], &t);
                }
            print_rows(&o.shapes[si], o.batches[b], &o, best, peak);
            fflush(stdout);
            tc_layer_check_free(&lc);
        }
    tc_registry_free(reg);
    return 0;
}
