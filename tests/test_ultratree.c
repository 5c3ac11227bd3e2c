/* Ultralytics' own weights layout (ultratree.c), read back with our own reader.
 *
 *   test_ultratree                  the checks below
 *   test_ultratree --compare A B    compares two files value by value, as the checks do (exit 0: same)
 *
 * Two files are the same when their values are: dicts with the same keys in the same order, objects of
 * the same classes built the same way (NEWOBJ or a call) with the same attributes, tensors with the same
 * dtype, shape, strides, offset, storage size, parameter and requires_grad flags and bytes, and the same
 * sharing (an object, container or storage met twice in one file is met twice at the same place in the
 * other: every Conv of Ultralytics' files shares one SiLU). */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/modelcfg.h"
#include "yolo/ultratree.h"

/* ---- value-by-value comparison ---- */

typedef struct {
    const void **a, **b; /* values (and storages) met so far, in order, on each side */
    size_t n, cap;
    char diff[1024]; /* the first difference */
    size_t objects, tensors;
} cmp;

static long seen(const void **arr, size_t n, const void *p) {
    for (size_t i = 0; i < n; i++)
        if (arr[i] == p) return (long)i;
    return -1;
}

static bool differ(cmp *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool differ(cmp *c, const char *path, const char *fmt, ...) {
    int o = snprintf(c->diff, sizeof c->diff, "%s: ", path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->diff + o, sizeof c->diff - (size_t)o, fmt, ap);
    va_end(ap);
    return false;
}

/* Both met before at the same place: true and *done; met on one side only: a difference. */
static bool same_identity(cmp *c, const void *a, const void *b, const char *path, bool *done) {
    long ia = seen(c->a, c->n, a), ib = seen(c->b, c->n, b);
    *done = ia >= 0 || ib >= 0;
    if (*done)
        return ia == ib || differ(c, path, "shared with value #%ld in one file, #%ld in the other", ia, ib);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->a = realloc(c->a, c->cap * sizeof *c->a);
        c->b = realloc(c->b, c->cap * sizeof *c->b);
    }
    c->a[c->n] = a, c->b[c->n++] = b;
    return true;
}

static bool same(cmp *c, const yv *a, const yv *b, const char *path, int depth);

static bool same_tensor(cmp *c, const yv_tensor *a, const yv_tensor *b, const char *path) {
    c->tensors++;
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->offset != b->offset)
        return differ(c, path, "tensor %s/%dD/offset %lld vs %s/%dD/offset %lld", yv_dtype_name(a->dtype),
                      a->ndim, (long long)a->offset, yv_dtype_name(b->dtype), b->ndim, (long long)b->offset);
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || a->stride[d] != b->stride[d])
            return differ(c, path, "dimension %d: size %lld stride %lld vs size %lld stride %lld", d,
                          (long long)a->shape[d], (long long)a->stride[d], (long long)b->shape[d],
                          (long long)b->stride[d]);
    if (a->is_parameter != b->is_parameter || a->requires_grad != b->requires_grad)
        return differ(c, path, "parameter %d requires_grad %d vs parameter %d requires_grad %d",
                      a->is_parameter, a->requires_grad, b->is_parameter, b->requires_grad);
    bool done;
    if (!same_identity(c, a->storage, b->storage, path, &done)) return false;
    if (done) return true;
    if (a->storage->numel != b->storage->numel)
        return differ(c, path, "storage of %lld vs %lld elements", (long long)a->storage->numel,
                      (long long)b->storage->numel);
    size_t bytes = (size_t)a->storage->numel * yv_dtype_size(a->dtype);
    if (!a->storage->data || !b->storage->data || memcmp(a->storage->data, b->storage->data, bytes))
        return differ(c, path, "different values");
    return true;
}

static bool same_seq(cmp *c, yv **a, yv **b, size_t n, const char *path, int depth) {
    char p[1024];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (!same(c, a[i], b[i], p, depth + 1)) return false;
    }
    return true;
}

