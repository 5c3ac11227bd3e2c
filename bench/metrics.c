/* Metrics speed: 5,000 images with 100 predictions each (IoU, matching at 10 thresholds, then
 * ap_per_class), and NMS of one 640-px image's head output. Prints timings; never fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "yolo/metrics.h"
#include "yolo/nms.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0));
}

/* CPU time of this process: the figure that matters on a shared machine (one thread throughout) */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    enum { IMAGES = 5000, PRED = 100, GT = 8, NC = 80 };
    metrics_det *m;
    if (metrics_det_init(&m, NC) != YOLO_OK) return 0;
    float gt[GT * 4], gc[GT], pb[PRED * 4], pc[PRED], pf[PRED];
    double t_add = 0;
    for (int i = 0; i < IMAGES; i++) {
        for (int k = 0; k < GT; k++) {
            float x = frand() * 560, y = frand() * 560, w = 20 + frand() * 60, h = 20 + frand() * 60;
            gt[4 * k] = x, gt[4 * k + 1] = y, gt[4 * k + 2] = x + w, gt[4 * k + 3] = y + h;
            gc[k] = (float)(int)(frand() * NC);
        }
        for (int j = 0; j < PRED; j++) {
            /* a third near a GT box, the rest random; confidences sorted as NMS leaves them */
            if (j % 3 == 0) {
                int k = (int)(frand() * GT);
                for (int q = 0; q < 4; q++)
                    pb[4 * j + q] = gt[4 * k + q] + (frand() - 0.5f) * 8;
                pc[j] = frand() < 0.8f ? gc[k] : (float)(int)(frand() * NC);
            } else {
                float x = frand() * 560, y = frand() * 560;
                pb[4 * j] = x, pb[4 * j + 1] = y, pb[4 * j + 2] = x + 40, pb[4 * j + 3] = y + 40;
                pc[j] = (float)(int)(frand() * NC);
            }
            pf[j] = 1.0f - (float)j / PRED * frand();
        }
        for (int j = 1; j < PRED; j++)
            if (pf[j] > pf[j - 1]) pf[j] = pf[j - 1];
        double t0 = now();
        metrics_det_add(m, pb, 4, pf, 1, pc, 1, PRED, gt, gc, GT);
        t_add += now() - t0;
    }
    double t0 = now();
    metrics_ap r;
    metrics_det_finalize(m, &r);
    double t_fin = now() - t0;
    printf("metrics: %d images x %d predictions, nc %d: add %.3f s, finalize %.3f s, total %.3f s CPU "
           "(target < 1 s; mAP50-95 %.4f)\n",
           IMAGES, PRED, NC, t_add, t_fin, t_add + t_fin, r.map);
    metrics_ap_free(&r);
    metrics_det_free(m);

    /* NMS at 640 px: 8400 anchors, 80 classes; 2% of the (anchor, class) scores above conf (about
     * 13,000 candidates), the rest under it, roughly what a trained model gives at conf 0.001 */
    enum { A = 8400 };
    float *pred = malloc(sizeof *pred * (4 + NC) * A);
    for (int a = 0; a < A; a++) {
        pred[a] = frand() * 640, pred[A + a] = frand() * 640;
        pred[2 * A + a] = 10 + frand() * 100, pred[3 * A + a] = 10 + frand() * 100;
        for (int c = 0; c < NC; c++) {
            pred[(size_t)(4 + c) * A + a] = frand() < 0.02f ? 0.0011f + frand() * 0.5f : frand() * 0.001f;
        }
    }
    nms_opts o;
    nms_opts_default(&o);
    nms_dets d;
    t0 = now();
    int reps = 5;
    for (int i = 0; i < reps; i++) {
        nms_run(pred, NC, 0, A, &o, &d);
        if (i < reps - 1) nms_dets_free(&d);
    }
    printf("nms: 8400 anchors x %d classes (conf 0.001): %.2f ms CPU per image, %d rows kept\n", NC,
           (now() - t0) / reps * 1e3, d.n);
    nms_dets_free(&d);
    free(pred);
    return 0;
}
