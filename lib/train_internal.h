/* What the files of the epoch engine share (train.c: setup; train_args.c: settings; train_state.c:
 * restore; train_ckpt.c: the checkpoint; train_step.c: a batch; train_val.c: validation;
 * train_progress.c: what the user sees; train_loop.c: the epoch; train_dist.c: micro-batches and
 * data-parallel ranks). Not a public header. */
#ifndef YOLO_TRAIN_INTERNAL_H
#define YOLO_TRAIN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/dataset.h"
#include "yolo/ema.h"
#include "yolo/loss.h"
#include "yolo/model.h"
#include "yolo/modelcfg.h"
#include "yolo/optim.h"
#include "yolo/schedule.h"
#include "yolo/torch.h"
#include "yolo/train.h"
#include "yolo/value.h"

/* Where an epoch's time goes (printed with train_opts.profile). */
enum {
    PROF_DATA,
    PROF_FORWARD,
    PROF_LOSS,
    PROF_BACKWARD,
    PROF_COMM,
    PROF_OPTIM,
    PROF_EMA,
    PROF_VAL,
    PROF_SAVE,
    PROF_N
};

typedef struct train_micro train_micro; /* the micro-batch step's buffers (train_dist.c) */

struct trainer {
    yv_doc *doc; /* train_args, train_results, train_metrics: small values that live as long as the trainer */
    yv *args, *results, *metrics;
    yv *val_table; /* str: per-class table of the last validation (yolo prints best.pt's at the end) */
    char task[16];
    int nc;
    char **names;
    char yaml_file[512];
    modelcfg *cfg;
    model *m, *vm; /* training network; validation copy holding the EMA */
    optim *opt;
    ema *ema;
    torch_device dev;
    int threads;
    train_opts o;
    char data[4096];
    char data_root[4096]; /* the data.yaml's root the run keeps (rundata.h), "" to find it from path: */
    char run_dir[4096];

    /* settings from train_args */
    int epochs, batch, imgsz, nbs, patience, save_period, close_mosaic;
    uint64_t seed;
    bool val;
    bool rect; /* rect=true: detect/segment train streams hold rect batches of this trainer's batch size */
    double box, cls, dfl;
    sched_cfg sc;

    /* progress */
    int epoch_done;    /* last finished epoch, -1 before the first */
    int64_t pos_batch; /* batches of epoch epoch_done+1 already applied */
    int64_t pos_seen;  /* samples of it consumed */
    int64_t pos_nb;
    float tloss[5]; /* running mean of the loss items over the epoch (float32, as the reference) */
    int accumulate;
    int64_t last_opt_step, iteration;
    bool have_best;
    double best_fitness;
    double st_best_fitness; /* early stopping */
    int st_best_epoch;
    bool st_possible_stop, st_stopped;
    double time_total; /* training seconds of earlier processes (results' time column) */
    double prof[PROF_N];
    bool have_lr_pg;

    /* micro-batches and ranks (train_dist.c) */
    int micro; /* samples per micro-batch, fixed when the run started (batch / world size) */
    int rank, world;
    train_micro *mb; /* NULL while batches run whole (micro == batch) */
};

/* train.c: setup */
double train_clock(void); /* monotonic seconds */
void train_note(const trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int train_n_losses(const trainer *t);
trainer *train_alloc(const train_opts *o);
yolo_status train_set_names(trainer *t, const char *const *names, int nc);
yolo_status train_build_model(trainer *t, const char *yaml, const yv *stored, int nc, bool blank);
yolo_status train_build_optimizer(trainer *t, optim_kind kind, double lr, double momentum, double wd);
yolo_status train_build_ema(trainer *t);

/* train_args.c: train_args and the settings read from them */
yolo_status train_args_defaults(yv_doc *doc, yv *args);
yolo_status train_load_settings(trainer *t);
yolo_status train_apply_process_opts(trainer *t);
/* The run's dataset from now on: data (made absolute, also in train_args) and the root ds found. */
yolo_status train_set_data(trainer *t, const char *data, const dataset *ds);
int train_all_cores(void);

/* train_step.c: one batch */
typedef struct {
    torch_tensor *img, *batch_idx, *cls, *bboxes, *masks, *labels;
    int n, n_inst, h, w;
} batch_t;
void batch_free(batch_t *b);
yolo_status train_make_batch(const trainer *t, stream_sample *v, int n, batch_t *b);
yolo_status train_make_targets(const trainer *t, stream_sample *v, int n, batch_t *b);
yolo_status train_output_loss(const trainer *t, const batch_t *b, const model_output *mo, loss_output *lo);
yolo_status train_step(trainer *t, const batch_t *b, int epoch, int64_t ni, int64_t nw, float *items,
                       int *nitems);
void train_warmup(trainer *t, int epoch, int64_t ni, int64_t nw);
yolo_status train_loss_items(const trainer *t, const loss_output *lo, int epoch, int64_t ni, float *items,
                             int *nitems);
yolo_status train_optimizer_step(trainer *t, int64_t ni, double since);

/* train_dist.c: micro-batches and ranks */
/* Samples of batch i (0-based) in the epoch of total samples: all ranks', and this rank's share. */
void train_batch_share(const trainer *t, int64_t i, int64_t total, int *all, int *mine);
/* One batch as micro-batches: this rank's samples v[0..n) (its share of a batch of n_all), every rank's
 * gradients summed by the fixed tree, BatchNorm statistics applied in micro-batch order; items: the
 * batch's loss items (means over its micro-batches); shown: its instances and image size, for the
 * progress line; *stop: some rank was interrupted. */
yolo_status train_step_micro(trainer *t, stream_sample *v, int n, int n_all, int epoch, int64_t ni,
                             int64_t nw, float *items, int *nitems, batch_t *shown, bool *stop);
/* The rank's wait for the others from now on: steady steps, or a first step that waits for every
 * rank's start (data loading) or for rank 0's save. */
void train_dist_patience(trainer *t, bool long_wait);
/* Whether a step's gradients go while its backward pass runs (else after it; see lib/train_dist.c). */
bool train_dist_overlaps(const trainer *t);
/* The bytes of rank 0's file at path on every rank (*data malloc'ed; rank 0 reads it, the others
 * receive it). */
yolo_status train_dist_share_file(trainer *t, const char *path, void **data, size_t *len);
/* Every rank's bytes (mine, len of them; len -1: this rank failed, and says why itself) on every rank:
 * all[r] (malloc'd, *all too) with lens[r] bytes. A rank that failed fails the call on every rank. */
yolo_status train_dist_gather(trainer *t, const void *mine, int64_t len, unsigned char ***all,
                              int64_t **lens);
void train_micro_free(train_micro *mb);
bool train_is_oom(yolo_status st);

/* train_val.c: validation of the EMA */
typedef struct {
    bool done;
    int n;
    const char *keys[12];
    double vals[12];
    double fitness;
    double vloss[5];
} val_result;
yolo_status train_validate(trainer *t, int epoch, val_result *vr);

/* train_ckpt.c: the checkpoint's value tree, and writing it */
yolo_status train_save_as(trainer *t, const char *path, bool mid_epoch);
yolo_status train_ckpt_write(trainer *t, const char *const *paths, size_t n, bool mid_epoch);

/* train_progress.c */
void train_progress_header(const trainer *t, int64_t nb);
/* Batch i (0-based) of nb; elapsed: seconds this process has trained the epoch, over done batches. */
void train_progress_line(const trainer *t, int epoch, int64_t i, int64_t nb, const batch_t *b, bool last,
                         double elapsed, int64_t done);
void train_print_profile(const trainer *t, double total);

#endif