static bool same(cmp *c, const yv *a, const yv *b, const char *path, int depth) {
    char p[1024];
    if (depth > 100) return differ(c, path, "nested too deep");
    if (!a || !b) return a == b || differ(c, path, "missing on one side");
    if (a->kind != b->kind) return differ(c, path, "kind %d vs %d", a->kind, b->kind);
    bool shared = a->kind == YV_LIST || a->kind == YV_TUPLE || a->kind == YV_SET || a->kind == YV_DICT ||
                  a->kind == YV_OBJECT || a->kind == YV_TENSOR;
    bool done = false;
    if (shared && !same_identity(c, a, b, path, &done)) return false;
    if (done) return true;
    switch (a->kind) {
    case YV_NONE:
        return true;
    case YV_BOOL:
        return a->b == b->b || differ(c, path, "%d vs %d", a->b, b->b);
    case YV_INT:
        return a->i == b->i || differ(c, path, "%lld vs %lld", (long long)a->i, (long long)b->i);
    case YV_FLOAT:
        return !memcmp(&a->f, &b->f, sizeof a->f) || differ(c, path, "%.17g vs %.17g", a->f, b->f);
    case YV_BIGINT:
    case YV_STR:
    case YV_BYTES:
    case YV_GLOBAL:
        return (a->str.len == b->str.len && !memcmp(a->str.s, b->str.s, a->str.len)) ||
               differ(c, path, "'%.60s' vs '%.60s'", a->str.s, b->str.s);
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET:
        if (a->seq.n != b->seq.n) return differ(c, path, "%zu vs %zu items", a->seq.n, b->seq.n);
        return same_seq(c, a->seq.items, b->seq.items, a->seq.n, path, depth);
    case YV_DICT:
        if (a->dict.n != b->dict.n || a->dict.ordered != b->dict.ordered)
            return differ(c, path, "dict of %zu (ordered %d) vs %zu (ordered %d)", a->dict.n, a->dict.ordered,
                          b->dict.n, b->dict.ordered);
        for (size_t i = 0; i < a->dict.n; i++) {
            const yv *k = a->dict.keys[i];
            if (k->kind == YV_STR)
                snprintf(p, sizeof p, "%s['%s']", path, k->str.s);
            else
                snprintf(p, sizeof p, "%s[#%zu]", path, i);
            if (!same(c, k, b->dict.keys[i], p, depth + 1) ||
                !same(c, a->dict.vals[i], b->dict.vals[i], p, depth + 1))
                return false;
        }
        return true;
    case YV_OBJECT:
        c->objects++;
        if (strcmp(a->obj.cls, b->obj.cls) || a->obj.newobj != b->obj.newobj)
            return differ(c, path, "%s (newobj %d) vs %s (newobj %d)", a->obj.cls, a->obj.newobj, b->obj.cls,
                          b->obj.newobj);
        snprintf(p, sizeof p, "%s<%s>", path,
                 strrchr(a->obj.cls, '.') ? strrchr(a->obj.cls, '.') + 1 : a->obj.cls);
        return same(c, a->obj.args, b->obj.args, p, depth + 1) &&
               same(c, a->obj.state, b->obj.state, p, depth + 1) &&
               same(c, a->obj.items, b->obj.items, p, depth + 1);
    case YV_TENSOR:
        return same_tensor(c, &a->tensor, &b->tensor, path);
    }
    return differ(c, path, "unknown kind");
}

/* Compares; on a difference, diff holds the first. Counts go to *objects, *tensors when not NULL. */
static bool same_values(const yv *a, const yv *b, char *diff, size_t cap, size_t *objects, size_t *tensors) {
    cmp c = {0};
    bool ok = same(&c, a, b, "$", 0);
    snprintf(diff, cap, "%s", ok ? "" : c.diff);
    if (objects) *objects = c.objects;
    if (tensors) *tensors = c.tensors;
    free(c.a);
    free(c.b);
    return ok;
}

