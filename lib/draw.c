#include "yolo/draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/letterbox.h"

/* Python's round(): half to even. */
static double round_even(double v) {
    return v - remainder(v, 1.0);
}

const char *draw_class_name(const char *const *names, int nc, int c, char *buf, int cap) {
    if (names && c >= 0 && c < nc && names[c]) return names[c];
    snprintf(buf, (size_t)cap, "%d", c);
    return buf;
}

/* Ultralytics writes dark text (#111F68) on the light colours of its palette and white on the others. */
static uint32_t text_color(uint32_t bg) {
    static const uint32_t light[] = {0x0BDBEB, 0xF3F3F3, 0x00DFB7, 0xFF6FDD, 0xCCED00,
                                     0x00F344, 0x00FFFF, 0xA2FF0B, 0x01FFB3};
    for (size_t i = 0; i < sizeof light / sizeof *light; i++)
        if (bg == light[i]) return 0x111F68;
    return 0xFFFFFF;
}

/* A box and its label on a coloured strip above it (inside when there is no room above), kept inside
 * the picture on the right. */
static void box_label(canvas *c, double x1, double y1, double x2, double y2, const char *label,
                      uint32_t color, double lw, double font_px) {
    canvas_stroke_rect(c, x1, y1, x2 - x1 + 1, y2 - y1 + 1, lw, color);
    if (!label || !*label) return;
    double tw = canvas_text_width(c, label, font_px, CANVAS_REGULAR),
           th = canvas_line_height(c, font_px, CANVAS_REGULAR);
    bool outside = y1 >= th;
    if (x1 > canvas_width(c) - tw) x1 = canvas_width(c) - tw;
    double ty = outside ? y1 - th : y1;
    canvas_fill_rect(c, x1, ty, tw + 1, th + 1, color, 1);
    canvas_text(c, x1, ty, label, font_px, text_color(color), CANVAS_REGULAR, 0, 0, 0);
}

/* ------------------------------------------------------------------ grids (plot_images) */

draw_tile draw_tile_of_sample(const stream_sample *s) {
    return (draw_tile){.img = &s->s.img,
                       .file = s->file,
                       .n = s->s.n,
                       .cls = s->s.cls,
                       .xywhn = s->s.boxes,
                       .overlap = s->mask,
                       .mh = s->mask_h,
                       .mw = s->mask_w,
                       .label = s->s.label,
                       .label_conf = -1};
}

