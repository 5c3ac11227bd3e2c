/* Run-folder lock (see include/yolo/lock.h). */
#include "yolo/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct run_lock {
    int fd;
    int inherited; /* the descriptor came from YOLO_LOCK_FD: the parent owns it */
};

/* The folder dir as the kernel finds it (symlinks, "." and "//" resolved), or, when it does not exist
 * (yet), its nearest existing parent's real path with the rest appended as written. */
static void real_dir(const char *dir, char *out, unsigned long cap) {
    char *r = realpath(dir, NULL);
    if (r) {
        snprintf(out, cap, "%s", r);
        free(r);
        return;
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == 0) { /* trailing slashes */
        *slash = 0;
        slash = strrchr(parent, '/');
    }
    if (!slash) {
        char cwd[4096];
        /* a path too long for out is cut short: it then names no folder, and locking it fails */
        if (!getcwd(cwd, sizeof cwd) || snprintf(out, cap, "%s/%s", cwd, dir) >= (int)cap)
            snprintf(out, cap, "%s", dir);
        return;
    }
    *slash = 0;
    char up[4096];
    real_dir(slash == parent ? "/" : parent, up, sizeof up);
    if (snprintf(out, cap, "%s/%s", strcmp(up, "/") ? up : "", slash + 1) >= (int)cap)
        snprintf(out, cap, "%s", dir);
}

void lock_run_dir(const char *ckpt_path, char *out, unsigned long cap) {
    char dir[4096], buf[4096];
    snprintf(dir, sizeof dir, "%s", ckpt_path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        snprintf(dir, sizeof dir, "/");
    else
        *slash = 0;
    /* the real path: R/weights//last.pt, R/weights/./last.pt and a symlink to R/weights all name R, so
     * that they share one lock and one results.csv */
    real_dir(dir, buf, sizeof buf);
    /* RUN/weights/last.pt belongs to RUN, the folder that also holds results.csv */
    char *base = strrchr(buf, '/');
    if (base && !strcmp(base + 1, "weights")) {
        if (base == buf)
            base[1] = 0;
        else
            *base = 0;
    }
    snprintf(out, cap, "%s", buf);
}

/* Uses the parent's descriptor when it is the lock file of dir and already holds the lock. */
static int inherited_fd(const char *path) {
    const char *s = getenv("YOLO_LOCK_FD");
    if (!s || !*s) return -1;
    char *end;
    long fd = strtol(s, &end, 10);
    if (*end || fd < 0 || fd > 65535) return -1;
    struct stat a, b;
    if (fstat((int)fd, &a) != 0 || stat(path, &b) != 0) return -1;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) return -1;
    /* on the same open file description this succeeds only if nobody else holds it */
    if (flock((int)fd, LOCK_EX | LOCK_NB) != 0) return -1;
    return (int)fd;
}

/* Whether process pid runs (a zombie has ended; without /proc, whether it exists). */
static bool pid_runs(long pid) {
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return kill((pid_t)pid, 0) == 0 || errno == EPERM;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *state = strrchr(stat, ')'); /* the name in parentheses may hold anything */
    return !(state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X'));
}

yolo_status lock_acquire(const char *dir, run_lock **out) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, LOCK_FILE_NAME) >= (int)sizeof path)
        return yolo_error(YOLO_ERR_USAGE, "%s: path too long", dir);
    run_lock *l = calloc(1, sizeof *l);
    if (!l) return yolo_nomem();
    int fd = inherited_fd(path);
    if (fd >= 0) {
        l->fd = fd;
        l->inherited = 1;
        *out = l;
        return YOLO_OK;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(l);
        return yolo_error(YOLO_ERR_IO, "%s: cannot create the lock file (%s)", path, strerror(e));
    }
    char holder[128] = "";
    int e = 0;
    /* a holder that has ended (killed) holds on through what it started until that has exited: a
     * moment, waited for (5 s at most); a living holder, or one the note does not name, is refused */
    for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; tries++) {
        e = errno;
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        long pid;
        if (e != EWOULDBLOCK || sscanf(holder, "pid %ld,", &pid) != 1 || pid_runs(pid) || tries == 50) break;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
        e = 0;
    }
    if (e) {
        close(fd);
        free(l);
        if (e == EWOULDBLOCK)
            return yolo_error(YOLO_ERR_LOCKED,
                              "%s: another trainer%s%s%s holds the run folder (wait for it to finish or "
                              "stop it)",
                              dir, holder[0] ? " (" : "", holder, holder[0] ? ")" : "");
        return yolo_error(YOLO_ERR_IO, "%s: cannot lock (%s)", path, strerror(e));
    }
    char info[128];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int len = snprintf(info, sizeof info, "pid %ld, since ", (long)getpid());
    len += (int)strftime(info + len, sizeof info - (size_t)len, "%Y-%m-%d %H:%M:%S UTC\n", &tm);
    /* the note is only for messages: failing to write it does not matter */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, info, (size_t)len, 0) < 0) info[0] = 0;
    l->fd = fd;
    *out = l;
    return YOLO_OK;
}

void lock_release(run_lock *l) {
    if (!l) return;
    if (!l->inherited) {
        flock(l->fd, LOCK_UN);
        close(l->fd);
    }
    free(l);
}
