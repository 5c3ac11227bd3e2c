/* The libtorch wrapper and the network builder: errors, devices, state lists across scales and tasks,
 * loading with another class count, export/import round trip, backward reaching every parameter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/ckpt.h"
#include "yolo/model.h"
#include "yolo/torch.h"

static model *build(const char *name, int nc) {
    modelcfg *cfg = NULL;
    model *m = NULL;
    if (modelcfg_load(name, nc, &cfg) != YOLO_OK || model_build(cfg, TORCH_CPU, &m) != YOLO_OK)
        printf("# %s: %s\n", name, yolo_last_error());
    modelcfg_free(cfg);
    return m;
}

static bool one_line(const char *s) {
    return s && *s && !strchr(s, '\n');
}

static void test_wrapper(void) {
    torch_device dev = 5;
    yolo_status st = torch_device_parse("cuda:0", &dev);
    if (torch_cuda_available()) {
        CHECK(st == YOLO_OK && dev == 0, "cuda:0 accepted on a CUDA build");
    } else {
        const char *e = yolo_last_error();
        CHECK(st == YOLO_ERR_USAGE && one_line(e) && strstr(e, "cuda:0") && strstr(e, "built without CUDA") &&
                  strstr(e, "libtorch 1."),
              "cuda:0 on CPU-only libtorch: %s", e);
    }
    st = torch_device_parse("cpu", &dev);
    CHECK(st == YOLO_OK && dev == TORCH_CPU, "cpu parses");
    st = torch_device_parse("tpu", &dev);
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "unknown device"), "unknown device: %s",
          yolo_last_error());
    st = torch_set_threads(0);
    CHECK(st == YOLO_ERR_USAGE, "0 threads refused");

    /* A libtorch exception becomes one line with the op name. */
    int64_t s1[4] = {1, 3, 8, 8}, s2[4] = {4, 5, 3, 3};
    torch_tensor *x = NULL, *w = NULL, *y = NULL;
    torch_zeros(4, s1, TORCH_F32, TORCH_CPU, &x);
    torch_zeros(4, s2, TORCH_F32, TORCH_CPU, &w);
    st = torch_conv2d(x, w, NULL, 1, 1, 1, 1, &y);
    CHECK(st == YOLO_ERR_TORCH && y == NULL && one_line(yolo_last_error()) &&
              !strncmp(yolo_last_error(), "conv2d: ", 8),
          "shape error is caught: %s", yolo_last_error());
    st = torch_silu(NULL, &y);
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "null tensor handle"), "NULL handle");

    /* Output handles are reused in place, inputs may be outputs. */
    float v[4] = {-1, 0, 1, 2};
    int64_t s4[1] = {4};
    torch_tensor *a = NULL;
    torch_from_data(v, TORCH_F32, 1, s4, &a);
    torch_tensor *keep = a;
    bool ok = torch_mul_scalar(a, 3, &a) == YOLO_OK;
    CHECK(ok && a == keep, "result into the input's own handle");
    float out[4];
    ok = torch_copy_out(a, TORCH_F32, out, 4) == YOLO_OK;
    CHECK(ok && out[0] == -3 && out[3] == 6, "values after reuse");
    st = torch_copy_out(a, TORCH_F32, out, 3);
    CHECK(st == YOLO_ERR_USAGE, "copy_out count mismatch refused");

    /* autograd: d/dv sum(v*v) = 2v */
    torch_tensor *p = NULL, *sq = NULL, *sum = NULL, *g = NULL;
    torch_from_data(v, TORCH_F32, 1, s4, &p);
    torch_set_requires_grad(p, true);
    torch_mul(p, p, &sq);
    torch_sum(sq, &sum);
    ok = torch_backward(sum, NULL, false) == YOLO_OK && torch_has_grad(p) && torch_grad(p, &g) == YOLO_OK &&
         torch_copy_out(g, TORCH_F32, out, 4) == YOLO_OK;
    CHECK(ok && out[0] == -2 && out[3] == 4, "backward gives 2v");
    torch_grad_reset(p);
    st = torch_grad(p, &g);
    CHECK(!torch_has_grad(p) && st == YOLO_ERR_NOTFOUND, "grad reset");
    bool was = torch_set_grad_enabled(false);
    torch_mul(p, p, &sq);
    CHECK(!torch_requires_grad(sq), "no-grad scope records nothing");
    torch_set_grad_enabled(was);
    torch_free(x), torch_free(w), torch_free(y), torch_free(a), torch_free(p), torch_free(sq),
        torch_free(sum), torch_free(g);
}

