#include "yolo/metrics.h"

#include "yolo/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Inlined max/min (libm's fmaxf/fminf are calls); same result for the finite values that reach them. */
static inline float max_f(float a, float b) {
    return a < b ? b : a;
}
static inline float min_f(float a, float b) {
    return b < a ? b : a;
}

/* torch.linspace(0.5, 0.95, 10) in float32 */
const float metrics_iouv[METRICS_NIOU] = {0.5f, 0.55f, 0.6f, 0.65f, 0.7f, 0.75f, 0.8f, 0.85f, 0.9f, 0.95f};

void metrics_box_iou(const float *a, int na, const float *b, int nb, float *out) {
    const float eps = 1e-7f;
    for (int i = 0; i < na; i++) {
        const float *p = a + 4 * (size_t)i;
        float area_a = (p[2] - p[0]) * (p[3] - p[1]);
        for (int j = 0; j < nb; j++) {
            const float *q = b + 4 * (size_t)j;
            float wx = max_f(min_f(p[2], q[2]) - max_f(p[0], q[0]), 0.0f);
            float wy = max_f(min_f(p[3], q[3]) - max_f(p[1], q[1]), 0.0f);
            float inter = wx * wy;
            float area_b = (q[2] - q[0]) * (q[3] - q[1]);
            out[(size_t)i * nb + j] = inter / (((area_a + area_b) - inter) + eps);
        }
    }
}

void metrics_mask_iou(const uint8_t *gt, int n, const uint8_t *pred, int m, long npix, float *out) {
    long *area_p = calloc(m ? m : 1, sizeof *area_p);
    for (int j = 0; j < m && area_p; j++)
        for (long k = 0; k < npix; k++)
            area_p[j] += pred[(size_t)j * npix + k] != 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *g = gt + (size_t)i * npix;
        long area_g = 0;
        for (long k = 0; k < npix; k++)
            area_g += g[k] != 0;
        for (int j = 0; j < m; j++) {
            const uint8_t *q = pred + (size_t)j * npix;
            long inter = 0, ap = 0;
            for (long k = 0; k < npix; k++)
                inter += (g[k] != 0) & (q[k] != 0);
            ap = area_p ? area_p[j] : 0;
            if (!area_p)
                for (long k = 0; k < npix; k++)
                    ap += q[k] != 0;
            /* float32 as torch: counts are exact below 2^24 */
            float fi = (float)inter, fu = ((float)area_g + (float)ap) - fi;
            out[(size_t)i * m + j] = fi / (fu + 1e-7f);
        }
    }
    free(area_p);
}

/* One instance's mask logits at prototype resolution, coeffs @ protos, and whether each pixel lies in
 * its box as 8.4.52's crop_mask keeps it: with fewer than 50 boxes the box is clamped at 0 and rounded
 * half to even, else the pixel index is compared with the fractional box. */
static void mask_logits(const float *protos, int nm, long npix, const float *c, float *acc) {
    for (long k = 0; k < npix; k++)
        acc[k] = 0;
    for (int q = 0; q < nm; q++) {
        const float *pr = protos + (size_t)q * npix;
        float w = c[q];
        for (long k = 0; k < npix; k++)
            acc[k] += w * pr[k];
    }
}

static void crop_box(const float *b, float wr, float hr, bool integer_crop, float box[4]) {
    box[0] = b[0] * wr, box[1] = b[1] * hr, box[2] = b[2] * wr, box[3] = b[3] * hr;
    if (integer_crop)
        for (int k = 0; k < 4; k++)
            box[k] = rintf(max_f(box[k], 0));
}

static bool in_box(const float box[4], int x, int y) {
    return (float)x >= box[0] && (float)x < box[2] && (float)y >= box[1] && (float)y < box[3];
}

static yolo_status check_mask_shapes(int nm, int mh, int mw, int in_h, int in_w, int n) {
    if (nm < 1 || mh < 1 || mw < 1 || in_h < 1 || in_w < 1 || n < 0)
        return yolo_error(YOLO_ERR_USAGE, "metrics: bad mask shapes (nm %d, %dx%d, input %dx%d)", nm, mh, mw,
                          in_h, in_w);
    return YOLO_OK;
}

yolo_status metrics_process_mask(const float *protos, int nm, int mh, int mw, const float *coeffs,
                                 int coeff_stride, const float *xyxy, int box_stride, int n, int in_h,
                                 int in_w, uint8_t *out) {
    yolo_status st = check_mask_shapes(nm, mh, mw, in_h, in_w, n);
    if (st != YOLO_OK) return st;
    const long npix = (long)mh * mw;
    /* Python floats applied to a float32 tensor: float32 arithmetic */
    const float wr = (float)((double)mw / in_w), hr = (float)((double)mh / in_h);
    float *acc = malloc(sizeof *acc * npix);
    if (!acc) return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory for a %dx%d mask", mh, mw);
    for (int i = 0; i < n; i++) {
        mask_logits(protos, nm, npix, coeffs + (size_t)i * coeff_stride, acc);
        float box[4];
        crop_box(xyxy + (size_t)i * box_stride, wr, hr, n < 50, box);
        uint8_t *o = out + (size_t)i * npix;
        for (int y = 0; y < mh; y++)
            for (int x = 0; x < mw; x++)
                o[(size_t)y * mw + x] = in_box(box, x, y) && acc[(size_t)y * mw + x] > 0.0f;
    }
    free(acc);
    return YOLO_OK;
}

/* torch's bilinear source coordinate (align_corners false): clamped at 0, with its two cells. */
static void bilinear_src(int dst, int in, int out, int *i0, int *i1, float *l) {
    float scale = (float)in / (float)out, src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    *i0 = (int)src;
    *i1 = *i0 + (*i0 < in - 1);
    *l = src - (float)*i0;
}

