/* Blocked activations (torch.h, lib/dnnl.c, lib/bnorm.c): a network kept in oneDNN's blocked layout
 * must compute what the plain NCHW network computes, to the bit: every layer's output, every
 * parameter gradient and the BatchNorm running statistics, in training and in evaluation, at 1 and
 * 2 threads, for a batch that takes oneDNN (16 images) and one that takes libtorch's own 1x1 kernels
 * (4 images at 1 thread). Skips where the layout is not available (no AVX-512, another libtorch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/model.h"
#include "yolo/modelcfg.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

/* Bytes equal, not just close. */
static bool identical(const torch_tensor *a, const torch_tensor *b) {
    int64_t n = torch_numel(a);
    if (!a || !b || n != torch_numel(b)) return false;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    bool ok = x && y && torch_copy_out(a, TORCH_F32, x, n) == YOLO_OK &&
              torch_copy_out(b, TORCH_F32, y, n) == YOLO_OK && memcmp(x, y, sizeof(float) * (size_t)n) == 0;
    free(x), free(y);
    return ok;
}

static yolo_status head_sum(const model_output *o, torch_tensor **out) {
    const torch_tensor *parts[3] = {o->logits ? o->logits : o->boxes, o->scores, o->proto};
    yolo_status st = torch_sum(parts[0], out);
    for (int i = 1; i < 3 && st == YOLO_OK; i++) {
        if (!parts[i]) continue;
        torch_tensor *t = NULL;
        st = torch_sum(parts[i], &t);
        if (st == YOLO_OK) st = torch_add(*out, t, out);
        torch_free(t);
    }
    return st;
}

/* Builds the same network twice (blocked and plain), runs one forward (+ backward in training) on the
 * same images, and compares everything. */
static void compare(const char *yaml, int batch, int imgsz, int threads, bool training) {
    char what[160];
    snprintf(what, sizeof what, "%s, %d images of %d px, %d thread%s, %s", yaml, batch, imgsz, threads,
             threads > 1 ? "s" : "", training ? "training" : "evaluation");
    torch_set_threads(threads);
    modelcfg *cfg = NULL;
    model *m[2] = {0};
    torch_tensor *img = NULL;
    int64_t shape[4] = {batch, 3, imgsz, imgsz};
    bool ok = modelcfg_load(yaml, 0, &cfg) == YOLO_OK;
    for (int k = 0; ok && k < 2; k++)
        ok = torch_manual_seed(0) == YOLO_OK && model_build(cfg, TORCH_CPU, &m[k]) == YOLO_OK;
    ok = ok && model_blocked(m[0]) && model_set_blocked(m[1], false) == YOLO_OK && !model_blocked(m[1]);
    CHECK(ok, "%s: built blocked and plain", what);
    ok = ok && torch_empty(4, shape, TORCH_F32, TORCH_CPU, &img) == YOLO_OK &&
         torch_manual_seed(1) == YOLO_OK && torch_uniform_(img, 0, 1) == YOLO_OK;
    model_output o[2];
    memset(o, 0, sizeof o);
    torch_tensor *sum[2] = {0};
    for (int k = 0; ok && k < 2; k++) {
        model_set_training(m[k], training);
        model_keep_layer_outputs(m[k], true);
        ok = model_forward(m[k], img, &o[k]) == YOLO_OK;
        if (ok && training)
            ok = head_sum(&o[k], &sum[k]) == YOLO_OK && torch_backward(sum[k], NULL, false) == YOLO_OK;
    }
    CHECK(ok, "%s: forward%s ran (%s)", what, training ? " and backward" : "", ok ? "" : yolo_last_error());
    int layers = 0, same_layers = 0, grads = 0, same_grads = 0, buffers = 0, same_buffers = 0;
    for (int i = 0; ok && model_layer_output(m[0], i); i++, layers++)
        same_layers += identical(model_layer_output(m[0], i), model_layer_output(m[1], i));
    for (int i = 0; ok && i < model_param_count(m[0]); i++) {
        if (model_param_is_buffer(m[0], i)) {
            buffers++;
            same_buffers += identical(model_tensor(m[0], i), model_tensor(m[1], i));
            continue;
        }
        torch_tensor *g0 = NULL, *g1 = NULL;
        if (torch_grad(model_tensor(m[0], i), &g0) == YOLO_OK) {
            grads++;
            same_grads += torch_grad(model_tensor(m[1], i), &g1) == YOLO_OK && identical(g0, g1);
        }
        torch_free(g0), torch_free(g1);
    }
    bool outs =
        ok && identical(o[0].logits ? o[0].logits : o[0].boxes, o[1].logits ? o[1].logits : o[1].boxes);
    if (outs && o[0].proto) outs = identical(o[0].proto, o[1].proto);
    if (outs && !training && o[0].pred) outs = identical(o[0].pred, o[1].pred);
    CHECK(ok && layers > 0 && same_layers == layers && outs,
          "%s: %d of %d layer outputs and the head outputs identical", what, same_layers, layers);
    CHECK(ok && same_buffers == buffers, "%s: %d of %d BatchNorm buffers identical", what, same_buffers,
          buffers);
    if (training)
        CHECK(ok && grads > 0 && same_grads == grads, "%s: %d of %d gradients identical", what, same_grads,
              grads);
    for (int k = 0; k < 2; k++)
        model_output_free(&o[k]), model_free(m[k]), torch_free(sum[k]);
    torch_free(img);
    modelcfg_free(cfg);
}

