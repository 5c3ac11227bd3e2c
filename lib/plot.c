/* Charts as matplotlib draws them for Ultralytics (see include/yolo/plot.h): a figure of given inches
 * and dpi, axes with matplotlib's tick choice (MaxNLocator: steps 1, 2, 2.5, 5, 10), 11 pt text
 * (Ultralytics' plt_settings), the tab10 colour cycle, legends, and a tight layout of the panels. */
#include "yolo/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/canvas.h"

#define FONT_PT 11.0
#define RESULTS_PLOT_MAX 16 /* loss or metric columns */
static const uint32_t tab10[10] = {0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                   0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF};
#define BLACK 0x000000
#define BLUE 0x0000FF
#define GREY 0x808080

typedef struct {
    canvas *c;
    double dpi;
} fig;

/* points to pixels */
static double pt(const fig *f, double p) {
    return p * f->dpi / 72.0;
}

static yolo_status fig_new(double w_in, double h_in, double dpi, fig *f) {
    f->dpi = dpi;
    return canvas_new((int)lround(w_in * dpi), (int)lround(h_in * dpi), &f->c);
}

/* ------------------------------------------------------------------ axes */

typedef struct {
    double x, y, w, h;     /* pixel box */
    double x0, x1, y0, y1; /* data limits */
} axes;

static double map_x(const axes *a, double v) {
    return a->x + (v - a->x0) / (a->x1 - a->x0) * a->w;
}
static double map_y(const axes *a, double v) {
    return a->y + a->h - (v - a->y0) / (a->y1 - a->y0) * a->h;
}

/* matplotlib's nonsingular(): an empty range grows by 5% of its value (or +-0.05 at 0) */
static void nonsingular(double *lo, double *hi) {
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0, *hi = 1;
        return;
    }
    if (*hi - *lo <= 1e-12 * fmax(fabs(*lo), fabs(*hi))) {
        if (*lo == 0 && *hi == 0)
            *lo = -0.05, *hi = 0.05;
        else
            *lo -= 0.05 * fabs(*lo), *hi += 0.05 * fabs(*hi);
    }
}

/* autoscale with matplotlib's 5% margins */
static void data_limits(const double *v, int n, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) a = fmin(a, v[i]), b = fmax(b, v[i]);
    if (a > b) a = 0, b = 1;
    nonsingular(&a, &b);
    double m = (b - a) * 0.05;
    *lo = a - m, *hi = b + m;
}

#define MAX_TICKS 48
typedef struct {
    int n;
    double v[MAX_TICKS];
    char s[MAX_TICKS][40];
} ticks;

/* Decimals that print every multiple of step exactly. */
static int decimals_for(double step) {
    int d = 0;
    while (d < 8) {
        double s = step * pow(10, d);
        if (fabs(s - round(s)) < 1e-6 * fmax(1, s)) break;
        d++;
    }
    return d;
}

/* A number as matplotlib's ScalarFormatter prints it, with a proper minus sign. */
static void tick_text(double v, int decimals, char *out, size_t cap) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.*f", decimals, fabs(v) < 1e-12 ? 0.0 : v);
    if (buf[0] == '-')
        snprintf(out, cap, "\xe2\x88\x92%s", buf + 1);
    else
        snprintf(out, cap, "%s", buf);
}

/* MaxNLocator: the first step of 1, 2, 2.5, 5, 10 x 10^k at least (hi - lo) / nbins that shows at least
 * two ticks inside [lo, hi]. */
static void ticks_auto(double lo, double hi, int nbins, ticks *t) {
    static const double steps[] = {0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100};
    t->n = 0;
    if (!(hi > lo) || nbins < 1) return;
    double raw = (hi - lo) / nbins, scale = pow(10, floor(log10(raw)));
    double step = 0;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        double s = steps[i] * scale;
        if (s < raw * (1 - 1e-9)) continue;
        int visible = (int)(floor(hi / s + 1e-9) - ceil(lo / s - 1e-9)) + 1;
        if (!step) step = s;
        if (visible >= 2) {
            step = s;
            break;
        }
    }
    int d = decimals_for(step);
    for (double k = ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && t->n < MAX_TICKS; k++) {
        t->v[t->n] = k * step;
        tick_text(k * step, d, t->s[t->n], sizeof t->s[t->n]);
        t->n++;
    }
}

/* Ticks at 0..n-1 labelled with names (categorical axes). */
static void ticks_names(const char *const *names, int n, ticks *t) {
    t->n = n < MAX_TICKS ? n : MAX_TICKS;
    for (int i = 0; i < t->n; i++) {
        t->v[i] = i;
        snprintf(t->s[i], sizeof t->s[i], "%s", names[i] ? names[i] : "");
    }
}

/* matplotlib's tick space: an x axis fits a label every 3 font sizes, a y axis every 2, 1..9 bins */
static int tick_bins(const fig *f, double length_px, bool xaxis) {
    int n = (int)floor(length_px * 72 / f->dpi / (FONT_PT * (xaxis ? 3 : 2)));
    return n < 1 ? 1 : n > 9 ? 9 : n;
}

static double widest(const fig *f, const ticks *t, double size_px) {
    double w = 0;
    for (int i = 0; i < t->n; i++)
        w = fmax(w, canvas_text_width(f->c, t->s[i], size_px, CANVAS_REGULAR));
    return w;
}

