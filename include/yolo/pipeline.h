/* The per-sample pipeline behind `yolo-data`: sample i of epoch e is a pure function of (dataset, seed, e,
 * i).
 *
 *   train: position i takes dataset image perm[i], perm = rng_permutation(seed, e, n); its transform draws
 *          from rng_init(seed, e, i, RNG_STREAM_AUGMENT) (classification: RNG_STREAM_CLASSIFY);
 *          with rect, no permutation: images sorted by aspect ratio, each letterboxed to its batch's shape
 *          (batch i / batch, pad 0), the same draws, no mosaic or mixup;
 *   val/test: position i is image i (with rect, images sorted by aspect ratio and letterboxed to their
 *          batch's shape); no randomness.
 *
 * Workers make samples in parallel; they are written in index order, so the bytes of a stream never depend
 * on the number of workers. */
#ifndef YOLO_PIPELINE_H
#define YOLO_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "yolo/augment.h"
#include "yolo/dataset.h"
#include "yolo/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *task;  /* "detect", "segment", "classify", or NULL: from the dataset */
    const char *split; /* "train", "val", "test" */
    bool augment;      /* the train transform (default for train) or the validation transform */
    uint64_t seed;
    int epoch;  /* 0-based */
    int epochs; /* run length for close_mosaic (0: unknown, mosaic stays as configured) */
    int shard_k, shard_n;
    int64_t shard_block; /* shard k of n in blocks of this many samples (stream_shard_next); default 1 */
    int64_t from;
    int64_t limit;   /* at most this many samples (0: all), e.g. the first batches for a picture */
    int workers;     /* 0: all cores */
    bool rect;       /* rect batches (Ultralytics' rect=True; validation has them always) */
    int batch;       /* rect batch size (a rect train stream is only right for a trainer of this batch) */
    int cache_mb;    /* decoded images kept in memory for reuse (mosaic reads each image ~4 times per
                        epoch); 512 by default, 0: none, -1: all (cache=ram). Output bytes do not
                        depend on it. */
    bool cache_disk; /* cache=disk: each decoded image also in IMAGE.rgb.npy beside it (a numpy
                        uint8 HxWx3 RGB array), read instead of decoding the image again */
    augment_cfg aug; /* imgsz and hyper-parameters */
} pipeline_opts;

void pipeline_opts_default(pipeline_opts *o);

typedef struct pipeline pipeline;

/* The split must stay alive while the pipeline is used. */
yolo_status pipeline_open(const dataset *ds, const dataset_split *sp, const pipeline_opts *o, pipeline **out);
void pipeline_free(pipeline *p);
/* Samples in one epoch of the split. */
int64_t pipeline_total(const pipeline *p);
const char *pipeline_task(const pipeline *p);
/* The stream header for these options (count: the samples this shard/from selection holds). */
yolo_status pipeline_header(const pipeline *p, stream_header *h);
/* Makes sample i (0 <= i < total) into out (freed and refilled). */
yolo_status pipeline_make(pipeline *p, int64_t i, stream_sample *out);
/* The bytes the decoded images of this split take (at the training size, as cache=ram keeps them). */
int64_t pipeline_cache_bytes(const pipeline *p);
/* Writes the whole stream (header, the selected samples in order, trailer) to f. */
yolo_status pipeline_write(pipeline *p, FILE *f, const char *name);

#ifdef __cplusplus
}
#endif
#endif
