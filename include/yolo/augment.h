/* Training and validation transforms, as Ultralytics 8.4.52 applies them (spec §4.3-4.5, §4.8).
 *
 * Detection/segmentation train chain (v8_transforms): Mosaic-4 (p = mosaic) -> RandomPerspective (with a
 * letterbox first when no mosaic) -> MixUp (p = mixup) -> HSV -> flip up/down -> flip left/right.
 * Every random choice is drawn from the rng the caller passes, so sample i of epoch e is a pure function
 * of (dataset, seed, e, i) when the caller seeds it with rng_init(seed, e, i, RNG_STREAM_AUGMENT).
 *
 * Mosaic partners: Ultralytics draws them from a buffer of recently loaded images, which depends on the
 * loader's history. Here they are drawn uniformly from the whole dataset (with replacement), which keeps
 * samples independent of each other; the distribution over a shuffled epoch is the same.
 *
 * Colour order: images are RGB (image.h). The HSV step works in OpenCV's HSV on the BGR view, so the
 * result equals Ultralytics' for the same random draws. */
#ifndef YOLO_AUGMENT_H
#define YOLO_AUGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/image.h"
#include "yolo/rng.h"
#include "yolo/sample.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AUGMENT_AUTO_NONE = 0,    /* auto_augment: None -> ColorJitter(hsv_v, hsv_v, hsv_s, hsv_h) */
    AUGMENT_AUTO_RANDAUGMENT, /* "randaugment" (Ultralytics' default) */
    AUGMENT_AUTO_AUTOAUGMENT, /* "autoaugment" */
    AUGMENT_AUTO_AUGMIX,      /* "augmix" */
} augment_auto;

/* Hyper-parameters with Ultralytics' names; augment_cfg_default fills cfg/default.yaml's values. */
typedef struct {
    int imgsz;         /* 640 */
    float hsv_h;       /* 0.015 */
    float hsv_s;       /* 0.7 */
    float hsv_v;       /* 0.4 */
    float degrees;     /* 0.0 */
    float translate;   /* 0.1 */
    float scale;       /* 0.5 */
    float shear;       /* 0.0 */
    float perspective; /* 0.0 */
    float flipud;      /* 0.0 */
    float fliplr;      /* 0.5 */
    float bgr;         /* 0.0: probability that a train sample keeps BGR channel order */
    float mosaic;      /* 1.0 */
    float mixup;       /* 0.0 */
    float cutmix;      /* 0.0 (not implemented: non-zero is a usage error) */
    float copy_paste;  /* 0.0 (flip mode) */
    int close_mosaic;  /* 10: no mosaic/mixup/copy_paste in the last N epochs */
    int mask_ratio;    /* 4 */
    bool overlap_mask; /* true */
    bool rect;         /* false: rect training, which turns mosaic and mixup off (copy_paste stays until
                        * close_mosaic); each sample is letterboxed to its batch's rect shape */
    /* classification */
    augment_auto auto_augment; /* AUGMENT_AUTO_RANDAUGMENT */
    float erasing;             /* 0.4 */
} augment_cfg;

void augment_cfg_default(augment_cfg *cfg);
/* The float setting of cfg named key in Ultralytics' terms (hsv_h, mosaic, ...), or NULL. */
float *augment_cfg_float(augment_cfg *cfg, const char *key);

/* Whether mosaic, mixup and copy_paste are still enabled in 0-based epoch `epoch` of `epochs`: the
 * trainer's close_mosaic switch turns them off from epoch (epochs - close_mosaic) on (never when that is
 * negative, as in Ultralytics). Each still applies with its own p; rect training (cfg->rect) never has
 * mosaic or mixup, whatever this says, but keeps copy_paste until then. */
bool augment_mosaic_active(const augment_cfg *cfg, int epoch, int epochs);

/* Loads dataset image `index` as Ultralytics' load_image does: RGB, long side resized to imgsz
 * (letterbox_load_size + letterbox_resize_linear), labels normalised to that image, ori/res set.
 * ratio_pad fields are not needed. Returns a status with yolo_error set on failure. */
