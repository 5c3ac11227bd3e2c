/* yolo-train-epoch-client: runs yolo-train-epoch through the trainer server named by
 * YOLO_TRAINER_SOCKET (yolo-train-epoch --serve), or execs yolo-train-epoch when there is none or it
 * refuses. It takes yolo-train-epoch's arguments and behaves like it: same stdin, stdout and stderr,
 * same exit status, Ctrl+C and kill passed on (man 1 yolo-train-epoch, TRAINER SERVER). It does not
 * link libtorch, so it starts in a millisecond. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/serve.h"

static const char *const TRAINER = "yolo-train-epoch";

/* The trainer beside this program (a build folder or PREFIX/bin), else the one on PATH. */
static _Noreturn void exec_trainer(char **argv) {
    char self[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    argv[0] = (char *)TRAINER;
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/%s", self, TRAINER);
            if (access(path, X_OK) == 0) execv(path, argv);
        }
    }
    execvp(TRAINER, argv);
    fprintf(stderr, "%s-client: cannot run %s: %s (build it with make, or put it on PATH)\n", TRAINER,
            TRAINER, strerror(errno));
    exit(127);
}

int main(int argc, char **argv) {
    const char *sock = getenv("YOLO_TRAINER_SOCKET");
    if (sock && *sock) {
        const char *pid = getenv("YOLO_TRAINER_PID");
        int ws = 0;
        char why[400] = "";
        serve_result r = serve_call(sock, pid ? (pid_t)atol(pid) : 0, argc, argv, &ws, why, sizeof why);
        if (r == SERVE_DONE) serve_exit_like(ws);
        if (r == SERVE_LOST) {
            fprintf(stderr, "%s: %s; the last checkpoint written is whole (resume from it)\n", TRAINER, why);
            return 1;
        }
        const char *prof = getenv("YOLO_PROFILE");
        if (prof && *prof && strcmp(prof, "0"))
            fprintf(stderr, "profile: %s; running %s directly\n", why, TRAINER);
    }
    exec_trainer(argv);
}
