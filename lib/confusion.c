#include "yolo/confusion.h"

#include <stdlib.h>
#include <string.h>

#include "yolo/metrics.h"

yolo_status confusion_init(confusion *cm, int nc, bool background) {
    memset(cm, 0, sizeof *cm);
    if (nc < 1) return yolo_error(YOLO_ERR_USAGE, "confusion matrix: %d classes", nc);
    cm->nc = nc;
    cm->n = nc + (background ? 1 : 0);
    cm->counts = calloc((size_t)cm->n * cm->n, sizeof *cm->counts);
    if (!cm->counts)
        return yolo_error(YOLO_ERR_NOMEM, "out of memory for a %dx%d confusion matrix", cm->n, cm->n);
    return YOLO_OK;
}

void confusion_free(confusion *cm) {
    free(cm->counts);
    memset(cm, 0, sizeof *cm);
}

static void count(confusion *cm, int pred, int truth) {
    if (pred >= 0 && pred < cm->n && truth >= 0 && truth < cm->n)
        cm->counts[(size_t)pred * cm->n + truth] += 1;
}

void confusion_add_class(confusion *cm, int pred, int label) {
    count(cm, pred, label);
}

typedef struct {
    int gt, det;
    float iou;
} pair;

/* Descending IoU as numpy's argsort()[::-1]: ascending and stable (insertion sort; n is labels times
 * detections above the IoU threshold, small), then reversed, so equal IoUs come out in reverse order. */
static void sort_desc(pair *p, int n) {
    for (int a = 1; a < n; a++) {
        pair v = p[a];
        int b = a - 1;
        while (b >= 0 && p[b].iou > v.iou) {
            p[b + 1] = p[b];
            b--;
        }
        p[b + 1] = v;
    }
    for (int a = 0, b = n - 1; a < b; a++, b--) {
        pair t = p[a];
        p[a] = p[b], p[b] = t;
    }
}

/* np.unique(col, return_index=True): the first pair of each distinct key, in ascending key order. */
static int unique_first(pair *p, int n, bool by_det) {
    int m = 0;
    for (int a = 0; a < n; a++) {
        int key = by_det ? p[a].det : p[a].gt;
        bool seen = false;
        for (int b = 0; b < m && !seen; b++)
            seen = (by_det ? p[b].det : p[b].gt) == key;
        if (!seen) p[m++] = p[a];
    }
    for (int a = 1; a < m; a++) { /* ascending key */
        pair v = p[a];
        int b = a - 1;
        while (b >= 0 && (by_det ? p[b].det > v.det : p[b].gt > v.gt)) {
            p[b + 1] = p[b];
            b--;
        }
        p[b + 1] = v;
    }
    return m;
}

yolo_status confusion_add_detections(confusion *cm, const float *dets, int cols, int n_det,
                                     const float *gt_xyxy, const float *gt_cls, int n_gt) {
    const int bg = cm->n - 1;
    int *keep = malloc(sizeof *keep * (size_t)(n_det + 1));
    float *boxes = malloc(sizeof *boxes * 4 * (size_t)(n_det + 1));
    float *iou = malloc(sizeof *iou * (size_t)(n_det + 1) * (size_t)(n_gt + 1));
    pair *p = malloc(sizeof *p * (size_t)(n_det + 1) * (size_t)(n_gt + 1));
    yolo_status st = keep && boxes && iou && p ? YOLO_OK : yolo_nomem();
    if (st != YOLO_OK) goto done;
    int nd = 0;
    for (int j = 0; j < n_det; j++)
        if (dets[(size_t)j * cols + 4] > (float)CONFUSION_CONF) {
            keep[nd] = j;
            memcpy(boxes + 4 * (size_t)nd, dets + (size_t)j * cols, 4 * sizeof(float));
            nd++;
        }
    if (n_gt == 0) {
        for (int j = 0; j < nd; j++)
            count(cm, (int)dets[(size_t)keep[j] * cols + 5], bg);
        goto done;
    }
    if (nd == 0) {
        for (int i = 0; i < n_gt; i++)
            count(cm, bg, (int)gt_cls[i]);
        goto done;
    }
    metrics_box_iou(gt_xyxy, n_gt, boxes, nd, iou);
    int np = 0;
    for (int i = 0; i < n_gt; i++)
        for (int j = 0; j < nd; j++)
            if ((double)iou[(size_t)i * nd + j] > CONFUSION_IOU)
                p[np++] = (pair){i, j, iou[(size_t)i * nd + j]};
    if (np > 1) {
        sort_desc(p, np);
        np = unique_first(p, np, true);
        sort_desc(p, np);
        np = unique_first(p, np, false);
    }
    for (int i = 0; i < n_gt; i++) {
        int hit = -1;
        for (int k = 0; k < np && hit < 0; k++)
            if (p[k].gt == i) hit = p[k].det;
        if (hit >= 0)
            count(cm, (int)dets[(size_t)keep[hit] * cols + 5], (int)gt_cls[i]);
        else
            count(cm, bg, (int)gt_cls[i]);
    }
    for (int j = 0; j < nd; j++) {
        bool matched = false;
        for (int k = 0; k < np && !matched; k++)
            matched = p[k].det == j;
        if (!matched) count(cm, (int)dets[(size_t)keep[j] * cols + 5], bg);
    }
done:
    free(keep), free(boxes), free(iou), free(p);
    return st;
}
