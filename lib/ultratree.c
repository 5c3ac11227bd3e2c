/* Ultralytics' pickled module tree, built from a model YAML and a state dict (see ultratree.h).
 *
 * Where the attributes come from. Checked against real files (Ultralytics 8.4.52 on torch 1.13, the
 * detection files in tests/data/ultralytics, attribute by attribute and in order):
 *   - torch.nn.Module's own attributes, and those of Conv2d, BatchNorm2d, SiLU, Identity, MaxPool2d,
 *     Upsample, Sequential and ModuleList;
 *   - Conv (one SiLU shared by every Conv: it is the class attribute default_act), C2f (c),
 *     Bottleneck (add), SPPF (n, add; an Identity as its first activation), Concat (d), DFL (c1),
 *     Detect (nc, nl, reg_max, no, stride in fp16, inplace; anchors, strides and shape once it ran);
 *   - each layer's np, i, f, type; DetectionModel's yaml, save, names, inplace, stride (fp32), nc, args
 *     (the training arguments and save_dir), criterion (None);
 *   - the file around it: key order, epoch -1, None for ema, updates, optimizer and scaler, git.
 * Not checked against a real file (none is here): the segmentation and classification parts, which
 * follow Ultralytics 8.4's source and torch 1.13 / torchvision 0.14.1 objects:
 *   - Segment = Detect's attributes plus nm, npr; its children cv2, cv3, dfl, proto, cv4; Proto's cv1,
 *     upsample (ConvTranspose2d with bias), cv2, cv3; SegmentationModel = DetectionModel's attributes;
 *   - Classify's conv, pool (AdaptiveAvgPool2d(1)), drop (Dropout, inplace, p = the dropout argument),
 *     linear; ClassificationModel's yaml, save, stride ([1.0]), names, transforms, criterion. transforms
 *     is the validation pipeline its trainer attaches and its predictor reads: torchvision's Compose of
 *     Resize(imgsz, bilinear), CenterCrop(imgsz), ToTensor and Normalize(0, 1). */
#include "yolo/ultratree.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/ckptfmt.h"
#include "yolo/modelcfg.h"

#define NEED(p)                                                                                              \
    do {                                                                                                     \
        if (!(p)) return yolo_nomem();                                                                       \
    } while (0)

/* Classes as pickled ("module.Class"); a layer's type attribute is its class name too. */
#define ULM "ultralytics.nn.modules."
#define TNN "torch.nn.modules."
#define TVT "torchvision.transforms.transforms."
static const char *const CLS_DETECTION_MODEL = "ultralytics.nn.tasks.DetectionModel";
static const char *const CLS_SEGMENTATION_MODEL = "ultralytics.nn.tasks.SegmentationModel";
static const char *const CLS_CLASSIFICATION_MODEL = "ultralytics.nn.tasks.ClassificationModel";
static const char *const CLS_CONV = ULM "conv.Conv";
static const char *const CLS_CONCAT = ULM "conv.Concat";
static const char *const CLS_C2F = ULM "block.C2f";
static const char *const CLS_BOTTLENECK = ULM "block.Bottleneck";
static const char *const CLS_SPPF = ULM "block.SPPF";
static const char *const CLS_DFL = ULM "block.DFL";
static const char *const CLS_PROTO = ULM "block.Proto";
static const char *const CLS_DETECT = ULM "head.Detect";
static const char *const CLS_SEGMENT = ULM "head.Segment";
static const char *const CLS_CLASSIFY = ULM "head.Classify";
static const char *const CLS_CONV2D = TNN "conv.Conv2d";
static const char *const CLS_CONV_TRANSPOSE2D = TNN "conv.ConvTranspose2d";
static const char *const CLS_BATCHNORM2D = TNN "batchnorm.BatchNorm2d";
static const char *const CLS_SILU = TNN "activation.SiLU";
static const char *const CLS_IDENTITY = TNN "linear.Identity";
static const char *const CLS_LINEAR = TNN "linear.Linear";
static const char *const CLS_DROPOUT = TNN "dropout.Dropout";
static const char *const CLS_MAXPOOL2D = TNN "pooling.MaxPool2d";
static const char *const CLS_AVGPOOL2D = TNN "pooling.AdaptiveAvgPool2d";
static const char *const CLS_UPSAMPLE = TNN "upsampling.Upsample";
static const char *const CLS_SEQUENTIAL = TNN "container.Sequential";
static const char *const CLS_MODULE_LIST = TNN "container.ModuleList";

/* Ultralytics' constants for these modules. */
enum { REG_MAX = 16, CLASSIFY_WIDTH = 1280 };
static const double BN_EPS = 1e-3, BN_MOMENTUM = 0.03;

typedef struct {
    yv_doc *doc;
    const yv *sd;      /* name -> tensor: the weights, fp16 */
    const yv **placed; /* entries of sd placed in the tree so far */
    size_t n_placed;
    int64_t np;       /* parameter elements placed so far (a layer's np is the difference) */
    yv *silu;         /* Conv.default_act: one SiLU module shared by every Conv */
    yv *bottleneck_k; /* (3, 3): the kernel_size of every Bottleneck's convolutions, one tuple (C2f passes
                       * Bottleneck the constant k=((3, 3), (3, 3)) and Conv2d keeps a tuple it is given) */
    const char *yaml; /* the model YAML's name, for messages */
    int nc;
} tree;

/* ---- values ---- */

static yv *int_tuple(yv_doc *doc, int n, const int64_t *v) {
    yv *t = yv_new_tuple(doc);
    for (int i = 0; t && i < n; i++)
        if (yv_seq_push(doc, t, yv_new_int(doc, v[i]))) return NULL;
    return t;
}

static yv *pair(yv_doc *doc, int64_t a) {
    return int_tuple(doc, 2, (int64_t[]){a, a});
}

/* A float tensor of dt holding v, in a storage of its own, viewed with shape and stride (so that a
 * transposed view can be made as torch leaves it). */
static yolo_status float_tensor(yv_doc *doc, yv_dtype dt, const float *v, int64_t n, int ndim,
                                const int64_t *shape, const int64_t *stride, yv **out) {
    yolo_status st = YOLO_OK;
    yv *t = yv_new_tensor(doc, YDT_F32, 1, &n);
    NEED(t);
    memcpy(yv_tensor_data(&t->tensor), v, (size_t)n * sizeof *v);
    yv *c;
    YOLO_TRY(ckptfmt_convert_tensor(doc, t, dt, &c));
    NEED(*out = yv_new_tensor_view(doc, c->tensor.storage, dt, ndim, shape, stride, 0));
    return YOLO_OK;
done:
    return st;
}

