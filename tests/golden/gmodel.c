#include "gmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long gm_seed;

const char *gm_base(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

long gm_int(const yv *root, const char *key, long def) {
    const yv *v = yv_dict_get(root, key);
    int64_t i;
    double d;
    if (v && yv_as_int(v, &i)) return (long)i;
    if (v && yv_as_double(v, &d)) return (long)d;
    return def;
}

yolo_status gm_tensor(const yv *stored, double div, torch_tensor **out) {
    if (!stored || stored->kind != YV_TENSOR) return yolo_error(YOLO_ERR_FORMAT, "missing tensor");
    int64_t n = yv_tensor_numel(&stored->tensor);
    float *buf = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!buf) return yolo_error(YOLO_ERR_NOMEM, "out of memory");
    yolo_status st = yv_tensor_to_f32(&stored->tensor, buf);
    if (st == YOLO_OK && div != 1) /* same float32 division as numpy/torch: x / 255 */
        for (int64_t i = 0; i < n; i++)
            buf[i] = buf[i] / (float)div;
    if (st == YOLO_OK) st = torch_from_data(buf, TORCH_F32, stored->tensor.ndim, stored->tensor.shape, out);
    free(buf);
    return st;
}

yolo_status gm_build(const yv *sd, const char *suffix, int nc, model **out) {
    const yv *w = yv_dict_get(sd, "model.0.conv.weight");
    if (!w || w->kind != YV_TENSOR || w->tensor.ndim != 4)
        return yolo_error(YOLO_ERR_FORMAT, "state_dict has no model.0.conv.weight");
    static const struct {
        int c;
        char s;
    } widths[] = {{16, 'n'}, {32, 's'}, {48, 'm'}, {64, 'l'}, {80, 'x'}};
    char scale = 0;
    for (int i = 0; i < 5; i++)
        if (widths[i].c == w->tensor.shape[0]) scale = widths[i].s;
    if (!scale)
        return yolo_error(YOLO_ERR_FORMAT, "first conv width %lld is no YOLOv8 scale",
                          (long long)w->tensor.shape[0]);
    char name[64];
    snprintf(name, sizeof name, "yolov8%c%s.yaml", scale, suffix);
    modelcfg *cfg = NULL;
    yolo_status st = modelcfg_load(name, nc, &cfg);
    if (st != YOLO_OK) return st;
    st = torch_manual_seed((uint64_t)gm_seed);
    if (st == YOLO_OK) st = model_build(cfg, TORCH_CPU, out);
    modelcfg_free(cfg);
    return st;
}

int gm_check_names(const char *file, const model *m, const yv *v) {
    int n = model_param_count(m), bad = 0, have = -1;
    if (v && v->kind == YV_LIST) {
        have = (int)v->seq.n;
        for (int i = 0; i < n && i < have; i++) {
            const char *s = yv_as_str(v->seq.items[i]);
            bad += !s || strcmp(s, model_param_name(m, i));
        }
    } else if (v && v->kind == YV_DICT) {
        have = (int)v->dict.n;
        for (int i = 0; i < n && i < have; i++) {
            const char *s = yv_as_str(v->dict.keys[i]);
            const yv *t = v->dict.vals[i];
            bool same = s && !strcmp(s, model_param_name(m, i)) && t->kind == YV_TENSOR;
            int64_t shape[8];
            int nd = torch_shape(model_tensor(m, i), shape, 8);
            same = same && nd == t->tensor.ndim;
            for (int d = 0; same && d < nd; d++)
                same = shape[d] == t->tensor.shape[d];
            bad += !same;
        }
    }
    char group[96];
    snprintf(group, sizeof group, "state_dict names/shapes/order (%d ours, %d stored, %d differ)", n, have,
             bad);
    return golden_report(file, group, bad + abs(n - have), bad == 0 && n == have);
}

int gm_check(const char *file, const char *group, const torch_tensor *t, const yv *stored, double tol) {
    int64_t n = torch_numel(t);
    float *buf = malloc(sizeof(float) * (size_t)(n ? n : 1));
    double d = INFINITY;
    if (buf && t && torch_copy_out(t, TORCH_F32, buf, n) == YOLO_OK) d = golden_max_abs_diff(buf, n, stored);
    free(buf);
    return golden_report(file, group, d, d <= tol);
}

/* Largest absolute difference between the model's tensors and a stored dict name -> tensor; names the
 * model lacks are counted in *missing. */
