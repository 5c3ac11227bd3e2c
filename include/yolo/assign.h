/* TaskAlignedAssigner as in Ultralytics 8.4.52: which anchors learn which ground-truth box, and with
 * what soft class target. Tensor ops only, on the inputs' device, no gradient recorded.
 *
 * Shapes: B images, A anchors, M ground-truth slots per image (zero rows are padding), nc classes.
 * All boxes are xyxy in pixels. */
#ifndef YOLO_ASSIGN_H
#define YOLO_ASSIGN_H

#include <stdbool.h>

#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int topk;          /* 10 */
    int num_classes;   /* nc */
    double alpha;      /* 0.5: power of the class score in the alignment metric */
    double beta;       /* 6.0: power of the CIoU */
    double eps;        /* 1e-9 */
    double small_side; /* in-box test only: a GT side shorter than this (strides[0], 8 px) ... */
    double small_fill; /* ... is replaced by this length around the centre (strides[1], 16 px) */
} assign_cfg;

/* Ultralytics' settings for nc classes and the model's strides (nl levels, nl >= 1). */
void assign_cfg_default(assign_cfg *cfg, int nc, const double *strides, int nl);

typedef struct {
    torch_tensor *target_labels; /* (B,A) int64 */
    torch_tensor *target_bboxes; /* (B,A,4) float, pixels */
    torch_tensor *target_scores; /* (B,A,nc) float */
    torch_tensor *fg_mask;       /* (B,A) bool */
    torch_tensor *target_gt_idx; /* (B,A) int64 */
    /* Intermediates (B,M,A) float and (B,A) claims; filled only when asked for (tests). */
    torch_tensor *mask_in_gts, *align_metric, *overlaps, *mask_pos_before_resolve, *claims_per_anchor,
        *mask_pos;
} assign_result;

/* pd_scores (B,A,nc) sigmoid scores; pd_bboxes (B,A,4); anc_points (A,2) pixels; gt_labels (B,M,1)
 * float class ids; gt_bboxes (B,M,4); mask_gt (B,M,1) float 0/1. Fills *out (fields must be NULL);
 * free it with assign_result_free. M == 0 gives labels nc, zero boxes/scores/fg/idx. */
yolo_status assign_run(const assign_cfg *cfg, const torch_tensor *pd_scores, const torch_tensor *pd_bboxes,
                       const torch_tensor *anc_points, const torch_tensor *gt_labels,
                       const torch_tensor *gt_bboxes, const torch_tensor *mask_gt, bool keep_intermediates,
                       assign_result *out);
void assign_result_free(assign_result *r);

/* Complete IoU of box1 (N,4) and box2 (N,4), xyxy, eps 1e-7, giving (N,1). The aspect term's weight
 * alpha is computed without gradient, as Ultralytics does. Records autograd when enabled. */
yolo_status assign_compute_ciou(const torch_tensor *box1, const torch_tensor *box2, torch_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
