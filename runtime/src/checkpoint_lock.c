/* The advisory lock of a checkpoint path and the removal of the temporary
 * files that writers killed mid-write left (see tinycnn/checkpoint.h). */
#define _DEFAULT_SOURCE /* flock, dirent d_name */
#include "tinycnn/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"
#include "tinycnn/status.h"

struct tc_checkpoint_lock {
    int fd;
    char *path; /* "PATH.lock" */
};

/* The pid the holder wrote into the lock file; 0: unknown. */
static long holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

/* 1 when fd is still the file at path: a holder that unlocks removes the
 * file, so a lock taken on the removed one is no lock at all. */
static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static int lock_file(const char *ckpt, const char *lpath, tc_error *err)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return -1 - tc_error_set(err, "%s: cannot create the lock file %s: %s", ckpt, lpath,
                                     strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
            close(fd);
            if (e != EWOULDBLOCK)
                return -1 - tc_error_set(err, "%s: cannot lock %s: %s", ckpt, lpath,
                                         strerror(e));
            char who[48] = "";
            if (pid > 0)
                snprintf(who, sizeof who, " (pid %ld)", pid);
            return -1 - tc_error_set(err, "%s is being written by another tinycnn run%s; wait "
                                          "for it to end or choose another output (-o)",
                                     ckpt, who);
        }
        if (same_file(fd, lpath))
            return fd;
        close(fd); /* its holder removed it as we opened it: take the new one */
    }
    return -1 - tc_error_set(err, "%s: cannot lock %s: it keeps changing", ckpt, lpath);
}

/* Removes dir's entries named "BASE.tmp." and six more characters. */
static int remove_stale(const char *ckpt)
{
    char *dir = tc_path_folder(ckpt);
    const char *slash = strrchr(ckpt, '/');
    const char *base = slash ? slash + 1 : ckpt;
    size_t bl = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0 ||
            strlen(name + bl + 5) != 6)
            continue;
        char p[4200];
        if (snprintf(p, sizeof p, "%s/%s", dir, name) < (int)sizeof p && unlink(p) == 0)
            n++;
    }
    if (d)
        closedir(d);
    free(dir);
    return n;
}

tc_checkpoint_lock *tc_checkpoint_lock_take(const char *path, int *stale, tc_error *err)
{
    if (stale)
        *stale = 0;
    tc_checkpoint_lock *l = calloc(1, sizeof *l);
    size_t n = path ? strlen(path) : 0;
    if (l)
        l->path = malloc(n + sizeof ".lock");
    if (!l || !l->path) {
        free(l);
        tc_error_set(err, "out of memory");
        return NULL;
    }
    memcpy(l->path, path, n);
    memcpy(l->path + n, ".lock", sizeof ".lock");
    l->fd = lock_file(path, l->path, err);
    if (l->fd < 0) {
        free(l->path);
        free(l);
        return NULL;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, pid, (size_t)len, 0) != len) {
        tc_error_set(err, "%s: cannot write the lock file %s: %s", path, l->path,
                     strerror(errno ? errno : EIO));
        tc_checkpoint_unlock(l);
        return NULL;
    }
    int k = remove_stale(path);
    if (stale)
        *stale = k;
    return l;
}

void tc_checkpoint_unlock(tc_checkpoint_lock *l)
{
    if (!l)
        return;
    unlink(l->path); /* before closing: whoever opens it now gets a new file */
    close(l->fd);
    free(l->path);
    free(l);
}
