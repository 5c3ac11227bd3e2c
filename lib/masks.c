#include "yolo/masks.h"

#include <stdlib.h>
#include <string.h>

#include "yolo/letterbox.h"

/* cv2.fillPoly (8-connected, shift 0) reproduced: every edge is first drawn as an 8-connected Bresenham
 * line, then the interior is filled by a scanline pass over edges kept in 16.16 fixed point. Both parts
 * matter for pixel-exact masks: the lines add boundary pixels that the half-open scanline rule leaves out. */

enum { XY_SHIFT = 16 };
#define XY_ONE ((int64_t)1 << XY_SHIFT)

typedef struct {
    int64_t x, dx;
    int y0, y1;
} poly_edge;

/* Cohen-Sutherland as cv::clipLine: clips to [0, w-1] x [0, h-1]; false if nothing is left. */
static bool clip_line(int w, int h, int64_t *x1, int64_t *y1, int64_t *x2, int64_t *y2) {
    int64_t right = w - 1, bottom = h - 1;
    if (w <= 0 || h <= 0) return false;
    int c1 = (*x1 < 0) + (*x1 > right) * 2 + (*y1 < 0) * 4 + (*y1 > bottom) * 8;
    int c2 = (*x2 < 0) + (*x2 > right) * 2 + (*y2 < 0) * 4 + (*y2 > bottom) * 8;
    if ((c1 & c2) == 0 && (c1 | c2) != 0) {
        int64_t a;
        if (c1 & 12) {
            a = c1 < 8 ? 0 : bottom;
            *x1 += (int64_t)((double)(a - *y1) * (*x2 - *x1) / (*y2 - *y1));
            *y1 = a;
            c1 = (*x1 < 0) + (*x1 > right) * 2;
        }
        if (c2 & 12) {
            a = c2 < 8 ? 0 : bottom;
            *x2 += (int64_t)((double)(a - *y2) * (*x2 - *x1) / (*y2 - *y1));
            *y2 = a;
            c2 = (*x2 < 0) + (*x2 > right) * 2;
        }
        if ((c1 & c2) == 0 && (c1 | c2) != 0) {
            if (c1) {
                a = c1 == 1 ? 0 : right;
                *y1 += (int64_t)((double)(a - *x1) * (*y2 - *y1) / (*x2 - *x1));
                *x1 = a;
                c1 = 0;
            }
            if (c2) {
                a = c2 == 1 ? 0 : right;
                *y2 += (int64_t)((double)(a - *x2) * (*y2 - *y1) / (*x2 - *x1));
                *x2 = a;
                c2 = 0;
            }
        }
    }
    return (c1 | c2) == 0;
}

/* cv::LineIterator with connectivity 8, left to right, then set every pixel. */
static void draw_line8(uint8_t *plane, int h, int w, int64_t ax, int64_t ay, int64_t bx, int64_t by,
                       uint8_t value) {
    if ((uint64_t)ax >= (uint64_t)w || (uint64_t)bx >= (uint64_t)w || (uint64_t)ay >= (uint64_t)h ||
        (uint64_t)by >= (uint64_t)h) {
        if (!clip_line(w, h, &ax, &ay, &bx, &by)) return;
    }
    int x1 = (int)ax, y1 = (int)ay, x2 = (int)bx, y2 = (int)by;
    if (x2 < x1) {
        int t = x1;
        x1 = x2, x2 = t;
        t = y1, y1 = y2, y2 = t;
    }
    int dx = x2 - x1, dy = y2 - y1;
    int ystep = dy < 0 ? -1 : 1;
    dy = dy < 0 ? -dy : dy;
    bool steep = dy > dx; /* major axis is y */
    int major = steep ? dy : dx, minor = steep ? dx : dy;
    int err = major - (minor + minor);
    int plus = major + major, minus = -(minor + minor);
    int x = x1, y = y1;
    for (int i = 0; i <= major; i++) {
        plane[(size_t)y * w + x] = value;
        bool m = err < 0;
        err += minus + (m ? plus : 0);
        if (steep) {
            y += ystep;
            if (m) x += 1;
        } else {
            x += 1;
            if (m) y += ystep;
        }
    }
}

static int cmp_edges(const void *a, const void *b) {
    const poly_edge *e1 = a, *e2 = b;
    if (e1->y0 != e2->y0) return e1->y0 < e2->y0 ? -1 : 1;
    if (e1->x != e2->x) return e1->x < e2->x ? -1 : 1;
    if (e1->dx != e2->dx) return e1->dx < e2->dx ? -1 : 1;
    return 0;
}

