/* The optimizer's insides, shared by optim.c (the updates) and optim_state.c (its saved state). */
#ifndef YOLO_OPTIM_INTERNAL_H
#define YOLO_OPTIM_INTERNAL_H

#include "yolo/optim.h"

typedef struct {
    double lr, initial_lr, momentum, beta2, eps, weight_decay;
    bool nesterov;
    int n;
    int *members;
} group;

typedef struct {
    char *name;
    torch_tensor *param;
    int group;
    /* SGD: buf; Adam: exp_avg in buf, exp_avg_sq in sq */
    torch_tensor *buf, *sq;
    double step;
} slot;

struct optim {
    optim_kind kind;
    bool fused; /* raw-memory kernels where the tensors allow (optim_set_fused) */
    int n;
    slot *p;
    group g[OPTIM_NGROUPS];
};

#endif
