#include "yolo/augment.h"
#include "yolo/args.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "yolo/letterbox.h"
#include "yolo/masks.h"
#include "augment_internal.h"

/* Inside the chain, a sample's labels are in pixels of its current image: boxes as xyxy, polygons as
 * absolute x,y. They are converted from and back to normalised xywh at the ends (as Ultralytics'
 * Instances do with denormalize/convert_bbox). */

/* The float hyper-parameters, by Ultralytics' names. */
static const struct {
    const char *key;
    size_t offset;
} float_keys[] = {{"hsv_h", offsetof(augment_cfg, hsv_h)},
                  {"hsv_s", offsetof(augment_cfg, hsv_s)},
                  {"hsv_v", offsetof(augment_cfg, hsv_v)},
                  {"degrees", offsetof(augment_cfg, degrees)},
                  {"translate", offsetof(augment_cfg, translate)},
                  {"scale", offsetof(augment_cfg, scale)},
                  {"shear", offsetof(augment_cfg, shear)},
                  {"perspective", offsetof(augment_cfg, perspective)},
                  {"flipud", offsetof(augment_cfg, flipud)},
                  {"fliplr", offsetof(augment_cfg, fliplr)},
                  {"bgr", offsetof(augment_cfg, bgr)},
                  {"mosaic", offsetof(augment_cfg, mosaic)},
                  {"mixup", offsetof(augment_cfg, mixup)},
                  {"cutmix", offsetof(augment_cfg, cutmix)},
                  {"copy_paste", offsetof(augment_cfg, copy_paste)},
                  {"erasing", offsetof(augment_cfg, erasing)}};

float *augment_cfg_float(augment_cfg *cfg, const char *key) {
    for (size_t k = 0; k < sizeof float_keys / sizeof *float_keys; k++)
        if (!strcmp(key, float_keys[k].key)) return (float *)((char *)cfg + float_keys[k].offset);
    return NULL;
}

void augment_cfg_default(augment_cfg *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->imgsz = (int)args_default_num("imgsz");
    for (size_t k = 0; k < sizeof float_keys / sizeof *float_keys; k++)
        *augment_cfg_float(cfg, float_keys[k].key) = args_default_f32(float_keys[k].key);
    cfg->close_mosaic = (int)args_default_num("close_mosaic");
    cfg->mask_ratio = (int)args_default_num("mask_ratio");
    cfg->overlap_mask = args_default_num("overlap_mask") != 0;
    cfg->rect = args_default_num("rect") != 0;
    cfg->auto_augment = AUGMENT_AUTO_RANDAUGMENT;
}

bool augment_mosaic_active(const augment_cfg *cfg, int epoch, int epochs) {
    /* The trainer closes mosaic when epoch == epochs - close_mosaic (and on resume past that point), so a
     * close_mosaic larger than the run never fires. */
    if (cfg->close_mosaic <= 0) return true;
    int from = epochs - cfg->close_mosaic;
    if (from < 0) return true;
    return epoch < from;
}

/* ---- label coordinate conversions ---- */

static void labels_to_pixels(sample *s) {
    float w = (float)s->img.w, h = (float)s->img.h;
    for (int k = 0; k < s->n; k++) {
        float *b = s->boxes + 4 * k;
        float cx = b[0] * w, cy = b[1] * h, bw = b[2] * w, bh = b[3] * h;
        b[0] = cx - bw / 2, b[1] = cy - bh / 2, b[2] = cx + bw / 2, b[3] = cy + bh / 2;
    }
    if (s->seg_start)
        for (int p = 0; p < s->seg_start[s->n]; p++)
            s->seg_xy[2 * p] *= w, s->seg_xy[2 * p + 1] *= h;
}

static void labels_to_normalized(sample *s) {
    float w = (float)s->img.w, h = (float)s->img.h;
    for (int k = 0; k < s->n; k++) {
        float *b = s->boxes + 4 * k;
        float bw = b[2] - b[0], bh = b[3] - b[1];
        float cx = b[0] + bw / 2, cy = b[1] + bh / 2;
        b[0] = cx / w, b[1] = cy / h, b[2] = bw / w, b[3] = bh / h;
    }
    if (s->seg_start)
        for (int p = 0; p < s->seg_start[s->n]; p++)
            s->seg_xy[2 * p] /= w, s->seg_xy[2 * p + 1] /= h;
}