typedef yolo_status (*augment_load_fn)(void *ctx, int64_t index, sample *out);

/* The train chain for detection and segmentation. Loads `index` (and mosaic/mixup partners from
 * 0..n_images-1) through load, transforms, and writes an imgsz x imgsz sample to out (which must be
 * initialised; old contents are freed). mosaic_on comes from augment_mosaic_active. Polygons, if the
 * dataset has them, are transformed with the pixels; masks are made afterwards with masks.h. */
yolo_status augment_train(const augment_cfg *cfg, bool mosaic_on, rng *r, augment_load_fn load, void *ctx,
                          int64_t n_images, int64_t index, sample *out);

/* Optional read-only access to an already loaded image (e.g. a decode cache): the sample load would
 * give for index, valid until the loader is freed, or NULL to make the chain call load instead. */
typedef const sample *(*augment_peek_fn)(void *ctx, int64_t index);

/* augment_train with a peek: mosaic tiles, which are only read, skip load's private copy when peek
 * has them. The output is the same byte for byte. peek may be NULL. rect_hw: with cfg->rect, the
 * sample's batch shape (height, width) that the image is letterboxed to instead of imgsz x imgsz (the
 * output then has that shape); NULL otherwise. */
yolo_status augment_train_peek(const augment_cfg *cfg, bool mosaic_on, const int *rect_hw, rng *r,
                               augment_load_fn load, augment_peek_fn peek, void *ctx, int64_t n_images,
                               int64_t index, sample *out);

/* The validation transform: letterbox s (as loaded: long side = imgsz) into out_h x out_w without
 * upscaling, centred, border 114; labels follow; ratio_pad is set. In place. */
yolo_status augment_val(sample *s, int out_h, int out_w);

/* Rect batching (spec §4.5; training too, with pad 0): sorts images by aspect ratio h/w (stable, so ties keep
 * dataset order), writes the sorted dataset indices to order[n] and, per batch b of `batch` consecutive
 * sorted images, the letterbox shape to shape_h[b], shape_w[b] (ceil(shape*imgsz/stride + pad)*stride).
 * h, w are the original image sizes. The number of batches is ceil(n / batch). */
yolo_status augment_rect_batches(const int *h, const int *w, int64_t n, int imgsz, int batch, int stride,
                                 double pad, int64_t *order, int *shape_h, int *shape_w);

/* Pieces of the chain, exposed for tests, tools and the classify path. All work on RGB images. */

/* The HSV gains step: draws (r_h, r_s, r_v) = U(-1,1)^3 * gains from r and applies Ultralytics' LUTs. */
void augment_hsv(image *im, float hgain, float sgain, float vgain, rng *r);
/* Same with explicit draws in [-1, 1] (before multiplying by the gains). */
void augment_hsv_apply(image *im, double rh, double rs, double rv);
/* Flips (pixels and labels). */
void augment_flip_lr(sample *s);
void augment_flip_ud(sample *s);

/* Classification, train: RandomResizedCrop(imgsz, scale=(1-scale, 1), ratio=(3/4, 4/3)) -> flip lr
 * (p = fliplr) [-> flip ud if flipud > 0] -> auto_augment policy (or colour jitter when none) ->
 * RandomErasing(p = erasing, scale (0.02, 0.33), ratio (0.3, 3.3), value 0). Output imgsz x imgsz RGB.
 * Follows torchvision's parameter sampling; pixels are close to, not bit-equal with, PIL's (the resize is
 * OpenCV-style bilinear without antialiasing; RandAugment's 14 ops are re-implemented; "autoaugment" and
 * "augmix" use the RandAugment op set). */
yolo_status augment_classify_train(const augment_cfg *cfg, rng *r, const image *src, image *out);
/* Classification, val: resize the shorter side to imgsz (bilinear), centre crop imgsz x imgsz. */
yolo_status augment_classify_val(const augment_cfg *cfg, const image *src, image *out);

#ifdef __cplusplus
}
#endif
#endif
