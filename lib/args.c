/* The training arguments' table and its checks (see include/yolo/args.h). */
#include "yolo/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"

/* The table: one row per key, in the order of Ultralytics 8.4.52's cfg/default.yaml, ours last. */
#define N_ NULL
#define BIG 1e9
#define WORK(k, t, d, lo, hi, ch, res, at, note)                                                             \
    { k, t, d, lo, hi, ch, res, ARG_WORKS, at, note }
#define SHOW(k, t, d, note)                                                                                  \
    { k, t, d, 0, BIG, N_, false, ARG_DISPLAY, ARG_AT_TRAIN_ARGS, note }
#define DENY(k, t, d, lo, hi, note)                                                                          \
    { k, t, d, lo, hi, N_, false, ARG_REFUSED, ARG_AT_TRAIN_ARGS, note }
#define VIDEO "videos are not supported (predict reads images: a file, a folder, a glob or a .txt list)"
#define EXPORT "export mode is not supported (yolo-ckpt export writes weights for PyTorch and Ultralytics)"
#define AUG(k, d, lo, hi) WORK(k, ARG_FLOAT, d, lo, hi, N_, true, ARG_AT_STREAM, "augmentation (yolo-data)")
#define GAIN(k, d) WORK(k, ARG_FLOAT, d, 0, BIG, N_, false, ARG_AT_TRAIN_ARGS, "loss gain")
#define OTHER_TASK(k, d)                                                                                     \
    WORK(k, ARG_FLOAT, d, 0, BIG, N_, false, ARG_AT_TRAIN_ARGS,                                              \
         "pose/obb loss gain: no effect on detect, segment and classify, as in Ultralytics")