/* ---- modules ---- */

static yv *ordered_dict(yv_doc *doc) {
    yv *d = yv_new_dict(doc);
    if (d) d->dict.ordered = true;
    return d;
}

/* A record of class cls as pickle rebuilds it (cls.__new__(cls), then its __dict__ as BUILD state)
 * with the attributes torch 1.13's nn.Module.__init__ gives every module, in their order. */
static yolo_status module(yv_doc *doc, const char *cls, bool training, yv **out) {
    yolo_status st = YOLO_OK;
    static const char *const dicts[] = {"_parameters",
                                        "_buffers",
                                        "_non_persistent_buffers_set",
                                        "_backward_hooks",
                                        "_is_full_backward_hook",
                                        "_forward_hooks",
                                        "_forward_pre_hooks",
                                        "_state_dict_hooks",
                                        "_load_state_dict_pre_hooks",
                                        "_load_state_dict_post_hooks",
                                        "_modules"};
    yv *m = yv_new_object(doc, cls, yv_new_tuple(doc)), *state = yv_new_dict(doc);
    NEED(m && m->obj.args && state);
    m->obj.newobj = true;
    m->obj.state = state;
    YOLO_TRY(yv_dict_set_new(doc, state, "training", yv_new_bool(doc, training)));
    for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++) {
        const char *k = dicts[i];
        yv *v = !strcmp(k, "_is_full_backward_hook")        ? yv_new_none(doc)
                : !strcmp(k, "_non_persistent_buffers_set") ? yv_new_set(doc)
                                                            : ordered_dict(doc);
        YOLO_TRY(yv_dict_set_new(doc, state, k, v));
    }
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status attr(tree *t, yv *m, const char *key, yv *val) {
    return yv_dict_set_new(t->doc, m->obj.state, key, val);
}

static yolo_status child(tree *t, yv *m, const char *name, yv *c) {
    return yv_dict_set(t->doc, yv_dict_get(m, "_modules"), name, c);
}

static yolo_status child_at(tree *t, yv *m, int i, yv *c) {
    char name[16];
    snprintf(name, sizeof name, "%d", i);
    return child(t, m, name, c);
}

static void shape_text(int n, const int64_t *s, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)s[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Places the weight path.name (a parameter, or a buffer) in m, after checking that it has the shape
 * the architecture gives it. */
static yolo_status place(tree *t, yv *m, const char *path, const char *name, bool param, int ndim,
                         const int64_t *shape) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", path, name);
    const yv *src = yv_dict_get(t->sd, key);
    if (!src || src->kind != YV_TENSOR)
        return yolo_error(YOLO_ERR_FORMAT, "the weights have no %s (they do not fit %s with %d classes)", key,
                          t->yaml, t->nc);
    bool same = src->tensor.ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = src->tensor.shape[d] == shape[d];
    if (!same) {
        char a[96], b[96];
        shape_text(src->tensor.ndim, src->tensor.shape, a, sizeof a);
        shape_text(ndim, shape, b, sizeof b);
        return yolo_error(YOLO_ERR_FORMAT, "%s is %s but %s with %d classes needs %s", key, a, t->yaml, t->nc,
                          b);
    }
    yv *v = yv_doc_alloc(t->doc, sizeof *v);
    NEED(v);
    *v = *src;
    v->tensor.storage->refs++;
    v->tensor.is_parameter = param;
    v->tensor.requires_grad = false; /* Ultralytics' EMA and stripped weights are frozen */
    if (t->n_placed >= t->sd->dict.n)
        return yolo_error(YOLO_ERR_FORMAT, "%s: placed twice (a bug in ultratree.c)", key);
    t->placed[t->n_placed++] = src;
    if (param) t->np += yv_tensor_numel(&v->tensor);
    return yv_dict_set(t->doc, yv_dict_get(m, param ? "_parameters" : "_buffers"), name, v);
}

typedef struct {
    int c1, c2, k, s, p;
    bool bias, transposed;
    yv *kernel_size; /* the (k, k) tuple to use, or NULL for one of its own */
} conv_spec;

