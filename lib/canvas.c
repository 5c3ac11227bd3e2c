#include "yolo/canvas.h"

#include <cairo-ft.h>
#include <cairo.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yolo/ckpt.h"

struct canvas {
    cairo_surface_t *s;
    cairo_t *cr;
    int w, h;
};

/* ---- fonts: DejaVu Sans from fonts-dejavu-core, opened once per process with FreeType (no fontconfig
 * scan on the way, which would cost more than drawing a chart). Without the files, cairo's own
 * "sans-serif" stands in. */

static const char *const font_files[2] = {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf"};
static const char *const font_dirs[] = {"/usr/share/fonts/truetype/dejavu",
                                        "/usr/local/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"};
static pthread_once_t fonts_once = PTHREAD_ONCE_INIT;
static FT_Library ft_lib;
static cairo_font_face_t *faces[2];

static void fonts_load(void) {
    if (FT_Init_FreeType(&ft_lib) != 0) ft_lib = NULL;
    for (int f = 0; f < 2; f++) {
        FT_Face face = NULL;
        for (size_t d = 0; ft_lib && !face && d < sizeof font_dirs / sizeof *font_dirs; d++) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s", font_dirs[d], font_files[f]);
            if (FT_New_Face(ft_lib, path, 0, &face) != 0) face = NULL;
        }
        if (face)
            faces[f] = cairo_ft_font_face_create_for_ft_face(face, 0);
        else
            faces[f] = cairo_toy_font_face_create("sans-serif", CAIRO_FONT_SLANT_NORMAL,
                                                  f ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    }
}

static void set_font(canvas *c, double size, canvas_font font) {
    pthread_once(&fonts_once, fonts_load);
    cairo_set_font_face(c->cr, faces[font == CANVAS_BOLD]);
    cairo_set_font_size(c->cr, size);
}

/* ---- life cycle ---- */

static yolo_status make(int w, int h, canvas **out) {
    *out = NULL;
    if (w < 1 || h < 1 || w > 32768 || h > 32768)
        return yolo_error(YOLO_ERR_LIMIT, "canvas: size %dx%d out of bounds", w, h);
    canvas *c = calloc(1, sizeof *c);
    if (!c) return yolo_error(YOLO_ERR_NOMEM, "out of memory for a %dx%d picture", w, h);
    c->s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    c->cr = cairo_create(c->s);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) {
        canvas_free(c);
        return yolo_error(YOLO_ERR_NOMEM, "out of memory for a %dx%d picture", w, h);
    }
    c->w = w, c->h = h;
    cairo_set_line_join(c->cr, CAIRO_LINE_JOIN_ROUND);
    *out = c;
    return YOLO_OK;
}

yolo_status canvas_new(int w, int h, canvas **out) {
    yolo_status st = make(w, h, out);
    if (st == YOLO_OK) canvas_fill_rect(*out, 0, 0, w, h, 0xFFFFFF, 1);
    return st;
}

yolo_status canvas_from_image(const image *im, canvas **out) {
    yolo_status st = make(im->w, im->h, out);
    if (st != YOLO_OK) return st;
    cairo_surface_flush((*out)->s);
    uint8_t *d = cairo_image_surface_get_data((*out)->s);
    int stride = cairo_image_surface_get_stride((*out)->s);
    for (int y = 0; y < im->h; y++) {
        uint32_t *row = (uint32_t *)(d + (size_t)y * stride);
        const uint8_t *p = im->px + (size_t)y * im->w * im->c;
        for (int x = 0; x < im->w; x++, p += im->c)
            row[x] =
                im->c >= 3 ? (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2] : (uint32_t)p[0] * 0x010101u;
    }
    cairo_surface_mark_dirty((*out)->s);
    return YOLO_OK;
}

void canvas_free(canvas *c) {
    if (!c) return;
    if (c->cr) cairo_destroy(c->cr);
    if (c->s) cairo_surface_destroy(c->s);
    free(c);
}

int canvas_width(const canvas *c) {
    return c->w;
}
int canvas_height(const canvas *c) {
    return c->h;
}

/* ---- drawing ---- */

static void set_rgb(canvas *c, uint32_t rgb, double alpha) {
    cairo_set_source_rgba(c->cr, (rgb >> 16 & 255) / 255.0, (rgb >> 8 & 255) / 255.0, (rgb & 255) / 255.0,
                          alpha);
}

