/* det_assigner.pt: TaskAlignedAssigner outputs and intermediates, exact, for every case in the file. */
#include <stdbool.h>

#include "golden.h"
#include "loss_util.h"
#include "yolo/assign.h"
#include "yolo/torch.h"

static int check_case(const char *file, const yv *root, const char *name) {
    const yv *c = yv_dict_get(root, name);
    char group[128];
    if (!c || c->kind != YV_DICT) return 0;
    int failed = 0;
    int64_t nc = 0;
    yv_as_int(yv_dict_get(c, "num_classes"), &nc);
    const char *in_names[6] = {"pd_scores", "pd_bboxes", "anc_points", "gt_labels", "gt_bboxes", "mask_gt"};
    torch_tensor *in[6] = {0};
    bool ok = nc > 0;
    for (int i = 0; i < 6 && ok; i++)
        ok = (in[i] = lu_tensor(yv_dict_get(c, in_names[i]))) != NULL;
    assign_result r = {0};
    assign_cfg cfg;
    double strides[3] = {8, 16, 32};
    const yv *sv = yv_path(root, "settings.stride");
    for (size_t i = 0; sv && sv->kind == YV_LIST && i < sv->seq.n && i < 3; i++)
        yv_as_double(sv->seq.items[i], &strides[i]);
    assign_cfg_default(&cfg, (int)nc, strides, 3);
    int64_t v;
    if (yv_as_int(yv_path(root, "settings.topk"), &v)) cfg.topk = (int)v;
    yv_as_double(yv_path(root, "settings.alpha"), &cfg.alpha);
    yv_as_double(yv_path(root, "settings.beta"), &cfg.beta);
    yv_as_double(yv_path(root, "settings.eps"), &cfg.eps);
    if (ok && assign_run(&cfg, in[0], in[1], in[2], in[3], in[4], in[5], true, &r) != YOLO_OK) {
        snprintf(group, sizeof group, "%s assign_run", name);
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, group, INFINITY, false);
        ok = false;
    } else if (!ok) {
        snprintf(group, sizeof group, "%s inputs", name);
        failed += golden_report(file, group, INFINITY, false);
    }
    if (ok) {
        struct {
            const char *key;
            torch_tensor *t;
        } outs[] = {
            {"target_labels", r.target_labels},
            {"target_bboxes", r.target_bboxes},
            {"target_scores", r.target_scores},
            {"fg_mask", r.fg_mask},
            {"target_gt_idx", r.target_gt_idx},
            {"mask_in_gts", r.mask_in_gts},
            {"align_metric", r.align_metric},
            {"overlaps", r.overlaps},
            {"mask_pos_before_resolve", r.mask_pos_before_resolve},
            {"claims_per_anchor", r.claims_per_anchor},
            {"mask_pos", r.mask_pos},
        };
        for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
            const yv *stored = yv_dict_get(c, outs[i].key);
            if (!stored) continue; /* the early-return case has no intermediates */
            snprintf(group, sizeof group, "%s %s", name, outs[i].key);
            double d = lu_abs(outs[i].t, stored);
            failed += golden_report(file, group, d, d == 0);
        }
    }
    assign_result_free(&r);
    for (int i = 0; i < 6; i++)
        torch_free(in[i]);
    return failed;
}

int golden_det_assigner(const char *path, const yv *root) {
    torch_set_threads(1); /* the golden numbers were made with one thread */
    const char *file = gm_base(path);
    int failed = 0;
    for (size_t i = 0; i < root->dict.n; i++) {
        const char *k = yv_as_str(root->dict.keys[i]);
        const yv *c = root->dict.vals[i];
        if (k && c->kind == YV_DICT && yv_dict_get(c, "pd_scores")) failed += check_case(file, root, k);
    }
    return failed;
}
