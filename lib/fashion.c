#include "yolo/fashion.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "yolo/ckpt.h"
#include "yolo/image.h"
#include "yolo/letterbox.h"
#include "yolo/rng.h"

const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Only the first items of each file are read: plenty of variety, a fraction of the decompression time. */
#define FASHION_ITEMS 10000
#define SIDE 28
#define MASK_THRESHOLD 48
#define MAX_POLY 256

typedef struct {
    uint8_t *px;    /* n * 28 * 28 */
    uint8_t *label; /* n */
    int n;
} idx_set;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static yolo_status gz_read(const char *path, uint8_t *buf, size_t want, size_t *got) {
    gzFile g = gzopen(path, "rb");
    if (!g)
        return yolo_error(YOLO_ERR_NOTFOUND, "%s: %s (install the dataset-fashion-mnist package)", path,
                          errno ? strerror(errno) : "cannot open");
    size_t n = 0;
    while (n < want) {
        int r = gzread(g, buf + n, (unsigned)(want - n > (1u << 30) ? (1u << 30) : want - n));
        if (r <= 0) break;
        n += (size_t)r;
    }
    int err;
    const char *msg = gzerror(g, &err);
    gzclose(g);
    if (err != Z_OK && err != Z_STREAM_END)
        return yolo_error(YOLO_ERR_FORMAT, "%s: damaged gzip file (%s)", path, msg);
    *got = n;
    return YOLO_OK;
}

static yolo_status load_set(const char *dir, const char *prefix, idx_set *s) {
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    size_t want_i = 16 + (size_t)FASHION_ITEMS * SIDE * SIDE, want_l = 8 + FASHION_ITEMS, gi, gl;
    uint8_t *bi = malloc(want_i), *bl = malloc(want_l);
    yolo_status st = (!bi || !bl) ? yolo_nomem() : YOLO_OK;
    if (!st) st = gz_read(ip, bi, want_i, &gi);
    if (!st) st = gz_read(lp, bl, want_l, &gl);
    if (!st && (gi < 16 || be32(bi) != 0x803 || be32(bi + 8) != SIDE || be32(bi + 12) != SIDE))
        st = yolo_error(YOLO_ERR_FORMAT, "%s: not a 28x28 idx3 image file", ip);
    if (!st && (gl < 8 || be32(bl) != 0x801))
        st = yolo_error(YOLO_ERR_FORMAT, "%s: not an idx1 label file", lp);
    if (!st) {
        size_t ni = (gi - 16) / (SIDE * SIDE), nl = gl - 8;
        s->n = (int)(ni < nl ? ni : nl);
        if (s->n < 1) st = yolo_error(YOLO_ERR_FORMAT, "%s: no items", ip);
        for (int k = 0; !st && k < s->n; k++)
            if (bl[8 + k] > 9) st = yolo_error(YOLO_ERR_FORMAT, "%s: label %d out of range", lp, bl[8 + k]);
    }
    if (st) {
        free(bi), free(bl);
        return st;
    }
    memmove(bi, bi + 16, (size_t)s->n * SIDE * SIDE);
    memmove(bl, bl + 8, (size_t)s->n);
    s->px = bi;
    s->label = bl;
    return YOLO_OK;
}

static void set_free(idx_set *s) {
    free(s->px);
    free(s->label);
}

static yolo_status write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return yolo_error(YOLO_ERR_IO, "%s: %s", path, strerror(errno));
    size_t w = fwrite(p, 1, n, f);
    if (fclose(f) != 0 || w != n) return yolo_error(YOLO_ERR_IO, "%s: write failed", path);
    return YOLO_OK;
}

static yolo_status write_png(const char *path, const image *im) {
    uint8_t *b;
    size_t n;
    size_t pl = strlen(path);
    bool jpg = pl > 4 && strcmp(path + pl - 4, ".jpg") == 0;
    yolo_status st = jpg ? image_encode_jpeg(im, 95, &b, &n) : image_encode_png(im, &b, &n);
    if (st) return st;
    st = write_bytes(path, b, n);
    free(b);
    return st;
}

