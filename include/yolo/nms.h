/* Non-maximum suppression and box mapping, as Ultralytics 8.4.52's validator does them.
 *
 * Works on plain float arrays, one image at a time, so it needs no libtorch. The prediction of one
 * image is the head's eval output laid out channel-major: (4 + nc + nm, A), rows 0-3 are the box
 * (cx, cy, w, h) in letterboxed pixels, then nc class scores (already sigmoided), then nm mask
 * coefficients (segment models, 0 otherwise). */
#ifndef YOLO_NMS_H
#define YOLO_NMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double conf_thres;      /* a candidate needs score > (float)conf_thres, strictly */
    double iou_thres;       /* a box is suppressed when its float IoU > iou_thres (double), strictly */
    int max_det;            /* rows kept per image after NMS */
    int max_nms;            /* candidates kept (by score) before NMS */
    float max_wh;           /* per-class coordinate offset; class-aware NMS */
    bool multi_label;       /* one candidate per (anchor, class) above conf; only applies when nc > 1 */
    bool agnostic;          /* no per-class offset: one class competes with another */
    const bool *keep_class; /* nc flags: candidates of other classes are dropped before NMS (predict's
                               classes=); NULL keeps all */
} nms_opts;

/* The validator's defaults: conf 0.001, iou 0.7, max_det 300, max_nms 30000, max_wh 7680,
 * multi_label on, class-aware, every class. */
void nms_opts_default(nms_opts *opts);

/* Detections of one image: n rows of (x1, y1, x2, y2, conf, cls, nm mask coefficients), xyxy in the
 * same pixel space as the input, sorted by descending confidence (stable: ties keep candidate order). */
typedef struct {
    int n;       /* rows */
    int cols;    /* 6 + nm */
    float *rows; /* n * cols, owned */
} nms_dets;

/* Runs NMS on one image. pred is (4 + nc + nm, A) row-major; out is overwritten (call nms_dets_free
 * later even on error). Candidates are listed anchor by anchor, classes in order inside an anchor,
 * then stably sorted by descending score; greedy NMS on the class-offset boxes. */
yolo_status nms_run(const float *pred, int nc, int nm, int A, const nms_opts *opts, nms_dets *out);
void nms_dets_free(nms_dets *dets);

/* Letterbox geometry of one image: network input size (in_h, in_w), original size (h0, w0), and the
 * gain and the left/top padding that took the original to the input. */
typedef struct {
    int in_h, in_w, h0, w0;
    double gain; /* ratio_pad[0][0]: input pixels per original pixel */
    double pad_x, pad_y;
} nms_geom;

/* Geometry that a plain letterbox of (h0, w0) into (in_h, in_w) would have (scale_boxes without
 * ratio_pad): gain = min of the two ratios, padding round(half of the slack - 0.1). */
void nms_geom_letterbox(nms_geom *g, int in_h, int in_w, int h0, int w0);

/* Maps n xyxy boxes (stride floats apart) from the network input back to the original image:
 * subtract the padding, divide by the gain (float32, as torch does), clip to [0,w0] x [0,h0]. */
void nms_scale_boxes(float *xyxy, int n, int stride, const nms_geom *g);

/* Writes detections as save_txt lines, "cls cx cy w h conf" normalised to (w0, h0), "%g" numbers,
 * from rows already mapped to original pixels (nms_scale_boxes). */
yolo_status nms_write_txt(FILE *f, const nms_dets *dets, int w0, int h0, bool with_conf);

/* Where save_txt puts an image's lines: DIR/STEM.txt, STEM the image's file name without its last
 * extension ("x/a.b.jpg" -> "DIR/a.b.txt"; a leading dot is not an extension), cut at 255 bytes.
 * The result is truncated to cap bytes like snprintf. */
void nms_txt_path(const char *dir, const char *image, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