static int do_compare(const char *fa, const char *fb) {
    yv_doc *da = NULL, *db = NULL;
    yv *ra, *rb;
    if (ckpt_read(fa, NULL, &da, &ra) || ckpt_read(fb, NULL, &db, &rb)) {
        fprintf(stderr, "test_ultratree: %s\n", yolo_last_error());
        return 2;
    }
    char diff[1024];
    size_t no, nt;
    bool ok = same_values(ra, rb, diff, sizeof diff, &no, &nt);
    if (ok)
        printf("same: %zu objects, %zu tensors\n", no, nt);
    else
        printf("different at %s\n", diff);
    yv_doc_free(da);
    yv_doc_free(db);
    return ok ? 0 : 1;
}

/* ---- helpers ---- */

static char tmpdir[] = "/tmp/test_ultratree.XXXXXX";

/* Writes root to a file and reads it back into a new doc (*back), so that what is checked is what the
 * pickle writer emitted. */
static yv *through_file(const yv *root, const char *name, yv_doc **back) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    yv *r = NULL;
    *back = NULL;
    if (ckpt_write(path, root) || ckpt_read(path, NULL, back, &r)) {
        printf("# %s: %s\n", name, yolo_last_error());
        return NULL;
    }
    return r;
}

static const yv *layer(const yv *net, int i) {
    char key[64];
    snprintf(key, sizeof key, "_modules.model._modules.%d", i);
    return yv_path(net, key);
}

/* The keys of a dict (or an object's attributes) from position from on, joined with spaces. */
static const char *keys_from(const yv *d, size_t from) {
    static char bufs[4][1024]; /* a few calls may share one printf */
    static int next;
    char *buf = bufs[next++ % 4];
    size_t o = 0;
    buf[0] = 0;
    if (d && d->kind == YV_OBJECT) d = d->obj.state;
    for (size_t i = from; d && d->kind == YV_DICT && i < d->dict.n && o < sizeof bufs[0]; i++)
        o += (size_t)snprintf(buf + o, sizeof bufs[0] - o, "%s%s", i > from ? " " : "",
                              yv_as_str(d->dict.keys[i]) ? yv_as_str(d->dict.keys[i]) : "?");
    return buf;
}

static const char *cls_of(const yv *v) {
    return v && v->kind == YV_OBJECT ? v->obj.cls : "(not an object)";
}

typedef struct {
    size_t tensors, params, f16, f32, i64, grad;
} census;

static void count(const yv *v, census *c, int depth) {
    if (!v || depth > 64) return;
    if (v->kind == YV_OBJECT) {
        count(v->obj.state, c, depth + 1);
    } else if (v->kind == YV_DICT) {
        for (size_t i = 0; i < v->dict.n; i++)
            count(v->dict.vals[i], c, depth + 1);
    } else if (v->kind == YV_LIST) {
        for (size_t i = 0; i < v->seq.n; i++)
            count(v->seq.items[i], c, depth + 1);
    } else if (v->kind == YV_TENSOR) {
        c->tensors++;
        c->params += v->tensor.is_parameter;
        c->f16 += v->tensor.dtype == YDT_F16;
        c->f32 += v->tensor.dtype == YDT_F32;
        c->i64 += v->tensor.dtype == YDT_I64;
        c->grad += v->tensor.requires_grad;
    }
}