/* An item scaled to s x s (OpenCV-exact bilinear), grey. */
static yolo_status item_scaled(const idx_set *set, int idx, int s, image *out) {
    image src = {SIDE, SIDE, 1, set->px + (size_t)idx * SIDE * SIDE};
    return letterbox_resize_linear(&src, s, s, out);
}

static void background(rng *r, image *im) {
    int kind = (int)rng_int(r, 0, 2);
    uint8_t a[3], b[3];
    for (int c = 0; c < 3; c++)
        a[c] = (uint8_t)rng_int(r, 0, 110), b[c] = (uint8_t)rng_int(r, 0, 110);
    int amp = (int)rng_int(r, 8, 40);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
            if (kind == 0)
                memcpy(p, a, 3);
            else if (kind == 1) {
                double t = (double)(x + y) / (im->w + im->h);
                for (int c = 0; c < 3; c++)
                    p[c] = (uint8_t)lround(a[c] * (1 - t) + b[c] * t);
            } else {
                int g = (int)rng_int(r, -amp, amp);
                for (int c = 0; c < 3; c++) {
                    int v = a[c] / 2 + g + 20;
                    p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
}

static void paste(image *im, const image *item, int x0, int y0, const uint8_t tint[3]) {
    for (int y = 0; y < item->h; y++)
        for (int x = 0; x < item->w; x++) {
            int a = item->px[(size_t)y * item->w + x];
            uint8_t *p = im->px + ((size_t)(y0 + y) * im->w + x0 + x) * 3;
            for (int c = 0; c < 3; c++)
                p[c] = (uint8_t)((p[c] * (255 - a) + tint[c] * a + 127) / 255);
        }
}

/* ---- silhouette tracing ---- */

static const int DX[8] = {-1, -1, 0, 1, 1, 1, 0, -1}; /* W NW N NE E SE S SW: clockwise, y down */
static const int DY[8] = {0, -1, -1, -1, 0, 1, 1, 1};

/* Outer boundary of the largest 4-connected component of mask (s x s), Moore-neighbour tracing.
 * Returns the number of points written to xy (pixel centres), 0 if none. */
static int trace(const uint8_t *mask, int s, float *xy, int cap) {
    int *lab = calloc((size_t)s * s, sizeof *lab), *stack = malloc(sizeof *stack * (size_t)s * s);
    if (!lab || !stack) {
        free(lab), free(stack);
        return 0;
    }
    int best = 0, best_n = 0, next = 0;
    for (int i = 0; i < s * s; i++) {
        if (!mask[i] || lab[i]) continue;
        int id = ++next, n = 0, sp = 0;
        stack[sp++] = i;
        lab[i] = id;
        while (sp) {
            int c = stack[--sp], cx = c % s, cy = c / s;
            n++;
            const int nx[4] = {cx - 1, cx + 1, cx, cx}, ny[4] = {cy, cy, cy - 1, cy + 1};
            for (int k = 0; k < 4; k++) {
                if (nx[k] < 0 || ny[k] < 0 || nx[k] >= s || ny[k] >= s) continue;
                int q = ny[k] * s + nx[k];
                if (mask[q] && !lab[q]) lab[q] = id, stack[sp++] = q;
            }
        }
        if (n > best_n) best_n = n, best = id;
    }
    free(stack);
    if (!best) {
        free(lab);
        return 0;
    }
    int start = 0;
    while (lab[start] != best)
        start++;
#define FG(x, y) ((x) >= 0 && (y) >= 0 && (x) < s && (y) < s && lab[(y)*s + (x)] == best)
    int cx = start % s, cy = start / s, d = 0, n = 0;
    int second = -1;
    int limit = 4 * s * s + 8;
    for (int step = 0; step < limit && n < cap; step++) {
        xy[2 * n] = (float)cx + 0.5f, xy[2 * n + 1] = (float)cy + 0.5f;
        n++;
        int k, found = -1;
        for (k = 1; k <= 8; k++) {
            int dd = (d + k) % 8;
            if (FG(cx + DX[dd], cy + DY[dd])) {
                found = dd;
                break;
            }
        }
        if (found < 0) break; /* a single pixel */
        cx += DX[found], cy += DY[found];
        d = (found + 5) % 8;
        int here = cy * s + cx;
        if (second < 0)
            second = here;
        else if (here == second && xy[2 * (n - 1)] == (float)(start % s) + 0.5f &&
                 xy[2 * (n - 1) + 1] == (float)(start / s) + 0.5f) {
            n--; /* back at the start, about to repeat */
            break;
        }
    }
#undef FG
    free(lab);
    return n;
}

static double seg_dist(const float *p, const float *a, const float *b) {
    double dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
    if (l2 == 0) return hypot(p[0] - a[0], p[1] - a[1]);
    return fabs(dy * (p[0] - a[0]) - dx * (p[1] - a[1])) / sqrt(l2);
}

static void dp_mark(const float *xy, int i, int j, double eps, char *keep) {
    if (j <= i + 1) return;
    double best = -1;
    int at = -1;
    for (int k = i + 1; k < j; k++) {
        double d = seg_dist(xy + 2 * k, xy + 2 * i, xy + 2 * j);
        if (d > best) best = d, at = k;
    }
    if (best > eps) {
        keep[at] = 1;
        dp_mark(xy, i, at, eps, keep);
        dp_mark(xy, at, j, eps, keep);
    }
}

/* Douglas-Peucker on a closed contour, split at its point farthest from the first. */
static int simplify(float *xy, int n, double eps) {
    if (n <= 4) return n;
    char *keep = calloc((size_t)n + 1, 1);
    float *ext = malloc(sizeof *ext * 2 * ((size_t)n + 1));
    if (!keep || !ext) {
        free(keep), free(ext);
        return n;
    }
    memcpy(ext, xy, sizeof *ext * 2 * (size_t)n);
    ext[2 * n] = xy[0], ext[2 * n + 1] = xy[1];
    int far = 0;
    double fd = -1;
    for (int k = 1; k < n; k++) {
        double d = hypot(xy[2 * k] - xy[0], xy[2 * k + 1] - xy[1]);
        if (d > fd) fd = d, far = k;
    }
    keep[0] = keep[far] = keep[n] = 1;
    dp_mark(ext, 0, far, eps, keep);
    dp_mark(ext, far, n, eps, keep);
    int m = 0;
    for (int k = 0; k < n; k++)
        if (keep[k]) xy[2 * m] = ext[2 * k], xy[2 * m + 1] = ext[2 * k + 1], m++;
    free(keep), free(ext);
    return m;
}

/* ---- writers ---- */

typedef struct {
    float x1, y1, x2, y2;
} fbox;

static double iou(fbox a, fbox b) {
    double iw = fmin(a.x2, b.x2) - fmax(a.x1, b.x1), ih = fmin(a.y2, b.y2) - fmax(a.y1, b.y1);
    if (iw <= 0 || ih <= 0) return 0;
    double in = iw * ih;
    return in / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - in);
}

static yolo_status write_det_image(const fashion_opts *o, const idx_set *set, int split, int i, bool seg,
                                   const char *img_path, const char *lab_path) {
    rng r;
    rng_init(&r, o->seed, (uint64_t)split, (uint64_t)i, RNG_STREAM_USER + 7);
    int S = o->imgsz;
    image im;
    yolo_status st = image_alloc(&im, S, S, 3, 0);
    if (st) return st;
    background(&r, &im);
    int want = (int)rng_int(&r, 1, 4), got = 0;
    fbox placed[4];
    size_t cap = 4096, len = 0;
    char *txt = malloc(cap);
    float *xy = malloc(sizeof *xy * 2 * (size_t)(4 * 64 * 64 + 16));
    if (!txt || !xy) st = yolo_nomem();
    for (int tries = 0; !st && got < want && tries < 40; tries++) {
        int idx = (int)rng_int(&r, 0, set->n - 1);
        int s = (int)lround(rng_uniform(&r, 0.18, 0.45) * S);
        if (s < 12) s = 12;
        if (s > S) s = S;
        int x0 = (int)rng_int(&r, 0, S - s), y0 = (int)rng_int(&r, 0, S - s);
        uint8_t tint[3];
        for (int c = 0; c < 3; c++)
            tint[c] = (uint8_t)rng_int(&r, 130, 255);
        image item;
        if ((st = item_scaled(set, idx, s, &item))) break;
        uint8_t *mask = malloc((size_t)s * s);
        if (!mask) {
            image_free(&item);
            st = yolo_nomem();
            break;
        }
        int bx1 = s, by1 = s, bx2 = -1, by2 = -1;
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                int on = item.px[(size_t)y * s + x] >= MASK_THRESHOLD;
                mask[(size_t)y * s + x] = (uint8_t)on;
                if (on) {
                    if (x < bx1) bx1 = x;
                    if (x > bx2) bx2 = x;
                    if (y < by1) by1 = y;
                    if (y > by2) by2 = y;
                }
            }
        fbox b = {(float)(x0 + bx1), (float)(y0 + by1), (float)(x0 + bx2 + 1), (float)(y0 + by2 + 1)};
        bool ok = bx2 >= bx1 + 2 && by2 >= by1 + 2;
        for (int k = 0; ok && k < got; k++)
            ok = iou(b, placed[k]) < 0.15;
        int np = 0;
        if (ok && seg) {
            np = trace(mask, s, xy, 4 * s * s + 8);
            np = simplify(xy, np, 0.8);
            if (np > MAX_POLY) np = simplify(xy, np, 2.0);
            ok = np >= 3;
        }
        if (ok) {
            paste(&im, &item, x0, y0, tint);
            placed[got++] = b;
            char line[16 + MAX_POLY * 24];
            int ln;
            if (seg) {
                ln = snprintf(line, sizeof line, "%d", set->label[idx]);
                for (int k = 0; k < np && k < MAX_POLY * 2; k++)
                    ln += snprintf(line + ln, sizeof line - (size_t)ln, " %.6f %.6f", (x0 + xy[2 * k]) / S,
                                   (y0 + xy[2 * k + 1]) / S);
                ln += snprintf(line + ln, sizeof line - (size_t)ln, "\n");
            } else {
                ln = snprintf(line, sizeof line, "%d %.6f %.6f %.6f %.6f\n", set->label[idx],
                              (b.x1 + b.x2) / 2 / S, (b.y1 + b.y2) / 2 / S, (b.x2 - b.x1) / S,
                              (b.y2 - b.y1) / S);
            }
            if (len + (size_t)ln + 1 > cap) {
                char *nt = realloc(txt, cap = (len + (size_t)ln + 1) * 2);
                if (!nt)
                    st = yolo_nomem();
                else
                    txt = nt;
            }
            if (!st) memcpy(txt + len, line, (size_t)ln), len += (size_t)ln;
        }
        free(mask);
        image_free(&item);
    }
    if (!st) st = write_png(img_path, &im);
    if (!st) st = write_bytes(lab_path, txt, len);
    free(txt);
    free(xy);
    image_free(&im);
    return st;
}

