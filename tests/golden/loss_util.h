/* Helpers shared by the training-core golden checkers (det_assigner, det_loss, det_optim, seg_loss,
 * cls_loss): stored values to libtorch tensors, and comparisons of our tensors with stored ones. */
#ifndef YOLO_GOLDEN_LOSS_UTIL_H
#define YOLO_GOLDEN_LOSS_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "yolo/loss.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"
#include "yolo/value.h"

/* A CPU tensor with a copy of a stored tensor (same dtype); NULL if v is not a loaded tensor. */
static inline torch_tensor *lu_tensor(const yv *v) {
    if (!v || v->kind != YV_TENSOR) return NULL;
    const yv_tensor *t = &v->tensor;
    int64_t n = yv_tensor_numel(t);
    torch_tensor *out = NULL;
    if (yv_tensor_is_contiguous(t) && (n == 0 || yv_tensor_data(t))) {
        static const char zero[16];
        if (torch_from_data(n ? yv_tensor_data(t) : zero, (torch_dtype)t->dtype, t->ndim, t->shape, &out) !=
            YOLO_OK)
            return NULL;
        return out;
    }
    /* strided: go through float64 */
    double *buf = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!buf || yv_tensor_to_f64(t, buf) != YOLO_OK ||
        torch_from_data(buf, TORCH_F64, t->ndim, t->shape, &out) != YOLO_OK ||
        torch_to(out, (torch_dtype)t->dtype, TORCH_CPU, &out) != YOLO_OK) {
        free(buf);
        torch_free(out);
        return NULL;
    }
    free(buf);
    return out;
}

static inline torch_tensor *lu_get(const yv *root, const char *path) {
    return lu_tensor(yv_path(root, path));
}

/* A tensor's elements as float (malloc'd; NULL on failure), count in *n. */
static inline float *lu_floats(const torch_tensor *t, long *n) {
    *n = (long)torch_numel(t);
    float *f = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
    if (!f) return NULL;
    if (*n && torch_copy_out(t, TORCH_F32, f, *n) != YOLO_OK) {
        free(f);
        return NULL;
    }
    return f;
}

/* Max abs difference of ours vs stored (INFINITY on a size mismatch or failure). */
static inline double lu_abs(const torch_tensor *ours, const yv *stored) {
    long n = 0;
    float *f = ours ? lu_floats(ours, &n) : NULL;
    if (!f) return INFINITY;
    double d = golden_max_abs_diff(f, n, stored);
    free(f);
    return d;
}

/* Max of |a-b| / max(|b|, floor). */
static inline double lu_rel(const torch_tensor *ours, const yv *stored, double floor) {
    long n = 0;
    float *f = ours ? lu_floats(ours, &n) : NULL;
    if (!f) return INFINITY;
    double d = golden_max_rel_diff(f, n, stored, floor);
    free(f);
    return d;
}

/* A stored number (float, int or one-element tensor). */
static inline double lu_num(const yv *root, const char *path) {
    const yv *v = yv_path(root, path);
    double d = NAN;
    if (v && v->kind == YV_TENSOR && yv_tensor_numel(&v->tensor) == 1) {
        yv_tensor_to_f64(&v->tensor, &d);
        return d;
    }
    if (!v || !yv_as_double(v, &d)) return NAN;
    return d;
}

/* Relative difference of two scalars with a floor on the denominator. */
static inline double lu_rel1(double ours, double ref, double floor) {
    double d = fabs(ours - ref) / fmax(fabs(ref), floor);
    return d == d ? d : INFINITY;
}

/* The folder part of a path ("a/b/c.pt" -> "a/b"; "c.pt" -> "."). */
static inline void lu_dirname(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, cap, ".");
        return;
    }
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* ---- gradients through the model ---- */
#include "gmodel.h"
#include "yolo/model.h"

/* Our model for a stored state_dict (gm_build's suffix), its weights loaded, one train-mode forward on
 * the stored images divided by div. The caller frees *m and *o whatever the result; gradients are
 * recorded when the caller enabled them. */
static inline yolo_status lu_train_forward(const yv *sd, const char *suffix, int nc, const yv *images,
                                           double div, model **m, model_output *o) {
    torch_tensor *x = NULL;
    yolo_status st = gm_build(sd, suffix, nc, m);
    if (st == YOLO_OK) st = model_load_state_dict(*m, sd, NULL, NULL, 0);
    if (st == YOLO_OK) st = gm_tensor(images, div, &x);
    if (st == YOLO_OK) {
        model_set_training(*m, true);
        st = model_forward(*m, x, o);
    }
    torch_free(x); /* the autograd graph keeps what backward needs */
    return st;
}

