/* Unit tests of NMS, box mapping, matching, ap_per_class and top-k on hand-made cases.
 * Calls with side effects run before CHECK, so that each check reads as a plain condition. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "tap.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"

/* One image's prediction array (4 + nc, A) from per-anchor cx cy w h and scores. */
static void put_anchor(float *pred, int nc, int A, int a, float cx, float cy, float w, float h,
                       const float *scores) {
    pred[a] = cx;
    pred[A + a] = cy;
    pred[2 * A + a] = w;
    pred[3 * A + a] = h;
    for (int c = 0; c < nc; c++)
        pred[(4 + c) * A + a] = scores[c];
}

static void test_nms(void) {
    enum { NC = 2, A = 4 };
    float pred[(4 + NC) * A];
    memset(pred, 0, sizeof pred);
    /* anchors 0 and 1 overlap heavily (IoU 0.81); anchor 2 is the same box as 0; anchor 3 is far away */
    put_anchor(pred, NC, A, 0, 50, 50, 20, 20, (float[]){0.9f, 0.0f});
    put_anchor(pred, NC, A, 1, 51, 51, 20, 20, (float[]){0.8f, 0.6f});
    put_anchor(pred, NC, A, 2, 50, 50, 20, 20, (float[]){0.0005f, 0.6f});
    put_anchor(pred, NC, A, 3, 10, 10, 8, 8, (float[]){0.3f, 0.0f});
    nms_opts o;
    nms_opts_default(&o);
    nms_dets d;
    int rc1 = nms_run(pred, NC, 0, A, &o, &d);
    CHECK(rc1 == YOLO_OK, "nms runs");
    /* class 0: 0.9 keeps, 0.8 suppressed (IoU > 0.7), 0.3 kept; class 1: the two 0.6 ties, anchor 1 first
     * (earlier candidate), anchor 2 suppressed by it; anchor 2's class-0 score is under conf */
    CHECK(d.n == 3, "class-aware NMS keeps 3 rows (got %d)", d.n);
    if (d.n == 3) {
        CHECK(d.rows[4] == 0.9f && d.rows[5] == 0, "row 0 is the best class-0 box");
        CHECK(d.rows[6 + 4] == 0.6f && d.rows[6 + 5] == 1 && d.rows[6 + 0] == 41.0f,
              "tie at 0.6: the earlier anchor wins and keeps its own box");
        CHECK(d.rows[12 + 4] == 0.3f, "last row has the lowest score");
        CHECK(d.rows[0] == 40 && d.rows[1] == 40 && d.rows[2] == 60 && d.rows[3] == 60,
              "xyxy from cx cy w h");
    }
    nms_dets_free(&d);
    o.agnostic = true;
    nms_run(pred, NC, 0, A, &o, &d);
    CHECK(d.n == 2, "agnostic NMS suppresses across classes (got %d)", d.n);
    nms_dets_free(&d);
    o.agnostic = false;
    o.max_det = 2;
    nms_run(pred, NC, 0, A, &o, &d);
    CHECK(d.n == 2 && d.rows[4] == 0.9f && d.rows[10] == 0.6f, "max_det keeps the best rows");
    nms_dets_free(&d);
    o.max_det = 300;
    o.multi_label = false;
    nms_run(pred, NC, 0, A, &o, &d);
    /* best class per anchor: a0 c0 0.9, a1 c0 0.8, a2 c1 0.6, a3 c0 0.3 -> a1 suppressed by a0 */
    CHECK(d.n == 3, "single-label NMS (got %d)", d.n);
    nms_dets_free(&d);
    o.conf_thres = 0.95;
    int rc2 = nms_run(pred, NC, 0, A, &o, &d);
    CHECK(rc2 == YOLO_OK && d.n == 0, "nothing above conf: no rows");
    nms_dets_free(&d);

    /* mask coefficients travel with their row */
    float pm[(4 + 1 + 2) * 1] = {5, 5, 4, 4, 0.5f, 7, -3};
    nms_opts_default(&o);
    nms_run(pm, 1, 2, 1, &o, &d);
    CHECK(d.n == 1 && d.cols == 8 && d.rows[6] == 7 && d.rows[7] == -3, "mask coefficients are copied");
    nms_dets_free(&d);
}

