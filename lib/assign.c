/* TaskAlignedAssigner (Ultralytics 8.4.52). The op sequence mirrors the reference step by step on
 * tensors of the same shapes: the CIoU is computed on the boolean-selected (gt, anchor) pairs only,
 * because vectorised and scalar kernel paths of atan/pow can differ in the last bit, and the
 * assignment must be bit-identical. */
#include "yolo/assign.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/torch_train.h"

#define O(v) TT_OUT(&sc, v)

/* Hands a finished local to the caller's output as torch.h's contract says: a NULL *out takes the
 * local's handle, an existing one has its tensor replaced (the local stays for the scope to free). */
static yolo_status deliver(torch_tensor **local, torch_tensor **out) {
    if (*out) return torch_alias(*local, out);
    *out = *local;
    *local = NULL;
    return YOLO_OK;
}

void assign_cfg_default(assign_cfg *cfg, int nc, const double *strides, int nl) {
    cfg->topk = 10;
    cfg->num_classes = nc;
    cfg->alpha = 0.5;
    cfg->beta = 6.0;
    cfg->eps = 1e-9;
    cfg->small_side = nl >= 1 ? strides[0] : 8.0;
    cfg->small_fill = nl >= 2 ? strides[1] : cfg->small_side;
}

void assign_result_free(assign_result *r) {
    if (!r) return;
    torch_tensor **all[] = {&r->target_labels,     &r->target_bboxes, &r->target_scores,
                            &r->fg_mask,           &r->target_gt_idx, &r->mask_in_gts,
                            &r->align_metric,      &r->overlaps,      &r->mask_pos_before_resolve,
                            &r->claims_per_anchor, &r->mask_pos};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        torch_freep(all[i]);
}

