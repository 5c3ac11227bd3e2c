/* Losses of Ultralytics 8.4.52 (v8DetectionLoss, v8SegmentationLoss, v8ClassificationLoss).
 * The op order follows the reference so that values agree to float rounding and the assigner, which
 * sees the same inputs, agrees exactly. */
#include "yolo/loss.h"
#include "yolo/args.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/torch_train.h"

#define O(v) TT_OUT(&sc, v)

void loss_cfg_default(loss_cfg *cfg, int nc, const double *strides, int nl) {
    memset(cfg, 0, sizeof *cfg);
    cfg->nc = nc;
    cfg->reg_max = 16;
    cfg->nl = nl > LOSS_MAX_LEVELS ? LOSS_MAX_LEVELS : nl;
    for (int i = 0; i < cfg->nl; i++)
        cfg->strides[i] = strides[i];
    cfg->box = args_default_num("box");
    cfg->cls = args_default_num("cls");
    cfg->dfl = args_default_num("dfl");
    cfg->crop = LOSS_CROP_AUTO;
    assign_cfg_default(&cfg->assign, nc, strides, nl);
}

void loss_output_free(loss_output *out) {
    if (!out) return;
    torch_freep(&out->total);
    torch_freep(&out->items_tensor);
    torch_freep(&out->fg_mask);
    torch_freep(&out->target_gt_idx);
}

/* Moves a finished local into an output slot (no copy). */
static void give(torch_tensor **local, torch_tensor **slot) {
    torch_freep(slot);
    *slot = *local;
    *local = NULL;
}

yolo_status loss_flatten_levels(const torch_tensor *const *feats, int nl, int64_t nbox, torch_tensor **boxes,
                                torch_tensor **scores, int64_t (*hw)[2]) {
    if (nl <= 0 || nl > LOSS_MAX_LEVELS || !feats)
        return yolo_error(YOLO_ERR_USAGE, "loss: need 1 to %d feature levels, got %d", LOSS_MAX_LEVELS, nl);
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_tensor *b[LOSS_MAX_LEVELS] = {0}, *s[LOSS_MAX_LEVELS] = {0}, *cb = NULL, *cs = NULL;
    int64_t B = torch_size(feats[0], 0), C = torch_size(feats[0], 1);
    for (int i = 0; i < nl; i++) {
        if (torch_ndim(feats[i]) != 4 || torch_size(feats[i], 0) != B || torch_size(feats[i], 1) != C ||
            C <= nbox) {
            st = yolo_error(YOLO_ERR_USAGE, "loss: level %d is not (B=%lld, C=%lld, H, W)", i, (long long)B,
                            (long long)C);
            goto done;
        }
        hw[i][0] = torch_size(feats[i], 2);
        hw[i][1] = torch_size(feats[i], 3);
        int64_t sb[3] = {B, nbox, -1}, ss[3] = {B, C - nbox, -1};
        YOLO_TRY(torch_narrow(feats[i], 1, 0, nbox, O(b[i])));
        YOLO_TRY(torch_reshape(b[i], 3, sb, O(b[i])));
        YOLO_TRY(torch_narrow(feats[i], 1, nbox, C - nbox, O(s[i])));
        YOLO_TRY(torch_reshape(s[i], 3, ss, O(s[i])));
    }
    YOLO_TRY(torch_cat((const torch_tensor *const *)b, nl, 2, O(cb)));
    YOLO_TRY(torch_cat((const torch_tensor *const *)s, nl, 2, O(cs)));
    give(&cb, boxes);
    give(&cs, scores);
done:
    tt_scope_free(&sc);
    return st;
}

/* Anchor centres (A,2) in grid units and strides (A,1), on dev. */
static yolo_status make_anchors(const loss_cfg *cfg, const int64_t (*hw)[2], torch_device dev,
                                torch_tensor **anc, torch_tensor **stride) {
    int64_t A = 0;
    for (int i = 0; i < cfg->nl; i++)
        A += hw[i][0] * hw[i][1];
    float *a = malloc(sizeof(float) * (size_t)(A * 3 + 1));
    if (!a) return yolo_error(YOLO_ERR_NOMEM, "loss: out of memory for %lld anchors", (long long)A);
    float *s = a + A * 2;
    int64_t k = 0;
    for (int i = 0; i < cfg->nl; i++)
        for (int64_t y = 0; y < hw[i][0]; y++)
            for (int64_t x = 0; x < hw[i][1]; x++, k++) {
                a[2 * k] = (float)x + 0.5f;
                a[2 * k + 1] = (float)y + 0.5f;
                s[k] = (float)cfg->strides[i];
            }
    int64_t sa[2] = {A, 2}, ss[2] = {A, 1};
    yolo_status st = torch_from_data(a, TORCH_F32, 2, sa, anc);
    if (st == YOLO_OK) st = torch_from_data(s, TORCH_F32, 2, ss, stride);
    free(a);
    if (st == YOLO_OK) st = torch_to(*anc, TORCH_F32, dev, anc);
    if (st == YOLO_OK) st = torch_to(*stride, TORCH_F32, dev, stride);
    return st;
}

