#include "yolo/labels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds against hostile label files. */
#define MAX_ROWS (1 << 20)
#define MAX_COLS (1 << 22)

typedef struct {
    float *v;   /* all values of all rows, row after row */
    int *start; /* row r is v[start[r] .. start[r+1]) */
    int rows, vcap, rcap;
} table;

static void table_free(table *t) {
    free(t->v);
    free(t->start);
}

static int table_push(table *t, float x) {
    if (t->start[t->rows + 1] >= t->vcap) {
        int nc = t->vcap ? t->vcap * 2 : 64;
        if (nc > MAX_COLS) return -2;
        float *nv = realloc(t->v, sizeof *nv * (size_t)nc);
        if (!nv) return -1;
        t->v = nv;
        t->vcap = nc;
    }
    t->v[t->start[t->rows + 1]++] = x;
    return 0;
}

static int table_new_row(table *t) {
    if (t->rows + 2 > t->rcap) {
        int nc = t->rcap ? t->rcap * 2 : 16;
        if (nc > MAX_ROWS) return -2;
        int *ns = realloc(t->start, sizeof *ns * (size_t)nc);
        if (!ns) return -1;
        t->start = ns;
        t->rcap = nc;
    }
    if (t->rows == 0) t->start[0] = 0;
    t->start[t->rows + 1] = t->start[t->rows];
    return 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* A token as Ultralytics reads it (numpy's float32 of the string, which is Python's float()): a decimal
 * number with an optional sign, point and exponent, and '_' only between two digits, or inf, infinity or
 * nan in any case. strtod alone also takes what Python refuses: hex (0x1 read as class 1, 0x1p-3) and
 * nan(...). 1: a number; 0: not one; -1: not finite (Ultralytics reads it, then fails the file's checks).
 */
static int parse_float(const char *tok, size_t n, float *out) {
    char buf[256];
    size_t k = 0, b = 0;
    if (n == 0 || n >= sizeof buf) return 0;
    if (tok[0] == '+' || tok[0] == '-') buf[b++] = tok[k++];
    static const char *const words[] = {"inf", "infinity", "nan"};
    for (size_t w = 0; w < sizeof words / sizeof *words; w++)
        if (n - k == strlen(words[w]) && strncasecmp(tok + k, words[w], n - k) == 0) return -1;
    int mant = 0, expo = 0;
    bool point = false, in_exp = false;
    for (; k < n; k++) {
        char c = tok[k];
        if (is_digit(c))
            *(in_exp ? &expo : &mant) += 1;
        else if (c == '_' && k > 0 && is_digit(tok[k - 1]) && k + 1 < n && is_digit(tok[k + 1]))
            continue;
        else if (c == '.' && !point && !in_exp)
            point = true;
        else if ((c == 'e' || c == 'E') && mant && !in_exp) {
            in_exp = true;
            if (k + 1 < n && (tok[k + 1] == '+' || tok[k + 1] == '-')) buf[b++] = c, c = tok[++k];
        } else
            return 0;
        buf[b++] = c;
    }
    if (!mant || (in_exp && !expo)) return 0;
    buf[b] = 0;
    double d = strtod(buf, NULL);
    if (!isfinite(d)) return -1;
    *out = (float)d;
    return 1;
}

static int cmp_rows5(const float *a, const float *b) {
    for (int k = 0; k < 5; k++) {
        if (a[k] < b[k]) return -1;
        if (a[k] > b[k]) return 1;
    }
    return 0;
}

typedef struct {
    float row[5];
    int idx;
} keyed_row;

static int cmp_keyed(const void *pa, const void *pb) {
    const keyed_row *a = pa, *b = pb;
    int c = cmp_rows5(a->row, b->row);
    if (c) return c;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

yolo_status labels_parse(const char *text, size_t len, int nc, sample *out, labels_verdict *verdict,
                         char *msg, size_t msg_cap) {
    sample_clear_labels(out);
    *verdict = LABELS_OK;
    if (msg_cap) msg[0] = 0;
    table t = {0};
    float *lb = NULL;
    keyed_row *kr = NULL;
    yolo_status st = YOLO_OK;
#define CORRUPT(...)                                                                                         \
    do {                                                                                                     \
        *verdict = LABELS_CORRUPT;                                                                           \
        if (msg_cap) snprintf(msg, msg_cap, __VA_ARGS__);                                                    \
        goto done;                                                                                           \
    } while (0)
#define NOMEM()                                                                                              \
    do {                                                                                                     \
        st = yolo_error(YOLO_ERR_NOMEM, "labels: out of memory");                                            \
        goto done;                                                                                           \
    } while (0)

    /* Rows: non-blank lines split on whitespace. */
    size_t p = 0;
    int maxc = 0, minc = 1 << 30;
    while (p < len) {
        size_t e = p;
        while (e < len && text[e] != '\n')
            e++;
        size_t q = p;
        int cols = 0;
        int r;
        while (q < e) {
            while (q < e && is_space(text[q]))
                q++;
            if (q >= e) break;
            size_t a = q;
            while (q < e && !is_space(text[q]))
                q++;
            if (cols == 0) {
                if ((r = table_new_row(&t))) {
                    if (r == -2) CORRUPT("too many label rows");
                    NOMEM();
                }
            }
            float v;
            int ok = parse_float(text + a, q - a, &v), shown = (int)(q - a > 40 ? 40 : q - a);
            if (ok == 0) CORRUPT("could not convert string to float: '%.*s'", shown, text + a);
            if (ok < 0) CORRUPT("label value '%.*s' is not a finite number", shown, text + a);
            if ((r = table_push(&t, v))) {
                if (r == -2) CORRUPT("label file too large");
                NOMEM();
            }
            cols++;
        }
        if (cols) {
            t.rows++;
            if (cols > maxc) maxc = cols;
            if (cols < minc) minc = cols;
        }
        p = e + 1;
    }
    if (t.rows == 0) {
        *verdict = LABELS_EMPTY;
        goto done;
    }
    int n = t.rows;
    bool polygons = maxc > 6;
    lb = malloc(sizeof *lb * 5 * (size_t)n);
    if (!lb) NOMEM();
    if (polygons) {
        for (int r = 0; r < n; r++) {
            int c = t.start[r + 1] - t.start[r];
            const float *v = t.v + t.start[r];
            if ((c - 1) % 2)
                CORRUPT("cannot reshape array of size %d into shape (2) (polygon with an odd number of "
                        "coordinates)",
                        c - 1);
            if (c < 3) CORRUPT("polygon without points");
            float x1 = v[1], y1 = v[2], x2 = v[1], y2 = v[2];
            for (int k = 1; k + 1 < c; k += 2) {
                x1 = fminf(x1, v[k]), x2 = fmaxf(x2, v[k]);
                y1 = fminf(y1, v[k + 1]), y2 = fmaxf(y2, v[k + 1]);
            }
            /* float32 arithmetic, as numpy does it on float32 arrays */
            float *o = lb + 5 * r;
            o[0] = v[0];
            o[1] = (x1 + x2) / 2.0f;
            o[2] = (y1 + y2) / 2.0f;
            o[3] = x2 - x1;
            o[4] = y2 - y1;
        }
    } else {
        if (minc != maxc) CORRUPT("labels require 5 columns, rows have %d to %d columns", minc, maxc);
        if (maxc != 5) CORRUPT("labels require 5 columns, %d columns detected", maxc);
        memcpy(lb, t.v, sizeof *lb * 5 * (size_t)n);
    }
    /* The checks, in Ultralytics' order. */
    float maxpt = 0, minv = 0, maxcls = 0;
    for (int r = 0; r < n; r++) {
        for (int k = 1; k < 5; k++)
            maxpt = fmaxf(maxpt, lb[5 * r + k]);
        for (int k = 0; k < 5; k++)
            minv = fminf(minv, lb[5 * r + k]);
        maxcls = fmaxf(maxcls, lb[5 * r]);
    }
    if (maxpt > 1) CORRUPT("non-normalized or out of bounds coordinates (largest %g)", (double)maxpt);
    if (minv < 0) CORRUPT("negative label values (smallest %g)", (double)minv);
    if (maxcls >= (float)nc) /* printed as a float: a hostile file's class id need not fit an int */
        CORRUPT("Label class %.0f exceeds dataset class count %d. Possible class labels are 0-%d",
                (double)maxcls, nc, nc - 1);

    /* Duplicate rows: keep the first of each, in numpy.unique's sorted order. */
    kr = malloc(sizeof *kr * (size_t)n);
    if (!kr) NOMEM();
    for (int r = 0; r < n; r++) {
        memcpy(kr[r].row, lb + 5 * r, sizeof kr[r].row);
        kr[r].idx = r;
    }
    qsort(kr, (size_t)n, sizeof *kr, cmp_keyed);
    int u = 0;
    for (int r = 0; r < n; r++)
        if (u == 0 || cmp_rows5(kr[u - 1].row, kr[r].row) != 0) kr[u++] = kr[r];
    int order_n = n;
    if (u < n) {
        if (msg_cap) snprintf(msg, msg_cap, "%d duplicate labels removed", n - u);
        order_n = u;
    } else {
        for (int r = 0; r < n; r++)
            kr[r].idx = r; /* no duplicates: file order stays */
    }
    for (int j = 0; j < order_n; j++) {
        int r = kr[j].idx;
        const float *o = lb + 5 * r;
        int npts = 0;
        float *xy = NULL;
        if (polygons) {
            npts = (t.start[r + 1] - t.start[r] - 1) / 2;
            xy = t.v + t.start[r] + 1;
        }
        if ((st = sample_add(out, (int)o[0], o + 1, xy, npts))) goto done;
    }
done:
#undef CORRUPT
#undef NOMEM
    if (*verdict == LABELS_CORRUPT) sample_clear_labels(out);
    table_free(&t);
    free(lb);
    free(kr);
    return st;
}

char *labels_path_for_image(const char *image_path) {
    size_t n = strlen(image_path);
    char *out = malloc(n + 8);
    if (!out) return NULL;
    memcpy(out, image_path, n + 1);
    /* The last "/images/" (or a leading "images/") becomes "labels". */
    char *hit = NULL;
    for (char *s = out; (s = strstr(s, "/images/")); s++)
        hit = s;
    if (hit)
        memcpy(hit + 1, "labels", 6);
    else if (strncmp(out, "images/", 7) == 0)
        memcpy(out, "labels", 6);
    char *slash = strrchr(out, '/');
    char *dot = strrchr(out, '.');
    if (!dot || (slash && dot < slash)) dot = out + strlen(out);
    strcpy(dot, ".txt");
    return out;
}

/* np.linspace(0, stop, num)[k]: k * step, with the last value exactly stop. */
static double linspace_at(double stop, int num, int k) {
    if (num <= 1) return 0;
    if (k == num - 1) return stop;
    return (double)k * (stop / (double)(num - 1));
}

static double interp_closed(const float *pts, int m, int coord, double x) {
    /* np.interp over xp = 0..m-1 with fp the closed polygon's coordinate; pts has m points. */
    if (x <= 0) return pts[coord];
    if (x >= m - 1) return pts[2 * (m - 1) + coord];
    int j = (int)floor(x);
    double a = pts[2 * j + coord], b = pts[2 * (j + 1) + coord];
    return (b - a) * (x - (double)j) + a;
}

yolo_status labels_resample_segments(sample *s, int n) {
    if (!s->seg_start || s->n == 0) return YOLO_OK;
    int longest = 0;
    for (int k = 0; k < s->n; k++)
        if (sample_seg_len(s, k) > longest) longest = sample_seg_len(s, k);
    if (n < longest) n = longest + 1;
    sample out;
    sample_init(&out);
    float *closed = NULL, *res = malloc(sizeof *res * 2 * (size_t)n);
    double *xs = malloc(sizeof *xs * (size_t)n);
    yolo_status st = (!res || !xs) ? yolo_error(YOLO_ERR_NOMEM, "labels: out of memory") : YOLO_OK;
    for (int k = 0; k < s->n && !st; k++) {
        int len = sample_seg_len(s, k);
        const float *src = s->seg_xy + 2 * (size_t)s->seg_start[k];
        if (len == n) {
            st = sample_add(&out, s->cls[k], s->boxes + 4 * k, src, len);
            continue;
        }
        int m = len + 1;
        float *nc = realloc(closed, sizeof *closed * 2 * (size_t)m);
        if (!nc) {
            st = yolo_error(YOLO_ERR_NOMEM, "labels: out of memory");
            break;
        }
        closed = nc;
        memcpy(closed, src, sizeof *closed * 2 * (size_t)len);
        closed[2 * len] = src[0], closed[2 * len + 1] = src[1];
        int nx = 0;
        if (m < n) {
            /* n - m evenly spaced positions plus the original integer positions, each original point
             * inserted before equal positions (np.insert at np.searchsorted(x, xp), side left). */
            int nl = n - m, a = 0;
            for (int j = 0; j < m; j++) {
                while (a < nl && linspace_at(m - 1, nl, a) < (double)j)
                    xs[nx++] = linspace_at(m - 1, nl, a++);
                xs[nx++] = j;
            }
            while (a < nl)
                xs[nx++] = linspace_at(m - 1, nl, a++);
        } else {
            for (int j = 0; j < n; j++)
                xs[nx++] = linspace_at(m - 1, n, j);
        }
        for (int j = 0; j < nx; j++) {
            res[2 * j] = (float)interp_closed(closed, m, 0, xs[j]);
            res[2 * j + 1] = (float)interp_closed(closed, m, 1, xs[j]);
        }
        st = sample_add(&out, s->cls[k], s->boxes + 4 * k, res, nx);
    }
    free(closed);
    free(res);
    free(xs);
    if (st) {
        sample_free(&out);
        return st;
    }
    /* Only the labels change: move them over, keep everything else of s. */
    int *cls = s->cls, *ss = s->seg_start;
    float *boxes = s->boxes, *xy = s->seg_xy;
    s->cls = out.cls, s->boxes = out.boxes, s->seg_start = out.seg_start, s->seg_xy = out.seg_xy;
    s->cap = out.cap, s->seg_cap = out.seg_cap, s->n = out.n;
    out.cls = cls, out.boxes = boxes, out.seg_start = ss, out.seg_xy = xy;
    sample_free(&out);
    return YOLO_OK;
}