yolo_status assign_compute_ciou(const torch_tensor *box1, const torch_tensor *box2, torch_tensor **out) {
    const double eps = 1e-7;
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_tensor *a[4] = {0}, *b[4] = {0};
    torch_tensor *w1 = NULL, *h1 = NULL, *w2 = NULL, *h2 = NULL, *t1 = NULL, *t2 = NULL, *inter = NULL;
    torch_tensor *uni = NULL, *iou = NULL, *cw = NULL, *ch = NULL, *c2 = NULL, *rho2 = NULL, *v = NULL;
    torch_tensor *alpha = NULL, *r = NULL;
    for (int i = 0; i < 4; i++) {
        YOLO_TRY(torch_narrow(box1, -1, i, 1, O(a[i])));
        YOLO_TRY(torch_narrow(box2, -1, i, 1, O(b[i])));
    }
    /* w, h (eps added to the heights) */
    YOLO_TRY(torch_sub(a[2], a[0], O(w1)));
    YOLO_TRY(torch_sub(a[3], a[1], O(h1)));
    YOLO_TRY(torch_add_scalar(h1, eps, O(h1)));
    YOLO_TRY(torch_sub(b[2], b[0], O(w2)));
    YOLO_TRY(torch_sub(b[3], b[1], O(h2)));
    YOLO_TRY(torch_add_scalar(h2, eps, O(h2)));
    /* intersection */
    YOLO_TRY(tt_minimum(a[2], b[2], O(t1)));
    YOLO_TRY(tt_maximum(a[0], b[0], O(t2)));
    YOLO_TRY(torch_sub(t1, t2, O(t1)));
    YOLO_TRY(tt_clamp(t1, 0, NAN, O(t1)));
    YOLO_TRY(tt_minimum(a[3], b[3], O(t2)));
    YOLO_TRY(tt_maximum(a[1], b[1], O(inter)));
    YOLO_TRY(torch_sub(t2, inter, O(t2)));
    YOLO_TRY(tt_clamp(t2, 0, NAN, O(t2)));
    YOLO_TRY(torch_mul(t1, t2, O(inter)));
    /* union = w1 h1 + w2 h2 - inter + eps */
    YOLO_TRY(torch_mul(w1, h1, O(t1)));
    YOLO_TRY(torch_mul(w2, h2, O(t2)));
    YOLO_TRY(torch_add(t1, t2, O(uni)));
    YOLO_TRY(torch_sub(uni, inter, O(uni)));
    YOLO_TRY(torch_add_scalar(uni, eps, O(uni)));
    YOLO_TRY(torch_div(inter, uni, O(iou)));
    /* enclosing box diagonal squared */
    YOLO_TRY(tt_maximum(a[2], b[2], O(cw)));
    YOLO_TRY(tt_minimum(a[0], b[0], O(t1)));
    YOLO_TRY(torch_sub(cw, t1, O(cw)));
    YOLO_TRY(tt_maximum(a[3], b[3], O(ch)));
    YOLO_TRY(tt_minimum(a[1], b[1], O(t1)));
    YOLO_TRY(torch_sub(ch, t1, O(ch)));
    YOLO_TRY(tt_pow_scalar(cw, 2, O(c2)));
    YOLO_TRY(tt_pow_scalar(ch, 2, O(t1)));
    YOLO_TRY(torch_add(c2, t1, O(c2)));
    YOLO_TRY(torch_add_scalar(c2, eps, O(c2)));
    /* centre distance squared: ((b2x1 + b2x2 - b1x1 - b1x2)^2 + (same in y)^2) / 4 */
    YOLO_TRY(torch_add(b[0], b[2], O(t1)));
    YOLO_TRY(torch_sub(t1, a[0], O(t1)));
    YOLO_TRY(torch_sub(t1, a[2], O(t1)));
    YOLO_TRY(tt_pow_scalar(t1, 2, O(t1)));
    YOLO_TRY(torch_add(b[1], b[3], O(t2)));
    YOLO_TRY(torch_sub(t2, a[1], O(t2)));
    YOLO_TRY(torch_sub(t2, a[3], O(t2)));
    YOLO_TRY(tt_pow_scalar(t2, 2, O(t2)));
    YOLO_TRY(torch_add(t1, t2, O(rho2)));
    YOLO_TRY(tt_div_scalar(rho2, 4, O(rho2)));
    /* aspect term v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2 */
    YOLO_TRY(torch_div(w2, h2, O(t1)));
    YOLO_TRY(tt_atan(t1, O(t1)));
    YOLO_TRY(torch_div(w1, h1, O(t2)));
    YOLO_TRY(tt_atan(t2, O(t2)));
    YOLO_TRY(torch_sub(t1, t2, O(v)));
    YOLO_TRY(tt_pow_scalar(v, 2, O(v)));
    YOLO_TRY(torch_mul_scalar(v, 4 / (M_PI * M_PI), O(v)));
    {
        /* alpha is a constant for the gradient */
        bool was = torch_set_grad_enabled(false);
        st = torch_sub(v, iou, O(alpha));
        if (st == YOLO_OK) st = torch_add_scalar(alpha, 1 + eps, O(alpha));
        if (st == YOLO_OK) st = torch_div(v, alpha, O(alpha));
        torch_set_grad_enabled(was);
        if (st != YOLO_OK) goto done;
    }
    YOLO_TRY(torch_div(rho2, c2, O(t1)));
    YOLO_TRY(torch_mul(v, alpha, O(t2)));
    YOLO_TRY(torch_add(t1, t2, O(t1)));
    YOLO_TRY(torch_sub(iou, t1, O(r)));
    YOLO_TRY(deliver(&r, out));
done:
    tt_scope_free(&sc);
    return st;
}

