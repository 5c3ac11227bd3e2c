/* Where a run's dataset is: recorded when the run saves, found again when it resumes.
 *
 * A run records its dataset (train_args.data) as an absolute path, the root its data.yaml's path: led to
 * (absolute: the working folder that chose it may be another one at the next resume), and both again
 * relative to the run folder, in the checkpoint's "dataset" entry. A resume takes the absolute paths where
 * they exist, else the ones beside the run folder, so that a run folder moved or copied with its dataset
 * finds it, and one moved without it finds it where it was. */
#ifndef YOLO_RUNDATA_H
#define YOLO_RUNDATA_H

#include <stddef.h>

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets ckpt's "dataset" entry for the run in run_dir (absolute, as lock_run_dir gives it): data is the
 * dataset path, root the data.yaml's root or NULL/"" for other datasets (each made absolute here). */
yolo_status rundata_put(yv_doc *doc, yv *ckpt, const char *run_dir, const char *data, const char *root);

/* The run's dataset now: into data (and its root into root, "" when there is none to pin). Not found:
 * YOLO_ERR_NOTFOUND with one line naming the places tried and how to point the run at the dataset. */
yolo_status rundata_find(const yv *ckpt, const char *run_dir, char *data, size_t dcap, char *root,
                         size_t rcap);

/* The path of to relative to the folder from (both absolute), into out ("." when equal). */
void rundata_relative(const char *from, const char *to, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
