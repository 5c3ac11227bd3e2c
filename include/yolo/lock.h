/* An exclusive lock on a run folder, so that two trainers never write the same checkpoints.
 *
 * The lock is flock(2) on RUN/.lock: the kernel drops it when the process dies, however it dies, so a
 * stale lock file never blocks a resume. The holder's pid and start time are written into the file,
 * only to make the refusal message useful.
 *
 * A parent that already holds the lock (the `yolo` loop, with `flock -n 9 9>RUN/.lock`) passes the
 * descriptor down in YOLO_LOCK_FD=9: lock_acquire then checks that the descriptor is that very file
 * and that the lock is held through it, instead of taking a second, conflicting one. */
#ifndef YOLO_LOCK_H
#define YOLO_LOCK_H

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct run_lock run_lock;

/* Name of the lock file inside the run folder. */
#define LOCK_FILE_NAME ".lock"

/* Takes the lock of run folder dir without waiting for a living holder. YOLO_ERR_LOCKED with one line
 * naming the holder ("runs/x: another trainer (pid 123, since 2026-11-29 01:02:03) holds the run
 * folder (wait for it to finish or stop it)") when it is taken; YOLO_ERR_IO when the file cannot be
 * created. A holder whose process has ended (killed) holds on through the processes it started until
 * they have exited, a moment: that lock is waited for, 5 seconds at most. */
yolo_status lock_acquire(const char *dir, run_lock **out);
/* Releases the lock (NULL is fine). */
void lock_release(run_lock *l);

/* The run folder of a checkpoint path: RUN for RUN/weights/NAME.pt, else the file's folder, as an
 * absolute real path (symlinks, "." and "//" resolved), so that every alias of a run finds the same
 * lock. */
void lock_run_dir(const char *ckpt_path, char *out, unsigned long cap);

#ifdef __cplusplus
}
#endif
#endif
