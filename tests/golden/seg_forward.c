/* seg_forward_loss.pt, forward part: YOLOv8-seg train-mode outputs and BN buffers after the forward. */
#include <stdio.h>

#include "gmodel.h"

#define TOL 1e-5

int golden_seg_forward(const char *path, const yv *root) {
    const char *file = gm_base(path);
    const yv *sd = yv_dict_get(root, "state_dict");
    int nc = (int)gm_int(root, "nc", 0), failed = 0;
    torch_set_threads(1);
    gm_seed = gm_int(yv_dict_get(root, "args"), "seed", 0);
    failed += gm_check_fresh(file, sd, "-seg", nc, yv_dict_get(root, "fresh_init_deterministic"));
    model *m = NULL;
    torch_tensor *images = NULL;
    model_output o = {0};
    failed += gm_setup(file, root, "-seg", "state_dict", &m);
    if (!m) return failed;
    yolo_status st = gm_tensor(yv_dict_get(root, "img_uint8"), 255, &images);
    if (st != YOLO_OK) {
        printf("not ok - %s: images: %s\n", file, yolo_last_error());
        model_free(m);
        return failed + 1;
    }
    st = model_forward(m, images, &o);
    if (st != YOLO_OK) {
        printf("not ok - %s: train forward: %s\n", file, yolo_last_error());
        failed++;
    } else {
        failed += gm_check(file, "train_boxes", o.boxes, yv_dict_get(root, "train_boxes"), TOL);
        failed += gm_check(file, "train_scores", o.scores, yv_dict_get(root, "train_scores"), TOL);
        failed += gm_check(file, "train_mask_coefficient", o.mask_coeffs,
                           yv_dict_get(root, "train_mask_coefficient"), TOL);
        failed += gm_check(file, "train_proto", o.proto, yv_dict_get(root, "train_proto"), TOL);
        failed += gm_check_bn_after(file, m, yv_dict_get(root, "bn_after"));
    }
    model_output_free(&o);
    torch_free(images);
    model_free(m);
    return failed;
}
