/* letterbox.pt: letterbox plans, load-time sizes and OpenCV-exact pixels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "yolo/letterbox.h"

#define FILE_NAME "letterbox.pt"

static int64_t geti(const yv *d, const char *key) {
    int64_t v = -1;
    if (!yv_as_int(yv_dict_get(d, key), &v)) return -1;
    return v;
}

static bool get_pair(const yv *d, const char *key, int64_t out[2]) {
    const yv *l = yv_dict_get(d, key);
    if (!l || (l->kind != YV_LIST && l->kind != YV_TUPLE) || l->seq.n != 2) return false;
    return yv_as_int(l->seq.items[0], &out[0]) && yv_as_int(l->seq.items[1], &out[1]);
}

/* An HWC uint8 tensor as an image view (no copy). */
static bool as_image(const yv *t, image *im) {
    if (!t || t->kind != YV_TENSOR || t->tensor.dtype != YDT_U8 || t->tensor.ndim != 3 ||
        !yv_tensor_is_contiguous(&t->tensor) || !yv_tensor_data(&t->tensor))
        return false;
    im->h = (int)t->tensor.shape[0];
    im->w = (int)t->tensor.shape[1];
    im->c = (int)t->tensor.shape[2];
    im->px = yv_tensor_data(&t->tensor);
    return true;
}

/* Max |ours - ref| over pixels, or INFINITY on a shape mismatch. */
static double pixel_diff(const image *ours, const image *ref) {
    if (ours->h != ref->h || ours->w != ref->w || ours->c != ref->c) return INFINITY;
    int worst = 0;
    for (size_t k = 0; k < (size_t)ours->h * ours->w * ours->c; k++) {
        int d = abs(ours->px[k] - ref->px[k]);
        if (d > worst) worst = d;
    }
    return worst;
}

static int check_cases(const yv *root) {
    const yv *cases = yv_dict_get(root, "cases");
    if (!cases || cases->kind != YV_LIST || cases->seq.n == 0)
        return golden_report(FILE_NAME, "cases (missing)", INFINITY, false);
    int bad = 0;
    for (size_t i = 0; i < cases->seq.n; i++) {
        const yv *c = cases->seq.items[i];
        int64_t hw[2], rwh[2], ohw[2];
        double ratio = NAN;
        yv_as_double(yv_dict_get(c, "ratio"), &ratio);
        int64_t s = geti(c, "imgsz");
        bool up = yv_is_truthy(yv_dict_get(c, "scaleup")), resized = yv_is_truthy(yv_dict_get(c, "resized"));
        if (!get_pair(c, "src_hw", hw) || !get_pair(c, "resize_wh", rwh) || !get_pair(c, "out_hw", ohw) ||
            s <= 0) {
            bad++;
            continue;
        }
        letterbox_plan p;
        letterbox_plan_make((int)hw[0], (int)hw[1], (int)s, (int)s, up, &p);
        bool ok = p.new_w == rwh[0] && p.new_h == rwh[1] && p.top == geti(c, "pad_top") &&
                  p.bottom == geti(c, "pad_bottom") && p.left == geti(c, "pad_left") &&
                  p.right == geti(c, "pad_right") && p.out_h == ohw[0] && p.out_w == ohw[1] &&
                  fabs(p.ratio - ratio) <= 1e-12 * fabs(ratio) &&
                  ((p.new_h != hw[0] || p.new_w != hw[1]) == resized);
        if (!ok) {
            printf("# case %zu: src %lldx%lld imgsz %lld scaleup %d: ours %dx%d pad %d,%d,%d,%d\n", i,
                   (long long)hw[0], (long long)hw[1], (long long)s, up, p.new_h, p.new_w, p.top, p.bottom,
                   p.left, p.right);
            bad++;
        }
    }
    return golden_report(FILE_NAME, "cases (ratio, resize, padding)", bad, bad == 0);
}

