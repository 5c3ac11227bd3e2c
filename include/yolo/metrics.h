/* Validation metrics as Ultralytics 8.4.52 computes them: box/mask IoU, matching at 10 IoU
 * thresholds, ap_per_class (101-point interpolated AP, P/R/F1 curves, P and R at the maximum of the
 * smoothed mean F1), mAP50 / mAP75 / mAP50-95, per-class maps, fitness; top-1/top-5 for classify.
 *
 * Pure C on plain arrays: no libtorch. The training loop and yolo-eval use the accumulators:
 * metrics_det_add() per image, metrics_det_finalize() once at the end. */
#ifndef YOLO_METRICS_H
#define YOLO_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "yolo/nms.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define METRICS_NIOU 10     /* IoU thresholds 0.50:0.05:0.95 */
#define METRICS_NCURVE 1000 /* points of the P/R/F1 curves */

/* The thresholds as torch.linspace(0.5, 0.95, 10) gives them in float32. */
extern const float metrics_iouv[METRICS_NIOU];

/* IoU of every a (na xyxy boxes) with every b (nb), out[i*nb + j], in float32 with eps 1e-7 as
 * Ultralytics' box_iou. */
void metrics_box_iou(const float *a, int na, const float *b, int nb, float *out);

/* IoU of binary masks (values 0/1, npix each): gt (n x npix) against pred (m x npix), out[i*m + j]. */
void metrics_mask_iou(const uint8_t *gt, int n, const uint8_t *pred, int m, long npix, float *out);

/* Predicted masks as the validator makes them (process_mask, no upsampling): logits = coeffs (n x nm,
 * rows coeff_stride apart) times protos (nm x mh x mw), cropped to each box (xyxy in network-input pixels
 * of size in_h x in_w, scaled by mw/in_w and mh/in_h), then > 0. out: n x mh*mw bytes, 0 or 1.
 * The crop follows 8.4.52's crop_mask: with fewer than 50 boxes (the CPU path) the box is clamped at 0
 * and rounded half to even, and pixels outside [x1, x2) x [y1, y2) are cleared; with 50 or more the
 * pixel index is compared with the fractional box. */
yolo_status metrics_process_mask(const float *protos, int nm, int mh, int mw, const float *coeffs,
                                 int coeff_stride, const float *xyxy, int box_stride, int n, int in_h,
                                 int in_w, uint8_t *out);

/* The same at the network input's resolution, as predict draws them (process_mask with upsample): the
 * cropped logits resized bilinearly (align_corners false) to in_h x in_w, then > 0. out: n x in_h*in_w. */
yolo_status metrics_process_mask_upsample(const float *protos, int nm, int mh, int mw, const float *coeffs,
                                          int coeff_stride, const float *xyxy, int box_stride, int n,
                                          int in_h, int in_w, uint8_t *out);

/* Per-instance binary masks (n x npix) from an overlap mask where pixel value k+1 is instance k. */
void metrics_masks_from_overlap(const uint8_t *overlap, long npix, int n, uint8_t *out);

/* match_predictions: iou (n_gt x n_pred) -> tp (n_pred x 10), exactly Ultralytics' pair order: per
 * threshold, pairs with IoU >= t and equal class, best IoU per prediction, then for each GT the
 * lowest-index prediction among those (predictions come sorted by confidence). */
void metrics_match(const float *iou, const float *gt_cls, int n_gt, const float *pred_cls, int n_pred,
                   uint8_t *tp);

