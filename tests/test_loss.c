/* Losses and assigner beyond the golden files: errors for bad input, determinism (bit-identical
 * repeats), the no-target path, the small-box rule and padding rows in the assigner. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "yolo/assign.h"
#include "yolo/loss.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

#define NC 2
static const double strides[3] = {8, 16, 32};

/* Random head outputs for one 64x64 image: levels 8x8, 4x4, 2x2. */
static void make_feats(torch_tensor **f, int B) {
    torch_manual_seed(3);
    for (int i = 0; i < 3; i++) {
        int64_t s = 64 / (int64_t)strides[i];
        int64_t shape[4] = {B, 64 + NC, s, s};
        f[i] = NULL;
        torch_empty(4, shape, TORCH_F32, TORCH_CPU, &f[i]);
        torch_normal_(f[i], 0, 1);
        torch_set_requires_grad(f[i], true);
    }
}

static void targets(loss_targets *tg, torch_tensor **t, const float *bi, const float *cls, const float *box,
                    int64_t n) {
    int64_t s1[1] = {n}, s2[2] = {n, 4};
    t[0] = t[1] = t[2] = NULL;
    torch_from_data(bi, TORCH_F32, 1, s1, &t[0]);
    torch_from_data(cls, TORCH_F32, 1, s1, &t[1]);
    torch_from_data(box, TORCH_F32, 2, s2, &t[2]);
    *tg = (loss_targets){t[0], t[1], t[2]};
}

static void free3(torch_tensor **t) {
    for (int i = 0; i < 3; i++)
        torch_freep(&t[i]);
}

static void detect_cases(void) {
    torch_tensor *f[3], *t[3];
    make_feats(f, 2);
    loss_cfg cfg;
    loss_cfg_default(&cfg, NC, strides, 3);
    loss_targets tg;
    float bi[3] = {0, 0, 1}, cls[3] = {1, 0, 1};
    float box[12] = {0.5f, 0.5f, 0.4f, 0.3f, 0.2f, 0.25f, 0.2f, 0.3f, 0.7f, 0.6f, 0.05f, 0.05f};
    targets(&tg, t, bi, cls, box, 3);
    loss_output a = {0}, b = {0};
    yolo_status st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &a);
    CHECK(st == YOLO_OK, "detect: loss runs");
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &b);
    CHECK(st == YOLO_OK, "detect: loss runs again");
    double ta = 0, tb = 1;
    torch_item(a.total, &ta);
    torch_item(b.total, &tb);
    CHECK(!memcmp(a.items, b.items, sizeof a.items) && ta == tb, "detect: repeat is bit-identical (%.9g)",
          ta);
    CHECK(a.n_items == 3 && a.num_fg > 0 && a.items[0] > 0 && a.items[1] > 0 && a.items[2] > 0,
          "detect: three positive terms, %lld foreground anchors", (long long)a.num_fg);
    CHECK(fabs(ta - 2 * (a.items[0] + a.items[1] + a.items[2])) < 1e-4 * ta,
          "detect: total = B * sum(items)");
    bool back =
        torch_backward(a.total, NULL, false) == YOLO_OK && torch_has_grad(f[0]) && torch_has_grad(f[2]);
    CHECK(back, "detect: gradients reach every level");
    loss_output_free(&a);
    loss_output_free(&b);
    /* two threads: still the same bits from one run to the next */
    torch_set_threads(2);
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &a);
    if (st == YOLO_OK) st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &b);
    ta = 0, tb = 1;
    if (st == YOLO_OK) torch_item(a.total, &ta), torch_item(b.total, &tb);
    CHECK(st == YOLO_OK && !memcmp(a.items, b.items, sizeof a.items) && ta == tb,
          "detect: repeat with 2 threads is bit-identical");
    torch_set_threads(1);
    loss_output_free(&a);
    loss_output_free(&b);
    free3(t);

    /* no targets at all: only the class term, against all-zero targets */
    targets(&tg, t, bi, cls, box, 0);
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &a);
    CHECK(st == YOLO_OK && a.items[0] == 0 && a.items[2] == 0 && a.items[1] > 0 && a.num_fg == 0,
          "detect: no targets -> box = dfl = 0, cls > 0");
    loss_output_free(&a);
    free3(t);

    /* errors */
    float bad_bi[1] = {2};
    targets(&tg, t, bad_bi, cls, box, 1);
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &a);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "image index 2"), "detect: bad image index: %s",
          yolo_last_error());
    free3(t);
    float bad_cls[1] = {NC};
    targets(&tg, t, bi, bad_cls, box, 1);
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &a);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "class 2 outside 0..1"), "detect: bad class: %s",
          yolo_last_error());
    free3(t);
    float nan_box[4] = {NAN, 0.5f, 0.1f, 0.1f};
    targets(&tg, t, bi, cls, nan_box, 1);
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 3, &tg, &a);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "not finite"), "detect: NaN box: %s",
          yolo_last_error());
    free3(t);
    targets(&tg, t, bi, cls, box, 3);
    loss_cfg wrong;
    loss_cfg_default(&wrong, NC + 1, strides, 3);
    st = loss_detect(&wrong, (const torch_tensor *const *)f, 3, &tg, &a);
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "nc=3"), "detect: wrong nc: %s",
          yolo_last_error());
    st = loss_detect(&cfg, (const torch_tensor *const *)f, 2, &tg, &a);
    CHECK(st == YOLO_ERR_USAGE, "detect: wrong level count: %s", yolo_last_error());
    free3(t);
    for (int i = 0; i < 3; i++)
        torch_free(f[i]);
}

