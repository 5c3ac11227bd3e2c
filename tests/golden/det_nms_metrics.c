/* det_nms_metrics.pt: NMS rows, box IoU, TP matching and every ap_per_class output. All sizes
 * come from the file, so other golden sets (other seeds, nc, sizes) are checked the same way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"

#define FILE_NAME "det_nms_metrics.pt"
#define TOL 1e-6

static const yv *tensor_at(const yv *v) {
    return v && v->kind == YV_TENSOR ? v : NULL;
}

/* A stored tensor as a malloc'ed float or double array (NULL if absent); *n gets its element count.
 * Each width converts straight from the stored dtype, so float32 values are never rounded twice. */
static void *as_array(const yv *v, long *n, bool f32) {
    if (!tensor_at(v)) return NULL;
    long k = (long)yv_tensor_numel(&v->tensor);
    void *d = malloc((f32 ? sizeof(float) : sizeof(double)) * (k ? k : 1));
    if (d && (f32 ? yv_tensor_to_f32(&v->tensor, d) : yv_tensor_to_f64(&v->tensor, d)) != YOLO_OK) {
        free(d);
        return NULL;
    }
    *n = k;
    return d;
}

static double *as_f64(const yv *v, long *n) {
    return as_array(v, n, false);
}

static float *as_f32(const yv *v, long *n) {
    return as_array(v, n, true);
}

/* max |ours - ref|; INFINITY when the stored value is missing or has another size */
static double diff_f64(const double *ours, long n, const yv *stored) {
    long k = -1;
    double *ref = NULL;
    double s;
    if (stored && stored->kind != YV_TENSOR && yv_as_double(stored, &s)) {
        ref = malloc(sizeof *ref);
        ref[0] = s;
        k = 1;
    } else {
        ref = as_f64(stored, &k);
    }
    if (!ref || k != n) {
        free(ref);
        return INFINITY;
    }
    double worst = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs(ours[i] - ref[i]);
        if (!(d <= worst)) worst = d;
    }
    free(ref);
    return worst;
}

static int check_f64(const char *group, const double *ours, long n, const yv *stored, double tol) {
    double d = diff_f64(ours, n, stored);
    return golden_report(FILE_NAME, group, d, d <= tol);
}

static void read_opts(const yv *root, nms_opts *o) {
    nms_opts_default(o);
    const yv *s = yv_dict_get(root, "nms_settings");
    double v;
    int64_t i;
    if (!s) return;
    if (yv_as_double(yv_dict_get(s, "conf"), &v)) o->conf_thres = v;
    if (yv_as_double(yv_dict_get(s, "iou"), &v)) o->iou_thres = v;
    if (yv_as_int(yv_dict_get(s, "max_det"), &i)) o->max_det = (int)i;
    if (yv_as_int(yv_dict_get(s, "max_nms"), &i)) o->max_nms = (int)i;
    if (yv_as_double(yv_dict_get(s, "max_wh"), &v)) o->max_wh = (float)v;
    if (yv_dict_get(s, "multi_label")) o->multi_label = yv_is_truthy(yv_dict_get(s, "multi_label"));
    if (yv_dict_get(s, "agnostic")) o->agnostic = yv_is_truthy(yv_dict_get(s, "agnostic"));
}

/* NMS of every image of case[input] against the list case[key]; returns the number of failures. */
static int check_nms(const char *group, const yv *cs, const char *key, const nms_opts *o) {
    const yv *in = yv_dict_get(cs, "input"), *outs = yv_dict_get(cs, key);
    char name[128];
    snprintf(name, sizeof name, "%s.%s", group, key);
    if (!tensor_at(in) || in->tensor.ndim != 3 || !outs || outs->kind != YV_LIST)
        return golden_report(FILE_NAME, name, INFINITY, false);
    long n;
    float *pred = as_f32(in, &n);
    int B = (int)in->tensor.shape[0], C = (int)in->tensor.shape[1], A = (int)in->tensor.shape[2];
    int nc = C - 4;
    double worst = 0;
    bool pass = pred && (int)outs->seq.n == B;
    long rows = 0;
    for (int b = 0; pass && b < B; b++) {
        nms_dets d;
        if (nms_run(pred + (size_t)b * C * A, nc, C - 4 - nc, A, o, &d) != YOLO_OK) {
            pass = false;
            break;
        }
        const yv *ref = outs->seq.items[b];
        if (!tensor_at(ref) || yv_tensor_numel(&ref->tensor) != (int64_t)d.n * d.cols) {
            printf("# %s image %d: %d rows, expected %lld values\n", name, b, d.n,
                   ref && ref->kind == YV_TENSOR ? (long long)yv_tensor_numel(&ref->tensor) : -1LL);
            pass = false;
        } else {
            double w = golden_max_abs_diff(d.rows, (long)d.n * d.cols, ref);
            if (w > worst) worst = w;
            rows += d.n;
        }
        nms_dets_free(&d);
    }
    free(pred);
    if (!pass) worst = INFINITY;
    snprintf(name + strlen(name), sizeof name - strlen(name), " (%ld rows, exact)", rows);
    return golden_report(FILE_NAME, name, worst, pass && worst == 0);
}

