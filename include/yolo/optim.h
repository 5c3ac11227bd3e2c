/* Optimizers as Ultralytics 8.4.52 builds them on torch 1.13: three parameter groups (weight with
 * decay, normalisation weights, biases; in that order), SGD with Nesterov momentum, Adam and AdamW
 * with PyTorch's update formulas, optimizer=auto, gradient-norm clipping, zero_grad, and the optimizer
 * state saved to / restored from a plain value dict keyed by parameter name.
 *
 * Parameters are libtorch leaf tensors owned by the caller (the model); the optimizer keeps handles
 * to them and updates them in place. Contiguous float32 CPU tensors are updated by fused loops over
 * their memory (one pass per parameter, on libtorch's threads) that give the same bits as the
 * libtorch op sequence; any other tensor (CUDA, another dtype or layout) takes that op sequence. */
#ifndef YOLO_OPTIM_H
#define YOLO_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/schedule.h"
#include "yolo/status.h"
#include "yolo/torch.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW } optim_kind;

/* The groups, in Ultralytics 8.4.52's order. */
enum { OPTIM_GROUP_WEIGHT = 0, OPTIM_GROUP_BN = 1, OPTIM_GROUP_BIAS = 2, OPTIM_NGROUPS = 3 };

typedef struct {
    const char *name;    /* state-dict name, e.g. "model.0.conv.weight" (copied) */
    torch_tensor *param; /* the parameter (a handle owned by the caller; must outlive the optimizer) */
    bool is_norm;        /* the weight of a normalisation layer (BatchNorm) */
} optim_param;

/* Ultralytics' grouping rule: "bias" anywhere in the name -> bias; a normalisation weight -> bn;
 * everything else (conv/linear weights, the frozen DFL weight) -> weight. */
int optim_group_of(const char *name, bool is_norm);
/* Name-based guess of is_norm for Ultralytics' models (a ".bn." module). */
bool optim_name_is_norm(const char *name);
const char *optim_group_name(int group);      /* "weight", "bn", "bias" */
const char *optim_kind_name(optim_kind kind); /* "SGD", "Adam", "AdamW" */

/* Parses "SGD", "Adam", "AdamW" (any case). "auto" is resolved by optim_resolve_auto. */
yolo_status optim_parse_kind(const char *name, optim_kind *out);

/* optimizer=auto: more than 10,000 iterations -> SGD lr 0.01 momentum 0.9, else AdamW with
 * lr = round(0.002*5/(4+nc), 6) and momentum 0.9. warmup_bias_lr becomes 0 in both cases. */
void optim_resolve_auto(int nc, int64_t iterations, optim_kind *kind, double *lr, double *momentum);

/* Decay scaled for accumulation: wd * batch * accumulate / nbs. */
double optim_scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs);

typedef struct optim optim;

/* Builds the groups from params (in model order, which is also the clipping order). All groups start at
 * lr; momentum is SGD's momentum or Adam's beta1 (beta2 0.999, eps 1e-8); weight_decay applies to the
 * weight group only. initial_lr = lr (the LR schedule's base). */
yolo_status optim_new(optim_kind kind, double lr, double momentum, double weight_decay,
                      const optim_param *params, int n, optim **out);
void optim_free(optim *o);

/* Fused kernels on (the default) or off (every update as libtorch ops: the reference they are tested
 * against). They are only used where optim_fused_available() says they agree with this libtorch. */
void optim_set_fused(optim *o, bool on);
bool optim_get_fused(const optim *o);
/* Whether the fused kernels run here: true once a one-time probe found them bit-identical to the
 * libtorch ops on this CPU (it is false where libtorch rounds differently, e.g. with
 * ATEN_CPU_CAPABILITY=default). */
bool optim_fused_available(void);
/* Likewise for the gradient norms of clipping (computed on raw memory when every gradient is
 * contiguous float32 on the CPU; by libtorch otherwise). */
bool optim_fused_norm_available(void);

optim_kind optim_get_kind(const optim *o);
int optim_param_count(const optim *o);
const char *optim_param_name(const optim *o, int i);
/* Group membership: number of parameters and the i-th one's index into the params array. */
int optim_group_size(const optim *o, int group);
int optim_group_member(const optim *o, int group, int i);

double optim_get_lr(const optim *o, int group);
void optim_set_lr(optim *o, int group, double lr);
double optim_get_initial_lr(const optim *o, int group);
/* SGD momentum. Adam-type groups have no momentum setting (their betas never change): ignored there,
 * and optim_get_momentum gives NAN. */
double optim_get_momentum(const optim *o, int group);
void optim_set_momentum(optim *o, int group, double momentum);
double optim_get_weight_decay(const optim *o, int group);

/* The LR scheduler's step at the start of an epoch: every group's lr = initial_lr * lf(epoch). */
void optim_apply_epoch_lr(optim *o, const sched_cfg *cfg, int epoch);
/* Warmup at iteration ni (when ni <= nw): the bias group's lr falls from warmup_bias_lr, the others rise
 * from 0, towards initial_lr * lf(epoch); SGD momentum rises from warmup_momentum to cfg->momentum.
 * Returns false (and changes nothing) after warmup. */
bool optim_apply_warmup(optim *o, const sched_cfg *cfg, int64_t ni, int64_t nw, int epoch);

/* One update of every parameter that has a gradient (PyTorch 1.13 single-tensor formulas). */
yolo_status optim_step(optim *o);
/* Zeroes existing gradients in place (torch 1.13's zero_grad default: they stay allocated). */
yolo_status optim_zero_grad(optim *o);

/* Scales all gradients so that their global L2 norm is at most max_norm (torch's clip_grad_norm_:
 * coefficient min(max_norm / (norm + 1e-6), 1)). The norm before clipping goes to *total_norm. */
yolo_status optim_clip_grad_norm(optim *o, double max_norm, double *total_norm);
/* optim_clip_grad_norm, optim_step and optim_zero_grad in one call, with the same results to the bit,
 * but one pass over each parameter's memory instead of three: the trainer's sequence. */
yolo_status optim_clip_step_zero(optim *o, double max_norm, double *total_norm);

/* The state in the one layout that checkpoints hold (yolo-checkpoint(5); torch.optim's state_dict keyed
 * by parameter name): {"name": "SGD", "keyed_by": "name", "param_groups": [{param_group (weight, bn,
 * bias), lr, initial_lr, momentum, dampening, nesterov (SGD) or betas, eps, amsgrad (Adam),
 * weight_decay, params: [names]}...], "state": {param name: {"momentum_buffer": T} or {"exp_avg": T,
 * "exp_avg_sq": T, "step": 0-dim T}}}. Parameters never stepped have no entry. Ultralytics' id-keyed
 * state_dicts come into it through ckptfmt_import.
 * fn makes the values of the state tensors: a caller that writes the dict out at once can lend the
 * tensor's own memory instead of a copy (the trainer's save does); NULL: float32 CPU copies. */
typedef yolo_status (*optim_value_fn)(void *ctx, yv_doc *doc, const torch_tensor *t, yv **out);
yolo_status optim_state_save(const optim *o, yv_doc *doc, optim_value_fn fn, void *ctx, yv **out);
/* The optimizer kind a saved state is for. */
yolo_status optim_state_kind(const yv *state, optim_kind *out);
/* Restores a saved state into an optimizer of the same kind and parameter names (groups matched by
 * their param_group label, or by position when unlabelled). */
yolo_status optim_state_load(optim *o, const yv *state);

#ifdef __cplusplus
}
#endif
#endif