static yolo_status write_cls_image(const fashion_opts *o, const idx_set *set, int split, int i,
                                   const char *root, const char *split_name) {
    rng r;
    rng_init(&r, o->seed, (uint64_t)split, (uint64_t)i, RNG_STREAM_USER + 8);
    /* Classes go round-robin so that every class folder exists once there are ten images. */
    int want = i % 10, idx = (int)rng_int(&r, 0, set->n - 1);
    for (int k = 0; k < set->n && set->label[idx] != want; k++)
        idx = (idx + 1) % set->n;
    int S = o->imgsz;
    image item, im;
    yolo_status st = item_scaled(set, idx, S, &item);
    if (st) return st;
    if ((st = image_alloc(&im, S, S, 3, 0))) {
        image_free(&item);
        return st;
    }
    background(&r, &im);
    uint8_t tint[3];
    for (int c = 0; c < 3; c++)
        tint[c] = (uint8_t)rng_int(&r, 130, 255);
    paste(&im, &item, 0, 0, tint);
    char dir[4096], path[4200], folder[64];
    snprintf(folder, sizeof folder, "%s", fashion_names[set->label[idx]]);
    for (char *p = folder; *p; p++)
        if (*p == '/') *p = '-'; /* a folder name cannot hold '/' */
    snprintf(dir, sizeof dir, "%s/%s/%s", root, split_name, folder);
    st = ckpt_mkdirs(dir);
    snprintf(path, sizeof path, "%s/%s_%05d.%s", dir, split_name, i, o->jpeg ? "jpg" : "png");
    if (!st) st = write_png(path, &im);
    image_free(&item);
    image_free(&im);
    return st;
}