static int check_candidates(const char *group, const yv *cs, const nms_opts *o) {
    const yv *in = yv_dict_get(cs, "input"), *want = yv_dict_get(cs, "n_candidates");
    char name[128];
    snprintf(name, sizeof name, "%s.n_candidates", group);
    if (!tensor_at(in) || !want || want->kind != YV_LIST)
        return golden_report(FILE_NAME, name, INFINITY, false);
    long n;
    float *pred = as_f32(in, &n);
    int B = (int)in->tensor.shape[0], C = (int)in->tensor.shape[1], A = (int)in->tensor.shape[2];
    double worst = pred && (int)want->seq.n == B ? 0 : INFINITY;
    nms_opts all = *o;
    all.max_det = 0; /* no cap, and a huge IoU threshold keeps every candidate */
    all.iou_thres = 2.0;
    all.max_nms = 0;
    for (int b = 0; worst == 0 && b < B; b++) {
        nms_dets d;
        int64_t w = -1;
        if (nms_run(pred + (size_t)b * C * A, C - 4, 0, A, &all, &d) != YOLO_OK ||
            !yv_as_int(want->seq.items[b], &w))
            worst = INFINITY;
        else
            worst = fabs((double)d.n - (double)w);
        nms_dets_free(&d);
    }
    free(pred);
    return golden_report(FILE_NAME, name, worst, worst == 0);
}