static void test_scale(void) {
    nms_geom g;
    nms_geom_letterbox(&g, 128, 128, 160, 128); /* 160 high, 128 wide: gain 0.8, pad left 13 */
    CHECK(fabs(g.gain - 0.8) < 1e-12 && g.pad_x == 13 && g.pad_y == 0,
          "letterbox geometry (gain %g pad %g,%g)", g.gain, g.pad_x, g.pad_y);
    float b[6] = {13, 0, 115.4f, 128, 0.5f, 1};
    nms_scale_boxes(b, 1, 6, &g);
    CHECK(b[0] == 0 && b[1] == 0 && fabsf(b[2] - 128) < 1e-4f && b[3] == 160 && b[4] == 0.5f,
          "boxes map back to the original image (%g %g %g %g)", b[0], b[1], b[2], b[3]);
    float c[4] = {-20, -5, 500, 90};
    nms_scale_boxes(c, 1, 4, &g);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 128 && c[3] == 112.5f, "boxes are clipped to the image");
    nms_dets d = {1, 6, (float[]){0, 0, 64, 80, 0.75f, 3}};
    char buf[128] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    nms_write_txt(f, &d, 128, 160, true);
    fclose(f);
    CHECK(!strcmp(buf, "3 0.25 0.25 0.5 0.5 0.75\n"), "save_txt line: %.*s", (int)strcspn(buf, "\n"), buf);
}

static void test_txt_path(void) {
    char p[64];
    nms_txt_path("out", "data/images/a.b.jpg", p, sizeof p);
    CHECK(!strcmp(p, "out/a.b.txt"), "save_txt path drops only the last extension: %s", p);
    nms_txt_path("out", "noext", p, sizeof p);
    CHECK(!strcmp(p, "out/noext.txt"), "save_txt path of a name without extension: %s", p);
    nms_txt_path("o", "d/.hidden", p, sizeof p);
    CHECK(!strcmp(p, "o/.hidden.txt"), "a leading dot is not an extension: %s", p);
    char longname[400], big[400];
    memset(longname, 'x', 300);
    strcpy(longname + 300, ".png");
    nms_txt_path("o", longname, big, sizeof big);
    CHECK(strlen(big) == 2 + 255 + 4, "the stem is cut at 255 bytes (%zu)", strlen(big));
    nms_txt_path("out", "a.jpg", p, 6);
    CHECK(!strcmp(p, "out/a"), "the path is truncated to the buffer: %s", p);
}

static void test_conf_order(void) {
    metrics_conf_idx v[6] = {{0.5f, 0}, {0.9f, 1}, {0.5f, 2}, {0.1f, 3}, {0.9f, 4}, {0.5f, 5}};
    metrics_sort_conf_desc(v, 6);
    long want[6] = {1, 4, 0, 2, 5, 3};
    bool same = true;
    for (int i = 0; i < 6; i++)
        same = same && v[i].idx == want[i];
    CHECK(same, "confidence order is descending, ties by position (%ld %ld %ld %ld %ld %ld)", v[0].idx,
          v[1].idx, v[2].idx, v[3].idx, v[4].idx, v[5].idx);
    metrics_sort_conf_desc(v, 0); /* nothing to sort is fine */
}