static void put_tile(image *mosaic, const image *im, int x0, int y0, int w, int h) {
    if (!im || !im->px) return;
    int cw = im->w < w ? im->w : w, chh = im->h < h ? im->h : h;
    for (int y = 0; y < chh; y++)
        for (int x = 0; x < cw; x++) {
            const uint8_t *s = im->px + ((size_t)y * im->w + x) * im->c;
            uint8_t *d = mosaic->px + ((size_t)(y0 + y) * mosaic->w + x0 + x) * 3;
            d[0] = s[0], d[1] = s[im->c >= 3 ? 1 : 0], d[2] = s[im->c >= 3 ? 2 : 0];
        }
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The instances of one tile: boxes and labels, then the masks over them. */
static yolo_status tile_annotate(canvas *c, const draw_tile *t, double x, double y, double w, double h,
                                 double scale, double lw, double fs, const char *const *names, int nc) {
    bool labels = t->conf == NULL;
    char num[32], text[256];
    for (int j = 0; j < t->n; j++) {
        if (!labels && !(t->conf[j] > (float)DRAW_PRED_CONF)) continue;
        double b[4];
        if (t->xywhn) {
            const float *v = t->xywhn + 4 * (size_t)j;
            double cx = v[0] * w, cy = v[1] * h, bw = v[2] * w, bh = v[3] * h;
            b[0] = cx - bw / 2, b[1] = cy - bh / 2, b[2] = cx + bw / 2, b[3] = cy + bh / 2;
        } else if (t->xyxy) {
            for (int k = 0; k < 4; k++)
                b[k] = t->xyxy[4 * (size_t)j + k] * (scale < 1 ? scale : 1);
        } else
            break;
        const char *name = draw_class_name(names, nc, t->cls[j], num, sizeof num);
        if (labels)
            snprintf(text, sizeof text, "%s", name);
        else
            snprintf(text, sizeof text, "%s %.1f", name, (double)t->conf[j]);
        /* integer pixels, as numpy's astype(int64) */
        box_label(c, trunc(b[0] + x), trunc(b[1] + y), trunc(b[2] + x), trunc(b[3] + y), text,
                  canvas_class_color(t->cls[j]), lw, fs);
    }
    if (t->label >= 0) {
        const char *name = draw_class_name(names, nc, t->label, num, sizeof num);
        if (t->label_conf >= 0)
            snprintf(text, sizeof text, "%s %.1f", name, (double)t->label_conf);
        else
            snprintf(text, sizeof text, "%s", name);
        double tw = canvas_text_width(c, text, fs, CANVAS_REGULAR),
               th = canvas_line_height(c, fs, CANVAS_REGULAR);
        canvas_fill_rect(c, x, y, tw + 1, th + 1, 0x404040, 1);
        canvas_text(c, x, y, text, fs, canvas_class_color(t->label), CANVAS_REGULAR, 0, 0, 0);
    }
    if ((!t->overlap && !t->masks) || t->mh < 1 || t->mw < 1 || t->n < 1) return YOLO_OK;
    size_t npix = (size_t)t->mh * t->mw;
    uint8_t *m = malloc(npix);
    if (!m) return yolo_nomem();
    for (int j = 0; j < t->n; j++) {
        if (!labels && !(t->conf[j] > (float)DRAW_PRED_CONF)) continue;
        const uint8_t *mj = m;
        if (t->masks)
            mj = t->masks + npix * j;
        else
            for (size_t p = 0; p < npix; p++)
                m[p] = t->overlap[p] == j + 1;
        canvas_blend_mask(c, mj, t->mh, t->mw, (int)x, (int)y, (int)w, (int)h, canvas_class_color(t->cls[j]),
                          0.6);
    }
    free(m);
    return YOLO_OK;
}

yolo_status draw_batch(const draw_tile *tiles, int n, int max_tiles, const char *const *names, int nc,
                       const char *path) {
    int bs = n < max_tiles ? n : max_tiles;
    if (bs < 1 || !tiles[0].img || !tiles[0].img->px)
        return yolo_error(YOLO_ERR_USAGE, "%s: no images to draw", path);
    int ns = (int)ceil(sqrt((double)bs));
    int h = tiles[0].img->h, w = tiles[0].img->w;
    image mosaic = {0}, small = {0};
    yolo_status st = image_alloc(&mosaic, ns * h, ns * w, 3, 255);
    if (st != YOLO_OK) return st;
    /* column by column, as Ultralytics fills its grid */
    for (int i = 0; i < bs; i++)
        put_tile(&mosaic, tiles[i].img, w * (i / ns), h * (i % ns), w, h);
    double scale = (double)DRAW_MAX_SIZE / ns / (h > w ? h : w);
    if (scale < 1) {
        h = (int)ceil(scale * h), w = (int)ceil(scale * w);
        st = letterbox_resize_linear(&mosaic, ns * h, ns * w, &small);
        image_free(&mosaic);
        if (st != YOLO_OK) return st;
        mosaic = small;
    }
    int fs = (int)((h + w) * ns * 0.01);
    if (fs < 18) fs = 18;
    double lw = round_even(fs / 10.0);
    canvas *c = NULL;
    st = canvas_from_image(&mosaic, &c);
    image_free(&mosaic);
    for (int i = 0; st == YOLO_OK && i < bs; i++) {
        double x = w * (i / ns), y = h * (i % ns);
        canvas_stroke_rect(c, x, y, w + 1, h + 1, 2, 0xFFFFFF);
        if (tiles[i].file) {
            char name[41];
            snprintf(name, sizeof name, "%s", base_name(tiles[i].file));
            canvas_text(c, x + 5, y + 5, name, fs, 0xDCDCDC, CANVAS_REGULAR, 0, 0, 0);
        }
        st = tile_annotate(c, &tiles[i], x, y, w, h, scale, lw, fs, names, nc);
    }
    if (st == YOLO_OK) st = canvas_save(c, path);
    canvas_free(c);
    return st;
}

/* ------------------------------------------------------------------ predictions (Results.plot) */

static double line_width(const canvas *c, const draw_style *s) {
    if (s->line_width > 0) return s->line_width;
    double lw = round_even((canvas_height(c) + canvas_width(c) + 3) / 2.0 * 0.003);
    return lw < 2 ? 2 : lw;
}

/* OpenCV's Hershey font at scale lw / 3 has capitals about 21 * scale pixels high; DejaVu's are 0.73 em. */
static double font_px(double lw) {
    return 28.0 * lw / 3;
}

void draw_detections(canvas *c, int n, const float *rows, int cols, const uint8_t *masks, int mh, int mw,
                     double mx, double my, double mwid, double mhei, const char *const *names, int nc,
                     const draw_style *s) {
    double lw = line_width(c, s), fs = font_px(lw);
    for (int j = 0; masks && j < n; j++)
        canvas_blend_mask(c, masks + (size_t)j * mh * mw, mh, mw, (int)lround(mx), (int)lround(my),
                          (int)lround(mwid), (int)lround(mhei),
                          canvas_class_color((int)rows[(size_t)j * cols + 5]), 0.5);
    /* the least confident first, so that the best ones end up on top; no boxes, no labels either */
    for (int j = n - 1; s->boxes && j >= 0; j--) {
        const float *r = rows + (size_t)j * cols;
        int cls = (int)r[5];
        char num[32], text[256] = "";
        const char *name = draw_class_name(names, nc, cls, num, sizeof num);
        if (s->labels && s->conf)
            snprintf(text, sizeof text, "%s %.2f", name, (double)r[4]);
        else if (s->labels)
            snprintf(text, sizeof text, "%s", name);
        else if (s->conf)
            snprintf(text, sizeof text, "%.2f", (double)r[4]);
        box_label(c, trunc(r[0]), trunc(r[1]), trunc(r[2]), trunc(r[3]), text, canvas_class_color(cls), lw,
                  fs);
    }
}

void draw_top_classes(canvas *c, const int *cls, const float *prob, int k, const char *const *names, int nc,
                      const draw_style *s) {
    double lw = line_width(c, s), fs = font_px(lw), lh = canvas_line_height(c, fs, CANVAS_REGULAR);
    for (int i = 0; i < k; i++) {
        char num[32], text[256];
        snprintf(text, sizeof text, "%s %.2f%s", draw_class_name(names, nc, cls[i], num, sizeof num),
                 (double)prob[i], i + 1 < k ? "," : "");
        canvas_text(c, 32, 32 + i * lh, text, fs, 0xFFFFFF, CANVAS_REGULAR, 0, 1, 0);
    }
}