static void test_conversions(void) {
    int64_t shape[4] = {2, 32, 3, 5};
    torch_tensor *x = NULL, *b = NULL, *p = NULL;
    bool ok = torch_empty(4, shape, TORCH_F32, TORCH_CPU, &x) == YOLO_OK &&
              torch_normal_(x, 0, 1) == YOLO_OK && torch_to_blocked(x, &b) == YOLO_OK &&
              torch_to_plain(b, &p) == YOLO_OK;
    CHECK(ok && torch_is_blocked(b) && torch_ndim(b) == 5 && torch_size(b, 1) == 2 &&
              torch_size(b, 4) == 16 && !torch_is_blocked(p) && identical(x, p),
          "plain -> blocked (2, 2, 3, 5, 16) -> plain gives the same tensor");
    int64_t odd[4] = {1, 24, 2, 2};
    torch_tensor *y = NULL, *bad = NULL;
    CHECK(torch_empty(4, odd, TORCH_F32, TORCH_CPU, &y) == YOLO_OK && torch_to_blocked(y, &bad) != YOLO_OK &&
              strstr(yolo_last_error(), "multiple of 16"),
          "24 channels are refused with a reason: %s", yolo_last_error());
    CHECK(torch_to_plain(x, &bad) != YOLO_OK, "a plain tensor is not converted back again");
    torch_free(x), torch_free(b), torch_free(p), torch_free(y), torch_free(bad);
}

/* What tt_grads_each handed over: each parameter's gradient into its place of one flat vector, and
 * the order. */
typedef struct {
    torch_tensor *flat;
    const int64_t *off;
    int n, order[1024], times[1024];
} handed;

static yolo_status take_grad(void *ctx, int i, const torch_tensor *g) {
    handed *h = ctx;
    torch_tensor *dst = NULL;
    yolo_status st = torch_narrow(h->flat, 0, h->off[i], torch_numel(g), &dst);
    if (st == YOLO_OK) st = torch_copy_(dst, g);
    torch_free(dst);
    if (h->n < 1024) h->order[h->n++] = i;
    h->times[i]++;
    return st;
}

/* tt_grads_each hands every parameter's gradient over once, the bits backward accumulates, the blocked
 * layers' while the backward pass runs (the head's first); a parameter used twice is refused. */