/* Our layout around a golden state dict: what the trainer writes, minus the training state. */
static yv *ours_from_golden(yv_doc *doc, const yv *g, const char *task, const char *yaml_file, bool strides) {
    int64_t nc = 0;
    yv_as_int(yv_dict_get(g, "nc"), &nc);
    yv *r = NULL, *y = yv_new_dict(doc), *names = yv_new_dict(doc), *args = yv_new_dict(doc),
       *st = yv_new_list(doc);
    ckptfmt_new_root(doc, &r);
    yv_dict_set(doc, r, CKPTFMT_KEY_EPOCH, yv_new_int(doc, -1));
    yv_dict_set(doc, r, CKPTFMT_KEY_MODEL, yv_dict_get(g, "state_dict"));
    yv_dict_set(doc, r, CKPTFMT_KEY_EMA, yv_new_none(doc));
    yv_dict_set(doc, r, CKPTFMT_KEY_OPTIMIZER, yv_new_none(doc));
    yv_dict_set(doc, y, "yaml_file", yv_new_str(doc, yaml_file));
    yv_dict_set(doc, r, CKPTFMT_KEY_YAML, y);
    yv_dict_set(doc, r, CKPTFMT_KEY_TASK, yv_new_str(doc, task));
    yv_dict_set(doc, r, CKPTFMT_KEY_NC, yv_new_int(doc, nc));
    for (int i = 0; i < nc; i++) {
        char n[32];
        snprintf(n, sizeof n, "class %d", i);
        yv_dict_put(doc, names, yv_new_int(doc, i), yv_new_str(doc, n));
    }
    yv_dict_set(doc, r, CKPTFMT_KEY_NAMES, names);
    for (int i = 0; strides && i < 3; i++)
        yv_seq_push(doc, st, yv_new_float(doc, 8 << i));
    yv_dict_set(doc, r, CKPTFMT_KEY_STRIDE, st);
    yv_dict_set(doc, args, "imgsz", yv_new_int(doc, 64));
    yv_dict_set(doc, args, "dropout", yv_new_float(doc, 0.25));
    yv_dict_set(doc, r, CKPTFMT_KEY_TRAIN_ARGS, args);
    return r;
}

/* ---- checks ---- */

/* A real Ultralytics final file, imported and exported again, is the same file. */
static void round_trip(const char *rel) {
    char path[512];
    if (!tap_data_path(path, sizeof path, rel)) return;
    yv_doc *doc = NULL, *back = NULL;
    yv *root = NULL, *ours = NULL, *out = NULL;
    yolo_status st = ckpt_read(path, NULL, &doc, &root);
    if (!st) st = ckptfmt_import(doc, root, path, &ours);
    /* through a file of ours: the import must keep all that the export needs */
    yv_doc *mid = NULL;
    yv *ours2 = !st ? through_file(ours, "imported.pt", &mid) : NULL;
    if (!st && !ours2) st = YOLO_ERR_IO;
    if (!st) st = ultratree_export(mid, ours2, "imported.pt", &out);
    yv *again = !st ? through_file(out, "exported.pt", &back) : NULL;
    char diff[1024] = "";
    size_t no = 0, nt = 0;
    CHECK(!st && again && same_values(root, again, diff, sizeof diff, &no, &nt) && no > 200 && nt >= 357,
          "%s: import, then export --format ultralytics, gives the same values: %zu objects (%s first), %zu "
          "tensors%s%s",
          rel, no, root ? cls_of(yv_dict_get(root, "model")) : "?", nt, st ? yolo_last_error() : "", diff);
    yv_doc_free(back);
    yv_doc_free(mid);
    yv_doc_free(doc);
}

static void detect_parts(void) {
    char path[512];
    if (!tap_data_path(path, sizeof path, "ultralytics/yolov8n-fashion-final.pt")) return;
    yv_doc *doc = NULL;
    yv *root = NULL, *out = NULL;
    yolo_status st = ckpt_read(path, NULL, &doc, &root);
    if (!st) st = ultratree_export(doc, root, path, &out); /* straight from Ultralytics' file */
    const yv *net = out ? yv_dict_get(out, "model") : NULL;
    CHECK(!st && !strcmp(keys_from(out, 0),
                         "date version license docs epoch best_fitness model ema updates optimizer "
                         "scaler train_args train_metrics train_results git"),
          "the file's keys, in Ultralytics' order: %s %s", keys_from(out, 0), st ? yolo_last_error() : "");
    CHECK(!strcmp(keys_from(net, 12), "yaml save names inplace stride nc args criterion"),
          "DetectionModel: %s", keys_from(net, 12));
    const yv *c0 = yv_path(layer(net, 0), "_modules.act"), *c1 = yv_path(layer(net, 1), "_modules.act");
    const yv *sppf_act = yv_path(layer(net, 9), "_modules.cv1._modules.act");
    CHECK(c0 && c0 == c1 && !strcmp(cls_of(c0), "torch.nn.modules.activation.SiLU") &&
              !strcmp(cls_of(sppf_act), "torch.nn.modules.linear.Identity"),
          "one SiLU shared by every Conv; SPPF's first Conv has an Identity");
    yv_doc_free(doc);
}