static float clampf(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Instances.clip: boxes and polygon points into [0, w] x [0, h]. */
static void labels_clip(sample *s, float w, float h) {
    for (int k = 0; k < s->n; k++) {
        float *b = s->boxes + 4 * k;
        b[0] = clampf(b[0], 0, w), b[2] = clampf(b[2], 0, w);
        b[1] = clampf(b[1], 0, h), b[3] = clampf(b[3], 0, h);
    }
    if (s->seg_start)
        for (int p = 0; p < s->seg_start[s->n]; p++)
            s->seg_xy[2 * p] = clampf(s->seg_xy[2 * p], 0, w),
                          s->seg_xy[2 * p + 1] = clampf(s->seg_xy[2 * p + 1], 0, h);
}

static void labels_shift_scale(sample *s, float scale, float dx, float dy) {
    for (int k = 0; k < s->n; k++) {
        float *b = s->boxes + 4 * k;
        b[0] = b[0] * scale + dx, b[1] = b[1] * scale + dy, b[2] = b[2] * scale + dx,
        b[3] = b[3] * scale + dy;
    }
    if (s->seg_start)
        for (int p = 0; p < s->seg_start[s->n]; p++)
            s->seg_xy[2 * p] = s->seg_xy[2 * p] * scale + dx,
                          s->seg_xy[2 * p + 1] = s->seg_xy[2 * p + 1] * scale + dy;
}

/* Appends src's instances (pixel labels) to dst. If one side has polygons and the other has instances
 * without, polygons are dropped from dst, as Ultralytics drops segments that do not match boxes. */
static yolo_status labels_append(sample *dst, const sample *src) {
    if (src->n == 0) return YOLO_OK;
    bool dsegs = dst->seg_start != NULL, ssegs = src->seg_start != NULL;
    if (dsegs != ssegs) {
        if (dsegs) {
            free(dst->seg_start), free(dst->seg_xy);
            dst->seg_start = NULL, dst->seg_xy = NULL, dst->seg_cap = 0;
        } else if (dst->n > 0) {
            ssegs = false;
        }
    }
    for (int k = 0; k < src->n; k++) {
        bool with = ssegs;
        yolo_status st = sample_add(dst, src->cls[k], src->boxes + 4 * k,
                                    with ? src->seg_xy + 2 * (size_t)src->seg_start[k] : NULL,
                                    with ? sample_seg_len(src, k) : 0);
        if (st) return st;
    }
    return YOLO_OK;
}

static bool labels_have_segments(const sample *s) {
    return s->seg_start != NULL && s->n > 0;
}

/* ---- image helpers ---- */

static yolo_status load_checked(augment_load_fn load, void *ctx, int64_t index, sample *out) {
    sample_free(out);
    yolo_status st = load(ctx, index, out);
    if (st) return st;
    if (!out->img.px || out->img.h <= 0 || out->img.w <= 0 || out->img.c != 3)
        return yolo_error(YOLO_ERR_FORMAT, "augment: image %lld is not a loaded RGB image", (long long)index);
    out->index = index;
    return YOLO_OK;
}

/* Fills with 114 every pixel of im outside the given disjoint rectangles (x1, y1, x2, y2, half-open). */
static void canvas_fill_gaps(image *im, const int rect[][4], int nrect) {
    for (int y = 0; y < im->h; y++) {
        int iv[4][2], n = 0;
        for (int k = 0; k < nrect; k++)
            if (y >= rect[k][1] && y < rect[k][3]) {
                int j = n++; /* insertion by x1 keeps the row's covered spans in order */
                while (j > 0 && iv[j - 1][0] > rect[k][0]) {
                    iv[j][0] = iv[j - 1][0], iv[j][1] = iv[j - 1][1];
                    j--;
                }
                iv[j][0] = rect[k][0], iv[j][1] = rect[k][2];
            }
        uint8_t *row = im->px + (size_t)y * im->w * 3;
        int x = 0;
        for (int k = 0; k < n; k++) {
            if (iv[k][0] > x) memset(row + (size_t)x * 3, LETTERBOX_FILL, (size_t)(iv[k][0] - x) * 3);
            if (iv[k][1] > x) x = iv[k][1];
        }
        if (x < im->w) memset(row + (size_t)x * 3, LETTERBOX_FILL, (size_t)(im->w - x) * 3);
    }
}

/* Mosaic-4 (spec §4.3.1): a 2s x 2s canvas of 114, the four images meet at (xc, yc). */
static yolo_status mosaic4(const augment_cfg *cfg, rng *r, augment_load_fn load, augment_peek_fn peek,
                           void *ctx, int64_t n_images, sample *main, const uint8_t *main_px, sample *out) {
    int s = cfg->imgsz;
    int64_t idx[3];
    for (int i = 0; i < 3; i++)
        idx[i] = rng_int(r, 0, n_images - 1);
    int yc = (int)rng_uniform(r, s / 2.0, 1.5 * s); /* int() truncates; the range is positive */
    int xc = (int)rng_uniform(r, s / 2.0, 1.5 * s);
    sample tile;
    sample_init(&tile);
    sample acc;
    sample_init(&acc);
    /* The canvas is filled with 114 only where no tile lands (after the copies): at 640 the canvas is
     * 4.9 MB, and writing it twice cost more than the tiles. */
    yolo_status st = image_alloc_unfilled(&acc.img, 2 * s, 2 * s, 3);
    if (st) return st;
    int rect[4][4], nrect = 0; /* x1, y1, x2, y2 of each copied tile */
    if (main->seg_start) {     /* keep "segment dataset" even with no instances */
        acc.seg_start = calloc(1, sizeof *acc.seg_start);
        if (!acc.seg_start) st = yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
    }
    for (int i = 0; i < 4 && !st; i++) {
        sample *p = main;
        const uint8_t *px = main_px;
        if (i > 0) {
            const sample *c = peek ? peek(ctx, idx[i - 1]) : NULL;
            if (c && c->img.px && c->img.h > 0 && c->img.w > 0 && c->img.c == 3) {
                /* labels are copied (they get shifted); pixels are read in place */
                sample lab = *c;
                lab.img.px = NULL;
                if ((st = sample_copy(&tile, &lab))) break;
                tile.index = idx[i - 1];
                px = c->img.px;
            } else {
                if ((st = load_checked(load, ctx, idx[i - 1], &tile))) break;
                px = tile.img.px;
            }
            p = &tile;
        }
        int h = p->img.h, w = p->img.w;
        int x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;
        if (i == 0) {
            x1a = xc - w > 0 ? xc - w : 0, y1a = yc - h > 0 ? yc - h : 0, x2a = xc, y2a = yc;
            x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
        } else if (i == 1) {
            x1a = xc, y1a = yc - h > 0 ? yc - h : 0, x2a = xc + w < 2 * s ? xc + w : 2 * s, y2a = yc;
            x1b = 0, y1b = h - (y2a - y1a), x2b = w < x2a - x1a ? w : x2a - x1a, y2b = h;
        } else if (i == 2) {
            x1a = xc - w > 0 ? xc - w : 0, y1a = yc, x2a = xc, y2a = yc + h < 2 * s ? yc + h : 2 * s;
            x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = y2a - y1a < h ? y2a - y1a : h;
        } else {
            x1a = xc, y1a = yc, x2a = xc + w < 2 * s ? xc + w : 2 * s, y2a = yc + h < 2 * s ? yc + h : 2 * s;
            x1b = 0, y1b = 0, x2b = w < x2a - x1a ? w : x2a - x1a, y2b = y2a - y1a < h ? y2a - y1a : h;
        }
        int cw = x2a - x1a, ch = y2a - y1a;
        if (cw > 0 && ch > 0 && x2b - x1b == cw && y2b - y1b == ch) {
            for (int y = 0; y < ch; y++)
                memcpy(acc.img.px + ((size_t)(y1a + y) * 2 * s + x1a) * 3,
                       px + ((size_t)(y1b + y) * w + x1b) * 3, (size_t)cw * 3);
            rect[nrect][0] = x1a, rect[nrect][1] = y1a, rect[nrect][2] = x2a, rect[nrect][3] = y2a;
            nrect++;
        }
        labels_to_pixels(p);
        labels_shift_scale(p, 1.0f, (float)(x1a - x1b), (float)(y1a - y1b));
        st = labels_append(&acc, p);
    }
    sample_free(&tile);
    if (st) {
        sample_free(&acc);
        return st;
    }
    canvas_fill_gaps(&acc.img, rect, nrect);
    labels_clip(&acc, 2.0f * s, 2.0f * s);
    bool *keep = malloc(sizeof *keep * (acc.n ? acc.n : 1));
    if (!keep) {
        sample_free(&acc);
        return yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
    }
    for (int k = 0; k < acc.n; k++) {
        const float *b = acc.boxes + 4 * k;
        keep[k] = (b[2] - b[0]) * (b[3] - b[1]) > 0;
    }
    sample_filter(&acc, keep);
    free(keep);
    acc.index = main->index;
    acc.ori_h = main->ori_h, acc.ori_w = main->ori_w;
    acc.res_h = acc.res_w = 2 * s;
    sample_move(out, &acc);
    return YOLO_OK;
}

/* Letterbox for the non-mosaic train path and for validation: labels follow (scaled, shifted by the
 * integer left/top padding as LetterBox._update_labels does). s holds pixel labels. */
static yolo_status letterbox_sample(sample *s, int out_h, int out_w, bool scaleup) {
    letterbox_plan p;
    letterbox_plan_make(s->img.h, s->img.w, out_h, out_w, scaleup, &p);
    image dst;
    yolo_status st = letterbox_apply(&s->img, &p, &dst);
    if (st) return st;
    image_free(&s->img);
    s->img = dst;
    labels_shift_scale(s, (float)p.ratio, (float)p.left, (float)p.top);
    s->pad_left = p.left, s->pad_top = p.top;
    return YOLO_OK;
}

/* ---- warp (OpenCV warpAffine / warpPerspective, bilinear, constant border) ---- */

enum { INTER_BITS = 5, INTER_TAB = 1 << INTER_BITS, AB_BITS = 10, AB_SCALE = 1 << AB_BITS };

static int sat_round(double v) {
    if (v >= 2147483647.0) return 2147483647;
    if (v <= -2147483648.0) return (-2147483647 - 1);
    return (int)lrint(v);
}

static int sat_short(int v) {
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* One bilinear sample at fixed-point position (X, Y) in 1/32 px, like remap with OpenCV's 32x32 table:
 * the weights (32-ty)(32-tx)*32 ... are exact and sum to 32768. Taps outside the image read 114. */
static inline void sample_px(const image *src, int X, int Y, uint8_t *d) {
    int sx = sat_short(X >> INTER_BITS), sy = sat_short(Y >> INTER_BITS);
    int tx = X & (INTER_TAB - 1), ty = Y & (INTER_TAB - 1);
    int w00 = (INTER_TAB - ty) * (INTER_TAB - tx) * 32, w01 = (INTER_TAB - ty) * tx * 32;
    int w10 = ty * (INTER_TAB - tx) * 32, w11 = ty * tx * 32;
    int W = src->w, H = src->h;
    size_t row = (size_t)W * 3;
    if ((unsigned)sx < (unsigned)(W - 1) && (unsigned)sy < (unsigned)(H - 1)) {
        const uint8_t *p = src->px + (size_t)sy * row + (size_t)sx * 3;
        for (int k = 0; k < 3; k++) {
            int v = p[k] * w00 + p[3 + k] * w01 + p[row + k] * w10 + p[row + 3 + k] * w11;
            d[k] = (uint8_t)((v + (1 << 14)) >> 15);
        }
        return;
    }
    if (sx >= W || sx + 1 < 0 || sy >= H || sy + 1 < 0) {
        d[0] = d[1] = d[2] = LETTERBOX_FILL;
        return;
    }
    static const uint8_t fill[3] = {LETTERBOX_FILL, LETTERBOX_FILL, LETTERBOX_FILL};
    bool x0in = sx >= 0 && sx < W, x1in = sx + 1 >= 0 && sx + 1 < W;
    bool y0in = sy >= 0 && sy < H, y1in = sy + 1 >= 0 && sy + 1 < H;
    const uint8_t *p00 = x0in && y0in ? src->px + (size_t)sy * row + (size_t)sx * 3 : fill;
    const uint8_t *p01 = x1in && y0in ? src->px + (size_t)sy * row + (size_t)(sx + 1) * 3 : fill;
    const uint8_t *p10 = x0in && y1in ? src->px + (size_t)(sy + 1) * row + (size_t)sx * 3 : fill;
    const uint8_t *p11 = x1in && y1in ? src->px + (size_t)(sy + 1) * row + (size_t)(sx + 1) * 3 : fill;
    for (int k = 0; k < 3; k++) {
        int v = p00[k] * w00 + p01[k] * w01 + p10[k] * w10 + p11[k] * w11;
        d[k] = (uint8_t)((v + (1 << 14)) >> 15);
    }
}

/* cv2.warpAffine(src, M[:2], (out_w, out_h), borderValue=114): M maps source to destination; each output
 * pixel samples the inverse map, with OpenCV's 10-bit fixed-point coordinate stepping. */
static yolo_status warp_affine(const image *src, const double M[6], int out_h, int out_w, image *dst) {
    double D = M[0] * M[4] - M[1] * M[3];
    D = D != 0 ? 1.0 / D : 0;
    double iM[6];
    iM[0] = M[4] * D, iM[1] = -M[1] * D, iM[3] = -M[3] * D, iM[4] = M[0] * D;
    iM[2] = -iM[0] * M[2] - iM[1] * M[5];
    iM[5] = -iM[3] * M[2] - iM[4] * M[5];
    image out; /* every output pixel is written below */
    yolo_status st = image_alloc_unfilled(&out, out_h, out_w, 3);
    if (st) return st;
    int *adelta = malloc(sizeof(int) * 2 * (size_t)out_w);
    if (!adelta) {
        image_free(&out);
        return yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
    }
    int *bdelta = adelta + out_w;
    for (int x = 0; x < out_w; x++) {
        adelta[x] = sat_round(iM[0] * x * AB_SCALE);
        bdelta[x] = sat_round(iM[3] * x * AB_SCALE);
    }
    const int round_delta = AB_SCALE / INTER_TAB / 2;
    for (int y = 0; y < out_h; y++) {
        int X0 = sat_round((iM[1] * y + iM[2]) * AB_SCALE) + round_delta;
        int Y0 = sat_round((iM[4] * y + iM[5]) * AB_SCALE) + round_delta;
        uint8_t *d = out.px + (size_t)y * out_w * 3;
        const int W = src->w, H = src->h;
        const size_t row = (size_t)W * 3;
        for (int x = 0; x < out_w; x++) {
            int X = (X0 + adelta[x]) >> (AB_BITS - INTER_BITS);
            int Y = (Y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
            int sx = X >> INTER_BITS, sy = Y >> INTER_BITS;
            if ((unsigned)sx < (unsigned)(W - 1) && (unsigned)sy < (unsigned)(H - 1)) {
                /* the common case, inline: all four taps inside */
                int tx = X & (INTER_TAB - 1), ty = Y & (INTER_TAB - 1);
                int w00 = (INTER_TAB - ty) * (INTER_TAB - tx) * 32, w01 = (INTER_TAB - ty) * tx * 32;
                int w10 = ty * (INTER_TAB - tx) * 32, w11 = ty * tx * 32;
                const uint8_t *p = src->px + (size_t)sy * row + (size_t)sx * 3;
                uint8_t *o = d + 3 * x;
                o[0] =
                    (uint8_t)((p[0] * w00 + p[3] * w01 + p[row] * w10 + p[row + 3] * w11 + (1 << 14)) >> 15);
                o[1] =
                    (uint8_t)((p[1] * w00 + p[4] * w01 + p[row + 1] * w10 + p[row + 4] * w11 + (1 << 14)) >>
                              15);
                o[2] =
                    (uint8_t)((p[2] * w00 + p[5] * w01 + p[row + 2] * w10 + p[row + 5] * w11 + (1 << 14)) >>
                              15);
            } else {
                sample_px(src, X, Y, d + 3 * x);
            }
        }
    }
    free(adelta);
    *dst = out;
    return YOLO_OK;
}

static bool invert3(const double m[9], double inv[9]) {
    double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
    double A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
    double det = a * A + b * B + c * C;
    if (det == 0) return false;
    double id = 1.0 / det;
    inv[0] = A * id, inv[1] = -(b * i - c * h) * id, inv[2] = (b * f - c * e) * id;
    inv[3] = B * id, inv[4] = (a * i - c * g) * id, inv[5] = -(a * f - c * d) * id;
    inv[6] = C * id, inv[7] = -(a * h - b * g) * id, inv[8] = (a * e - b * d) * id;
    return true;
}

/* cv2.warpPerspective(src, M, (out_w, out_h), borderValue=114). */
static yolo_status warp_perspective(const image *src, const double M[9], int out_h, int out_w, image *dst) {
    double iM[9];
    if (!invert3(M, iM)) memset(iM, 0, sizeof iM);
    image out; /* every output pixel is written below */
    yolo_status st = image_alloc_unfilled(&out, out_h, out_w, 3);
    if (st) return st;
    for (int y = 0; y < out_h; y++) {
        double X0 = iM[1] * y + iM[2], Y0 = iM[4] * y + iM[5], W0 = iM[7] * y + iM[8];
        uint8_t *d = out.px + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            double W = W0 + iM[6] * x;
            W = W != 0 ? INTER_TAB / W : 0;
            double fX = fmax(-2147483648.0, fmin(2147483647.0, (X0 + iM[0] * x) * W));
            double fY = fmax(-2147483648.0, fmin(2147483647.0, (Y0 + iM[3] * x) * W));
            sample_px(src, sat_round(fX), sat_round(fY), d + 3 * x);
        }
    }
    *dst = out;
    return YOLO_OK;
}

/* segment2box: the box of the points inside [0,w] x [0,h] (after clipping all points first when three or
 * more sides stick out); all zeros when no inside x is nonzero, as Ultralytics' any(x) test does. */
static void segment_box(const float *xy, int npts, float w, float h, float box[4]) {
    float mnx = INFINITY, mny = INFINITY, mxx = -INFINITY, mxy = -INFINITY;
    for (int p = 0; p < npts; p++) {
        mnx = fminf(mnx, xy[2 * p]), mxx = fmaxf(mxx, xy[2 * p]);
        mny = fminf(mny, xy[2 * p + 1]), mxy = fmaxf(mxy, xy[2 * p + 1]);
    }
    bool clip = (mnx < 0) + (mny < 0) + (mxx > w) + (mxy > h) >= 3;
    float bx1 = INFINITY, by1 = INFINITY, bx2 = -INFINITY, by2 = -INFINITY;
    bool any = false;
    for (int p = 0; p < npts; p++) {
        float x = xy[2 * p], y = xy[2 * p + 1];
        if (clip) x = clampf(x, 0, w), y = clampf(y, 0, h);
        if (x >= 0 && y >= 0 && x <= w && y <= h) {
            bx1 = fminf(bx1, x), bx2 = fmaxf(bx2, x), by1 = fminf(by1, y), by2 = fmaxf(by2, y);
            any |= x != 0;
        }
    }
    if (!any) {
        box[0] = box[1] = box[2] = box[3] = 0;
        return;
    }
    box[0] = bx1, box[1] = by1, box[2] = bx2, box[3] = by2;
}

/* RandomPerspective (spec §4.3.2). border is the mosaic border (-s/2) or 0. */
static yolo_status random_perspective(const augment_cfg *cfg, rng *r, sample *s, int border) {
    int out_w = s->img.w + 2 * border, out_h = s->img.h + 2 * border;
    double C[9] = {1, 0, -s->img.w / 2.0, 0, 1, -s->img.h / 2.0, 0, 0, 1};
    double P[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    P[6] = rng_uniform(r, -cfg->perspective, cfg->perspective);
    P[7] = rng_uniform(r, -cfg->perspective, cfg->perspective);
    double a = rng_uniform(r, -cfg->degrees, cfg->degrees);
    double sc = rng_uniform(r, 1 - cfg->scale, 1 + cfg->scale);
    double ar = a * M_PI / 180.0, al = cos(ar) * sc, be = sin(ar) * sc;
    double R[9] = {al, be, 0, -be, al, 0, 0, 0, 1};
    double S[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    S[1] = tan(rng_uniform(r, -cfg->shear, cfg->shear) * M_PI / 180.0);
    S[3] = tan(rng_uniform(r, -cfg->shear, cfg->shear) * M_PI / 180.0);
    double T[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    T[2] = rng_uniform(r, 0.5 - cfg->translate, 0.5 + cfg->translate) * out_w;
    T[5] = rng_uniform(r, 0.5 - cfg->translate, 0.5 + cfg->translate) * out_h;
    /* M = T S R P C, with each entry rounded to float32 as Ultralytics' float32 matrices are. */
    double M[9], tmp[9];
    const double *chain[5] = {T, S, R, P, C};
    memcpy(M, chain[0], sizeof M);
    for (int c = 1; c < 5; c++) {
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double v = 0;
                for (int k = 0; k < 3; k++)
                    v += M[3 * i + k] * chain[c][3 * k + j];
                tmp[3 * i + j] = (float)v;
            }
        memcpy(M, tmp, sizeof M);
    }
    bool identity = true;
    static const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    for (int k = 0; k < 9; k++)
        identity &= M[k] == I[k];
    if (border != 0 || !identity) {
        image dst;
        yolo_status st = cfg->perspective != 0 ? warp_perspective(&s->img, M, out_h, out_w, &dst)
                                               : warp_affine(&s->img, M, out_h, out_w, &dst);
        if (st) return st;
        image_free(&s->img);
        s->img = dst;
    }
    if (s->n == 0) return YOLO_OK;

    bool segs = labels_have_segments(s);
    int n = s->n;
    float *old = malloc(sizeof *old * 4 * n);
    bool *keep = malloc(sizeof *keep * n);
    if (!old || !keep) {
        free(old), free(keep);
        return yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
    }
    memcpy(old, s->boxes, sizeof *old * 4 * n);
    bool persp = cfg->perspective != 0;
    for (int k = 0; k < n; k++) {
        float *b = s->boxes + 4 * k;
        float cx[4] = {b[0], b[2], b[0], b[2]}, cy[4] = {b[1], b[3], b[3], b[1]};
        float mnx = INFINITY, mny = INFINITY, mxx = -INFINITY, mxy = -INFINITY;
        for (int q = 0; q < 4; q++) {
            double x = M[0] * cx[q] + M[1] * cy[q] + M[2], y = M[3] * cx[q] + M[4] * cy[q] + M[5];
            if (persp) {
                double w = M[6] * cx[q] + M[7] * cy[q] + M[8];
                x /= w, y /= w;
            }
            mnx = fminf(mnx, (float)x), mxx = fmaxf(mxx, (float)x);
            mny = fminf(mny, (float)y), mxy = fmaxf(mxy, (float)y);
        }
        b[0] = mnx, b[1] = mny, b[2] = mxx, b[3] = mxy;
    }
    if (segs) {
        for (int k = 0; k < n; k++) {
            float *xy = s->seg_xy + 2 * (size_t)s->seg_start[k];
            int np = sample_seg_len(s, k);
            for (int p = 0; p < np; p++) {
                double x = xy[2 * p], y = xy[2 * p + 1];
                double X = M[0] * x + M[1] * y + M[2], Y = M[3] * x + M[4] * y + M[5];
                double W = M[6] * x + M[7] * y + M[8];
                xy[2 * p] = (float)(X / W), xy[2 * p + 1] = (float)(Y / W);
            }
            float *b = s->boxes + 4 * k;
            segment_box(xy, np, (float)out_w, (float)out_h, b);
            for (int p = 0; p < np; p++)
                xy[2 * p] = clampf(xy[2 * p], b[0], b[2]), xy[2 * p + 1] = clampf(xy[2 * p + 1], b[1], b[3]);
        }
    }
    labels_clip(s, (float)out_w, (float)out_h);
    /* box_candidates: original boxes scaled by the random scale vs the new boxes. */
    const float eps = 1e-16f, area_thr = segs ? 0.01f : 0.10f;
    for (int k = 0; k < n; k++) {
        const float *b1 = old + 4 * k, *b2 = s->boxes + 4 * k;
        float w1 = (b1[2] * (float)sc) - (b1[0] * (float)sc), h1 = (b1[3] * (float)sc) - (b1[1] * (float)sc);
        float w2 = b2[2] - b2[0], h2 = b2[3] - b2[1];
        float arr = fmaxf(w2 / (h2 + eps), h2 / (w2 + eps));
        keep[k] = w2 > 2 && h2 > 2 && w2 * h2 / (w1 * h1 + eps) > area_thr && arr < 100;
    }
    sample_filter(s, keep);
    free(old), free(keep);
    return YOLO_OK;
}

/* ---- HSV (OpenCV's 8-bit BGR<->HSV with H in [0,180)) ---- */

static int hsv_sdiv[256], hsv_hdiv[256];
static pthread_once_t hsv_once = PTHREAD_ONCE_INIT;

/* Per (H, S) pair after the LUTs: the factor each of B, G, R multiplies V by in OpenCV's HSV->BGR
 * (1, 1 - s, 1 - s*h or 1 - s*(1 - h), chosen by the hue sector). v * factor is the very float product
 * OpenCV computes, so the table changes nothing but speed. */
static float hsv_factor[180 * 256][3];

static void hsv_factors_init(void) {
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    for (int hh = 0; hh < 180; hh++)
        for (int ss = 0; ss < 256; ss++) {
            float *f = hsv_factor[hh * 256 + ss];
            float s = ss * (1.f / 255.f);
            if (s == 0) {
                f[0] = f[1] = f[2] = 1.f;
                continue;
            }
            float h = (float)hh * (6.f / 180.f);
            while (h >= 6)
                h -= 6;
            int sector = (int)h; /* h >= 0 here, so truncation is floor */
            h -= (float)sector;
            if ((unsigned)sector >= 6u) sector = 0, h = 0.f;
            float tab[4] = {1.f, 1.f - s, 1.f - s * h, 1.f - s * (1.f - h)};
            for (int k = 0; k < 3; k++)
                f[k] = tab[sector_data[sector][k]];
        }
}

/* OpenCV's division tables for 8-bit RGB->HSV: round((255 << 12) / i) and round((180 << 12) / (6 i)). */
static void hsv_tables_init(void) {
    hsv_sdiv[0] = hsv_hdiv[0] = 0;
    for (int i = 1; i < 256; i++) {
        hsv_sdiv[i] = (int)lrint((255 << 12) / (1.0 * i));
        hsv_hdiv[i] = (int)lrint((180 << 12) / (6.0 * i));
    }
    hsv_factors_init();
}

static void hsv_tables(void) {
    pthread_once(&hsv_once, hsv_tables_init);
}

/* Round half to even for 0 <= v < 2^22 without a libm call: adding 1.5 * 2^23 leaves no fraction bits,
 * so the FPU's default rounding does the work (this is what cvRound's cvtss2si does). */
static inline int rint_pos(float v) {
    return (int)((v + 12582912.0f) - 12582912.0f);
}

static inline uint8_t u8_of_unit(float x, bool trunc) {
    float y = x * 255.f;
    int i = trunc ? (int)y : rint_pos(y);
    return (uint8_t)(i > 255 ? 255 : i);
}

/* OpenCV's HSV2RGB for 8-bit: float maths on h * (6/180), s / 255, v / 255, then back to 8 bits. Its
 * vector path (blocks of pixels at the start of each row) truncates; the scalar tail rounds. */
static inline void hsv_to_bgr(int hh, int ss, int vv, bool trunc, uint8_t *b, uint8_t *g, uint8_t *r) {
    const float *f = hsv_factor[(hh < 180 ? hh : 179) * 256 + ss];
    float v = vv * (1.f / 255.f);
    *b = u8_of_unit(v * f[0], trunc);
    *g = u8_of_unit(v * f[1], trunc);
    *r = u8_of_unit(v * f[2], trunc);
}

int augment_hsv_simd_pixels = 32; /* see augment_internal.h */

void augment_hsv_apply(image *im, double rh, double rs, double rv) {
    if (im->c != 3) return;
    hsv_tables();
    uint8_t lut_h[256], lut_s[256], lut_v[256];
    for (int x = 0; x < 256; x++) {
        /* numpy: ((x + r*180) % 180).astype(uint8), Python-style modulo of a double, then truncation. */
        double hv = fmod(x + rh * 180.0, 180.0);
        if (hv < 0) hv += 180.0;
        lut_h[x] = (uint8_t)(int)hv;
        double sv = x * (rs + 1), vv = x * (rv + 1);
        lut_s[x] = (uint8_t)(int)(sv < 0 ? 0 : sv > 255 ? 255 : sv);
        lut_v[x] = (uint8_t)(int)(vv < 0 ? 0 : vv > 255 ? 255 : vv);
    }
    lut_s[0] = 0;
    /* OpenCV converts row by row; a row's first (w / block) * block pixels take the vector path (blocks of
     * 4 float vectors: 32 pixels with the AVX2 build that x86-64 machines dispatch to). */
    int block = augment_hsv_simd_pixels;
    int vec_end = block > 0 ? im->w / block * block : 0;
    uint8_t *p = im->px;
    /* The result depends only on (pixel, trunc): runs of equal pixels (padding, flat backgrounds) reuse
     * the previous result, and a small direct-mapped memo catches the colours an image keeps repeating. */
    enum { MEMO_BITS = 13 };
    struct {
        uint32_t key, out;
    } memo[1 << MEMO_BITS];
    memset(memo, 0xff, sizeof memo); /* 0xffffffff is no key: keys use 25 bits */
    uint32_t last_in = 0xffffffffu;
    uint8_t last_out[3] = {0, 0, 0};
    for (int y = 0; y < im->h; y++) {
        for (int x = 0; x < im->w; x++, p += 3) {
            int r = p[0], g = p[1], b = p[2];
            bool trunc = x < vec_end;
            uint32_t key = (uint32_t)trunc << 24 | (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b;
            if (key == last_in) {
                p[0] = last_out[0], p[1] = last_out[1], p[2] = last_out[2];
                continue;
            }
            last_in = key;
            uint32_t slot = (key * 2654435761u) >> (32 - MEMO_BITS);
            if (memo[slot].key == key) {
                uint32_t o = memo[slot].out;
                last_out[0] = p[0] = (uint8_t)o, last_out[1] = p[1] = (uint8_t)(o >> 8);
                last_out[2] = p[2] = (uint8_t)(o >> 16);
                continue;
            }
            int v = b > g ? b : g;
            v = v > r ? v : r;
            int vmin = b < g ? b : g;
            vmin = vmin < r ? vmin : r;
            int diff = v - vmin;
            int vr = v == r ? -1 : 0, vg = v == g ? -1 : 0;
            int s = (diff * hsv_sdiv[v] + (1 << 11)) >> 12;
            int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + ((~vg) & (r - g + 4 * diff))));
            h = (h * hsv_hdiv[diff] + (1 << 11)) >> 12;
            h += h < 0 ? 180 : 0;
            if (h > 255) h = 255;
            uint8_t ob, og, orr;
            hsv_to_bgr(lut_h[h], lut_s[s], lut_v[v], trunc, &ob, &og, &orr);
            p[0] = orr, p[1] = og, p[2] = ob;
            last_out[0] = orr, last_out[1] = og, last_out[2] = ob;
            memo[slot].key = key;
            memo[slot].out = (uint32_t)orr | (uint32_t)og << 8 | (uint32_t)ob << 16;
        }
    }
}

void augment_hsv(image *im, float hgain, float sgain, float vgain, rng *r) {
    if (!hgain && !sgain && !vgain) return;
    double rh = rng_uniform(r, -1, 1) * hgain;
    double rs = rng_uniform(r, -1, 1) * sgain;
    double rv = rng_uniform(r, -1, 1) * vgain;
    augment_hsv_apply(im, rh, rs, rv);
}

/* ---- flips (labels normalised or pixel: both use the image size of the sample's current state) ---- */

static void flip_lr_pixels(sample *s) {
    int w = s->img.w, c = s->img.c;
    for (int y = 0; y < s->img.h; y++) {
        uint8_t *row = s->img.px + (size_t)y * w * c;
        if (c == 3) { /* the usual case, with the channel loop unrolled */
            for (uint8_t *pa = row, *pb = row + (size_t)(w - 1) * 3; pa < pb; pa += 3, pb -= 3) {
                uint8_t t0 = pa[0], t1 = pa[1], t2 = pa[2];
                pa[0] = pb[0], pa[1] = pb[1], pa[2] = pb[2];
                pb[0] = t0, pb[1] = t1, pb[2] = t2;
            }
            continue;
        }
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int k = 0; k < c; k++) {
                uint8_t t = row[a * c + k];
                row[a * c + k] = row[b * c + k];
                row[b * c + k] = t;
            }
    }
}

static void flip_ud_pixels(sample *s) {
    size_t row = (size_t)s->img.w * s->img.c;
    uint8_t *tmp = malloc(row ? row : 1);
    if (!tmp) return;
    for (int a = 0, b = s->img.h - 1; a < b; a++, b--) {
        memcpy(tmp, s->img.px + a * row, row);
        memcpy(s->img.px + a * row, s->img.px + b * row, row);
        memcpy(s->img.px + b * row, tmp, row);
    }
    free(tmp);
}

void augment_flip_lr(sample *s) {
    flip_lr_pixels(s);
    for (int k = 0; k < s->n; k++)
        s->boxes[4 * k] = 1.0f - s->boxes[4 * k];
    if (s->seg_start)
        for (int p = 0; p < s->seg_start[s->n]; p++)
            s->seg_xy[2 * p] = 1.0f - s->seg_xy[2 * p];
}

void augment_flip_ud(sample *s) {
    flip_ud_pixels(s);
    for (int k = 0; k < s->n; k++)
        s->boxes[4 * k + 1] = 1.0f - s->boxes[4 * k + 1];
    if (s->seg_start)
        for (int p = 0; p < s->seg_start[s->n]; p++)
            s->seg_xy[2 * p + 1] = 1.0f - s->seg_xy[2 * p + 1];
}

/* ---- copy-paste (flip mode) ---- */

static yolo_status copy_paste_flip(const augment_cfg *cfg, sample *s) {
    if (!labels_have_segments(s) || cfg->copy_paste <= 0) return YOLO_OK;
    int n = s->n, W = s->img.w, H = s->img.h;
    /* Flipped copies: x -> W - x. */
    float *fb = malloc(sizeof *fb * 4 * n);
    double *ioa = malloc(sizeof *ioa * n);
    int *order = malloc(sizeof *order * n);
    uint8_t *mask = calloc((size_t)W * H, 1);
    if (!fb || !ioa || !order || !mask) {
        free(fb), free(ioa), free(order), free(mask);
        return yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
    }
    int m = 0;
    for (int j = 0; j < n; j++) {
        const float *b = s->boxes + 4 * j;
        float *f = fb + 4 * j;
        f[0] = W - b[2], f[1] = b[1], f[2] = W - b[0], f[3] = b[3];
        /* IoA: intersection over the area of the existing box, max over existing boxes. */
        double worst = 0;
        bool ok = true;
        for (int i = 0; i < n; i++) {
            const float *e = s->boxes + 4 * i;
            double iw = fmin(f[2], e[2]) - fmax(f[0], e[0]), ih = fmin(f[3], e[3]) - fmax(f[1], e[1]);
            double inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
            double v = inter / ((double)(e[2] - e[0]) * (e[3] - e[1]) + 1e-7);
            if (v >= 0.30) ok = false;
            if (v > worst) worst = v;
        }
        ioa[j] = worst;
        if (ok) order[m++] = j;
    }
    /* Stable sort of candidates by their largest IoA. */
    for (int a = 1; a < m; a++) {
        int t = order[a], b = a;
        while (b > 0 && ioa[order[b - 1]] > ioa[t])
            order[b] = order[b - 1], b--;
        order[b] = t;
    }
    int take = (int)nearbyint(cfg->copy_paste * m);
    yolo_status st = YOLO_OK;
    float *pts = NULL;
    for (int q = 0; q < take && !st; q++) {
        int j = order[q], np = sample_seg_len(s, j);
        float *np_xy = realloc(pts, sizeof *pts * 2 * (size_t)(np ? np : 1));
        if (!np_xy) {
            st = yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
            break;
        }
        pts = np_xy;
        const float *xy = s->seg_xy + 2 * (size_t)s->seg_start[j];
        for (int p = 0; p < np; p++)
            pts[2 * p] = W - xy[2 * p], pts[2 * p + 1] = xy[2 * p + 1];
        masks_fill_polygon(mask, H, W, pts, np, 1); /* cv2.drawContours FILLED */
        st = sample_add(s, s->cls[j], fb + 4 * j, pts, np);
    }
    if (!st) {
        /* Pixels under the pasted polygons come from the mirrored image. */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (mask[(size_t)y * W + x])
                    memcpy(s->img.px + ((size_t)y * W + x) * 3, s->img.px + ((size_t)y * W + (W - 1 - x)) * 3,
                           3);
    }
    free(fb), free(ioa), free(order), free(mask), free(pts);
    return st;
}

/* ---- the chain ---- */

/* Steps 1-3 (mosaic or letterbox, copy-paste, perspective) for dataset image index, into out (pixels). */
static yolo_status pre_transform(const augment_cfg *cfg, bool mosaic_on, const int *rect_hw, rng *r,
                                 augment_load_fn load, augment_peek_fn peek, void *ctx, int64_t n_images,
                                 int64_t index, sample *out) {
    sample main;
    sample_init(&main);
    /* load does not draw from r, so the mosaic draw can come first: a mosaic only reads main's pixels,
     * which peek can lend. Errors stay the same (a failed load ends the sample either way). */
    bool use_mosaic = mosaic_on && !cfg->rect && cfg->mosaic > 0 && rng_double(r) <= cfg->mosaic;
    const sample *c = use_mosaic && peek ? peek(ctx, index) : NULL;
    const uint8_t *main_px = NULL;
    yolo_status st;
    if (c && c->img.px && c->img.h > 0 && c->img.w > 0 && c->img.c == 3) {
        sample lab = *c;
        lab.img.px = NULL;
        st = sample_copy(&main, &lab);
        main.index = index;
        main_px = c->img.px;
    } else {
        st = load_checked(load, ctx, index, &main);
        main_px = main.img.px;
    }
    if (st) {
        sample_free(&main);
        return st;
    }
    int border = 0;
    if (use_mosaic) {
        st = mosaic4(cfg, r, load, peek, ctx, n_images, &main, main_px, out);
        sample_free(&main);
        border = -(cfg->imgsz / 2);
    } else {
        /* rect training letterboxes to the batch's shape (Ultralytics' rect_shape), scaling up too */
        labels_to_pixels(&main);
        st = letterbox_sample(&main, rect_hw ? rect_hw[0] : cfg->imgsz, rect_hw ? rect_hw[1] : cfg->imgsz,
                              true);
        sample_move(out, &main);
    }
    if (!st && mosaic_on && cfg->copy_paste > 0) st = copy_paste_flip(cfg, out);
    if (!st) st = random_perspective(cfg, r, out, border);
    return st;
}

yolo_status augment_train(const augment_cfg *cfg, bool mosaic_on, rng *r, augment_load_fn load, void *ctx,
                          int64_t n_images, int64_t index, sample *out) {
    return augment_train_peek(cfg, mosaic_on, NULL, r, load, NULL, ctx, n_images, index, out);
}

yolo_status augment_train_peek(const augment_cfg *cfg, bool mosaic_on, const int *rect_hw, rng *r,
                               augment_load_fn load, augment_peek_fn peek, void *ctx, int64_t n_images,
                               int64_t index, sample *out) {
    if (!cfg || !r || !load || !out) return yolo_error(YOLO_ERR_USAGE, "augment: missing argument");
    if (cfg->imgsz < 32 || cfg->imgsz > 8192 || cfg->imgsz % 2)
        return yolo_error(YOLO_ERR_USAGE, "augment: imgsz %d out of range (an even number 32..8192)",
                          cfg->imgsz);
    if (n_images <= 0 || index < 0 || index >= n_images)
        return yolo_error(YOLO_ERR_USAGE, "augment: index %lld outside 0..%lld", (long long)index,
                          (long long)n_images - 1);
    if (cfg->cutmix != 0)
        return yolo_error(YOLO_ERR_USAGE, "augment: cutmix is not supported (set cutmix=0)");
    sample res;
    sample_init(&res);
    if (cfg->rect && rect_hw &&
        (rect_hw[0] < 32 || rect_hw[1] < 32 || rect_hw[0] > 8192 || rect_hw[1] > 8192))
        return yolo_error(YOLO_ERR_USAGE, "augment: rect shape %dx%d out of range", rect_hw[1], rect_hw[0]);
    yolo_status st =
        pre_transform(cfg, mosaic_on, cfg->rect ? rect_hw : NULL, r, load, peek, ctx, n_images, index, &res);
    /* MixUp: its partner runs through the same pre-transform with its own draws (never with rect). */
    double mix_p = mosaic_on && !cfg->rect ? cfg->mixup : 0;
    if (!st && mix_p > 0 && rng_double(r) <= mix_p) {
        sample other;
        sample_init(&other);
        int64_t j = rng_int(r, 0, n_images - 1);
        rng sub;
        rng_fork(r, 0x6d6978, &sub);
        st = pre_transform(cfg, mosaic_on, NULL, &sub, load, peek, ctx, n_images, j, &other);
        if (!st && (other.img.h != res.img.h || other.img.w != res.img.w))
            st = yolo_error(YOLO_ERR_FORMAT, "augment: mixup partner size differs");
        if (!st) {
            double mr = rng_beta(r, 32.0, 32.0);
            size_t np = (size_t)res.img.h * res.img.w * 3;
            for (size_t k = 0; k < np; k++)
                res.img.px[k] = (uint8_t)(res.img.px[k] * mr + other.img.px[k] * (1 - mr));
            st = labels_append(&res, &other);
        }
        sample_free(&other);
    }
    if (!st) {
        augment_hsv(&res.img, cfg->hsv_h, cfg->hsv_s, cfg->hsv_v, r);
        labels_to_normalized(&res);
        if (rng_double(r) < cfg->flipud) augment_flip_ud(&res);
        if (rng_double(r) < cfg->fliplr) augment_flip_lr(&res);
        /* Format's bgr: with probability bgr the channels stay in OpenCV's BGR order */
        if (cfg->bgr > 0 && !(rng_double(r) > cfg->bgr)) {
            uint8_t *px = res.img.px;
            for (size_t k = 0; k < (size_t)res.img.h * res.img.w; k++) {
                uint8_t t = px[3 * k];
                px[3 * k] = px[3 * k + 2], px[3 * k + 2] = t;
            }
        }
        res.res_h = res.img.h, res.res_w = res.img.w;
        res.ratio_h = res.ratio_w = 1.0;
        res.pad_left = res.pad_top = 0;
        sample_move(out, &res);
        return YOLO_OK;
    }
    sample_free(&res);
    return st;
}

yolo_status augment_val(sample *s, int out_h, int out_w) {
    if (!s->img.px) return yolo_error(YOLO_ERR_USAGE, "augment: validation sample has no image");
    if (out_h <= 0 || out_w <= 0)
        return yolo_error(YOLO_ERR_USAGE, "augment: bad letterbox shape %dx%d", out_h, out_w);
    int h = s->img.h, w = s->img.w;
    labels_to_pixels(s);
    yolo_status st = letterbox_sample(s, out_h, out_w, false);
    labels_to_normalized(s);
    if (st) return st;
    s->res_h = h, s->res_w = w;
    if (s->ori_h > 0 && s->ori_w > 0) s->ratio_h = (double)h / s->ori_h, s->ratio_w = (double)w / s->ori_w;
    return YOLO_OK;
}

typedef struct {
    double ar;
    int64_t i;
} ar_item;

static int cmp_ar(const void *a, const void *b) {
    const ar_item *x = a, *y = b;
    if (x->ar < y->ar) return -1;
    if (x->ar > y->ar) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

yolo_status augment_rect_batches(const int *h, const int *w, int64_t n, int imgsz, int batch, int stride,
                                 double pad, int64_t *order, int *shape_h, int *shape_w) {
    if (n < 0 || batch <= 0 || stride <= 0 || imgsz <= 0)
        return yolo_error(YOLO_ERR_USAGE, "augment: bad rect batch arguments");
    ar_item *it = malloc(sizeof *it * (n ? n : 1));
    if (!it) return yolo_error(YOLO_ERR_NOMEM, "augment: out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (h[i] <= 0 || w[i] <= 0) {
            free(it);
            return yolo_error(YOLO_ERR_USAGE, "augment: image %lld has size %dx%d", (long long)i, h[i], w[i]);
        }
        /* numpy computes the ratio in float64 from the stored (h, w). */
        it[i].ar = (double)h[i] / w[i];
        it[i].i = i;
    }
    /* argsort: numpy's default quicksort is not stable, but ties only reorder equal-shaped images, which
     * share a batch shape; we break ties by index for determinism. */
    qsort(it, n, sizeof *it, cmp_ar);
    int64_t nb = (n + batch - 1) / batch;
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * batch, hi = lo + batch < n ? lo + batch : n;
        double mini = it[lo].ar, maxi = it[hi - 1].ar;
        double sh = 1, sw = 1;
        if (maxi < 1)
            sh = maxi, sw = 1;
        else if (mini > 1)
            sh = 1, sw = 1 / mini;
        shape_h[b] = (int)ceil(sh * imgsz / stride + pad) * stride;
        shape_w[b] = (int)ceil(sw * imgsz / stride + pad) * stride;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = it[i].i;
    free(it);
    return YOLO_OK;
}

/* ---- classification ---- */

/* PIL's bilinear resize (what torchvision's Resize and RandomResizedCrop do to PIL images): a triangle
 * filter widened by the scale when shrinking (so it antialiases), weights normalised per output pixel and
 * held in 22-bit fixed point; a horizontal pass to 8 bits, then a vertical pass. */
enum { PIL_BITS = 22 };

static int pil_coeffs(int in, int out, int **bounds_out, int32_t **kk_out) {
    double scale = (double)in / out, fscale = scale < 1.0 ? 1.0 : scale, support = fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(sizeof *bounds * 2 * (size_t)out);
    double *pre = malloc(sizeof *pre * (size_t)out * ksize);
    int32_t *kk = malloc(sizeof *kk * (size_t)out * ksize);
    if (!bounds || !pre || !kk) {
        free(bounds), free(pre), free(kk);
        return -1;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / fscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        double *k = pre + (size_t)xx * ksize;
        int x = 0;
        for (; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            k[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += k[x];
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++)
            k[x] = 0;
        bounds[2 * xx] = xmin, bounds[2 * xx + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out * ksize; i++)
        kk[i] = pre[i] < 0 ? (int32_t)(-0.5 + pre[i] * (1 << PIL_BITS))
                           : (int32_t)(0.5 + pre[i] * (1 << PIL_BITS));
    free(pre);
    *bounds_out = bounds, *kk_out = kk;
    return ksize;
}

static uint8_t pil_clip8(int64_t v) {
    if (v >= ((int64_t)1 << PIL_BITS) << 8) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PIL_BITS);
}

static yolo_status resize_pil_bilinear(const image *src, int h, int w, image *dst) {
    if (h == src->h && w == src->w) {
        yolo_status st = image_alloc(dst, h, w, src->c, 0);
        if (!st) memcpy(dst->px, src->px, (size_t)h * w * src->c);
        return st;
    }
    int c = src->c, *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh = pil_coeffs(src->w, w, &bh, &kh), ksv = ksh < 0 ? -1 : pil_coeffs(src->h, h, &bv, &kv);
    image tmp = {0};
    yolo_status st = ksh < 0 || ksv < 0 ? yolo_error(YOLO_ERR_NOMEM, "resize: out of memory") : YOLO_OK;
    /* Rows the vertical pass reads: from the first output row's window start to the last one's end. */
    int y_first = st ? 0 : bv[0], y_last = st ? 0 : bv[2 * h - 2] + bv[2 * h - 1];
    const image *mid = src;
    if (!st && w != src->w) {
        st = image_alloc(&tmp, y_last - y_first, w, c, 0);
        for (int y = 0; !st && y < tmp.h; y++) {
            const uint8_t *row = src->px + (size_t)(y + y_first) * src->w * c;
            for (int xx = 0; xx < w; xx++) {
                int xmin = bh[2 * xx], xmax = bh[2 * xx + 1];
                const int32_t *k = kh + (size_t)xx * ksh;
                for (int j = 0; j < c; j++) {
                    int64_t acc = 1 << (PIL_BITS - 1);
                    for (int x = 0; x < xmax; x++)
                        acc += (int64_t)row[(x + xmin) * c + j] * k[x];
                    tmp.px[((size_t)y * w + xx) * c + j] = pil_clip8(acc);
                }
            }
        }
        mid = &tmp;
    } else {
        y_first = 0;
    }
    if (!st) st = image_alloc(dst, h, w, c, 0);
    if (!st) {
        if (h == src->h) {
            memcpy(dst->px, mid->px, (size_t)h * w * c);
        } else {
            for (int yy = 0; yy < h; yy++) {
                int ymin = bv[2 * yy] - (mid == &tmp ? y_first : 0), ymax = bv[2 * yy + 1];
                const int32_t *k = kv + (size_t)yy * ksv;
                for (int xx = 0; xx < w * c; xx++) {
                    int64_t acc = 1 << (PIL_BITS - 1);
                    for (int y = 0; y < ymax; y++)
                        acc += (int64_t)mid->px[(size_t)(y + ymin) * w * c + xx] * k[y];
                    dst->px[(size_t)yy * w * c + xx] = pil_clip8(acc);
                }
            }
        }
    }
    image_free(&tmp);
    free(bh), free(bv), free(kh), free(kv);
    return st;
}

/* torchvision RandomResizedCrop.get_params: 10 tries of (area, log-ratio), then a centre-crop fallback. */
static void rrc_params(rng *r, int H, int W, double smin, double smax, int *top, int *left, int *ch,
                       int *cw) {
    double area = (double)H * W, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int t = 0; t < 10; t++) {
        double ta = area * rng_uniform(r, smin, smax);
        double ar = exp(rng_uniform(r, lr0, lr1));
        int w = (int)nearbyint(sqrt(ta * ar)), h = (int)nearbyint(sqrt(ta / ar));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            *top = (int)rng_int(r, 0, H - h);
            *left = (int)rng_int(r, 0, W - w);
            *ch = h, *cw = w;
            return;
        }
    }
    double in_ratio = (double)W / H;
    int w, h;
    if (in_ratio < 3.0 / 4.0)
        w = W, h = (int)nearbyint(w / (3.0 / 4.0));
    else if (in_ratio > 4.0 / 3.0)
        h = H, w = (int)nearbyint(h * (4.0 / 3.0));
    else
        w = W, h = H;
    *top = (H - h) / 2, *left = (W - w) / 2, *ch = h, *cw = w;
}

static yolo_status crop_image(const image *src, int top, int left, int h, int w, image *dst) {
    yolo_status st = image_alloc(dst, h, w, src->c, 0);
    if (st) return st;
    for (int y = 0; y < h; y++) {
        int sy = top + y;
        for (int x = 0; x < w; x++) {
            int sx = left + x;
            uint8_t *d = dst->px + ((size_t)y * w + x) * src->c;
            if (sy < 0 || sy >= src->h || sx < 0 || sx >= src->w)
                memset(d, 0, src->c);
            else
                memcpy(d, src->px + ((size_t)sy * src->w + sx) * src->c, src->c);
        }
    }
    return YOLO_OK;
}

/* PIL's Image.blend of 8-bit bands: in1 + alpha * (in2 - in1) in single precision, truncated, clipped
 * (ImageEnhance blends the degenerate image in1 with the image in2 by the factor). */
static inline uint8_t pil_blend(int in1, int in2, float alpha) {
    float t = (float)in1 + alpha * (float)(in2 - in1);
    return t <= 0.f ? 0 : t >= 255.f ? 255 : (uint8_t)t;
}

/* PIL's RGB -> L: ITU-R 601-2 weights in 16-bit fixed point, rounded. */
static inline int pil_luma(const uint8_t *p) {
    return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
}

/* torchvision's colour ops on PIL images: ImageEnhance blends with a degenerate image. */
static void blend(image *im, const uint8_t *deg_px, double factor) {
    size_t n = (size_t)im->h * im->w * 3;
    for (size_t k = 0; k < n; k++)
        im->px[k] = pil_blend(deg_px[k], im->px[k], (float)factor);
}

static void op_brightness(image *im, double f) { /* degenerate: black */
    size_t n = (size_t)im->h * im->w * 3;
    for (size_t k = 0; k < n; k++)
        im->px[k] = pil_blend(0, im->px[k], (float)f);
}

static void op_color(image *im, double f) { /* degenerate: the grey (L) image */
    size_t n = (size_t)im->h * im->w;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = im->px + 3 * i;
        int g = pil_luma(p);
        for (int k = 0; k < 3; k++)
            p[k] = pil_blend(g, p[k], (float)f);
    }
}

