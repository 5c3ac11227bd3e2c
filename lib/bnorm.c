/* Blocked batch normalisation, bit-exact to libtorch 1.13's CPU kernels (see bnorm.h).
 *
 * This file is C11 in ISO mode, so the compiler never fuses a multiply and an add on its own; every
 * fmaf below stands where libtorch's AVX2 build computes a fused multiply-add. */
#include "bnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 16
#define LANES 8 /* libtorch's vector width: Vectorized<float> of its AVX2 kernels */

/* AVX-512 only widens the loops; the arithmetic is the same in any instruction set. */
#define KERNEL __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

bool bnorm_matches_libtorch(void) {
    const char *cap = getenv("ATEN_CPU_CAPABILITY");
    if (cap && *cap && strcmp(cap, "avx2") && strcmp(cap, "AVX2")) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("fma");
}

/* The values of channel group g in image n: hw rows of BLOCK floats, from lane (g % 2) * 8. */
static inline const float *group_at(const bnorm_shape *s, const float *x, int64_t n, int64_t g) {
    int64_t blocks = s->c / BLOCK;
    return x + ((n * blocks + g / 2) * s->hw) * BLOCK + (g % 2) * BNORM_GROUP;
}

/* Sums in double, element by element in NCHW order, as libtorch's statistics loop. */
KERNEL void bnorm_stats(const bnorm_shape *s, const float *x, int64_t g0, int64_t g1, float *mean,
                        float *var_sum) {
    double count = (double)(s->n * s->hw);
    for (int64_t g = g0; g < g1; g++) {
        double sum[BNORM_GROUP] = {0}, sq[BNORM_GROUP] = {0};
        float m[BNORM_GROUP];
        for (int64_t n = 0; n < s->n; n++) {
            const float *p = group_at(s, x, n, g);
            for (int64_t i = 0; i < s->hw; i++)
                for (int l = 0; l < BNORM_GROUP; l++)
                    sum[l] += p[i * BLOCK + l];
        }
        for (int l = 0; l < BNORM_GROUP; l++)
            m[l] = (float)(sum[l] / count);
        for (int64_t n = 0; n < s->n; n++) {
            const float *p = group_at(s, x, n, g);
            for (int64_t i = 0; i < s->hw; i++)
                for (int l = 0; l < BNORM_GROUP; l++) {
                    float d = p[i * BLOCK + l] - m[l];
                    sq[l] += (double)(d * d);
                }
        }
        for (int l = 0; l < BNORM_GROUP; l++)
            mean[g * BNORM_GROUP + l] = m[l], var_sum[g * BNORM_GROUP + l] = (float)sq[l];
    }
}

/* libtorch takes the momentum as a float; the running variance mixes a double unbiased variance with a
 * float (1 - momentum) * old. */
void bnorm_update(const bnorm_shape *s, const float *mean, const float *var_sum, double momentum, double eps,
                  float *invstd, float *running_mean, float *running_var) {
    int64_t count = s->n * s->hw;
    float mo = (float)momentum;
    for (int64_t c = 0; c < s->c; c++) {
        invstd[c] = (float)(1 / sqrt((double)(var_sum[c] / (float)count) + eps));
        if (running_mean) running_mean[c] = mo * mean[c] + (1 - mo) * running_mean[c];
        if (running_var) {
            double unbiased = (double)(var_sum[c] / (float)(count - 1));
            running_var[c] = (float)((double)mo * unbiased + (double)((1 - mo) * running_var[c]));
        }
    }
}

void bnorm_eval_invstd(int64_t c, const float *running_var, double eps, float *invstd) {
    for (int64_t i = 0; i < c; i++)
        invstd[i] = 1 / sqrtf(running_var[i] + (float)eps);
}

KERNEL void bnorm_apply(const bnorm_shape *s, const float *x, const float *mean, const float *invstd,
                        const float *weight, const float *bias, int64_t p0, int64_t p1, float *y) {
    int64_t blocks = s->c / BLOCK;
    for (int64_t p = p0; p < p1; p++) {
        const float *w = weight + (p % blocks) * BLOCK, *b = bias + (p % blocks) * BLOCK;
        const float *mu = mean + (p % blocks) * BLOCK, *is = invstd + (p % blocks) * BLOCK;
        float alpha[BLOCK], beta[BLOCK];
        for (int l = 0; l < BLOCK; l++) {
            alpha[l] = is[l] * w[l];
            beta[l] = fmaf(-mu[l], alpha[l], b[l]);
        }
        const float *px = x + p * s->hw * BLOCK;
        float *py = y + p * s->hw * BLOCK;
        for (int64_t i = 0; i < s->hw; i++)
            for (int l = 0; l < BLOCK; l++)
                py[i * BLOCK + l] = fmaf(px[i * BLOCK + l], alpha[l], beta[l]);
    }
}