static void test_match(void) {
    /* one GT; pred 0 (higher confidence) IoU 0.80, pred 1 IoU 0.90: pred 0 is the TP up to 0.80 */
    float iou[2] = {0.80f, 0.90f}, gcls[1] = {0}, pcls[2] = {0, 0};
    uint8_t tp[20];
    metrics_match(iou, gcls, 1, pcls, 2, tp);
    bool ok = true;
    for (int t = 0; t < 10; t++) {
        float thr = metrics_iouv[t];
        int want0 = thr <= 0.80f, want1 = thr > 0.80f && thr <= 0.90f;
        ok &= tp[t] == want0 && tp[10 + t] == want1;
    }
    CHECK(ok, "each GT goes to the earliest prediction whose best match it is");
    float iou2[2] = {0.95f, 0.95f}, pcls2[2] = {1, 0};
    metrics_match(iou2, gcls, 1, pcls2, 2, tp);
    CHECK(tp[0] == 0 && tp[10] == 1 && tp[19] == 1, "a prediction of another class never matches");
    float a[4] = {0, 0, 10, 10}, b[8] = {0, 0, 10, 10, 20, 20, 30, 30}, out[2];
    metrics_box_iou(a, 1, b, 2, out);
    CHECK(out[0] > 0.9999f && out[0] <= 1 && out[1] == 0, "box IoU (%g, %g)", out[0], out[1]);
    uint8_t gm[4] = {1, 1, 0, 0}, pmask[8] = {1, 0, 0, 0, 0, 0, 1, 1};
    float mi[2];
    metrics_mask_iou(gm, 1, pmask, 2, 4, mi);
    CHECK(fabsf(mi[0] - 0.5f) < 1e-6f && mi[1] == 0, "mask IoU (%g, %g)", mi[0], mi[1]);
    /* masks: one prototype, positive on the left half; the box crops columns 2..5 of an 8x8 mask
     * (input 32x32, so the ratio is 1/4: box x 8..24 -> 2..6) */
    float proto[64];
    for (int k = 0; k < 64; k++)
        proto[k] = (k % 8) < 4 ? 1.0f : -1.0f;
    float coef[1] = {2.0f}, box[4] = {8, 0, 24, 32};
    uint8_t pm[64];
    int rc3 = metrics_process_mask(proto, 1, 8, 8, coef, 1, box, 4, 1, 32, 32, pm);
    CHECK(rc3 == YOLO_OK, "process_mask");
    int on = 0, ok_cols = 1;
    for (int k = 0; k < 64; k++) {
        on += pm[k];
        if (pm[k] && ((k % 8) < 2 || (k % 8) > 3)) ok_cols = 0;
    }
    CHECK(on == 16 && ok_cols, "mask = positive logits inside the crop (%d pixels)", on);
    uint8_t ov[4] = {0, 2, 1, 2}, inst[8];
    metrics_masks_from_overlap(ov, 4, 2, inst);
    CHECK(inst[2] == 1 && inst[0] == 0 && inst[5] == 1 && inst[7] == 1 && inst[6] == 0,
          "overlap mask to instances");
}

static void test_ap(void) {
    metrics_det *m;
    int rc4 = metrics_det_init(&m, 3);
    CHECK(rc4 == YOLO_OK, "accumulator");
    float gt[8] = {10, 10, 30, 30, 50, 50, 90, 70}, gc[2] = {0, 2};
    float pc[2] = {0, 2}, conf[2] = {0.9f, 0.8f};
    /* perfect predictions: every class AP is 0.995 (the envelope drops to 0 at recall 1) */
    for (int i = 0; i < 4; i++)
        metrics_det_add(m, gt, 4, conf, 1, pc, 1, 2, gt, gc, 2);
    metrics_ap r;
    int rc5 = metrics_det_finalize(m, &r);
    CHECK(rc5 == YOLO_OK, "finalize");
    CHECK(r.n_cls == 2 && fabs(r.map50 - 0.995) < 1e-12 && fabs(r.map - 0.995) < 1e-12 && r.mp == 1 &&
              r.mr == 1,
          "perfect predictions: P 1 R 1 mAP 0.995 (%g %g %g)", r.mp, r.mr, r.map);
    CHECK(r.maps[1] == r.map && r.maps[0] == r.ap[0], "a class without GT gets the mean in maps");
    CHECK(r.images == 4 && r.nt_per_class[0] == 4 && r.nt_per_image[2] == 4, "counts");
    CHECK(fabs(r.fitness - r.map) < 1e-15, "fitness is mAP50-95");
    metrics_ap_free(&r);

    /* one extra image with a GT and no prediction, and a pred without GT in another */
    float g3[4] = {0, 0, 5, 5}, c3 = 0;
    metrics_det_add(m, NULL, 4, NULL, 1, NULL, 1, 0, g3, &c3, 1);
    float p4[4] = {100, 100, 110, 110}, cf4 = 0.95f, cl4 = 1;
    metrics_det_add(m, p4, 4, &cf4, 1, &cl4, 1, 1, NULL, NULL, 0);
    metrics_det_finalize(m, &r);
    CHECK(r.n_cls == 2 && r.images == 6 && r.r[0] < 1 && r.ap50[1] == 0.995,
          "missed GT lowers recall; predictions of a class without GT are ignored");
    metrics_ap_free(&r);

    float bad = 3;
    int rc6 = metrics_det_add(m, NULL, 4, NULL, 1, NULL, 1, 0, g3, &bad, 1);
    CHECK(rc6 == YOLO_ERR_FORMAT, "GT class outside 0..nc-1 is an error: %s", yolo_last_error());
    metrics_det_clear(m);
    metrics_det_finalize(m, &r);
    CHECK(r.n_cls == 0 && r.map == 0 && r.mp == 0 && r.maps[0] == 0 && r.images == 0, "no GT at all: zeros");
    metrics_ap_free(&r);

    /* no predictions at all */
    for (int i = 0; i < 3; i++)
        metrics_det_add(m, NULL, 4, NULL, 1, NULL, 1, 0, gt, gc, 2);
    metrics_det_finalize(m, &r);
    CHECK(r.n_cls == 2 && r.map == 0 && r.map50 == 0 && r.mp == 0 && r.mr == 0, "no predictions: zeros");
    metrics_ap_free(&r);
    metrics_det_free(m);

    /* all confidences tied inside one class with mixed TP/FP: the stable order decides, and it is
     * the same whichever way the images arrive once sorted stably */
    uint8_t tp[40] = {0};
    for (int t = 0; t < 10; t++)
        tp[t] = 1, tp[20 + t] = 1;
    float cf[4] = {0.5f, 0.5f, 0.5f, 0.5f}, cl[4] = {0, 0, 0, 0}, tc[2] = {0, 0};
    int rc7 = metrics_ap_per_class(tp, cf, cl, 4, tc, 2, 1, &r);
    CHECK(rc7 == YOLO_OK, "ap_per_class with ties");
    /* recall 0.5,0.5,1,1 precision 1,.5,.667,.5: envelope 1 to recall 0.5, 0.667 to recall 1 */
    double want = 0;
    {
        double x[101], y[101];
        for (int k = 0; k < 101; k++) {
            x[k] = k / 100.0;
            y[k] = x[k] <= 0.5 ? (x[k] == 0.5 ? 2.0 / 3 : 1.0) : (x[k] < 1 ? 2.0 / 3 : 0.0);
        }
        for (int k = 0; k < 100; k++)
            want += (x[k + 1] - x[k]) * (y[k + 1] + y[k]) / 2;
    }
    CHECK(fabs(r.ap50[0] - want) < 1e-9, "tied AP %.6f == %.6f", r.ap50[0], want);
    metrics_ap_free(&r);
}