static void test_grads_each(void) {
    torch_set_threads(1);
    modelcfg *cfg = NULL;
    model *m = NULL;
    torch_tensor *img = NULL, *ps[1024], *flat = NULL, *mine = NULL;
    int64_t shape[4] = {2, 3, 64, 64}, off[1024];
    int n = 0;
    bool ok = modelcfg_load("yolov8n.yaml", 0, &cfg) == YOLO_OK &&
              model_build(cfg, TORCH_CPU, &m) == YOLO_OK && model_blocked(m) &&
              torch_empty(4, shape, TORCH_F32, TORCH_CPU, &img) == YOLO_OK &&
              torch_manual_seed(1) == YOLO_OK && torch_uniform_(img, 0, 1) == YOLO_OK;
    int64_t total = 0;
    for (int i = 0; ok && i < model_param_count(m) && n < 1024; i++)
        if (!model_param_is_buffer(m, i) && torch_requires_grad(model_tensor(m, i))) {
            off[n] = total;
            total += torch_numel(model_tensor(m, i));
            ps[n++] = model_tensor(m, i);
        }
    model_set_training(m, true);
    handed h = {0};
    model_output o[2];
    memset(o, 0, sizeof o);
    torch_tensor *loss[2] = {0};
    int64_t sp[1] = {total};
    for (int k = 0; ok && k < 2; k++)
        ok = model_forward(m, img, &o[k]) == YOLO_OK && head_sum(&o[k], &loss[k]) == YOLO_OK;
    /* the reference: what backward accumulates from the first of two identical forwards */
    handed ref = {0};
    ok = ok && torch_zeros(1, sp, TORCH_F32, TORCH_CPU, &flat) == YOLO_OK &&
         torch_zeros(1, sp, TORCH_F32, TORCH_CPU, &mine) == YOLO_OK &&
         torch_backward(loss[0], NULL, false) == YOLO_OK;
    ref.flat = flat, ref.off = off;
    for (int i = 0; ok && i < n; i++) {
        torch_tensor *g = NULL;
        int64_t row[1] = {-1};
        if (torch_grad(ps[i], &g) == YOLO_OK)
            ok = torch_view(g, 1, row, &g) == YOLO_OK && take_grad(&ref, i, g) == YOLO_OK;
        torch_free(g);
    }
    h.flat = mine, h.off = off;
    yolo_status st = ok ? tt_grads_each(loss[1], ps, n, take_grad, &h) : YOLO_ERR_USAGE;
    CHECK(st == YOLO_OK, "tt_grads_each ran (%s)", st ? yolo_last_error() : "ok");
    int once = 0;
    for (int i = 0; i < n; i++)
        once += h.times[i] == 1;
    CHECK(ok && n > 0 && h.n == n && once == n, "each of the %d parameters was handed over once (%d)", n,
          once);
    CHECK(ok && identical(flat, mine), "the gradients handed over are backward's, to the bit");
    /* after the pass the rest come in parameter order; during it the head's come first */
    CHECK(ok && h.n > 0 && h.order[0] >= n / 2,
          "the first gradient handed over is the head's (parameter %d of %d)", h.n ? h.order[0] : -1, n);
    for (int k = 0; k < 2; k++)
        model_output_free(&o[k]), torch_free(loss[k]);
    torch_free(flat), torch_free(mine);

    /* one weight in two convolutions: autograd sums its two parts, so the first is no gradient yet */
    int64_t xs[4] = {2, 16, 8, 8}, ws[4] = {16, 16, 3, 3}; /* what oneDNN runs (not libtorch's 1x1) */
    torch_tensor *x = NULL, *b = NULL, *w = NULL, *y1 = NULL, *y2 = NULL, *sum = NULL;
    handed h2 = {0};
    int64_t off0[1] = {0}, sw[1] = {16 * 16 * 9};
    ok = torch_empty(4, xs, TORCH_F32, TORCH_CPU, &x) == YOLO_OK && torch_normal_(x, 0, 1) == YOLO_OK &&
         torch_to_blocked(x, &b) == YOLO_OK && torch_empty(4, ws, TORCH_F32, TORCH_CPU, &w) == YOLO_OK &&
         torch_normal_(w, 0, 1) == YOLO_OK && torch_set_requires_grad(w, true) == YOLO_OK &&
         torch_conv2d_blocked(b, w, NULL, 1, 1, false, &y1) == YOLO_OK &&
         torch_conv2d_blocked(y1, w, NULL, 1, 1, true, &y2) == YOLO_OK && torch_sum(y2, &sum) == YOLO_OK &&
         torch_zeros(1, sw, TORCH_F32, TORCH_CPU, &h2.flat) == YOLO_OK;
    h2.off = off0;
    st = ok ? tt_grads_each(sum, &w, 1, take_grad, &h2) : YOLO_ERR_USAGE;
    CHECK(ok && st != YOLO_OK && strstr(yolo_last_error(), "used twice"),
          "a weight used twice is refused: %s", ok ? yolo_last_error() : "setup failed");
    torch_free(x), torch_free(b), torch_free(w), torch_free(y1), torch_free(y2), torch_free(sum);
    torch_free(h2.flat), torch_free(img);
    model_free(m);
    modelcfg_free(cfg);
}

int main(void) {
    if (!torch_blocked_available(TORCH_CPU)) {
        printf("skip - the blocked layout is not available on this CPU or libtorch (no AVX-512 oneDNN "
               "kernels)\n");
        return 0;
    }
    test_conversions();
    test_grads_each();
    compare("yolov8n.yaml", 16, 64, 1, true);
    compare("yolov8n.yaml", 4, 64, 1, true);
    compare("yolov8n.yaml", 16, 64, 2, true); /* after 1 thread: primitives are made per thread count */
    compare("yolov8n.yaml", 3, 96, 1, false);
    compare("yolov8n-seg.yaml", 4, 64, 2, true);
    compare("yolov8n-cls.yaml", 4, 64, 1, true);
    compare("yolov8m.yaml", 2, 64, 1, true); /* 48-channel layers: three blocks */
    TAP_DONE();
}
