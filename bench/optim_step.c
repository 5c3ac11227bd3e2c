/* Timing of the per-step optimizer work of yolo-train-epoch on a real model's parameters: gradient
 * clipping, the optimizer step, zero_grad and the EMA update, each with the fused kernels and with the
 * op-by-op libtorch path (the reference), alternating step by step; then optim_clip_step_zero, the
 * first three in one call. Prints figures only.
 *
 *   optim_step [THREADS [ITERS [OPTIMIZER [MODEL]]]]     default 1 11 AdamW yolov8n.yaml
 * OPTIMIZER is SGD, Adam or AdamW. Figures are CPU time of the whole process (all threads) per
 * step, medians over ITERS steps, and the wall-clock median next to them. COLD=1 sweeps a 64 MiB
 * buffer through the caches before each timed call, as forward and backward do in a real step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yolo/ema.h"
#include "yolo/model.h"
#include "yolo/optim.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int fail(const char *what) {
    fprintf(stderr, "optim_step: %s: %s\n", what, yolo_last_error());
    return 1;
}

enum { CLIP, STEP, ZERO, EMA, ALL3, NPHASE };
static const char *phase_names[NPHASE] = {"clip", "step", "zero_grad", "ema", "clip_step_zero"};

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, iters = argc > 2 ? atoi(argv[2]) : 11;
    const char *oname = argc > 3 ? argv[3] : "AdamW", *name = argc > 4 ? argv[4] : "yolov8n.yaml";
    optim_kind kind;
    if (threads < 1 || iters < 1 || optim_parse_kind(oname, &kind)) {
        fprintf(stderr, "usage: optim_step [THREADS [ITERS [SGD|Adam|AdamW [MODEL]]]]\n");
        return 2;
    }
    if (torch_set_threads(threads)) return fail("threads");
    torch_set_grad_enabled(false);
    torch_manual_seed(0);
    modelcfg *cfg = NULL;
    model *m = NULL;
    if (modelcfg_load(name, 0, &cfg) || model_build(cfg, TORCH_CPU, &m)) return fail(name);
    int n = model_param_count(m), k = 0;
    optim_param *ps = calloc((size_t)n, sizeof *ps);
    const char **names = calloc((size_t)n, sizeof *names);
    const torch_tensor **state = calloc((size_t)n, sizeof *state);
    torch_tensor **grads = calloc((size_t)n, sizeof *grads);
    if (!ps || !names || !state || !grads) return fail("memory");
    int64_t elements = 0;
    for (int i = 0; i < n; i++) {
        names[i] = model_param_name(m, i);
        state[i] = model_tensor(m, i);
        if (model_param_is_buffer(m, i)) continue;
        ps[k] = (optim_param){names[i], model_tensor(m, i), optim_name_is_norm(names[i])};
        if (model_param_requires_grad(m, i)) {
            /* gradients whose norm is over the threshold, as early in training: clipping scales them */
            int64_t shape[8];
            int nd = torch_shape(ps[k].param, shape, 8);
            if (torch_empty(nd, shape, TORCH_F32, TORCH_CPU, &grads[k]) || torch_normal_(grads[k], 0, 0.05) ||
                tt_set_grad(ps[k].param, grads[k]))
                return fail("gradients");
            elements += torch_numel(ps[k].param);
        }
        k++;
    }
    optim *opt[2] = {NULL, NULL};
    ema *avg[2] = {NULL, NULL};
    for (int f = 0; f < 2; f++) {
        if (optim_new(kind, 0.001, 0.9, 0.0005, ps, k, &opt[f]) || ema_new(names, state, n, &avg[f]))
            return fail("optimizer");
        optim_set_fused(opt[f], f == 1);
        ema_set_fused(avg[f], f == 1);
    }
    double *cpu[2][NPHASE], *wall[2][NPHASE];
    for (int f = 0; f < 2; f++)
        for (int p = 0; p < NPHASE; p++)
            if (!(cpu[f][p] = calloc((size_t)iters, sizeof(double))) ||
                !(wall[f][p] = calloc((size_t)iters, sizeof(double))))
                return fail("memory");
    size_t sweep_n = getenv("COLD") && atoi(getenv("COLD")) ? (size_t)64 << 20 : 0;
    volatile unsigned char *sweep = sweep_n ? malloc(sweep_n) : NULL;
    if (sweep_n && !sweep) return fail("memory");
    for (int it = -1; it < iters; it++) { /* -1 warms up both paths (state allocation, probes) */
        for (int f = 0; f < 2; f++) {
            for (int i = 0; i < k; i++)
                if (grads[i]) {
                    torch_tensor *g = NULL;
                    if (torch_grad(ps[i].param, &g) || torch_copy_(g, grads[i])) return fail("gradients");
                    torch_free(g);
                }
            double norm = 0;
            for (int p = 0; p < NPHASE; p++) {
                if (p == ALL3) /* the same gradients again, for the one-call form */
                    for (int i = 0; i < k; i++)
                        if (grads[i]) {
                            torch_tensor *g = NULL;
                            if (torch_grad(ps[i].param, &g) || torch_copy_(g, grads[i]))
                                return fail("gradients");
                            torch_free(g);
                        }
                for (size_t b = 0; b < sweep_n; b += 64)
                    sweep[b] = (unsigned char)(sweep[b] + 1);
                double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
                yolo_status st = p == CLIP   ? optim_clip_grad_norm(opt[f], 10.0, &norm)
                                 : p == STEP ? optim_step(opt[f])
                                 : p == ZERO ? optim_zero_grad(opt[f])
                                 : p == EMA  ? ema_update(avg[f], state, n)
                                             : optim_clip_step_zero(opt[f], 10.0, &norm);
                if (st) return fail(phase_names[p]);
                if (it >= 0) {
                    cpu[f][p][it] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
                    wall[f][p][it] = clock_ms(CLOCK_MONOTONIC) - w0;
                }
            }
        }
    }
    printf("optim_step %s %s threads=%d%s: %lld trainable elements, fused kernels %s; CPU ms per step "
           "(median of %d), wall in brackets:\n",
           name, optim_kind_name(kind), threads, sweep_n ? " cold caches" : "", (long long)elements,
           optim_fused_available() ? "on" : "off (probe)", iters);
    double sum[2] = {0, 0};
    for (int p = 0; p < NPHASE; p++) {
        double c[2], w[2];
        for (int f = 0; f < 2; f++) {
            c[f] = median(cpu[f][p], iters), w[f] = median(wall[f][p], iters);
            if (p != ALL3) sum[f] += c[f];
        }
        if (p == ALL3) printf("  %-14s op-by-op %7.2f           fused %7.2f\n", "sum of 4", sum[0], sum[1]);
        printf("  %-14s op-by-op %7.2f (%6.2f)   fused %7.2f (%6.2f)\n", phase_names[p], c[0], w[0], c[1],
               w[1]);
    }
    for (int f = 0; f < 2; f++) {
        optim_free(opt[f]);
        ema_free(avg[f]);
        for (int p = 0; p < NPHASE; p++)
            free(cpu[f][p]), free(wall[f][p]);
    }
    for (int i = 0; i < k; i++)
        torch_free(grads[i]);
    free(ps), free(names), free(state), free(grads);
    free((void *)sweep);
    model_free(m);
    modelcfg_free(cfg);
    return 0;
}