enum { SPINE_LEFT = 1, SPINE_RIGHT = 2, SPINE_TOP = 4, SPINE_BOTTOM = 8, SPINES_ALL = 15 };

static void draw_spines(const fig *f, const axes *a, int which) {
    double lw = pt(f, 0.8);
    if (which & SPINE_LEFT) canvas_line(f->c, a->x, a->y, a->x, a->y + a->h, lw, BLACK);
    if (which & SPINE_RIGHT) canvas_line(f->c, a->x + a->w, a->y, a->x + a->w, a->y + a->h, lw, BLACK);
    if (which & SPINE_TOP) canvas_line(f->c, a->x, a->y, a->x + a->w, a->y, lw, BLACK);
    if (which & SPINE_BOTTOM) canvas_line(f->c, a->x, a->y + a->h, a->x + a->w, a->y + a->h, lw, BLACK);
}

/* Tick marks outside the bottom edge and their labels (rotated 90 degrees when rot); returns how far
 * below the axes the labels reach. */
static double draw_xticks(const fig *f, const axes *a, const ticks *t, double size_pt, bool rot) {
    double len = pt(f, 3.5), pad = pt(f, 3.5), size = pt(f, size_pt), lw = pt(f, 0.8), reach = len + pad;
    double y = a->y + a->h;
    for (int i = 0; i < t->n; i++) {
        double x = map_x(a, t->v[i]);
        if (x < a->x - 0.5 || x > a->x + a->w + 0.5) continue;
        canvas_line(f->c, x, y, x, y + len, lw, BLACK);
        if (rot) {
            canvas_text(f->c, x, y + len + pad, t->s[i], size, BLACK, CANVAS_REGULAR, 1, 0.5, 90);
            reach = fmax(reach, len + pad + canvas_text_width(f->c, t->s[i], size, CANVAS_REGULAR));
        } else {
            canvas_text(f->c, x, y + len + pad, t->s[i], size, BLACK, CANVAS_REGULAR, 0.5, 0, 0);
            reach = fmax(reach, len + pad + canvas_line_height(f->c, size, CANVAS_REGULAR));
        }
    }
    return reach;
}

/* Tick marks left of the axes (or right of it, for a colour bar) and their labels; returns the width. */
static double draw_yticks(const fig *f, const axes *a, const ticks *t, double size_pt, bool right) {
    double len = pt(f, 3.5), pad = pt(f, 3.5), size = pt(f, size_pt), lw = pt(f, 0.8);
    double x = right ? a->x + a->w : a->x, dir = right ? 1 : -1;
    for (int i = 0; i < t->n; i++) {
        double y = map_y(a, t->v[i]);
        if (y < a->y - 0.5 || y > a->y + a->h + 0.5) continue;
        canvas_line(f->c, x, y, x + dir * len, y, lw, BLACK);
        canvas_text(f->c, x + dir * (len + pad), y, t->s[i], size, BLACK, CANVAS_REGULAR, right ? 0 : 1, 0.5,
                    0);
    }
    return len + pad + widest(f, t, size);
}

static void draw_title(const fig *f, const axes *a, const char *text, double size_pt, double pad_pt) {
    canvas_text(f->c, a->x + a->w / 2, a->y - pt(f, pad_pt), text, pt(f, size_pt), BLACK, CANVAS_REGULAR, 0.5,
                1, 0);
}

static void draw_xlabel(const fig *f, const axes *a, const char *text, double below, double size_pt,
                        double pad_pt) {
    canvas_text(f->c, a->x + a->w / 2, a->y + a->h + below + pt(f, pad_pt), text, pt(f, size_pt), BLACK,
                CANVAS_REGULAR, 0.5, 0, 0);
}

static void draw_ylabel(const fig *f, const axes *a, const char *text, double left, double size_pt,
                        double pad_pt) {
    canvas_text(f->c, a->x - left - pt(f, pad_pt), a->y + a->h / 2, text, pt(f, size_pt), BLACK,
                CANVAS_REGULAR, 0.5, 1, 90);
}

/* ------------------------------------------------------------------ legends */

typedef struct {
    const char *label;
    uint32_t rgb;
    double lw_pt;
    canvas_dash dash;
    bool marker;
} legend_entry;

typedef struct {
    double w, h; /* box */
    double fs, pad, handle, gap, row;
} legend_geom;

static legend_geom legend_measure(const fig *f, const legend_entry *e, int n) {
    legend_geom g;
    g.fs = pt(f, FONT_PT);
    g.pad = 0.4 * g.fs, g.handle = 2.0 * g.fs, g.gap = 0.8 * g.fs;
    g.row = canvas_line_height(f->c, g.fs, CANVAS_REGULAR);
    double tw = 0;
    for (int i = 0; i < n; i++)
        tw = fmax(tw, canvas_text_width(f->c, e[i].label, g.fs, CANVAS_REGULAR));
    g.w = 2 * g.pad + g.handle + g.gap + tw;
    g.h = 2 * g.pad + n * g.row + (n - 1) * 0.5 * g.fs;
    return g;
}