static const arg_spec table[] = {
    WORK("task", ARG_CHOICE, "detect", 0, 0, "detect|segment|classify", false, ARG_AT_TRAIN_ARGS,
         "pose and obb are not supported"),
    WORK("mode", ARG_CHOICE, "train", 0, 0, "train|val|predict", false, ARG_AT_COMMAND,
         "export, track and benchmark are not supported"),
    WORK("model", ARG_STR, N_, 0, 0, N_, true, ARG_AT_TRAIN_ARGS,
         "a model YAML (yolov8n.yaml) or a .pt to start from; on resume, the checkpoint"),
    WORK("data", ARG_STR, N_, 0, 0, N_, true, ARG_AT_STREAM,
         "a data.yaml, an image folder, a list file or an archive; on resume, the run's dataset where it is "
         "now (with its class names)"),
    WORK("epochs", ARG_INT, "100", 1, BIG, N_, true, ARG_AT_TRAIN_ARGS, "on resume: that many more"),
    WORK("time", ARG_FLOAT, N_, 0, BIG, N_, true, ARG_AT_COMMAND, "hours; checked between epochs"),
    WORK("patience", ARG_INT, "100", 0, BIG, N_, true, ARG_AT_TRAIN_ARGS, "0: never stop early"),
    WORK("batch", ARG_INT, "16", 1, 65536, N_, true, ARG_AT_PROCESS,
         "AutoBatch (batch=-1 or a fraction) is not supported"),
    WORK("imgsz", ARG_INT, "640", 1, 8192, N_, true, ARG_AT_STREAM, "rounded up to a multiple of 32"),
    WORK("save", ARG_BOOL, "true", 0, 0, N_, false, ARG_AT_COMMAND,
         "train: false keeps no weights once the run is done (an interrupted run keeps last.pt); predict: "
         "the drawn images"),
    WORK("save_period", ARG_INT, "-1", -1, BIG, N_, true, ARG_AT_TRAIN_ARGS, "epochN.pt every N epochs"),
    WORK("cache", ARG_BOOL_STR, "false", 0, 0, "false|true|ram|disk", true, ARG_AT_STREAM,
         "decoded images: ram (true) in memory for each epoch, disk in a .rgb.npy file beside each image"),
    WORK("device", ARG_STR, N_, 0, 0, N_, true, ARG_AT_PROCESS, "cpu, 0, cuda:1 (Apple's mps is refused)"),
    WORK("workers", ARG_INT, "8", 0, 1024, N_, true, ARG_AT_PROCESS,
         "the trainer's threads (at most the cores) and yolo-data's workers"),
    WORK("project", ARG_STR, N_, 0, 0, N_, false, ARG_AT_COMMAND, "runs/TASK when unset"),
    WORK("name", ARG_STR, N_, 0, 0, N_, false, ARG_AT_COMMAND, "train (or val), numbered when taken"),
    WORK("exist_ok", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_COMMAND, "reuse the run folder name"),
    WORK("pretrained", ARG_BOOL_STR, "true", 0, 0, N_, false, ARG_AT_TRAIN_ARGS,
         "a .pt whose weights a model YAML starts from"),
    WORK("optimizer", ARG_CHOICE, "auto", 0, 0, "auto|SGD|Adam|AdamW", false, ARG_AT_TRAIN_ARGS,
         "Adamax, NAdam, RAdam, RMSProp and MuSGD are not supported"),
    SHOW("verbose", ARG_BOOL, "true", "progress and tables are always printed"),
    WORK("seed", ARG_INT, "0", 0, 9.2e18, N_, false, ARG_AT_STREAM, N_),
    SHOW("deterministic", ARG_BOOL, "true", "training is always deterministic: repeats are bit-identical"),
    WORK("single_cls", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_STREAM,
         "every label becomes class 0, 'item'"),
    WORK("rect", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_STREAM,
         "train: batches of like aspect ratio in a fixed order (no shuffle, mosaic or mixup); val: always"),
    WORK("cos_lr", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_TRAIN_ARGS, N_),
    WORK("close_mosaic", ARG_INT, "10", 0, BIG, N_, true, ARG_AT_STREAM, N_),
    WORK("resume", ARG_BOOL, "false", 0, 0, N_, true, ARG_AT_COMMAND, N_),
    SHOW("amp", ARG_BOOL, "true", "training is float32 (mixed precision only applies on CUDA)"),
    WORK("fraction", ARG_FLOAT, "1.0", 1e-12, 1, N_, false, ARG_AT_STREAM, "of the train images"),
    SHOW("profile", ARG_BOOL, "false", "ONNX/TensorRT speed logging; YOLO_PROFILE=1 profiles the epochs"),
    WORK("freeze", ARG_INT_LIST, N_, 0, 100000, N_, true, ARG_AT_TRAIN_ARGS,
         "the first N layers, or a list of layer indices"),
    DENY("multi_scale", ARG_FLOAT, "0.0", 0, 1, "multi-scale training is not supported (one imgsz per run)"),
    DENY("compile", ARG_BOOL_STR, "false", 0, 0, "torch.compile is not available to libtorch"),
    DENY("overlap_mask", ARG_BOOL, "true", 0, 0, "streams carry overlap masks"),
    WORK("mask_ratio", ARG_INT, "4", 1, 64, N_, false, ARG_AT_STREAM, N_),
    WORK("dropout", ARG_FLOAT, "0.0", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, "classify head"),
    WORK("val", ARG_BOOL, "true", 0, 0, N_, true, ARG_AT_TRAIN_ARGS, N_),
    WORK("split", ARG_CHOICE, "val", 0, 0, "val|test|train", false, ARG_AT_COMMAND, "val mode"),
    DENY("save_json", ARG_BOOL, "false", 0, 0, "COCO JSON results are not written (yolo-eval --json)"),
    WORK("conf", ARG_FLOAT, N_, 0, 1, N_, false, ARG_AT_TRAIN_ARGS,
         "validation: 0.001 when unset; predict: 0.25"),
    WORK("iou", ARG_FLOAT, "0.7", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, "validation and predict NMS"),
    WORK("max_det", ARG_INT, "300", 1, BIG, N_, false, ARG_AT_TRAIN_ARGS, "validation and predict NMS"),
    DENY("half", ARG_BOOL, "false", 0, 0, "half-precision inference is not supported"),
    DENY("dnn", ARG_BOOL, "false", 0, 0, "OpenCV DNN inference is not supported"),
    WORK("plots", ARG_BOOL, "true", 0, 0, N_, true, ARG_AT_TRAIN_ARGS,
         "false: no pictures of the run (the same bits)"),
    DENY("end2end", ARG_BOOL, N_, 0, 0, "end-to-end heads are not supported: YOLOv8 heads use NMS"),
    WORK("source", ARG_STR, N_, 0, 0, N_, false, ARG_AT_COMMAND,
         "predict: an image, a folder, a glob or a .txt list (videos are refused)"),
    DENY("vid_stride", ARG_INT, "1", 1, BIG, VIDEO),
    DENY("stream_buffer", ARG_BOOL, "false", 0, 0, VIDEO),
    DENY("visualize", ARG_BOOL, "false", 0, 0, "pictures of feature maps are not supported"),
    DENY("augment", ARG_BOOL, "false", 0, 0, "test-time augmentation is not supported"),
    WORK("agnostic_nms", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_TRAIN_ARGS, "validation and predict NMS"),
    WORK("classes", ARG_INT_LIST, N_, 0, BIG, N_, false, ARG_AT_COMMAND,
         "predict: keep these classes; not for train (filtering training labels is not supported)"),
    DENY("retina_masks", ARG_BOOL, "false", 0, 0,
         "masks at the original image's resolution are not supported (they are made at the network input's, "
         "as Ultralytics does by default)"),
    DENY("embed", ARG_INT_LIST, N_, 0, BIG, "feature embeddings are not supported"),
    SHOW("show", ARG_BOOL, "false", "no windows are shown"),
    DENY("save_frames", ARG_BOOL, "false", 0, 0, VIDEO),
    WORK("save_txt", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_COMMAND,
         "val and predict: labels/*.txt in the run folder"),
    WORK("save_conf", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_COMMAND,
         "val and predict: with save_txt, a confidence column"),
    WORK("save_crop", ARG_BOOL, "false", 0, 0, N_, false, ARG_AT_COMMAND, "predict: crops of each detection"),
    WORK("show_labels", ARG_BOOL, "true", 0, 0, N_, false, ARG_AT_COMMAND, "predict: drawn pictures"),
    WORK("show_conf", ARG_BOOL, "true", 0, 0, N_, false, ARG_AT_COMMAND, "predict: drawn pictures"),
    WORK("show_boxes", ARG_BOOL, "true", 0, 0, N_, false, ARG_AT_COMMAND, "predict: drawn pictures"),
    WORK("line_width", ARG_INT, N_, 1, 1000, N_, false, ARG_AT_COMMAND,
         "predict: pixels; from the image size when unset"),
    DENY("format", ARG_STR, "torchscript", 0, 0, EXPORT),
    DENY("keras", ARG_BOOL, "false", 0, 0, EXPORT),
    DENY("optimize", ARG_BOOL, "false", 0, 0, EXPORT),
    DENY("int8", ARG_BOOL, "false", 0, 0, EXPORT),
    DENY("dynamic", ARG_BOOL, "false", 0, 0, EXPORT),
    DENY("simplify", ARG_BOOL, "true", 0, 0, EXPORT),
    DENY("opset", ARG_INT, N_, 0, BIG, EXPORT),
    DENY("workspace", ARG_FLOAT, N_, 0, BIG, EXPORT),
    DENY("nms", ARG_BOOL, "false", 0, 0, EXPORT),
    WORK("lr0", ARG_FLOAT, "0.01", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, "ignored under optimizer=auto"),
    WORK("lrf", ARG_FLOAT, "0.01", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, N_),
    WORK("momentum", ARG_FLOAT, "0.937", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, "ignored under optimizer=auto"),
    WORK("weight_decay", ARG_FLOAT, "0.0005", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, N_),
    WORK("warmup_epochs", ARG_FLOAT, "3.0", 0, BIG, N_, false, ARG_AT_TRAIN_ARGS, N_),
    WORK("warmup_momentum", ARG_FLOAT, "0.8", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, N_),
    WORK("warmup_bias_lr", ARG_FLOAT, "0.1", 0, 1, N_, false, ARG_AT_TRAIN_ARGS, N_),
    GAIN("box", "7.5"),
    GAIN("cls", "0.5"),
    DENY("cls_pw", ARG_FLOAT, "0.0", 0, BIG,
         "class-frequency weighting of the class loss is not implemented"),
    GAIN("dfl", "1.5"),
    OTHER_TASK("pose", "12.0"),
    OTHER_TASK("kobj", "1.0"),
    OTHER_TASK("rle", "1.0"),
    OTHER_TASK("angle", "1.0"),
    WORK("nbs", ARG_INT, "64", 1, BIG, N_, false, ARG_AT_TRAIN_ARGS, "nominal batch size"),
    AUG("hsv_h", "0.015", 0, 1),
    AUG("hsv_s", "0.7", 0, 1),
    AUG("hsv_v", "0.4", 0, 1),
    AUG("degrees", "0.0", -360, 360),
    AUG("translate", "0.1", 0, 1),
    AUG("scale", "0.5", 0, 1),
    AUG("shear", "0.0", -180, 180),
    AUG("perspective", "0.0", 0, 0.001),
    AUG("flipud", "0.0", 0, 1),
    AUG("fliplr", "0.5", 0, 1),
    AUG("bgr", "0.0", 0, 1),
    AUG("mosaic", "1.0", 0, 1),
    AUG("mixup", "0.0", 0, 1),
    AUG("cutmix", "0.0", 0, 1),
    AUG("copy_paste", "0.0", 0, 1),
    {"copy_paste_mode", ARG_CHOICE, "flip", 0, 0, "flip|mixup", true, ARG_REFUSED, ARG_AT_STREAM,
     "copy_paste_mode=mixup is not implemented"},
    WORK("auto_augment", ARG_CHOICE, "randaugment", 0, 0, "randaugment|autoaugment|augmix", true,
         ARG_AT_STREAM, "classify"),
    AUG("erasing", "0.4", 0, 0.9),
    WORK("cfg", ARG_STR, N_, 0, 0, N_, false, ARG_AT_COMMAND,
         "a YAML of key: value lines (Ultralytics' default.yaml, or a copy edited), read first: the command "
         "line's keys and words win; not on resume"),
    DENY("tracker", ARG_STR, "botsort.yaml", 0, 0, "track mode is not supported"),
    /* ours */
    WORK("save_dir", ARG_STR, N_, 0, 0, N_, false, ARG_AT_COMMAND, "set by yolo: the run folder"),
    WORK("save_every", ARG_INT, "0", 0, BIG, N_, true, ARG_AT_PROCESS,
         "ours: also write last.pt every N batches inside an epoch"),
    WORK("world", ARG_INT, "1", 1, 4096, N_, true, ARG_AT_COMMAND,
         "ours: data-parallel ranks on this machine, each with workers threads"),
    WORK("hosts", ARG_STR, N_, 0, 0, N_, true, ARG_AT_COMMAND,
         "ours: a GNU parallel sshloginfile: ranks on several machines, rank 0 this one"),
    WORK("max_restarts", ARG_INT, "3", 0, BIG, N_, true, ARG_AT_COMMAND,
         "ours: times all ranks start again from last.pt after one failed"),
    WORK("micro_batch", ARG_INT, N_, 1, 65536, N_, false, ARG_AT_TRAIN_ARGS,
         "ours: samples per micro-batch, fixed at the start (batch / world)"),
};