void canvas_clip(canvas *c, double x, double y, double w, double h) {
    cairo_reset_clip(c->cr);
    cairo_rectangle(c->cr, x, y, w, h);
    cairo_clip(c->cr);
}

void canvas_unclip(canvas *c) {
    cairo_reset_clip(c->cr);
}

void canvas_line(canvas *c, double x0, double y0, double x1, double y1, double width, uint32_t rgb) {
    cairo_move_to(c->cr, x0, y0);
    cairo_line_to(c->cr, x1, y1);
    cairo_set_line_width(c->cr, width);
    cairo_set_line_cap(c->cr, CAIRO_LINE_CAP_BUTT);
    cairo_set_dash(c->cr, NULL, 0, 0);
    set_rgb(c, rgb, 1);
    cairo_stroke(c->cr);
}

void canvas_path(canvas *c, const double *x, const double *y, int n, double width, uint32_t rgb,
                 canvas_dash dash) {
    bool open = false;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            open = false;
            continue;
        }
        if (open)
            cairo_line_to(c->cr, x[i], y[i]);
        else
            cairo_move_to(c->cr, x[i], y[i]);
        open = true;
    }
    cairo_set_line_width(c->cr, width);
    /* matplotlib's ':' and '--' patterns, in line widths */
    double dots[2] = {1 * width, 1.65 * width}, dashes[2] = {3.7 * width, 1.6 * width};
    cairo_set_line_cap(c->cr, dash == CANVAS_DOTTED ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
    if (dash == CANVAS_DOTTED) dots[0] = 0.01, dots[1] = 2.65 * width;
    if (dash == CANVAS_SOLID)
        cairo_set_dash(c->cr, NULL, 0, 0);
    else
        cairo_set_dash(c->cr, dash == CANVAS_DOTTED ? dots : dashes, 2, 0);
    set_rgb(c, rgb, 1);
    cairo_stroke(c->cr);
    cairo_set_dash(c->cr, NULL, 0, 0);
}

void canvas_dots(canvas *c, const double *x, const double *y, int n, double r, uint32_t rgb) {
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        cairo_new_sub_path(c->cr);
        cairo_arc(c->cr, x[i], y[i], r, 0, 2 * M_PI);
    }
    set_rgb(c, rgb, 1);
    cairo_fill(c->cr);
}

void canvas_fill_rect(canvas *c, double x, double y, double w, double h, uint32_t rgb, double alpha) {
    cairo_rectangle(c->cr, x, y, w, h);
    set_rgb(c, rgb, alpha);
    cairo_fill(c->cr);
}

void canvas_stroke_rect(canvas *c, double x, double y, double w, double h, double width, uint32_t rgb) {
    if (w <= width || h <= width) {
        canvas_fill_rect(c, x, y, w, h, rgb, 1);
        return;
    }
    cairo_rectangle(c->cr, x + width / 2, y + width / 2, w - width, h - width);
    cairo_set_line_width(c->cr, width);
    cairo_set_dash(c->cr, NULL, 0, 0);
    cairo_set_line_join(c->cr, CAIRO_LINE_JOIN_MITER);
    set_rgb(c, rgb, 1);
    cairo_stroke(c->cr);
    cairo_set_line_join(c->cr, CAIRO_LINE_JOIN_ROUND);
}

void canvas_text(canvas *c, double x, double y, const char *text, double size, uint32_t rgb, canvas_font font,
                 double ha, double va, double angle) {
    if (!text || !*text || size <= 0) return;
    set_font(c, size, font);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(c->cr, text, &te);
    cairo_font_extents(c->cr, &fe);
    cairo_save(c->cr);
    cairo_translate(c->cr, x, y);
    if (angle != 0) cairo_rotate(c->cr, -angle * M_PI / 180);
    cairo_move_to(c->cr, -ha * te.x_advance, fe.ascent - va * (fe.ascent + fe.descent));
    set_rgb(c, rgb, 1);
    cairo_show_text(c->cr, text);
    cairo_new_path(c->cr);
    cairo_restore(c->cr);
}

double canvas_text_width(canvas *c, const char *text, double size, canvas_font font) {
    if (!text || !*text) return 0;
    set_font(c, size, font);
    cairo_text_extents_t te;
    cairo_text_extents(c->cr, text, &te);
    return te.x_advance;
}

double canvas_line_height(canvas *c, double size, canvas_font font) {
    set_font(c, size, font);
    cairo_font_extents_t fe;
    cairo_font_extents(c->cr, &fe);
    return fe.ascent + fe.descent;
}

