#include "yolo/draw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/letterbox.h"
#include "yolo/masks.h"

/* Class colours: a fixed 20-colour cycle (the same hues Ultralytics' plots use), so a class keeps its
 * colour across pictures. */
static const uint32_t palette[20] = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231, 0x48F90A, 0x92CC17,
                                     0x3DDB86, 0x1A9334, 0x00D4BB, 0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF,
                                     0x0018EC, 0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};

void draw_class_color(int c, uint8_t rgb[3]) {
    uint32_t v = palette[(c < 0 ? -c : c) % 20];
    rgb[0] = (uint8_t)(v >> 16), rgb[1] = (uint8_t)(v >> 8), rgb[2] = (uint8_t)v;
}

static void put(image *im, int x, int y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    uint8_t *p = im->px + ((size_t)y * im->w + x) * im->c;
    if (im->c >= 3)
        memcpy(p, rgb, 3);
    else
        p[0] = (uint8_t)((rgb[0] * 77 + rgb[1] * 150 + rgb[2] * 29) >> 8);
}

void draw_fill_rect(image *im, int x1, int y1, int x2, int y2, const uint8_t rgb[3]) {
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > im->w - 1) x2 = im->w - 1;
    if (y2 > im->h - 1) y2 = im->h - 1;
    for (int y = y1; y <= y2; y++)
        for (int x = x1; x <= x2; x++)
            put(im, x, y, rgb);
}

void draw_rect(image *im, int x1, int y1, int x2, int y2, int t, const uint8_t rgb[3]) {
    if (t < 1) t = 1;
    draw_fill_rect(im, x1, y1, x2, y1 + t - 1, rgb);
    draw_fill_rect(im, x1, y2 - t + 1, x2, y2, rgb);
    draw_fill_rect(im, x1, y1, x1 + t - 1, y2, rgb);
    draw_fill_rect(im, x2 - t + 1, y1, x2, y2, rgb);
}

/* A 3x5 pixel font: each glyph is 5 rows of 3 bits, written out as 15 characters. Lower case is drawn
 * as upper case; anything unknown as a box. */
static const struct {
    char c;
    const char *rows;
} font[] = {
    {'0', "111101101101111"}, {'1', "010110010010111"}, {'2', "111001111100111"}, {'3', "111001111001111"},
    {'4', "101101111001001"}, {'5', "111100111001111"}, {'6', "111100111101111"}, {'7', "111001010010010"},
    {'8', "111101111101111"}, {'9', "111101111001111"}, {'A', "010101111101101"}, {'B', "110101110101110"},
    {'C', "011100100100011"}, {'D', "110101101101110"}, {'E', "111100110100111"}, {'F', "111100110100100"},
    {'G', "011100101101011"}, {'H', "101101111101101"}, {'I', "111010010010111"}, {'J', "001001001101010"},
    {'K', "101101110101101"}, {'L', "100100100100111"}, {'M', "101111111101101"}, {'N', "110101101101101"},
    {'O', "010101101101010"}, {'P', "110101110100100"}, {'Q', "010101101110011"}, {'R', "110101110101101"},
    {'S', "011100010001110"}, {'T', "111010010010010"}, {'U', "101101101101111"}, {'V', "101101101101010"},
    {'W', "101101111111101"}, {'X', "101101010101101"}, {'Y', "101101010010010"}, {'Z', "111001010100111"},
    {' ', "000000000000000"}, {'-', "000000111000000"}, {'_', "000000000000111"}, {'.', "000000000000010"},
    {':', "000010000010000"}, {'/', "001001010100100"}, {'(', "010100100100010"}, {')', "010001001001010"},
    {'%', "101001010100101"}, {'+', "000010111010000"}, {'=', "000111000111000"}, {'\'', "010010000000000"},
    {',', "000000000010100"}, {'?', "111001010000010"}, {'!', "010010010000010"}, {'#', "101111101111101"},
};

static const char *glyph(char c) {
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c) return font[i].rows;
    return "111101101101111";
}

int draw_text_width(const char *text, int scale) {
    return (int)strlen(text) * 4 * scale + scale;
}

int draw_text_height(int scale) {
    return 7 * scale;
}

void draw_text(image *im, int x, int y, const char *text, int scale, const uint8_t fg[3],
               const uint8_t bg[3]) {
    if (scale < 1) scale = 1;
    if (bg)
        draw_fill_rect(im, x, y, x + draw_text_width(text, scale) - 1, y + draw_text_height(scale) - 1, bg);
    int cx = x + scale;
    for (const char *p = text; *p; p++, cx += 4 * scale) {
        const char *g = glyph(*p);
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (g[r * 3 + c] == '1')
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            put(im, cx + c * scale + dx, y + (r + 1) * scale + dy, fg);
    }
}