/* Exports our layout around golden weights and reads the written file back (into *back): what the
 * checks see is what the pickle writer emitted, and it must equal what was built. */
static yv *export_golden(yv_doc *doc, const yv *g, const char *task, const char *yaml_file, yv_doc **back) {
    yv *out = NULL, *in = ours_from_golden(doc, g, task, yaml_file, strcmp(task, "classify") != 0);
    yolo_status st = ultratree_export(doc, in, NULL, &out);
    char name[64], diff[1024] = "";
    snprintf(name, sizeof name, "%s.pt", task);
    yv *again = !st ? through_file(out, name, back) : NULL;
    CHECK(again && same_values(out, again, diff, sizeof diff, NULL, NULL),
          "%s: written and read back the same %s%s", task, st ? yolo_last_error() : "", diff);
    return again;
}

static void segment(const yv *g) {
    yv_doc *doc = yv_doc_new(), *back = NULL;
    yv *again = export_golden(doc, g, "segment", "yolov8n-seg.yaml", &back);
    const yv *net = yv_dict_get(again, "model"), *head = layer(net, 22),
             *proto = yv_path(head, "_modules.proto");
    const yv *up = yv_path(proto, "_modules.upsample");
    CHECK(!strcmp(cls_of(net), "ultralytics.nn.tasks.SegmentationModel") &&
              !strcmp(keys_from(net, 12), "yaml save names inplace stride nc args criterion"),
          "SegmentationModel: %s", keys_from(net, 12));
    CHECK(!strcmp(cls_of(head), "ultralytics.nn.modules.head.Segment") &&
              !strcmp(keys_from(yv_dict_get(head, "_modules"), 0), "cv2 cv3 dfl proto cv4") &&
              !strcmp(keys_from(head, 12), "nc nl reg_max no stride nm npr np i f type inplace"),
          "Segment: children %s; attributes %s", keys_from(yv_dict_get(head, "_modules"), 0),
          keys_from(head, 12));
    int64_t nm = 0, npr = 0, wt[4] = {0};
    yv_as_int(yv_dict_get(head, "nm"), &nm), yv_as_int(yv_dict_get(head, "npr"), &npr);
    const yv *w = yv_path(up, "_parameters.weight");
    for (int d = 0; w && d < 4; d++)
        wt[d] = w->tensor.shape[d];
    CHECK(nm == 32 && npr == 64 && !strcmp(cls_of(proto), "ultralytics.nn.modules.block.Proto") &&
              !strcmp(keys_from(yv_dict_get(proto, "_modules"), 0), "cv1 upsample cv2 cv3") &&
              !strcmp(cls_of(up), "torch.nn.modules.conv.ConvTranspose2d") &&
              yv_is_truthy(yv_dict_get(up, "transposed")) && wt[0] == 64 && wt[1] == 64 && wt[2] == 2 &&
              yv_path(up, "_parameters.bias"),
          "Proto: nm 32, npr 64, ConvTranspose2d(64, 64, 2, 2) with bias");
    census c = {0};
    count(net, &c, 0);
    /* 417 weights: 66 batch norms (3 buffers each, num_batches_tracked in int64) and 219 parameters */
    CHECK(c.tensors == 417 + 2 && c.f16 == 417 - 66 + 1 && c.f32 == 1 && c.i64 == 66 && c.params == 219 &&
              c.grad == 0,
          "segment: the 417 weights in fp16 (int64 counts), the head's stride in fp16, the model's in fp32: "
          "%zu "
          "tensors, %zu fp16, %zu fp32, %zu int64, %zu parameters, %zu requiring grad",
          c.tensors, c.f16, c.f32, c.i64, c.params, c.grad);
    yv_doc_free(back);
    yv_doc_free(doc);
}