/* Scatters the batch's boxes to (B, M, 5) = (class, x1, y1, x2, y2 pixels), zero rows as padding. */
static yolo_status build_targets(const loss_targets *tg, int64_t B, int nc, double img_h, double img_w,
                                 torch_device dev, torch_tensor **out) {
    int64_t N = tg->batch_idx ? torch_numel(tg->batch_idx) : 0;
    if (N && (!tg->cls || !tg->bboxes || torch_numel(tg->cls) != N || torch_numel(tg->bboxes) != 4 * N))
        return yolo_error(YOLO_ERR_USAGE,
                          "loss: targets disagree: %lld image indices, %lld classes, %lld box values",
                          (long long)N, (long long)torch_numel(tg->cls), (long long)torch_numel(tg->bboxes));
    float *idx = malloc(sizeof(float) * (size_t)(N * 6 + 1));
    int64_t *count = calloc((size_t)(B + 1), sizeof(int64_t));
    if (!idx || !count) {
        free(idx);
        free(count);
        return yolo_error(YOLO_ERR_NOMEM, "loss: out of memory for %lld targets", (long long)N);
    }
    float *cls = idx + N, *box = cls + N;
    yolo_status st = YOLO_OK;
    float *t = NULL;
    if (N && ((st = torch_copy_out(tg->batch_idx, TORCH_F32, idx, N)) != YOLO_OK ||
              (st = torch_copy_out(tg->cls, TORCH_F32, cls, N)) != YOLO_OK ||
              (st = torch_copy_out(tg->bboxes, TORCH_F32, box, 4 * N)) != YOLO_OK))
        goto done;
    memset(count, 0, sizeof(int64_t) * (size_t)B);
    int64_t M = 0;
    for (int64_t i = 0; i < N; i++) {
        if (!(idx[i] >= 0 && idx[i] < (float)B) || idx[i] != floorf(idx[i])) {
            st = yolo_error(YOLO_ERR_FORMAT, "loss: target %lld has image index %g outside 0..%lld",
                            (long long)i, (double)idx[i], (long long)B - 1);
            goto done;
        }
        if (!(cls[i] >= 0 && cls[i] < (float)nc) || cls[i] != floorf(cls[i])) {
            st = yolo_error(YOLO_ERR_FORMAT,
                            "loss: target %lld has class %g outside 0..%d (check nc in data.yaml)",
                            (long long)i, (double)cls[i], nc - 1);
            goto done;
        }
        if (!(isfinite(box[4 * i]) && isfinite(box[4 * i + 1]) && isfinite(box[4 * i + 2]) &&
              isfinite(box[4 * i + 3]))) {
            st = yolo_error(YOLO_ERR_FORMAT, "loss: target %lld has a box that is not finite", (long long)i);
            goto done;
        }
        int64_t c = ++count[(int64_t)idx[i]];
        if (c > M) M = c;
    }
    t = calloc((size_t)(B * M * 5 + 1), sizeof(float));
    if (!t) {
        st = yolo_error(YOLO_ERR_NOMEM, "loss: out of memory for targets");
        goto done;
    }
    memset(count, 0, sizeof(int64_t) * (size_t)B);
    /* float arithmetic step by step, as the reference does it on float32 tensors */
    const float sw = (float)img_w, sh = (float)img_h;
    for (int64_t i = 0; i < N; i++) {
        int64_t b = (int64_t)idx[i];
        float *r = t + (b * M + count[b]++) * 5;
        float cx = box[4 * i] * sw, cy = box[4 * i + 1] * sh, w = box[4 * i + 2] * sw,
              h = box[4 * i + 3] * sh;
        float hw = w / 2, hh = h / 2;
        r[0] = cls[i];
        r[1] = cx - hw;
        r[2] = cy - hh;
        r[3] = cx + hw;
        r[4] = cy + hh;
    }
    int64_t shape[3] = {B, M, 5};
    st = torch_from_data(t, TORCH_F32, 3, shape, out);
    if (st == YOLO_OK) st = torch_to(*out, TORCH_F32, dev, out);
done:
    free(t);
    free(idx);
    free(count);
    return st;
}

