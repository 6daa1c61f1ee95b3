/* tc_dist_init without MPI, in libtinycnn: weak definitions, which the
 * MPI ones (src/dist_mpi.c) replace in a program compiled with them (the
 * runner, when built with -DTINYCNN_MPI=ON). Without them the API is there
 * and joining a group is refused, saying why. */
#include "tinycnn/dist.h"

#include <stddef.h>

#include "tinycnn/status.h"

__attribute__((weak)) int tc_dist_available(void)
{
    return 0;
}

__attribute__((weak)) tc_dist *tc_dist_init(tc_error *err)
{
    tc_error_set(err, "this tinycnn was built without MPI (configure with -DTINYCNN_MPI=ON, "
                      "with the Debian packages libopenmpi-dev and openmpi-bin installed)");
    return NULL;
}
