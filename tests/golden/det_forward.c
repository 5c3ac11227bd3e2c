/* det_forward.pt: YOLOv8 detection forward, train and eval mode, against Ultralytics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmodel.h"

#define TOL 1e-5

/* Per level (B, 64+nc, H, W) from our flattened boxes/scores, to compare with train_out[l]. */
static yolo_status level_map(const model_output *o, int l, torch_tensor **out) {
    int64_t start = 0;
    for (int k = 0; k < l; k++)
        start += o->level_hw[k][0] * o->level_hw[k][1];
    int64_t hw = o->level_hw[l][0] * o->level_hw[l][1];
    torch_tensor *b = NULL, *s = NULL;
    yolo_status st = torch_narrow(o->boxes, 2, start, hw, &b);
    if (st == YOLO_OK) st = torch_narrow(o->scores, 2, start, hw, &s);
    const torch_tensor *parts[2] = {b, s};
    if (st == YOLO_OK) st = torch_cat(parts, 2, 1, out);
    torch_free(b);
    torch_free(s);
    return st;
}

int golden_det_forward(const char *path, const yv *root) {
    const char *file = gm_base(path);
    const yv *sd = yv_dict_get(root, "state_dict");
    int nc = (int)gm_int(root, "nc", 0), failed = 0;
    torch_set_threads(1);
    gm_seed = gm_int(yv_dict_get(root, "args"), "seed", 0);
    failed += gm_check_fresh(file, sd, "", nc, yv_dict_get(root, "fresh_init_deterministic"));

    model *m = NULL;
    torch_tensor *images = NULL, *t = NULL, *anc = NULL, *str = NULL;
    model_output o = {0};
    failed += gm_setup(file, root, "", "state_dict_keys", &m);
    if (!m) return failed;
    long tpc = gm_int(root, "trainable_param_count", -1);
    failed += golden_report(file, "trainable_param_count", fabs((double)(model_trainable_elements(m) - tpc)),
                            model_trainable_elements(m) == tpc);

    yolo_status st = gm_tensor(yv_dict_get(root, "images"), 1, &images);
    /* Eval first: the stored eval outputs use the state_dict's running statistics. */
    if (st == YOLO_OK) {
        model_set_training(m, false);
        model_keep_layer_outputs(m, true);
        bool was = torch_set_grad_enabled(false);
        st = model_forward(m, images, &o);
        torch_set_grad_enabled(was);
    }
    if (st != YOLO_OK) {
        printf("not ok - %s: eval forward: %s\n", file, yolo_last_error());
        failed++;
        goto out;
    }
    failed += gm_check(file, "eval_out", o.pred, yv_dict_get(root, "eval_out"), TOL);
    failed += gm_check(file, "eval_boxes_raw", o.boxes, yv_dict_get(root, "eval_boxes_raw"), TOL);
    failed += gm_check(file, "eval_scores_raw", o.scores, yv_dict_get(root, "eval_scores_raw"), TOL);
    const yv *lays = yv_dict_get(root, "eval_layer_outputs_img0");
    if (lays && lays->kind == YV_DICT) {
        double worst = 0;
        for (size_t i = 0; i < lays->dict.n; i++) {
            int li = atoi(yv_as_str(lays->dict.keys[i]) ? yv_as_str(lays->dict.keys[i]) : "-1");
            const torch_tensor *lo = model_layer_output(m, li);
            double d = INFINITY;
            if (lo && torch_narrow(lo, 0, 0, 1, &t) == YOLO_OK) {
                int64_t n = torch_numel(t);
                float *buf = malloc(sizeof(float) * (size_t)n);
                if (buf && torch_copy_out(t, TORCH_F32, buf, n) == YOLO_OK)
                    d = golden_max_abs_diff(buf, n, lays->dict.vals[i]);
                free(buf);
            }
            if (!(d <= worst)) worst = d;
            if (getenv("GOLDEN_VERBOSE")) printf("# layer %d max_abs=%g\n", li, d);
        }
        char group[64];
        snprintf(group, sizeof group, "eval_layer_outputs_img0 (%zu layers)", lays->dict.n);
        failed += golden_report(file, group, worst, worst <= TOL);
    }
    if (model_anchors(m, &o, &anc, &str) == YOLO_OK) {
        failed += gm_check(file, "anchors", anc, yv_dict_get(root, "anchors"), 0);
        failed += gm_check(file, "stride_tensor", str, yv_dict_get(root, "stride_tensor"), 0);
    }

    /* Train mode: batch statistics. */
    model_set_training(m, true);
    st = model_forward(m, images, &o);
    if (st != YOLO_OK) {
        printf("not ok - %s: train forward: %s\n", file, yolo_last_error());
        failed++;
        goto out;
    }
    const yv *tout = yv_dict_get(root, "train_out"), *hin = yv_dict_get(root, "head_inputs");
    for (int l = 0; tout && tout->kind == YV_LIST && l < (int)tout->seq.n && l < o.nl; l++) {
        char group[32];
        snprintf(group, sizeof group, "train_out[%d]", l);
        if (level_map(&o, l, &t) == YOLO_OK) failed += gm_check(file, group, t, tout->seq.items[l], TOL);
    }
    int heads[3] = {15, 18, 21};
    for (int l = 0; hin && hin->kind == YV_LIST && l < (int)hin->seq.n && l < 3; l++) {
        char group[32];
        snprintf(group, sizeof group, "head_inputs[%d]", l);
        failed += gm_check(file, group, model_layer_output(m, heads[l]), hin->seq.items[l], TOL);
    }
out:
    model_output_free(&o);
    torch_free(images);
    torch_free(t);
    torch_free(anc);
    torch_free(str);
    model_free(m);
    return failed;
}