/* torch.nn.Conv2d, or ConvTranspose2d (groups 1, dilation 1, zero padding). */
static yolo_status conv2d(tree *t, const char *path, conv_spec c, yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    yv *m = NULL;
    YOLO_TRY(module(doc, c.transposed ? CLS_CONV_TRANSPOSE2D : CLS_CONV2D, false, &m));
    int64_t w[4] = {c.transposed ? c.c1 : c.c2, c.transposed ? c.c2 : c.c1, c.k, c.k}, b = c.c2;
    YOLO_TRY(place(t, m, path, "weight", true, 4, w));
    if (c.bias)
        YOLO_TRY(place(t, m, path, "bias", true, 1, &b));
    else
        YOLO_TRY(yv_dict_set(doc, yv_dict_get(m, "_parameters"), "bias", yv_new_none(doc)));
    YOLO_TRY(attr(t, m, "in_channels", yv_new_int(doc, c.c1)));
    YOLO_TRY(attr(t, m, "out_channels", yv_new_int(doc, c.c2)));
    YOLO_TRY(attr(t, m, "kernel_size", c.kernel_size ? c.kernel_size : pair(doc, c.k)));
    YOLO_TRY(attr(t, m, "stride", pair(doc, c.s)));
    YOLO_TRY(attr(t, m, "padding", pair(doc, c.p)));
    YOLO_TRY(attr(t, m, "dilation", pair(doc, 1)));
    YOLO_TRY(attr(t, m, "transposed", yv_new_bool(doc, c.transposed)));
    YOLO_TRY(attr(t, m, "output_padding", pair(doc, 0)));
    YOLO_TRY(attr(t, m, "groups", yv_new_int(doc, 1)));
    YOLO_TRY(attr(t, m, "padding_mode", yv_new_str(doc, "zeros")));
    YOLO_TRY(
        attr(t, m, "_reversed_padding_repeated_twice", int_tuple(doc, 4, (int64_t[]){c.p, c.p, c.p, c.p})));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status batchnorm(tree *t, const char *path, int c, yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    yv *m = NULL;
    YOLO_TRY(module(doc, CLS_BATCHNORM2D, false, &m));
    int64_t n = c;
    YOLO_TRY(place(t, m, path, "weight", true, 1, &n));
    YOLO_TRY(place(t, m, path, "bias", true, 1, &n));
    YOLO_TRY(place(t, m, path, "running_mean", false, 1, &n));
    YOLO_TRY(place(t, m, path, "running_var", false, 1, &n));
    YOLO_TRY(place(t, m, path, "num_batches_tracked", false, 0, NULL));
    YOLO_TRY(attr(t, m, "num_features", yv_new_int(doc, c)));
    YOLO_TRY(attr(t, m, "eps", yv_new_float(doc, BN_EPS)));
    YOLO_TRY(attr(t, m, "momentum", yv_new_float(doc, BN_MOMENTUM)));
    YOLO_TRY(attr(t, m, "affine", yv_new_bool(doc, true)));
    YOLO_TRY(attr(t, m, "track_running_stats", yv_new_bool(doc, true)));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

/* Ultralytics' Conv: Conv2d without bias (padding k // 2), BatchNorm2d, then the shared SiLU or, with
 * act false, an Identity of its own. */
static yolo_status conv_block(tree *t, const char *path, int c1, int c2, int k, int s, bool act,
                              yv *kernel_size, yv **out) {
    yolo_status st = YOLO_OK;
    char sub[256];
    yv *m = NULL, *c = NULL, *bn = NULL, *a = NULL;
    YOLO_TRY(module(t->doc, CLS_CONV, false, &m));
    snprintf(sub, sizeof sub, "%s.conv", path);
    YOLO_TRY(conv2d(t, sub, (conv_spec){c1, c2, k, s, k / 2, false, false, kernel_size}, &c));
    snprintf(sub, sizeof sub, "%s.bn", path);
    YOLO_TRY(batchnorm(t, sub, c2, &bn));
    if (act)
        a = t->silu;
    else
        YOLO_TRY(module(t->doc, CLS_IDENTITY, false, &a));
    YOLO_TRY(child(t, m, "conv", c));
    YOLO_TRY(child(t, m, "bn", bn));
    YOLO_TRY(child(t, m, "act", a));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

/* Conv named path.name, a child of parent. */
static yolo_status conv_child_k(tree *t, yv *parent, const char *path, const char *name, int c1, int c2,
                                int k, int s, bool act, yv *kernel_size) {
    yolo_status st = YOLO_OK;
    char sub[256];
    snprintf(sub, sizeof sub, "%s.%s", path, name);
    yv *c;
    YOLO_TRY(conv_block(t, sub, c1, c2, k, s, act, kernel_size, &c));
    return child(t, parent, name, c);
done:
    return st;
}

static yolo_status conv_child(tree *t, yv *parent, const char *path, const char *name, int c1, int c2, int k,
                              int s, bool act) {
    return conv_child_k(t, parent, path, name, c1, c2, k, s, act, NULL);
}

static yolo_status bottleneck(tree *t, const char *path, int c1, int c2, bool shortcut, yv **out) {
    yolo_status st = YOLO_OK;
    yv *m = NULL;
    YOLO_TRY(module(t->doc, CLS_BOTTLENECK, false, &m));
    if (!t->bottleneck_k) NEED(t->bottleneck_k = pair(t->doc, 3));
    YOLO_TRY(conv_child_k(t, m, path, "cv1", c1, c2, 3, 1, true, t->bottleneck_k));
    YOLO_TRY(conv_child_k(t, m, path, "cv2", c2, c2, 3, 1, true, t->bottleneck_k));
    YOLO_TRY(attr(t, m, "add", yv_new_bool(t->doc, shortcut && c1 == c2)));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status c2f(tree *t, const char *path, const modelcfg_layer *L, yv **out) {
    yolo_status st = YOLO_OK;
    int c = L->c2 / 2; /* int(c2 * e), e = 0.5 */
    yv *m = NULL, *list = NULL;
    YOLO_TRY(module(t->doc, CLS_C2F, false, &m));
    YOLO_TRY(conv_child(t, m, path, "cv1", L->c1, 2 * c, 1, 1, true));
    YOLO_TRY(conv_child(t, m, path, "cv2", (2 + L->repeats) * c, L->c2, 1, 1, true));
    YOLO_TRY(module(t->doc, CLS_MODULE_LIST, false, &list));
    for (int j = 0; j < L->repeats; j++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.m.%d", path, j);
        yv *b = NULL;
        YOLO_TRY(bottleneck(t, sub, c, c, L->shortcut, &b));
        YOLO_TRY(child_at(t, list, j, b));
    }
    YOLO_TRY(child(t, m, "m", list));
    YOLO_TRY(attr(t, m, "c", yv_new_int(t->doc, c)));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status sppf(tree *t, const char *path, const modelcfg_layer *L, yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    int c = L->c1 / 2;
    yv *m = NULL, *pool = NULL;
    YOLO_TRY(module(doc, CLS_SPPF, false, &m));
    YOLO_TRY(conv_child(t, m, path, "cv1", L->c1, c, 1, 1, false));
    YOLO_TRY(conv_child(t, m, path, "cv2", 4 * c, L->c2, 1, 1, true));
    YOLO_TRY(module(doc, CLS_MAXPOOL2D, false, &pool));
    YOLO_TRY(attr(t, pool, "kernel_size", yv_new_int(doc, L->k)));
    YOLO_TRY(attr(t, pool, "stride", yv_new_int(doc, 1)));
    YOLO_TRY(attr(t, pool, "padding", yv_new_int(doc, L->k / 2)));
    YOLO_TRY(attr(t, pool, "dilation", yv_new_int(doc, 1)));
    YOLO_TRY(attr(t, pool, "return_indices", yv_new_bool(doc, false)));
    YOLO_TRY(attr(t, pool, "ceil_mode", yv_new_bool(doc, false)));
    YOLO_TRY(child(t, m, "m", pool));
    YOLO_TRY(attr(t, m, "n", yv_new_int(doc, 3)));
    YOLO_TRY(attr(t, m, "add", yv_new_bool(doc, false)));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status upsample(tree *t, const modelcfg_layer *L, yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    yv *m = NULL;
    YOLO_TRY(module(doc, CLS_UPSAMPLE, false, &m));
    YOLO_TRY(attr(t, m, "name", yv_new_str(doc, "Upsample")));
    YOLO_TRY(attr(t, m, "size", yv_new_none(doc)));
    YOLO_TRY(attr(t, m, "scale_factor", yv_new_float(doc, L->scale)));
    YOLO_TRY(attr(t, m, "mode", yv_new_str(doc, "nearest")));
    YOLO_TRY(attr(t, m, "align_corners", yv_new_none(doc)));
    YOLO_TRY(attr(t, m, "recompute_scale_factor", yv_new_none(doc)));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status concat(tree *t, const modelcfg_layer *L, yv **out) {
    yolo_status st = YOLO_OK;
    YOLO_TRY(module(t->doc, CLS_CONCAT, false, out));
    return attr(t, *out, "d", yv_new_int(t->doc, L->dim));
done:
    return st;
}

/* A ModuleList over the head's levels of Sequential(Conv(ch, c, 3), Conv(c, c, 3), Conv2d(c, cout, 1)). */
static yolo_status branch(tree *t, yv *head, const char *path, const char *name, const modelcfg_layer *L,
                          int c, int cout) {
    yolo_status st = YOLO_OK;
    yv *list = NULL;
    YOLO_TRY(module(t->doc, CLS_MODULE_LIST, false, &list));
    for (int l = 0; l < L->nl; l++) {
        char sub[256], last[300];
        snprintf(sub, sizeof sub, "%s.%s.%d", path, name, l);
        yv *seq = NULL, *out = NULL;
        YOLO_TRY(module(t->doc, CLS_SEQUENTIAL, false, &seq));
        YOLO_TRY(conv_child(t, seq, sub, "0", L->ch[l], c, 3, 1, true));
        YOLO_TRY(conv_child(t, seq, sub, "1", c, c, 3, 1, true));
        snprintf(last, sizeof last, "%s.2", sub);
        YOLO_TRY(conv2d(t, last, (conv_spec){c, cout, 1, 1, 0, true, false, NULL}, &out));
        YOLO_TRY(child(t, seq, "2", out));
        YOLO_TRY(child_at(t, list, l, seq));
    }
    return child(t, head, name, list);
done:
    return st;
}

static yolo_status dfl(tree *t, const char *path, yv **out) {
    yolo_status st = YOLO_OK;
    char sub[256];
    yv *m = NULL, *c = NULL;
    YOLO_TRY(module(t->doc, CLS_DFL, false, &m));
    snprintf(sub, sizeof sub, "%s.dfl.conv", path);
    YOLO_TRY(conv2d(t, sub, (conv_spec){REG_MAX, 1, 1, 1, 0, false, false, NULL}, &c));
    YOLO_TRY(child(t, m, "conv", c));
    YOLO_TRY(attr(t, m, "c1", yv_new_int(t->doc, REG_MAX)));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status proto(tree *t, const char *path, const modelcfg_layer *L, yv **out) {
    yolo_status st = YOLO_OK;
    char sub[256];
    yv *m = NULL, *up = NULL;
    snprintf(sub, sizeof sub, "%s.proto", path);
    YOLO_TRY(module(t->doc, CLS_PROTO, false, &m));
    YOLO_TRY(conv_child(t, m, sub, "cv1", L->ch[0], L->npr, 3, 1, true));
    char usub[300];
    snprintf(usub, sizeof usub, "%s.upsample", sub);
    YOLO_TRY(conv2d(t, usub, (conv_spec){L->npr, L->npr, 2, 2, 0, true, true, NULL}, &up));
    YOLO_TRY(child(t, m, "upsample", up));
    YOLO_TRY(conv_child(t, m, sub, "cv2", L->npr, L->npr, 3, 1, true));
    YOLO_TRY(conv_child(t, m, sub, "cv3", L->npr, L->nm, 1, 1, true));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

/* Detect or Segment. Its stride is the model's, in fp16 (Ultralytics' BaseModel._apply converts it
 * with the weights). */
static yolo_status detect(tree *t, const char *path, const modelcfg_layer *L, const float *strides,
                          yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    bool seg = L->kind == MODELCFG_SEGMENT;
    yv *m = NULL, *d = NULL, *stride_t = NULL, *p = NULL;
    YOLO_TRY(module(doc, seg ? CLS_SEGMENT : CLS_DETECT, false, &m));
    YOLO_TRY(attr(t, m, "nc", yv_new_int(doc, L->nc)));
    YOLO_TRY(attr(t, m, "nl", yv_new_int(doc, L->nl)));
    YOLO_TRY(attr(t, m, "reg_max", yv_new_int(doc, REG_MAX)));
    YOLO_TRY(attr(t, m, "no", yv_new_int(doc, L->nc + 4 * REG_MAX)));
    int64_t nl = L->nl, one = 1;
    YOLO_TRY(float_tensor(doc, YDT_F16, strides, nl, 1, &nl, &one, &stride_t));
    YOLO_TRY(attr(t, m, "stride", stride_t));
    YOLO_TRY(branch(t, m, path, "cv2", L, L->c_box, 4 * REG_MAX));
    YOLO_TRY(branch(t, m, path, "cv3", L, L->c_cls, L->nc));
    YOLO_TRY(dfl(t, path, &d));
    YOLO_TRY(child(t, m, "dfl", d));
    if (seg) {
        YOLO_TRY(attr(t, m, "nm", yv_new_int(doc, L->nm)));
        YOLO_TRY(attr(t, m, "npr", yv_new_int(doc, L->npr)));
        YOLO_TRY(proto(t, path, L, &p));
        YOLO_TRY(child(t, m, "proto", p));
        YOLO_TRY(branch(t, m, path, "cv4", L, L->c_mask, L->nm));
    }
    *out = m;
    return YOLO_OK;
done:
    return st;
}

static yolo_status classify(tree *t, const char *path, const modelcfg_layer *L, double dropout, yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    char sub[256];
    yv *m = NULL, *pool = NULL, *drop = NULL, *lin = NULL;
    YOLO_TRY(module(doc, CLS_CLASSIFY, false, &m));
    YOLO_TRY(conv_child(t, m, path, "conv", L->c1, CLASSIFY_WIDTH, 1, 1, true));
    YOLO_TRY(module(doc, CLS_AVGPOOL2D, false, &pool));
    YOLO_TRY(attr(t, pool, "output_size", yv_new_int(doc, 1)));
    YOLO_TRY(child(t, m, "pool", pool));
    YOLO_TRY(module(doc, CLS_DROPOUT, false, &drop));
    YOLO_TRY(attr(t, drop, "p", yv_new_float(doc, dropout)));
    YOLO_TRY(attr(t, drop, "inplace", yv_new_bool(doc, true)));
    YOLO_TRY(child(t, m, "drop", drop));
    YOLO_TRY(module(doc, CLS_LINEAR, false, &lin));
    snprintf(sub, sizeof sub, "%s.linear", path);
    int64_t w[2] = {L->nc, CLASSIFY_WIDTH}, b = L->nc;
    YOLO_TRY(place(t, lin, sub, "weight", true, 2, w));
    YOLO_TRY(place(t, lin, sub, "bias", true, 1, &b));
    YOLO_TRY(attr(t, lin, "in_features", yv_new_int(doc, CLASSIFY_WIDTH)));
    YOLO_TRY(attr(t, lin, "out_features", yv_new_int(doc, L->nc)));
    YOLO_TRY(child(t, m, "linear", lin));
    *out = m;
    return YOLO_OK;
done:
    return st;
}

/* ---- the detection head's state after a forward pass ---- */

/* anchors (2, N) and strides (1, N) in fp16 as the head's last forward left them: make_anchors over the
 * levels of an input whose first level had shape [b, c, h, w], transposed views of (N, 2) and (N, 1). */
static yolo_status head_runtime(tree *t, yv *head, const yv *shape, const float *strides, int nl) {
    yv_doc *doc = t->doc;
    int64_t s[4];
    if (!shape || shape->kind != YV_TUPLE || shape->seq.n != 4) return YOLO_OK;
    for (int i = 0; i < 4; i++)
        if (!yv_as_int(shape->seq.items[i], &s[i]) || s[i] < 1 || s[i] > 16384) return YOLO_OK;
    int64_t n = 0, h = s[2], w = s[3], hw[8][2];
    for (int l = 0; l < nl && l < 8; l++) {
        if (l) { /* each level halves (or divides by the stride ratio) the one before, rounding up */
            int64_t r = (int64_t)(strides[l] / strides[l - 1]);
            if (r < 1) return YOLO_OK;
            h = (h + r - 1) / r, w = (w + r - 1) / r;
        }
        hw[l][0] = h, hw[l][1] = w;
        n += h * w;
    }
    /* an input of over 4M anchors (8400 at 640 px) is not state worth keeping from a file */
    if (n > (1 << 22)) return YOLO_OK;
    float *xy = malloc((size_t)n * 2 * sizeof *xy), *sv = malloc((size_t)n * sizeof *sv);
    yolo_status st = xy && sv ? YOLO_OK : yolo_nomem();
    int64_t k = 0;
    for (int l = 0; st == YOLO_OK && l < nl; l++)
        for (int64_t y = 0; y < hw[l][0]; y++)
            for (int64_t x = 0; x < hw[l][1]; x++, k++) {
                xy[2 * k] = (float)x + 0.5f, xy[2 * k + 1] = (float)y + 0.5f;
                sv[k] = strides[l];
            }
    yv *a = NULL, *b = NULL;
    if (st == YOLO_OK)
        st = float_tensor(doc, YDT_F16, xy, 2 * n, 2, (int64_t[]){2, n}, (int64_t[]){1, 2}, &a);
    if (st == YOLO_OK) st = float_tensor(doc, YDT_F16, sv, n, 2, (int64_t[]){1, n}, (int64_t[]){1, 1}, &b);
    free(xy);
    free(sv);
    YOLO_TRY(st);
    YOLO_TRY(attr(t, head, "anchors", a));
    YOLO_TRY(attr(t, head, "strides", b));
    /* torch.Size(...), as pickled: REDUCE of torch.Size over a tuple */
    yv *size = yv_new_object(doc, "torch.Size", yv_new_tuple(doc));
    NEED(size && size->obj.args);
    YOLO_TRY(yv_seq_push(doc, size->obj.args, int_tuple(doc, 4, s)));
    return attr(t, head, "shape", size);
done:
    return st;
}

/* ---- classification: the validation transforms ---- */

static yolo_status transforms(tree *t, int imgsz, yv **out) {
    yolo_status st = YOLO_OK;
    yv_doc *doc = t->doc;
    yv *resize, *crop, *norm, *mean, *std;
    YOLO_TRY(module(doc, TVT "Resize", true, &resize));
    YOLO_TRY(attr(t, resize, "size", yv_new_int(doc, imgsz)));
    YOLO_TRY(attr(t, resize, "max_size", yv_new_none(doc)));
    /* InterpolationMode.BILINEAR, pickled by name as Python 3.11 pickles enum members */
    yv *mode = yv_new_object(doc, "builtins.getattr", yv_new_tuple(doc));
    NEED(mode && mode->obj.args);
    YOLO_TRY(yv_seq_push(doc, mode->obj.args,
                         yv_new_global(doc, "torchvision.transforms.functional.InterpolationMode")));
    YOLO_TRY(yv_seq_push(doc, mode->obj.args, yv_new_str(doc, "BILINEAR")));
    YOLO_TRY(attr(t, resize, "interpolation", mode));
    YOLO_TRY(attr(t, resize, "antialias", yv_new_none(doc)));
    YOLO_TRY(module(doc, TVT "CenterCrop", true, &crop));
    YOLO_TRY(attr(t, crop, "size", pair(doc, imgsz)));
    yv *to_tensor = yv_new_object(doc, TVT "ToTensor", yv_new_tuple(doc));
    NEED(to_tensor && to_tensor->obj.args);
    to_tensor->obj.newobj = true;
    YOLO_TRY(module(doc, TVT "Normalize", true, &norm));
    int64_t three = 3, one = 1;
    YOLO_TRY(float_tensor(doc, YDT_F32, (float[]){0, 0, 0}, 3, 1, &three, &one, &mean));
    YOLO_TRY(float_tensor(doc, YDT_F32, (float[]){1, 1, 1}, 3, 1, &three, &one, &std));
    YOLO_TRY(attr(t, norm, "mean", mean));
    YOLO_TRY(attr(t, norm, "std", std));
    YOLO_TRY(attr(t, norm, "inplace", yv_new_bool(doc, false)));
    yv *list = yv_new_list(doc), *compose = yv_new_object(doc, TVT "Compose", yv_new_tuple(doc)),
       *state = yv_new_dict(doc);
    NEED(list && compose && compose->obj.args && state);
    YOLO_TRY(yv_seq_push(doc, list, resize));
    YOLO_TRY(yv_seq_push(doc, list, crop));
    YOLO_TRY(yv_seq_push(doc, list, to_tensor));
    YOLO_TRY(yv_seq_push(doc, list, norm));
    YOLO_TRY(yv_dict_set_new(doc, state, "transforms", list));
    compose->obj.newobj = true;
    compose->obj.state = state;
    *out = compose;
    return YOLO_OK;
done:
    return st;
}

/* ---- the model ---- */

typedef struct {
    const modelcfg *cfg;
    const char *yaml_name;
    yv *yaml;          /* the model YAML as Ultralytics keeps it (nc set, scale, yaml_file, channels) */
    const yv *weights; /* name -> fp16 tensor */
    const yv *names;
    float strides[8];
    int nl;
    yv *args; /* model.args or NULL */
    const yv *head_shape;
    int imgsz;
    double dropout;
} model_spec;

/* A layer's 'from' as the YAML gives it (an int or a list), copied. */
static yolo_status layer_from(yv_doc *doc, const yv *yaml, int i, yv **out) {
    const yv *bb = yv_dict_get(yaml, "backbone"), *hd = yv_dict_get(yaml, "head");
    size_t nb = bb && bb->kind == YV_LIST ? bb->seq.n : 0;
    const yv *rows = (size_t)i < nb ? bb : hd;
    size_t j = (size_t)i < nb ? (size_t)i : (size_t)i - nb;
    const yv *row = rows && rows->kind == YV_LIST && j < rows->seq.n ? rows->seq.items[j] : NULL;
    if (!row || row->kind != YV_LIST || row->seq.n != 4)
        return yolo_error(YOLO_ERR_FORMAT, "the model YAML has no layer %d", i);
    return ckptfmt_plain(doc, row->seq.items[0], out);
}

/* Ultralytics' save list: every input taken from a layer other than the previous one, sorted. */
static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static yolo_status save_list(yv_doc *doc, yv *const *froms, int n, yv **out) {
    yolo_status st = YOLO_OK;
    int64_t v[1024];
    int k = 0;
    for (int i = 0; i < n; i++) {
        const yv *f = froms[i];
        size_t m = f->kind == YV_LIST ? f->seq.n : 1;
        for (size_t j = 0; j < m && k < 1024; j++) {
            int64_t x;
            if (!yv_as_int(f->kind == YV_LIST ? f->seq.items[j] : f, &x) || x == -1) continue;
            v[k++] = ((x % i) + i) % i; /* Python's x % i */
        }
    }
    qsort(v, (size_t)k, sizeof *v, cmp_i64);
    yv *l = yv_new_list(doc);
    NEED(l);
    for (int i = 0; i < k; i++)
        YOLO_TRY(yv_seq_push(doc, l, yv_new_int(doc, v[i])));
    *out = l;
    return YOLO_OK;
done:
    return st;
}

static const char *layer_class(modelcfg_kind k) {
    switch (k) {
    case MODELCFG_CONV:
        return CLS_CONV;
    case MODELCFG_C2F:
        return CLS_C2F;
    case MODELCFG_SPPF:
        return CLS_SPPF;
    case MODELCFG_UPSAMPLE:
        return CLS_UPSAMPLE;
    case MODELCFG_CONCAT:
        return CLS_CONCAT;
    case MODELCFG_DETECT:
        return CLS_DETECT;
    case MODELCFG_SEGMENT:
        return CLS_SEGMENT;
    case MODELCFG_CLASSIFY:
        return CLS_CLASSIFY;
    }
    return "";
}

static yolo_status layer(tree *t, const model_spec *s, int i, yv **out) {
    const modelcfg_layer *L = modelcfg_layer_at(s->cfg, i);
    char path[32];
    snprintf(path, sizeof path, "model.%d", i);
    switch (L->kind) {
    case MODELCFG_CONV:
        return conv_block(t, path, L->c1, L->c2, L->k, L->s, true, NULL, out);
    case MODELCFG_C2F:
        return c2f(t, path, L, out);
    case MODELCFG_SPPF:
        return sppf(t, path, L, out);
    case MODELCFG_UPSAMPLE:
        return upsample(t, L, out);
    case MODELCFG_CONCAT:
        return concat(t, L, out);
    case MODELCFG_DETECT:
    case MODELCFG_SEGMENT:
        if (s->nl != L->nl)
            return yolo_error(YOLO_ERR_FORMAT, "%d strides recorded for a head with %d levels", s->nl, L->nl);
        return detect(t, path, L, s->strides, out);
    case MODELCFG_CLASSIFY:
        return classify(t, path, L, s->dropout, out);
    }
    return yolo_error(YOLO_ERR_FORMAT, "layer %d: unknown module", i);
}

/* Every weight must have found its place: one left over means another architecture. */
static yolo_status all_placed(const tree *t) {
    for (size_t i = 0; i < t->sd->dict.n; i++) {
        const yv *v = t->sd->dict.vals[i];
        bool found = false;
        for (size_t j = 0; j < t->n_placed && !found; j++)
            found = t->placed[j] == v;
        if (!found)
            return yolo_error(YOLO_ERR_FORMAT,
                              "the weights hold %s, which %s with %d classes has no place for",
                              yv_as_str(t->sd->dict.keys[i]) ? yv_as_str(t->sd->dict.keys[i])
                                                             : "a tensor with a name that is not a string",
                              t->yaml, t->nc);
    }
    return YOLO_OK;
}

static yolo_status build_model(yv_doc *doc, const model_spec *s, yv **out) {
    yolo_status st = YOLO_OK;
    tree t = {.doc = doc, .sd = s->weights, .yaml = s->yaml_name, .nc = modelcfg_nc(s->cfg)};
    NEED(t.placed = yv_doc_alloc(doc, (s->weights->dict.n + 1) * sizeof *t.placed));
    YOLO_TRY(module(doc, CLS_SILU, false, &t.silu));
    YOLO_TRY(attr(&t, t.silu, "inplace", yv_new_bool(doc, true)));
    const char *task = modelcfg_task(s->cfg);
    bool cls = !strcmp(task, "classify");
    yv *net = NULL, *seq = NULL, *froms[1024];
    YOLO_TRY(module(doc,
                    cls                        ? CLS_CLASSIFICATION_MODEL
                    : !strcmp(task, "segment") ? CLS_SEGMENTATION_MODEL
                                               : CLS_DETECTION_MODEL,
                    false, &net));
    YOLO_TRY(module(doc, CLS_SEQUENTIAL, false, &seq));
    int n = modelcfg_layer_count(s->cfg);
    if (n > 1024) return yolo_error(YOLO_ERR_LIMIT, "more than 1024 layers");
    for (int i = 0; i < n; i++) {
        int64_t np0 = t.np;
        yv *m = NULL;
        YOLO_TRY(layer(&t, s, i, &m));
        YOLO_TRY(layer_from(doc, s->yaml, i, &froms[i]));
        YOLO_TRY(attr(&t, m, "np", yv_new_int(doc, t.np - np0)));
        YOLO_TRY(attr(&t, m, "i", yv_new_int(doc, i)));
        YOLO_TRY(attr(&t, m, "f", froms[i]));
        YOLO_TRY(attr(&t, m, "type", yv_new_str(doc, layer_class(modelcfg_layer_at(s->cfg, i)->kind))));
        if (i == n - 1 && !cls) {
            YOLO_TRY(attr(&t, m, "inplace", yv_new_bool(doc, true)));
            YOLO_TRY(head_runtime(&t, m, s->head_shape, s->strides, s->nl));
        }
        YOLO_TRY(child_at(&t, seq, i, m));
    }
    YOLO_TRY(all_placed(&t));
    YOLO_TRY(child(&t, net, "model", seq));
    yv *save = NULL, *stride = NULL;
    YOLO_TRY(save_list(doc, froms, n, &save));
    int64_t nl = cls ? 1 : s->nl, one = 1;
    YOLO_TRY(float_tensor(doc, YDT_F32, cls ? (float[]){1} : s->strides, nl, 1, &nl, &one, &stride));
    YOLO_TRY(attr(&t, net, "yaml", s->yaml));
    YOLO_TRY(attr(&t, net, "save", save));
    if (cls) {
        yv *tf = NULL;
        YOLO_TRY(attr(&t, net, "stride", stride));
        YOLO_TRY(attr(&t, net, "names", (yv *)s->names));
        YOLO_TRY(transforms(&t, s->imgsz, &tf));
        YOLO_TRY(attr(&t, net, "transforms", tf));
    } else {
        YOLO_TRY(attr(&t, net, "names", (yv *)s->names));
        YOLO_TRY(attr(&t, net, "inplace", yv_new_bool(doc, true)));
        YOLO_TRY(attr(&t, net, "stride", stride));
        YOLO_TRY(attr(&t, net, "nc", yv_new_int(doc, t.nc)));
        if (s->args) YOLO_TRY(attr(&t, net, "args", s->args));
    }
    YOLO_TRY(attr(&t, net, "criterion", yv_new_none(doc)));
    *out = net;
    return YOLO_OK;
done:
    return st;
}

/* ---- the file ---- */

/* RUN for a file in RUN/weights/ (absolute, as Ultralytics records its save_dir), else NULL. */
static yv *run_folder(yv_doc *doc, const char *file) {
    char dir[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    if (!realpath(dir, real)) return NULL;
    slash = strrchr(real, '/');
    if (!slash || strcmp(slash + 1, "weights") || slash == real) return NULL;
    *slash = 0;
    return yv_new_str(doc, real);
}

/* The model YAML as Ultralytics keeps it on the model: what an imported file carried, else the YAML
 * file read as PyYAML reads it, with nc set and scale, yaml_file and channels added. */
static yolo_status model_yaml(yv_doc *doc, const yv *ours, const modelcfg *cfg, const char *yaml_file, int nc,
                              yv **out) {
    yolo_status st = YOLO_OK;
    const yv *kept = yv_dict_get(ours, CKPTFMT_KEY_YAML);
    if (yv_dict_get(kept, "backbone")) return ckptfmt_plain(doc, kept, out);
    yv *y;
    YOLO_TRY(modelcfg_yaml_value(cfg, doc, &y));
    if (y->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "%s: not a YAML mapping", yaml_file);
    char scale[2] = {modelcfg_name_scale(yaml_file), 0};
    YOLO_TRY(yv_dict_set_new(doc, y, "nc", yv_new_int(doc, nc)));
    YOLO_TRY(yv_dict_set_new(doc, y, "scale", yv_new_str(doc, scale)));
    YOLO_TRY(yv_dict_set_new(doc, y, "yaml_file", yv_new_str(doc, yaml_file)));
    YOLO_TRY(yv_dict_set_new(doc, y, "channels", yv_new_int(doc, 3)));
    *out = y;
    return YOLO_OK;
done:
    return st;
}

/* model.args: the training arguments and the run folder, a dict of its own. */
static yolo_status model_args(yv_doc *doc, const yv *ours, const char *file, yv **out) {
    yolo_status st = YOLO_OK;
    const yv *args = yv_dict_get(ours, CKPTFMT_KEY_TRAIN_ARGS);
    *out = NULL;
    if (!args || args->kind != YV_DICT) return YOLO_OK;
    YOLO_TRY(ckptfmt_plain(doc, args, out));
    const char *kept = yv_as_str(yv_path(ours, CKPTFMT_KEY_IMPORTED ".save_dir"));
    yv *dir = kept ? yv_new_str(doc, kept) : file ? run_folder(doc, file) : NULL;
    if (dir) YOLO_TRY(yv_dict_set_new(doc, *out, "save_dir", dir));
    return YOLO_OK;
done:
    return st;
}

static yolo_status read_strides(const yv *ours, model_spec *s) {
    const yv *l = yv_dict_get(ours, CKPTFMT_KEY_STRIDE);
    s->nl = 0;
    for (size_t i = 0; l && (l->kind == YV_LIST || l->kind == YV_TUPLE) && i < l->seq.n; i++) {
        double v;
        if (s->nl == 8 || !yv_as_double(l->seq.items[i], &v) || !(v >= 1 && v <= 4096))
            return yolo_error(YOLO_ERR_FORMAT, "the recorded strides are not 1 to 8 numbers in 1..4096");
        s->strides[s->nl++] = (float)v;
    }
    return YOLO_OK;
}

/* The git record of Ultralytics' final files; outside a git checkout its root is the string 'None'. */
static yolo_status git_record(yv_doc *doc, const yv *ours, yv **out) {
    yolo_status st = YOLO_OK;
    const yv *kept = yv_path(ours, CKPTFMT_KEY_IMPORTED ".git");
    if (kept) return ckptfmt_plain(doc, kept, out);
    static const char *const keys[] = {"branch", "commit", "message", "origin"};
    yv *g = yv_new_dict(doc);
    NEED(g);
    YOLO_TRY(yv_dict_set_new(doc, g, "root", yv_new_str(doc, "None")));
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        YOLO_TRY(yv_dict_set_new(doc, g, keys[i], yv_new_none(doc)));
    *out = g;
    return YOLO_OK;
done:
    return st;
}

/* The file around the model, keys in the order of Ultralytics' strip_optimizer. */
static yolo_status final_file(yv_doc *doc, const yv *ours, yv *net, yv **out) {
    yolo_status st = YOLO_OK;
    yv *d = yv_new_dict(doc), *v;
    NEED(d);
    static const char *const front[] = {CKPTFMT_KEY_DATE, CKPTFMT_KEY_VERSION, "license", "docs"};
    for (size_t i = 0; i < sizeof front / sizeof *front; i++)
        if (yv_dict_get(ours, front[i])) {
            YOLO_TRY(ckptfmt_plain(doc, yv_dict_get(ours, front[i]), &v));
            YOLO_TRY(yv_dict_set_new(doc, d, front[i], v));
        }
    YOLO_TRY(yv_dict_set_new(doc, d, CKPTFMT_KEY_EPOCH, yv_new_int(doc, -1)));
    YOLO_TRY(yv_dict_set_new(doc, d, CKPTFMT_KEY_BEST_FITNESS, yv_new_none(doc)));
    YOLO_TRY(yv_dict_set_new(doc, d, CKPTFMT_KEY_MODEL, net));
    static const char *const none[] = {CKPTFMT_KEY_EMA, CKPTFMT_KEY_UPDATES, CKPTFMT_KEY_OPTIMIZER, "scaler"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        YOLO_TRY(yv_dict_set_new(doc, d, none[i], yv_new_none(doc)));
    static const char *const back[] = {CKPTFMT_KEY_TRAIN_ARGS, CKPTFMT_KEY_TRAIN_METRICS,
                                       CKPTFMT_KEY_TRAIN_RESULTS};
    for (size_t i = 0; i < sizeof back / sizeof *back; i++)
        if (yv_dict_get(ours, back[i])) {
            YOLO_TRY(ckptfmt_plain(doc, yv_dict_get(ours, back[i]), &v));
            YOLO_TRY(yv_dict_set_new(doc, d, back[i], v));
        }
    YOLO_TRY(git_record(doc, ours, &v));
    YOLO_TRY(yv_dict_set_new(doc, d, "git", v));
    *out = d;
    return YOLO_OK;
done:
    return st;
}

static yolo_status export_with(yv_doc *doc, const yv *ours, const char *file, modelcfg *cfg, model_spec *s,
                               yv **out) {
    yolo_status st = YOLO_OK;
    const char *task = yv_as_str(yv_dict_get(ours, CKPTFMT_KEY_TASK));
    if (strcmp(modelcfg_task(cfg), task))
        return yolo_error(YOLO_ERR_FORMAT, "the checkpoint's task is %s but %s is a %s model", task,
                          s->yaml_name, modelcfg_task(cfg));
    s->cfg = cfg;
    YOLO_TRY(model_yaml(doc, ours, cfg, s->yaml_name, modelcfg_nc(cfg), &s->yaml));
    YOLO_TRY(model_args(doc, ours, file, &s->args));
    YOLO_TRY(read_strides(ours, s));
    s->head_shape = yv_path(ours, CKPTFMT_KEY_IMPORTED ".head_shape");
    int64_t imgsz = 224; /* Ultralytics' classification default */
    const yv *a = yv_dict_get(ours, CKPTFMT_KEY_TRAIN_ARGS);
    if (yv_as_int(yv_dict_get(a, "imgsz"), &imgsz) && (imgsz < 1 || imgsz > 65536))
        return yolo_error(YOLO_ERR_FORMAT, "train_args.imgsz %lld is out of range", (long long)imgsz);
    s->imgsz = (int)imgsz;
    if (!yv_as_double(yv_dict_get(a, "dropout"), &s->dropout)) s->dropout = 0;
    yv *net;
    YOLO_TRY(build_model(doc, s, &net));
    return final_file(doc, ours, net, out);
done:
    return st;
}

yolo_status ultratree_export(yv_doc *doc, const yv *root, const char *file, yv **out) {
    yv *ours;
    yolo_status st = ckptfmt_strip(doc, root, &ours); /* our layout, fp16 weights under model */
    if (st != YOLO_OK) return st;
    model_spec s = {.weights = yv_dict_get(ours, CKPTFMT_KEY_MODEL),
                    .names = yv_dict_get(ours, CKPTFMT_KEY_NAMES)};
    s.yaml_name = yv_as_str(yv_path(ours, CKPTFMT_KEY_YAML ".yaml_file"));
    const char *task = yv_as_str(yv_dict_get(ours, CKPTFMT_KEY_TASK));
    int64_t nc;
    if (!task) return yolo_error(YOLO_ERR_FORMAT, "no task recorded (detect, segment or classify)");
    if (!s.yaml_name)
        return yolo_error(YOLO_ERR_FORMAT, "the checkpoint does not name its model YAML (yaml.yaml_file)");
    if (!yv_as_int(yv_dict_get(ours, CKPTFMT_KEY_NC), &nc) || nc < 1 || nc > 100000)
        return yolo_error(YOLO_ERR_FORMAT, "no class count recorded (nc)");
    if (!s.names || s.names->kind != YV_DICT || s.names->dict.n != (size_t)nc)
        return yolo_error(YOLO_ERR_FORMAT, "the class names are not a dict of %lld entries", (long long)nc);
    if (!s.weights || s.weights->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "holds no weights");
    modelcfg *cfg;
    if ((st = modelcfg_load(s.yaml_name, (int)nc, &cfg)) != YOLO_OK) return st;
    st = export_with(doc, ours, file, cfg, &s, out);
    modelcfg_free(cfg);
    return st;
}