yolo_status fashion_write(const fashion_opts *o) {
    const char *task = o->task ? o->task : "detect";
    bool cls = strcmp(task, "classify") == 0, seg = strcmp(task, "segment") == 0;
    if (!cls && !seg && strcmp(task, "detect") != 0)
        return yolo_error(YOLO_ERR_USAGE, "unknown task '%s' (detect, segment or classify)", task);
    if (!o->out_dir || !o->out_dir[0]) return yolo_error(YOLO_ERR_USAGE, "no output folder (--out DIR)");
    if (o->imgsz < 32 || o->imgsz > 2048)
        return yolo_error(YOLO_ERR_USAGE, "imgsz %d out of range 32..2048", o->imgsz);
    if (o->n_train < 0 || o->n_val < 0 || o->n_train > 1000000 || o->n_val > 1000000)
        return yolo_error(YOLO_ERR_USAGE, "image counts out of range");
    const char *src = o->src_dir                   ? o->src_dir
                      : getenv("YOLO_FASHION_DIR") ? getenv("YOLO_FASHION_DIR")
                                                   : FASHION_DEFAULT_DIR;
    idx_set sets[2] = {{0}, {0}};
    yolo_status st = load_set(src, "train", &sets[0]);
    if (!st) st = load_set(src, "t10k", &sets[1]);
    const char *splits[2] = {"train", "val"};
    int counts[2] = {o->n_train, o->n_val};
    char a[4096], b[4096], ip[4200], lp[4200];
    for (int sp = 0; sp < 2 && !st; sp++) {
        if (cls) {
            if ((st = ckpt_mkdirs(o->out_dir))) break;
            for (int i = 0; i < counts[sp] && !st; i++)
                st = write_cls_image(o, &sets[sp], sp, i, o->out_dir, splits[sp]);
            continue;
        }
        snprintf(a, sizeof a, "%s/images/%s", o->out_dir, splits[sp]);
        snprintf(b, sizeof b, "%s/labels/%s", o->out_dir, splits[sp]);
        if ((st = ckpt_mkdirs(a)) || (st = ckpt_mkdirs(b))) break;
        for (int i = 0; i < counts[sp] && !st; i++) {
            snprintf(ip, sizeof ip, "%s/%s_%05d.%s", a, splits[sp], i, o->jpeg ? "jpg" : "png");
            snprintf(lp, sizeof lp, "%s/%s_%05d.txt", b, splits[sp], i);
            st = write_det_image(o, &sets[sp], sp, i, seg, ip, lp);
        }
    }
    if (!st && !cls) {
        char y[8192];
        int n = snprintf(
            y, sizeof y,
            "# Fashion-MNIST %s demo set made by yolo-data fashion (seed %llu): %d train + %d val "
            "images, %dx%d.\n# Paths are relative to this file's folder.\npath: .\ntrain: images/train\n"
            "val: images/val\nnames:\n",
            task, (unsigned long long)o->seed, o->n_train, o->n_val, o->imgsz, o->imgsz);
        for (int k = 0; k < 10; k++)
            n += snprintf(y + n, sizeof y - (size_t)n, "  %d: %s\n", k, fashion_names[k]);
        snprintf(ip, sizeof ip, "%s/data.yaml", o->out_dir);
        st = write_bytes(ip, y, (size_t)n);
    }
    set_free(&sets[0]);
    set_free(&sets[1]);
    return st;
}