static void classify(const yv *g) {
    yv_doc *doc = yv_doc_new(), *back = NULL;
    yv *again = export_golden(doc, g, "classify", "yolov8n-cls.yaml", &back);
    const yv *net = yv_dict_get(again, "model"), *head = layer(net, 9);
    CHECK(!strcmp(cls_of(net), "ultralytics.nn.tasks.ClassificationModel") &&
              !strcmp(keys_from(net, 12), "yaml save stride names transforms criterion"),
          "ClassificationModel: %s", keys_from(net, 12));
    double p = 0;
    yv_as_double(yv_path(head, "_modules.drop.p"), &p);
    CHECK(!strcmp(cls_of(head), "ultralytics.nn.modules.head.Classify") &&
              !strcmp(keys_from(yv_dict_get(head, "_modules"), 0), "conv pool drop linear") && p == 0.25 &&
              !strcmp(keys_from(head, 12), "np i f type"),
          "Classify: conv pool drop linear, dropout 0.25 from train_args");
    const yv *tf = yv_path(net, "transforms.transforms");
    int64_t size = 0;
    yv_as_int(yv_dict_get(tf && tf->kind == YV_LIST && tf->seq.n == 4 ? tf->seq.items[0] : NULL, "size"),
              &size);
    CHECK(!strcmp(cls_of(yv_dict_get(net, "transforms")), "torchvision.transforms.transforms.Compose") &&
              size == 64 && !strcmp(cls_of(tf->seq.items[3]), "torchvision.transforms.transforms.Normalize"),
          "transforms: Compose(Resize(64), CenterCrop, ToTensor, Normalize)");
    census c = {0};
    count(net, &c, 0);
    /* 158 weights: 26 batch norms and 80 parameters */
    CHECK(c.tensors == 158 + 3 && c.f16 == 158 - 26 && c.f32 == 3 && c.i64 == 26 && c.params == 80 &&
              c.grad == 0,
          "classify: the 158 weights in fp16 (int64 counts); the stride and Normalize's mean and std in "
          "fp32: %zu "
          "tensors, %zu fp16, %zu fp32, %zu int64, %zu parameters, %zu requiring grad",
          c.tensors, c.f16, c.f32, c.i64, c.params, c.grad);
    yv_doc_free(back);
    yv_doc_free(doc);
}

/* Weights that do not fit the architecture, or a checkpoint that does not say what it is, are refused
 * with the reason. */