void masks_fill_polygon(uint8_t *plane, int h, int w, const float *xy, int npts, uint8_t value) {
    if (npts <= 0 || h <= 0 || w <= 0) return;
    poly_edge *edges = malloc(sizeof *edges * (size_t)npts);
    int64_t *vx = calloc(2 * (size_t)npts, sizeof *vx);
    if (!edges || !vx) {
        free(edges), free(vx);
        return;
    }
    int64_t *vy = vx + npts;
    /* numpy's astype(int32) truncates toward zero; absurd values are bounded first (no UB on conversion,
     * no overflow in the 16.16 edge arithmetic) */
    for (int i = 0; i < npts; i++) {
        float x = xy[2 * i], y = xy[2 * i + 1];
        x = x == x ? (x > 1e6f ? 1e6f : x < -1e6f ? -1e6f : x) : 0;
        y = y == y ? (y > 1e6f ? 1e6f : y < -1e6f ? -1e6f : y) : 0;
        vx[i] = (int64_t)(int32_t)x, vy[i] = (int64_t)(int32_t)y;
    }
    int ne = 0;
    int64_t p0x = vx[npts - 1] * XY_ONE, p0y = vy[npts - 1];
    for (int i = 0; i < npts; i++) {
        int64_t p1x = vx[i] * XY_ONE, p1y = vy[i];
        int64_t c0x = p0x, c0y = p0y, c1x = p1x, c1y = p1y;
        int64_t t0x = (p0x + (XY_ONE >> 1)) >> XY_SHIFT, t0y = p0y;
        int64_t t1x = (p1x + (XY_ONE >> 1)) >> XY_SHIFT, t1y = p1y;
        draw_line8(plane, h, w, t0x, t0y, t1x, t1y, value);
        if ((uint64_t)t0x >= (uint64_t)w || (uint64_t)t1x >= (uint64_t)w || (uint64_t)t0y >= (uint64_t)h ||
            (uint64_t)t1y >= (uint64_t)h) {
            clip_line(w, h, &t0x, &t0y, &t1x, &t1y);
            if (t0y != t1y) {
                c0y = t0y, c1y = t1y;
                c0x = t0x * XY_ONE, c1x = t1x * XY_ONE;
            }
        } else {
            c0x += XY_ONE >> 1;
            c1x += XY_ONE >> 1;
        }
        if (p0y != p1y) {
            poly_edge *e = &edges[ne++];
            e->dx = (c1x - c0x) / (c1y - c0y);
            if (p0y < p1y)
                e->y0 = (int)p0y, e->y1 = (int)p1y, e->x = c0x;
            else
                e->y0 = (int)p1y, e->y1 = (int)p0y, e->x = c1x;
        }
        p0x = p1x, p0y = p1y;
    }
    free(vx);
    if (ne < 2) {
        free(edges);
        return;
    }
    int y_min = INT32_MAX, y_max = INT32_MIN;
    int64_t x_min = INT64_MAX, x_max = INT64_MIN;
    for (int i = 0; i < ne; i++) {
        int64_t x1 = edges[i].x + (int64_t)(edges[i].y1 - edges[i].y0) * edges[i].dx;
        if (edges[i].y0 < y_min) y_min = edges[i].y0;
        if (edges[i].y1 > y_max) y_max = edges[i].y1;
        if (edges[i].x < x_min) x_min = edges[i].x;
        if (edges[i].x > x_max) x_max = edges[i].x;
        if (x1 < x_min) x_min = x1;
        if (x1 > x_max) x_max = x1;
    }
    if (y_max < 0 || y_min >= h || x_max < 0 || x_min >= ((int64_t)w << XY_SHIFT)) {
        free(edges);
        return;
    }
    qsort(edges, ne, sizeof *edges, cmp_edges);
    if (y_max > h) y_max = h;
    /* Active edges sorted by x; OpenCV keeps them in a linked list with a bubble sort after each row, which
     * gives the same order as re-sorting by x with ties kept in list order (a stable sort). */
    int *active = malloc(sizeof *active * ne);
    if (!active) {
        free(edges);
        return;
    }
    int na = 0, next = 0;
    for (int y = edges[0].y0; y < y_max; y++) {
        /* drop edges that end here, insert those starting here (merged by x as OpenCV's walk does) */
        int k = 0;
        for (int i = 0; i < na; i++)
            if (edges[active[i]].y1 != y) active[k++] = active[i];
        na = k;
        while (next < ne && edges[next].y0 == y) {
            /* insert before the first active edge whose x is not smaller */
            int pos = 0;
            while (pos < na && edges[active[pos]].x < edges[next].x)
                pos++;
            memmove(active + pos + 1, active + pos, sizeof *active * (na - pos));
            active[pos] = next++;
            na++;
        }
        for (int i = 0; i + 1 < na; i += 2) {
            poly_edge *a = &edges[active[i]], *b = &edges[active[i + 1]];
            if (y >= 0) {
                int64_t lx = a->x, rx = b->x;
                if (lx > rx) {
                    int64_t t = lx;
                    lx = rx, rx = t;
                }
                int x1 = (int)(lx >> XY_SHIFT), x2 = (int)(rx >> XY_SHIFT);
                if (x1 < w && x2 >= 0) {
                    if (x1 < 0) x1 = 0;
                    if (x2 >= w) x2 = w - 1;
                    memset(plane + (size_t)y * w + x1, value, (size_t)(x2 - x1 + 1));
                }
            }
            a->x += a->dx;
            b->x += b->dx;
        }
        /* stable re-sort by x (insertion sort; the list is nearly sorted) */
        for (int i = 1; i < na; i++) {
            int t = active[i], j = i;
            while (j > 0 && edges[active[j - 1]].x > edges[t].x)
                active[j] = active[j - 1], j--;
            active[j] = t;
        }
    }
    free(active);
    free(edges);
}