static int check_metrics(const yv *mc, int nc_names) {
    int bad = 0;
    const yv *imgs = yv_dict_get(mc, "images");
    if (!imgs || imgs->kind != YV_LIST)
        return golden_report(FILE_NAME, "metrics_case.images", INFINITY, false);
    /* iouv */
    float iouv[METRICS_NIOU];
    memcpy(iouv, metrics_iouv, sizeof iouv);
    bad +=
        golden_check_tensor(FILE_NAME, "metrics_case.iouv", iouv, METRICS_NIOU, yv_dict_get(mc, "iouv"), 0);

    metrics_det *acc = NULL;
    if (metrics_det_init(&acc, nc_names) != YOLO_OK)
        return bad + golden_report(FILE_NAME, "metrics_case", INFINITY, false);
    double iou_worst = 0, tp_worst = 0;
    bool ok = true;
    for (size_t i = 0; i < imgs->seq.n && ok; i++) {
        const yv *im = imgs->seq.items[i];
        long ng = 0, ngc = 0, np = 0, npc = 0, npf = 0;
        float *gb = as_f32(yv_dict_get(im, "gt_bboxes"), &ng), *gc = as_f32(yv_dict_get(im, "gt_cls"), &ngc);
        float *pb = as_f32(yv_dict_get(im, "pred_bboxes"), &np),
              *pc = as_f32(yv_dict_get(im, "pred_cls"), &npc);
        float *pf = as_f32(yv_dict_get(im, "pred_conf"), &npf);
        ok = gb && gc && pb && pc && pf && ng == 4 * ngc && np == 4 * npc && npc == npf;
        if (ok) {
            int n = (int)ngc, m = (int)npc;
            float *iou = malloc(sizeof *iou * ((size_t)n * m + 1));
            uint8_t *tp = malloc(m * METRICS_NIOU + 1);
            float *tpf = malloc(sizeof *tpf * (m * METRICS_NIOU + 1));
            metrics_box_iou(gb, n, pb, m, iou);
            double d = golden_max_abs_diff(iou, (long)n * m, yv_dict_get(im, "iou"));
            if (!(d <= iou_worst)) iou_worst = d;
            metrics_match(iou, gc, n, pc, m, tp);
            for (int k = 0; k < m * METRICS_NIOU; k++)
                tpf[k] = tp[k];
            d = golden_max_abs_diff(tpf, (long)m * METRICS_NIOU, yv_dict_get(im, "tp"));
            if (!(d <= tp_worst)) tp_worst = d;
            ok = metrics_det_add(acc, pb, 4, pf, 1, pc, 1, m, gb, gc, n) == YOLO_OK;
            free(iou), free(tp), free(tpf);
        }
        free(gb), free(gc), free(pb), free(pc), free(pf);
    }
    if (!ok) iou_worst = tp_worst = INFINITY;
    bad += golden_report(FILE_NAME, "metrics_case.iou (exact)", iou_worst, iou_worst == 0);
    bad += golden_report(FILE_NAME, "metrics_case.tp (exact)", tp_worst, tp_worst == 0);

    metrics_ap r;
    if (!ok || metrics_det_finalize(acc, &r) != YOLO_OK) {
        metrics_det_free(acc);
        return bad + golden_report(FILE_NAME, "metrics_case.results", INFINITY, false);
    }
    metrics_det_free(acc);

    /* the same from the stored concatenated stats, straight into ap_per_class */
    const yv *st = yv_dict_get(mc, "stats");
    long ntp = 0, nconf = 0, npc = 0, ntc = 0;
    float *stp = as_f32(yv_dict_get(st, "tp"), &ntp), *sconf = as_f32(yv_dict_get(st, "conf"), &nconf);
    float *spc = as_f32(yv_dict_get(st, "pred_cls"), &npc),
          *stc = as_f32(yv_dict_get(st, "target_cls"), &ntc);
    if (stp && sconf && spc && stc && ntp == nconf * METRICS_NIOU && npc == nconf) {
        uint8_t *tpb = malloc(ntp + 1);
        for (long k = 0; k < ntp; k++)
            tpb[k] = stp[k] != 0;
        metrics_ap r2;
        if (metrics_ap_per_class(tpb, sconf, spc, nconf, stc, ntc, nc_names, &r2) == YOLO_OK) {
            double d[3] = {r2.mp - r.mp, r2.map50 - r.map50, r2.map - r.map};
            double w = fmax(fabs(d[0]), fmax(fabs(d[1]), fabs(d[2])));
            for (int c = 0; c < r.n_cls && c < r2.n_cls; c++)
                for (int t = 0; t < METRICS_NIOU; t++)
                    w = fmax(w, fabs(r2.all_ap[c * METRICS_NIOU + t] - r.all_ap[c * METRICS_NIOU + t]));
            bad += golden_report(FILE_NAME, "metrics_case.stats (ap_per_class == accumulator)", w,
                                 w == 0 && r2.n_cls == r.n_cls);
            metrics_ap_free(&r2);
        } else {
            bad += golden_report(FILE_NAME, "metrics_case.stats", INFINITY, false);
        }
        free(tpb);
    } else {
        bad += golden_report(FILE_NAME, "metrics_case.stats (missing)", INFINITY, false);
    }
    free(stp), free(sconf), free(spc), free(stc);

    const yv *res = yv_dict_get(mc, "results");
    double ours[6] = {r.mp, r.mr, r.map50, r.map75, r.map, r.fitness};
    const char *keys[6] = {"precision", "recall", "mAP50", "mAP75", "mAP50_95", "fitness"};
    double worst = 0;
    for (int k = 0; k < 6; k++)
        worst = fmax(worst, diff_f64(&ours[k], 1, yv_dict_get(res, keys[k])));
    bad += golden_report(FILE_NAME, "metrics_case.results", worst, worst <= TOL);

    metrics_kv kv[9];
    int nkv = metrics_det_results(&r, NULL, kv);
    const yv *rd = yv_dict_get(mc, "results_dict");
    worst = rd && rd->kind == YV_DICT && (int)rd->dict.n == nkv ? 0 : INFINITY;
    for (int k = 0; k < nkv; k++)
        worst = fmax(worst, diff_f64(&kv[k].value, 1, yv_dict_get(rd, kv[k].key)));
    bad += golden_report(FILE_NAME, "metrics_case.results_dict (Ultralytics keys)", worst, worst <= TOL);

    const yv *pc = yv_dict_get(mc, "per_class");
    {
        const yv *ci = yv_dict_get(pc, "class_index");
        double w = ci && ci->kind == YV_LIST && (int)ci->seq.n == r.n_cls ? 0 : INFINITY;
        for (int k = 0; w == 0 && k < r.n_cls; k++) {
            int64_t v = -1;
            if (!yv_as_int(ci->seq.items[k], &v) || v != r.class_index[k]) w = INFINITY;
        }
        bad += golden_report(FILE_NAME, "metrics_case.per_class.class_index", w, w == 0);
    }
    bad += check_f64("metrics_case.per_class.p", r.p, r.n_cls, yv_dict_get(pc, "p"), TOL);
    bad += check_f64("metrics_case.per_class.r", r.r, r.n_cls, yv_dict_get(pc, "r"), TOL);
    bad += check_f64("metrics_case.per_class.f1", r.f1, r.n_cls, yv_dict_get(pc, "f1"), TOL);
    bad += check_f64("metrics_case.per_class.ap50", r.ap50, r.n_cls, yv_dict_get(pc, "ap50"), TOL);
    bad += check_f64("metrics_case.per_class.ap50_95", r.ap, r.n_cls, yv_dict_get(pc, "ap50_95"), TOL);
    bad += check_f64("metrics_case.per_class.all_ap", r.all_ap, (long)r.n_cls * METRICS_NIOU,
                     yv_dict_get(pc, "all_ap"), TOL);
    bad += check_f64("metrics_case.per_class.tp_at_maxf1", r.tp, r.n_cls, yv_dict_get(pc, "tp_at_maxf1"), 0);
    bad += check_f64("metrics_case.per_class.fp_at_maxf1", r.fp, r.n_cls, yv_dict_get(pc, "fp_at_maxf1"), 0);
    bad += check_f64("metrics_case.maps", r.maps, r.nc, yv_dict_get(mc, "maps"), TOL);
    {
        int n = r.nc;
        double *a = malloc(sizeof *a * 2 * n);
        for (int c = 0; a && c < n; c++)
            a[c] = (double)r.nt_per_class[c], a[n + c] = (double)r.nt_per_image[c];
        bad += check_f64("metrics_case.nt_per_class", a, a ? n : -1, yv_dict_get(mc, "nt_per_class"), 0);
        bad += check_f64("metrics_case.nt_per_image", a ? a + n : NULL, a ? n : -1,
                         yv_dict_get(mc, "nt_per_image"), 0);
        free(a);
        double mi = r.max_f1_index;
        bad += check_f64("metrics_case.max_f1_index", &mi, 1, yv_dict_get(mc, "max_f1_index"), 0);
    }
    const yv *cv = yv_dict_get(mc, "curves");
    bad += check_f64("metrics_case.curves.x", r.px, METRICS_NCURVE, yv_dict_get(cv, "x"), 0);
    bad += check_f64("metrics_case.curves.p_curve", r.p_curve, (long)r.n_cls * METRICS_NCURVE,
                     yv_dict_get(cv, "p_curve"), TOL);
    bad += check_f64("metrics_case.curves.r_curve", r.r_curve, (long)r.n_cls * METRICS_NCURVE,
                     yv_dict_get(cv, "r_curve"), TOL);
    bad += check_f64("metrics_case.curves.f1_curve", r.f1_curve, (long)r.n_cls * METRICS_NCURVE,
                     yv_dict_get(cv, "f1_curve"), TOL);
    bad += check_f64("metrics_case.curves.prec_values", r.prec_values, (long)r.n_prec_rows * METRICS_NCURVE,
                     yv_dict_get(cv, "prec_values"), TOL);
    metrics_ap_free(&r);
    return bad;
}

int golden_det_nms_metrics(const char *path, const yv *root) {
    (void)path;
    int bad = 0;
    nms_opts o;
    read_opts(root, &o);
    const char *groups[2] = {"nms_synthetic", "nms_model"};
    for (int g = 0; g < 2; g++) {
        const yv *cs = yv_dict_get(root, groups[g]);
        if (!cs) {
            bad += golden_report(FILE_NAME, groups[g], INFINITY, false);
            continue;
        }
        bad += check_candidates(groups[g], cs, &o);
        bad += check_nms(groups[g], cs, "output", &o);
        if (yv_dict_get(cs, "output_without_max_det")) {
            nms_opts nocap = o;
            nocap.max_det = 0;
            bad += check_nms(groups[g], cs, "output_without_max_det", &nocap);
        }
    }
    const yv *mc = yv_dict_get(root, "metrics_case");
    const yv *names = yv_dict_get(mc, "names");
    if (!mc || !names || names->kind != YV_LIST)
        return bad + golden_report(FILE_NAME, "metrics_case", INFINITY, false);
    bad += check_metrics(mc, (int)names->seq.n);
    return bad;
}
