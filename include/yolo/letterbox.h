/* Image geometry shared by training and validation: the load-time resize, the letterbox, and an
 * OpenCV-exact bilinear resize for 8-bit images (cv2.resize with INTER_LINEAR, whose fixed-point
 * arithmetic we reproduce bit for bit so that pixels equal Ultralytics' own). */
#ifndef YOLO_LETTERBOX_H
#define YOLO_LETTERBOX_H

#include <stdbool.h>

#include "yolo/image.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LETTERBOX_FILL 114

/* Load-time size (Ultralytics load_image, rect mode): r = imgsz / max(h0, w0);
 * w = min(ceil(w0 * r), imgsz), h = min(ceil(h0 * r), imgsz). Unchanged when r == 1. */
void letterbox_load_size(int h0, int w0, int imgsz, int *h, int *w);

typedef struct {
    double ratio;                 /* r = min(out_h / h, out_w / w), capped at 1 without scaleup */
    int new_w, new_h;             /* resized size before padding: round-half-even(w * r), (h * r) */
    int top, bottom, left, right; /* padding */
    int out_h, out_w;             /* final size */
} letterbox_plan;

/* Plans a centred letterbox of an h x w image into out_h x out_w (Ultralytics LetterBox with auto False,
 * center True): pad_top = round(dh/2 - 0.1), pad_bottom = round(dh/2 + 0.1), likewise left/right. */
void letterbox_plan_make(int h, int w, int out_h, int out_w, bool scaleup, letterbox_plan *p);

/* Prediction's letterbox (LetterBox with auto True, scaleup True): resized by min(imgsz / h, imgsz / w), then
 * padded only up to the next multiple of stride, centred. */
void letterbox_plan_auto(int h, int w, int imgsz, int stride, letterbox_plan *p);

/* Applies a plan: resize (only if the size changes) and pad with LETTERBOX_FILL. dst is allocated. */
yolo_status letterbox_apply(const image *src, const letterbox_plan *p, image *dst);

/* cv2.resize(src, (w, h), interpolation=INTER_LINEAR) for uint8 images of 1-4 channels, exact. */
yolo_status letterbox_resize_linear(const image *src, int h, int w, image *dst);

/* Load-time resize of a decoded image (long side to imgsz, letterbox_load_size). dst is allocated;
 * when no resize is needed it is a copy. */
yolo_status letterbox_load_resize(const image *src, int imgsz, image *dst);

#ifdef __cplusplus
}
#endif
#endif