static void legend_draw(const fig *f, const legend_entry *e, int n, const legend_geom *g, double x,
                        double y) {
    /* matplotlib's frame: white at 80%, a light grey edge */
    canvas_fill_rect(f->c, x, y, g->w, g->h, 0xFFFFFF, 0.8);
    canvas_stroke_rect(f->c, x, y, g->w, g->h, pt(f, 1.0) < 1 ? 1 : pt(f, 1.0), 0xCCCCCC);
    for (int i = 0; i < n; i++) {
        double cy = y + g->pad + i * (g->row + 0.5 * g->fs) + g->row / 2;
        double hx[2] = {x + g->pad, x + g->pad + g->handle}, hy[2] = {cy, cy};
        canvas_path(f->c, hx, hy, 2, pt(f, e[i].lw_pt), e[i].rgb, e[i].dash);
        if (e[i].marker) {
            double mx = (hx[0] + hx[1]) / 2;
            canvas_dots(f->c, &mx, &cy, 1, pt(f, 2.5), e[i].rgb);
        }
        canvas_text(f->c, hx[1] + g->gap, cy, e[i].label, g->fs, BLACK, CANVAS_REGULAR, 0, 0.5, 0);
    }
}

/* loc='best': matplotlib's candidate places in its order, the one covering the fewest data points. */
static void legend_best(const fig *f, const axes *a, const legend_entry *e, int n, const double *const *xs,
                        const double *const *ys, const int *lens, int nseries) {
    legend_geom g = legend_measure(f, e, n);
    double m = 0.5 * g.fs; /* borderaxespad */
    double L = a->x + m, R = a->x + a->w - m - g.w, T = a->y + m, B = a->y + a->h - m - g.h;
    double CX = a->x + (a->w - g.w) / 2, CY = a->y + (a->h - g.h) / 2;
    const double cand[9][2] = {{R, T}, {L, T}, {L, B}, {R, B}, {R, CY}, {L, CY}, {R, CY}, {CX, B}, {CX, T}};
    int best = 0;
    long best_bad = -1;
    for (int k = 0; k < 9; k++) {
        long bad = 0;
        for (int s = 0; s < nseries; s++)
            for (int i = 0; i < lens[s]; i++) {
                double px = map_x(a, xs[s][i]), py = map_y(a, ys[s][i]);
                bad +=
                    px >= cand[k][0] && px <= cand[k][0] + g.w && py >= cand[k][1] && py <= cand[k][1] + g.h;
            }
        if (best_bad < 0 || bad < best_bad) best_bad = bad, best = k;
    }
    legend_draw(f, e, n, &g, cand[best][0], cand[best][1]);
}

/* ------------------------------------------------------------------ results.png */

typedef struct {
    int ncol, nrow;
    char **names;
    double *v; /* nrow x ncol */
} table;

static void table_free(table *t) {
    for (int c = 0; c < t->ncol; c++)
        free(t->names[c]);
    free(t->names);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* A CSV of numbers with a header line (results.csv). Empty or unparsable cells are NaN. */
static yolo_status table_read(const char *path, table *t) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) return yolo_error(YOLO_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    yolo_status st = YOLO_OK;
    if (getline(&line, &cap, f) < 0) st = yolo_error(YOLO_ERR_FORMAT, "%s: empty (no header line)", path);
    for (char *p = line, *tok; st == YOLO_OK && (tok = strsep(&p, ","));) {
        char **nn = realloc(t->names, sizeof *nn * (t->ncol + 1));
        char *name = nn ? strdup(trim(tok)) : NULL;
        if (nn) t->names = nn;
        if (!name)
            st = yolo_nomem();
        else
            t->names[t->ncol++] = name;
    }
    size_t rows_cap = 0;
    while (st == YOLO_OK && getline(&line, &cap, f) >= 0) {
        if (!*trim(line)) continue;
        if ((size_t)t->nrow == rows_cap) {
            rows_cap = rows_cap ? 2 * rows_cap : 64;
            double *v = realloc(t->v, sizeof *v * rows_cap * t->ncol);
            if (!v) {
                st = yolo_nomem();
                break;
            }
            t->v = v;
        }
        double *row = t->v + (size_t)t->nrow * t->ncol;
        char *p = line, *tok;
        for (int c = 0; c < t->ncol; c++) {
            tok = p ? strsep(&p, ",") : NULL;
            char *e = NULL;
            row[c] = tok ? strtod(trim(tok), &e) : NAN;
            if (!tok || e == tok) row[c] = NAN;
        }
        t->nrow++;
    }
    free(line);
    fclose(f);
    if (st != YOLO_OK) table_free(t);
    return st;
}

void plot_gaussian_filter(const double *y, int n, double sigma, double *out) {
    int r = (int)(4.0 * sigma + 0.5);
    double w[2 * 64 + 1], sum = 0;
    if (r > 64) r = 64;
    for (int k = -r; k <= r; k++)
        sum += w[k + r] = exp(-0.5 * k * k / (sigma * sigma));
    for (int k = 0; k <= 2 * r; k++)
        w[k] /= sum;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = -r; k <= r; k++) {
            /* scipy's 'reflect': d c b a | a b c d | d c b a */
            long j = i + k, p = 2L * n;
            j %= p;
            if (j < 0) j += p;
            if (j >= n) j = p - 1 - j;
            s += w[k + r] * y[j];
        }
        out[i] = s;
    }
}