yolo_status metrics_process_mask_upsample(const float *protos, int nm, int mh, int mw, const float *coeffs,
                                          int coeff_stride, const float *xyxy, int box_stride, int n,
                                          int in_h, int in_w, uint8_t *out) {
    yolo_status st = check_mask_shapes(nm, mh, mw, in_h, in_w, n);
    if (st != YOLO_OK) return st;
    const long npix = (long)mh * mw;
    const float wr = (float)((double)mw / in_w), hr = (float)((double)mh / in_h);
    float *acc = malloc(sizeof *acc * npix);
    int *x0 = malloc(sizeof *x0 * 2 * (size_t)in_w);
    float *lx = malloc(sizeof *lx * (size_t)in_w);
    if (!acc || !x0 || !lx) {
        free(acc), free(x0), free(lx);
        return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory for a %dx%d mask", in_h, in_w);
    }
    int *x1 = x0 + in_w;
    for (int x = 0; x < in_w; x++)
        bilinear_src(x, mw, in_w, &x0[x], &x1[x], &lx[x]);
    for (int i = 0; i < n; i++) {
        mask_logits(protos, nm, npix, coeffs + (size_t)i * coeff_stride, acc);
        float box[4];
        crop_box(xyxy + (size_t)i * box_stride, wr, hr, n < 50, box);
        for (int y = 0; y < mh; y++)
            for (int x = 0; x < mw; x++)
                if (!in_box(box, x, y)) acc[(size_t)y * mw + x] = 0;
        uint8_t *o = out + (size_t)i * in_h * in_w;
        for (int y = 0; y < in_h; y++) {
            int y0, y1;
            float ly;
            bilinear_src(y, mh, in_h, &y0, &y1, &ly);
            const float *r0 = acc + (size_t)y0 * mw, *r1 = acc + (size_t)y1 * mw;
            for (int x = 0; x < in_w; x++) {
                float top = r0[x0[x]] * (1 - lx[x]) + r0[x1[x]] * lx[x];
                float bot = r1[x0[x]] * (1 - lx[x]) + r1[x1[x]] * lx[x];
                o[(size_t)y * in_w + x] = top * (1 - ly) + bot * ly > 0.0f;
            }
        }
    }
    free(acc), free(x0), free(lx);
    return YOLO_OK;
}

void metrics_masks_from_overlap(const uint8_t *overlap, long npix, int n, uint8_t *out) {
    for (int i = 0; i < n; i++)
        for (long k = 0; k < npix; k++)
            out[(size_t)i * npix + k] = overlap[k] == i + 1;
}

void metrics_match(const float *iou, const float *gt_cls, int n_gt, const float *pred_cls, int n_pred,
                   uint8_t *tp) {
    if (n_pred <= 0) return;
    memset(tp, 0, (size_t)n_pred * METRICS_NIOU);
    if (n_gt == 0) return;
    int *best = malloc((size_t)n_pred * sizeof *best);
    unsigned char *taken = malloc((size_t)n_gt);
    if (!best || !taken) {
        /* match_predictions has no failure path; out of memory here leaves no TP */
        free(best), free(taken);
        return;
    }
    for (int t = 0; t < METRICS_NIOU; t++) {
        const float thr = metrics_iouv[t];
        /* Best GT per prediction. numpy reverses an ascending argsort, so among equal IoUs the
         * pair later in (gt, pred) order comes first: the larger GT index wins. */
        for (int j = 0; j < n_pred; j++) {
            int bi = -1;
            float bv = 0;
            for (int i = 0; i < n_gt; i++) {
                if (gt_cls[i] != pred_cls[j]) continue;
                float v = iou[(size_t)i * n_pred + j];
                if (!(v >= thr)) continue;
                if (bi < 0 || v >= bv) bi = i, bv = v;
            }
            best[j] = bi;
        }
        /* Then each GT keeps its first prediction in index (= confidence) order. */
        memset(taken, 0, (size_t)n_gt);
        for (int j = 0; j < n_pred; j++) {
            int i = best[j];
            if (i < 0 || taken[i]) continue;
            taken[i] = 1;
            tp[(size_t)j * METRICS_NIOU + t] = 1;
        }
    }
    free(best);
    free(taken);
}

/* ---- numpy arithmetic, reproduced so that results match to the last bit where it is cheap ---- */

/* numpy's pairwise summation (add.reduce over a contiguous or strided 1-D run). */
static double np_pairwise(const double *a, long n, long stride) {
    if (n < 8) {
        double res = 0.;
        for (long i = 0; i < n; i++)
            res += a[i * stride];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = a[j * stride];
        long i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[(i + j) * stride];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i * stride];
        return res;
    }
    long n2 = n / 2;
    n2 -= n2 % 8;
    return np_pairwise(a, n2, stride) + np_pairwise(a + n2 * stride, n - n2, stride);
}

static double np_mean(const double *a, long n, long stride) {
    return n ? (0.0 + np_pairwise(a, n, stride)) / (double)n : 0.0;
}

/* np.linspace(0, 1, num): i * step, last point exactly 1 */
static void np_linspace01(double *x, int num) {
    double step = 1.0 / (num - 1);
    for (int i = 0; i < num; i++)
        x[i] = i * step;
    x[num - 1] = 1.0;
}