static void op_contrast(image *im, double f) { /* degenerate: the mean grey level, rounded */
    size_t n = (size_t)im->h * im->w;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += pil_luma(im->px + 3 * i);
    int mean = n ? (int)(sum / n + 0.5) : 0;
    for (size_t k = 0; k < 3 * n; k++)
        im->px[k] = pil_blend(mean, im->px[k], (float)f);
}

static void op_sharpness(image *im, double f) {
    /* Degenerate image: 3x3 smoothing (centre 5, others 1, /13) inside, original on the border. */
    size_t n = (size_t)im->h * im->w * 3;
    uint8_t *deg = malloc(n ? n : 1);
    if (!deg) return;
    memcpy(deg, im->px, n);
    int W = im->w;
    for (int y = 1; y + 1 < im->h; y++)
        for (int x = 1; x + 1 < W; x++)
            for (int k = 0; k < 3; k++) {
                int s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        s += im->px[((size_t)(y + dy) * W + x + dx) * 3 + k] * (dx == 0 && dy == 0 ? 5 : 1);
                deg[((size_t)y * W + x) * 3 + k] = (uint8_t)((s + 6) / 13);
            }
    blend(im, deg, f);
    free(deg);
}

static void op_posterize(image *im, int bits) {
    uint8_t mask = (uint8_t)(0xff << (8 - bits));
    size_t n = (size_t)im->h * im->w * 3;
    for (size_t k = 0; k < n; k++)
        im->px[k] &= mask;
}

