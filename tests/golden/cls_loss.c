/* cls_forward_loss.pt: classification cross-entropy from the stored train-mode logits. */
#include <stdbool.h>

#include "golden.h"
#include "loss_util.h"
#include "yolo/loss.h"
#include "yolo/torch.h"

int golden_cls_loss(const char *path, const yv *root) {
    torch_set_threads(1); /* the golden numbers were made with one thread */
    const char *file = gm_base(path);
    int failed = 0;
    torch_tensor *logits = lu_get(root, "logits_train"), *labels = lu_get(root, "labels");
    loss_output out = {0};
    if (!logits || !labels) {
        failed += golden_report(file, "cls loss inputs", INFINITY, false);
    } else if (loss_classify(logits, labels, &out) != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, "cls loss", INFINITY, false);
    } else {
        double total = 0;
        torch_item(out.total, &total);
        double d = fmax(lu_rel1(total, lu_num(root, "loss"), 1e-6),
                        lu_rel1(out.items[0], lu_num(root, "loss_item"), 1e-6));
        failed += golden_report(file, "cls loss and loss_item(rel)", d, d <= 1e-5 && out.n_items == 1);
    }
    if (logits && labels) {
        /* through our model: weights and images from the file, loss, backward, stored gradients */
        const yv *sd = yv_dict_get(root, "state_dict");
        model *m = NULL;
        model_output o = {0};
        loss_output mo = {0};
        int64_t nc = 0;
        yv_as_int(yv_dict_get(root, "nc"), &nc);
        bool was = torch_set_grad_enabled(true);
        yolo_status st = lu_train_forward(sd, "-cls", (int)nc, yv_dict_get(root, "images"), 1, &m, &o);
        if (st == YOLO_OK) st = loss_classify(o.logits, labels, &mo);
        if (lu_backward_ok(file, "cls model forward + loss + backward", st, &mo, &failed)) {
            double d = lu_rel1(mo.items[0], lu_num(root, "loss"), 1e-6);
            failed += golden_report(file, "cls model path loss(rel)", d, d <= 1e-5);
            failed += lu_check_model_grads(file, "cls model path", m, yv_dict_get(root, "grads"),
                                           yv_dict_get(root, "grad_norms"), NULL);
        }
        torch_set_grad_enabled(was);
        loss_output_free(&mo);
        model_output_free(&o);
        model_free(m);
    }
    loss_output_free(&out);
    torch_free(logits);
    torch_free(labels);
    return failed;
}
