/* A trainer server: one process that has loaded libtorch and forks a fresh process per epoch.
 *
 * Loading libtorch as Debian ships it takes about 0.3 s (292 shared libraries, then libtorch's operator
 * registration), every time a trainer process starts. The `yolo` loop runs one process per epoch, so
 * on small data that load is a quarter of each epoch. The server pays it once: `yolo-train-epoch
 * --serve SOCKET` loads libtorch, then waits on a Unix socket. `yolo-train-epoch-client` (which does
 * not link libtorch and starts in a millisecond) sends it its arguments, working folder, environment,
 * limits and standard descriptors; the server forks, and the child runs the trainer's main exactly as
 * an exec'd yolo-train-epoch would: reads last.pt, trains one epoch, writes the next checkpoint and
 * exits. Nothing of one epoch lives on in the server, which never touches a model or a tensor, but the
 * pages of the memory it lent the epoch's process (serve_memory_fd), for the next epoch's process.
 * Several clients may be served at once (the ranks of `yolo world=N` on one machine).
 *
 * The child behaves as if the client had exec'd the trainer: it has the client's stdin, stdout,
 * stderr (and YOLO_LOCK_FD), folder, umask, resource limits, CPU affinity, ignored signals and process
 * group, and the client exits with the child's status (or dies of its signal). Ctrl+C and kill reach
 * it as they would reach the trainer. If the client dies, the child kills itself at once. A request
 * the server cannot honour exactly (an environment variable that libgomp or glibc read at load time
 * differs, a limit it cannot raise) is refused, and the client then execs yolo-train-epoch itself. */
#ifndef YOLO_SERVE_H
#define YOLO_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The program a served process runs: the tool's main. */
typedef int (*serve_entry)(int argc, char **argv);

/* Serves requests on the Unix socket at path until stdin reaches end of file (the parent that started
 * the server closed its end, or died); then takes no more, and returns once the trainers it runs have
 * ended and their clients have their status. Returns the server's exit status; failures print one line on
 * stderr prefixed with tool. Must be called before any thread exists (it forks). */
int serve_run(const char *tool, const char *path, serve_entry entry);

typedef enum {
    SERVE_DONE,        /* the served process ran; *wait_status holds its waitpid status */
    SERVE_UNAVAILABLE, /* no server, or it refused: run the tool directly (*why says why) */
    SERVE_LOST,        /* the server went away while the process ran: the outcome is unknown */
} serve_result;

/* Sends this process's invocation (argv, folder, environment, descriptors 0-2 and YOLO_LOCK_FD) to
 * the server at path. server_pid > 0: while that process lives, wait for the socket to appear (the
 * server is still loading libtorch). Forwards HUP, QUIT and USR2 to the served process as they are,
 * and every INT and TERM as SERVE_SOFT_SIGNAL carrying the signal's number (sigqueue), which the
 * served process counts with serve_count_interrupt. */
serve_result serve_call(const char *path, pid_t server_pid, int argc, char **argv, int *wait_status,
                        char *why, unsigned long why_cap);

/* What a served process receives for each interrupt the client gets. */
#define SERVE_SOFT_SIGNAL SIGUSR1

/* For the handler of SIGINT, SIGTERM and SERVE_SOFT_SIGNAL (installed with SA_SIGINFO, each blocking
 * the others): counts one interrupt and returns how many distinct ones there were so far, and in *as
 * the signal to die of when the caller stops being gentle. A key press on a terminal reaches a served
 * process twice: the terminal's SIGINT to the process group, and the client's forwarded one. Direct and
 * forwarded signals are counted apart and the larger count is the answer, so a key press counts once
 * whichever arrives first, while a signal that reaches only the client, or only this process, still
 * counts. Elsewhere (an exec'd trainer) only direct signals come, and each counts. Async-signal-safe. */
int serve_count_interrupt(int sig, const siginfo_t *info, int *as);

/* In a served process: SERVE_SOFT_SIGNAL is blocked from the fork until the entry installs its handler
 * and calls this (signals sent meanwhile are delivered then). No-op elsewhere. */
void serve_ready_for_signals(void);

/* In a served process: answer the client only at the exit, not as soon as the entry returned 0 (a CUDA
 * trainer's memory on the GPU is freed only at its exit, and the next epoch needs it). */
void serve_answer_at_exit(void);

/* In a served process: the memory file the server lends it, whose pages the previous trainer used and
 * the next one will (the allocator's source of large blocks: torch_memory_reuse); -1 elsewhere. */
int serve_memory_fd(void);

/* Ends the calling process the way wait_status says another one ended: same exit code, or the same
 * signal (128 + signal number when it cannot be raised). */
_Noreturn void serve_exit_like(int wait_status);

#ifdef __cplusplus
}
#endif
#endif
