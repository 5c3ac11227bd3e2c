/* Segmentation masks from polygons, as Ultralytics' Format step builds them (spec §4.4): each polygon is
 * filled at full resolution (vertices truncated to int32, value 1), shrunk by mask_ratio with OpenCV's
 * bilinear resize, and, in overlap mode, accumulated largest area first so that pixel k+1 is instance k
 * and smaller instances overwrite larger ones. */
#ifndef YOLO_MASKS_H
#define YOLO_MASKS_H

#include <stdint.h>

#include "yolo/image.h"
#include "yolo/sample.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills a polygon of npts points (pixel coordinates, x,y pairs; truncated toward zero to integers, as
 * numpy's astype(int32)) into a h x w uint8 plane with value, like cv2.fillPoly (8-connected, no shift). */
void masks_fill_polygon(uint8_t *plane, int h, int w, const float *xy, int npts, uint8_t value);

/* One instance's mask at (h / ratio, w / ratio) from a polygon in pixels of an h x w image. out has
 * (h / ratio) * (w / ratio) bytes (0 or 1 after the resize's rounding). */
yolo_status masks_polygon_to_mask(const float *xy, int npts, int h, int w, int ratio, uint8_t *out);

/* Overlap mask of sample s (normalised polygons on s->img): reorders s's instances by mask area, largest
 * first (equal areas keep their order: numpy's sort is stable for the few instances an image has), and writes
 * (H / ratio) x (W / ratio) values into out (uint16 so that more than 255 instances still fit; Ultralytics
 * uses uint8 up to 255 instances and int32 beyond). If perm is not NULL it receives the permutation
 * (new k = old perm[k]). A sample without polygons gives all zeros. */
yolo_status masks_overlap(sample *s, int ratio, uint16_t *out, int *perm);

/* Non-overlap mode (overlap_mask false): one binary (H / ratio) x (W / ratio) plane per instance, in the
 * sample's instance order, written to out (n planes). */
yolo_status masks_separate(const sample *s, int ratio, uint8_t *out);

/* The outer borders of a binary h x w mask (non-zero inside) as pixel points, every component's after the
 * other (cv2.findContours with RETR_EXTERNAL and CHAIN_APPROX_SIMPLE, concatenated, as Ultralytics'
 * masks2segments writes a predicted mask's polygon). *xy is malloc'ed (npts x,y pairs; NULL when empty). */
yolo_status masks_outline(const uint8_t *m, int h, int w, float **xy, int *npts);

#ifdef __cplusplus
}
#endif
#endif
