/* Built-in demo data made from Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist),
 * so the README demo and the tests need no download.
 *
 *   detect:   images of imgsz x imgsz with 1-4 items pasted at varied scales, tints and positions on plain,
 *             gradient or noise backgrounds; YOLO box labels; data.yaml with the 10 class names;
 *   segment:  the same images, labels are polygons traced around each item's silhouette;
 *   classify: an ImageFolder (train/<class>/, val/<class>/) of items upscaled to imgsz.
 *
 * Everything is a pure function of the seed: the same arguments write the same bytes. Train images use the
 * package's training set, val images its test set. */
#ifndef YOLO_FASHION_H
#define YOLO_FASHION_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    const char *task;    /* "detect", "segment" or "classify" */
    const char *out_dir; /* created if missing */
    const char *src_dir; /* NULL: FASHION_DEFAULT_DIR (or $YOLO_FASHION_DIR) */
    int n_train, n_val;  /* 64, 16 */
    int imgsz;           /* 128 (classify: 64) */
    uint64_t seed;
    bool jpeg; /* write JPEG (quality 95) instead of PNG images */
} fashion_opts;

/* The 10 class names, in Fashion-MNIST's label order. */
extern const char *const fashion_names[10];

yolo_status fashion_write(const fashion_opts *o);

#ifdef __cplusplus
}
#endif
#endif
