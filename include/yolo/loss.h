/* Training losses of Ultralytics 8.4.52: v8 detection (CIoU box, BCE class, DFL), v8 segmentation
 * (the detection terms plus the prototype mask term) and classification (cross-entropy).
 *
 * Everything runs as tensor ops on the predictions' device. The returned `total` is what the trainer
 * backpropagates: the sum of the loss items times the batch size for detect/segment, the mean
 * cross-entropy for classify. The items are the values Ultralytics logs (gains applied, not times B). */
#ifndef YOLO_LOSS_H
#define YOLO_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/assign.h"
#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOSS_MAX_LEVELS 8

/* How the segmentation term crops the per-pixel loss to the target box. Ultralytics (CPU) rounds the
 * mask-resolution box to integers when an image has fewer than 50 foreground anchors and compares
 * pixel indices with the fractional box otherwise (always, on CUDA). */
typedef enum {
    LOSS_CROP_AUTO,       /* Ultralytics' rule for the tensors' device */
    LOSS_CROP_ROUND,      /* always the rounded box */
    LOSS_CROP_FRACTIONAL, /* always the fractional box */
} loss_crop_rule;

typedef struct {
    int nc;
    int reg_max; /* 16 bins per box side */
    int nl;      /* detection levels */
    double strides[LOSS_MAX_LEVELS];
    double box, cls, dfl; /* gains 7.5, 0.5, 1.5 (the seg term uses the box gain) */
    loss_crop_rule crop;
    assign_cfg assign;
} loss_cfg;

/* Ultralytics' defaults for nc classes and the model's strides. */
void loss_cfg_default(loss_cfg *cfg, int nc, const double *strides, int nl);

/* Ground truth of a batch, as the data loader gives it: N boxes over all images. */
typedef struct {
    const torch_tensor *batch_idx; /* (N,) image index of each box (any numeric dtype) */
    const torch_tensor *cls;       /* (N,1) or (N,) class id */
    const torch_tensor *bboxes;    /* (N,4) normalised xywh in the network input */
} loss_targets;

typedef struct {
    torch_tensor *total;        /* 0-dim; backward on this */
    torch_tensor *items_tensor; /* (n_items,) detached loss items, on the device */
    float items[5];             /* detect: box cls dfl; segment: box seg cls dfl sem; classify: loss */
    int n_items;
    double target_scores_sum;    /* detect/segment: the normaliser max(sum of target scores, 1) */
    int64_t num_fg;              /* detect/segment: foreground anchors */
    torch_tensor *fg_mask;       /* detect/segment: (B,A) bool */
    torch_tensor *target_gt_idx; /* detect/segment: (B,A) int64 */
} loss_output;

void loss_output_free(loss_output *out);

/* Detection loss from the head's per-level train outputs feats[i] (B, 4*reg_max + nc, H_i, W_i). */
yolo_status loss_detect(const loss_cfg *cfg, const torch_tensor *const *feats, int nl, const loss_targets *tg,
                        loss_output *out);

/* The same from the flattened head outputs: boxes (B, 4*reg_max, A), scores (B, nc, A), with the
 * level sizes hw[i] = {H_i, W_i} (A = sum H_i W_i). */
yolo_status loss_detect_flat(const loss_cfg *cfg, const torch_tensor *boxes, const torch_tensor *scores,
                             const int64_t (*hw)[2], const loss_targets *tg, loss_output *out);

/* Segmentation loss: coeffs (B, nm, A) mask coefficients, proto (B, nm, h, w) prototypes, masks
 * (B, H/4, W/4) overlap index maps (value k+1 = the image's k-th box, any numeric dtype). */
yolo_status loss_segment(const loss_cfg *cfg, const torch_tensor *boxes, const torch_tensor *scores,
                         const int64_t (*hw)[2], const torch_tensor *coeffs, const torch_tensor *proto,
                         const torch_tensor *masks, const loss_targets *tg, loss_output *out);

/* Classification: logits (B, nc), labels (B,) int64. total = mean cross-entropy = items[0]. */
yolo_status loss_classify(const torch_tensor *logits, const torch_tensor *labels, loss_output *out);

/* Splits per-level maps (B, C, H_i, W_i) into boxes (B, nbox, A) and scores (B, C - nbox, A) and
 * records hw. */
yolo_status loss_flatten_levels(const torch_tensor *const *feats, int nl, int64_t nbox, torch_tensor **boxes,
                                torch_tensor **scores, int64_t (*hw)[2]);

#ifdef __cplusplus
}
#endif
#endif
