/* Replaying fuzzing inputs outside libFuzzer: the tests that keep the seeds
 * and findings of tests/fuzz/ as regression tests feed each file of a
 * folder to a target's entry point. */
#ifndef TC_FUZZ_REPLAY_H
#define TC_FUZZ_REPLAY_H
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Runs fn on every file of dir but the hidden ones; returns how many (-1:
 * no folder). */
static inline int fuzz_replay_dir(const char *dir, fuzz_fn fn)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048]; /* a folder path of up to 1023 bytes and a name */
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 20]; /* the fuzzers run with -max_len=65536 */
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fn(buf, len);
        n++;
    }
    closedir(d);
    return n;
}
#endif