const arg_spec *args_table(size_t *n) {
    *n = sizeof table / sizeof *table;
    return table;
}

const arg_spec *args_find(const char *key) {
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(table[i].key, key)) return &table[i];
    return NULL;
}

static size_t edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b), row[64];
    if (m >= 64) return 99;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up, row[j] = best;
        }
    }
    return row[m];
}

const char *args_nearest(const char *key) {
    const char *best = table[0].key;
    size_t bestd = 99;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        size_t d = edit_distance(key, table[i].key);
        if (d < bestd) best = table[i].key, bestd = d;
    }
    return best;
}

/* ---- values ---- */

/* Booleans are words, as Ultralytics' check_cfg wants them (cos_lr=1 is an int there, and refused). */
static bool word_true(const char *s) {
    return !strcasecmp(s, "true");
}
static bool word_false(const char *s) {
    return !strcasecmp(s, "false");
}
static bool word_none(const char *s) {
    return !strcasecmp(s, "none") || !strcasecmp(s, "null") || !*s;
}

static bool parse_int(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return false;
    *out = v;
    return true;
}

static bool parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* The choice of s->choices that text names (case-insensitive), or NULL. */
static const char *choice_of(const arg_spec *s, const char *text, char *buf, size_t cap) {
    for (const char *c = s->choices; c && *c;) {
        size_t n = strcspn(c, "|");
        if (n < cap && strlen(text) == n && !strncasecmp(c, text, n)) {
            memcpy(buf, c, n);
            buf[n] = 0;
            return buf;
        }
        c += n + (c[n] == '|');
    }
    return NULL;
}