static double named_max_diff(const model *m, const yv *dict, int *missing) {
    double worst = 0;
    for (size_t i = 0; i < dict->dict.n; i++) {
        const char *name = yv_as_str(dict->dict.keys[i]);
        int k = name ? model_param_find(m, name) : -1;
        if (k < 0) {
            (*missing)++;
            continue;
        }
        torch_tensor *t = model_tensor(m, k);
        int64_t n = torch_numel(t);
        float *buf = malloc(sizeof(float) * (size_t)(n ? n : 1));
        double d = INFINITY;
        if (buf && torch_copy_out(t, TORCH_F32, buf, n) == YOLO_OK)
            d = golden_max_abs_diff(buf, n, dict->dict.vals[i]);
        free(buf);
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

int gm_check_fresh(const char *file, const yv *sd, const char *suffix, int nc, const yv *fresh) {
    model *m = NULL;
    if (!fresh || fresh->kind != YV_DICT) return 0;
    if (gm_build(sd, suffix, nc, &m) != YOLO_OK)
        return golden_report(file, "fresh_init_deterministic (build failed)", INFINITY, false);
    /* The stored weights are a fresh init after manual_seed(seed) with only the BN entries replaced,
     * so everything else must equal our own fresh init drawn from the same seed. */
    double worst_rng = 0;
    int compared = 0;
    for (size_t i = 0; i < sd->dict.n; i++) {
        const char *name = yv_as_str(sd->dict.keys[i]);
        int k = name ? model_param_find(m, name) : -1;
        if (!name || strstr(name, ".bn.") || k < 0) continue;
        torch_tensor *t = model_tensor(m, k);
        int64_t n = torch_numel(t);
        float *buf = malloc(sizeof(float) * (size_t)(n ? n : 1));
        double d = INFINITY;
        if (buf && torch_copy_out(t, TORCH_F32, buf, n) == YOLO_OK)
            d = golden_max_abs_diff(buf, n, sd->dict.vals[i]);
        free(buf);
        if (!(d <= worst_rng)) worst_rng = d;
        compared++;
    }
    /* The golden README does not promise which seed made the weights, so a mismatch is only noted. */
    int failed = 0;
    if (worst_rng == 0 && compared > 0)
        golden_report(file, "fresh init equals the stored conv/linear weights (same manual_seed)", 0, true);
    else
        printf("# note: %s fresh init vs stored conv/linear weights: max_abs=%.3g (made with another seed)\n",
               file, worst_rng);
    int missing = 0;
    double worst = named_max_diff(m, fresh, &missing);
    model_free(m);
    char group[96];
    snprintf(group, sizeof group, "fresh_init_deterministic (%zu entries, %d unknown)", fresh->dict.n,
             missing);
    return failed + golden_report(file, group, worst, worst == 0 && missing == 0);
}

int gm_check_bn_after(const char *file, const model *m, const yv *bn_after) {
    if (!bn_after || bn_after->kind != YV_DICT) return 0;
    int missing = 0;
    double worst = named_max_diff(m, bn_after, &missing);
    char group[96];
    snprintf(group, sizeof group, "bn_after (%zu buffers, %d unknown)", bn_after->dict.n, missing);
    return golden_report(file, group, worst, worst <= 1e-6 && missing == 0);
}

int gm_setup(const char *file, const yv *root, const char *suffix, const char *names_key, model **m) {
    const yv *sd = yv_dict_get(root, "state_dict");
    char msg[128] = "";
    int transferred = 0, failed = 0;
    *m = NULL;
    yolo_status st = gm_build(sd, suffix, (int)gm_int(root, "nc", 0), m);
    if (st == YOLO_OK) st = model_load_state_dict(*m, sd, &transferred, msg, sizeof msg);
    if (st != YOLO_OK) {
        printf("not ok - %s: model: %s\n", file, yolo_last_error());
        model_free(*m);
        *m = NULL;
        return 1;
    }
    failed += gm_check_names(file, *m, yv_dict_get(root, names_key));
    failed += golden_report(file, msg, fabs((double)transferred - model_param_count(*m)),
                            transferred == model_param_count(*m));
    long pc = gm_int(root, "param_count", -1);
    failed += golden_report(file, "param_count", fabs((double)(model_param_elements(*m) - pc)),
                            model_param_elements(*m) == pc);
    return failed;
}
