/* The epoch engine behind yolo-train-epoch: the whole training state of a run (network, optimizer,
 * EMA, schedule position, accumulation, early stopping, results), restored from a checkpoint or set up
 * from Ultralytics' args.yaml, advanced by one epoch over a sample stream, validated and saved.
 *
 * Everything the next step depends on is in the checkpoint (see yolo-checkpoint(5)), so running an
 * epoch in one process, or in pieces with mid-epoch saves and resumes, gives the same bits. */
#ifndef YOLO_TRAIN_H
#define YOLO_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "yolo/status.h"
#include "yolo/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trainer trainer;
typedef struct dist_group dist_group; /* include/yolo/dist.h */

/* Settings of this process; the only ones a resume may change (with batch, device and threads). */
typedef struct {
    int threads;        /* torch intra-op threads; 0: the checkpoint's, or all cores for a new run */
    int batch;          /* 0: the checkpoint's / args' batch */
    const char *device; /* NULL: the args' device ("cpu", "0", "cuda:1") */
    int save_every;     /* write the checkpoint every N batches inside the epoch (0: only at its end) */
    int stop_after;     /* stop after N batches of this process, saving the position (0: run to the end) */
    const char *data;   /* resume: the run's dataset found elsewhere (same class names), or NULL */
    const char *val_stream; /* a validation stream file instead of building one from the dataset */
    FILE *log;              /* progress and notes (stderr); NULL: silent */
    bool quiet_known;       /* no warnings about bad val files the label cache held (dataset_report_known) */
    /* set (by a signal handler) to stop after the current batch, saving the position like stop_after */
    volatile sig_atomic_t *interrupt;
    bool bar;     /* redraw one progress line (a terminal) instead of one line per batch */
    int columns;  /* the terminal's width: lines with a bar that fit in it; 0: plain lines (a pipe) */
    bool profile; /* print where the epoch's time went (data wait, forward, loss, ...) on log */
    /* Data-parallel training (see DATA PARALLEL in yolo-train-epoch(1)): this process is one rank of
     * group, which holds the process group's rank and world size; NULL: the only process. Rank 0 reads
     * the checkpoint (or args.yaml) and sends it to the others, and writes; every rank validates a share
     * of the val batches, rank 0 the results; the others write nothing. Each rank reads its own shard of the
     * train stream (train_expected). */
    dist_group *group;
    double dist_timeout; /* seconds a rank waits for the others in a step (0: 30), more as steps grow */
    int micro_batch;     /* a new run's micro-batch (0: batch / world size); fixed for the whole run */
} train_opts;

void train_opts_default(train_opts *o);

/* A new run from args (Ultralytics' args.yaml; model=*.yaml builds from scratch, model=*.pt fine-tunes
 * from its weights). hdr is the train stream's header (its sample count sizes the schedule). */
yolo_status train_new(const char *args_yaml, const stream_header *hdr, const train_opts *o, trainer **out);
/* Restores the state saved in a checkpoint written by train_save. */
yolo_status train_open(const char *ckpt_path, const train_opts *o, trainer **out);
void train_free(trainer *t);
/* The device it trains on (TORCH_CPU or a CUDA ordinal). */
torch_device train_device(const trainer *t);

/* What the next train stream must be: its epoch, first sample and seed. */
typedef struct {
    int epoch; /* 0-based */
    int epochs;
    int64_t from;         /* first sample index */
    int shard_k, shard_n; /* this rank's shard (0/1: the whole stream) ... */
    int64_t shard_block;  /* ... in blocks of its micro-batches of each batch (yolo-data --shard-block) */
    uint64_t seed;
    int imgsz;
    const char *task;
    const char *data;
    int rect_batch; /* rect=true: the stream's rect batches are of this size; 0: a shuffled stream */
} train_expect;
void train_expected(const trainer *t, train_expect *e);
/* Checks a stream header against train_expected (one line naming the mismatch and the right
 * yolo-data arguments). */
yolo_status train_check_header(const trainer *t, const stream_header *h);

typedef struct {
    int epoch, epochs; /* epoch just run (0-based), run length */
    int n_loss;
    const char *loss_names[5];
    double loss[5]; /* train loss means over the batches of the epoch so far */
    int n_metrics;
    const char *metric_keys[12];
    double metrics[12]; /* validation metrics with Ultralytics' keys (when validated) */
    double fitness;     /* NAN when not validated */
    double best_fitness;
    bool validated, best; /* best: this epoch wrote best.pt */
    bool epoch_done;      /* the whole epoch was trained */
    bool finished;        /* the run is over (last epoch or early stop) */
    bool stopped_early;
    int64_t position;          /* next sample index inside the epoch when stopped mid-epoch, else -1 */
    bool interrupted;          /* stopped mid-epoch by *opts.interrupt */
    int64_t batches;           /* batches trained by this process */
    double seconds;            /* wall time of this process' epoch work */
    double collective_seconds; /* of which waiting in collectives with the other ranks */
} train_summary;

/* Trains the batches of r (positioned as train_check_header wants) and, when the epoch is complete,
 * validates the EMA and records metrics, fitness, early stopping and the results row. Checkpoints go
 * to out_path (mid-epoch saves, and at the end: best.pt first when fitness improved, epochN.pt per
 * save_period, then out_path, then results.csv next to the weights folder). */
yolo_status train_run(trainer *t, stream_reader *r, const char *out_path, train_summary *s);

/* Writes the current state atomically to path. */
yolo_status train_save(trainer *t, const char *path);

/* Loss column names of a task (2..5 names). */
int train_loss_names(const char *task, const char **names);

#ifdef __cplusplus
}
#endif
#endif