static int check_load_shapes(const yv *root) {
    const yv *l = yv_dict_get(root, "load_image_shapes");
    if (!l || l->kind != YV_LIST || l->seq.n == 0)
        return golden_report(FILE_NAME, "load_image_shapes (missing)", INFINITY, false);
    int bad = 0;
    for (size_t i = 0; i < l->seq.n; i++) {
        const yv *c = l->seq.items[i];
        int64_t hw[2], rhw[2], s = geti(c, "imgsz");
        if (!get_pair(c, "src_hw", hw) || !get_pair(c, "resized_hw", rhw) || s <= 0) {
            bad++;
            continue;
        }
        int h, w;
        letterbox_load_size((int)hw[0], (int)hw[1], (int)s, &h, &w);
        if (h != rhw[0] || w != rhw[1]) bad++;
    }
    return golden_report(FILE_NAME, "load_image_shapes", bad, bad == 0);
}

static int check_small_outputs(const yv *root) {
    image in;
    const yv *outs = yv_dict_get(root, "small_outputs");
    if (!as_image(yv_dict_get(root, "small_input_bgr"), &in) || !outs || outs->kind != YV_LIST)
        return golden_report(FILE_NAME, "small_outputs (missing)", INFINITY, false);
    double worst = 0;
    for (size_t i = 0; i < outs->seq.n; i++) {
        const yv *o = outs->seq.items[i];
        image ref, ours;
        int64_t s = geti(o, "imgsz");
        if (!as_image(yv_dict_get(o, "image"), &ref) || s <= 0) {
            worst = INFINITY;
            continue;
        }
        letterbox_plan p;
        letterbox_plan_make(in.h, in.w, (int)s, (int)s, yv_is_truthy(yv_dict_get(o, "scaleup")), &p);
        if (letterbox_apply(&in, &p, &ours)) {
            worst = INFINITY;
            continue;
        }
        worst = fmax(worst, pixel_diff(&ours, &ref));
        image_free(&ours);
    }
    return golden_report(FILE_NAME, "small_outputs (letterbox pixels)", worst, worst <= 1);
}

static int check_val_pipeline(const yv *root) {
    image in;
    const yv *v = yv_dict_get(root, "val_pipeline_small");
    if (!as_image(yv_dict_get(root, "small_input_bgr"), &in) || !v || v->kind != YV_LIST)
        return golden_report(FILE_NAME, "val_pipeline_small (missing)", INFINITY, false);
    double worst_loaded = 0, worst_final = 0;
    for (size_t i = 0; i < v->seq.n; i++) {
        const yv *o = v->seq.items[i];
        image ref_l, ref_f, loaded, fin;
        int64_t s = geti(o, "imgsz");
        if (!as_image(yv_dict_get(o, "loaded"), &ref_l) || !as_image(yv_dict_get(o, "final"), &ref_f) ||
            s <= 0 || letterbox_load_resize(&in, (int)s, &loaded)) {
            worst_loaded = worst_final = INFINITY;
            continue;
        }
        worst_loaded = fmax(worst_loaded, pixel_diff(&loaded, &ref_l));
        letterbox_plan p;
        letterbox_plan_make(loaded.h, loaded.w, (int)s, (int)s, false, &p);
        if (!letterbox_apply(&loaded, &p, &fin)) {
            worst_final = fmax(worst_final, pixel_diff(&fin, &ref_f));
            image_free(&fin);
        } else {
            worst_final = INFINITY;
        }
        image_free(&loaded);
    }
    int bad = golden_report(FILE_NAME, "val_pipeline_small loaded", worst_loaded, worst_loaded <= 1);
    return bad + golden_report(FILE_NAME, "val_pipeline_small final", worst_final, worst_final <= 1);
}

int golden_letterbox(const char *path, const yv *root) {
    (void)path;
    double pad = NAN;
    int bad = 0;
    if (yv_as_double(yv_dict_get(root, "padding_value"), &pad))
        bad += golden_report(FILE_NAME, "padding_value", fabs(pad - LETTERBOX_FILL), pad == LETTERBOX_FILL);
    bad += check_cases(root);
    bad += check_load_shapes(root);
    bad += check_small_outputs(root);
    bad += check_val_pipeline(root);
    return bad;
}
