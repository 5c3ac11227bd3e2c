/* cls_forward_loss.pt: top-k predictions, top-1/top-5 accuracy and fitness from stored probabilities. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "golden.h"
#include "yolo/metrics.h"

#define FILE_NAME "cls_forward_loss.pt"

static int check_case(const char *group, const yv *cs) {
    const yv *probs = yv_dict_get(cs, "probs"), *targets = yv_dict_get(cs, "targets");
    const yv *top_pred = yv_dict_get(cs, "top_pred");
    char name[128];
    if (!probs || probs->kind != YV_TENSOR || probs->tensor.ndim != 2 || !targets ||
        targets->kind != YV_TENSOR || !top_pred || top_pred->kind != YV_TENSOR) {
        snprintf(name, sizeof name, "%s (missing)", group);
        return golden_report(FILE_NAME, name, INFINITY, false);
    }
    long n = (long)probs->tensor.shape[0];
    int nc = (int)probs->tensor.shape[1], k = nc < 5 ? nc : 5;
    float *p = malloc(sizeof *p * (n * nc + 1));
    double *t = malloc(sizeof *t * (n + 1));
    int64_t *ti = malloc(sizeof *ti * (n + 1));
    int32_t *top = malloc(sizeof *top * (n * k + 1));
    float *topf = malloc(sizeof *topf * (n * k + 1));
    int bad = 0;
    if (!p || !t || !ti || !top || !topf || yv_tensor_numel(&targets->tensor) != n ||
        yv_tensor_to_f32(&probs->tensor, p) != YOLO_OK || yv_tensor_to_f64(&targets->tensor, t) != YOLO_OK) {
        snprintf(name, sizeof name, "%s (unreadable)", group);
        bad = golden_report(FILE_NAME, name, INFINITY, false);
    } else {
        for (long i = 0; i < n; i++)
            ti[i] = (int64_t)t[i];
        metrics_topk(p, n, nc, top);
        for (long i = 0; i < n * k; i++)
            topf[i] = (float)top[i];
        snprintf(name, sizeof name, "%s.top_pred (exact)", group);
        bad += golden_check_tensor(FILE_NAME, name, topf, n * k, top_pred, 0);
        metrics_cls m;
        metrics_cls_clear(&m);
        double v[3] = {NAN, NAN, NAN};
        if (metrics_cls_add(&m, p, n, nc, ti) == YOLO_OK) metrics_cls_result(&m, &v[0], &v[1], &v[2]);
        const char *keys[3] = {"top1", "top5", "fitness"};
        double worst = 0;
        for (int q = 0; q < 3; q++) {
            double want = NAN;
            yv_as_double(yv_dict_get(cs, keys[q]), &want);
            double d = fabs(v[q] - want);
            if (!(d <= worst)) worst = d;
        }
        snprintf(name, sizeof name, "%s.top1/top5/fitness", group);
        bad += golden_report(FILE_NAME, name, worst, worst <= 1e-12);
    }
    free(p), free(t), free(ti), free(top), free(topf);
    return bad;
}

int golden_cls_topk(const char *path, const yv *root) {
    (void)path;
    return check_case("topk_model", yv_dict_get(root, "topk_model")) +
           check_case("topk_synthetic", yv_dict_get(root, "topk_synthetic"));
}