/* "a, b or c" of the choices. */
static void choices_text(const arg_spec *s, char *buf, size_t cap) {
    size_t len = 0, count = 1;
    for (const char *c = s->choices; *c; c++)
        count += *c == '|';
    size_t i = 0;
    for (const char *c = s->choices; *c && len < cap; i++) {
        size_t n = strcspn(c, "|");
        len += (size_t)snprintf(buf + len, cap - len, "%s%.*s",
                                i == 0           ? ""
                                : i + 1 == count ? " or "
                                                 : ", ",
                                (int)n, c);
        c += n + (c[n] == '|');
    }
}

static const char *type_text(const arg_spec *s, char *buf, size_t cap) {
    switch (s->type) {
    case ARG_INT:
        if (s->hi >= 1e9)
            snprintf(buf, cap, "an integer of at least %.0f", s->lo);
        else
            snprintf(buf, cap, "an integer from %.0f to %.0f", s->lo, s->hi);
        break;
    case ARG_FLOAT:
        if (s->hi >= 1e9)
            snprintf(buf, cap, "a number of at least %g", s->lo);
        else if (s->lo > 0 && s->lo < 1e-6)
            snprintf(buf, cap, "a number above 0 and at most %g", s->hi);
        else
            snprintf(buf, cap, "a number from %g to %g", s->lo, s->hi);
        break;
    case ARG_BOOL:
        snprintf(buf, cap, "true or false");
        break;
    case ARG_INT_LIST:
        snprintf(buf, cap, "an integer or a list of integers, e.g. [0,1,2]");
        break;
    case ARG_CHOICE:
    case ARG_BOOL_STR:
        if (s->choices) {
            choices_text(s, buf, cap);
            break;
        }
        /* fall through */
    case ARG_STR:
        snprintf(buf, cap, "a text");
        break;
    }
    return buf;
}