static void refusals(void) {
    char path[512];
    if (!tap_data_path(path, sizeof path, "ultralytics/yolov8n-fashion256-e30.pt")) return;
    static const struct {
        const char *what, *want;
    } cases[] = {
        {"missing",
         "the weights have no model.22.dfl.conv.weight (they do not fit yolov8n.yaml with 10 classes)"},
        {"extra", "the weights hold model.23.extra, which yolov8n.yaml with 10 classes has no place for"},
        {"shape",
         "model.22.cv3.0.2.weight is [10, 64, 1, 1] but yolov8n.yaml with 11 classes needs [11, 64, 1, 1]"},
        {"task", "the checkpoint's task is segment but yolov8n.yaml is a detect model"},
        {"yaml", "the checkpoint does not name its model YAML (yaml.yaml_file)"},
        {"names", "the class names are not a dict of 10 entries"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        yv_doc *doc = NULL;
        yv *root = NULL, *ours = NULL, *out = NULL;
        yolo_status st = ckpt_read(path, NULL, &doc, &root);
        if (!st) st = ckptfmt_import(doc, root, path, &ours);
        if (st) {
            CHECK(0, "%s", yolo_last_error());
            yv_doc_free(doc);
            continue;
        }
        yv *w = yv_dict_get(ours, CKPTFMT_KEY_MODEL), *names = yv_dict_get(ours, CKPTFMT_KEY_NAMES);
        const char *what = cases[i].what;
        if (!strcmp(what, "missing")) yv_dict_del(w, "model.22.dfl.conv.weight");
        if (!strcmp(what, "extra"))
            yv_dict_set(doc, w, "model.23.extra", yv_dict_get(w, "model.0.conv.weight"));
        if (!strcmp(what, "shape")) {
            yv_dict_set(doc, ours, CKPTFMT_KEY_NC, yv_new_int(doc, 11));
            yv_dict_put(doc, names, yv_new_int(doc, 10), yv_new_str(doc, "eleventh"));
        }
        if (!strcmp(what, "task")) yv_dict_set(doc, ours, CKPTFMT_KEY_TASK, yv_new_str(doc, "segment"));
        if (!strcmp(what, "yaml")) yv_dict_del(yv_dict_get(ours, CKPTFMT_KEY_YAML), "yaml_file");
        if (!strcmp(what, "names")) yv_dict_put(doc, names, yv_new_int(doc, 10), yv_new_str(doc, "eleventh"));
        st = ultratree_export(doc, ours, NULL, &out);
        CHECK(st == YOLO_ERR_FORMAT && !strcmp(yolo_last_error(), cases[i].want), "refused (%s): %s", what,
              st ? yolo_last_error() : "accepted");
        yv_doc_free(doc);
    }
}

/* A head shape from a file that would make an absurd number of anchors is not kept (the head
 * recomputes its anchors on its first run anyway); a sane one gives anchors for every level. */
static void head_shapes(void) {
    char path[512];
    if (!tap_data_path(path, sizeof path, "ultralytics/yolov8n-fashion-final.pt")) return;
    static const int64_t shapes[2][4] = {{1, 64, 16384, 16384}, {2, 64, 4, 6}};
    for (int i = 0; i < 2; i++) {
        yv_doc *doc = NULL;
        yv *root = NULL, *ours = NULL, *out = NULL;
        yolo_status st = ckpt_read(path, NULL, &doc, &root);
        if (!st) st = ckptfmt_import(doc, root, path, &ours);
        yv *shape = yv_new_tuple(doc);
        for (int d = 0; d < 4; d++)
            yv_seq_push(doc, shape, yv_new_int(doc, shapes[i][d]));
        if (!st) st = yv_dict_set(doc, yv_dict_get(ours, CKPTFMT_KEY_IMPORTED), "head_shape", shape);
        if (!st) st = ultratree_export(doc, ours, NULL, &out);
        const yv *head = out ? layer(yv_dict_get(out, "model"), 22) : NULL, *a = yv_dict_get(head, "anchors");
        if (i == 0)
            CHECK(!st && head && !a && !yv_dict_get(head, "shape"),
                  "a head shape of 16384 x 16384 is not kept %s", st ? yolo_last_error() : "");
        else /* 4x6 + 2x3 + 1x2 anchors */
            CHECK(!st && a && a->tensor.shape[0] == 2 && a->tensor.shape[1] == 24 + 6 + 2,
                  "a head shape of 4 x 6 gives its 32 anchors over 3 levels %s", st ? yolo_last_error() : "");
        yv_doc_free(doc);
    }
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--compare")) return do_compare(argv[2], argv[3]);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trip("ultralytics/yolov8n-fashion-final.pt");
    round_trip("ultralytics/yolov8n-fashion256-e30.pt");
    detect_parts();
    static const char *const golden[] = {"golden/seg_forward_loss.pt", "golden/cls_forward_loss.pt"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        yv_doc *doc = NULL;
        yv *g = NULL;
        if (!tap_data_path(path, sizeof path, golden[i])) continue;
        if (ckpt_read(path, NULL, &doc, &g))
            CHECK(0, "%s", yolo_last_error());
        else if (i == 0)
            segment(g);
        else
            classify(g);
        yv_doc_free(doc);
    }
    refusals();
    head_shapes();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) perror("rm");
    TAP_DONE();
}