void draw_mask(image *im, const uint16_t *mask, int mh, int mw, uint16_t value, const uint8_t rgb[3],
               float alpha) {
    if (mh <= 0 || mw <= 0 || im->c < 3) return;
    for (int y = 0; y < im->h; y++) {
        int my = (int)((int64_t)y * mh / im->h);
        for (int x = 0; x < im->w; x++) {
            int mx = (int)((int64_t)x * mw / im->w);
            if (mask[(size_t)my * mw + mx] != value) continue;
            uint8_t *p = im->px + ((size_t)y * im->w + x) * im->c;
            for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)(p[k] * (1 - alpha) + rgb[k] * alpha + 0.5f);
        }
    }
}

void draw_sample(image *im, const sample *s, const char *const *names, int n_names) {
    int W = im->w, H = im->h;
    int t = W >= 400 ? 2 : 1, scale = W >= 400 ? 2 : 1;
    if (s->seg_start && s->n > 0) {
        uint8_t *plane = malloc((size_t)W * H);
        float *pts = NULL;
        for (int k = 0; plane && k < s->n; k++) {
            int np = sample_seg_len(s, k);
            float *p = realloc(pts, sizeof *p * 2 * (size_t)(np ? np : 1));
            if (!p) break;
            pts = p;
            const float *xy = s->seg_xy + 2 * (size_t)s->seg_start[k];
            for (int q = 0; q < np; q++)
                pts[2 * q] = xy[2 * q] * W, pts[2 * q + 1] = xy[2 * q + 1] * H;
            memset(plane, 0, (size_t)W * H);
            masks_fill_polygon(plane, H, W, pts, np, 1);
            uint8_t rgb[3];
            draw_class_color(s->cls[k], rgb);
            for (size_t i = 0; i < (size_t)W * H; i++)
                if (plane[i] && im->c >= 3)
                    for (int c = 0; c < 3; c++)
                        im->px[i * im->c + c] = (uint8_t)((im->px[i * im->c + c] + rgb[c]) / 2);
        }
        free(plane), free(pts);
    }
    static const uint8_t white[3] = {255, 255, 255};
    for (int k = 0; k < s->n; k++) {
        const float *b = s->boxes + 4 * k;
        int x1 = (int)((b[0] - b[2] / 2) * W), y1 = (int)((b[1] - b[3] / 2) * H);
        int x2 = (int)((b[0] + b[2] / 2) * W), y2 = (int)((b[1] + b[3] / 2) * H);
        uint8_t rgb[3];
        draw_class_color(s->cls[k], rgb);
        draw_rect(im, x1, y1, x2, y2, t, rgb);
        char label[64];
        if (names && s->cls[k] < n_names && names[s->cls[k]])
            snprintf(label, sizeof label, "%s", names[s->cls[k]]);
        else
            snprintf(label, sizeof label, "%d", s->cls[k]);
        int ty = y1 - draw_text_height(scale);
        if (ty < 0) ty = y1 + t;
        draw_text(im, x1, ty, label, scale, white, rgb);
    }
}

yolo_status draw_grid(const image *ims, int n, int cols, int cell_h, int cell_w, image *out) {
    if (n <= 0 || cols <= 0 || cell_h <= 0 || cell_w <= 0)
        return yolo_error(YOLO_ERR_USAGE, "draw: bad grid (%d images, %d columns, cell %dx%d)", n, cols,
                          cell_h, cell_w);
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols, sep = 2;
    yolo_status st =
        image_alloc(out, rows * cell_h + (rows + 1) * sep, cols * cell_w + (cols + 1) * sep, 3, 255);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        const image *src = &ims[i];
        if (!src->px || src->c != 3) continue;
        double r = (double)cell_w / src->w < (double)cell_h / src->h ? (double)cell_w / src->w
                                                                     : (double)cell_h / src->h;
        if (r > 1) r = 1;
        int h = (int)(src->h * r + 0.5), w = (int)(src->w * r + 0.5);
        if (h < 1) h = 1;
        if (w < 1) w = 1;
        image small = {0};
        if ((st = letterbox_resize_linear(src, h, w, &small))) {
            image_free(out);
            return st;
        }
        int ox = sep + (i % cols) * (cell_w + sep), oy = sep + (i / cols) * (cell_h + sep);
        for (int y = 0; y < h; y++)
            memcpy(out->px + ((size_t)(oy + y) * out->w + ox) * 3, small.px + (size_t)y * w * 3,
                   (size_t)w * 3);
        image_free(&small);
    }
    return YOLO_OK;
}