static yolo_status bad_value(const arg_spec *s, const char *text) {
    char want[200];
    if (!strcmp(s->key, "batch"))
        return yolo_error(YOLO_ERR_USAGE,
                          "'batch=%s' is not valid: batch must be a whole number of images, 1 or "
                          "more (AutoBatch, batch=-1 or a fraction, is not supported)",
                          text);
    if (s->type == ARG_CHOICE && s->note && s->fate == ARG_WORKS)
        return yolo_error(YOLO_ERR_USAGE, "'%s=%s' is not supported: %s must be %s (%s)", s->key, text,
                          s->key, type_text(s, want, sizeof want), s->note);
    return yolo_error(YOLO_ERR_USAGE, "'%s=%s' is not valid: %s must be %s", s->key, text, s->key,
                      type_text(s, want, sizeof want));
}

static bool in_range(const arg_spec *s, double x) {
    return x >= s->lo && x <= s->hi;
}

/* The value of one list item or scalar of an int-list key. */
static bool int_item_ok(const arg_spec *s, const yv *v) {
    int64_t i;
    return v && v->kind == YV_INT && yv_as_int(v, &i) && in_range(s, (double)i);
}

yolo_status args_check_value(const arg_spec *s, const yv *v) {
    char text[128];
    args_format_value(v, text, sizeof text);
    if (!v || v->kind == YV_NONE) {
        if (s->def && s->type != ARG_STR) return bad_value(s, text);
    } else {
        double x = 0;
        bool ok = true;
        switch (s->type) {
        case ARG_INT:
            ok = v->kind == YV_INT && yv_as_double(v, &x) && in_range(s, x);
            break;
        case ARG_FLOAT:
            ok = (v->kind == YV_INT || v->kind == YV_FLOAT || v->kind == YV_BOOL) && yv_as_double(v, &x) &&
                 in_range(s, x);
            break;
        case ARG_BOOL:
            ok = v->kind == YV_BOOL;
            break;
        case ARG_STR:
            ok = v->kind == YV_STR;
            break;
        case ARG_CHOICE: {
            char buf[64];
            ok = v->kind == YV_STR && choice_of(s, v->str.s, buf, sizeof buf);
            break;
        }
        case ARG_BOOL_STR: {
            char buf[64];
            ok = v->kind == YV_BOOL ||
                 (v->kind == YV_STR && (!s->choices || choice_of(s, v->str.s, buf, sizeof buf)));
            break;
        }
        case ARG_INT_LIST:
            if (v->kind == YV_LIST || v->kind == YV_TUPLE) {
                for (size_t i = 0; ok && i < v->seq.n; i++)
                    ok = int_item_ok(s, v->seq.items[i]);
            } else {
                ok = int_item_ok(s, v);
            }
            break;
        }
        if (!ok) return bad_value(s, text);
    }
    if (s->fate == ARG_REFUSED && !args_is_default(s, v))
        return yolo_error(YOLO_ERR_USAGE, "'%s=%s' is not supported: %s", s->key, text, s->note);
    return YOLO_OK;
}