yolo_status masks_polygon_to_mask(const float *xy, int npts, int h, int w, int ratio, uint8_t *out) {
    if (ratio < 1 || h < ratio || w < ratio)
        return yolo_error(YOLO_ERR_USAGE, "masks: bad size %dx%d / %d", h, w, ratio);
    image full = {0}, small = {0};
    yolo_status st = image_alloc(&full, h, w, 1, 0);
    if (st) return st;
    masks_fill_polygon(full.px, h, w, xy, npts, 1);
    int mh = h / ratio, mw = w / ratio;
    if (ratio == 1) {
        memcpy(out, full.px, (size_t)h * w);
        image_free(&full);
        return YOLO_OK;
    }
    st = letterbox_resize_linear(&full, mh, mw, &small);
    image_free(&full);
    if (st) return st;
    memcpy(out, small.px, (size_t)mh * mw);
    image_free(&small);
    return YOLO_OK;
}

/* Normalised polygon points back to pixels. The sample holds fl32(x / W); multiplying in double and
 * rounding to float recovers the pixel value Ultralytics keeps (a float32) in all but rare cases, so the
 * int32 truncation below lands on the same vertex. */
static void to_pixels(const float *xy, int np, int W, int H, float *out) {
    for (int q = 0; q < np; q++) {
        out[2 * q] = (float)((double)xy[2 * q] * W);
        out[2 * q + 1] = (float)((double)xy[2 * q + 1] * H);
    }
}

static yolo_status check_ratio(int H, int W, int ratio) {
    if (ratio < 1 || H < ratio || W < ratio)
        return yolo_error(YOLO_ERR_USAGE, "masks: bad size %dx%d / %d", H, W, ratio);
    return YOLO_OK;
}

/* Rasterises instance k of s into one (H/ratio)x(W/ratio) plane; *pts is scratch space kept by the
 * caller across instances (free it when done). */
static yolo_status instance_mask(const sample *s, int k, int ratio, float **pts, uint8_t *plane) {
    int H = s->img.h, W = s->img.w, np = sample_seg_len(s, k);
    float *p = realloc(*pts, sizeof *p * 2 * (size_t)(np ? np : 1));
    if (!p) return yolo_error(YOLO_ERR_NOMEM, "masks: out of memory");
    *pts = p;
    to_pixels(s->seg_xy + 2 * (size_t)s->seg_start[k], np, W, H, p);
    return masks_polygon_to_mask(p, np, H, W, ratio, plane);
}

yolo_status masks_overlap(sample *s, int ratio, uint16_t *out, int *perm) {
    int H = s->img.h, W = s->img.w;
    yolo_status st = check_ratio(H, W, ratio);
    if (st) return st;
    int mh = H / ratio, mw = W / ratio, n = s->n;
    if (n > 65535) return yolo_error(YOLO_ERR_LIMIT, "masks: %d instances do not fit 16-bit mask ids", n);
    size_t plane = (size_t)mh * mw;
    memset(out, 0, plane * sizeof *out);
    if (!s->seg_start || n == 0) {
        if (perm)
            for (int k = 0; k < n; k++)
                perm[k] = k;
        return YOLO_OK;
    }
    uint8_t *ms = malloc(plane * (size_t)n);
    long *area = malloc(sizeof *area * n);
    int *order = malloc(sizeof *order * n);
    float *pts = NULL;
    if (!ms || !area || !order) st = yolo_error(YOLO_ERR_NOMEM, "masks: out of memory for %d masks", n);
    for (int k = 0; k < n && !st; k++) {
        if ((st = instance_mask(s, k, ratio, &pts, ms + plane * k))) break;
        long a = 0;
        for (size_t i = 0; i < plane; i++)
            a += ms[plane * k + i];
        area[k] = a;
        order[k] = k;
    }
    if (!st) {
        /* largest first; equal areas keep their order (numpy's sort is stable for the small n typical here)
         */
        for (int i = 1; i < n; i++) {
            int t = order[i], j = i;
            while (j > 0 && area[order[j - 1]] < area[t])
                order[j] = order[j - 1], j--;
            order[j] = t;
        }
        for (int i = 0; i < n; i++) {
            const uint8_t *m = ms + plane * order[i];
            for (size_t q = 0; q < plane; q++)
                if (m[q]) out[q] = (uint16_t)(i + 1);
        }
        st = sample_permute(s, order);
        if (!st && perm) memcpy(perm, order, sizeof *perm * n);
    }
    free(ms), free(area), free(order), free(pts);
    return st;
}