/* libtorch's horizontal sum of one 8-float vector: halves, quarters, pairs. */
static inline float vector_sum(const float v[LANES]) {
    float a = v[0] + v[4], b = v[1] + v[5], c = v[2] + v[6], d = v[3] + v[7];
    return (a + c) + (b + d);
}

/* One image's plane sums of one channel group, as vec::reduce_all and vec::map2_reduce_all form them:
 * vector lane j collects elements j, j+8, j+16, ...; a short plane is summed element by element. */
KERNEL static void plane_sums(const float *px, const float *pd, int64_t hw, const float *mean, double *sum,
                              double *dot) {
    if (hw < LANES) {
        for (int l = 0; l < BNORM_GROUP; l++) {
            float a = pd[l], b = (px[l] - mean[l]) * pd[l];
            for (int64_t i = 1; i < hw; i++) {
                a += pd[i * BLOCK + l];
                b += (px[i * BLOCK + l] - mean[l]) * pd[i * BLOCK + l];
            }
            sum[l] += a, dot[l] += b;
        }
        return;
    }
    float as[LANES][BNORM_GROUP], ad[LANES][BNORM_GROUP];
    for (int j = 0; j < LANES; j++)
        for (int l = 0; l < BNORM_GROUP; l++) {
            as[j][l] = pd[j * BLOCK + l];
            ad[j][l] = (px[j * BLOCK + l] - mean[l]) * pd[j * BLOCK + l];
        }
    int64_t full = hw - hw % LANES;
    for (int64_t i = LANES; i < hw; i += LANES) {
        int lanes = i < full ? LANES : (int)(hw - full); /* a partial last vector adds to its first lanes */
        for (int j = 0; j < lanes; j++)
            for (int l = 0; l < BNORM_GROUP; l++) {
                float xv = px[(i + j) * BLOCK + l], dv = pd[(i + j) * BLOCK + l];
                as[j][l] += dv;
                ad[j][l] = fmaf(xv - mean[l], dv, ad[j][l]);
            }
    }
    for (int l = 0; l < BNORM_GROUP; l++) {
        float vs[LANES], vd[LANES];
        for (int j = 0; j < LANES; j++)
            vs[j] = as[j][l], vd[j] = ad[j][l];
        sum[l] += vector_sum(vs);
        dot[l] += vector_sum(vd);
    }
}

KERNEL void bnorm_backward_stats(const bnorm_shape *s, const float *x, const float *dy, const float *mean,
                                 const float *invstd, int64_t g0, int64_t g1, float *grad_weight,
                                 float *grad_bias, float *k, float *grad_mean) {
    int64_t count = s->n * s->hw;
    for (int64_t g = g0; g < g1; g++) {
        const int64_t c0 = g * BNORM_GROUP;
        double sum[BNORM_GROUP] = {0}, dot[BNORM_GROUP] = {0};
        for (int64_t n = 0; n < s->n; n++)
            plane_sums(group_at(s, x, n, g), group_at(s, dy, n, g), s->hw, mean + c0, sum, dot);
        for (int l = 0; l < BNORM_GROUP; l++) {
            int64_t c = c0 + l;
            k[c] = (float)dot[l] * invstd[c] * invstd[c] / (float)count;
            grad_mean[c] = (float)(sum[l] / (double)count);
            grad_weight[c] = (float)(dot[l] * (double)invstd[c]);
            grad_bias[c] = (float)sum[l];
        }
    }
}

KERNEL void bnorm_backward_input(const bnorm_shape *s, const float *x, const float *dy, const float *mean,
                                 const float *invstd, const float *weight, const float *k,
                                 const float *grad_mean, int64_t p0, int64_t p1, float *dx) {
    int64_t blocks = s->c / BLOCK;
    for (int64_t p = p0; p < p1; p++) {
        int64_t c0 = (p % blocks) * BLOCK;
        const float *px = x + p * s->hw * BLOCK, *pd = dy + p * s->hw * BLOCK;
        float *q = dx + p * s->hw * BLOCK;
        for (int64_t i = 0; i < s->hw; i++)
            for (int l = 0; l < BLOCK; l++) {
                int64_t c = c0 + l;
                float centered = px[i * BLOCK + l] - mean[c];
                float t = fmaf(-centered, k[c], pd[i * BLOCK + l] - grad_mean[c]);
                q[i * BLOCK + l] = t * invstd[c] * weight[c];
            }
    }
}