/* The model path's backward from its loss. When that or an earlier step (st) failed, prints the error
 * and reports `what` as failed; true when the checks of the results can go on. */
static inline bool lu_backward_ok(const char *file, const char *what, yolo_status st, const loss_output *out,
                                  int *failed) {
    if (st == YOLO_OK) st = torch_backward(out->total, NULL, false);
    if (st == YOLO_OK) return true;
    printf("# %s\n", yolo_last_error());
    *failed += golden_report(file, what, INFINITY, false);
    return false;
}

/* Elementwise gradient tolerance: |a-b| <= abs_tol, or <= rel_tol*|b| for large values. Gives the max
 * abs difference and the max of |a-b| / max(abs_tol, rel_tol*|b|) (pass when <= 1). */
static inline bool lu_grad_close(const torch_tensor *g, const yv *stored, double abs_tol, double rel_tol,
                                 double *max_abs, double *excess) {
    long n = 0;
    float *f = g ? lu_floats(g, &n) : NULL;
    double *ref = NULL;
    bool ok = f && stored && stored->kind == YV_TENSOR && yv_tensor_numel(&stored->tensor) == n &&
              (ref = malloc(sizeof(double) * (size_t)(n ? n : 1))) &&
              yv_tensor_to_f64(&stored->tensor, ref) == YOLO_OK;
    for (long i = 0; ok && i < n; i++) {
        double d = fabs((double)f[i] - ref[i]);
        double e = d / fmax(abs_tol, rel_tol * fabs(ref[i]));
        if (!(d <= *max_abs)) *max_abs = d;
        if (!(e <= *excess)) *excess = e;
    }
    if (!ok) *max_abs = *excess = INFINITY;
    free(f);
    free(ref);
    return ok;
}

/* Checks the model's gradients: every entry of grads (name -> tensor) elementwise, and every entry of
 * norms (name -> float) relatively; names in no_grad must have none. One report line each. */
static inline int lu_check_model_grads(const char *file, const char *label, const model *m, const yv *grads,
                                       const yv *norms, const yv *no_grad) {
    char group[160];
    int failed = 0, count = 0, missing = 0;
    double max_abs = 0, excess = 0, norm_rel = 0;
    for (size_t i = 0; grads && i < grads->dict.n; i++) {
        int k = model_param_find(m, yv_as_str(grads->dict.keys[i]));
        torch_tensor *g = NULL;
        if (k < 0 || torch_grad(model_tensor(m, k), &g) != YOLO_OK) {
            missing++;
            continue;
        }
        lu_grad_close(g, grads->dict.vals[i], 1e-5, 1e-4, &max_abs, &excess);
        torch_free(g);
        count++;
    }
    snprintf(group, sizeof group, "%s grads (%d tensors, |d|<=1e-5 or 1e-4 rel; worst ratio %.3g)", label,
             count, excess);
    failed += golden_report(file, group, missing ? INFINITY : max_abs, !missing && count > 0 && excess <= 1);
    int ncount = 0;
    missing = 0;
    for (size_t i = 0; norms && i < norms->dict.n; i++) {
        int k = model_param_find(m, yv_as_str(norms->dict.keys[i]));
        torch_tensor *g = NULL, *nn = NULL;
        double ref = NAN, ours = NAN;
        yv_as_double(norms->dict.vals[i], &ref);
        if (k < 0 || torch_grad(model_tensor(m, k), &g) != YOLO_OK || tt_norm2(g, &nn) != YOLO_OK ||
            torch_item(nn, &ours) != YOLO_OK) {
            missing++;
        } else {
            norm_rel = fmax(norm_rel, lu_rel1(ours, ref, 1e-6));
            ncount++;
        }
        torch_free(g);
        torch_free(nn);
    }
    if (norms) {
        snprintf(group, sizeof group, "%s grad_norms(rel) (%d tensors)", label, ncount);
        failed += golden_report(file, group, missing ? INFINITY : norm_rel, !missing && norm_rel <= 1e-4);
    }
    bool none = true;
    for (size_t i = 0; no_grad && no_grad->kind == YV_LIST && i < no_grad->seq.n; i++) {
        int k = model_param_find(m, yv_as_str(no_grad->seq.items[i]));
        none = none && k >= 0 && !torch_has_grad(model_tensor(m, k));
    }
    if (no_grad) {
        snprintf(group, sizeof group, "%s params_without_grad", label);
        failed += golden_report(file, group, none ? 0 : INFINITY, none);
    }
    return failed;
}

#endif