static void panel_series(const fig *f, const axes *a, const double *x, const double *y, const double *ys,
                         int n) {
    double *px = malloc(sizeof *px * 2 * (size_t)(n + 1));
    if (!px) return;
    double *py = px + n + 1;
    canvas_clip(f->c, a->x, a->y, a->w, a->h);
    for (int i = 0; i < n; i++)
        px[i] = map_x(a, x[i]), py[i] = map_y(a, y[i]);
    canvas_path(f->c, px, py, n, pt(f, 2), tab10[0], CANVAS_SOLID);
    canvas_dots(f->c, px, py, n, pt(f, 2.5), tab10[0]);
    for (int i = 0; i < n; i++)
        py[i] = map_y(a, ys[i]);
    canvas_path(f->c, px, py, n, pt(f, 2), tab10[1], CANVAS_DOTTED);
    canvas_unclip(f->c);
    free(px);
}

yolo_status plot_results(const char *csv_path, const char *out_path) {
    table t;
    yolo_status st = table_read(csv_path, &t);
    if (st != YOLO_OK) return st;
    int loss[RESULTS_PLOT_MAX], metric[RESULTS_PLOT_MAX], nl = 0, nm = 0, cols[2 * RESULTS_PLOT_MAX], n = 0;
    for (int c = 1; c < t.ncol; c++) {
        if (strstr(t.names[c], "loss") && nl < RESULTS_PLOT_MAX)
            loss[nl++] = c;
        else if (strstr(t.names[c], "metric") && nm < RESULTS_PLOT_MAX)
            metric[nm++] = c;
    }
    /* the first half of the losses (train) and of the metrics on top, the other halves below */
    for (int i = 0; i < nl / 2; i++)
        cols[n++] = loss[i];
    for (int i = 0; i < nm / 2; i++)
        cols[n++] = metric[i];
    for (int i = nl / 2; i < nl; i++)
        cols[n++] = loss[i];
    for (int i = nm / 2; i < nm; i++)
        cols[n++] = metric[i];
    if (n == 0) {
        table_free(&t);
        return yolo_error(YOLO_ERR_FORMAT, "%s: no loss or metric columns to plot", csv_path);
    }
    if (t.nrow == 0) {
        table_free(&t);
        return yolo_error(YOLO_ERR_FORMAT, "%s: no rows to plot", csv_path);
    }
    int per_row = (n + 1) / 2;
    fig f;
    if ((st = fig_new(n + 2, 6, 200, &f)) != YOLO_OK) {
        table_free(&t);
        return st;
    }
    int rows = t.nrow;
    double *x = malloc(sizeof *x * 3 * (size_t)rows);
    if (!x) {
        canvas_free(f.c);
        table_free(&t);
        return yolo_nomem();
    }
    double *y = x + rows, *ys = y + rows;
    for (int r = 0; r < rows; r++)
        x[r] = t.v[(size_t)r * t.ncol];
    double W = canvas_width(f.c), H = canvas_height(f.c), cw = W / per_row, ch = H / 2;
    double tick = pt(&f, FONT_PT), edge = pt(&f, 1.08 * FONT_PT) / 2;
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < rows; r++)
            y[r] = t.v[(size_t)r * t.ncol + cols[i]];
        plot_gaussian_filter(y, rows, 3.0, ys);
        axes a;
        data_limits(x, rows, &a.x0, &a.x1);
        double both_lo, both_hi, lo2, hi2;
        data_limits(y, rows, &both_lo, &both_hi);
        data_limits(ys, rows, &lo2, &hi2);
        a.y0 = fmin(both_lo, lo2), a.y1 = fmax(both_hi, hi2);
        /* the layout: room for the y tick labels, the title above and the x tick labels below */
        ticks tx, ty;
        ticks_auto(a.y0, a.y1, tick_bins(&f, ch * 0.7, false), &ty);
        double left = pt(&f, 7) + widest(&f, &ty, tick) + edge;
        double top = pt(&f, 6) + canvas_line_height(f.c, pt(&f, 12), CANVAS_REGULAR) + edge;
        double bottom = pt(&f, 7) + canvas_line_height(f.c, tick, CANVAS_REGULAR) + edge;
        int col = i % per_row, row = i / per_row;
        a.x = col * cw + left, a.y = row * ch + top;
        a.w = cw - left - edge - pt(&f, 6), a.h = ch - top - bottom;
        ticks_auto(a.x0, a.x1, tick_bins(&f, a.w, true), &tx);
        ticks_auto(a.y0, a.y1, tick_bins(&f, a.h, false), &ty);
        panel_series(&f, &a, x, y, ys, rows);
        draw_spines(&f, &a, SPINES_ALL);
        draw_xticks(&f, &a, &tx, FONT_PT, false);
        draw_yticks(&f, &a, &ty, FONT_PT, false);
        draw_title(&f, &a, t.names[cols[i]], 12, 6);
        if (i == 1) {
            legend_entry e[2] = {{"results", tab10[0], 2, CANVAS_SOLID, true},
                                 {"smooth", tab10[1], 2, CANVAS_DOTTED, false}};
            const double *xs[2] = {x, x}, *yv[2] = {y, ys};
            int lens[2] = {rows, rows};
            legend_best(&f, &a, e, 2, xs, yv, lens, 2);
        }
    }
    free(x);
    table_free(&t);
    st = canvas_save(f.c, out_path);
    canvas_free(f.c);
    return st;
}

