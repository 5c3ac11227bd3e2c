/* 8-bit images in memory: HxWxC, row-major, interleaved. Colour images are RGB unless a
 * function says otherwise (OpenCV-compatible code paths may document BGR). */
#ifndef YOLO_IMAGE_H
#define YOLO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int h, w, c; /* c = 3 for colour, 1 for grey */
    uint8_t *px; /* h*w*c bytes, owned (free with image_free) */
} image;

/* Allocates an h x w x c image filled with value. Returns YOLO_ERR_NOMEM or YOLO_ERR_LIMIT. */
yolo_status image_alloc(image *im, int h, int w, int c, uint8_t value);
/* image_alloc with the pixels left undefined, for callers that write every byte themselves. */
yolo_status image_alloc_unfilled(image *im, int h, int w, int c);
void image_free(image *im);

/* Decodes JPEG or PNG bytes (sniffed) to 3-channel RGB: grey, palette, RGBA (alpha dropped) and 16-bit
 * are converted; JPEG EXIF orientation is applied. name is used in error messages only. */
yolo_status image_decode(const void *data, size_t len, const char *name, image *out);
/* Reads and decodes a file. */
yolo_status image_load(const char *path, image *out);
/* Reads only the header: width and height after EXIF orientation. Fast (no pixel decode). */
yolo_status image_probe(const void *data, size_t len, const char *name, int *h, int *w);

/* Encoders (for yolo-data show and the demo dataset). Output buffer is malloc'ed. */
yolo_status image_encode_jpeg(const image *im, int quality, uint8_t **out, size_t *out_len);
yolo_status image_encode_png(const image *im, uint8_t **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
