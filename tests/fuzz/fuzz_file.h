/* The readers under fuzzing take paths: each input is written to one
 * per-process temporary file first. */
#ifndef TC_FUZZ_FILE_H
#define TC_FUZZ_FILE_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes the size bytes of data to path; aborts where it cannot. */
static inline void fuzz_put(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

/* The per-process file, holding data. */
static inline const char *fuzz_write(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/tcfuzz-%ld.bin", (long)getpid());
    fuzz_put(path, data, size);
    return path;
}
#endif