/* What the detection loss shares with the segmentation loss. */
typedef struct {
    torch_tensor *lbox, *lcls, *ldfl; /* 0-dim, gains applied */
    torch_tensor *fg;                 /* (B,A) bool */
    torch_tensor *tgi;                /* (B,A) int64 */
    torch_tensor *tb_px;              /* (B,A,4) target boxes in pixels */
    double tss;
    int64_t num_fg;
    double img_h, img_w;
} det_parts;

static void det_parts_free(det_parts *p) {
    torch_freep(&p->lbox);
    torch_freep(&p->lcls);
    torch_freep(&p->ldfl);
    torch_freep(&p->fg);
    torch_freep(&p->tgi);
    torch_freep(&p->tb_px);
}

static yolo_status det_core(const loss_cfg *cfg, const torch_tensor *boxes, const torch_tensor *scores,
                            const int64_t (*hw)[2], const loss_targets *tg, det_parts *p) {
    memset(p, 0, sizeof *p);
    int64_t B = torch_size(scores, 0), nc = cfg->nc, R = cfg->reg_max, A = 0;
    for (int i = 0; i < cfg->nl; i++)
        A += hw[i][0] * hw[i][1];
    if (cfg->nl <= 0 || torch_ndim(boxes) != 3 || torch_ndim(scores) != 3 || torch_size(boxes, 0) != B ||
        torch_size(boxes, 1) != 4 * R || torch_size(boxes, 2) != A || torch_size(scores, 1) != nc ||
        torch_size(scores, 2) != A)
        return yolo_error(
            YOLO_ERR_USAGE,
            "loss: head outputs do not match nc=%lld, reg_max=%lld and %lld anchors (boxes %lldx%lldx%lld, "
            "scores %lldx%lldx%lld)",
            (long long)nc, (long long)R, (long long)A, (long long)torch_size(boxes, 0),
            (long long)torch_size(boxes, 1), (long long)torch_size(boxes, 2),
            (long long)torch_size(scores, 0), (long long)torch_size(scores, 1),
            (long long)torch_size(scores, 2));
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_device dev = torch_device_of(scores);
    torch_tensor *pd = NULL, *ps = NULL, *anc = NULL, *str = NULL, *tgt = NULL, *gl = NULL, *gb = NULL,
                 *mgt = NULL;
    torch_tensor *proj = NULL, *pdist = NULL, *lt = NULL, *rb = NULL, *pbb = NULL, *sig = NULL, *pbd = NULL;
    torch_tensor *ancp = NULL, *tss = NULL, *lcls = NULL, *fgsum = NULL, *tb = NULL, *w = NULL;
    torch_tensor *pf = NULL, *tf = NULL, *iou = NULL, *lbox = NULL, *x1 = NULL, *x2 = NULL, *ltrb = NULL;
    torch_tensor *tl = NULL, *tr = NULL, *wl = NULL, *wr = NULL, *pdf = NULL, *ce1 = NULL, *ce2 = NULL,
                 *ldfl = NULL;
    torch_tensor *tlf = NULL, *trf = NULL;
    assign_result ar = {0};

    p->img_h = (double)hw[0][0] * cfg->strides[0];
    p->img_w = (double)hw[0][1] * cfg->strides[0];
    YOLO_TRY(torch_permute(boxes, 3, (int64_t[]){0, 2, 1}, O(pd)));
    YOLO_TRY(torch_contiguous(pd, O(pd)));
    YOLO_TRY(torch_permute(scores, 3, (int64_t[]){0, 2, 1}, O(ps)));
    YOLO_TRY(torch_contiguous(ps, O(ps)));
    YOLO_TRY(make_anchors(cfg, hw, dev, O(anc), O(str)));
    YOLO_TRY(build_targets(tg, B, cfg->nc, p->img_h, p->img_w, dev, O(tgt)));
    YOLO_TRY(torch_narrow(tgt, 2, 0, 1, O(gl)));
    YOLO_TRY(torch_narrow(tgt, 2, 1, 4, O(gb)));
    YOLO_TRY(torch_sum_dim(gb, 2, true, O(mgt)));
    YOLO_TRY(tt_cmp_scalar(mgt, TT_GT, 0.0, O(mgt)));
    YOLO_TRY(torch_to(mgt, TORCH_F32, dev, O(mgt)));

    /* DFL decode: softmax over the bins, expectation with weights 0..R-1, distances to xyxy */
    YOLO_TRY(torch_arange(R, TORCH_F32, dev, O(proj)));
    {
        int64_t s4[4] = {B, A, 4, R};
        YOLO_TRY(torch_view(pd, 4, s4, O(pdist)));
    }
    YOLO_TRY(torch_softmax(pdist, 3, O(pdist)));
    YOLO_TRY(torch_matmul(pdist, proj, O(pdist)));
    YOLO_TRY(torch_narrow(pdist, -1, 0, 2, O(lt)));
    YOLO_TRY(torch_narrow(pdist, -1, 2, 2, O(rb)));
    YOLO_TRY(torch_sub(anc, lt, O(lt)));
    YOLO_TRY(torch_add(anc, rb, O(rb)));
    {
        const torch_tensor *c[2] = {lt, rb};
        YOLO_TRY(torch_cat(c, 2, -1, O(pbb)));
    }

    /* assignment on detached pixel-space predictions */
    YOLO_TRY(torch_detach(ps, O(sig)));
    YOLO_TRY(torch_sigmoid(sig, O(sig)));
    YOLO_TRY(torch_detach(pbb, O(pbd)));
    YOLO_TRY(torch_mul(pbd, str, O(pbd)));
    YOLO_TRY(torch_mul(anc, str, O(ancp)));
    YOLO_TRY(assign_run(&cfg->assign, sig, pbd, ancp, gl, gb, mgt, false, &ar));

    /* cls: BCE over everything, normalised by max(sum of target scores, 1) */
    YOLO_TRY(torch_sum(ar.target_scores, O(tss)));
    YOLO_TRY(tt_clamp(tss, 1.0, NAN, O(tss)));
    YOLO_TRY(torch_item(tss, &p->tss));
    YOLO_TRY(tt_bce_with_logits(ps, ar.target_scores, O(lcls)));
    YOLO_TRY(torch_sum(lcls, O(lcls)));
    YOLO_TRY(torch_div(lcls, tss, O(lcls)));

    YOLO_TRY(torch_sum(ar.fg_mask, O(fgsum)));
    {
        double nfg = 0;
        YOLO_TRY(torch_item(fgsum, &nfg));
        p->num_fg = (int64_t)nfg;
    }
    if (p->num_fg > 0) {
        YOLO_TRY(torch_div(ar.target_bboxes, str, O(tb)));
        YOLO_TRY(torch_sum_dim(ar.target_scores, -1, false, O(w)));
        YOLO_TRY(tt_index_bool(w, ar.fg_mask, O(w)));
        YOLO_TRY(torch_unsqueeze(w, -1, O(w)));
        YOLO_TRY(tt_index_bool(pbb, ar.fg_mask, O(pf)));
        YOLO_TRY(tt_index_bool(tb, ar.fg_mask, O(tf)));
        YOLO_TRY(assign_compute_ciou(pf, tf, O(iou)));
        YOLO_TRY(tt_rsub_scalar(1.0, iou, O(lbox)));
        YOLO_TRY(torch_mul(lbox, w, O(lbox)));
        YOLO_TRY(torch_sum(lbox, O(lbox)));
        YOLO_TRY(torch_div(lbox, tss, O(lbox)));

        /* DFL: cross-entropy against the two bins around each target distance */
        YOLO_TRY(torch_narrow(tb, -1, 0, 2, O(x1)));
        YOLO_TRY(torch_narrow(tb, -1, 2, 2, O(x2)));
        YOLO_TRY(torch_sub(anc, x1, O(x1)));
        YOLO_TRY(torch_sub(x2, anc, O(x2)));
        {
            const torch_tensor *c[2] = {x1, x2};
            YOLO_TRY(torch_cat(c, 2, -1, O(ltrb)));
        }
        YOLO_TRY(tt_clamp(ltrb, 0, (double)(R - 1) - 0.01, O(ltrb)));
        YOLO_TRY(tt_index_bool(ltrb, ar.fg_mask, O(ltrb)));
        YOLO_TRY(tt_clamp(ltrb, 0, (double)(R - 1) - 0.01, O(ltrb)));
        YOLO_TRY(tt_index_bool(pd, ar.fg_mask, O(pdf)));
        {
            int64_t s2[2] = {-1, R}, s1[1] = {-1}, sn[2] = {p->num_fg, 4};
            YOLO_TRY(torch_view(pdf, 2, s2, O(pdf)));
            YOLO_TRY(torch_to(ltrb, TORCH_I64, dev, O(tl)));
            YOLO_TRY(tt_add_int(tl, 1, O(tr)));
            YOLO_TRY(torch_sub(tr, ltrb, O(wl)));
            YOLO_TRY(tt_rsub_scalar(1, wl, O(wr)));
            YOLO_TRY(torch_view(tl, 1, s1, O(tlf)));
            YOLO_TRY(torch_view(tr, 1, s1, O(trf)));
            YOLO_TRY(tt_cross_entropy(pdf, tlf, false, O(ce1)));
            YOLO_TRY(torch_view(ce1, 2, sn, O(ce1)));
            YOLO_TRY(torch_mul(ce1, wl, O(ce1)));
            YOLO_TRY(tt_cross_entropy(pdf, trf, false, O(ce2)));
            YOLO_TRY(torch_view(ce2, 2, sn, O(ce2)));
            YOLO_TRY(torch_mul(ce2, wr, O(ce2)));
        }
        YOLO_TRY(torch_add(ce1, ce2, O(ldfl)));
        {
            int dims[1] = {-1};
            YOLO_TRY(tt_mean_dims(ldfl, 1, dims, true, O(ldfl)));
        }
        YOLO_TRY(torch_mul(ldfl, w, O(ldfl)));
        YOLO_TRY(torch_sum(ldfl, O(ldfl)));
        YOLO_TRY(torch_div(ldfl, tss, O(ldfl)));
    } else {
        YOLO_TRY(torch_zeros(0, NULL, TORCH_F32, dev, O(lbox)));
        YOLO_TRY(torch_zeros(0, NULL, TORCH_F32, dev, O(ldfl)));
    }
    YOLO_TRY(torch_mul_scalar(lbox, cfg->box, O(lbox)));
    YOLO_TRY(torch_mul_scalar(lcls, cfg->cls, O(lcls)));
    YOLO_TRY(torch_mul_scalar(ldfl, cfg->dfl, O(ldfl)));
    give(&lbox, &p->lbox);
    give(&lcls, &p->lcls);
    give(&ldfl, &p->ldfl);
    give(&ar.fg_mask, &p->fg);
    give(&ar.target_gt_idx, &p->tgi);
    give(&ar.target_bboxes, &p->tb_px);
done:
    assign_result_free(&ar);
    tt_scope_free(&sc);
    if (st != YOLO_OK) det_parts_free(p);
    return st;
}