/* A command-line text into a value, by the key's type (before the checks). */
static yv *parse_text(const arg_spec *s, const char *text, yv_doc *doc) {
    int64_t i;
    double x;
    char buf[64];
    if (word_none(text) && s->type != ARG_STR) return yv_new_none(doc);
    if (!strcasecmp(text, "none") || !strcasecmp(text, "null")) return yv_new_none(doc);
    switch (s->type) {
    case ARG_INT:
        return parse_int(text, &i) ? yv_new_int(doc, i) : yv_new_str(doc, text);
    case ARG_FLOAT:
        if (word_true(text)) return yv_new_bool(doc, true);
        if (word_false(text)) return yv_new_bool(doc, false);
        return parse_num(text, &x) ? yv_new_float(doc, x) : yv_new_str(doc, text);
    case ARG_BOOL:
        if (word_true(text)) return yv_new_bool(doc, true);
        if (word_false(text)) return yv_new_bool(doc, false);
        return yv_new_str(doc, text);
    case ARG_BOOL_STR:
        if (!strcasecmp(text, "true")) return yv_new_bool(doc, true);
        if (!strcasecmp(text, "false")) return yv_new_bool(doc, false);
        if (s->choices && choice_of(s, text, buf, sizeof buf)) return yv_new_str(doc, buf);
        return yv_new_str(doc, text);
    case ARG_CHOICE:
        return yv_new_str(doc, choice_of(s, text, buf, sizeof buf) ? buf : text);
    case ARG_INT_LIST:
        if (strchr(text, ',') && !strpbrk(text, "[(")) { /* classes=0,2 as Ultralytics reads it: a tuple */
            char *list = yv_doc_alloc(doc, strlen(text) + 3);
            if (!list) return NULL;
            sprintf(list, "[%s]", text);
            return ckptfmt_parse_value(doc, list);
        }
        return ckptfmt_parse_value(doc, text);
    case ARG_STR:
        break;
    }
    return yv_new_str(doc, text);
}

