/* Worker threads: a thin layer over OpenMP so that layers (through the host
 * table) and kernels share one pool and one static split. */
#include "tinycnn/kernels.h"

#include <omp.h>

void tc_set_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int tc_get_threads(void)
{
    return omp_get_max_threads();
}

void tc_parallel_for(int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end, int worker),
                     void *arg)
{
    if (n <= 0)
        return;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > n)
        nt = (int)n;
    if (nt <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int64_t begin = n * t / nt, end = n * (t + 1) / nt;
        if (begin < end)
            fn(arg, begin, end, t);
    }
}