/* Images split between two accumulators (two ranks), the second packed and merged into the first, give
 * the results of one accumulator given every image in order; a pack that lies is refused. */
static void test_pack_merge(void) {
    metrics_det *all, *a, *b;
    metrics_det_init(&all, 3), metrics_det_init(&a, 3), metrics_det_init(&b, 3);
    float gt[8] = {10, 10, 30, 30, 50, 50, 90, 70}, gc[2] = {0, 2};
    float pred[12] = {11, 10, 30, 31, 52, 50, 88, 70, 0, 0, 9, 9}, pc[3] = {0, 2, 1};
    for (int i = 0; i < 6; i++) {
        /* confidences tied across images: the merged order must be the images' order */
        float conf[3] = {0.5f, 0.9f - 0.1f * (i % 3), 0.5f};
        int np = 1 + i % 3;
        metrics_det_add(all, pred, 4, conf, 1, pc, 1, np, gt, gc, 2);
        metrics_det_add(i < 4 ? a : b, pred, 4, conf, 1, pc, 1, np, gt, gc, 2);
    }
    unsigned char *pk = NULL;
    size_t len = 0;
    int rc = metrics_det_pack(b, &pk, &len);
    CHECK(rc == YOLO_OK && len > 0, "pack (%zu bytes)", len);
    metrics_det *c3;
    metrics_det_init(&c3, 4);
    CHECK(metrics_det_merge(c3, pk, len) == YOLO_ERR_FORMAT, "a pack of 3 classes into 4 is refused: %s",
          yolo_last_error());
    CHECK(metrics_det_merge(a, pk, len - 1) == YOLO_ERR_FORMAT, "a pack cut short is refused: %s",
          yolo_last_error());
    rc = metrics_det_merge(a, pk, len);
    CHECK(rc == YOLO_OK, "merge");
    metrics_ap r1, r2;
    metrics_det_finalize(all, &r1);
    metrics_det_finalize(a, &r2);
    CHECK(r1.images == 6 && r2.images == 6 && r1.map == r2.map && r1.map50 == r2.map50 && r1.mp == r2.mp &&
              r1.mr == r2.mr && r1.fitness == r2.fitness && r1.nt_per_image[2] == r2.nt_per_image[2] &&
              r1.map > 0,
          "4 images + 2 merged = 6 images in one accumulator, bit for bit (mAP %.6f)", r2.map);
    metrics_ap_free(&r1), metrics_ap_free(&r2);
    free(pk);
    metrics_det_free(all), metrics_det_free(a), metrics_det_free(b), metrics_det_free(c3);
}