static void classify_cases(void) {
    float logits[6] = {2, 0, -1, 0, 0, 0};
    int64_t labels[2] = {0, 2}, s2[2] = {2, 3}, s1[1] = {2}, s3[1] = {3};
    torch_tensor *l = NULL, *y = NULL, *y3 = NULL;
    torch_from_data(logits, TORCH_F32, 2, s2, &l);
    torch_from_data(labels, TORCH_I64, 1, s1, &y);
    torch_from_data((int64_t[3]){0, 1, 2}, TORCH_I64, 1, s3, &y3);
    loss_output o = {0};
    yolo_status st = loss_classify(l, y, &o);
    CHECK(st == YOLO_OK, "classify: runs");
    double want = (-(2 - log(exp(2) + 1 + exp(-1))) + log(3.0)) / 2;
    CHECK(fabs(o.items[0] - want) < 1e-6 && o.n_items == 1, "classify: mean cross-entropy %.6f (want %.6f)",
          (double)o.items[0], want);
    loss_output_free(&o);
    st = loss_classify(l, y3, &o);
    CHECK(st == YOLO_ERR_USAGE, "classify: label count mismatch refused: %s", yolo_last_error());
    torch_free(l);
    torch_free(y);
    torch_free(y3);
}

/* Assigner on a hand-made case: 64x64 image, one real 4x4 box centred on an anchor centre (only the
 * small-box rule lets it contain the centre), one padding row. */
static void assigner_cases(void) {
    int64_t A = 64 + 16 + 4;
    float anc[(64 + 16 + 4) * 2];
    int64_t k = 0;
    for (int l = 0; l < 3; l++) {
        int n = 64 / (int)strides[l];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++, k++) {
                anc[2 * k] = (float)((x + 0.5) * strides[l]);
                anc[2 * k + 1] = (float)((y + 0.5) * strides[l]);
            }
    }
    float gl[2] = {1, 0}, gb[8] = {19, 19, 23, 23, 0, 0, 0, 0}, mg[2] = {1, 0};
    int64_t sa[2] = {A, 2}, sl[3] = {1, 2, 1}, sb[3] = {1, 2, 4}, ss[3] = {1, A, NC}, sp[3] = {1, A, 4};
    torch_tensor *ta = NULL, *tl = NULL, *tb = NULL, *tm = NULL, *ps = NULL, *pb = NULL;
    torch_from_data(anc, TORCH_F32, 2, sa, &ta);
    torch_from_data(gl, TORCH_F32, 3, sl, &tl);
    torch_from_data(gb, TORCH_F32, 3, sb, &tb);
    torch_from_data(mg, TORCH_F32, 3, sl, &tm);
    torch_full(3, ss, 0.5, TORCH_F32, TORCH_CPU, &ps);
    /* every prediction is the box 16..26 */
    float pbv[(64 + 16 + 4) * 4];
    for (int64_t i = 0; i < A; i++) {
        pbv[4 * i] = 16;
        pbv[4 * i + 1] = 16;
        pbv[4 * i + 2] = 26;
        pbv[4 * i + 3] = 26;
    }
    torch_from_data(pbv, TORCH_F32, 3, sp, &pb);
    assign_cfg cfg;
    assign_cfg_default(&cfg, NC, strides, 3);
    assign_result r = {0};
    yolo_status st = assign_run(&cfg, ps, pb, ta, tl, tb, tm, true, &r);
    CHECK(st == YOLO_OK, "assign: runs");
    float in[2 * (64 + 16 + 4)];
    torch_copy_out(r.mask_in_gts, TORCH_F32, in, 2 * A);
    int inside = 0, pad_inside = 0;
    for (int64_t i = 0; i < A; i++) {
        inside += in[i] != 0;
        pad_inside += in[A + i] != 0;
    }
    /* the 4x4 box 19..23 holds one anchor centre; widened to 13..29 it holds the P3 centres 20 and 28 in
     * x and y, the P4 centre (24,24) and the P5 centre (16,16) */
    CHECK(inside == 6, "assign: small box widened to 16 px contains 6 anchor centres (got %d)", inside);
    CHECK(pad_inside == 0, "assign: a padding row contains no anchor");
    float fg[64 + 16 + 4];
    torch_copy_out(r.fg_mask, TORCH_F32, fg, A);
    int nfg = 0;
    for (int64_t i = 0; i < A; i++)
        nfg += fg[i] != 0;
    CHECK(nfg == 6, "assign: those 6 anchors are foreground (got %d)", nfg);
    assign_result_free(&r);
    cfg.num_classes = NC + 2;
    st = assign_run(&cfg, ps, pb, ta, tl, tb, tm, false, &r);
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "nc=4"), "assign: score width vs nc checked: %s",
          yolo_last_error());
    torch_tensor *all[6] = {ta, tl, tb, tm, ps, pb};
    for (int i = 0; i < 6; i++)
        torch_free(all[i]);
}