/* Entry and element counts of every scale agree with the YAML's counts. */
static void test_scales(void) {
    const char *names[] = {"yolov8n.yaml", "yolov8s.yaml", "yolov8n-seg.yaml", "yolov8n-cls.yaml"};
    const int entries[] = {355, 355, 417, 158};
    for (int i = 0; i < 4; i++) {
        modelcfg *cfg = NULL;
        model *m = NULL;
        if (modelcfg_load(names[i], 0, &cfg) == YOLO_OK && model_build(cfg, TORCH_CPU, &m) == YOLO_OK) {
            int bufs = 0, frozen = 0;
            for (int k = 0; k < model_param_count(m); k++) {
                bufs += model_param_is_buffer(m, k);
                frozen += !model_param_is_buffer(m, k) && !model_param_requires_grad(m, k);
            }
            CHECK(model_param_count(m) == entries[i] &&
                      model_param_elements(m) == modelcfg_param_count(cfg) &&
                      model_trainable_elements(m) == modelcfg_gradient_count(cfg) &&
                      frozen == (strstr(names[i], "cls") ? 0 : 1),
                  "%s: %d entries (%d buffers), %lld parameters", names[i], model_param_count(m), bufs,
                  (long long)model_param_elements(m));
        } else {
            CHECK(0, "%s builds: %s", names[i], yolo_last_error());
        }
        model_free(m);
        modelcfg_free(cfg);
    }
}

static void test_weights(void) {
    char path[1024];
    if (!tap_data_path(path, sizeof path, "golden/det_forward.pt")) return;
    yv_doc *doc = NULL;
    yv *root = NULL;
    if (ckpt_read(path, NULL, &doc, &root) != YOLO_OK) {
        CHECK(0, "read %s: %s", path, yolo_last_error());
        return;
    }
    const yv *sd = yv_dict_get(root, "state_dict");
    int64_t nc = 0;
    yv_as_int(yv_dict_get(root, "nc"), &nc);
    /* Another class count below 64: only the class outputs cv3.*.2 differ in shape. */
    model *m = build("yolov8n.yaml", (int)nc + 7);
    char msg[128] = "";
    int n = 0;
    bool loaded = m && model_load_state_dict(m, sd, &n, msg, sizeof msg) == YOLO_OK;
    CHECK(loaded && !strcmp(msg, "Transferred 349/355 items from pretrained weights"), "nc %d -> %d: %s",
          (int)nc, (int)nc + 7, msg);
    model_free(m);

    /* Export then import restores every tensor exactly, through a real checkpoint file. */
    m = build("yolov8n.yaml", (int)nc);
    model *m2 = build("yolov8n.yaml", (int)nc);
    yv_doc *out = yv_doc_new();
    yv *dict = NULL, *root2 = NULL;
    yv_doc *doc2 = NULL;
    char tmp[] = "/tmp/test_model.XXXXXX";
    bool ok = m && m2 && out && mkdtemp(tmp) && model_load_state_dict(m, sd, &n, NULL, 0) == YOLO_OK &&
              model_export_state_dict(m, out, &dict) == YOLO_OK;
    char file[1100];
    snprintf(file, sizeof file, "%s/sd.pt", tmp);
    ok = ok && ckpt_write(file, dict) == YOLO_OK && ckpt_read(file, NULL, &doc2, &root2) == YOLO_OK &&
         model_load_state_dict(m2, root2, &n, NULL, 0) == YOLO_OK && n == model_param_count(m2);
    int differ = 0;
    for (int i = 0; ok && i < model_param_count(m); i++) {
        int64_t cnt = torch_numel(model_tensor(m, i));
        double *a = malloc(sizeof(double) * (size_t)(cnt ? cnt : 1)),
               *b = malloc(sizeof(double) * (size_t)(cnt ? cnt : 1));
        torch_copy_out(model_tensor(m, i), TORCH_F64, a, cnt);
        torch_copy_out(model_tensor(m2, i), TORCH_F64, b, cnt);
        differ += memcmp(a, b, sizeof(double) * (size_t)cnt) != 0;
        free(a), free(b);
    }
    CHECK(ok && differ == 0, "export -> ckpt_write -> ckpt_read -> load: identical (%d differ) %s", differ,
          ok ? "" : yolo_last_error());
    remove(file);
    remove(tmp);
    yv_doc_free(out);
    yv_doc_free(doc2);

    /* A train step's backward reaches every trainable parameter and never the DFL weight. */
    int64_t shape[4] = {2, 3, 64, 64};
    torch_tensor *img = NULL, *s1 = NULL, *s2 = NULL, *tot = NULL;
    model_output o = {0};
    ok = torch_manual_seed(1) == YOLO_OK && torch_zeros(4, shape, TORCH_F32, TORCH_CPU, &img) == YOLO_OK &&
         torch_uniform_(img, 0, 1) == YOLO_OK && model_forward(m, img, &o) == YOLO_OK &&
         torch_sum(o.boxes, &s1) == YOLO_OK && torch_sum(o.scores, &s2) == YOLO_OK &&
         torch_add(s1, s2, &tot) == YOLO_OK && torch_backward(tot, NULL, false) == YOLO_OK;
    int with = 0, want = 0, dfl_grad = 0;
    for (int i = 0; ok && i < model_param_count(m); i++) {
        bool tr = model_param_requires_grad(m, i);
        want += tr;
        with += tr && torch_has_grad(model_tensor(m, i));
        if (strstr(model_param_name(m, i), ".dfl.")) dfl_grad += torch_has_grad(model_tensor(m, i));
    }
    CHECK(ok && with == want && dfl_grad == 0 && o.anchors == 64 + 16 + 4,
          "backward: %d/%d trainable get grads", with, want);
    int rm = model_param_find(m, "model.0.bn.running_mean");
    yolo_status fz = model_set_trainable(m, 0, false), fb = model_set_trainable(m, rm, true);
    CHECK(fz == YOLO_OK && !model_param_requires_grad(m, 0) && !torch_requires_grad(model_tensor(m, 0)) &&
              fb == YOLO_ERR_USAGE &&
              model_trainable_elements(m) == model_param_elements(m) - 16 - 16 * 3 * 3 * 3,
          "freeze model.0.conv.weight; a buffer cannot be made trainable");
    int64_t bad[4] = {1, 1, 64, 64};
    torch_zeros(4, bad, TORCH_F32, TORCH_CPU, &img);
    yolo_status fst = model_forward(m, img, &o);
    CHECK(fst == YOLO_ERR_USAGE && strstr(yolo_last_error(), "(B, 3, H, W)"), "1-channel input refused: %s",
          yolo_last_error());
    int64_t odd[4] = {1, 3, 64, 80 + 8};
    torch_zeros(4, odd, TORCH_F32, TORCH_CPU, &img);
    fst = model_forward(m, img, &o);
    CHECK(fst == YOLO_ERR_USAGE && strstr(yolo_last_error(), "64x88 is not a multiple of the stride 32"),
          "size not a multiple of 32 refused: %s", yolo_last_error());
    model_output_free(&o);
    torch_free(img), torch_free(s1), torch_free(s2), torch_free(tot);
    model_free(m);
    model_free(m2);
    yv_doc_free(doc);
}

