/* Placeholder fast SGEMM: to be replaced by the blocked, packed kernel. */
#include "tinycnn/kernels.h"

void tc_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc)
{
    tc_sgemm_reference(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
