/* cls_forward_loss.pt, forward part: YOLOv8-cls logits in train and eval mode. */
#include <stdio.h>

#include "gmodel.h"

#define TOL 1e-5

int golden_cls_forward(const char *path, const yv *root) {
    const char *file = gm_base(path);
    int failed = 0;
    torch_set_threads(1);
    gm_seed = gm_int(yv_dict_get(root, "args"), "seed", 0);
    model *m = NULL;
    torch_tensor *images = NULL;
    model_output o = {0};
    failed += gm_setup(file, root, "-cls", "state_dict", &m);
    if (!m) return failed;
    yolo_status st = gm_tensor(yv_dict_get(root, "images"), 1, &images);
    if (st != YOLO_OK) {
        printf("not ok - %s: images: %s\n", file, yolo_last_error());
        model_free(m);
        return failed + 1;
    }
    /* Eval first: it uses the state_dict's running statistics. */
    model_set_training(m, false);
    bool was = torch_set_grad_enabled(false);
    st = model_forward(m, images, &o);
    torch_set_grad_enabled(was);
    if (st == YOLO_OK) {
        failed += gm_check(file, "eval_logits", o.logits, yv_dict_get(root, "eval_logits"), TOL);
        failed += gm_check(file, "eval_softmax", o.pred, yv_dict_get(root, "eval_softmax"), TOL);
        model_set_training(m, true);
        st = model_forward(m, images, &o);
    }
    if (st != YOLO_OK) {
        printf("not ok - %s: forward: %s\n", file, yolo_last_error());
        failed++;
    } else {
        failed += gm_check(file, "logits_train", o.logits, yv_dict_get(root, "logits_train"), TOL);
        failed += gm_check_bn_after(file, m, yv_dict_get(root, "bn_after"));
    }
    model_output_free(&o);
    torch_free(images);
    model_free(m);
    return failed;
}
