/* Batch normalisation on blocked activations, float[N][C/16][H*W][16] (see dnnl.h), computing exactly
 * what libtorch 1.13's CPU kernels compute on NCHW (private to lib/; used by lib/torch_blocked.cpp).
 *
 * Bit-exactness rests on doing each channel's arithmetic in libtorch's order and precision: its
 * AVX2 kernels (8-float vectors, fused multiply-adds where the compiler contracted them), double sums
 * for the batch statistics, and the float/double mix of its running-statistics update. The blocked
 * layout only changes where a channel's values are, not the order they are combined in. Checked
 * against libtorch in tests/test_blocked.c.
 *
 * Work is split by the caller (at::parallel_for): statistics over groups of 8 channels [g0, g1),
 * elementwise passes over planes [p0, p1) where plane p is image p / (C/16), channel block p % (C/16).
 * Results do not depend on the split. */
#ifndef YOLO_BNORM_H
#define YOLO_BNORM_H

#include <stdbool.h>
#include <stdint.h>

#define BNORM_GROUP 8

typedef struct {
    int64_t n, c, hw; /* c a multiple of 16, hw > 1 (a 1x1 map is already plain NCHW) */
} bnorm_shape;

/* Whether this CPU and libtorch's kernel choice are the ones reproduced (AVX2 kernels on a CPU with
 * AVX-512, which the blocked layout needs anyway). */
bool bnorm_matches_libtorch(void);

/* Training: per-channel mean and sum of squared deviations of the batch. */
void bnorm_stats(const bnorm_shape *s, const float *x, int64_t g0, int64_t g1, float *mean, float *var_sum);
/* Training: 1/sqrt(var + eps) of the batch and the running averages (updated in place). */
void bnorm_update(const bnorm_shape *s, const float *mean, const float *var_sum, double momentum, double eps,
                  float *invstd, float *running_mean, float *running_var);
/* Evaluation: 1/sqrt(running_var + eps). */
void bnorm_eval_invstd(int64_t c, const float *running_var, double eps, float *invstd);
/* y = (x - mean) * invstd * weight + bias, in libtorch's form x * alpha + beta. */
void bnorm_apply(const bnorm_shape *s, const float *x, const float *mean, const float *invstd,
                 const float *weight, const float *bias, int64_t p0, int64_t p1, float *y);
/* Training backward, first pass: grad_weight, grad_bias, and the two per-channel terms of the
 * input gradient (k, grad_mean). */
void bnorm_backward_stats(const bnorm_shape *s, const float *x, const float *dy, const float *mean,
                          const float *invstd, int64_t g0, int64_t g1, float *grad_weight, float *grad_bias,
                          float *k, float *grad_mean);
/* Training backward, second pass: the input gradient. */
void bnorm_backward_input(const bnorm_shape *s, const float *x, const float *dy, const float *mean,
                          const float *invstd, const float *weight, const float *k, const float *grad_mean,
                          int64_t p0, int64_t p1, float *dx);

#endif
