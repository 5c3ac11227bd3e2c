/* One sample: an image and its labels, as they pass from the dataset through augmentation to the stream.
 *
 * Boxes are always normalised xywh (centre x / W, centre y / H, w / W, h / H) relative to the sample's
 * current image, and polygon points are normalised (x / W, y / H) the same way. Augmentation keeps them
 * consistent with the pixels as the image changes size.
 *
 * Polygons: instance k has seg_start[k+1] - seg_start[k] points, stored as x,y pairs at
 * seg_xy + 2 * seg_start[k]. seg_start is NULL when the sample has no polygons (detection). When present,
 * every instance has one polygon (Ultralytics drops all segments if boxes and segments disagree). */
#ifndef YOLO_SAMPLE_H
#define YOLO_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/image.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    image img;        /* RGB (image.h); owned */
    int64_t index;    /* dataset index this sample was made from (the main image under mosaic) */
    int ori_h, ori_w; /* original image size (h0, w0) as stored on disk (after EXIF orientation) */
    int res_h, res_w; /* size after the load-time resize (long side = imgsz), before letterboxing */
    /* ratio_pad as Ultralytics reports it in validation: ((res_h/h0, res_w/w0), (pad_left, pad_top)). */
    double ratio_h, ratio_w;
    double pad_left, pad_top;

    int label; /* classification label (class id), -1 if none */

    int n;        /* instances */
    int cap;      /* allocated instances */
    int *cls;     /* n class ids */
    float *boxes; /* n * 4 normalised xywh */

    int *seg_start; /* n + 1 point offsets, or NULL (no polygons) */
    float *seg_xy;  /* seg_start[n] points * 2 floats, normalised */
    int seg_cap;    /* allocated points */
} sample;

/* Zeroes s (no allocation): an empty sample with label -1. */
void sample_init(sample *s);
/* Frees everything s owns and re-initialises it. */
void sample_free(sample *s);
/* Drops all instances (keeps the image and buffers). */
void sample_clear_labels(sample *s);
/* Appends one instance. Pass npts = 0 and xy = NULL for a detection label; once any instance has a
 * polygon, every instance must have one. cls >= 0. Box is normalised xywh. */
yolo_status sample_add(sample *s, int cls, const float box[4], const float *xy, int npts);
/* Deep copy (image and labels); dst must be initialised (its old contents are freed). */
yolo_status sample_copy(sample *dst, const sample *src);
/* Moves src into dst (dst freed first); src is left initialised and empty. */
void sample_move(sample *dst, sample *src);
/* Number of polygon points of instance k (0 if no polygons). */
static inline int sample_seg_len(const sample *s, int k) {
    return s->seg_start ? s->seg_start[k + 1] - s->seg_start[k] : 0;
}
/* Keeps instance k where keep[k] is true, in order (boxes, classes and polygons). */
void sample_filter(sample *s, const bool *keep);
/* Reorders instances: new instance k is old instance perm[k]. perm is a permutation of 0..n-1. */
yolo_status sample_permute(sample *s, const int *perm);

#ifdef __cplusplus
}
#endif
#endif
