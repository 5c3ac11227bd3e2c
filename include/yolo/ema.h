/* ModelEMA of Ultralytics 8.4.52: an exponential moving average of the model's whole state (parameters
 * and BN running statistics), updated after every optimizer step with the decay
 * d = max_decay * (1 - exp(-updates / tau)), so that early updates follow the model closely.
 * Integer entries (num_batches_tracked) are copied at creation and never averaged. */
#ifndef YOLO_EMA_H
#define YOLO_EMA_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ema ema;

/* A copy of the model state (n named tensors, in the model's state order). decay 0.9999, tau 2000. */
yolo_status ema_new(const char *const *names, const torch_tensor *const *state, int n, ema **out);
void ema_free(ema *e);

/* d for a given update count with the default settings (0.9999, 2000). */
double ema_decay_at(int64_t updates);
/* d with explicit settings. */
double ema_decay_with(double max_decay, double tau, int64_t updates);
void ema_set_params(ema *e, double max_decay, double tau);

/* updates += 1, then every floating entry: ema = d*ema + (1-d)*model. state is the model's state in the
 * same order and shapes as at creation. */
yolo_status ema_update(ema *e, const torch_tensor *const *state, int n);

/* Fused update on (the default: one loop over each contiguous float32 CPU entry, bit-identical to the
 * libtorch ops) or off (the libtorch ops for every entry: the reference). The loop only runs where
 * ema_fused_available() found it to agree with this libtorch (a one-time probe). */
void ema_set_fused(ema *e, bool on);
bool ema_fused_available(void);

int64_t ema_updates(const ema *e);
void ema_set_updates(ema *e, int64_t updates); /* when resuming */
int ema_count(const ema *e);
const char *ema_name(const ema *e, int i);
/* The EMA's tensor i (owned by the EMA; copy into it to restore a checkpoint). */
torch_tensor *ema_tensor(const ema *e, int i);

#ifdef __cplusplus
}
#endif
#endif