/* ------------------------------------------------------------------ colour maps */

static uint32_t lerp_rgb(const uint32_t *stops, int n, double t) {
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    double p = t * (n - 1);
    int i = (int)p;
    if (i >= n - 1) i = n - 2;
    double u = p - i;
    uint32_t a = stops[i], b = stops[i + 1], out = 0;
    for (int s = 16; s >= 0; s -= 8) {
        double v = (a >> s & 255) * (1 - u) + (b >> s & 255) * u;
        out |= (uint32_t)lround(v) << s;
    }
    return out;
}

/* matplotlib's "Blues" (ColorBrewer) */
static uint32_t blues(double t) {
    static const uint32_t stops[9] = {0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6,
                                      0x4292C6, 0x2171B5, 0x08519C, 0x08306B};
    return lerp_rgb(stops, 9, t);
}

/* Ultralytics' labels.jpg map: white to blue */
static uint32_t white_blue(double t) {
    static const uint32_t stops[2] = {0xFFFFFF, 0x0000FF};
    return lerp_rgb(stops, 2, t);
}

/* ------------------------------------------------------------------ labels.jpg */

/* hist2d: counts in bins x bins cells over the data's range, drawn as cells of the colour map */
static void hist2d(const fig *f, axes *a, const float *xywhn, int64_t n, int xi, int yi, const char *xl,
                   const char *yl) {
    enum { BINS = 50 };
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double u = xywhn[4 * i + xi], v = xywhn[4 * i + yi];
        x0 = fmin(x0, u), x1 = fmax(x1, u), y0 = fmin(y0, v), y1 = fmax(y1, v);
    }
    if (n == 0) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    /* numpy's histogram range: an empty one grows by 0.5 each way */
    if (x1 <= x0) x0 -= 0.5, x1 += 0.5;
    if (y1 <= y0) y0 -= 0.5, y1 += 0.5;
    double cnt[BINS][BINS];
    memset(cnt, 0, sizeof cnt);
    double top = 0;
    for (int64_t i = 0; i < n; i++) {
        int bx = (int)((xywhn[4 * i + xi] - x0) / (x1 - x0) * BINS),
            by = (int)((xywhn[4 * i + yi] - y0) / (y1 - y0) * BINS);
        bx = bx < 0 ? 0 : bx >= BINS ? BINS - 1 : bx;
        by = by < 0 ? 0 : by >= BINS ? BINS - 1 : by;
        top = fmax(top, ++cnt[bx][by]);
    }
    a->x0 = x0, a->x1 = x1, a->y0 = y0, a->y1 = y1;
    for (int i = 0; i < BINS; i++)
        for (int j = 0; j < BINS; j++) {
            double cx0 = map_x(a, x0 + (x1 - x0) * i / BINS), cx1 = map_x(a, x0 + (x1 - x0) * (i + 1) / BINS);
            double cy0 = map_y(a, y0 + (y1 - y0) * (j + 1) / BINS), cy1 = map_y(a, y0 + (y1 - y0) * j / BINS);
            canvas_fill_rect(f->c, floor(cx0), floor(cy0), ceil(cx1) - floor(cx0), ceil(cy1) - floor(cy0),
                             white_blue(top > 0 ? cnt[i][j] / top : 0), 1);
        }
    ticks tx, ty;
    ticks_auto(x0, x1, tick_bins(f, a->w, true), &tx);
    ticks_auto(y0, y1, tick_bins(f, a->h, false), &ty);
    double below = draw_xticks(f, a, &tx, FONT_PT, false);
    double left = draw_yticks(f, a, &ty, FONT_PT, false);
    draw_xlabel(f, a, xl, below, FONT_PT, 4);
    draw_ylabel(f, a, yl, left, FONT_PT, 4);
}