/* total = sum(items * B); items detached, also copied to the host. */
static yolo_status finish(torch_tensor *const *terms, int n, int64_t B, bool times_batch, loss_output *out) {
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_tensor *vec = NULL, *tot = NULL, *items = NULL;
    YOLO_TRY(tt_stack((const torch_tensor *const *)terms, n, 0, O(vec)));
    YOLO_TRY(torch_detach(vec, O(items)));
    if (times_batch) {
        YOLO_TRY(torch_mul_scalar(vec, (double)B, O(tot)));
        YOLO_TRY(torch_sum(tot, O(tot)));
    } else {
        YOLO_TRY(torch_alias(terms[0], O(tot)));
    }
    YOLO_TRY(torch_copy_out(items, TORCH_F32, out->items, n));
    out->n_items = n;
    give(&tot, &out->total);
    give(&items, &out->items_tensor);
done:
    tt_scope_free(&sc);
    return st;
}

yolo_status loss_detect_flat(const loss_cfg *cfg, const torch_tensor *boxes, const torch_tensor *scores,
                             const int64_t (*hw)[2], const loss_targets *tg, loss_output *out) {
    if (!cfg || !boxes || !scores || !hw || !tg || !out)
        return yolo_error(YOLO_ERR_USAGE, "loss: missing argument");
    memset(out, 0, sizeof *out);
    det_parts p;
    yolo_status st = det_core(cfg, boxes, scores, hw, tg, &p);
    if (st != YOLO_OK) return st;
    torch_tensor *terms[3] = {p.lbox, p.lcls, p.ldfl};
    st = finish(terms, 3, torch_size(scores, 0), true, out);
    if (st == YOLO_OK) {
        out->target_scores_sum = p.tss;
        out->num_fg = p.num_fg;
        give(&p.fg, &out->fg_mask);
        give(&p.tgi, &out->target_gt_idx);
    } else {
        loss_output_free(out);
    }
    det_parts_free(&p);
    return st;
}

