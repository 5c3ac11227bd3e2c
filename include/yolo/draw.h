/* Annotated images, drawn with canvas.h as Ultralytics 8.4.52 draws them:
 *
 *   - grids of a batch (plot_images): train_batch*.jpg, val_batch*_labels.jpg, val_batch*_pred.jpg and
 *     `yolo-data show`: up to 16 images column by column, scaled to at most 1920 px, each with its
 *     file name, boxes and class names (with the confidence above 0.25 for predictions), masks at 60%,
 *     or the class of a classification image;
 *   - a model's predictions on an image (`yolo predict`, Results.plot): masks at 50%, boxes, "name conf"
 *     labels, or the top-5 classes. */
#ifndef YOLO_DRAW_H
#define YOLO_DRAW_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/canvas.h"
#include "yolo/image.h"
#include "yolo/status.h"
#include "yolo/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DRAW_MAX_SIZE 1920  /* a grid's longest side at most */
#define DRAW_PRED_CONF 0.25 /* predictions drawn in a grid: conf above this */

/* One image of a grid and what to draw on it. Labels give xywhn (and an overlap mask map); predictions
 * give xyxy in pixels of img and conf (and one bitmap per instance). */
typedef struct {
    const image *img;        /* the network input (letterboxed or augmented), RGB */
    const char *file;        /* its base name is written at the top-left, or NULL */
    int n;                   /* instances */
    const int *cls;          /* n classes */
    const float *xywhn;      /* labels: n normalised xywh boxes, or NULL */
    const float *xyxy;       /* predictions: n boxes in pixels of img, or NULL */
    const float *conf;       /* predictions: n confidences; NULL for labels */
    const uint16_t *overlap; /* labels: mh x mw map, value k+1 is instance k, or NULL */
    const uint8_t *masks;    /* predictions: n bitmaps of mh x mw (non-zero inside), or NULL */
    int mh, mw;
    int label;        /* classification: the class, or -1 */
    float label_conf; /* its probability, or < 0 for a label */
} draw_tile;

/* The tile of a stream sample: its image, file, labels, masks or class. */
draw_tile draw_tile_of_sample(const stream_sample *s);

/* Draws the first max_tiles of n tiles (all of img's size; a differing one is clipped to the first's
 * cell) into one grid picture and writes it to path (.jpg or .png). names: nc class names; a class
 * without a name is written as its number. */
yolo_status draw_batch(const draw_tile *tiles, int n, int max_tiles, const char *const *names, int nc,
                       const char *path);

typedef struct {
    double line_width; /* 0: max(round((h + w + 3) / 2 * 0.003), 2), as Ultralytics' Annotator */
    bool boxes;        /* draw boxes (show_boxes) */
    bool labels;       /* write class names (show_labels) */
    bool conf;         /* add the confidence to them (show_conf) */
} draw_style;

/* Detections on a canvas of the original image: n rows (x1 y1 x2 y2 conf cls ..., cols floats apart) in
 * its pixels; masks (n bitmaps of mh x mw, or NULL) cover the rectangle (mx, my, mwid, mhei). */
void draw_detections(canvas *c, int n, const float *rows, int cols, const uint8_t *masks, int mh, int mw,
                     double mx, double my, double mwid, double mhei, const char *const *names, int nc,
                     const draw_style *s);
/* A classification: "name p" lines of the k best classes at the top-left, as Ultralytics writes them. */
void draw_top_classes(canvas *c, const int *cls, const float *prob, int k, const char *const *names, int nc,
                      const draw_style *s);

/* The name of class c ("%d" when there is none), into buf. */
const char *draw_class_name(const char *const *names, int nc, int c, char *buf, int cap);

#ifdef __cplusplus
}
#endif
#endif