yolo_status masks_separate(const sample *s, int ratio, uint8_t *out) {
    int H = s->img.h, W = s->img.w;
    yolo_status st = check_ratio(H, W, ratio);
    if (st) return st;
    size_t plane = (size_t)(H / ratio) * (W / ratio);
    if (!s->seg_start) {
        memset(out, 0, plane * (size_t)s->n);
        return YOLO_OK;
    }
    float *pts = NULL;
    for (int k = 0; k < s->n && !st; k++)
        st = instance_mask(s, k, ratio, &pts, out + plane * k);
    free(pts);
    return st;
}

/* Moore-neighbour tracing of one component's outer border from its first pixel in raster order, going
 * down its left side first (OpenCV's order for outer borders), keeping only the points where the
 * direction changes (CHAIN_APPROX_SIMPLE). Visited border pixels are marked 2 in seen. */
static yolo_status trace_outline(const uint8_t *m, int h, int w, int sx, int sy, uint8_t *seen, float **xy,
                                 int *n, int *cap) {
    static const int dx[8] = {1, 1, 0, -1, -1, -1, 0, 1}, dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};
    int x = sx, y = sy, dir = 4, first = -1, last = -1;
    long steps = 0, limit = 4L * w * h + 8;
    for (;;) {
        seen[(size_t)y * w + x] = 2;
        int d = -1;
        for (int k = 0; k < 8; k++) {
            int t = (dir + k) % 8, nx = x + dx[t], ny = y + dy[t];
            if (nx >= 0 && ny >= 0 && nx < w && ny < h && m[(size_t)ny * w + nx]) {
                d = t;
                break;
            }
        }
        bool corner = d != last || steps == 0;
        if (corner) { /* keep it */
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 64;
                float *p = realloc(*xy, sizeof *p * 2 * (size_t)*cap);
                if (!p) return yolo_error(YOLO_ERR_NOMEM, "out of memory for an outline");
                *xy = p;
            }
            (*xy)[2 * *n] = (float)x, (*xy)[2 * *n + 1] = (float)y;
            (*n)++;
        }
        if (d < 0) break; /* a lone pixel */
        if (first < 0)
            first = d;
        else if (x == sx && y == sy && d == first) {
            if (corner) (*n)--; /* back at the start, about to repeat the first move */
            break;
        }
        last = d;
        x += dx[d], y += dy[d];
        dir = (d + 6) % 8;
        if (++steps > limit) break;
    }
    return YOLO_OK;
}

yolo_status masks_outline(const uint8_t *m, int h, int w, float **xy, int *npts) {
    *xy = NULL, *npts = 0;
    uint8_t *seen = calloc((size_t)h * w, 1);
    int *stack = malloc(sizeof *stack * 2 * ((size_t)h * w + 1));
    if (!seen || !stack) {
        free(seen), free(stack);
        return yolo_error(YOLO_ERR_NOMEM, "out of memory for a %dx%d outline", h, w);
    }
    int cap = 0;
    yolo_status st = YOLO_OK;
    for (int y = 0; y < h && st == YOLO_OK; y++)
        for (int x = 0; x < w && st == YOLO_OK; x++) {
            if (!m[(size_t)y * w + x] || seen[(size_t)y * w + x]) continue;
            /* a new component: its outline, then mark all of it (8-connected) */
            st = trace_outline(m, h, w, x, y, seen, xy, npts, &cap);
            long top = 0;
            stack[top++] = x, stack[top++] = y;
            seen[(size_t)y * w + x] = 1;
            while (top > 0) {
                int cy = stack[--top], cx = stack[--top];
                for (int ny = cy - 1; ny <= cy + 1; ny++)
                    for (int nx = cx - 1; nx <= cx + 1; nx++)
                        if (nx >= 0 && ny >= 0 && nx < w && ny < h && m[(size_t)ny * w + nx] &&
                            seen[(size_t)ny * w + nx] != 1) {
                            seen[(size_t)ny * w + nx] = 1;
                            stack[top++] = nx, stack[top++] = ny;
                        }
            }
        }
    free(seen), free(stack);
    if (st != YOLO_OK) {
        free(*xy);
        *xy = NULL, *npts = 0;
    }
    return st;
}