void canvas_image(canvas *c, const image *im, double x, double y, double w, double h) {
    canvas *tmp = NULL;
    if (!im->px || w <= 0 || h <= 0 || canvas_from_image(im, &tmp) != YOLO_OK) return;
    cairo_save(c->cr);
    cairo_rectangle(c->cr, x, y, w, h);
    cairo_clip(c->cr);
    cairo_translate(c->cr, x, y);
    cairo_scale(c->cr, w / im->w, h / im->h);
    cairo_set_source_surface(c->cr, tmp->s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(c->cr), CAIRO_FILTER_NEAREST);
    cairo_paint(c->cr);
    cairo_restore(c->cr);
    canvas_free(tmp);
}

void canvas_blend_mask(canvas *c, const uint8_t *mask, int mh, int mw, int x0, int y0, int w, int h,
                       uint32_t rgb, double alpha) {
    if (mh < 1 || mw < 1 || w < 1 || h < 1) return;
    cairo_surface_flush(c->s);
    uint8_t *d = cairo_image_surface_get_data(c->s);
    int stride = cairo_image_surface_get_stride(c->s);
    const double cr = (rgb >> 16 & 255) * alpha, cg = (rgb >> 8 & 255) * alpha, cb = (rgb & 255) * alpha;
    const double keep = 1 - alpha;
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < c->h; y++) {
        const uint8_t *mrow = mask + (size_t)((int64_t)(y - y0) * mh / h) * mw;
        uint32_t *row = (uint32_t *)(d + (size_t)y * stride);
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < c->w; x++) {
            if (!mrow[(int64_t)(x - x0) * mw / w]) continue;
            uint32_t p = row[x];
            uint32_t r = (uint32_t)((p >> 16 & 255) * keep + cr + 0.5),
                     g = (uint32_t)((p >> 8 & 255) * keep + cg + 0.5),
                     b = (uint32_t)((p & 255) * keep + cb + 0.5);
            row[x] = (r > 255 ? 255 : r) << 16 | (g > 255 ? 255 : g) << 8 | (b > 255 ? 255 : b);
        }
    }
    cairo_surface_mark_dirty(c->s);
}

/* ---- output ---- */

yolo_status canvas_to_image(canvas *c, image *out) {
    yolo_status st = image_alloc_unfilled(out, c->h, c->w, 3);
    if (st != YOLO_OK) return st;
    cairo_surface_flush(c->s);
    const uint8_t *d = cairo_image_surface_get_data(c->s);
    int stride = cairo_image_surface_get_stride(c->s);
    for (int y = 0; y < c->h; y++) {
        const uint32_t *row = (const uint32_t *)(d + (size_t)y * stride);
        uint8_t *p = out->px + (size_t)y * c->w * 3;
        for (int x = 0; x < c->w; x++, p += 3) {
            uint32_t v = row[x];
            p[0] = (uint8_t)(v >> 16), p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)v;
        }
    }
    return YOLO_OK;
}

static bool is_jpeg_name(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

bool canvas_saves_name(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot && (is_jpeg_name(path) || !strcasecmp(dot, ".png"));
}

yolo_status canvas_save_image(const image *im, const char *path, int quality) {
    if (!canvas_saves_name(path))
        return yolo_error(YOLO_ERR_USAGE, "%s: name a .png, .jpg or .jpeg file", path);
    uint8_t *buf = NULL;
    size_t len = 0;
    yolo_status st =
        is_jpeg_name(path) ? image_encode_jpeg(im, quality, &buf, &len) : image_encode_png(im, &buf, &len);
    if (st == YOLO_OK) st = ckpt_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}

yolo_status canvas_save(canvas *c, const char *path) {
    image im = {0};
    yolo_status st = canvas_to_image(c, &im);
    if (st == YOLO_OK) st = canvas_save_image(&im, path, 90);
    image_free(&im);
    return st;
}

uint32_t canvas_class_color(int cls) {
    static const uint32_t palette[20] = {0x042AFF, 0x0BDBEB, 0xF3F3F3, 0x00DFB7, 0x111F68, 0xFF6FDD, 0xFF444F,
                                         0xCCED00, 0x00F344, 0xBD00FF, 0x00B4FF, 0xDD00BA, 0x00FFFF, 0x26C000,
                                         0x01FFB3, 0x7D24FF, 0x7B0068, 0xFF1B6C, 0xFC6D2F, 0xA2FF0B};
    return palette[(cls < 0 ? -(int64_t)cls : cls) % 20];
}