yolo_status plot_labels(const float *xywhn, const int *cls, int64_t n, const char *const *names, int nc,
                        const char *out_path) {
    fig f;
    yolo_status st = fig_new(8, 8, 200, &f);
    if (st != YOLO_OK) return st;
    /* as Ultralytics: the histogram has a bar per class up to the highest present */
    int nb = 0;
    for (int64_t i = 0; i < n; i++)
        if (cls[i] + 1 > nb) nb = cls[i] + 1;
    double *count = calloc((size_t)(nb > nc ? nb : nc) + 1, sizeof *count);
    if (!count) {
        canvas_free(f.c);
        return yolo_nomem();
    }
    double top = 0;
    for (int64_t i = 0; i < n; i++)
        top = fmax(top, ++count[cls[i]]);
    double W = canvas_width(f.c), cell = W / 2, edge = pt(&f, 1.08 * FONT_PT) / 2;
    double tick = pt(&f, FONT_PT), small = pt(&f, 10);
    bool named = nc > 0 && nc < 30 && names;
    int nx = named && nc > nb ? nc : nb;
    /* panel 0: instances per class, coloured by class, with the counts on the bars */
    ticks tn, ty;
    if (named)
        ticks_names(names, nc, &tn);
    else
        tn.n = 0;
    double name_w = named ? widest(&f, &tn, small) : canvas_line_height(f.c, tick, CANVAS_REGULAR);
    axes a = {0};
    a.x0 = -0.5 - 0.05 * (nx ? nx : 1), a.x1 = nx - 0.5 + 0.05 * (nx ? nx : 1);
    a.y0 = 0, a.y1 = top > 0 ? top * 1.05 : 1;
    ticks_auto(a.y0, a.y1, tick_bins(&f, cell * 0.7, false), &ty);
    double left =
        pt(&f, 7) + widest(&f, &ty, tick) + canvas_line_height(f.c, tick, CANVAS_REGULAR) + pt(&f, 4) + edge;
    double bottom =
        pt(&f, 7) + name_w + (named ? 0 : pt(&f, 4) + canvas_line_height(f.c, tick, CANVAS_REGULAR)) + edge;
    a.x = left, a.y = edge + canvas_line_height(f.c, tick, CANVAS_REGULAR);
    a.w = cell - left - edge, a.h = cell - a.y - bottom;
    ticks_auto(a.y0, a.y1, tick_bins(&f, a.h, false), &ty);
    for (int c = 0; c < nb; c++) {
        if (count[c] <= 0) continue;
        double bx0 = map_x(&a, c - 0.4), bx1 = map_x(&a, c + 0.4), by = map_y(&a, count[c]);
        canvas_fill_rect(f.c, bx0, by, bx1 - bx0, map_y(&a, 0) - by, canvas_class_color(c), 1);
        char num[32];
        snprintf(num, sizeof num, "%.0f", count[c]);
        canvas_text(f.c, (bx0 + bx1) / 2, by - pt(&f, 1), num, tick, BLACK, CANVAS_REGULAR, 0.5, 1, 0);
    }
    double lw = draw_yticks(&f, &a, &ty, FONT_PT, false);
    draw_ylabel(&f, &a, "instances", lw, FONT_PT, 4);
    if (named)
        draw_xticks(&f, &a, &tn, 10, true);
    else {
        ticks tx;
        ticks_auto(a.x0, a.x1, tick_bins(&f, a.w, true), &tx);
        draw_xlabel(&f, &a, "classes", draw_xticks(&f, &a, &tx, FONT_PT, false), FONT_PT, 4);
    }
    /* panel 1: the boxes' outlines, all centred, on a 1000 x 1000 white square without axes */
    double side = cell - 2 * edge - pt(&f, 20);
    double sx = cell + (cell - side) / 2, sy = (cell - side) / 2, k = side / 1000;
    for (int64_t i = 0; i < n && i < 500; i++) {
        double w = xywhn[4 * i + 2] * 1000, h = xywhn[4 * i + 3] * 1000;
        double bx = (0.5 * 1000 - w / 2) * k, by = (0.5 * 1000 - h / 2) * k;
        canvas_stroke_rect(f.c, sx + bx, sy + by, w * k + 1, h * k + 1, fmax(1, k),
                           canvas_class_color(cls[i]));
    }
    /* panels 2 and 3: where the boxes are and how big */
    double hleft =
        pt(&f, 7) + widest(&f, &ty, tick) + canvas_line_height(f.c, tick, CANVAS_REGULAR) + pt(&f, 4) + edge;
    double hbottom = pt(&f, 11) + 2 * canvas_line_height(f.c, tick, CANVAS_REGULAR) + edge;
    for (int p = 0; p < 2; p++) {
        axes h = {0};
        h.x = p * cell + hleft, h.y = cell + edge + pt(&f, 6);
        h.w = cell - hleft - edge - pt(&f, 8), h.h = cell - (h.y - cell) - hbottom;
        if (p == 0)
            hist2d(&f, &h, xywhn, n, 0, 1, "x", "y");
        else
            hist2d(&f, &h, xywhn, n, 2, 3, "width", "height");
    }
    free(count);
    st = canvas_save(f.c, out_path);
    canvas_free(f.c);
    return st;
}

/* ------------------------------------------------------------------ confusion matrix */

