/* det_loss.pt: v8 detection loss items, normaliser and foreground count, plus the empty-image and
 * no-target cases. The head outputs come from det_forward.pt's train_out (same model, same batch). */
#include <stdbool.h>

#include "golden.h"
#include "loss_util.h"
#include "yolo/ckpt.h"
#include "yolo/loss.h"
#include "yolo/torch.h"

/* Loss of one batch variant (root or a case dict holding batch_idx/cls/bboxes and loss_items). */
static int check_variant(const char *file, const char *name, const yv *batch, const yv *expect,
                         const loss_cfg *cfg, torch_tensor *const *feats, bool with_stats) {
    char group[160];
    int failed = 0;
    torch_tensor *bi = lu_tensor(yv_dict_get(batch, "batch_idx")),
                 *cls = lu_tensor(yv_dict_get(batch, "cls"));
    torch_tensor *bb = lu_tensor(yv_dict_get(batch, "bboxes"));
    loss_output out = {0};
    loss_targets tg = {bi, cls, bb};
    yolo_status st = bi && cls && bb
                         ? loss_detect(cfg, (const torch_tensor *const *)feats, cfg->nl, &tg, &out)
                         : yolo_error(YOLO_ERR_FORMAT, "batch tensors missing");
    if (st != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        snprintf(group, sizeof group, "%s loss", name);
        failed += golden_report(file, group, INFINITY, false);
        goto done;
    }
    const yv *items = yv_dict_get(expect, "loss_items");
    double d = golden_max_rel_diff(out.items, 3, items, 1e-6);
    snprintf(group, sizeof group, "%s loss_items(rel)", name);
    failed += golden_report(file, group, d, d <= 1e-5);
    double total = 0;
    torch_item(out.total, &total);
    d = lu_rel1(total, lu_num(expect, "total"), 1e-6);
    snprintf(group, sizeof group, "%s total(rel)", name);
    failed += golden_report(file, group, d, d <= 1e-5);
    if (with_stats) {
        d = lu_rel1(out.target_scores_sum, lu_num(expect, "target_scores_sum"), 1e-6);
        snprintf(group, sizeof group, "%s target_scores_sum(rel)", name);
        failed += golden_report(file, group, d, d <= 1e-5);
        d = fabs((double)out.num_fg - lu_num(expect, "num_fg"));
        snprintf(group, sizeof group, "%s num_fg", name);
        failed += golden_report(file, group, d, d == 0);
        /* backward through the loss reaches every head output */
        bool ok = torch_backward(out.total, NULL, false) == YOLO_OK;
        for (int i = 0; i < cfg->nl && ok; i++)
            ok = torch_has_grad(feats[i]);
        snprintf(group, sizeof group, "%s backward to head outputs", name);
        failed += golden_report(file, group, ok ? 0 : INFINITY, ok);
    }
done:
    loss_output_free(&out);
    torch_free(bi);
    torch_free(cls);
    torch_free(bb);
    return failed;
}

/* The whole path: det_forward's weights and images through our model in train mode, the loss, one
 * backward, and every parameter's gradient against the stored ones. */
static int check_model_grads(const char *file, const yv *root, const yv *fr, const loss_cfg *cfg) {
    int failed = 0;
    const yv *sd = yv_dict_get(fr, "state_dict");
    model *m = NULL;
    model_output o = {0};
    loss_output out = {0};
    torch_tensor *bi = lu_get(root, "batch_idx"), *cls = lu_get(root, "cls"), *bb = lu_get(root, "bboxes");
    bool was = torch_set_grad_enabled(true);
    yolo_status st = lu_train_forward(sd, "", cfg->nc, yv_dict_get(fr, "images"), 1, &m, &o);
    loss_targets tg = {bi, cls, bb};
    if (st == YOLO_OK)
        st = loss_detect_flat(cfg, o.boxes, o.scores, (const int64_t(*)[2])o.level_hw, &tg, &out);
    if (lu_backward_ok(file, "model forward + loss + backward", st, &out, &failed)) {
        double d = golden_max_rel_diff(out.items, 3, yv_dict_get(root, "loss_items"), 1e-6);
        failed += golden_report(file, "model path loss_items(rel)", d, d <= 1e-5);
        failed +=
            lu_check_model_grads(file, "model path", m, yv_dict_get(root, "grads"),
                                 yv_dict_get(root, "grad_norms"), yv_dict_get(root, "params_without_grad"));
    }
    torch_set_grad_enabled(was);
    loss_output_free(&out);
    model_output_free(&o);
    model_free(m);
    torch_free(bi);
    torch_free(cls);
    torch_free(bb);
    return failed;
}

int golden_det_loss(const char *path, const yv *root) {
    torch_set_threads(1); /* the golden numbers were made with one thread */
    const char *file = gm_base(path);
    char dir[4096], fwd[4200];
    lu_dirname(path, dir, sizeof dir);
    snprintf(fwd, sizeof fwd, "%s/det_forward.pt", dir);
    yv_doc *doc = NULL;
    yv *fr = NULL;
    int failed = 0;
    if (ckpt_read(fwd, NULL, &doc, &fr) != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        return golden_report(file, "det_forward.pt (train_out)", INFINITY, false);
    }
    int64_t nc = 0;
    yv_as_int(yv_path(root, "args.nc"), &nc);
    const yv *to = yv_dict_get(fr, "train_out");
    const yv *sv = yv_dict_get(fr, "strides");
    double strides[LOSS_MAX_LEVELS];
    int nl = to && to->kind == YV_LIST ? (int)to->seq.n : 0;
    torch_tensor *feats[LOSS_MAX_LEVELS] = {0};
    torch_tensor *st = lu_tensor(sv);
    bool ok = nl > 0 && nl <= LOSS_MAX_LEVELS && st && torch_numel(st) == nl && nc > 0;
    if (ok) torch_copy_out(st, TORCH_F64, strides, nl);
    for (int i = 0; ok && i < nl; i++) {
        ok = (feats[i] = lu_tensor(to->seq.items[i])) != NULL;
        if (ok) torch_set_requires_grad(feats[i], true);
    }
    if (!ok) {
        failed += golden_report(file, "inputs (train_out, strides, nc)", INFINITY, false);
    } else {
        loss_cfg cfg;
        loss_cfg_default(&cfg, (int)nc, strides, nl);
        yv_as_double(yv_path(root, "hyp.box"), &cfg.box);
        yv_as_double(yv_path(root, "hyp.cls"), &cfg.cls);
        yv_as_double(yv_path(root, "hyp.dfl"), &cfg.dfl);
        failed += check_variant(file, "main", root, root, &cfg, feats, true);
        const char *cases[2] = {"case_image1_empty", "case_no_targets"};
        for (int k = 0; k < 2; k++) {
            const yv *c = yv_dict_get(root, cases[k]);
            if (c) failed += check_variant(file, cases[k], c, c, &cfg, feats, false);
        }
        failed += check_model_grads(file, root, fr, &cfg);
    }
    for (int i = 0; i < nl && i < LOSS_MAX_LEVELS; i++)
        torch_free(feats[i]);
    torch_free(st);
    yv_doc_free(doc);
    return failed;
}