yolo_status loss_detect(const loss_cfg *cfg, const torch_tensor *const *feats, int nl, const loss_targets *tg,
                        loss_output *out) {
    if (!cfg || nl != cfg->nl)
        return yolo_error(YOLO_ERR_USAGE, "loss: %d feature levels for a model with %d", nl,
                          cfg ? cfg->nl : 0);
    torch_tensor *boxes = NULL, *scores = NULL;
    int64_t hw[LOSS_MAX_LEVELS][2];
    yolo_status st = loss_flatten_levels(feats, nl, 4 * (int64_t)cfg->reg_max, &boxes, &scores, hw);
    if (st == YOLO_OK) st = loss_detect_flat(cfg, boxes, scores, (const int64_t(*)[2])hw, tg, out);
    torch_free(boxes);
    torch_free(scores);
    return st;
}

/* The mask term of one image: sum over its foreground anchors of the cropped BCE mean / box area. */
static yolo_status seg_image(const loss_cfg *cfg, const torch_tensor *fg_i, const torch_tensor *tgi_i,
                             const torch_tensor *coef_i, const torch_tensor *proto_i,
                             const torch_tensor *mxyxy_i, const torch_tensor *marea_i,
                             const torch_tensor *mask_i, int64_t n, torch_tensor **out) {
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_tensor *idx = NULL, *gt = NULL, *pc = NULL, *pm = NULL, *l = NULL, *bx = NULL, *ar = NULL,
                 *x[4] = {0};
    torch_tensor *r = NULL, *c = NULL, *keep = NULL, *k2 = NULL, *pv = NULL;
    int64_t nm = torch_size(proto_i, 0), h = torch_size(proto_i, 1), w = torch_size(proto_i, 2);
    torch_device dev = torch_device_of(proto_i);

    YOLO_TRY(tt_index_bool(tgi_i, fg_i, O(idx)));
    YOLO_TRY(tt_add_int(idx, 1, O(idx)));
    {
        int64_t s3[3] = {-1, 1, 1};
        YOLO_TRY(torch_view(idx, 3, s3, O(idx)));
    }
    YOLO_TRY(tt_cmp(mask_i, TT_EQ, idx, O(gt)));
    YOLO_TRY(torch_to(gt, TORCH_F32, dev, O(gt)));
    /* (n, nm) x (nm, h*w): the prototype combination */
    YOLO_TRY(tt_index_bool(coef_i, fg_i, O(pc)));
    {
        int64_t s2[2] = {nm, h * w}, s3[3] = {n, h, w};
        YOLO_TRY(torch_reshape(proto_i, 2, s2, O(pv)));
        YOLO_TRY(torch_matmul(pc, pv, O(pm)));
        YOLO_TRY(torch_view(pm, 3, s3, O(pm)));
    }
    YOLO_TRY(tt_bce_with_logits(pm, gt, O(l)));
    YOLO_TRY(tt_index_bool(mxyxy_i, fg_i, O(bx)));
    bool round_rule = cfg->crop == LOSS_CROP_ROUND ||
                      (cfg->crop == LOSS_CROP_AUTO && n < 50 && torch_device_of(l) == TORCH_CPU);
    if (round_rule) {
        YOLO_TRY(tt_clamp(bx, 0, NAN, O(bx)));
        YOLO_TRY(tt_round(bx, O(bx)));
    }
    {
        int64_t sx[3] = {1, 1, w}, sy[3] = {1, h, 1};
        YOLO_TRY(torch_arange(w, TORCH_F32, dev, O(r)));
        YOLO_TRY(torch_view(r, 3, sx, O(r)));
        YOLO_TRY(torch_arange(h, TORCH_F32, dev, O(c)));
        YOLO_TRY(torch_view(c, 3, sy, O(c)));
        YOLO_TRY(torch_unsqueeze(bx, 2, O(bx)));
        for (int i = 0; i < 4; i++)
            YOLO_TRY(torch_narrow(bx, 1, i, 1, O(x[i])));
    }
    YOLO_TRY(tt_cmp(r, TT_GE, x[0], O(keep)));
    YOLO_TRY(tt_cmp(r, TT_LT, x[2], O(k2)));
    YOLO_TRY(torch_mul(keep, k2, O(keep)));
    YOLO_TRY(tt_cmp(c, TT_GE, x[1], O(k2)));
    YOLO_TRY(torch_mul(keep, k2, O(keep)));
    YOLO_TRY(tt_cmp(c, TT_LT, x[3], O(k2)));
    YOLO_TRY(torch_mul(keep, k2, O(keep)));
    YOLO_TRY(torch_mul(l, keep, O(l)));
    {
        int dims[2] = {1, 2};
        YOLO_TRY(tt_mean_dims(l, 2, dims, false, O(l)));
    }
    YOLO_TRY(tt_index_bool(marea_i, fg_i, O(ar)));
    YOLO_TRY(torch_div(l, ar, O(l)));
    YOLO_TRY(torch_sum(l, O(l)));
    give(&l, out);
done:
    tt_scope_free(&sc);
    return st;
}

