/* A trainer server: one process that has loaded libtorch and forks a fresh process per epoch.
 *
 * Loading libtorch as Debian ships it takes about 0.3 s (292 shared libraries, then libtorch's operator
 * registration), every time a trainer process starts. The `yolo` loop runs one process per epoch, so
 * on small data that load is a quarter of each epoch. The server pays it once: `yolo-train-epoch
 * --serve SOCKET` loads libtorch, then waits on a Unix socket. `yolo-train-epoch-client` (which does
 * not link libtorch and starts in a millisecond) sends it its arguments, working folder, environment,
 * limits and standard descriptors; the server forks, and the child runs the trainer's main exactly as
 * an exec'd yolo-train-epoch would: reads last.pt, trains one epoch, writes the next checkpoint and
 * exits. Nothing of one epoch lives on in the server, which never touches a model or a tensor.
 *
 * The child behaves as if the client had exec'd the trainer: it has the client's stdin, stdout,
 * stderr (and YOLO_LOCK_FD), folder, umask, resource limits, CPU affinity, ignored signals and process
 * group, and the client exits with the child's status (or dies of its signal). Ctrl+C and kill reach
 * it as they would reach the trainer. If the client dies, the child kills itself at once. A request
 * the server cannot honour exactly (an environment variable that libgomp or glibc read at load time
 * differs, a limit it cannot raise) is refused, and the client then execs yolo-train-epoch itself. */
#ifndef YOLO_SERVE_H
#define YOLO_SERVE_H

#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The program a served process runs: the tool's main. */
typedef int (*serve_entry)(int argc, char **argv);

/* Serves requests on the Unix socket at path until stdin reaches end of file (the parent that started
 * the server closed its end, or died). Returns the server's exit status; failures print one line on
 * stderr prefixed with tool. Must be called before any thread exists (it forks). */
int serve_run(const char *tool, const char *path, serve_entry entry);

typedef enum {
    SERVE_DONE,        /* the served process ran; *wait_status holds its waitpid status */
    SERVE_UNAVAILABLE, /* no server, or it refused: run the tool directly (*why says why) */
    SERVE_LOST,        /* the server went away while the process ran: the outcome is unknown */
} serve_result;

/* Sends this process's invocation (argv, folder, environment, descriptors 0-2 and YOLO_LOCK_FD) to
 * the server at path. server_pid > 0: while that process lives, wait for the socket to appear (the
 * server is still loading libtorch). Forwards INT, TERM, HUP, QUIT, USR2 to the served process: the
 * first INT or TERM as SERVE_SOFT_SIGNAL, which the served process must treat as a first Ctrl+C
 * that never kills (the served process also receives the terminal's own SIGINT, being in the same
 * process group: one key press must stay one interrupt). */
serve_result serve_call(const char *path, pid_t server_pid, int argc, char **argv, int *wait_status,
                        char *why, unsigned long why_cap);

/* What a served process receives for the client's first interrupt. */
#define SERVE_SOFT_SIGNAL SIGUSR1

/* In a served process: SERVE_SOFT_SIGNAL is blocked from the fork until the entry installs its handler
 * and calls this (signals sent meanwhile are delivered then). No-op elsewhere. */
void serve_ready_for_signals(void);

/* Ends the calling process the way wait_status says another one ended: same exit code, or the same
 * signal (128 + signal number when it cannot be raised). */
_Noreturn void serve_exit_like(int wait_status);

#ifdef __cplusplus
}
#endif
#endif
