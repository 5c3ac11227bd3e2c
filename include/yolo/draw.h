/* Drawing on RGB images for `yolo-data show` (like Ultralytics' train_batch0.jpg): boxes, translucent
 * mask overlays, class-name labels in a tiny built-in bitmap font, and a grid of samples. */
#ifndef YOLO_DRAW_H
#define YOLO_DRAW_H

#include <stdint.h>

#include "yolo/image.h"
#include "yolo/sample.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A colour for class id c from a fixed palette (RGB). */
void draw_class_color(int c, uint8_t rgb[3]);
/* Rectangle outline, thickness t px, clipped to the image. */
void draw_rect(image *im, int x1, int y1, int x2, int y2, int t, const uint8_t rgb[3]);
/* Filled rectangle, clipped. */
void draw_fill_rect(image *im, int x1, int y1, int x2, int y2, const uint8_t rgb[3]);
/* Text in the built-in 5x7 font scaled by `scale`, top-left at (x, y), on a filled background. */
void draw_text(image *im, int x, int y, const char *text, int scale, const uint8_t fg[3],
               const uint8_t bg[3]);
/* Pixel width/height of text at scale. */
int draw_text_width(const char *text, int scale);
int draw_text_height(int scale);
/* Blends colour into pixels where mask (mh x mw, upsampled nearest to the image) equals value; alpha 0..1. */
void draw_mask(image *im, const uint16_t *mask, int mh, int mw, uint16_t value, const uint8_t rgb[3],
               float alpha);
/* Draws a sample's labels: polygons filled translucently (if any), boxes, "name" labels (names may be NULL:
 * the class id is printed). */
void draw_sample(image *im, const sample *s, const char *const *names, int n_names);
/* Composes n images into a grid of cols columns, each cell cell_h x cell_w (images are scaled down to fit,
 * keeping aspect), with a 2 px white separator. out is allocated. */
yolo_status draw_grid(const image *ims, int n, int cols, int cell_h, int cell_w, image *out);

#ifdef __cplusplus
}
#endif
#endif
