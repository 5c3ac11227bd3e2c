/* The files of a run folder that describe its checkpoint: RUN/args.yaml (the checkpoint's train_args)
 * and RUN/results.csv (its train_results, one row per finished epoch).
 *
 * Both are derived from last.pt, which holds the whole history: the trainer rewrites them after each
 * save, and `yolo-ckpt sync` (which every `yolo` command that touches a run calls, holding its lock)
 * brings them back into line when a kill or a full disk came between the checkpoint and them. Each is
 * written atomically and only when its text changes. */
#ifndef YOLO_RUNFILES_H
#define YOLO_RUNFILES_H

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUNFILES_ARGS "args.yaml"
#define RUNFILES_RESULTS "results.csv"

/* Writes run_dir/args.yaml from train_args (as args_write_yaml does; save_dir set to run_dir) and
 * run_dir/results.csv from train_results (removed when it has no rows). */
yolo_status runfiles_write(const char *run_dir, const yv *train_args, const yv *train_results);

#ifdef __cplusplus
}
#endif
#endif