/* The in-box test with the small-box rule: (B,M,A) float 0/1. */
static yolo_status in_gts(const assign_cfg *cfg, const torch_tensor *anc, const torch_tensor *gb,
                          const torch_tensor *mask_gt, torch_tensor **out) {
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_tensor *x[4] = {0}, *cx = NULL, *cy = NULL, *w = NULL, *h = NULL, *wh = NULL, *xy = NULL,
                 *sel = NULL;
    torch_tensor *lt = NULL, *rb = NULL, *d1 = NULL, *d2 = NULL, *d = NULL, *a1 = NULL;
    int64_t B = torch_size(gb, 0), M = torch_size(gb, 1), A = torch_size(anc, 0);
    for (int i = 0; i < 4; i++)
        YOLO_TRY(torch_narrow(gb, 2, i, 1, O(x[i])));
    YOLO_TRY(torch_add(x[0], x[2], O(cx)));
    YOLO_TRY(tt_div_scalar(cx, 2, O(cx)));
    YOLO_TRY(torch_add(x[1], x[3], O(cy)));
    YOLO_TRY(tt_div_scalar(cy, 2, O(cy)));
    YOLO_TRY(torch_sub(x[2], x[0], O(w)));
    YOLO_TRY(torch_sub(x[3], x[1], O(h)));
    {
        const torch_tensor *p[2] = {w, h};
        YOLO_TRY(torch_cat(p, 2, 2, O(wh)));
        const torch_tensor *q[2] = {cx, cy};
        YOLO_TRY(torch_cat(q, 2, 2, O(xy)));
    }
    /* Only real boxes get widened: padding rows stay degenerate and contain no anchor. */
    YOLO_TRY(tt_cmp_scalar(wh, TT_LT, cfg->small_side, O(sel)));
    YOLO_TRY(torch_mul(sel, mask_gt, O(sel)));
    YOLO_TRY(torch_to(sel, TORCH_BOOL, torch_device_of(sel), O(sel)));
    YOLO_TRY(tt_where_scalar_a(sel, cfg->small_fill, wh, O(wh)));
    YOLO_TRY(tt_div_scalar(wh, 2, O(wh)));
    YOLO_TRY(torch_sub(xy, wh, O(lt)));
    YOLO_TRY(torch_add(xy, wh, O(rb)));
    {
        int64_t s3[3] = {B * M, 1, 2};
        YOLO_TRY(torch_view(lt, 3, s3, O(lt)));
        YOLO_TRY(torch_view(rb, 3, s3, O(rb)));
    }
    YOLO_TRY(torch_unsqueeze(anc, 0, O(a1)));
    YOLO_TRY(torch_sub(a1, lt, O(d1)));
    YOLO_TRY(torch_sub(rb, a1, O(d2)));
    {
        const torch_tensor *p[2] = {d1, d2};
        YOLO_TRY(torch_cat(p, 2, 2, O(d)));
        int64_t s4[4] = {B, M, A, 4};
        YOLO_TRY(torch_view(d, 4, s4, O(d)));
    }
    YOLO_TRY(tt_amin(d, 3, false, O(d)));
    YOLO_TRY(tt_cmp_scalar(d, TT_GT, cfg->eps, O(d)));
    YOLO_TRY(torch_to(d, torch_dtype_of(gb), torch_device_of(gb), O(d)));
    YOLO_TRY(deliver(&d, out));
done:
    tt_scope_free(&sc);
    return st;
}

static yolo_status empty_result(const assign_cfg *cfg, const torch_tensor *pd_scores,
                                const torch_tensor *pd_bboxes, assign_result *out) {
    int64_t B = torch_size(pd_scores, 0), A = torch_size(pd_scores, 1);
    torch_device dev = torch_device_of(pd_scores);
    int64_t ba[2] = {B, A}, bad[3] = {B, A, 4}, ban[3] = {B, A, cfg->num_classes};
    yolo_status st;
    (void)pd_bboxes;
    if ((st = torch_full(2, ba, cfg->num_classes, TORCH_I64, dev, &out->target_labels)) != YOLO_OK ||
        (st = torch_zeros(3, bad, torch_dtype_of(pd_bboxes), dev, &out->target_bboxes)) != YOLO_OK ||
        (st = torch_zeros(3, ban, torch_dtype_of(pd_scores), dev, &out->target_scores)) != YOLO_OK ||
        (st = torch_zeros(2, ba, TORCH_BOOL, dev, &out->fg_mask)) != YOLO_OK ||
        (st = torch_zeros(2, ba, TORCH_I64, dev, &out->target_gt_idx)) != YOLO_OK)
        assign_result_free(out);
    return st;
}

