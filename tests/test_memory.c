/* The pool of large CPU blocks (lib/torch_memory.cpp) taking its pages from a memory file, as a trainer
 * forked by a trainer server does (lib/serve.c): a tensor's pages are the file's, and a freed block
 * serves the next tensor of its size; a second process given the same file uses the pages the first one
 * left there instead of making new ones; and where the file cannot make its pages (a full tmpfs), the
 * tensor takes private pages instead of the process dying of SIGBUS. The pool is set up once per
 * process, so each case runs in a process of its own. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/torch.h"

enum { FLOATS = 4 << 20 }; /* a 16 MiB tensor: the pool's (1 MiB and more) */
#define FILE_SIZE ((off_t)64 << 20)

/* bytes of the file that hold pages */
static long long file_pages(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? (long long)st.st_blocks * 512 : -1;
}

/* A 16 MiB tensor of zeros: where its data is, and whether it is all zero (NULL when it fails). */
static float *zeros(torch_tensor **t, bool *all_zero) {
    int64_t shape[1] = {FLOATS};
    if (torch_zeros(1, shape, TORCH_F32, TORCH_CPU, t) != YOLO_OK) return NULL;
    float *p = torch_data_ptr(*t);
    *all_zero = true;
    for (size_t i = 0; i < FLOATS; i++)
        if (p[i] != 0) *all_zero = false;
    return p;
}

/* The first process: its tensor's pages are the file's, and its freed block serves the next tensor. */
static void first(int fd) {
    CHECK(torch_memory_reuse(fd) == YOLO_OK, "the pool takes its pages from a memory file");
    torch_tensor *t = NULL, *u = NULL;
    bool z = false;
    float *p = zeros(&t, &z);
    CHECK(p && z, "a 16 MiB tensor of zeros from the file's pages");
    CHECK(file_pages(fd) >= (long long)FLOATS * 4, "the file holds its pages (%lld bytes)", file_pages(fd));
    torch_free(t);
    float *q = zeros(&u, &z);
    CHECK(q == p && z, "a freed block's pages serve the next tensor of its size");
    torch_free(u);
}

/* A second process on the same file: the pages are there, and no new ones are made. */
static void second(int fd) {
    long long before = file_pages(fd);
    CHECK(torch_memory_reuse(fd) == YOLO_OK, "a second process takes its pages from the same file");
    torch_tensor *t = NULL;
    bool z = false;
    CHECK(zeros(&t, &z) && z, "its 16 MiB tensor of zeros");
    CHECK(before > 0 && file_pages(fd) == before,
          "it used the pages the first process left in the file (%lld bytes, %lld before)", file_pages(fd),
          before);
    torch_free(t);
}

/* A file that cannot make its pages: a 1 MiB tmpfs, the file sparse and 64 MiB long. */
static void full(const char *dir) {
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("none", dir, "tmpfs", 0, "size=1m") != 0) {
        printf("skip - a file that cannot make its pages needs a tmpfs of its own (mount: %s; run as root)\n",
               strerror(errno));
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/pages", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, FILE_SIZE) == 0, "a 64 MiB file on a 1 MiB tmpfs");
    CHECK(torch_memory_reuse(fd) == YOLO_OK, "the pool takes its pages from it");
    torch_tensor *t = NULL;
    bool z = false;
    float *p = zeros(&t, &z);
    CHECK(p && z, "a 16 MiB tensor still comes, of private pages, all zero (not SIGBUS)");
    if (p) p[FLOATS - 1] = 1;
    CHECK(file_pages(fd) == 0, "the file keeps none of the pages it made before it was full (%lld bytes)",
          file_pages(fd));
    torch_free(t);
}

/* Runs one case in a child process; its end must be normal. */
static void in_child(const char *what, void (*fn)(int), int fd, void (*fn_dir)(const char *),
                     const char *dir) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (fn)
            fn(fd);
        else
            fn_dir(dir);
        fflush(stdout);
        _exit(tap_failures ? 1 : 0);
    }
    int ws = 0;
    CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
          "%s: its process ended normally (status %#x)", what, ws);
}

int main(void) {
    int fd = memfd_create("test-memory", MFD_CLOEXEC);
    CHECK(fd >= 0 && ftruncate(fd, FILE_SIZE) == 0, "a 64 MiB memory file");
    if (fd < 0) TAP_DONE();
    in_child("the first process", first, fd, NULL, NULL);
    in_child("the second process", second, fd, NULL, NULL);
    char dir[] = "/tmp/test_memory.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "a folder for a tmpfs");
    in_child("a full file", NULL, -1, full, dir);
    rmdir(dir);
    TAP_DONE();
}