yolo_status args_parse_value(const arg_spec *s, const char *text, yv_doc *doc, yv **out, char *warning,
                             size_t warning_cap) {
    if (warning_cap) warning[0] = 0;
    yv *v = parse_text(s, text, doc);
    if (!v) return yolo_nomem();
    yolo_status st = args_check_value(s, v);
    /* (a refusal, "'k=v' is not supported: why", already names the text) */
    if (st == YOLO_ERR_USAGE && !strstr(yolo_last_error(), " is not supported: ")) {
        /* the message names the text as given, not as it was read */
        if (s->fate != ARG_REFUSED || v->kind == YV_STR) bad_value(s, text);
    }
    if (st != YOLO_OK) return st;
    int64_t i;
    if (!strcmp(s->key, "imgsz") && yv_as_int(v, &i) && i % 32) {
        /* Ultralytics' check_imgsz: up to a multiple of the largest stride, with a warning */
        int64_t up = (i + 31) / 32 * 32;
        if (warning_cap)
            snprintf(warning, warning_cap,
                     "imgsz=%lld is not a multiple of the largest stride 32: using imgsz=%lld", (long long)i,
                     (long long)up);
        v = yv_new_int(doc, up);
        if (!v) return yolo_nomem();
    }
    if (s->type == ARG_FLOAT && v->kind == YV_BOOL) v = yv_new_float(doc, v->b ? 1.0 : 0.0);
    *out = v;
    return v ? YOLO_OK : yolo_nomem();
}

yv *args_default(const arg_spec *s, yv_doc *doc) {
    if (!s->def) return yv_new_none(doc);
    return parse_text(s, s->def, doc);
}

double args_default_num(const char *key) {
    const arg_spec *s = args_find(key);
    double x = 0;
    if (s && s->def && !parse_num(s->def, &x)) x = word_true(s->def) ? 1 : 0;
    return x;
}

float args_default_f32(const char *key) {
    const arg_spec *s = args_find(key);
    return s && s->def ? strtof(s->def, NULL) : 0.0f;
}

bool args_is_default(const arg_spec *s, const yv *v) {
    bool none = !v || v->kind == YV_NONE;
    if (!s->def) return none || (v->kind == YV_STR && word_none(v->str.s));
    if (none) return false;
    double a, b;
    if (v->kind == YV_STR) return !strcasecmp(v->str.s, s->def);
    if (v->kind == YV_BOOL && (word_true(s->def) || word_false(s->def))) return v->b == word_true(s->def);
    return yv_as_double(v, &a) && parse_num(s->def, &b) && a == b;
}

yolo_status args_fill_defaults(yv_doc *doc, yv *args) {
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        if (yv_dict_get(args, table[i].key)) continue;
        yolo_status st = yv_dict_set_new(doc, args, table[i].key, args_default(&table[i], doc));
        if (st != YOLO_OK) return st;
    }
    return YOLO_OK;
}

/* ---- args.yaml ---- */

/* Whether a text needs quotes in YAML to stay a string (it would read as a number, bool or null, or
 * holds YAML syntax). */
static bool needs_quotes(const char *s) {
    double x;
    if (!*s || word_none(s) || word_true(s) || word_false(s) || parse_num(s, &x)) return true;
    if (strchr("[]{}&*!|>'\"%@`#,?:- ", s[0]) || s[strlen(s) - 1] == ' ') return true;
    return strstr(s, ": ") || strstr(s, " #") || strchr(s, '\n');
}

void args_format_value(const yv *v, char *buf, size_t cap) {
    if (!v || v->kind == YV_NONE) {
        snprintf(buf, cap, "null");
        return;
    }
    switch (v->kind) {
    case YV_BOOL:
        snprintf(buf, cap, "%s", v->b ? "true" : "false");
        break;
    case YV_INT:
        snprintf(buf, cap, "%lld", (long long)v->i);
        break;
    case YV_FLOAT: {
        snprintf(buf, cap, "%.17g", v->f);
        /* the shortest text that reads back the same, with a point as Python writes floats */
        for (int p = 1; p <= 17; p++) {
            char t[40];
            snprintf(t, sizeof t, "%.*g", p, v->f);
            if (strtod(t, NULL) == v->f) {
                snprintf(buf, cap, "%s%s", t, strpbrk(t, ".eEn") ? "" : ".0");
                break;
            }
        }
        break;
    }
    case YV_STR:
        if (needs_quotes(v->str.s)) {
            size_t len = 0;
            len += (size_t)snprintf(buf, cap, "'");
            for (const char *c = v->str.s; *c && len + 3 < cap; c++) {
                if (*c == '\'') buf[len++] = '\'';
                buf[len++] = *c;
            }
            snprintf(buf + len, cap - len, "'");
        } else {
            snprintf(buf, cap, "%s", v->str.s);
        }
        break;
    case YV_LIST:
    case YV_TUPLE: {
        size_t len = (size_t)snprintf(buf, cap, "[");
        for (size_t i = 0; i < v->seq.n && len < cap; i++) {
            char item[64];
            args_format_value(v->seq.items[i], item, sizeof item);
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", item);
        }
        if (len < cap) snprintf(buf + len, cap - len, "]");
        break;
    }
    default:
        snprintf(buf, cap, "null");
        break;
    }
}