static yolo_status keep(torch_tensor *t, torch_tensor **dst) {
    torch_freep(dst);
    return torch_clone(t, dst);
}

yolo_status assign_run(const assign_cfg *cfg, const torch_tensor *pd_scores, const torch_tensor *pd_bboxes,
                       const torch_tensor *anc_points, const torch_tensor *gt_labels,
                       const torch_tensor *gt_bboxes, const torch_tensor *mask_gt, bool keep_intermediates,
                       assign_result *out) {
    if (!cfg || !out || !pd_scores || !pd_bboxes || !anc_points || !gt_labels || !gt_bboxes || !mask_gt)
        return yolo_error(YOLO_ERR_USAGE, "assign: missing argument");
    memset(out, 0, sizeof *out);
    int64_t B = torch_size(gt_bboxes, 0), M = torch_size(gt_bboxes, 1), A = torch_size(anc_points, 0);
    int64_t nc = cfg->num_classes;
    if (torch_ndim(pd_scores) != 3 || torch_size(pd_scores, 0) != B || torch_size(pd_scores, 1) != A ||
        torch_size(pd_scores, 2) != nc || torch_ndim(gt_bboxes) != 3 || torch_size(gt_bboxes, 2) != 4 ||
        torch_size(pd_bboxes, 1) != A || torch_size(gt_labels, 1) != M || torch_size(mask_gt, 1) != M)
        return yolo_error(YOLO_ERR_USAGE, "assign: inconsistent input shapes (B=%lld A=%lld M=%lld nc=%lld)",
                          (long long)B, (long long)A, (long long)M, (long long)nc);
    bool was = torch_set_grad_enabled(false);
    if (M == 0) {
        yolo_status st = empty_result(cfg, pd_scores, pd_bboxes, out);
        torch_set_grad_enabled(was);
        return st;
    }
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_device dev = torch_device_of(gt_bboxes);
    torch_tensor *mask_in = NULL, *mg = NULL, *ps_t = NULL, *lab = NULL, *scores = NULL, *pdb = NULL,
                 *gtb = NULL;
    torch_tensor *ov_sel = NULL, *overlaps = NULL, *am = NULL, *t1 = NULL, *idx = NULL, *cond = NULL;
    torch_tensor *count = NULL, *ones = NULL, *col = NULL, *mask_pos = NULL, *fg = NULL;
    torch_tensor *mi = NULL, *ism = NULL, *tgi = NULL, *bi = NULL, *flat = NULL, *labels = NULL;
    torch_tensor *tb = NULL, *ts = NULL, *fgm = NULL, *pam = NULL, *pov = NULL, *norm = NULL, *am_raw = NULL;
    int64_t bma[3] = {B, M, A};

    YOLO_TRY(in_gts(cfg, anc_points, gt_bboxes, mask_gt, O(mask_in)));

    /* metrics on the (gt, anchor) pairs inside a real box */
    YOLO_TRY(torch_mul(mask_in, mask_gt, O(mg)));
    YOLO_TRY(torch_to(mg, TORCH_BOOL, dev, O(mg)));
    YOLO_TRY(torch_permute(pd_scores, 3, (int64_t[]){0, 2, 1}, O(ps_t)));
    YOLO_TRY(torch_to(gt_labels, TORCH_I64, dev, O(lab)));
    YOLO_TRY(tt_expand(lab, 3, bma, O(lab)));
    YOLO_TRY(tt_gather(ps_t, 1, lab, O(scores)));
    YOLO_TRY(tt_where_scalar(mg, scores, 0, O(scores)));
    {
        int64_t e4[4] = {B, M, A, 4};
        YOLO_TRY(torch_unsqueeze(pd_bboxes, 1, O(pdb)));
        YOLO_TRY(tt_expand(pdb, 4, e4, O(pdb)));
        YOLO_TRY(tt_index_bool(pdb, mg, O(pdb)));
        YOLO_TRY(torch_unsqueeze(gt_bboxes, 2, O(gtb)));
        YOLO_TRY(tt_expand(gtb, 4, e4, O(gtb)));
        YOLO_TRY(tt_index_bool(gtb, mg, O(gtb)));
    }
    YOLO_TRY(assign_compute_ciou(gtb, pdb, O(ov_sel)));
    YOLO_TRY(tt_squeeze(ov_sel, -1, O(ov_sel)));
    YOLO_TRY(tt_clamp(ov_sel, 0, NAN, O(ov_sel)));
    YOLO_TRY(torch_zeros(3, bma, torch_dtype_of(pd_bboxes), dev, O(overlaps)));
    YOLO_TRY(tt_index_put_bool_(overlaps, mg, ov_sel));
    YOLO_TRY(tt_pow_scalar(scores, cfg->alpha, O(am)));
    YOLO_TRY(tt_pow_scalar(overlaps, cfg->beta, O(t1)));
    YOLO_TRY(torch_mul(am, t1, O(am)));

    /* top-k over all anchors; padded GTs point at anchor 0 and vanish as double counts */
    YOLO_TRY(tt_topk(am, cfg->topk, -1, true, NULL, O(idx)));
    YOLO_TRY(tt_cmp_scalar(mask_gt, TT_EQ, 0, O(cond)));
    YOLO_TRY(tt_masked_fill_(idx, cond, 0));
    YOLO_TRY(torch_zeros(3, bma, TORCH_I8, dev, O(count)));
    {
        int64_t s3[3] = {B, M, 1};
        YOLO_TRY(torch_ones(3, s3, TORCH_I8, dev, O(ones)));
    }
    for (int k = 0; k < cfg->topk; k++) {
        YOLO_TRY(torch_narrow(idx, 2, k, 1, O(col)));
        YOLO_TRY(tt_scatter_add_(count, -1, col, ones));
    }
    YOLO_TRY(tt_cmp_scalar(count, TT_GT, 1, O(cond)));
    YOLO_TRY(tt_masked_fill_(count, cond, 0));
    YOLO_TRY(torch_to(count, torch_dtype_of(am), dev, O(mask_pos)));
    YOLO_TRY(torch_mul(mask_pos, mask_in, O(mask_pos)));
    YOLO_TRY(torch_mul(mask_pos, mask_gt, O(mask_pos)));
    if (keep_intermediates) YOLO_TRY(keep(mask_pos, &out->mask_pos_before_resolve));

    /* anchors claimed by several GTs go to the GT of largest overlap */
    YOLO_TRY(torch_sum_dim(mask_pos, -2, false, O(fg)));
    if (keep_intermediates) YOLO_TRY(keep(fg, &out->claims_per_anchor));
    double fg_max = 0;
    YOLO_TRY(tt_max_value(fg, &fg_max));
    if (fg_max > 1) {
        YOLO_TRY(torch_unsqueeze(fg, 1, O(cond)));
        YOLO_TRY(tt_cmp_scalar(cond, TT_GT, 1, O(cond)));
        YOLO_TRY(tt_expand(cond, 3, bma, O(cond)));
        YOLO_TRY(tt_argmax(overlaps, 1, true, O(mi)));
        YOLO_TRY(torch_zeros(3, bma, torch_dtype_of(mask_pos), dev, O(ism)));
        YOLO_TRY(tt_scatter_value_(ism, 1, mi, 1));
        YOLO_TRY(tt_where(cond, ism, mask_pos, O(mask_pos)));
        YOLO_TRY(torch_sum_dim(mask_pos, -2, false, O(fg)));
    }
    YOLO_TRY(tt_argmax(mask_pos, -2, false, O(tgi)));

    /* targets */
    {
        /* row offsets b*M, made on the host: an int64 tensor times a double would turn float */
        int64_t *off = malloc(sizeof(int64_t) * (size_t)B), sb[2] = {B, 1};
        if (!off) {
            st = yolo_error(YOLO_ERR_NOMEM, "assign: out of memory");
            goto done;
        }
        for (int64_t b = 0; b < B; b++)
            off[b] = b * M;
        st = torch_from_data(off, TORCH_I64, 2, sb, O(bi));
        free(off);
        if (st != YOLO_OK) goto done;
        YOLO_TRY(torch_to(bi, TORCH_I64, dev, O(bi)));
    }
    YOLO_TRY(torch_add(tgi, bi, O(flat)));
    {
        int64_t n1[1] = {B * A}, ba[2] = {B, A}, ba4[3] = {B, A, 4}, m4[2] = {B * M, 4}, bm[1] = {B * M};
        YOLO_TRY(torch_view(flat, 1, n1, O(flat)));
        YOLO_TRY(torch_to(gt_labels, TORCH_I64, dev, O(labels)));
        YOLO_TRY(torch_reshape(labels, 1, bm, O(labels)));
        YOLO_TRY(tt_index_select(labels, 0, flat, O(labels)));
        YOLO_TRY(torch_view(labels, 2, ba, O(labels)));
        YOLO_TRY(torch_reshape(gt_bboxes, 2, m4, O(tb)));
        YOLO_TRY(tt_index_select(tb, 0, flat, O(tb)));
        YOLO_TRY(torch_view(tb, 3, ba4, O(tb)));
    }
    YOLO_TRY(tt_clamp(labels, 0, NAN, O(labels)));
    {
        int64_t ban[3] = {B, A, nc};
        YOLO_TRY(torch_zeros(3, ban, TORCH_I64, dev, O(ts)));
        YOLO_TRY(torch_unsqueeze(labels, -1, O(t1)));
        YOLO_TRY(tt_scatter_value_(ts, 2, t1, 1));
        YOLO_TRY(torch_unsqueeze(fg, -1, O(fgm)));
        YOLO_TRY(tt_cmp_scalar(fgm, TT_GT, 0, O(fgm)));
        YOLO_TRY(tt_expand(fgm, 3, ban, O(fgm)));
        YOLO_TRY(tt_where_scalar(fgm, ts, 0, O(ts)));
    }

    /* soft targets: (metric / best metric of the GT) * best overlap of the GT, max over GTs */
    if (keep_intermediates) YOLO_TRY(keep(am, &am_raw));
    YOLO_TRY(torch_mul(am, mask_pos, O(am)));
    YOLO_TRY(tt_amax(am, -1, true, O(pam)));
    YOLO_TRY(torch_mul(overlaps, mask_pos, O(pov)));
    YOLO_TRY(tt_amax(pov, -1, true, O(pov)));
    YOLO_TRY(torch_mul(am, pov, O(norm)));
    YOLO_TRY(torch_add_scalar(pam, cfg->eps, O(pam)));
    YOLO_TRY(torch_div(norm, pam, O(norm)));
    YOLO_TRY(tt_amax(norm, -2, false, O(norm)));
    YOLO_TRY(torch_unsqueeze(norm, -1, O(norm)));
    YOLO_TRY(torch_mul(ts, norm, O(ts)));
    YOLO_TRY(tt_cmp_scalar(fg, TT_NE, 0, O(fgm)));

    out->target_labels = labels, labels = NULL;
    out->target_bboxes = tb, tb = NULL;
    out->target_scores = ts, ts = NULL;
    out->fg_mask = fgm, fgm = NULL;
    out->target_gt_idx = tgi, tgi = NULL;
    if (keep_intermediates) {
        out->mask_in_gts = mask_in, mask_in = NULL;
        out->align_metric = am_raw, am_raw = NULL;
        out->overlaps = overlaps, overlaps = NULL;
        out->mask_pos = mask_pos, mask_pos = NULL;
    }
done:
    torch_freep(&am_raw);
    tt_scope_free(&sc);
    torch_set_grad_enabled(was);
    if (st != YOLO_OK) assign_result_free(out);
    return st;
}