static void test_seg(void) {
    /* one 16x16 object in a 32x32 input; 8x8 prototypes (ratio 4); a prediction with the same box and
     * an all-positive prototype, cropped to the box, gives the GT mask exactly */
    float pred[6] = {16, 16, 16, 16, 0.9f, 1.0f}, proto[64], gt[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    uint16_t overlap[64];
    for (int k = 0; k < 64; k++) {
        int y = k / 8, x = k % 8;
        proto[k] = 1.0f;
        overlap[k] = (y >= 2 && y < 6 && x >= 2 && x < 6) ? 1 : 0;
    }
    int cls = 0;
    metrics_det *box, *mask;
    metrics_det_init(&box, 1);
    metrics_det_init(&mask, 1);
    nms_opts o;
    nms_opts_default(&o);
    int rc =
        metrics_seg_add_prediction(box, mask, pred, 1, 1, 1, &o, proto, 8, 8, gt, &cls, 1, overlap, 32, 32);
    CHECK(rc == YOLO_OK, "segment image added");
    /* a second image whose mask is elsewhere: the box matches, the mask does not */
    for (int k = 0; k < 64; k++)
        overlap[k] = (k / 8 >= 2 && k / 8 < 6 && k % 8 < 2) ? 1 : 0;
    rc = metrics_seg_add_prediction(box, mask, pred, 1, 1, 1, &o, proto, 8, 8, gt, &cls, 1, overlap, 32, 32);
    metrics_ap rb, rm;
    metrics_det_finalize(box, &rb);
    metrics_det_finalize(mask, &rm);
    CHECK(rc == YOLO_OK && fabs(rb.map50 - 0.995) < 1e-12 && rm.map50 < 0.6 && rm.map50 > 0.4,
          "box mAP50 %g, mask mAP50 %g (one of two masks right)", rb.map50, rm.map50);
    metrics_kv kv[9];
    int n = metrics_det_results(&rb, &rm, kv);
    CHECK(n == 9 && !strcmp(kv[7].key, "metrics/mAP50-95(M)") &&
              fabs(kv[8].value - (rb.map + rm.map)) < 1e-15,
          "segment keys; fitness = box + mask");
    metrics_ap_free(&rb);
    metrics_ap_free(&rm);
    metrics_det_free(box);
    metrics_det_free(mask);
}

static void test_topk(void) {
    float p[2 * 3] = {0.2f, 0.5f, 0.3f, 0.4f, 0.4f, 0.2f};
    int32_t top[6];
    metrics_topk(p, 2, 3, top);
    CHECK(top[0] == 1 && top[1] == 2 && top[2] == 0 && top[3] == 0 && top[4] == 1 && top[5] == 2,
          "top-k for nc 3 (k = 3), ties by lower index");
    metrics_cls m;
    metrics_cls_clear(&m);
    int64_t t[2] = {2, 0};
    metrics_cls_add(&m, p, 2, 3, t);
    double t1, t5, fit;
    metrics_cls_result(&m, &t1, &t5, &fit);
    CHECK(t1 == 0.5 && t5 == 1 && fit == 0.75, "top1 %g top5 %g fitness %g", t1, t5, fit);
    int64_t badt = 3;
    int rc8 = metrics_cls_add(&m, p, 1, 3, &badt);
    CHECK(rc8 == YOLO_ERR_FORMAT, "target outside the classes is an error");
    metrics_kv kv[3];
    int rc9 = metrics_cls_results(&m, kv);
    CHECK(rc9 == 3 && !strcmp(kv[0].key, "metrics/accuracy_top1"), "classify keys");
}

int main(void) {
    test_nms();
    test_scale();
    test_txt_path();
    test_conf_order();
    test_match();
    test_ap();
    test_pack_merge();
    test_seg();
    test_topk();
    TAP_DONE();
}
