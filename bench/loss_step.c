/* Timing of the training core around the network: the detection loss (target scatter, DFL decode,
 * TaskAlignedAssigner, CIoU/DFL/BCE) with its backward to the head outputs, and the optimizer side of
 * a step (gradient clipping, SGD or AdamW update, zero_grad, EMA) over a yolov8n-sized parameter set.
 * Prints figures only.
 *
 *   loss_step [IMGSZ [BATCH [THREADS [ITERS [BOXES]]]]]   default 128 16 1 5 4 (boxes per image) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yolo/ema.h"
#include "yolo/loss.h"
#include "yolo/optim.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char *what) {
    fprintf(stderr, "loss_step: %s: %s\n", what, yolo_last_error());
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* yolov8n's parameter shapes, roughly: 3.2M elements in 184 tensors of mixed sizes. */
#define NPARAM 184

int main(int argc, char **argv) {
    int imgsz = argc > 1 ? atoi(argv[1]) : 128, B = argc > 2 ? atoi(argv[2]) : 16;
    int threads = argc > 3 ? atoi(argv[3]) : 1, iters = argc > 4 ? atoi(argv[4]) : 5;
    int boxes = argc > 5 ? atoi(argv[5]) : 4, nc = 80;
    if (imgsz < 32 || imgsz % 32 || B < 1 || threads < 1 || iters < 1 || boxes < 0) {
        fprintf(stderr, "usage: loss_step [IMGSZ [BATCH [THREADS [ITERS [BOXES]]]]]\n");
        return 2;
    }
    torch_set_threads(threads);
    torch_manual_seed(0);
    const double strides[3] = {8, 16, 32};
    /* flat head outputs, as the model returns them: boxes (B, 64, A), scores (B, nc, A) */
    int64_t hw[3][2], A = 0;
    for (int i = 0; i < 3; i++) {
        hw[i][0] = hw[i][1] = imgsz / (int64_t)strides[i];
        A += hw[i][0] * hw[i][1];
    }
    torch_tensor *feats[2] = {0};
    int64_t sb[3] = {B, 64, A}, ss[3] = {B, nc, A};
    if (torch_empty(3, sb, TORCH_F32, TORCH_CPU, &feats[0]) || torch_normal_(feats[0], 0, 1) ||
        torch_empty(3, ss, TORCH_F32, TORCH_CPU, &feats[1]) || torch_normal_(feats[1], 0, 1))
        return fail("head outputs");
    for (int i = 0; i < 2; i++)
        torch_set_requires_grad(feats[i], true);
    int64_t n = (int64_t)B * boxes;
    float *bi = malloc(sizeof(float) * (size_t)(n + 1)), *cls = malloc(sizeof(float) * (size_t)(n + 1));
    float *bb = malloc(sizeof(float) * (size_t)(4 * n + 1));
    srand(1);
    for (int64_t k = 0; k < n; k++) {
        bi[k] = (float)(k / boxes);
        cls[k] = (float)(rand() % nc);
        float w = 0.05f + 0.4f * (float)rand() / (float)RAND_MAX,
              h = 0.05f + 0.4f * (float)rand() / (float)RAND_MAX;
        bb[4 * k] = w / 2 + (1 - w) * (float)rand() / (float)RAND_MAX;
        bb[4 * k + 1] = h / 2 + (1 - h) * (float)rand() / (float)RAND_MAX;
        bb[4 * k + 2] = w;
        bb[4 * k + 3] = h;
    }
    torch_tensor *tb = NULL, *tc = NULL, *tx = NULL;
    int64_t s1[1] = {n}, s2[2] = {n, 4};
    torch_from_data(bi, TORCH_F32, 1, s1, &tb);
    torch_from_data(cls, TORCH_F32, 1, s1, &tc);
    torch_from_data(bb, TORCH_F32, 2, s2, &tx);
    loss_cfg cfg;
    loss_cfg_default(&cfg, nc, strides, 3);
    loss_targets tg = {tb, tc, tx};
    double *t = malloc(sizeof(double) * (size_t)iters);
    int64_t fg = 0;
    for (int it = -1; it < iters; it++) { /* one warm-up */
        loss_output out = {0};
        double t0 = now_ms();
        if (loss_detect_flat(&cfg, feats[0], feats[1], (const int64_t(*)[2])hw, &tg, &out))
            return fail("loss");
        if (torch_backward(out.total, NULL, false)) return fail("backward");
        double t1 = now_ms();
        if (it >= 0) t[it] = t1 - t0;
        fg = out.num_fg;
        loss_output_free(&out);
        for (int i = 0; i < 2; i++)
            torch_grad_reset(feats[i]);
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    printf("detect loss+backward  imgsz %d batch %d boxes/img %d threads %d: median %.2f ms (min %.2f), %lld "
           "fg anchors\n",
           imgsz, B, boxes, threads, t[iters / 2], t[0], (long long)fg);

    /* optimizer side of a step over ~3.2M parameters */
    const int64_t sizes[4] = {9216, 36864, 64, 256};
    torch_tensor *p[NPARAM] = {0}, *g = NULL;
    optim_param op[NPARAM];
    const char *names[NPARAM];
    char namebuf[NPARAM][32];
    for (int i = 0; i < NPARAM; i++) {
        int64_t sz = sizes[i % 4] * (i % 4 < 2 ? 1 + i / 60 : 1);
        snprintf(namebuf[i], sizeof namebuf[i],
                 i % 4 == 2   ? "m.%d.bias"
                 : i % 4 == 3 ? "m.%d.bn.weight"
                              : "m.%d.w",
                 i);
        names[i] = namebuf[i];
        if (torch_empty(1, &sz, TORCH_F32, TORCH_CPU, &p[i]) || torch_normal_(p[i], 0, 0.1))
            return fail("params");
        torch_empty(1, &sz, TORCH_F32, TORCH_CPU, &g);
        torch_normal_(g, 0, 1);
        tt_set_grad(p[i], g);
        torch_freep(&g);
        torch_set_requires_grad(p[i], true);
        op[i] = (optim_param){names[i], p[i], optim_name_is_norm(names[i])};
    }
    int64_t total = 0;
    for (int i = 0; i < NPARAM; i++)
        total += torch_numel(p[i]);
    const optim_kind kinds[2] = {OPTIM_SGD, OPTIM_ADAMW};
    for (int k = 0; k < 2; k++) {
        optim *o = NULL;
        ema *e = NULL;
        if (optim_new(kinds[k], 0.01, 0.9, 5e-4, op, NPARAM, &o)) return fail("optim");
        if (ema_new(names, (const torch_tensor *const *)p, NPARAM, &e)) return fail("ema");
        double tc_ = 0, ts_ = 0, tz = 0, te = 0;
        for (int it = 0; it < iters; it++) {
            double norm, a = now_ms();
            optim_clip_grad_norm(o, 10, &norm);
            double b = now_ms();
            optim_step(o);
            double c = now_ms();
            optim_zero_grad(o);
            double d = now_ms();
            ema_update(e, (const torch_tensor *const *)p, NPARAM);
            double f = now_ms();
            tc_ += b - a, ts_ += c - b, tz += d - c, te += f - d;
        }
        printf("%-5s step over %lld params (%d tensors), threads %d: clip %.2f ms, step %.2f ms, zero_grad "
               "%.2f ms, "
               "ema %.2f ms\n",
               optim_kind_name(kinds[k]), (long long)total, NPARAM, threads, tc_ / iters, ts_ / iters,
               tz / iters, te / iters);
        optim_free(o);
        ema_free(e);
    }
    for (int i = 0; i < NPARAM; i++)
        torch_free(p[i]);
    for (int i = 0; i < 2; i++)
        torch_free(feats[i]);
    torch_free(tb);
    torch_free(tc);
    torch_free(tx);
    free(bi);
    free(cls);
    free(bb);
    free(t);
    return 0;
}