yolo_status plot_confusion(const confusion *cm, const char *const *names, bool normalize, const char *dir) {
    int n = cm->n;
    bool background = cm->n > cm->nc;
    /* 100 classes or more: every k-th row and column, as Ultralytics */
    int k = cm->nc >= 100 ? (cm->nc / 60 > 2 ? cm->nc / 60 : 2) : 1;
    int shown_cls = (cm->nc + k - 1) / k, m = shown_cls + (background ? 1 : 0);
    double *v = malloc(sizeof *v * (size_t)m * m);
    const char **tl = calloc((size_t)m, sizeof *tl);
    if (!v || !tl) {
        free(v), free(tl);
        return yolo_nomem();
    }
    /* rows and columns kept: 0, k, 2k, ... of the classes, then background */
    for (int i = 0; i < m; i++) {
        int ri = i < shown_cls ? i * k : n - 1;
        tl[i] = i < shown_cls ? names[ri] : "background";
        for (int j = 0; j < m; j++) {
            int cj = j < shown_cls ? j * k : n - 1;
            double colsum = 0;
            for (int r = 0; r < n; r++)
                colsum += cm->counts[(size_t)r * n + cj];
            double x = cm->counts[(size_t)ri * n + cj] / (normalize ? colsum + 1e-9 : 1);
            v[(size_t)i * m + j] = x < 0.005 ? NAN : x;
        }
    }
    double vmax = 0;
    for (int i = 0; i < m * m; i++)
        if (isfinite(v[i])) vmax = fmax(vmax, v[i]);
    fig f;
    yolo_status st = fig_new(12, 9, 250, &f);
    if (st != YOLO_OK) {
        free(v), free(tl);
        return st;
    }
    double W = canvas_width(f.c), H = canvas_height(f.c);
    double tick_pt = fmax(6, 15 - 0.1 * m), label_pt = fmax(6, 12 - 0.1 * m),
           title_pt = fmax(6, 12 - 0.1 * m);
    double btm = fmax(0.1, 0.25 - 0.001 * m);
    /* subplots_adjust(left=0, right=0.84, top=0.94, bottom=btm); the colour bar takes 4.6% of the width
     * after a 5% gap; the matrix is square, centred in what is left */
    double rx = 0, rw = 0.84 * W, ry = 0.06 * H, rh = (0.94 - btm) * H;
    double pw = rw * (1 - 0.046 - 0.05), side = fmin(pw, rh);
    axes a = {.x = rx + (pw - side) / 2, .y = ry + (rh - side) / 2, .w = side, .h = side};
    /* the tick names and "Predicted" must stay inside the picture */
    ticks tn;
    ticks_names(tl, m, &tn);
    double need = pt(&f, 3.5 + 3.5 + 10) + (m < 99 ? widest(&f, &tn, pt(&f, tick_pt)) : 0) +
                  canvas_line_height(f.c, pt(&f, label_pt), CANVAS_REGULAR) + pt(&f, 4);
    if (a.x < need) {
        double shift = need - a.x;
        a.x = need;
        if (a.x + a.w > rx + pw) a.w = a.h = side = fmax(pw - shift, side / 2), a.y = ry + (rh - side) / 2;
    }
    a.x0 = -0.5, a.x1 = m - 0.5, a.y0 = m - 0.5, a.y1 = -0.5; /* row 0 at the top */
    double cell = side / m;
    double fs = pt(&f, 10);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            double x = v[(size_t)i * m + j];
            if (!isfinite(x)) continue;
            double cx0 = floor(a.x + j * cell), cy0 = floor(a.y + i * cell);
            canvas_fill_rect(f.c, cx0, cy0, floor(a.x + (j + 1) * cell) - cx0,
                             floor(a.y + (i + 1) * cell) - cy0, blues(vmax > 0 ? x / vmax : 0), 1);
            if (m < 30) {
                char s[32];
                if (normalize)
                    snprintf(s, sizeof s, "%.2f", x);
                else
                    snprintf(s, sizeof s, "%d", (int)x);
                double thr = 0.45 * (normalize ? 1 : vmax);
                canvas_text(f.c, a.x + (j + 0.5) * cell, a.y + (i + 0.5) * cell, s, fs,
                            x > thr ? 0xFFFFFF : BLACK, CANVAS_REGULAR, 0.5, 0.5, 0);
            }
        }
    double below = 0, left = 0;
    if (m < 99) {
        below = draw_xticks(&f, &a, &tn, tick_pt, true);
        left = draw_yticks(&f, &a, &tn, tick_pt, false);
    }
    draw_xlabel(&f, &a, "True", below, label_pt, 10);
    draw_ylabel(&f, &a, "Predicted", left, label_pt, 10);
    const char *title = normalize ? "Confusion Matrix Normalized" : "Confusion Matrix";
    draw_title(&f, &a, title, title_pt, 20);
    /* the colour bar: 20 times as tall as wide, from 0 to the largest value */
    axes cb = {0};
    /* whole pixels, so that its one-pixel rows do not blend into each other */
    cb.h = round(rh), cb.w = round(fmin(rw * 0.046, rh / 20));
    cb.x = round(rx + rw * (1 - 0.046)), cb.y = round(ry);
    cb.x0 = 0, cb.x1 = 1, cb.y0 = 0, cb.y1 = vmax > 0 ? vmax : 1;
    for (int p = 0; p < (int)cb.h; p++)
        canvas_fill_rect(f.c, cb.x, cb.y + cb.h - p - 1, cb.w, 1, blues((p + 0.5) / cb.h), 1);
    ticks tc;
    ticks_auto(cb.y0, cb.y1, tick_bins(&f, cb.h, false), &tc);
    draw_yticks(&f, &cb, &tc, FONT_PT, true);
    free(v), free(tl);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.png", dir,
             normalize ? "confusion_matrix_normalized" : "confusion_matrix");
    st = canvas_save(f.c, path);
    canvas_free(f.c);
    return st;
}

/* ------------------------------------------------------------------ curves */

typedef enum { CURVE_PR, CURVE_F1, CURVE_P, CURVE_R } curve_kind;

