/* A run's micro-batch, and which world sizes can share it out (see include/yolo/microbatch.h).
 *
 * One rule for the command line, which refuses a split before any run folder exists, and for the
 * trainer, which applies it. No libtorch here: yolo-args links it. */
#ifndef YOLO_MICROSPLIT_H
#define YOLO_MICROSPLIT_H

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The micro-batch of a run that trains `batch` samples a step on `world` ranks, into *out. `micro` is
 * the run's micro-batch (0: a new run, which takes batch / world); a run whose micro-batch was its
 * whole batch (`batch_before`) keeps training whole batches when batch changes. YOLO_ERR_USAGE with one
 * line (after "what: ", except for a new run's batch / world) when the batch is not a whole number of
 * micro-batches or the world size cannot give every rank the same number of them. */
yolo_status microsplit_resolve(int batch, int world, int micro, int batch_before, const char *what, int *out);

#ifdef __cplusplus
}
#endif
#endif