/* test_model --dump MODEL NC: "name shape..." per state entry, for t_model.sh to compare with torch.load. */
static int dump(const char *name, int nc) {
    model *m = build(name, nc);
    if (!m) return 1;
    for (int i = 0; i < model_param_count(m); i++) {
        int64_t shape[8];
        int nd = torch_shape(model_tensor(m, i), shape, 8);
        printf("%s", model_param_name(m, i));
        for (int d = 0; d < nd; d++)
            printf(" %lld", (long long)shape[d]);
        printf("\n");
    }
    model_free(m);
    return 0;
}

/* Eval-mode output shapes of segment and classify (their goldens are train-mode or logits only). */
static void test_eval_shapes(void) {
    model *seg = build("yolov8n-seg.yaml", 3), *cls = build("yolov8n-cls.yaml", 5);
    int64_t shape[4] = {2, 3, 64, 96};
    torch_tensor *img = NULL;
    model_output o = {0};
    bool ok = seg && cls && torch_zeros(4, shape, TORCH_F32, TORCH_CPU, &img) == YOLO_OK &&
              torch_fill_(img, 0.5) == YOLO_OK;
    if (ok) model_set_training(seg, false);
    ok = ok && model_forward(seg, img, &o) == YOLO_OK;
    int64_t A = 8 * 12 + 4 * 6 + 2 * 3;
    CHECK(ok && torch_ndim(o.pred) == 3 && torch_size(o.pred, 0) == 2 &&
              torch_size(o.pred, 1) == 4 + 3 + 32 && torch_size(o.pred, 2) == A &&
              torch_size(o.proto, 2) == 16 && torch_size(o.proto, 3) == 24 && !torch_requires_grad(o.pred),
          "segment eval: pred (2, 39, %lld), proto 16x24, no grad", (long long)A);
    model_output_free(&o);
    if (ok) model_set_training(cls, false);
    ok = ok && model_forward(cls, img, &o) == YOLO_OK;
    float p[10] = {0};
    ok = ok && torch_numel(o.pred) == 10 && torch_copy_out(o.pred, TORCH_F32, p, 10) == YOLO_OK;
    double sum0 = 0;
    for (int i = 0; i < 5; i++)
        sum0 += p[i];
    CHECK(ok && fabs(sum0 - 1) < 1e-5 && torch_size(o.logits, 1) == 5,
          "classify eval: softmax rows sum to 1 (%g)", sum0);
    model_output_free(&o);
    torch_free(img);
    model_free(seg);
    model_free(cls);
}

