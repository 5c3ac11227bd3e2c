/* Learning-rate schedule, warmup and gradient accumulation of Ultralytics 8.4.52: pure functions a
 * trainer calls per epoch and per iteration (no state of their own, so resuming needs nothing but
 * the epoch, the iteration and the last optimizer step).
 *
 * Per epoch: the LR scheduler sets every group's lr to initial_lr * lf(epoch) at the epoch's start.
 * Per iteration ni = i + nb * epoch, while ni <= nw (warmup): accumulate, lr and momentum are
 * interpolated (numpy.interp) from their warmup starting values. An optimizer step happens when
 * ni - last_opt_step >= accumulate (last_opt_step starts at -1). */
#ifndef YOLO_SCHEDULE_H
#define YOLO_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int epochs;
    double lrf;             /* final lr fraction, 0.01 */
    bool cos_lr;            /* cosine instead of linear lf */
    double momentum;        /* warmup's momentum target (args.momentum, 0.937, even for optimizer=auto) */
    double warmup_epochs;   /* 3.0; <= 0 disables warmup */
    double warmup_momentum; /* 0.8 */
    double warmup_bias_lr;  /* 0.1 (0 when optimizer=auto) */
    int nbs;                /* nominal batch size, 64 */
    int batch;
} sched_cfg;

/* Ultralytics' defaults for a run of `epochs` with `batch` images per batch. */
void sched_cfg_default(sched_cfg *cfg, int epochs, int batch);

/* The LR factor of an epoch: linear max(1 - e/epochs, 0)(1 - lrf) + lrf, or the cosine one-cycle. */
double sched_lf(const sched_cfg *cfg, double epoch);
/* max(round(nbs / batch), 1), Python rounding. */
int sched_accumulate(int nbs, int batch);
/* Warmup iterations: max(round(warmup_epochs * nb), 100), or -1 without warmup. */
int64_t sched_warmup_iters(double warmup_epochs, int64_t nb);
/* numpy.interp with two points (x0 < x1): flat outside, exact endpoints. */
double sched_interp(double x, double x0, double x1, double y0, double y1);
/* Iterations of the whole run for optimizer=auto: ceil(n_images / max(batch, nbs)) * epochs. */
int64_t sched_auto_iterations(int64_t n_images, int batch, int nbs, int epochs);

/* One group's lr at the start of an epoch (after the scheduler step): initial_lr * lf(epoch). */
double sched_epoch_lr(const sched_cfg *cfg, double initial_lr, int epoch);

/* Warmup values at iteration ni (only when ni <= nw; returns false otherwise and leaves the outputs).
 * lr is for one group: is_bias selects the falling bias lr (warmup_bias_lr -> target), the others rise
 * from 0. */
bool sched_warmup_accumulate(const sched_cfg *cfg, int64_t ni, int64_t nw, int *accumulate);
bool sched_warmup_lr(const sched_cfg *cfg, int64_t ni, int64_t nw, int epoch, double initial_lr, bool is_bias,
                     double *lr);
bool sched_warmup_momentum(const sched_cfg *cfg, int64_t ni, int64_t nw, double *momentum);

/* Whether the optimizer steps at ni. */
bool sched_should_step(int64_t ni, int64_t last_opt_step, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