/* Index of the last xp[j] <= x (xp ascending, may repeat); -1 below, n above. */
static long last_le(double x, const double *xp, long n) {
    if (x > xp[n - 1]) return n;
    if (x < xp[0]) return -1;
    long lo = 0, hi = n;
    while (lo < hi) {
        long mid = lo + ((hi - lo) >> 1);
        if (x >= xp[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

/* np.interp(x, xp, fp, left, right) for one x */
static double np_interp1(double x, const double *xp, const double *fp, long n, double left, double right) {
    long j = last_le(x, xp, n);
    if (j == -1) return left;
    if (j == n) return right;
    if (j == n - 1 || xp[j] == x) return fp[j];
    double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double v = slope * (x - xp[j]) + fp[j];
    if (isnan(v)) {
        v = slope * (x - xp[j + 1]) + fp[j + 1];
        if (isnan(v) && fp[j] == fp[j + 1]) v = fp[j];
    }
    return v;
}

/* compute_ap of 8.4.52: sentinels [0, r..., r_last, 1] / [1, p..., 0, 0], the precision envelope,
 * then the trapezoid rule over 101 points of the linear interpolation. mrec/mpre need n + 3. */
static double compute_ap(const double *recall, const double *precision, long n, double *mrec, double *mpre) {
    mrec[0] = 0.0;
    mpre[0] = 1.0;
    for (long k = 0; k < n; k++)
        mrec[k + 1] = recall[k], mpre[k + 1] = precision[k];
    mrec[n + 1] = recall[n - 1];
    mrec[n + 2] = 1.0;
    mpre[n + 1] = 0.0;
    mpre[n + 2] = 0.0;
    for (long k = n + 1; k >= 0; k--)
        if (mpre[k + 1] > mpre[k]) mpre[k] = mpre[k + 1];
    double x[101], y[101], terms[100];
    np_linspace01(x, 101);
    for (int k = 0; k < 101; k++)
        y[k] = np_interp1(x[k], mrec, mpre, n + 3, mpre[0], mpre[n + 2]);
    for (int k = 0; k < 100; k++)
        terms[k] = (x[k + 1] - x[k]) * (y[k + 1] + y[k]) / 2.0;
    return 0.0 + np_pairwise(terms, 100, 1);
}

void metrics_ap_free(metrics_ap *r) {
    if (!r) return;
    free(r->class_index);
    free(r->p);
    free(r->r);
    free(r->f1);
    free(r->tp);
    free(r->fp);
    free(r->all_ap);
    free(r->ap50);
    free(r->ap);
    free(r->maps);
    free(r->nt_per_class);
    free(r->nt_per_image);
    free(r->px);
    free(r->p_curve);
    free(r->r_curve);
    free(r->f1_curve);
    free(r->prec_values);
    memset(r, 0, sizeof *r);
}

static int conf_desc(const void *pa, const void *pb) {
    const metrics_conf_idx *a = pa, *b = pb;
    if (a->conf > b->conf) return -1;
    if (a->conf < b->conf) return 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

void metrics_sort_conf_desc(metrics_conf_idx *v, long n) {
    if (n > 1) qsort(v, (size_t)n, sizeof *v, conf_desc);
}

#define NC_ (METRICS_NCURVE)

void metrics_smooth(const double *y, int n, double f, double *out) {
    /* Python's round(n * f * 2) // 2 + 1 taps; the window sum in order, weights 1 / taps */
    double r = n * f * 2;
    const int nf = (int)(r - remainder(r, 1.0)) / 2 + 1, half = nf / 2;
    const double w = 1.0 / nf;
    for (int q = 0; q < n; q++) {
        double s = 0.0;
        for (int k = q - half; k <= q + half; k++) {
            int kk = k < 0 ? 0 : k >= n ? n - 1 : k;
            s += y[kk] * w;
        }
        out[q] = s;
    }
}

yolo_status metrics_ap_per_class(const uint8_t *tp, const float *conf, const float *pred_cls, long n,
                                 const float *target_cls, long nt, int nc, metrics_ap *out) {
    memset(out, 0, sizeof *out);
    if (nc < 1) return yolo_error(YOLO_ERR_USAGE, "metrics: no classes");
    out->nc = nc;
    out->nt_per_class = calloc(nc, sizeof *out->nt_per_class);
    out->nt_per_image = calloc(nc, sizeof *out->nt_per_image);
    out->maps = calloc(nc, sizeof *out->maps);
    out->px = malloc(NC_ * sizeof *out->px);
    if (!out->nt_per_class || !out->nt_per_image || !out->maps || !out->px) goto nomem;
    np_linspace01(out->px, NC_);
    for (long k = 0; k < nt; k++) {
        float c = target_cls[k];
        if (!(c >= 0 && c < nc) || c != floorf(c)) {
            metrics_ap_free(out);
            return yolo_error(YOLO_ERR_FORMAT, "metrics: ground-truth class %g outside 0..%d", c, nc - 1);
        }
        out->nt_per_class[(int)c]++;
    }
    int ncls = 0;
    for (int c = 0; c < nc; c++)
        ncls += out->nt_per_class[c] > 0;
    out->n_cls = ncls;
    size_t nr = ncls ? ncls : 1;
    out->class_index = calloc(nr, sizeof *out->class_index);
    out->p = calloc(nr, sizeof(double));
    out->r = calloc(nr, sizeof(double));
    out->f1 = calloc(nr, sizeof(double));
    out->tp = calloc(nr, sizeof(double));
    out->fp = calloc(nr, sizeof(double));
    out->ap50 = calloc(nr, sizeof(double));
    out->ap = calloc(nr, sizeof(double));
    out->all_ap = calloc(nr * METRICS_NIOU, sizeof(double));
    out->p_curve = calloc(nr * NC_, sizeof(double));
    out->r_curve = calloc(nr * NC_, sizeof(double));
    out->f1_curve = calloc(nr * NC_, sizeof(double));
    out->prec_values = calloc(nr * NC_, sizeof(double));
    /* predictions per class (classes outside 0..nc-1 have no GT: ignored), so that the per-class
     * scratch is sized by the largest class rather than by all predictions */
    long *cstart = calloc((size_t)nc + 1, sizeof *cstart), *fill = malloc(((size_t)nc + 1) * sizeof *fill);
    long maxc = 1;
    if (cstart) {
        for (long k = 0; k < n; k++) {
            float pc = pred_cls[k];
            if (pc >= 0 && pc < nc && pc == floorf(pc)) cstart[(int)pc + 1]++;
        }
        for (int c = 0; c < nc; c++) {
            if (out->nt_per_class[c] && cstart[c + 1] > maxc) maxc = cstart[c + 1];
            cstart[c + 1] += cstart[c];
        }
    }
    metrics_conf_idx *order = malloc((n ? n : 1) * sizeof *order);
    long *sel = malloc((n ? n : 1) * sizeof *sel);
    double *rec = malloc(maxc * METRICS_NIOU * sizeof *rec);
    double *pre = malloc(maxc * METRICS_NIOU * sizeof *pre);
    double *negc = malloc(maxc * sizeof *negc);
    double *col_r = malloc(maxc * sizeof *col_r), *col_p = malloc(maxc * sizeof *col_p);
    double *mrec = malloc((maxc + 3) * sizeof *mrec), *mpre = malloc((maxc + 3) * sizeof *mpre);
    double *f1m = calloc(2 * NC_, sizeof *f1m), *f1m_s = f1m ? f1m + NC_ : NULL;
    bool bad = !out->class_index || !out->p || !out->r || !out->f1 || !out->tp || !out->fp || !out->ap50 ||
               !out->ap || !out->all_ap || !out->p_curve || !out->r_curve || !out->f1_curve ||
               !out->prec_values || !cstart || !fill || !order || !sel || !rec || !pre || !negc || !col_r ||
               !col_p || !mrec || !mpre || !f1m;
    if (bad) {
        free(cstart), free(fill), free(order), free(sel), free(rec), free(pre), free(negc), free(col_r),
            free(col_p), free(mrec), free(mpre), free(f1m);
        goto nomem;
    }
    for (long k = 0; k < n; k++)
        order[k] = (metrics_conf_idx){conf[k], k};
    metrics_sort_conf_desc(order, n);
    /* the sorted predictions, bucketed by class */
    memcpy(fill, cstart, ((size_t)nc + 1) * sizeof *fill);
    for (long k = 0; k < n; k++) {
        float pc = pred_cls[order[k].idx];
        if (pc >= 0 && pc < nc && pc == floorf(pc)) sel[fill[(int)pc]++] = order[k].idx;
    }
    free(fill);

    const double eps = 1e-16;
    int row = 0;
    for (int c = 0; c < nc; c++) {
        if (!out->nt_per_class[c]) continue;
        int ci = row++;
        out->class_index[ci] = c;
        long np_ = cstart[c + 1] - cstart[c];
        if (np_ == 0) continue;
        const long *sel_c = sel + cstart[c];
        double n_l = (double)out->nt_per_class[c];
        for (int t = 0; t < METRICS_NIOU; t++) {
            long tpc = 0, fpc = 0;
            for (long k = 0; k < np_; k++) {
                int hit = tp[(size_t)sel_c[k] * METRICS_NIOU + t] != 0;
                tpc += hit;
                fpc += 1 - hit;
                rec[(size_t)t * np_ + k] = (double)tpc / (n_l + eps);
                pre[(size_t)t * np_ + k] = (double)tpc / (double)(tpc + fpc);
            }
        }
        for (long k = 0; k < np_; k++)
            negc[k] = -(double)conf[sel_c[k]];
        for (int q = 0; q < NC_; q++) {
            double x = -out->px[q];
            out->r_curve[(size_t)ci * NC_ + q] = np_interp1(x, negc, rec, np_, 0.0, rec[np_ - 1]);
            out->p_curve[(size_t)ci * NC_ + q] = np_interp1(x, negc, pre, np_, 1.0, pre[np_ - 1]);
        }
        for (int t = 0; t < METRICS_NIOU; t++) {
            memcpy(col_r, rec + (size_t)t * np_, np_ * sizeof *col_r);
            memcpy(col_p, pre + (size_t)t * np_, np_ * sizeof *col_p);
            out->all_ap[(size_t)ci * METRICS_NIOU + t] = compute_ap(col_r, col_p, np_, mrec, mpre);
            if (t == 0) {
                double *pv = out->prec_values + (size_t)out->n_prec_rows++ * NC_;
                for (int q = 0; q < NC_; q++)
                    pv[q] = np_interp1(out->px[q], mrec, mpre, np_ + 3, mpre[0], mpre[np_ + 2]);
            }
        }
    }
    if (out->n_prec_rows == 0) out->n_prec_rows = 1; /* numpy's zeros((1, 1000)) */

    for (size_t k = 0; k < (size_t)ncls * NC_; k++) {
        double p = out->p_curve[k], r = out->r_curve[k];
        out->f1_curve[k] = 2 * p * r / (p + r + eps);
    }
    /* mean over classes (an axis-0 reduction: plain sequential sum), then the 101-tap box filter
     * with edge padding, and the first maximum */
    int best = 0;
    if (ncls > 0) {
        for (int q = 0; q < NC_; q++) {
            double s = 0.0;
            for (int ci = 0; ci < ncls; ci++)
                s += out->f1_curve[(size_t)ci * NC_ + q];
            f1m[q] = s / ncls;
        }
        metrics_smooth(f1m, NC_, 0.1, f1m_s);
        double bestv = -INFINITY;
        for (int q = 0; q < NC_; q++)
            if (f1m_s[q] > bestv) bestv = f1m_s[q], best = q;
    }
    out->max_f1_index = best;
    for (int ci = 0; ci < ncls; ci++) {
        out->p[ci] = out->p_curve[(size_t)ci * NC_ + best];
        out->r[ci] = out->r_curve[(size_t)ci * NC_ + best];
        out->f1[ci] = out->f1_curve[(size_t)ci * NC_ + best];
        double nl = (double)out->nt_per_class[out->class_index[ci]];
        out->tp[ci] = rint(out->r[ci] * nl);
        out->fp[ci] = rint(out->tp[ci] / (out->p[ci] + eps) - out->tp[ci]);
        out->ap50[ci] = out->all_ap[(size_t)ci * METRICS_NIOU];
        out->ap[ci] = np_mean(out->all_ap + (size_t)ci * METRICS_NIOU, METRICS_NIOU, 1);
    }
    out->mp = np_mean(out->p, ncls, 1);
    out->mr = np_mean(out->r, ncls, 1);
    out->map50 = np_mean(out->all_ap, ncls, METRICS_NIOU);
    out->map75 = np_mean(out->all_ap + 5, ncls, METRICS_NIOU);
    out->map = np_mean(out->all_ap, (long)ncls * METRICS_NIOU, 1);
    out->fitness = out->map;
    for (int c = 0; c < nc; c++)
        out->maps[c] = 0.0 + out->map;
    for (int ci = 0; ci < ncls; ci++)
        out->maps[out->class_index[ci]] = out->ap[ci];

    free(cstart), free(order), free(sel), free(rec), free(pre), free(negc), free(col_r), free(col_p),
        free(mrec), free(mpre), free(f1m);
    return YOLO_OK;
nomem:
    metrics_ap_free(out);
    return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory for %ld predictions", n);
}

/* ---- accumulator ---- */

struct metrics_det {
    int nc;
    long n, cap;       /* predictions */
    uint8_t *tp;       /* n x 10 */
    float *conf, *cls; /* n */
    long nt, tcap;     /* targets */
    float *tcls;
    int64_t *nt_per_image;
    int64_t images;
};

yolo_status metrics_det_init(metrics_det **out, int nc) {
    *out = NULL;
    if (nc < 1) return yolo_error(YOLO_ERR_USAGE, "metrics: need at least one class (got %d)", nc);
    metrics_det *m = calloc(1, sizeof *m);
    if (!m || !(m->nt_per_image = calloc(nc, sizeof *m->nt_per_image))) {
        free(m);
        return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory");
    }
    m->nc = nc;
    *out = m;
    return YOLO_OK;
}

void metrics_det_free(metrics_det *m) {
    if (!m) return;
    free(m->tp);
    free(m->conf);
    free(m->cls);
    free(m->tcls);
    free(m->nt_per_image);
    free(m);
}

void metrics_det_clear(metrics_det *m) {
    m->n = m->nt = 0;
    m->images = 0;
    memset(m->nt_per_image, 0, m->nc * sizeof *m->nt_per_image);
}

/* Grows *p (elements of elem bytes) to hold need; cap is the current capacity. */
static bool grow_to(void **p, long cap, long newcap, size_t elem) {
    if (newcap <= cap) return true;
    void *q = realloc(*p, (size_t)newcap * elem);
    if (!q) return false;
    *p = q;
    return true;
}

static long next_cap(long cap, long need) {
    long c = cap ? cap : 1024;
    while (c < need)
        c *= 2;
    return c;
}

static yolo_status check_cls(const float *cls, int stride, int n, int nc, const char *what) {
    for (int k = 0; k < n; k++) {
        float c = cls[(size_t)k * stride];
        if (!(c >= 0 && c < nc) || c != floorf(c))
            return yolo_error(YOLO_ERR_FORMAT, "metrics: %s class %g outside 0..%d", what, c, nc - 1);
    }
    return YOLO_OK;
}

/* Room for n_pred more predictions and n_gt more targets. */
static yolo_status reserve(metrics_det *m, long n_pred, long n_gt) {
    long need = m->n + n_pred;
    if (need > m->cap) {
        long c = next_cap(m->cap, need);
        /* every array keeps at least the old capacity, so a partial failure leaves them usable */
        if (!grow_to((void **)&m->tp, m->cap, c, METRICS_NIOU) ||
            !grow_to((void **)&m->conf, m->cap, c, sizeof(float)) ||
            !grow_to((void **)&m->cls, m->cap, c, sizeof(float)))
            return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory for %ld predictions", need);
        m->cap = c;
    }
    long tneed = m->nt + n_gt;
    if (tneed > m->tcap) {
        long c = next_cap(m->tcap, tneed);
        if (!grow_to((void **)&m->tcls, m->tcap, c, sizeof(float)))
            return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory for %ld targets", tneed);
        m->tcap = c;
    }
    return YOLO_OK;
}

/* A pack: nc, n, nt, images (int64 each), then tp (n x METRICS_NIOU bytes), conf, cls (n floats each),
 * tcls (nt floats) and nt_per_image (nc int64). Native byte order: the ranks of a run share one build. */
enum { PACK_HEAD = 4 * sizeof(int64_t) };

static size_t pack_size(int64_t nc, int64_t n, int64_t nt) {
    return PACK_HEAD + (size_t)n * (METRICS_NIOU + 2 * sizeof(float)) + (size_t)nt * sizeof(float) +
           (size_t)nc * sizeof(int64_t);
}

yolo_status metrics_det_pack(const metrics_det *m, unsigned char **out, size_t *len) {
    *out = NULL, *len = 0;
    int64_t head[4] = {m->nc, m->n, m->nt, m->images};
    size_t size = pack_size(m->nc, m->n, m->nt);
    unsigned char *b = malloc(size), *p = b;
    if (!b) return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory packing %ld predictions", m->n);
    memcpy(p, head, sizeof head), p += sizeof head;
    if (m->n) {
        memcpy(p, m->tp, (size_t)m->n * METRICS_NIOU), p += (size_t)m->n * METRICS_NIOU;
        memcpy(p, m->conf, (size_t)m->n * sizeof(float)), p += (size_t)m->n * sizeof(float);
        memcpy(p, m->cls, (size_t)m->n * sizeof(float)), p += (size_t)m->n * sizeof(float);
    }
    if (m->nt) memcpy(p, m->tcls, (size_t)m->nt * sizeof(float)), p += (size_t)m->nt * sizeof(float);
    memcpy(p, m->nt_per_image, (size_t)m->nc * sizeof(int64_t));
    *out = b, *len = size;
    return YOLO_OK;
}

yolo_status metrics_det_merge(metrics_det *m, const unsigned char *pack, size_t len) {
    int64_t head[4];
    if (len < PACK_HEAD) return yolo_error(YOLO_ERR_FORMAT, "metrics: a pack of %zu bytes is cut short", len);
    memcpy(head, pack, sizeof head);
    int64_t nc = head[0], n = head[1], nt = head[2];
    if (nc != m->nc)
        return yolo_error(YOLO_ERR_FORMAT, "metrics: a pack of %lld classes, not %d", (long long)nc, m->nc);
    if (n < 0 || nt < 0 || head[3] < 0 || n > (int64_t)(len / METRICS_NIOU) ||
        nt > (int64_t)(len / sizeof(float)) || pack_size(nc, n, nt) != len)
        return yolo_error(YOLO_ERR_FORMAT, "metrics: a pack of %zu bytes does not hold what it says", len);
    const unsigned char *p = pack + PACK_HEAD;
    const unsigned char *tp = p, *conf = tp + (size_t)n * METRICS_NIOU,
                        *cls = conf + (size_t)n * sizeof(float), *tcls = cls + (size_t)n * sizeof(float),
                        *per = tcls + (size_t)nt * sizeof(float);
    yolo_status st = reserve(m, (long)n, (long)nt);
    if (st != YOLO_OK) return st;
    if (n) {
        memcpy(m->tp + (size_t)m->n * METRICS_NIOU, tp, (size_t)n * METRICS_NIOU);
        memcpy(m->conf + m->n, conf, (size_t)n * sizeof(float));
        memcpy(m->cls + m->n, cls, (size_t)n * sizeof(float));
    }
    if (nt) memcpy(m->tcls + m->nt, tcls, (size_t)nt * sizeof(float));
    for (int k = 0; k < m->nc; k++) {
        int64_t c;
        memcpy(&c, per + (size_t)k * sizeof c, sizeof c);
        m->nt_per_image[k] += c;
    }
    m->n += (long)n, m->nt += (long)nt, m->images += head[3];
    return YOLO_OK;
}

yolo_status metrics_det_add_iou(metrics_det *m, const float *iou, const float *pred_conf, int conf_stride,
                                const float *pred_cls, int cls_stride, int n_pred, const float *gt_cls,
                                int n_gt) {
    yolo_status st;
    if ((st = check_cls(pred_cls, cls_stride, n_pred, m->nc, "predicted")) != YOLO_OK) return st;
    if ((st = check_cls(gt_cls, 1, n_gt, m->nc, "ground-truth")) != YOLO_OK) return st;
    if ((st = reserve(m, n_pred, n_gt)) != YOLO_OK) return st;
    if (n_pred > 0) {
        float *pc = m->cls + m->n;
        for (int j = 0; j < n_pred; j++) {
            pc[j] = pred_cls[(size_t)j * cls_stride];
            m->conf[m->n + j] = pred_conf[(size_t)j * conf_stride];
        }
        metrics_match(iou, gt_cls, n_gt, pc, n_pred, m->tp + (size_t)m->n * METRICS_NIOU);
        m->n += n_pred;
    }
    if (n_gt > 0) memcpy(m->tcls + m->nt, gt_cls, (size_t)n_gt * sizeof *gt_cls);
    m->nt += n_gt;
    /* images containing each class: count each class once per image */
    for (int i = 0; i < n_gt; i++) {
        bool first = true;
        for (int k = 0; k < i; k++)
            if (gt_cls[k] == gt_cls[i]) first = false;
        if (first) m->nt_per_image[(int)gt_cls[i]]++;
    }
    m->images++;
    return YOLO_OK;
}

yolo_status metrics_det_add(metrics_det *m, const float *pred_xyxy, int pred_stride, const float *pred_conf,
                            int conf_stride, const float *pred_cls, int cls_stride, int n_pred,
                            const float *gt_xyxy, const float *gt_cls, int n_gt) {
    float *boxes = NULL, *iou = NULL;
    if (n_pred > 0 && n_gt > 0) {
        boxes = malloc((size_t)n_pred * 4 * sizeof *boxes);
        iou = malloc((size_t)n_pred * n_gt * sizeof *iou);
        if (!boxes || !iou) {
            free(boxes), free(iou);
            return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory");
        }
        for (int j = 0; j < n_pred; j++)
            memcpy(boxes + 4 * (size_t)j, pred_xyxy + (size_t)j * pred_stride, 16);
        metrics_box_iou(gt_xyxy, n_gt, boxes, n_pred, iou);
    }
    yolo_status st =
        metrics_det_add_iou(m, iou, pred_conf, conf_stride, pred_cls, cls_stride, n_pred, gt_cls, n_gt);
    free(boxes);
    free(iou);
    return st;
}

void metrics_labels_xyxy(const float *xywhn, const int *cls, int n, int in_h, int in_w, float *xyxy,
                         float *fcls) {
    /* xywh2xyxy, then times (w, h, w, h), all in float32 as the validator */
    const float W = (float)in_w, H = (float)in_h;
    for (int k = 0; k < n; k++) {
        const float *b = xywhn + 4 * (size_t)k;
        float hw = b[2] / 2, hh = b[3] / 2;
        xyxy[4 * k + 0] = (b[0] - hw) * W;
        xyxy[4 * k + 1] = (b[1] - hh) * H;
        xyxy[4 * k + 2] = (b[0] + hw) * W;
        xyxy[4 * k + 3] = (b[1] + hh) * H;
        fcls[k] = (float)cls[k];
    }
}

yolo_status metrics_det_add_prediction(metrics_det *m, const float *pred, int nc, int nm, int A,
                                       const nms_opts *opts, const float *gt_xywhn, const int *gt_cls,
                                       int n_gt, int in_h, int in_w, nms_dets *dets) {
    nms_dets local;
    nms_dets *d = dets ? dets : &local;
    yolo_status st = nms_run(pred, nc, nm, A, opts, d);
    if (st != YOLO_OK) return st;
    float *gt = malloc(sizeof *gt * (4 * (size_t)n_gt + 1)), *gc = malloc(sizeof *gc * ((size_t)n_gt + 1));
    if (!gt || !gc) {
        free(gt), free(gc);
        if (!dets) nms_dets_free(d);
        return yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory");
    }
    metrics_labels_xyxy(gt_xywhn, gt_cls, n_gt, in_h, in_w, gt, gc);
    const float *r = d->rows;
    st = metrics_det_add(m, r, d->cols, r ? r + 4 : NULL, d->cols, r ? r + 5 : NULL, d->cols, d->n, gt, gc,
                         n_gt);
    free(gt);
    free(gc);
    if (!dets) nms_dets_free(d);
    return st;
}

yolo_status metrics_seg_add_prediction(metrics_det *box_acc, metrics_det *mask_acc, const float *pred, int nc,
                                       int nm, int A, const nms_opts *opts, const float *proto, int mh,
                                       int mw, const float *gt_xywhn, const int *gt_cls, int n_gt,
                                       const uint16_t *overlap, int in_h, int in_w) {
    if (nm < 1)
        return yolo_error(YOLO_ERR_USAGE, "metrics: a segmentation prediction needs mask coefficients");
    if (n_gt > 0 && !overlap) return yolo_error(YOLO_ERR_USAGE, "metrics: ground-truth masks missing");
    nms_dets d;
    yolo_status st =
        metrics_det_add_prediction(box_acc, pred, nc, nm, A, opts, gt_xywhn, gt_cls, n_gt, in_h, in_w, &d);
    if (st != YOLO_OK) return st;
    const long npix = (long)mh * mw;
    uint8_t *pm = malloc((size_t)d.n * npix + 1), *gm = malloc((size_t)n_gt * npix + 1);
    float *iou = malloc(sizeof *iou * ((size_t)d.n * n_gt + 1)),
          *gc = malloc(sizeof *gc * ((size_t)n_gt + 1));
    if (!pm || !gm || !iou || !gc) {
        st = yolo_error(YOLO_ERR_NOMEM, "metrics: out of memory for masks");
        goto out;
    }
    if (d.n > 0 && (st = metrics_process_mask(proto, nm, mh, mw, d.rows + 6, d.cols, d.rows, d.cols, d.n,
                                              in_h, in_w, pm)) != YOLO_OK)
        goto out;
    for (int i = 0; i < n_gt; i++) {
        gc[i] = (float)gt_cls[i];
        for (long k = 0; k < npix; k++)
            gm[(size_t)i * npix + k] = overlap[k] == (uint16_t)(i + 1);
    }
    if (d.n > 0 && n_gt > 0) metrics_mask_iou(gm, n_gt, pm, d.n, npix, iou);
    st = metrics_det_add_iou(mask_acc, iou, d.rows ? d.rows + 4 : NULL, d.cols, d.rows ? d.rows + 5 : NULL,
                             d.cols, d.n, gc, n_gt);
out:
    free(pm), free(gm), free(iou), free(gc);
    nms_dets_free(&d);
    return st;
}

yolo_status metrics_det_finalize(const metrics_det *m, metrics_ap *out) {
    yolo_status st = metrics_ap_per_class(m->tp, m->conf, m->cls, m->n, m->tcls, m->nt, m->nc, out);
    if (st != YOLO_OK) return st;
    memcpy(out->nt_per_image, m->nt_per_image, m->nc * sizeof *out->nt_per_image);
    out->images = m->images;
    return YOLO_OK;
}

/* ---- reporting ---- */

int metrics_det_results(const metrics_ap *box, const metrics_ap *mask, metrics_kv *out) {
    int k = 0;
    out[k++] = (metrics_kv){"metrics/precision(B)", box->mp};
    out[k++] = (metrics_kv){"metrics/recall(B)", box->mr};
    out[k++] = (metrics_kv){"metrics/mAP50(B)", box->map50};
    out[k++] = (metrics_kv){"metrics/mAP50-95(B)", box->map};
    if (mask) {
        out[k++] = (metrics_kv){"metrics/precision(M)", mask->mp};
        out[k++] = (metrics_kv){"metrics/recall(M)", mask->mr};
        out[k++] = (metrics_kv){"metrics/mAP50(M)", mask->map50};
        out[k++] = (metrics_kv){"metrics/mAP50-95(M)", mask->map};
    }
    out[k++] = (metrics_kv){"fitness", box->fitness + (mask ? mask->fitness : 0.0)};
    return k;
}

void metrics_print_table(FILE *f, const metrics_ap *box, const metrics_ap *mask, const char *const *names,
                         bool verbose) {
    if (mask)
        fprintf(f, "%22s%11s%11s%11s%11s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "Box(P",
                "R", "mAP50", "mAP50-95)", "Mask(P", "R", "mAP50", "mAP50-95)");
    else
        fprintf(f, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "Box(P", "R", "mAP50",
                "mAP50-95)");
    int64_t total = 0;
    for (int c = 0; c < box->nc; c++)
        total += box->nt_per_class[c];
    fprintf(f, "%22s%11lld%11lld%11.3g%11.3g%11.3g%11.3g", "all", (long long)box->images, (long long)total,
            box->mp, box->mr, box->map50, box->map);
    if (mask) fprintf(f, "%11.3g%11.3g%11.3g%11.3g", mask->mp, mask->mr, mask->map50, mask->map);
    fputc('\n', f);
    if (!verbose || box->nc <= 1) return;
    for (int ci = 0; ci < box->n_cls; ci++) {
        int c = box->class_index[ci];
        char id[32];
        const char *name = names ? names[c] : (snprintf(id, sizeof id, "%d", c), id);
        fprintf(f, "%22s%11lld%11lld%11.3g%11.3g%11.3g%11.3g", name, (long long)box->nt_per_image[c],
                (long long)box->nt_per_class[c], box->p[ci], box->r[ci], box->ap50[ci], box->ap[ci]);
        if (mask && ci < mask->n_cls)
            fprintf(f, "%11.3g%11.3g%11.3g%11.3g", mask->p[ci], mask->r[ci], mask->ap50[ci], mask->ap[ci]);
        fputc('\n', f);
    }
}

yolo_status metrics_det_write_json(FILE *f, const metrics_ap *r, const metrics_ap *mask,
                                   const char *const *names) {
    json_writer w;
    json_init(&w, f, true);
    json_begin_object(&w);
    metrics_kv kv[9];
    int n = metrics_det_results(r, mask, kv);
    for (int k = 0; k < n; k++) {
        json_write_key(&w, kv[k].key);
        json_write_double(&w, kv[k].value);
    }
    json_write_key(&w, "metrics/mAP75(B)");
    json_write_double(&w, r->map75);
    if (mask) {
        json_write_key(&w, "metrics/mAP75(M)");
        json_write_double(&w, mask->map75);
    }
    int64_t total = 0;
    for (int c = 0; c < r->nc; c++)
        total += r->nt_per_class[c];
    json_write_key(&w, "images");
    json_write_int(&w, r->images);
    json_write_key(&w, "instances");
    json_write_int(&w, total);
    json_write_key(&w, "classes");
    json_begin_array(&w);
    for (int ci = 0; ci < r->n_cls; ci++) {
        int c = r->class_index[ci];
        json_begin_object(&w);
        json_write_key(&w, "class");
        json_write_int(&w, c);
        json_write_key(&w, "name");
        json_write_str(&w, names ? names[c] : NULL);
        json_write_key(&w, "images");
        json_write_int(&w, r->nt_per_image[c]);
        json_write_key(&w, "instances");
        json_write_int(&w, r->nt_per_class[c]);
        json_write_key(&w, "precision");
        json_write_double(&w, r->p[ci]);
        json_write_key(&w, "recall");
        json_write_double(&w, r->r[ci]);
        json_write_key(&w, "mAP50");
        json_write_double(&w, r->ap50[ci]);
        json_write_key(&w, "mAP50-95");
        json_write_double(&w, r->ap[ci]);
        if (mask && ci < mask->n_cls) {
            json_write_key(&w, "mask_precision");
            json_write_double(&w, mask->p[ci]);
            json_write_key(&w, "mask_recall");
            json_write_double(&w, mask->r[ci]);
            json_write_key(&w, "mask_mAP50");
            json_write_double(&w, mask->ap50[ci]);
            json_write_key(&w, "mask_mAP50-95");
            json_write_double(&w, mask->ap[ci]);
        }
        json_end_object(&w);
    }
    json_end_array(&w);
    json_write_key(&w, "maps");
    json_begin_array(&w);
    for (int c = 0; c < r->nc; c++)
        json_write_double(&w, r->maps[c]);
    json_end_array(&w);
    json_end_object(&w);
    return json_finish(&w);
}

/* ---- classification ---- */

void metrics_topk(const float *probs, long n, int nc, int32_t *top) {
    int k = nc < 5 ? nc : 5;
    for (long s = 0; s < n; s++) {
        const float *p = probs + (size_t)s * nc;
        int32_t *t = top + (size_t)s * k;
        /* partial selection sort: k passes, strict '>' keeps the lower index on ties */
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int c = 0; c < nc; c++) {
                bool used = false;
                for (int q = 0; q < r; q++)
                    used |= t[q] == c;
                if (used) continue;
                if (best < 0 || p[c] > p[best]) best = c;
            }
            t[r] = best;
        }
    }
}

void metrics_cls_clear(metrics_cls *m) {
    memset(m, 0, sizeof *m);
}

yolo_status metrics_cls_add(metrics_cls *m, const float *probs, long n, int nc, const int64_t *targets) {
    if (nc < 1) return yolo_error(YOLO_ERR_USAGE, "metrics: need at least one class");
    int k = nc < 5 ? nc : 5;
    for (long s = 0; s < n; s++) {
        if (targets[s] < 0 || targets[s] >= nc)
            return yolo_error(YOLO_ERR_FORMAT, "metrics: target class %lld outside 0..%d",
                              (long long)targets[s], nc - 1);
        int32_t top[5];
        metrics_topk(probs + (size_t)s * nc, 1, nc, top);
        m->correct1 += top[0] == targets[s];
        for (int r = 0; r < k; r++)
            if (top[r] == targets[s]) {
                m->correct5++;
                break;
            }
        m->n++;
    }
    return YOLO_OK;
}

void metrics_cls_result(const metrics_cls *m, double *top1, double *top5, double *fitness) {
    /* torch's float32 mean of 0/1 values: an exact count divided in float32 */
    float t1 = m->n ? (float)m->correct1 / (float)m->n : 0.0f;
    float t5 = m->n ? (float)m->correct5 / (float)m->n : 0.0f;
    *top1 = t1;
    *top5 = t5;
    *fitness = ((double)t1 + (double)t5) / 2;
}

void metrics_cls_print_table(FILE *f, const metrics_cls *m) {
    double t1, t5, fit;
    metrics_cls_result(m, &t1, &t5, &fit);
    fprintf(f, "%22s%11s%11s\n", "classes", "top1_acc", "top5_acc");
    fprintf(f, "%22s%11.3g%11.3g\n", "all", t1, t5);
}

int metrics_cls_results(const metrics_cls *m, metrics_kv *out) {
    double t1, t5, fit;
    metrics_cls_result(m, &t1, &t5, &fit);
    out[0] = (metrics_kv){"metrics/accuracy_top1", t1};
    out[1] = (metrics_kv){"metrics/accuracy_top5", t5};
    out[2] = (metrics_kv){"fitness", fit};
    return 3;
}