yolo_status args_yaml_text(const yv *args, const char *save_dir, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    FILE *f = open_memstream(text, len);
    if (!f) return yolo_nomem();
    char val[4200];
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        if (save_dir && !strcmp(table[i].key, "save_dir")) {
            yv sd = {.kind = YV_STR, .str = {(char *)save_dir, strlen(save_dir)}};
            args_format_value(&sd, val, sizeof val);
        } else {
            args_format_value(yv_dict_get(args, table[i].key), val, sizeof val);
        }
        fprintf(f, "%s: %s\n", table[i].key, val);
    }
    for (size_t i = 0; args && args->kind == YV_DICT && i < args->dict.n; i++) {
        const char *k = yv_as_str(args->dict.keys[i]);
        if (!k || args_find(k)) continue;
        args_format_value(args->dict.vals[i], val, sizeof val);
        fprintf(f, "%s: %s\n", k, val);
    }
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        return yolo_nomem();
    }
    return YOLO_OK;
}

yolo_status args_write_yaml(const char *path, const yv *args) {
    char *text = NULL;
    size_t len = 0;
    yolo_status st = args_yaml_text(args, NULL, &text, &len);
    if (st == YOLO_OK) st = ckpt_write_file_atomic(path, text, len);
    free(text);
    return st;
}

/* ---- args.yaml (and yolo cfg=FILE) read back ---- */

static yv *yaml_scalar(yv_doc *doc, const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
        n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
        return yv_new_str(doc, s);
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return yv_new_none(doc);
    return ckptfmt_parse_value(doc, s);
}

static yv *yaml_value(yv_doc *doc, yaml_document_t *d, yaml_node_t *n, int depth) {
    if (!n || depth > 16) return yv_new_none(doc);
    if (n->type == YAML_SCALAR_NODE) return yaml_scalar(doc, n);
    if (n->type == YAML_SEQUENCE_NODE) {
        yv *l = yv_new_list(doc);
        for (yaml_node_item_t *it = n->data.sequence.items.start; l && it < n->data.sequence.items.top;
             it++) {
            yv *c = yaml_value(doc, d, yaml_document_get_node(d, *it), depth + 1);
            if (!c || yv_seq_push(doc, l, c) != YOLO_OK) return NULL;
        }
        return l;
    }
    yv *m = yv_new_dict(doc);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; m && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) continue;
        yv *c = yaml_value(doc, d, yaml_document_get_node(d, p->value), depth + 1);
        if (!c || yv_dict_set(doc, m, (const char *)k->data.scalar.value, c) != YOLO_OK) return NULL;
    }
    return m;
}

/* args.yaml from f (named path in messages). */
static yolo_status parse_args_yaml(yv_doc *doc, FILE *f, const char *path, yv **out) {
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    yolo_status st = YOLO_OK;
    if (!yaml_parser_load(&p, &d)) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s:%zu: not valid YAML (%s)", path, p.problem_mark.line + 1,
                        p.problem ? p.problem : "parse error");
        yaml_parser_delete(&p);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: not a mapping of training arguments (key: value lines)", path);
    } else {
        *out = yaml_value(doc, &d, root, 0);
        if (!*out) st = yolo_nomem();
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    return st;
}

yolo_status args_read_yaml(yv_doc *doc, const char *path, const void *data, size_t len, yv **out) {
    FILE *f = data ? fmemopen((void *)data, len ? len : 1, "rb") : fopen(path, "rb");
    if (!f) return yolo_error(YOLO_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    yolo_status st = parse_args_yaml(doc, f, path, out);
    fclose(f);
    return st;
}
