/* Memory layout of parameters: re-laying tensors channels-last keeps values, requires_grad and
 * gradients; a channels-last model exports the same state and computes what the row-major one does
 * to float tolerance; switching back restores the row-major results bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/model.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

static bool same_values(const torch_tensor *a, const torch_tensor *b, double tol, double *worst) {
    int64_t n = torch_numel(a);
    if (n != torch_numel(b)) return false;
    double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n);
    bool ok = x && y && torch_copy_out(a, TORCH_F64, x, n) == YOLO_OK &&
              torch_copy_out(b, TORCH_F64, y, n) == YOLO_OK;
    double w = 0;
    for (int64_t i = 0; ok && i < n; i++)
        w = fmax(w, fabs(x[i] - y[i]));
    free(x), free(y);
    if (worst) *worst = w;
    return ok && w <= tol;
}

static void test_wrapper(void) {
    int64_t shape[4] = {4, 3, 3, 3};
    torch_tensor *p = NULL, *keep = NULL, *g = NULL, *g2 = NULL, *sq = NULL, *sum = NULL;
    bool ok = torch_manual_seed(3) == YOLO_OK && torch_empty(4, shape, TORCH_F32, TORCH_CPU, &p) == YOLO_OK &&
              torch_normal_(p, 0, 1) == YOLO_OK && torch_clone(p, &keep) == YOLO_OK &&
              torch_set_requires_grad(p, true) == YOLO_OK;
    torch_tensor *handle = p;
    ok = ok && torch_mul(p, p, &sq) == YOLO_OK && torch_sum(sq, &sum) == YOLO_OK &&
         torch_backward(sum, NULL, false) == YOLO_OK;
    ok = ok && torch_set_channels_last_(p, true) == YOLO_OK;
    CHECK(ok && p == handle && torch_is_channels_last(p) && !torch_is_contiguous(p) &&
              same_values(p, keep, 0, NULL),
          "re-laid channels-last in place: same handle, same values");
    CHECK(torch_requires_grad(p) && torch_grad(p, &g) == YOLO_OK && torch_is_channels_last(g) &&
              torch_same_layout(p, g),
          "requires_grad kept, gradient re-laid like the parameter");
    CHECK(torch_data_ptr(p) == NULL && torch_dense_data_ptr(p) != NULL && torch_dense_data_ptr(g) != NULL,
          "dense pointer for channels-last tensors (the row-major pointer refuses them)");
    torch_tensor *view = NULL;
    CHECK(torch_narrow(p, 1, 0, 2, &view) == YOLO_OK && torch_dense_data_ptr(view) == NULL,
          "no dense pointer for a slice");
    /* A gradient restored from row-major data, as a resumed checkpoint gives one. */
    ok = torch_contiguous(g, &g2) == YOLO_OK && tt_set_grad(p, g2) == YOLO_OK &&
         torch_grad(p, &g) == YOLO_OK && !torch_same_layout(p, g);
    ok = ok && torch_grad_conform(p) == YOLO_OK && torch_grad(p, &g) == YOLO_OK && torch_same_layout(p, g) &&
         same_values(g, g2, 0, NULL);
    CHECK(ok, "grad_conform re-lays a row-major gradient like its parameter, values unchanged");
    ok = torch_set_channels_last_(p, false) == YOLO_OK && torch_is_contiguous(p) &&
         torch_data_ptr(p) != NULL && same_values(p, keep, 0, NULL) && torch_grad(p, &g) == YOLO_OK &&
         torch_is_contiguous(g);
    CHECK(ok, "and back to row-major");
    int64_t s2[2] = {2, 2};
    torch_tensor *flat = NULL;
    yolo_status st = torch_zeros(2, s2, TORCH_F32, TORCH_CPU, &flat) == YOLO_OK
                         ? torch_set_channels_last_(flat, true)
                         : YOLO_OK;
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "4-d"), "2-d tensor refused: %s",
          yolo_last_error());
    torch_free(p), torch_free(keep), torch_free(g), torch_free(g2), torch_free(sq), torch_free(sum),
        torch_free(view), torch_free(flat);
}

static model *build(void) {
    modelcfg *cfg = NULL;
    model *m = NULL;
    if (modelcfg_load("yolov8n.yaml", 3, &cfg) != YOLO_OK || torch_manual_seed(0) != YOLO_OK ||
        model_build(cfg, TORCH_CPU, &m) != YOLO_OK)
        printf("# yolov8n: %s\n", yolo_last_error());
    modelcfg_free(cfg);
    return m;
}

static bool forward(model *m, const torch_tensor *img, torch_tensor **boxes, torch_tensor **scores) {
    model_output o = {0};
    bool ok = model_forward(m, img, &o) == YOLO_OK && torch_clone(o.boxes, boxes) == YOLO_OK &&
              torch_clone(o.scores, scores) == YOLO_OK;
    model_output_free(&o);
    return ok;
}

