/* tinycnn/kernels.h - the compute kernels and thread pool the runtime offers
 * to layers (through tc_host) and to benchmarks. */
#ifndef TINYCNN_KERNELS_H
#define TINYCNN_KERNELS_H

#include <stdint.h>

#include "tinycnn/plugin.h" /* tc_error */

#ifdef __cplusplus
extern "C" {
#endif

/* Row-major SGEMM: C = alpha * op(A) * op(B) + beta * C, op(A) is M x K,
 * op(B) is K x N. Threads over the worker threads unless called from inside
 * tc_parallel_for. For the same thread count the result is bit-identical
 * from run to run. beta == 0 means C is not read (may hold NaN). The
 * kernels are the widest this CPU has, chosen at run time (AVX-512F, else
 * AVX2 + FMA, else portable 128-bit vectors); the environment variable
 * TINYCNN_GEMM_ISA=generic|avx2|avx512 caps that choice. Results may
 * differ in the last bits between instruction sets. */
void tc_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc);

/* The plain triple loop, the reference the fast kernel is tested against. */
void tc_sgemm_reference(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc);

/* Worker threads. tc_set_threads(0) means: as many as cores available. It
 * sets the process's OpenMP thread count (omp_set_num_threads). */
void tc_set_threads(int n);
/* The count tc_parallel_for and tc_sgemm use in the calling thread: its
 * local count when one is set, else OpenMP's (omp_get_max_threads). */
int tc_get_threads(void);
/* Sets the calling OS thread's own count (n <= 0: none, back to OpenMP's)
 * and returns the previous one (0: none). Only this thread's calls see it
 * and OpenMP's settings are unchanged: the inference API (tinycnn/model.h)
 * sets a model's count around each of its calls and restores it after. */
int tc_set_local_threads(int n);
/* The cores available to this process (what tc_set_threads(0) uses). */
int tc_cpu_count(void);
/* Checks that n worker threads can start (OpenMP's runtime ends the process
 * when it cannot create one, e.g. under a low ulimit -v): starts n - 1
 * threads with OpenMP's stack size, all alive at once, then ends them.
 * Cheap when a team of n already ran. Returns 0, or 1 with a message. */
int tc_threads_check(int n, tc_error *err);

/* Static split of [0, n) into tc_get_threads() contiguous chunks; fn runs once
 * per non-empty chunk with that chunk's worker index. Nested calls run
 * serially in the calling thread. */
/* 1 inside a chunk of tc_parallel_for, whether the chunk runs on a worker or
 * (on a contended machine) in the calling thread: work started there must
 * not split again, or results would depend on the machine's load. */
int tc_in_parallel(void);
void tc_parallel_for(int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                     void *arg);

#ifdef __cplusplus
}
#endif
#endif