static yolo_status curve_plot(const metrics_ap *ap, const char *const *names, curve_kind kind,
                              const char *path) {
    static const char *const ylabels[] = {"Precision", "F1", "Precision", "Recall"};
    const int N = METRICS_NCURVE;
    const double *rows = kind == CURVE_PR   ? ap->prec_values
                         : kind == CURVE_F1 ? ap->f1_curve
                         : kind == CURVE_P  ? ap->p_curve
                                            : ap->r_curve;
    int nrows = kind == CURVE_PR ? ap->n_prec_rows : ap->n_cls;
    fig f;
    yolo_status st = fig_new(9, 6, 250, &f);
    if (st != YOLO_OK) return st;
    double *mean = calloc(3 * (size_t)N, sizeof *mean);
    legend_entry *e = calloc((size_t)nrows + 1, sizeof *e);
    char(*lab)[160] = calloc((size_t)nrows + 1, sizeof *lab);
    double *px = mean ? mean + N : NULL, *py = mean ? mean + 2 * N : NULL;
    if (!mean || !e || !lab) {
        free(mean), free(e), free(lab);
        canvas_free(f.c);
        return yolo_nomem();
    }
    bool per_class = ap->n_cls > 0 && ap->n_cls < 21;
    int ne = 0;
    for (int r = 0; r < nrows && per_class; r++) {
        const char *nm = r < ap->n_cls ? names[ap->class_index[r]] : "";
        if (kind == CURVE_PR)
            snprintf(lab[ne], sizeof lab[ne], "%s %.3f", nm, r < ap->n_cls ? ap->ap50[r] : 0.0);
        else
            snprintf(lab[ne], sizeof lab[ne], "%s", nm);
        e[ne] = (legend_entry){lab[ne], tab10[r % 10], 1, CANVAS_SOLID, false};
        ne++;
    }
    for (int q = 0; q < N; q++) {
        double s = 0;
        for (int r = 0; r < nrows; r++)
            s += rows ? rows[(size_t)r * N + q] : 0;
        mean[q] = nrows ? s / nrows : 0;
    }
    int best = 0;
    if (kind == CURVE_PR) {
        snprintf(lab[ne], sizeof lab[ne], "all classes %.3f mAP@0.5", ap->map50);
    } else {
        metrics_smooth(mean, N, 0.1, py);
        memcpy(mean, py, sizeof *mean * N);
        for (int q = 1; q < N; q++)
            if (mean[q] > mean[best]) best = q;
        snprintf(lab[ne], sizeof lab[ne], "all classes %.2f at %.3f", mean[best],
                 ap->px ? ap->px[best] : 0.0);
    }
    e[ne] = (legend_entry){lab[ne], BLUE, 3, CANVAS_SOLID, false};
    ne++;
    /* the legend sits right of the axes, top-aligned; the axes take the rest */
    legend_geom g = legend_measure(&f, e, ne);
    double W = canvas_width(f.c), H = canvas_height(f.c), edge = pt(&f, 1.08 * FONT_PT) / 2;
    double tick = pt(&f, FONT_PT), lh = canvas_line_height(f.c, tick, CANVAS_REGULAR);
    axes a = {.x0 = 0, .x1 = 1, .y0 = 0, .y1 = 1};
    a.x = edge + lh + pt(&f, 4) + pt(&f, 7) + canvas_text_width(f.c, "0.0", tick, CANVAS_REGULAR);
    a.y = edge + lh + pt(&f, 6);
    a.w = W - a.x - edge - g.w - 0.04 * (W - a.x - g.w);
    a.h = H - a.y - edge - 2 * lh - pt(&f, 11);
    canvas_clip(f.c, a.x, a.y, a.w, a.h);
    for (int r = 0; r < nrows && rows; r++) {
        for (int q = 0; q < N; q++)
            px[q] = map_x(&a, ap->px ? ap->px[q] : q / (N - 1.0)), py[q] = map_y(&a, rows[(size_t)r * N + q]);
        canvas_path(f.c, px, py, N, pt(&f, 1), per_class ? tab10[r % 10] : GREY, CANVAS_SOLID);
    }
    for (int q = 0; q < N; q++)
        px[q] = map_x(&a, ap->px ? ap->px[q] : q / (N - 1.0)), py[q] = map_y(&a, mean[q]);
    canvas_path(f.c, px, py, N, pt(&f, 3), BLUE, CANVAS_SOLID);
    canvas_unclip(f.c);
    draw_spines(&f, &a, SPINES_ALL);
    ticks tx, ty;
    ticks_auto(0, 1, tick_bins(&f, a.w, true), &tx);
    ticks_auto(0, 1, tick_bins(&f, a.h, false), &ty);
    double below = draw_xticks(&f, &a, &tx, FONT_PT, false), left = draw_yticks(&f, &a, &ty, FONT_PT, false);
    draw_xlabel(&f, &a, kind == CURVE_PR ? "Recall" : "Confidence", below, FONT_PT, 4);
    draw_ylabel(&f, &a, ylabels[kind], left, FONT_PT, 4);
    char title[64];
    if (kind == CURVE_PR)
        snprintf(title, sizeof title, "Precision-Recall Curve");
    else
        snprintf(title, sizeof title, "%s-Confidence Curve", ylabels[kind]);
    draw_title(&f, &a, title, FONT_PT, 6);
    legend_draw(&f, e, ne, &g, a.x + a.w * 1.04, a.y);
    free(mean), free(e), free(lab);
    st = canvas_save(f.c, path);
    canvas_free(f.c);
    return st;
}

yolo_status plot_curves(const metrics_ap *ap, const char *const *names, const char *prefix, const char *dir) {
    static const char *const suffix[] = {"PR", "F1", "P", "R"};
    for (int k = 0; k < 4; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s%s_curve.png", dir, prefix, suffix[k]);
        yolo_status st = curve_plot(ap, names, (curve_kind)k, path);
        if (st != YOLO_OK) return st;
    }
    return YOLO_OK;
}