yolo_status loss_segment(const loss_cfg *cfg, const torch_tensor *boxes, const torch_tensor *scores,
                         const int64_t (*hw)[2], const torch_tensor *coeffs, const torch_tensor *proto,
                         const torch_tensor *masks, const loss_targets *tg, loss_output *out) {
    if (!cfg || !boxes || !scores || !hw || !coeffs || !proto || !masks || !tg || !out)
        return yolo_error(YOLO_ERR_USAGE, "loss: missing argument");
    memset(out, 0, sizeof *out);
    int64_t B = torch_size(scores, 0);
    if (torch_ndim(proto) != 4 || torch_size(proto, 0) != B || torch_ndim(coeffs) != 3 ||
        torch_size(coeffs, 0) != B || torch_size(coeffs, 1) != torch_size(proto, 1) ||
        torch_size(coeffs, 2) != torch_size(scores, 2) || torch_ndim(masks) != 3 || torch_size(masks, 0) != B)
        return yolo_error(YOLO_ERR_USAGE,
                          "loss: segmentation inputs disagree (coefficients, prototypes, masks)");
    det_parts p;
    yolo_status st = det_core(cfg, boxes, scores, hw, tg, &p);
    if (st != YOLO_OK) return st;
    tt_scope sc = {0};
    torch_tensor *pm = NULL, *pr = NULL, *mk = NULL, *lseg = NULL, *zero = NULL, *tbn = NULL, *area = NULL;
    torch_tensor *t1 = NULL, *scale = NULL, *mxyxy = NULL, *part = NULL, *fg_i = NULL, *tgi_i = NULL,
                 *coef_i = NULL;
    torch_tensor *proto_i = NULL, *mx_i = NULL, *ma_i = NULL, *mask_i = NULL, *cnt = NULL, *sem = NULL;
    torch_device dev = torch_device_of(proto);
    int64_t mh = torch_size(masks, 1), mw = torch_size(masks, 2);

    YOLO_TRY(torch_permute(coeffs, 3, (int64_t[]){0, 2, 1}, O(pm)));
    YOLO_TRY(torch_contiguous(pm, O(pm)));
    YOLO_TRY(torch_alias(proto, O(pr)));
    if (p.num_fg > 0) {
        YOLO_TRY(torch_to(masks, TORCH_F32, dev, O(mk)));
        if (torch_size(proto, 2) != mh || torch_size(proto, 3) != mw)
            YOLO_TRY(tt_resize_bilinear(proto, mh, mw, O(pr)));
        /* target boxes normalised, then in mask pixels; area from the normalised box */
        float sv[4] = {(float)p.img_w, (float)p.img_h, (float)p.img_w, (float)p.img_h};
        float mv[4] = {(float)mw, (float)mh, (float)mw, (float)mh};
        int64_t s1[1] = {4};
        YOLO_TRY(torch_from_data(sv, TORCH_F32, 1, s1, O(scale)));
        YOLO_TRY(torch_to(scale, TORCH_F32, dev, O(scale)));
        YOLO_TRY(torch_div(p.tb_px, scale, O(tbn)));
        YOLO_TRY(torch_narrow(tbn, 2, 2, 1, O(area)));
        YOLO_TRY(torch_narrow(tbn, 2, 0, 1, O(t1)));
        YOLO_TRY(torch_sub(area, t1, O(area)));
        YOLO_TRY(torch_narrow(tbn, 2, 3, 1, O(t1)));
        YOLO_TRY(torch_narrow(tbn, 2, 1, 1, O(zero)));
        YOLO_TRY(torch_sub(t1, zero, O(t1)));
        YOLO_TRY(torch_mul(area, t1, O(area)));
        YOLO_TRY(tt_squeeze(area, 2, O(area)));
        YOLO_TRY(torch_from_data(mv, TORCH_F32, 1, s1, O(scale)));
        YOLO_TRY(torch_to(scale, TORCH_F32, dev, O(scale)));
        YOLO_TRY(torch_mul(tbn, scale, O(mxyxy)));
        for (int64_t i = 0; i < B; i++) {
            YOLO_TRY(torch_select(p.fg, 0, i, O(fg_i)));
            YOLO_TRY(torch_sum(fg_i, O(cnt)));
            double n = 0;
            YOLO_TRY(torch_item(cnt, &n));
            if (n > 0) {
                YOLO_TRY(torch_select(p.tgi, 0, i, O(tgi_i)));
                YOLO_TRY(torch_select(pm, 0, i, O(coef_i)));
                YOLO_TRY(torch_select(pr, 0, i, O(proto_i)));
                YOLO_TRY(torch_select(mxyxy, 0, i, O(mx_i)));
                YOLO_TRY(torch_select(area, 0, i, O(ma_i)));
                YOLO_TRY(torch_select(mk, 0, i, O(mask_i)));
                YOLO_TRY(
                    seg_image(cfg, fg_i, tgi_i, coef_i, proto_i, mx_i, ma_i, mask_i, (int64_t)n, O(part)));
            } else {
                /* keeps the prototypes and coefficients in the graph with a zero gradient */
                YOLO_TRY(torch_mul_scalar(pr, 0, O(part)));
                YOLO_TRY(torch_sum(part, O(part)));
                YOLO_TRY(torch_mul_scalar(pm, 0, O(zero)));
                YOLO_TRY(torch_sum(zero, O(zero)));
                YOLO_TRY(torch_add(part, zero, O(part)));
            }
            if (lseg)
                YOLO_TRY(torch_add(lseg, part, O(lseg)));
            else
                YOLO_TRY(torch_clone(part, O(lseg)));
        }
        YOLO_TRY(tt_div_scalar(lseg, (double)p.num_fg, O(lseg)));
    } else {
        YOLO_TRY(torch_mul_scalar(pr, 0, O(lseg)));
        YOLO_TRY(torch_sum(lseg, O(lseg)));
        YOLO_TRY(torch_mul_scalar(pm, 0, O(zero)));
        YOLO_TRY(torch_sum(zero, O(zero)));
        YOLO_TRY(torch_add(lseg, zero, O(lseg)));
    }
    YOLO_TRY(torch_mul_scalar(lseg, cfg->box, O(lseg)));
    YOLO_TRY(torch_zeros(0, NULL, TORCH_F32, dev, O(sem)));
    {
        torch_tensor *terms[5] = {p.lbox, lseg, p.lcls, p.ldfl, sem};
        YOLO_TRY(finish(terms, 5, B, true, out));
    }
    out->target_scores_sum = p.tss;
    out->num_fg = p.num_fg;
    give(&p.fg, &out->fg_mask);
    give(&p.tgi, &out->target_gt_idx);
done:
    tt_scope_free(&sc);
    det_parts_free(&p);
    if (st != YOLO_OK) loss_output_free(out);
    return st;
}

yolo_status loss_classify(const torch_tensor *logits, const torch_tensor *labels, loss_output *out) {
    if (!logits || !labels || !out) return yolo_error(YOLO_ERR_USAGE, "loss: missing argument");
    memset(out, 0, sizeof *out);
    if (torch_ndim(logits) != 2 || torch_numel(labels) != torch_size(logits, 0))
        return yolo_error(YOLO_ERR_USAGE, "loss: logits (B, nc) and labels (B) disagree");
    tt_scope sc = {0};
    yolo_status st = YOLO_OK;
    torch_tensor *lab = NULL, *l = NULL;
    int64_t s1[1] = {-1};
    YOLO_TRY(torch_reshape(labels, 1, s1, O(lab)));
    YOLO_TRY(torch_to(lab, TORCH_I64, torch_device_of(logits), O(lab)));
    YOLO_TRY(tt_cross_entropy(logits, lab, true, O(l)));
    YOLO_TRY(finish(&l, 1, torch_size(logits, 0), false, out));
done:
    tt_scope_free(&sc);
    if (st != YOLO_OK) loss_output_free(out);
    return st;
}
