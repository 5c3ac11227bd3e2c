/* seg_forward_loss.pt: v8 segmentation loss items from the stored train-mode outputs, the assignment it
 * uses (fg_mask, target_gt_idx exact), and the seg term under the other (fractional) crop rule. */
#include <stdbool.h>

#include "golden.h"
#include "loss_util.h"
#include "yolo/loss.h"
#include "yolo/torch.h"

/* Through our model: weights and images from the file, loss, backward, stored gradients and norms. */
static int check_model_grads(const char *file, const yv *root, const loss_cfg *cfg, const loss_targets *tg,
                             const torch_tensor *masks) {
    int failed = 0;
    const yv *sd = yv_dict_get(root, "state_dict");
    model *m = NULL;
    model_output o = {0};
    loss_output out = {0};
    bool was = torch_set_grad_enabled(true);
    yolo_status st = lu_train_forward(sd, "-seg", cfg->nc, yv_dict_get(root, "img_uint8"), 255, &m, &o);
    if (st == YOLO_OK)
        st = loss_segment(cfg, o.boxes, o.scores, (const int64_t(*)[2])o.level_hw, o.mask_coeffs, o.proto,
                          masks, tg, &out);
    if (lu_backward_ok(file, "seg model forward + loss + backward", st, &out, &failed)) {
        double d = golden_max_rel_diff(out.items, 5, yv_dict_get(root, "loss_items"), 1e-6);
        failed += golden_report(file, "seg model path loss_items(rel)", d, d <= 1e-5);
        failed += lu_check_model_grads(file, "seg model path", m, yv_dict_get(root, "grads"),
                                       yv_dict_get(root, "grad_norms"), NULL);
    }
    torch_set_grad_enabled(was);
    loss_output_free(&out);
    model_output_free(&o);
    model_free(m);
    return failed;
}

int golden_seg_loss(const char *path, const yv *root) {
    torch_set_threads(1); /* the golden numbers were made with one thread */
    const char *file = gm_base(path);
    int failed = 0;
    int64_t nc = 0;
    if (!yv_as_int(yv_dict_get(root, "nc"), &nc)) yv_as_int(yv_path(root, "args.nc"), &nc);
    torch_tensor *boxes = lu_get(root, "train_boxes"), *scores = lu_get(root, "train_scores");
    torch_tensor *coef = lu_get(root, "train_mask_coefficient"), *proto = lu_get(root, "train_proto");
    torch_tensor *masks = lu_get(root, "masks"), *bi = lu_get(root, "batch_idx"), *cls = lu_get(root, "cls");
    torch_tensor *bb = lu_get(root, "bboxes"), *img = lu_get(root, "img_uint8");
    loss_output out = {0}, alt = {0};
    double strides[3] = {8, 16, 32};
    int64_t hw[3][2], A = 0;
    bool ok = boxes && scores && coef && proto && masks && bi && cls && bb && img && nc > 0;
    for (int i = 0; ok && i < 3; i++) {
        hw[i][0] = torch_size(img, 2) / (int64_t)strides[i];
        hw[i][1] = torch_size(img, 3) / (int64_t)strides[i];
        A += hw[i][0] * hw[i][1];
    }
    if (!ok || A != torch_size(scores, 2)) {
        failed += golden_report(file, "seg loss inputs", INFINITY, false);
        goto done;
    }
    loss_cfg cfg;
    loss_cfg_default(&cfg, (int)nc, strides, 3);
    loss_targets tg = {bi, cls, bb};
    torch_set_requires_grad(proto, true);
    torch_set_requires_grad(coef, true);
    if (loss_segment(&cfg, boxes, scores, (const int64_t(*)[2])hw, coef, proto, masks, &tg, &out) !=
        YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, "seg loss", INFINITY, false);
        goto done;
    }
    double d = golden_max_rel_diff(out.items, 5, yv_dict_get(root, "loss_items"), 1e-6);
    failed += golden_report(file, "seg loss_items(rel) [box seg cls dfl sem]", d, d <= 1e-5);
    double total = 0;
    torch_item(out.total, &total);
    d = lu_rel1(total, lu_num(root, "total"), 1e-6);
    failed += golden_report(file, "seg total(rel)", d, d <= 1e-5);
    d = lu_abs(out.fg_mask, yv_dict_get(root, "fg_mask"));
    failed += golden_report(file, "seg fg_mask (exact)", d, d == 0);
    d = lu_abs(out.target_gt_idx, yv_dict_get(root, "target_gt_idx"));
    failed += golden_report(file, "seg target_gt_idx (exact)", d, d == 0);
    {
        torch_tensor *per = NULL;
        bool good = torch_sum_dim(out.fg_mask, 1, false, &per) == YOLO_OK;
        d = good ? lu_abs(per, yv_dict_get(root, "num_fg_per_image")) : INFINITY;
        torch_free(per);
        failed += golden_report(file, "seg num_fg_per_image", d, d == 0);
    }
    bool back = torch_backward(out.total, NULL, false) == YOLO_OK && torch_has_grad(proto) &&
                torch_has_grad(coef) && torch_has_grad(boxes) == false;
    failed +=
        golden_report(file, "seg backward reaches prototypes and coefficients", back ? 0 : INFINITY, back);
    failed += check_model_grads(file, root, &cfg, &tg, masks);
    cfg.crop = LOSS_CROP_FRACTIONAL;
    if (loss_segment(&cfg, boxes, scores, (const int64_t(*)[2])hw, coef, proto, masks, &tg, &alt) !=
        YOLO_OK) {
        failed += golden_report(file, "seg loss (fractional crop)", INFINITY, false);
        goto done;
    }
    d = lu_rel1(alt.items[1], lu_num(root, "seg_loss_if_crop_vectorised"), 1e-6);
    failed += golden_report(file, "seg_loss_if_crop_vectorised(rel)", d, d <= 1e-5);
done:
    loss_output_free(&out);
    loss_output_free(&alt);
    torch_tensor *all[9] = {boxes, scores, coef, proto, masks, bi, cls, bb, img};
    for (int i = 0; i < 9; i++)
        torch_free(all[i]);
    return failed;
}
