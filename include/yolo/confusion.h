/* The confusion matrix of a validation, as Ultralytics 8.4.52's ConfusionMatrix counts it.
 *
 * Rows are predicted classes, columns true classes. Detection (and segmentation, on boxes) has one more
 * row and column, "background": a missed object counts in the background row of its class, a
 * prediction that matches nothing in the background column of its class. Classification counts the
 * top-1 class against the label. */
#ifndef YOLO_CONFUSION_H
#define YOLO_CONFUSION_H

#include <stdbool.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CONFUSION_CONF 0.25 /* detections below this are left out (the validator's 0.001 is replaced) */
#define CONFUSION_IOU 0.45  /* a detection matches a label above this IoU */

typedef struct {
    int nc;         /* classes */
    int n;          /* rows and columns: nc, or nc + 1 with background */
    double *counts; /* n x n, row-major: counts[pred * n + true] */
} confusion;

/* An empty matrix; background adds the background row and column (detect, segment). */
yolo_status confusion_init(confusion *cm, int nc, bool background);
void confusion_free(confusion *cm);

/* One image of detection: n_det rows (x1 y1 x2 y2 conf cls ..., cols floats apart, as NMS gives them)
 * against n_gt labels (xyxy in the same pixels, classes). Detections with conf <= CONFUSION_CONF are
 * ignored; matching at IoU > CONFUSION_IOU, each label and each detection used at most once, highest
 * IoU first. */
yolo_status confusion_add_detections(confusion *cm, const float *dets, int cols, int n_det,
                                     const float *gt_xyxy, const float *gt_cls, int n_gt);
/* One classified image: the top-1 class and the label. */
void confusion_add_class(confusion *cm, int pred, int label);

#ifdef __cplusplus
}
#endif
#endif