static void op_solarize(image *im, double thr) {
    size_t n = (size_t)im->h * im->w * 3;
    for (size_t k = 0; k < n; k++)
        if (im->px[k] >= thr) im->px[k] = 255 - im->px[k];
}

static void op_autocontrast(image *im) {
    size_t n = (size_t)im->h * im->w;
    for (int k = 0; k < 3; k++) {
        int lo = 255, hi = 0;
        for (size_t i = 0; i < n; i++) {
            int v = im->px[3 * i + k];
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
        if (hi <= lo) continue;
        double sc = 255.0 / (hi - lo);
        /* PIL truncates the scaled value */
        for (size_t i = 0; i < n; i++) {
            int v = (int)((im->px[3 * i + k] - lo) * sc);
            im->px[3 * i + k] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

static void op_equalize(image *im) {
    size_t n = (size_t)im->h * im->w;
    for (int k = 0; k < 3; k++) {
        size_t hist[256] = {0};
        for (size_t i = 0; i < n; i++)
            hist[im->px[3 * i + k]]++;
        size_t last = 0;
        for (int v = 255; v >= 0; v--)
            if (hist[v]) {
                last = hist[v];
                break;
            }
        size_t step = (n - last) / 255;
        if (!step) continue;
        uint8_t lut[256];
        size_t acc = step / 2;
        for (int v = 0; v < 256; v++) {
            size_t q = acc / step;
            lut[v] = (uint8_t)(q > 255 ? 255 : q);
            acc += hist[v];
        }
        for (size_t i = 0; i < n; i++)
            im->px[3 * i + k] = lut[im->px[3 * i + k]];
    }
}

/* Geometric RandAugment ops: inverse affine with nearest sampling and fill 0, as torchvision does. */
static yolo_status op_affine(image *im, double a, double b, double c, double d, double e, double f) {
    image out;
    yolo_status st = image_alloc(&out, im->h, im->w, 3, 0);
    if (st) return st;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            double xs = a * (x + 0.5) + b * (y + 0.5) + c, ys = d * (x + 0.5) + e * (y + 0.5) + f;
            int sx = (int)floor(xs), sy = (int)floor(ys);
            if (sx >= 0 && sx < im->w && sy >= 0 && sy < im->h)
                memcpy(out.px + ((size_t)y * im->w + x) * 3, im->px + ((size_t)sy * im->w + sx) * 3, 3);
        }
    image_free(im);
    *im = out;
    return YOLO_OK;
}

/* RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31) with torchvision's op table. */
static yolo_status randaugment(rng *r, image *im) {
    const int bins = 31, mag = 9;
    for (int op = 0; op < 2; op++) {
        int which = (int)rng_int(r, 0, 13);
        bool neg = rng_double(r) < 0.5;
        double t = (double)mag / (bins - 1); /* position along each op's linspace */
        double sgn = neg ? -1 : 1;
        double cx = im->w * 0.5, cy = im->h * 0.5;
        yolo_status st = YOLO_OK;
        switch (which) {
        case 0:
            break; /* Identity */
        case 1: {  /* ShearX, 0..0.3, about the top-left corner (torchvision passes center [0, 0]) */
            double sh = sgn * 0.3 * t;
            st = op_affine(im, 1, -sh, 0, 0, 1, 0);
            break;
        }
        case 2: {
            double sh = sgn * 0.3 * t;
            st = op_affine(im, 1, 0, 0, -sh, 1, 0);
            break;
        }
        case 3: { /* TranslateX, 0..150/331 of the width */
            double tx = sgn * 150.0 / 331.0 * im->w * t;
            st = op_affine(im, 1, 0, -(double)(int)tx, 0, 1, 0);
            break;
        }
        case 4: {
            double ty = sgn * 150.0 / 331.0 * im->h * t;
            st = op_affine(im, 1, 0, 0, 0, 1, -(double)(int)ty);
            break;
        }
        case 5: { /* Rotate, 0..30 degrees (counter-clockwise for positive) */
            double ang = sgn * 30.0 * t * M_PI / 180.0, ca = cos(ang), sa = sin(ang);
            st = op_affine(im, ca, -sa, cx - ca * cx + sa * cy, sa, ca, cy - sa * cx - ca * cy);
            break;
        }
        case 6:
            op_brightness(im, 1.0 + sgn * 0.9 * t);
            break;
        case 7:
            op_color(im, 1.0 + sgn * 0.9 * t);
            break;
        case 8:
            op_contrast(im, 1.0 + sgn * 0.9 * t);
            break;
        case 9:
            op_sharpness(im, 1.0 + sgn * 0.9 * t);
            break;
        case 10:
            op_posterize(im, 8 - (int)lrint(4 * t));
            break;
        case 11:
            op_solarize(im, 255.0 * (1.0 - t));
            break;
        case 12:
            op_autocontrast(im);
            break;
        case 13:
            op_equalize(im);
            break;
        }
        if (st) return st;
    }
    return YOLO_OK;
}

/* ColorJitter(brightness=v, contrast=v, saturation=s, hue=h) in a random order, as torchvision. */
static void color_jitter(rng *r, image *im, double bri, double con, double sat, double hue) {
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)rng_int(r, 0, i), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int q = 0; q < 4; q++) {
        switch (order[q]) {
        case 0:
            if (bri > 0) op_brightness(im, rng_uniform(r, fmax(0, 1 - bri), 1 + bri));
            break;
        case 1:
            if (con > 0) op_contrast(im, rng_uniform(r, fmax(0, 1 - con), 1 + con));
            break;
        case 2:
            if (sat > 0) op_color(im, rng_uniform(r, fmax(0, 1 - sat), 1 + sat));
            break;
        case 3:
            if (hue > 0) augment_hsv_apply(im, rng_uniform(r, -hue, hue), 0, 0);
            break;
        }
    }
}

/* RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0). */
static void random_erasing(rng *r, image *im, double p) {
    if (!(rng_double(r) < p)) return;
    double area = (double)im->h * im->w, lr0 = log(0.3), lr1 = log(3.3);
    for (int t = 0; t < 10; t++) {
        double ea = area * rng_uniform(r, 0.02, 0.33);
        double ar = exp(rng_uniform(r, lr0, lr1));
        int h = (int)nearbyint(sqrt(ea * ar)), w = (int)nearbyint(sqrt(ea / ar));
        if (!(h < im->h && w < im->w)) continue;
        int i = (int)rng_int(r, 0, im->h - h), j = (int)rng_int(r, 0, im->w - w);
        for (int y = i; y < i + h; y++)
            memset(im->px + ((size_t)y * im->w + j) * 3, 0, (size_t)w * 3);
        return;
    }
}

static yolo_status check_cls_input(const augment_cfg *cfg, const image *src) {
    if (!cfg || !src || !src->px || src->c != 3 || src->h <= 0 || src->w <= 0)
        return yolo_error(YOLO_ERR_USAGE, "augment: classification needs an RGB image");
    if (cfg->imgsz <= 0 || cfg->imgsz > 8192)
        return yolo_error(YOLO_ERR_USAGE, "augment: bad imgsz %d", cfg->imgsz);
    return YOLO_OK;
}

yolo_status augment_classify_train(const augment_cfg *cfg, rng *r, const image *src, image *out) {
    yolo_status st = check_cls_input(cfg, src);
    if (st) return st;
    int s = cfg->imgsz, top, left, ch, cw;
    double smin = 1.0 - cfg->scale;
    if (smin < 0) smin = 0;
    rrc_params(r, src->h, src->w, smin, 1.0, &top, &left, &ch, &cw);
    image crop, res;
    if ((st = crop_image(src, top, left, ch, cw, &crop))) return st;
    st = resize_pil_bilinear(&crop, s, s, &res);
    image_free(&crop);
    if (st) return st;
    sample tmp;
    sample_init(&tmp);
    tmp.img = res;
    if (rng_double(r) < cfg->fliplr) augment_flip_lr(&tmp);
    if (cfg->flipud > 0 && rng_double(r) < cfg->flipud) augment_flip_ud(&tmp);
    res = tmp.img;
    switch (cfg->auto_augment) {
    case AUGMENT_AUTO_NONE:
        color_jitter(r, &res, cfg->hsv_v, cfg->hsv_v, cfg->hsv_s, cfg->hsv_h);
        break;
    case AUGMENT_AUTO_RANDAUGMENT:
    case AUGMENT_AUTO_AUTOAUGMENT: /* approximated by RandAugment's op set */
    case AUGMENT_AUTO_AUGMIX:
        st = randaugment(r, &res);
        break;
    }
    if (st) {
        image_free(&res);
        return st;
    }
    random_erasing(r, &res, cfg->erasing);
    *out = res;
    return YOLO_OK;
}

yolo_status augment_classify_val(const augment_cfg *cfg, const image *src, image *out) {
    yolo_status st = check_cls_input(cfg, src);
    if (st) return st;
    int s = cfg->imgsz, h, w;
    /* torchvision Resize(int): the shorter side becomes s, the longer int(s * long / short). */
    if (src->h <= src->w)
        h = s, w = (int)((double)s * src->w / src->h);
    else
        w = s, h = (int)((double)s * src->h / src->w);
    image rs;
    if ((st = resize_pil_bilinear(src, h, w, &rs))) return st;
    /* CenterCrop: top = round((h - s) / 2), as torchvision computes it. */
    int top = (int)nearbyint((h - s) / 2.0), left = (int)nearbyint((w - s) / 2.0);
    st = crop_image(&rs, top, left, s, s, out);
    image_free(&rs);
    return st;
}