static void test_model(void) {
    setenv("YOLO_CHANNELS_LAST", "0", 1);
    model *a = build();
    setenv("YOLO_CHANNELS_LAST", "1", 1);
    CHECK(model_channels_last_default(TORCH_CPU), "YOLO_CHANNELS_LAST=1 turns it on");
    model *b = build();
    unsetenv("YOLO_CHANNELS_LAST");
    if (!a || !b) {
        CHECK(0, "models build");
        model_free(a), model_free(b);
        return;
    }
    CHECK(!model_channels_last(a) && model_channels_last(b) && torch_is_channels_last(model_tensor(b, 0)),
          "layout follows YOLO_CHANNELS_LAST at build");
    int n = model_param_count(a), differ = 0, kernels = 0, cl = 0, spatial = 0;
    for (int i = 0; i < n; i++) {
        const torch_tensor *t = model_tensor(b, i);
        differ += !same_values(model_tensor(a, i), t, 0, NULL);
        if (torch_ndim(t) != 4 || strstr(model_param_name(b, i), ".dfl.")) continue;
        kernels++;
        cl += torch_is_channels_last(t);
        spatial += !torch_is_contiguous(t); /* 1x1 kernels are both */
    }
    CHECK(differ == 0 && kernels == 63 && cl == kernels && spatial == 39,
          "same initial state either way (%d differ); %d of %d kernels channels-last (%d 3x3)", differ, cl,
          kernels, spatial);

    int64_t shape[4] = {2, 3, 64, 64};
    torch_tensor *img = NULL, *ba = NULL, *sa = NULL, *bb = NULL, *sb = NULL, *b2 = NULL, *s2 = NULL;
    bool ok = torch_manual_seed(1) == YOLO_OK &&
              torch_empty(4, shape, TORCH_F32, TORCH_CPU, &img) == YOLO_OK &&
              torch_uniform_(img, 0, 1) == YOLO_OK;
    model_set_training(a, false), model_set_training(b, false);
    double wb = -1, ws = -1;
    ok = ok && forward(a, img, &ba, &sa) && forward(b, img, &bb, &sb);
    CHECK(ok && same_values(ba, bb, 1e-3, &wb) && same_values(sa, sb, 1e-3, &ws),
          "eval forward agrees to float tolerance (boxes %.2g, scores %.2g)", wb, ws);

    /* A training step in channels-last leaves every gradient laid out like its parameter. */
    model_set_training(b, true);
    torch_tensor *l1 = NULL, *l2 = NULL;
    model_output o = {0};
    ok = model_forward(b, img, &o) == YOLO_OK && torch_sum(o.boxes, &l1) == YOLO_OK &&
         torch_sum(o.scores, &l2) == YOLO_OK && torch_add(l1, l2, &l1) == YOLO_OK &&
         torch_backward(l1, NULL, false) == YOLO_OK;
    int grads = 0, mismatched = 0;
    for (int i = 0; ok && i < n; i++) {
        torch_tensor *p = model_tensor(b, i), *g = NULL;
        if (!torch_has_grad(p)) continue;
        grads++;
        mismatched += torch_grad(p, &g) != YOLO_OK || !torch_same_layout(p, g) || !torch_dense_data_ptr(g);
        torch_free(g);
    }
    CHECK(ok && grads > 100 && mismatched == 0, "%d gradients, %d laid out unlike their parameter", grads,
          mismatched);
    for (int i = 0; i < n; i++)
        torch_grad_reset(model_tensor(b, i));
    model_output_free(&o);

    /* Back to row-major: the same kernels as model a, so the same bits (b's BN statistics moved with
     * the training step above, hence eval with a's running stats copied over). */
    model_set_training(b, false);
    ok = model_set_channels_last(b, false) == YOLO_OK && !model_channels_last(b) &&
         torch_is_contiguous(model_tensor(b, 0));
    bool was = torch_set_grad_enabled(false);
    for (int i = 0; ok && i < n; i++)
        ok = torch_copy_(model_tensor(b, i), model_tensor(a, i)) == YOLO_OK;
    torch_set_grad_enabled(was);
    ok = ok && forward(b, img, &b2, &s2);
    CHECK(ok && same_values(ba, b2, 0, NULL) && same_values(sa, s2, 0, NULL),
          "row-major again: bit-identical outputs");
    torch_free(img), torch_free(ba), torch_free(sa), torch_free(bb), torch_free(sb), torch_free(b2),
        torch_free(s2);
    torch_free(l1), torch_free(l2);
    model_free(a), model_free(b);
}

int main(void) {
    torch_set_threads(1);
    test_wrapper();
    test_model();
    TAP_DONE();
}