/* test_model --fused-eval det_forward.pt OUT: raw eval boxes then scores (float32) of the fused
 * network on the file's images, for t_model.sh to compare with a PyTorch fuse of the same weights. */
static int fused_eval(const char *path, const char *out_path) {
    yv_doc *doc = NULL;
    yv *root = NULL;
    if (ckpt_read(path, NULL, &doc, &root) != YOLO_OK) return fprintf(stderr, "%s\n", yolo_last_error()), 1;
    int64_t nc = 0;
    yv_as_int(yv_dict_get(root, "nc"), &nc);
    const yv *imgs = yv_dict_get(root, "images");
    const yv *w0 = yv_dict_get(yv_dict_get(root, "state_dict"), "model.0.conv.weight");
    char name[32] = "yolov8n.yaml";
    if (w0 && w0->kind == YV_TENSOR && w0->tensor.ndim == 4)
        for (int i = 0; i < 5; i++)
            if (w0->tensor.shape[0] == (int64_t)16 * (i + 1)) name[6] = "nsmlx"[i];
    model *m = build(name, (int)nc);
    torch_tensor *img = NULL;
    model_output o = {0};
    int rc = 1;
    float *buf = imgs && imgs->kind == YV_TENSOR
                     ? malloc(sizeof(float) * (size_t)yv_tensor_numel(&imgs->tensor))
                     : NULL;
    if (m && buf && model_load_state_dict(m, yv_dict_get(root, "state_dict"), NULL, NULL, 0) == YOLO_OK &&
        yv_tensor_to_f32(&imgs->tensor, buf) == YOLO_OK &&
        torch_from_data(buf, TORCH_F32, 4, imgs->tensor.shape, &img) == YOLO_OK &&
        model_fuse(m, true) == YOLO_OK) {
        model_set_training(m, false);
        if (model_forward(m, img, &o) == YOLO_OK) {
            int64_t nb = torch_numel(o.boxes), ns = torch_numel(o.scores);
            float *r = malloc(sizeof(float) * (size_t)(nb + ns));
            FILE *f = fopen(out_path, "wb");
            if (r && f && torch_copy_out(o.boxes, TORCH_F32, r, nb) == YOLO_OK &&
                torch_copy_out(o.scores, TORCH_F32, r + nb, ns) == YOLO_OK &&
                fwrite(r, sizeof(float), (size_t)(nb + ns), f) == (size_t)(nb + ns))
                rc = 0;
            if (f) fclose(f);
            free(r);
        }
    }
    if (rc) fprintf(stderr, "fused eval: %s\n", yolo_last_error());
    free(buf);
    model_output_free(&o);
    torch_free(img);
    model_free(m);
    yv_doc_free(doc);
    return rc;
}

/* A real Ultralytics checkpoint (a pickled DetectionModel, fp16) loads completely by name. */
static void test_reference_ckpt(void) {
    char path[1024];
    if (!tap_data_path(path, sizeof path, "ultralytics/yolov8n-fashion-final.pt")) return;
    yv_doc *doc = NULL;
    yv *root = NULL;
    if (ckpt_read(path, NULL, &doc, &root) != YOLO_OK) {
        CHECK(0, "read %s: %s", path, yolo_last_error());
        return;
    }
    const yv *net = yv_dict_get(root, "model");
    if (!net || net->kind == YV_NONE) net = yv_dict_get(root, "ema");
    yv *sd = yv_state_dict(doc, net);
    const yv *w = yv_dict_get(sd, "model.22.cv3.0.2.weight");
    int nc = w && w->kind == YV_TENSOR ? (int)w->tensor.shape[0] : 0;
    model *m = nc > 0 ? build("yolov8n.yaml", nc) : NULL;
    char msg[128] = "";
    int n = 0;
    yolo_status st = m ? model_load_state_dict(m, sd, &n, msg, sizeof msg) : YOLO_ERR_FORMAT;
    CHECK(st == YOLO_OK && n == 355, "yolov8n-fashion-final.pt (fp16 module pickle, nc %d): %s", nc, msg);
    model_free(m);
    yv_doc_free(doc);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--dump")) return dump(argv[2], atoi(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "--fused-eval")) {
        torch_set_threads(1);
        return fused_eval(argv[2], argv[3]);
    }
    torch_set_threads(1);
    test_wrapper();
    test_scales();
    test_weights();
    test_eval_shapes();
    test_reference_ckpt();
    TAP_DONE();
}