/* Everything ap_per_class and the Metric class produce. Arrays are owned (metrics_ap_free). */
typedef struct {
    int nc;             /* number of class names */
    int n_cls;          /* classes with ground truth: the rows of the per-class arrays */
    int *class_index;   /* n_cls: class ids with GT, ascending */
    double *p, *r, *f1; /* n_cls: at max_f1_index */
    double *tp, *fp;    /* n_cls: counts at max_f1_index (rounded, as Ultralytics) */
    double *all_ap;     /* n_cls x 10 */
    double *ap50;       /* n_cls */
    double *ap;         /* n_cls: mean over the 10 thresholds (mAP50-95 of the class) */
    double *maps;       /* nc: per-class mAP50-95, classes without GT get the overall mAP50-95 */
    int64_t *nt_per_class, *nt_per_image; /* nc: GT instances, and images containing the class */
    double mp, mr, map50, map75, map;     /* means over classes with GT */
    double fitness;                       /* mAP50-95 (8.4.52) */
    int max_f1_index;
    int64_t images; /* images seen */
    /* curves (n_cls x 1000), x = linspace(0, 1, 1000); prec_values: one row per class that has GT and
     * predictions (at least one row; zeros when none), the IoU-0.5 precision envelope on x */
    double *px, *p_curve, *r_curve, *f1_curve, *prec_values;
    int n_prec_rows;
} metrics_ap;

void metrics_ap_free(metrics_ap *res);

/* A prediction's confidence and its position, for ordering predictions the way the validator does. */
typedef struct {
    float conf;
    long idx;
} metrics_conf_idx;

/* Sorts by descending conf; equal confs keep ascending idx (numpy's stable argsort of -conf, and the
 * order NMS hands detections out in). */
void metrics_sort_conf_desc(metrics_conf_idx *v, long n);

/* Ultralytics' smooth(): a box filter of round(n * f * 2) // 2 + 1 taps with the ends repeated (the
 * mean F1 curve is smoothed with f = 0.1 before its maximum is taken, and plotted so). */
void metrics_smooth(const double *y, int n, double f, double *out);

/* ap_per_class on concatenated stats: tp (n x 10, 0/1), conf, pred_cls (n), target_cls (nt);
 * nc = number of names (class ids must be in [0, nc)). Fills every field but nt_per_image/images
 * (left zero). Predictions are sorted by descending confidence, stably. */
yolo_status metrics_ap_per_class(const uint8_t *tp, const float *conf, const float *pred_cls, long n,
                                 const float *target_cls, long nt, int nc, metrics_ap *out);

/* ---- accumulator for detect (box) or segment (box and mask) validation ---- */
typedef struct metrics_det metrics_det;

yolo_status metrics_det_init(metrics_det **out, int nc);
void metrics_det_free(metrics_det *m);
/* One image. Predictions as NMS leaves them (sorted by confidence), boxes xyxy in the same pixel
 * space as the GT boxes. Any count may be 0. Class ids outside [0, nc) are an error. */
yolo_status metrics_det_add(metrics_det *m, const float *pred_xyxy, int pred_stride, const float *pred_conf,
                            int conf_stride, const float *pred_cls, int cls_stride, int n_pred,
                            const float *gt_xyxy, const float *gt_cls, int n_gt);
/* The same with an IoU matrix computed elsewhere (n_gt x n_pred), e.g. metrics_mask_iou. */
yolo_status metrics_det_add_iou(metrics_det *m, const float *iou, const float *pred_conf, int conf_stride,
                                const float *pred_cls, int cls_stride, int n_pred, const float *gt_cls,
                                int n_gt);
/* Labels given as normalised xywh of an in_h x in_w network input, as xyxy pixels (float32, as the
 * validator computes them) and float classes; xyxy has 4n floats, fcls n. */
void metrics_labels_xyxy(const float *xywhn, const int *cls, int n, int in_h, int in_w, float *xyxy,
                         float *fcls);

/* One image as Ultralytics 8.4.52's DetectionValidator scores it: NMS of pred ((4 + nc + nm) x A, see
 * nms.h), GT boxes given as normalised xywh of the network input (as in a val stream sample) scaled to
 * (in_h, in_w) pixels, matching in that letterboxed space. dets (may be NULL) receives the NMS rows;
 * free them with nms_dets_free. */
yolo_status metrics_det_add_prediction(metrics_det *m, const float *pred, int nc, int nm, int A,
                                       const nms_opts *opts, const float *gt_xywhn, const int *gt_cls,
                                       int n_gt, int in_h, int in_w, nms_dets *dets);
