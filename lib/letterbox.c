#include "yolo/letterbox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "letterbox_internal.h"

/* OpenCV's fixed-point bilinear: weights are rounded to 1/2048 (INTER_RESIZE_COEF_BITS = 11), the
 * horizontal pass keeps exact int sums, the vertical pass rounds once at the end. OpenCV's SIMD vertical
 * pass (VResizeLinearVec_32s8u) rounds differently from its scalar tail: it drops 4 bits before a 16-bit
 * high multiply per row, then rounds by 2 bits. Which pixels go through which path depends on the vector
 * width (16 bytes on x86-64's baseline SSE builds), so we emulate both paths by column position. */
enum { COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS };

int letterbox_simd_bytes = 16; /* 0: pure scalar (for experiments; see letterbox_internal.h) */

static int cv_round_f(float v) {
    return (int)lrintf(v);
} /* cvRound: nearest, ties to even */

static int cv_floor_f(float v) {
    int i = (int)v;
    return i - (v < (float)i);
}

static int clip_row(int y, int h) {
    return y < 0 ? 0 : (y >= h ? h - 1 : y);
}

static uint8_t sat_u8(int v) {
    return v < 0 ? 0 : (v > 255 ? 255 : (uint8_t)v);
}

static int16_t sat_s16(int v) {
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : (int16_t)v);
}

/* cv::resize's special case: an exact halving in both directions is done as a 2x2 box average. */
static void resize_half(const image *src, image *dst) {
    int c = src->c, sw = src->w;
    for (int y = 0; y < dst->h; y++) {
        const uint8_t *r0 = src->px + (size_t)(2 * y) * sw * c, *r1 = r0 + (size_t)sw * c;
        uint8_t *d = dst->px + (size_t)y * dst->w * c;
        for (int x = 0; x < dst->w; x++)
            for (int k = 0; k < c; k++) {
                int a = (2 * x) * c + k, b = a + c;
                d[x * c + k] = (uint8_t)((r0[a] + r0[b] + r1[a] + r1[b] + 2) >> 2);
            }
    }
}

yolo_status letterbox_resize_linear(const image *src, int h, int w, image *dst) {
    if (!src->px || src->h <= 0 || src->w <= 0 || src->c < 1 || src->c > 4)
        return yolo_error(YOLO_ERR_USAGE, "resize: bad source image (%dx%dx%d)", src->h, src->w, src->c);
    if (h <= 0 || w <= 0) return yolo_error(YOLO_ERR_USAGE, "resize: bad target size %dx%d", h, w);
    image out = {0};
    yolo_status st = image_alloc(&out, h, w, src->c, 0);
    if (st) return st;
    int c = src->c, sw = src->w, sh = src->h;
    if (h == sh && w == sw) {
        memcpy(out.px, src->px, (size_t)h * w * c);
        *dst = out;
        return YOLO_OK;
    }
    double inv_sx = (double)w / sw, inv_sy = (double)h / sh;
    double scale_x = 1.0 / inv_sx, scale_y = 1.0 / inv_sy;
    int iscale_x = (int)lrint(scale_x), iscale_y = (int)lrint(scale_y);
    if (fabs(scale_x - iscale_x) < 2.220446049250313e-16 &&
        fabs(scale_y - iscale_y) < 2.220446049250313e-16 && iscale_x == 2 && iscale_y == 2) {
        resize_half(src, &out);
        *dst = out;
        return YOLO_OK;
    }

    int width = w * c;
    int *xofs = malloc(sizeof *xofs * w);
    int16_t *alpha = malloc(sizeof *alpha * 2 * w);
    int *rows = malloc(sizeof *rows * 2 * (size_t)width); /* two horizontally resized rows */
    if (!xofs || !alpha || !rows) {
        free(xofs), free(alpha), free(rows), image_free(&out);
        return yolo_error(YOLO_ERR_NOMEM, "resize: out of memory");
    }
    for (int dx = 0; dx < w; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = cv_floor_f(fx);
        fx -= (float)sx;
        if (sx < 0) fx = 0, sx = 0;
        if (sx >= sw - 1) fx = 0, sx = sw - 1;
        xofs[dx] = sx;
        alpha[2 * dx] = sat_s16(cv_round_f((1.f - fx) * COEF_SCALE));
        alpha[2 * dx + 1] = sat_s16(cv_round_f(fx * COEF_SCALE));
    }
    /* Columns [0, vec_end) of a row go through the SIMD rounding. */
    int vec_end = 0;
    if (letterbox_simd_bytes > 0) {
        int n8 = letterbox_simd_bytes, n16 = letterbox_simd_bytes / 2;
        int x = 0;
        for (; x <= width - n8; x += n8) {
        }
        for (; x < width - n16; x += n16) {
        }
        vec_end = x;
    }
    int *buf[2] = {rows, rows + width};
    int tag[2] = {-1, -1};
    for (int dy = 0; dy < h; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = cv_floor_f(fy);
        fy -= (float)sy;
        int b0 = sat_s16(cv_round_f((1.f - fy) * COEF_SCALE)), b1 = sat_s16(cv_round_f(fy * COEF_SCALE));
        int want[2] = {clip_row(sy, sh), clip_row(sy + 1, sh)};
        if (tag[0] != want[0] && tag[1] == want[0]) {
            int *t = buf[0];
            buf[0] = buf[1], buf[1] = t;
            tag[0] = tag[1], tag[1] = -1;
        }
        for (int k = 0; k < 2; k++) {
            if (tag[k] == want[k]) continue;
            int *d = buf[k];
            if (k == 1 && tag[0] == want[1]) {
                memcpy(d, buf[0], sizeof *d * width);
            } else {
                const uint8_t *s = src->px + (size_t)want[k] * sw * c;
                for (int dx = 0; dx < w; dx++) {
                    int sx = xofs[dx] * c, a0 = alpha[2 * dx], a1 = alpha[2 * dx + 1];
                    if (sx + c < sw * c) {
                        for (int j = 0; j < c; j++)
                            d[dx * c + j] = s[sx + j] * a0 + s[sx + c + j] * a1;
                    } else {
                        for (int j = 0; j < c; j++)
                            d[dx * c + j] = s[sx + j] * COEF_SCALE;
                    }
                }
            }
            tag[k] = want[k];
        }
        const int *r0 = buf[0], *r1 = buf[1];
        uint8_t *o = out.px + (size_t)dy * width;
        for (int x = 0; x < vec_end; x++) {
            int t0 = (sat_s16(r0[x] >> 4) * b0) >> 16, t1 = (sat_s16(r1[x] >> 4) * b1) >> 16;
            o[x] = sat_u8((sat_s16(t0 + t1) + 2) >> 2);
        }
        for (int x = vec_end; x < width; x++)
            o[x] = sat_u8((r0[x] * b0 + r1[x] * b1 + (1 << 21)) >> 22);
    }
    free(xofs), free(alpha), free(rows);
    *dst = out;
    return YOLO_OK;
}

