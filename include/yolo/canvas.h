/* A picture being drawn: cairo underneath, text in DejaVu Sans through FreeType, saved as PNG or JPEG
 * with the project's encoders (image.h). The one drawing layer under the charts (plot.h) and the
 * annotated images (draw.h); no other module includes cairo.
 *
 * Coordinates are pixels, x to the right, y down, (0, 0) the top-left corner of the top-left pixel.
 * Colours are 0xRRGGBB. */
#ifndef YOLO_CANVAS_H
#define YOLO_CANVAS_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/image.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct canvas canvas;

/* A white w x h canvas. */
yolo_status canvas_new(int w, int h, canvas **out);
/* A canvas holding a copy of an RGB (or grey) image. */
yolo_status canvas_from_image(const image *im, canvas **out);
void canvas_free(canvas *c);
int canvas_width(const canvas *c);
int canvas_height(const canvas *c);

typedef enum { CANVAS_SOLID, CANVAS_DOTTED, CANVAS_DASHED } canvas_dash;
typedef enum { CANVAS_REGULAR, CANVAS_BOLD } canvas_font;

/* Drawing is limited to this rectangle until canvas_unclip. */
void canvas_clip(canvas *c, double x, double y, double w, double h);
void canvas_unclip(canvas *c);

void canvas_line(canvas *c, double x0, double y0, double x1, double y1, double width, uint32_t rgb);
/* A polyline through n points (x[i], y[i]); non-finite points break it. */
void canvas_path(canvas *c, const double *x, const double *y, int n, double width, uint32_t rgb,
                 canvas_dash dash);
/* Filled discs of radius r at n points (plot markers). */
void canvas_dots(canvas *c, const double *x, const double *y, int n, double r, uint32_t rgb);
/* A filled rectangle; alpha 1 is opaque. */
void canvas_fill_rect(canvas *c, double x, double y, double w, double h, uint32_t rgb, double alpha);
/* A rectangle outline whose stroke of the given width lies inside [x, x + w] x [y, y + h]. */
void canvas_stroke_rect(canvas *c, double x, double y, double w, double h, double width, uint32_t rgb);

/* Text of pixel size `size` (the em). (x, y) is the anchor: ha 0 puts it at the left edge of the
 * text, 0.5 the middle, 1 the right; va 0 at the top of the line (ascent), 0.5 the middle, 1 the
 * bottom (descent). angle in degrees, counter-clockwise, about the anchor. */
void canvas_text(canvas *c, double x, double y, const char *text, double size, uint32_t rgb, canvas_font font,
                 double ha, double va, double angle);
/* The advance width of text, and the line height (ascent + descent) at that size. */
double canvas_text_width(canvas *c, const char *text, double size, canvas_font font);
double canvas_line_height(canvas *c, double size, canvas_font font);

/* Draws an RGB image scaled into [x, x + w] x [y, y + h] (nearest neighbour: cells stay sharp). */
void canvas_image(canvas *c, const image *im, double x, double y, double w, double h);
/* Blends rgb at alpha over the pixels of [x0, x0 + w) x [y0, y0 + h) whose mask cell is non-zero; mask
 * is mh x mw bytes, stretched over the rectangle (nearest). */
void canvas_blend_mask(canvas *c, const uint8_t *mask, int mh, int mw, int x0, int y0, int w, int h,
                       uint32_t rgb, double alpha);

/* The pixels as a new RGB image. */
yolo_status canvas_to_image(canvas *c, image *out);
/* Writes the canvas to path atomically, as PNG or JPEG by the extension (.png, .jpg, .jpeg). */
yolo_status canvas_save(canvas *c, const char *path);
/* An RGB image to path the same way (JPEG at quality, or PNG). */
yolo_status canvas_save_image(const image *im, const char *path, int quality);
/* Whether those write a file of this name: .png, .jpg or .jpeg, in any case. */
bool canvas_saves_name(const char *path);

/* Class colours: Ultralytics' 20-colour palette, cycled. */
uint32_t canvas_class_color(int cls);

#ifdef __cplusplus
}
#endif
#endif