/* The same for a segmentation model: pred has nm mask coefficients after the scores; proto is this
 * image's (nm x mh x mw) prototypes; overlap (mh x mw, may be NULL when n_gt is 0) the GT overlap map
 * where value k+1 is instance k (as a val stream carries it at mask_ratio 4). Boxes go to box_acc,
 * mask IoU (predicted masks from metrics_process_mask) to mask_acc. The overlap map must have the
 * prototypes' size. */
yolo_status metrics_seg_add_prediction(metrics_det *box_acc, metrics_det *mask_acc, const float *pred, int nc,
                                       int nm, int A, const nms_opts *opts, const float *proto, int mh,
                                       int mw, const float *gt_xywhn, const int *gt_cls, int n_gt,
                                       const uint16_t *overlap, int in_h, int in_w);
/* Computes the results from everything added so far (the accumulator stays usable). */
yolo_status metrics_det_finalize(const metrics_det *m, metrics_ap *out);
/* Forgets all images (next epoch). */
void metrics_det_clear(metrics_det *m);
/* Everything added so far as bytes (malloc'd into *out, *len bytes), for another process's accumulator:
 * the validation of ranks that each score a share of the images. */
yolo_status metrics_det_pack(const metrics_det *m, unsigned char **out, size_t *len);
/* Adds the images of a pack after those added so far, as if they had been added here in their order:
 * the results are those of one accumulator given all images. A pack of another class count, or cut
 * short, is an error and adds nothing. */
yolo_status metrics_det_merge(metrics_det *m, const unsigned char *pack, size_t len);

/* ---- results with Ultralytics' key names ---- */
typedef struct {
    const char *key;
    double value;
} metrics_kv;

/* Detect: metrics/precision(B), metrics/recall(B), metrics/mAP50(B), metrics/mAP50-95(B), fitness.
 * With mask != NULL (segment) also the (M) keys, fitness = box + mask fitness. Returns the count
 * written (at most 9). */
int metrics_det_results(const metrics_ap *box, const metrics_ap *mask, metrics_kv *out);

/* Prints the validator's table: header, "all" row, one row per class with GT (when verbose and more
 * than one class). names may be NULL (class ids are printed). mask may be NULL. */
void metrics_print_table(FILE *f, const metrics_ap *box, const metrics_ap *mask, const char *const *names,
                         bool verbose);

/* The results as one JSON object (Ultralytics' keys, mAP75, images, instances, one entry per class with
 * GT, maps), pretty-printed with a final newline. mask (segment) may be NULL; with it the (M) keys and
 * per-class mask numbers are added. */
yolo_status metrics_det_write_json(FILE *f, const metrics_ap *box, const metrics_ap *mask,
                                   const char *const *names);

/* ---- classification ---- */
/* Top-k class indices per sample (k = min(nc, 5)) by descending probability (lower index first on
 * ties) into top (n x k). */
void metrics_topk(const float *probs, long n, int nc, int32_t *top);

typedef struct {
    int64_t n, correct1, correct5;
} metrics_cls;

void metrics_cls_clear(metrics_cls *m);
/* Adds a batch: probs (n x nc), targets (n). Targets outside [0, nc) are an error. */
yolo_status metrics_cls_add(metrics_cls *m, const float *probs, long n, int nc, const int64_t *targets);
/* top1, top5 (float32 means, as torch) and fitness = (top1 + top5) / 2. */
void metrics_cls_result(const metrics_cls *m, double *top1, double *top5, double *fitness);
/* Ultralytics' classification table: "classes top1_acc top5_acc" and the "all" row. */
void metrics_cls_print_table(FILE *f, const metrics_cls *m);
/* metrics/accuracy_top1, metrics/accuracy_top5, fitness. Returns 3. */
int metrics_cls_results(const metrics_cls *m, metrics_kv *out);

#ifdef __cplusplus
}
#endif
#endif