void letterbox_load_size(int h0, int w0, int imgsz, int *h, int *w) {
    int m = h0 > w0 ? h0 : w0;
    double r = (double)imgsz / m;
    if (r == 1.0 || m <= 0) {
        *h = h0, *w = w0;
        return;
    }
    double nw = ceil(w0 * r), nh = ceil(h0 * r);
    *w = nw < imgsz ? (int)nw : imgsz;
    *h = nh < imgsz ? (int)nh : imgsz;
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
}

yolo_status letterbox_load_resize(const image *src, int imgsz, image *dst) {
    int h, w;
    letterbox_load_size(src->h, src->w, imgsz, &h, &w);
    return letterbox_resize_linear(src, h, w, dst);
}

/* The plan for a ratio r and the padding (dw, dh) left around the resized image, split as Ultralytics'
 * centred LetterBox does. */
static void plan_fill(int h, int w, double r, int slack_w_of, int slack_h_of, int stride, letterbox_plan *p) {
    p->ratio = r;
    p->new_w = (int)nearbyint(w * r);
    p->new_h = (int)nearbyint(h * r);
    int sw = slack_w_of - p->new_w, sh = slack_h_of - p->new_h;
    if (stride > 0) sw %= stride, sh %= stride; /* auto: only up to the next multiple of stride */
    double dw = sw / 2.0, dh = sh / 2.0;
    p->top = (int)nearbyint(dh - 0.1);
    p->bottom = (int)nearbyint(dh + 0.1);
    p->left = (int)nearbyint(dw - 0.1);
    p->right = (int)nearbyint(dw + 0.1);
    p->out_h = p->new_h + p->top + p->bottom;
    p->out_w = p->new_w + p->left + p->right;
}

void letterbox_plan_make(int h, int w, int out_h, int out_w, bool scaleup, letterbox_plan *p) {
    double r = fmin((double)out_h / h, (double)out_w / w);
    if (!scaleup) r = fmin(r, 1.0);
    plan_fill(h, w, r, out_w, out_h, 0, p);
}

void letterbox_plan_auto(int h, int w, int imgsz, int stride, letterbox_plan *p) {
    plan_fill(h, w, fmin((double)imgsz / h, (double)imgsz / w), imgsz, imgsz, stride, p);
}

yolo_status letterbox_apply(const image *src, const letterbox_plan *p, image *dst) {
    image rs = {0};
    const image *body = src;
    yolo_status st;
    if (p->new_h != src->h || p->new_w != src->w) {
        if ((st = letterbox_resize_linear(src, p->new_h, p->new_w, &rs))) return st;
        body = &rs;
    }
    image out = {0};
    if ((st = image_alloc(&out, p->out_h, p->out_w, src->c, LETTERBOX_FILL))) {
        image_free(&rs);
        return st;
    }
    int c = src->c;
    for (int y = 0; y < body->h; y++) {
        int oy = y + p->top;
        if (oy < 0 || oy >= out.h) continue;
        int x0 = p->left < 0 ? -p->left : 0;
        int x1 = body->w;
        if (x1 + p->left > out.w) x1 = out.w - p->left;
        if (x1 > x0)
            memcpy(out.px + ((size_t)oy * out.w + x0 + p->left) * c,
                   body->px + ((size_t)y * body->w + x0) * c, (size_t)(x1 - x0) * c);
    }
    image_free(&rs);
    *dst = out;
    return YOLO_OK;
}