/* Segmentation on random outputs: a normal batch, an image without boxes, no boxes at all; the mask
 * term is the box gain times the mean over foreground anchors, and the graph reaches the prototypes. */
static void segment_cases(void) {
    const int B = 2, nm = 4;
    int64_t hw[3][2] = {{8, 8}, {4, 4}, {2, 2}}, A = 84;
    int64_t sb[3] = {B, 64, A}, ss[3] = {B, NC, A}, sc[3] = {B, nm, A}, sp[4] = {B, nm, 16, 16},
            sm[3] = {B, 16, 16};
    torch_tensor *bx = NULL, *sco = NULL, *co = NULL, *pr = NULL, *mk = NULL, *t[3];
    torch_manual_seed(5);
    torch_empty(3, sb, TORCH_F32, TORCH_CPU, &bx);
    torch_normal_(bx, 0, 1);
    torch_empty(3, ss, TORCH_F32, TORCH_CPU, &sco);
    torch_normal_(sco, 0, 1);
    torch_empty(3, sc, TORCH_F32, TORCH_CPU, &co);
    torch_normal_(co, 0, 1);
    torch_empty(4, sp, TORCH_F32, TORCH_CPU, &pr);
    torch_normal_(pr, 0, 1);
    torch_set_requires_grad(pr, true);
    torch_set_requires_grad(co, true);
    /* image 0: instance 1 fills rows 4..11 cols 2..9 of the 16x16 mask; image 1 has none */
    uint8_t m[2 * 16 * 16] = {0};
    for (int y = 4; y < 12; y++)
        for (int x = 2; x < 10; x++)
            m[y * 16 + x] = 1;
    torch_from_data(m, TORCH_U8, 3, sm, &mk);
    float bi[1] = {0}, cls[1] = {1}, box[4] = {0.375f, 0.5f, 0.5f, 0.5f};
    loss_targets tg;
    targets(&tg, t, bi, cls, box, 1);
    loss_cfg cfg;
    loss_cfg_default(&cfg, NC, strides, 3);
    loss_output o = {0};
    yolo_status st = loss_segment(&cfg, bx, sco, (const int64_t(*)[2])hw, co, pr, mk, &tg, &o);
    CHECK(st == YOLO_OK && o.n_items == 5 && o.items[1] > 0 && o.items[4] == 0 && o.num_fg > 0,
          "segment: five items, seg > 0, sem = 0 (%lld fg)", (long long)o.num_fg);
    bool back = st == YOLO_OK && torch_backward(o.total, NULL, false) == YOLO_OK && torch_has_grad(pr) &&
                torch_has_grad(co);
    CHECK(back, "segment: gradients reach prototypes and coefficients");
    loss_output_free(&o);
    free3(t);
    targets(&tg, t, bi, cls, box, 0);
    st = loss_segment(&cfg, bx, sco, (const int64_t(*)[2])hw, co, pr, mk, &tg, &o);
    CHECK(st == YOLO_OK && o.items[0] == 0 && o.items[1] == 0 && o.items[3] == 0 && o.num_fg == 0,
          "segment: no boxes -> box = seg = dfl = 0");
    back = st == YOLO_OK && torch_backward(o.total, NULL, false) == YOLO_OK;
    CHECK(back, "segment: no boxes still backpropagates (zero-weighted prototypes)");
    loss_output_free(&o);
    free3(t);
    int64_t bad[3] = {B + 1, 16, 16};
    torch_tensor *mk2 = NULL;
    torch_zeros(3, bad, TORCH_U8, TORCH_CPU, &mk2);
    targets(&tg, t, bi, cls, box, 1);
    st = loss_segment(&cfg, bx, sco, (const int64_t(*)[2])hw, co, pr, mk2, &tg, &o);
    CHECK(st == YOLO_ERR_USAGE, "segment: mask batch mismatch refused: %s", yolo_last_error());
    free3(t);
    torch_tensor *all[6] = {bx, sco, co, pr, mk, mk2};
    for (int i = 0; i < 6; i++)
        torch_free(all[i]);
}

int main(void) {
    torch_set_threads(1);
    detect_cases();
    classify_cases();
    segment_cases();
    assigner_cases();
    TAP_DONE();
}
