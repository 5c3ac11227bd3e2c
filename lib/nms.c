#include "yolo/nms.h"
#include "yolo/args.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inlined max/min (libm's fmaxf/fminf are calls); same result for the finite values that reach them. */
static inline float max_f(float a, float b) {
    return a < b ? b : a;
}
static inline float min_f(float a, float b) {
    return b < a ? b : a;
}

void nms_opts_default(nms_opts *opts) {
    opts->conf_thres = VAL_CONF;
    opts->iou_thres = args_default_num("iou");
    opts->max_det = (int)args_default_num("max_det");
    opts->max_nms = 30000;
    opts->max_wh = 7680.0f;
    opts->multi_label = true;
    opts->agnostic = false;
    opts->keep_class = NULL;
}

void nms_dets_free(nms_dets *dets) {
    if (!dets) return;
    free(dets->rows);
    dets->rows = NULL;
    dets->n = 0;
}

typedef struct {
    int32_t anchor;
    int32_t cls;
    float score;
    int32_t order; /* enumeration index: the tie-breaker that makes the sort stable */
} cand;

static int cand_desc(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->score > b->score) return -1;
    if (a->score < b->score) return 1;
    return (a->order > b->order) - (a->order < b->order);
}

yolo_status nms_run(const float *pred, int nc, int nm, int A, const nms_opts *opts, nms_dets *out) {
    out->n = 0;
    out->cols = 6 + nm;
    out->rows = NULL;
    if (nc < 1 || nm < 0 || A < 0 || !opts)
        return yolo_error(YOLO_ERR_USAGE, "nms: bad shape (nc %d, nm %d, anchors %d)", nc, nm, A);
    if (A == 0) return YOLO_OK;
    /* torch compares a float32 tensor with a Python float in float32 */
    const float conf = (float)opts->conf_thres;
    const bool multi = opts->multi_label && nc > 1;
    const float *cx = pred, *cy = pred + A, *bw = pred + 2 * (size_t)A, *bh = pred + 3 * (size_t)A;
    const float *scores = pred + 4 * (size_t)A;

    /* Two class-major passes (cache friendly on the (nc, A) layout) that still list candidates anchor by
     * anchor, classes ascending: count per anchor, then fill each anchor's slots in class order. */
    int *start = calloc((size_t)A + 1, sizeof *start);
    int *best = multi ? NULL : malloc((size_t)A * sizeof *best);
    if (!start || (!multi && !best)) {
        free(start), free(best);
        return yolo_error(YOLO_ERR_NOMEM, "nms: out of memory for %d anchors", A);
    }
    if (!multi) {
        /* single label: the best class per anchor (first on ties, as torch.max) */
        for (int a = 0; a < A; a++)
            best[a] = 0;
        for (int k = 1; k < nc; k++) {
            const float *row = scores + (size_t)k * A;
            for (int a = 0; a < A; a++)
                if (row[a] > scores[(size_t)best[a] * A + a]) best[a] = k;
        }
        for (int a = 0; a < A; a++)
            start[a + 1] = scores[(size_t)best[a] * A + a] > conf;
    } else {
        for (int k = 0; k < nc; k++) {
            const float *row = scores + (size_t)k * A;
            for (int a = 0; a < A; a++)
                start[a + 1] += row[a] > conf;
        }
    }
    for (int a = 0; a < A; a++)
        start[a + 1] += start[a];
    size_t n = (size_t)start[A];
    cand *c = malloc((n ? n : 1) * sizeof *c);
    if (!c) {
        free(start), free(best);
        return yolo_error(YOLO_ERR_NOMEM, "nms: out of memory for %zu candidates", n);
    }
    if (!multi) {
        for (int a = 0; a < A; a++)
            if (start[a + 1] > start[a])
                c[start[a]] = (cand){a, best[a], scores[(size_t)best[a] * A + a], start[a]};
    } else {
        for (int k = 0; k < nc; k++) {
            const float *row = scores + (size_t)k * A;
            for (int a = 0; a < A; a++)
                if (row[a] > conf) {
                    int pos = start[a]++;
                    c[pos] = (cand){a, k, row[a], pos};
                }
        }
    }
    free(start);
    free(best);
    if (opts->keep_class) {
        /* after the best class of an anchor is chosen, as Ultralytics filters (order is kept) */
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (opts->keep_class[c[i].cls]) c[m++] = c[i];
        n = m;
    }
    if (n == 0) {
        free(c);
        return YOLO_OK;
    }
    qsort(c, n, sizeof *c, cand_desc);
    if (opts->max_nms > 0 && n > (size_t)opts->max_nms) n = (size_t)opts->max_nms;

    /* Boxes as xyxy (float32, as xywh2xyxy), then shifted per class for class-aware NMS. */
    float *bx = malloc(n * 5 * sizeof *bx);
    unsigned char *sup = calloc(n, 1);
    int32_t *keep = malloc(n * sizeof *keep);
    if (!bx || !sup || !keep) {
        free(bx), free(sup), free(keep), free(c);
        return yolo_error(YOLO_ERR_NOMEM, "nms: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int a = c[i].anchor;
        float hw = bw[a] / 2, hh = bh[a] / 2;
        float off = opts->agnostic ? 0.0f : (float)c[i].cls * opts->max_wh;
        float *b = bx + 5 * i;
        b[0] = (cx[a] - hw) + off;
        b[1] = (cy[a] - hh) + off;
        b[2] = (cx[a] + hw) + off;
        b[3] = (cy[a] + hh) + off;
        b[4] = (b[2] - b[0]) * (b[3] - b[1]);
    }
    int max_det = opts->max_det > 0 ? opts->max_det : INT32_MAX;
    int kept = 0;
    /* Greedy, in score order. Later keeps never change earlier ones, so stop at max_det. */
    for (size_t i = 0; i < n && kept < max_det; i++) {
        if (sup[i]) continue;
        keep[kept++] = (int32_t)i;
        const float *bi = bx + 5 * i;
        for (size_t j = i + 1; j < n; j++) {
            if (sup[j]) continue;
            const float *bj = bx + 5 * j;
            float xx1 = max_f(bi[0], bj[0]), yy1 = max_f(bi[1], bj[1]);
            float xx2 = min_f(bi[2], bj[2]), yy2 = min_f(bi[3], bj[3]);
            float w = max_f(0.0f, xx2 - xx1), h = max_f(0.0f, yy2 - yy1);
            float inter = w * h;
            float ovr = inter / (bi[4] + bj[4] - inter);
            if ((double)ovr > opts->iou_thres) sup[j] = 1;
        }
    }
    free(sup);
    free(bx);
    float *rows = malloc((size_t)(kept ? kept : 1) * out->cols * sizeof *rows);
    if (!rows) {
        free(keep), free(c);
        return yolo_error(YOLO_ERR_NOMEM, "nms: out of memory");
    }
    for (int r = 0; r < kept; r++) {
        const cand *k = &c[keep[r]];
        int a = k->anchor;
        float hw = bw[a] / 2, hh = bh[a] / 2;
        float *o = rows + (size_t)r * out->cols;
        o[0] = cx[a] - hw;
        o[1] = cy[a] - hh;
        o[2] = cx[a] + hw;
        o[3] = cy[a] + hh;
        o[4] = k->score;
        o[5] = (float)k->cls;
        for (int m = 0; m < nm; m++)
            o[6 + m] = pred[(size_t)(4 + nc + m) * A + a];
    }
    free(keep);
    free(c);
    out->n = kept;
    out->rows = rows;
    return YOLO_OK;
}

/* Python's round(): half to even. */
static double round_half_even(double v) {
    return v - remainder(v, 1.0);
}

void nms_geom_letterbox(nms_geom *g, int in_h, int in_w, int h0, int w0) {
    g->in_h = in_h;
    g->in_w = in_w;
    g->h0 = h0;
    g->w0 = w0;
    double rh = (double)in_h / h0, rw = (double)in_w / w0;
    g->gain = rh < rw ? rh : rw;
    g->pad_x = round_half_even((in_w - w0 * g->gain) / 2 - 0.1);
    g->pad_y = round_half_even((in_h - h0 * g->gain) / 2 - 0.1);
}

static float clampf(float v, float lo, float hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

void nms_scale_boxes(float *xyxy, int n, int stride, const nms_geom *g) {
    /* torch applies a Python scalar to a float32 tensor in float32 */
    const float px = (float)g->pad_x, py = (float)g->pad_y, gain = (float)g->gain;
    for (int i = 0; i < n; i++) {
        float *b = xyxy + (size_t)i * stride;
        b[0] = clampf((b[0] - px) / gain, 0.0f, (float)g->w0);
        b[1] = clampf((b[1] - py) / gain, 0.0f, (float)g->h0);
        b[2] = clampf((b[2] - px) / gain, 0.0f, (float)g->w0);
        b[3] = clampf((b[3] - py) / gain, 0.0f, (float)g->h0);
    }
}

yolo_status nms_write_txt(FILE *f, const nms_dets *dets, int w0, int h0, bool with_conf) {
    for (int i = 0; i < dets->n; i++) {
        const float *r = dets->rows + (size_t)i * dets->cols;
        float cx = (r[0] + r[2]) / 2, cy = (r[1] + r[3]) / 2;
        float w = r[2] - r[0], h = r[3] - r[1];
        float fw = (float)w0, fh = (float)h0;
        int n;
        if (with_conf)
            n = fprintf(f, "%d %g %g %g %g %g\n", (int)r[5], (double)(cx / fw), (double)(cy / fh),
                        (double)(w / fw), (double)(h / fh), (double)r[4]);
        else
            n = fprintf(f, "%d %g %g %g %g\n", (int)r[5], (double)(cx / fw), (double)(cy / fh),
                        (double)(w / fw), (double)(h / fh));
        if (n < 0) return yolo_error(YOLO_ERR_IO, "cannot write predictions");
    }
    return YOLO_OK;
}

void nms_txt_path(const char *dir, const char *image, char *out, size_t cap) {
    const char *b = strrchr(image, '/');
    b = b ? b + 1 : image;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    if (n > 255) n = 255;
    snprintf(out, cap, "%s/%.*s.txt", dir, (int)n, b);
}
