/* The epoch engine (see include/yolo/train.h). The order of operations per batch follows Ultralytics
 * 8.4.52's trainer: warmup of lr/momentum/accumulate, forward, loss, backward, and when enough batches
 * have accumulated: clip to norm 10, step, zero_grad, EMA update. */
#include "yolo/train.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/dataset.h"
#include "yolo/ema.h"
#include "yolo/lock.h"
#include "yolo/loss.h"
#include "yolo/metrics.h"
#include "yolo/model.h"
#include "yolo/modelcfg.h"
#include "yolo/nms.h"
#include "yolo/optim.h"
#include "yolo/pipeline.h"
#include "yolo/results.h"
#include "yolo/schedule.h"
#include "yolo/torch_train.h"

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        st = (x);                                                                                                      \
        if (st != YOLO_OK) goto done;                                                                                  \
    } while (0)

static yolo_status nomem(void) { return yolo_error(YOLO_ERR_NOMEM, "out of memory"); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Where an epoch's time goes (printed with train_opts.profile). */
enum { PROF_DATA, PROF_FORWARD, PROF_LOSS, PROF_BACKWARD, PROF_OPTIM, PROF_EMA, PROF_VAL, PROF_SAVE, PROF_N };
static const char *const prof_names[PROF_N] = {"data wait", "forward", "loss+assigner", "backward",
                                               "clip+optimizer", "ema", "validation", "save"};

struct trainer {
    yv_doc *doc; /* train_args, train_results, train_metrics: small values that live as long as the trainer */
    yv *args, *results, *metrics;
    yv *val_table; /* str: per-class table of the last validation (yolo prints best.pt's at the end) */
    char task[16];
    int nc;
    char **names;
    char yaml_file[512];
    modelcfg *cfg;
    model *m, *vm; /* training network; validation copy holding the EMA */
    optim *opt;
    ema *ema;
    torch_device dev;
    int threads;
    train_opts o;
    char data[4096];
    char run_dir[4096];

    /* settings from train_args */
    int epochs, batch, imgsz, nbs, patience, save_period, close_mosaic;
    uint64_t seed;
    bool val;
    double box, cls, dfl;
    sched_cfg sc;

    /* progress */
    int epoch_done;     /* last finished epoch, -1 before the first */
    int64_t pos_batch;  /* batches of epoch epoch_done+1 already applied */
    int64_t pos_seen;   /* samples of it consumed */
    int64_t pos_nb;
    float tloss[5];     /* running mean of the loss items over the epoch (float32, as the reference) */
    int accumulate;
    int64_t last_opt_step, iteration;
    bool have_best;
    double best_fitness;
    double st_best_fitness; /* early stopping */
    int st_best_epoch;
    bool st_possible_stop, st_stopped;
    double time_total;  /* training seconds of earlier processes (results' time column) */
    double prof[PROF_N];
    bool have_lr_pg;
};

void train_opts_default(train_opts *o) {
    memset(o, 0, sizeof *o);
    o->log = stderr;
}

int train_loss_names(const char *task, const char **names) {
    if (!strcmp(task, "segment")) {
        names[0] = "box_loss", names[1] = "seg_loss", names[2] = "cls_loss", names[3] = "dfl_loss";
        return 4;
    }
    if (!strcmp(task, "classify")) {
        names[0] = "loss";
        return 1;
    }
    names[0] = "box_loss", names[1] = "cls_loss", names[2] = "dfl_loss";
    return 3;
}

static int n_losses(const trainer *t) {
    const char *n[5];
    return train_loss_names(t->task, n);
}

/* ------------------------------------------------------------------ plain values */

/* A deep copy of a plain value (no tensors) into another doc. */
static yv *copy_plain(yv_doc *doc, const yv *v, int depth) {
    if (!v || depth > 32) return yv_new_none(doc);
    switch (v->kind) {
    case YV_NONE: return yv_new_none(doc);
    case YV_BOOL: return yv_new_bool(doc, v->b);
    case YV_INT: return yv_new_int(doc, v->i);
    case YV_FLOAT: return yv_new_float(doc, v->f);
    case YV_STR: return yv_new_strn(doc, v->str.s, v->str.len);
    case YV_LIST:
    case YV_TUPLE: {
        yv *l = v->kind == YV_LIST ? yv_new_list(doc) : yv_new_tuple(doc);
        for (size_t i = 0; l && i < v->seq.n; i++) {
            yv *c = copy_plain(doc, v->seq.items[i], depth + 1);
            if (!c || yv_seq_push(doc, l, c) != YOLO_OK) return NULL;
        }
        return l;
    }
    case YV_DICT: {
        yv *d = yv_new_dict(doc);
        for (size_t i = 0; d && i < v->dict.n; i++) {
            yv *k = copy_plain(doc, v->dict.keys[i], depth + 1), *c = copy_plain(doc, v->dict.vals[i], depth + 1);
            if (!k || !c || yv_dict_put(doc, d, k, c) != YOLO_OK) return NULL;
        }
        return d;
    }
    default: return yv_new_none(doc);
    }
}

static yolo_status put(yv_doc *doc, yv *d, const char *k, yv *v) {
    if (!v) return nomem();
    return yv_dict_set(doc, d, k, v);
}

static bool arg_int(const yv *args, const char *k, int64_t *out) {
    const yv *v = yv_dict_get(args, k);
    if (!v || v->kind == YV_NONE) return false;
    double d;
    if (!yv_as_double(v, &d)) return false;
    *out = (int64_t)d;
    return true;
}

static double arg_num(const yv *args, const char *k, double def) {
    const yv *v = yv_dict_get(args, k);
    double d;
    return v && yv_as_double(v, &d) ? d : def;
}

static const char *arg_str(const yv *args, const char *k) { return yv_as_str(yv_dict_get(args, k)); }

/* ------------------------------------------------------------------ args.yaml */

static yv *yaml_scalar(yv_doc *doc, const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE || n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
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
        for (yaml_node_item_t *it = n->data.sequence.items.start; l && it < n->data.sequence.items.top; it++) {
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

static yolo_status read_args_yaml(yv_doc *doc, const char *path, yv **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return yolo_error(YOLO_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    yolo_status st = YOLO_OK;
    if (!yaml_parser_load(&p, &d)) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s:%zu: not valid YAML (%s)", path, p.problem_mark.line + 1,
                        p.problem ? p.problem : "parse error");
        yaml_parser_delete(&p);
        fclose(f);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: not a mapping of training arguments (key: value lines)", path);
    } else {
        *out = yaml_value(doc, &d, root, 0);
        if (!*out) st = nomem();
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return st;
}

/* Fills the arguments this engine reads with Ultralytics' defaults where args.yaml lacks them, so that
 * the checkpoint states every value the run used. */
static yolo_status args_defaults(yv_doc *doc, yv *args) {
    static const struct {
        const char *k;
        const char *v;
    } defs[] = {{"task", "detect"},   {"epochs", "100"},       {"patience", "100"},      {"batch", "16"},
                {"imgsz", "640"},     {"save_period", "-1"},   {"seed", "0"},            {"optimizer", "auto"},
                {"lr0", "0.01"},      {"lrf", "0.01"},         {"momentum", "0.937"},    {"weight_decay", "0.0005"},
                {"warmup_epochs", "3.0"}, {"warmup_momentum", "0.8"}, {"warmup_bias_lr", "0.1"}, {"box", "7.5"},
                {"cls", "0.5"},       {"dfl", "1.5"},          {"nbs", "64"},            {"cos_lr", "false"},
                {"close_mosaic", "10"}, {"val", "true"},       {"overlap_mask", "true"}, {"mask_ratio", "4"},
                {"dropout", "0.0"},   {"device", "cpu"}};
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        const yv *v = yv_dict_get(args, defs[i].k);
        /* an explicit None is kept, except device: None (Ultralytics' "pick one") means the CPU here */
        if (v && (v->kind != YV_NONE || strcmp(defs[i].k, "device"))) continue;
        yolo_status st = put(doc, args, defs[i].k, ckptfmt_parse_value(doc, defs[i].v));
        if (st != YOLO_OK) return st;
    }
    return YOLO_OK;
}

/* Reads the settings the engine uses from train_args, checking them. */
static yolo_status load_settings(trainer *t) {
    yv *a = t->args;
    int64_t v;
    if (!arg_int(a, "epochs", &v) || v < 1 || v > 1000000) return yolo_error(YOLO_ERR_USAGE, "epochs must be a positive integer");
    t->epochs = (int)v;
    if (!arg_int(a, "batch", &v) || v < 1 || v > 65536)
        return yolo_error(YOLO_ERR_USAGE, "batch must be a positive integer (AutoBatch, batch=-1, is not supported)");
    t->batch = (int)v;
    if (!arg_int(a, "imgsz", &v) || v < 32 || v > 8192) return yolo_error(YOLO_ERR_USAGE, "imgsz must be an integer >= 32");
    t->imgsz = (int)((v + 31) / 32 * 32);
    if (!arg_int(a, "nbs", &v) || v < 1) return yolo_error(YOLO_ERR_USAGE, "nbs must be a positive integer");
    t->nbs = (int)v;
    t->patience = arg_int(a, "patience", &v) ? (int)v : 100;
    t->save_period = arg_int(a, "save_period", &v) ? (int)v : -1;
    t->close_mosaic = arg_int(a, "close_mosaic", &v) ? (int)v : 10;
    t->seed = arg_int(a, "seed", &v) ? (uint64_t)v : 0;
    t->val = yv_is_truthy(yv_dict_get(a, "val"));
    t->box = arg_num(a, "box", 7.5), t->cls = arg_num(a, "cls", 0.5), t->dfl = arg_num(a, "dfl", 1.5);
    sched_cfg_default(&t->sc, t->epochs, t->batch);
    t->sc.lrf = arg_num(a, "lrf", 0.01);
    t->sc.cos_lr = yv_is_truthy(yv_dict_get(a, "cos_lr"));
    t->sc.momentum = arg_num(a, "momentum", 0.937);
    t->sc.warmup_epochs = arg_num(a, "warmup_epochs", 3.0);
    t->sc.warmup_momentum = arg_num(a, "warmup_momentum", 0.8);
    t->sc.warmup_bias_lr = arg_num(a, "warmup_bias_lr", 0.1);
    t->sc.nbs = t->nbs;
    const char *opt = arg_str(a, "optimizer");
    if (opt && !strcasecmp(opt, "auto")) t->sc.warmup_bias_lr = 0.0;
    const char *data = arg_str(a, "data");
    if (!data) return yolo_error(YOLO_ERR_USAGE, "train_args has no data= (the dataset)");
    /* a run folder that moved keeps working: a relative dataset path is also tried from the run folder */
    struct stat sb;
    if (data[0] != '/' && stat(data, &sb) != 0 && t->run_dir[0]) {
        char alt[sizeof t->data];
        if (snprintf(alt, sizeof alt, "%s/%s", t->run_dir, data) < (int)sizeof alt && stat(alt, &sb) == 0)
            memcpy(t->data, alt, sizeof alt);
        else
            snprintf(t->data, sizeof t->data, "%s", data);
    } else {
        snprintf(t->data, sizeof t->data, "%s", data);
    }
    return YOLO_OK;
}

/* ------------------------------------------------------------------ setup */

static int all_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static yolo_status apply_process_opts(trainer *t) {
    yolo_status st;
    if (t->o.batch > 0) {
        t->batch = t->o.batch;
        t->sc.batch = t->batch;
        if ((st = put(t->doc, t->args, "batch", yv_new_int(t->doc, t->batch)))) return st;
    }
    if (t->o.device && (st = put(t->doc, t->args, "device", yv_new_str(t->doc, t->o.device)))) return st;
    if (t->o.threads > 0) t->threads = t->o.threads;
    if (t->threads <= 0) t->threads = all_cores();
    if ((st = torch_set_threads(t->threads)) != YOLO_OK) return st;
    const char *dev = arg_str(t->args, "device");
    t->dev = TORCH_CPU;
    if (dev && *dev && (st = torch_device_parse(dev, &t->dev)) != YOLO_OK) return st;
    return YOLO_OK;
}

static yolo_status set_names(trainer *t, const char *const *names, int nc) {
    t->names = calloc((size_t)(nc ? nc : 1), sizeof *t->names);
    if (!t->names) return nomem();
    t->nc = nc;
    for (int i = 0; i < nc; i++)
        if (!(t->names[i] = strdup(names && names[i] ? names[i] : "?"))) return nomem();
    return YOLO_OK;
}

static void note(const trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether freeze= (a layer count N: layers 0..N-1, or a list of layer indices) names layer i. */
static bool freeze_names_layer(const yv *f, int64_t i) {
    int64_t n;
    if (f && (f->kind == YV_LIST || f->kind == YV_TUPLE)) {
        for (size_t k = 0; k < f->seq.n; k++)
            if (yv_as_int(f->seq.items[k], &n) && n == i) return true;
        return false;
    }
    return f && f->kind == YV_INT && yv_as_int(f, &n) && i < n;
}

/* Ultralytics' freeze=: the parameters of the named layers (model.<i>.*) stop taking gradients; their
 * BatchNorm statistics still move, as there. Done before the optimizer is built, as there. */
static yolo_status apply_freeze(trainer *t) {
    const yv *f = yv_dict_get(t->args, "freeze");
    const char *fs = yv_as_str(f);
    if (!f || f->kind == YV_NONE || (fs && (!strcmp(fs, "none") || !strcmp(fs, "None") || !*fs))) return YOLO_OK;
    if (f->kind != YV_INT && f->kind != YV_LIST && f->kind != YV_TUPLE)
        return yolo_error(YOLO_ERR_USAGE, "freeze=%s: must be a number of layers or a list of layer indices",
                          fs ? fs : "?");
    int frozen = 0;
    for (int i = 0; i < model_param_count(t->m); i++) {
        int64_t layer;
        const char *name = model_param_name(t->m, i);
        if (model_param_is_buffer(t->m, i) || sscanf(name, "model.%" SCNd64 ".", &layer) != 1) continue;
        if (!freeze_names_layer(f, layer)) continue;
        yolo_status st = model_set_trainable(t->m, i, false);
        if (st != YOLO_OK) return st;
        frozen++;
    }
    if (frozen) note(t, "freeze: %d parameter tensors of the named layers take no gradients", frozen);
    return YOLO_OK;
}

static yolo_status build_optimizer(trainer *t, optim_kind kind, double lr, double momentum, double wd) {
    yolo_status fst = apply_freeze(t);
    if (fst != YOLO_OK) return fst;
    int n = model_param_count(t->m);
    optim_param *ps = calloc((size_t)n, sizeof *ps);
    if (!ps) return nomem();
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (model_param_is_buffer(t->m, i)) continue;
        ps[k].name = model_param_name(t->m, i);
        ps[k].param = model_tensor(t->m, i);
        ps[k].is_norm = optim_name_is_norm(ps[k].name);
        k++;
    }
    yolo_status st = optim_new(kind, lr, momentum, wd, ps, k, &t->opt);
    free(ps);
    return st;
}

static yolo_status build_ema(trainer *t) {
    int n = model_param_count(t->m);
    const char **names = calloc((size_t)n, sizeof *names);
    const torch_tensor **ts = calloc((size_t)n, sizeof *ts);
    yolo_status st = names && ts ? YOLO_OK : nomem();
    for (int i = 0; st == YOLO_OK && i < n; i++) names[i] = model_param_name(t->m, i), ts[i] = model_tensor(t->m, i);
    if (st == YOLO_OK) st = ema_new(names, ts, n, &t->ema);
    free(names);
    free(ts);
    return st;
}

/* blank: the weights come from a checkpoint next, so none are drawn */
static yolo_status build_model(trainer *t, const char *yaml, int nc, bool blank) {
    yolo_status st = modelcfg_load(yaml, nc, &t->cfg);
    if (st != YOLO_OK) return st;
    snprintf(t->yaml_file, sizeof t->yaml_file, "%s", yaml);
    snprintf(t->task, sizeof t->task, "%s", modelcfg_task(t->cfg));
    st = blank ? model_build_blank(t->cfg, t->dev, &t->m) : model_build(t->cfg, t->dev, &t->m);
    /* Ultralytics applies dropout= to the classifier head only */
    if (st == YOLO_OK && !strcmp(t->task, "classify") && t->args)
        st = model_set_dropout(t->m, arg_num(t->args, "dropout", 0));
    return st;
}

/* glibc returns freed memory to the kernel (blocks over its mmap threshold, and the heap's top past
 * twice that), and every step then faults the same activations in again, page by page: about 290k
 * page faults in an epoch of fashion_det256 at 128 px, half a second of kernel time. A training
 * process reuses the same sizes every step, so it keeps what it freed: a fixed 32 MiB mmap threshold
 * (glibc's largest; activations stay in the heap) and no trimming: 130k faults are left, the first
 * touch of the working set, and the steps take 0.15-0.2 s less. validate() keeps the peak down. */
static void keep_freed_memory(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

static trainer *trainer_alloc(const train_opts *o) {
    keep_freed_memory();
    trainer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (o) t->o = *o;
    else train_opts_default(&t->o);
    t->doc = yv_doc_new();
    if (!t->doc) {
        free(t);
        return NULL;
    }
    t->epoch_done = -1;
    t->last_opt_step = -1;
    t->iteration = -1;
    t->dev = TORCH_CPU;
    return t;
}

static void note(const trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const trainer *t, const char *fmt, ...) {
    if (!t->o.log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->o.log, fmt, ap);
    va_end(ap);
    fputc('\n', t->o.log);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Weights and architecture of a .pt to fine-tune from (ours or Ultralytics'). */
static yolo_status load_pretrained(trainer *t, const char *path, int nc) {
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st = ckpt_read(path, NULL, &doc, &root);
    if (st != YOLO_OK) return st;
    const yv *sd = ckptfmt_weights(doc, root, NULL);
    const char *yf = yv_as_str(yv_path(root, "yaml.yaml_file"));
    if (!yf) {
        const yv *net = yv_dict_get(root, "ema");
        if (!net || net->kind != YV_OBJECT) net = yv_dict_get(root, "model");
        if (net && net->kind == YV_OBJECT && net->obj.state) yf = yv_as_str(yv_path(net->obj.state, "yaml.yaml_file"));
    }
    if (!sd) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: holds no weights to start from", path);
    } else if (!yf) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: does not say which model YAML it was built from (give model=NAME.yaml "
                        "and pretrained=%s)", path, path);
    } else if ((st = build_model(t, yf, nc, false)) == YOLO_OK) {
        char msg[160];
        int n = 0;
        if ((st = model_load_state_dict(t->m, sd, &n, msg, sizeof msg)) == YOLO_OK) note(t, "%s", msg);
    }
    yv_doc_free(doc);
    return st;
}

yolo_status train_new(const char *args_yaml, const stream_header *hdr, const train_opts *o, trainer **out) {
    trainer *t = trainer_alloc(o);
    if (!t) return nomem();
    yolo_status st;
    dataset *ds = NULL;
    TRY(read_args_yaml(t->doc, args_yaml, &t->args));
    t->results = yv_new_dict(t->doc);
    t->metrics = yv_new_dict(t->doc);
    if (!t->results || !t->metrics) TRY(nomem());
    const char *model_name = arg_str(t->args, "model");
    if (!model_name) TRY(yolo_error(YOLO_ERR_USAGE, "%s: no model= (a model YAML such as yolov8n.yaml, or a .pt)", args_yaml));
    /* the run folder is where the weights go; data paths in args are taken as given */
    TRY(args_defaults(t->doc, t->args));
    /* the run folder is wherever the checkpoint lives; an absolute save_dir would pin it */
    yv_dict_del(t->args, "save_dir");
    TRY(load_settings(t));
    TRY(apply_process_opts(t));
    TRY(dataset_open(t->data, &ds));
    TRY(set_names(t, dataset_names(ds), dataset_nc(ds)));
    TRY(torch_manual_seed(t->seed));
    if (ends_with(model_name, ".pt")) {
        TRY(load_pretrained(t, model_name, t->nc));
    } else {
        TRY(build_model(t, model_name, t->nc, false));
        const char *pre = arg_str(t->args, "pretrained");
        if (pre && ends_with(pre, ".pt")) {
            yv_doc *pd = NULL;
            yv *root = NULL;
            TRY(ckpt_read(pre, NULL, &pd, &root));
            const yv *sd = ckptfmt_weights(pd, root, NULL);
            char msg[160];
            st = sd ? model_load_state_dict(t->m, sd, NULL, msg, sizeof msg)
                    : yolo_error(YOLO_ERR_FORMAT, "%s: holds no weights", pre);
            yv_doc_free(pd);
            if (st != YOLO_OK) goto done;
            note(t, "%s", msg);
        }
    }
    TRY(put(t->doc, t->args, "task", yv_new_str(t->doc, t->task)));
    if (hdr && strcmp(hdr->task, t->task))
        TRY(yolo_error(YOLO_ERR_USAGE, "the stream is for %s but model %s is a %s model", hdr->task, model_name, t->task));

    /* optimizer (spec §3.3): decay scaled by accumulation; auto from the run's iteration count */
    int64_t n_train = hdr ? hdr->total : 0;
    t->accumulate = sched_accumulate(t->nbs, t->batch);
    double wd = optim_scaled_weight_decay(arg_num(t->args, "weight_decay", 5e-4), t->batch, t->accumulate, t->nbs);
    const char *oname = arg_str(t->args, "optimizer");
    optim_kind kind;
    double lr = arg_num(t->args, "lr0", 0.01), mom = arg_num(t->args, "momentum", 0.937);
    if (!oname || !strcasecmp(oname, "auto")) {
        int64_t iters = sched_auto_iterations(n_train, t->batch, t->nbs, t->epochs);
        optim_resolve_auto(t->nc, iters, &kind, &lr, &mom);
        note(t, "optimizer: 'optimizer=auto' found, determining best 'optimizer', 'lr0' and 'momentum' "
                "automatically... %s(lr=%g, momentum=%g)", optim_kind_name(kind), lr, mom);
    } else {
        TRY(optim_parse_kind(oname, &kind));
    }
    TRY(build_optimizer(t, kind, lr, mom, wd));
    TRY(build_ema(t));
    t->threads = t->threads > 0 ? t->threads : all_cores();
    dataset_free(ds);
    *out = t;
    return YOLO_OK;
done:
    dataset_free(ds);
    train_free(t);
    return st;
}

void train_free(trainer *t) {
    if (!t) return;
    optim_free(t->opt);
    ema_free(t->ema);
    model_free(t->m);
    model_free(t->vm);
    modelcfg_free(t->cfg);
    if (t->names)
        for (int i = 0; i < t->nc; i++) free(t->names[i]);
    free(t->names);
    yv_doc_free(t->doc);
    free(t);
}

/* ------------------------------------------------------------------ restore */

static yolo_status tensor_from_yv(const yv *v, torch_tensor *dst, const char *what) {
    if (!v || v->kind != YV_TENSOR) return yolo_error(YOLO_ERR_FORMAT, "%s: missing", what);
    int64_t n = yv_tensor_numel(&v->tensor);
    if (n != torch_numel(dst)) return yolo_error(YOLO_ERR_FORMAT, "%s: %" PRId64 " elements, expected %" PRId64, what, n, torch_numel(dst));
    yolo_status st;
    const void *raw = yv_tensor_is_contiguous(&v->tensor) ? yv_tensor_data(&v->tensor) : NULL;
    /* a row-major tensor of the destination's type goes straight in (the checkpoint's own tensors) */
    if (raw && v->tensor.dtype == YDT_F32 && torch_dtype_of(dst) == TORCH_F32) return torch_copy_in(dst, raw, TORCH_F32, n);
    if (raw && v->tensor.dtype == YDT_I64 && torch_dtype_of(dst) == TORCH_I64) return torch_copy_in(dst, raw, TORCH_I64, n);
    if (torch_dtype_of(dst) == TORCH_I64) {
        double *b = malloc(sizeof(double) * (size_t)(n ? n : 1));
        int64_t *ib = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        st = b && ib ? yv_tensor_to_f64(&v->tensor, b) : nomem();
        for (int64_t k = 0; st == YOLO_OK && k < n; k++) ib[k] = (int64_t)b[k];
        if (st == YOLO_OK) st = torch_copy_in(dst, ib, TORCH_I64, n);
        free(b);
        free(ib);
    } else {
        float *b = malloc(sizeof(float) * (size_t)(n ? n : 1));
        st = b ? yv_tensor_to_f32(&v->tensor, b) : nomem();
        if (st == YOLO_OK) st = torch_copy_in(dst, b, TORCH_F32, n);
        free(b);
    }
    return st;
}

static yolo_status restore_grads(trainer *t, const yv *grads) {
    if (!grads || grads->kind != YV_DICT) return YOLO_OK;
    yolo_status st = YOLO_OK;
    for (size_t i = 0; i < grads->dict.n && st == YOLO_OK; i++) {
        const char *name = yv_as_str(grads->dict.keys[i]);
        int k = name ? model_param_find(t->m, name) : -1;
        if (k < 0) return yolo_error(YOLO_ERR_FORMAT, "accumulate.grads: unknown parameter %s", name ? name : "?");
        torch_tensor *p = model_tensor(t->m, k), *g = NULL;
        int64_t shape[8];
        int nd = torch_shape(p, shape, 8);
        st = torch_zeros(nd, shape, TORCH_F32, torch_device_of(p), &g);
        if (st == YOLO_OK) st = tensor_from_yv(grads->dict.vals[i], g, name);
        if (st == YOLO_OK) st = tt_set_grad(p, g);
        torch_free(g);
    }
    return st;
}

/* The optimizer layout of yolo-checkpoint(5) (name, param_groups, state), which imported Ultralytics
 * files use, in the form optim_state_load reads (optimizer, groups, state). */
static yolo_status optim_state_adapt(yv_doc *doc, const yv *os, const yv **out) {
    *out = os;
    if (!os || os->kind != YV_DICT || yv_dict_get(os, "optimizer")) return YOLO_OK;
    const char *name = yv_as_str(yv_dict_get(os, "name"));
    const char *keyed = yv_as_str(yv_dict_get(os, "keyed_by"));
    const yv *pgs = yv_dict_get(os, "param_groups"), *state = yv_dict_get(os, "state");
    if (!name || !pgs || pgs->kind != YV_LIST || !state || state->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: neither our layout nor yolo-checkpoint(5)'s");
    if (keyed && strcmp(keyed, "name"))
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state is keyed by parameter id, not name (it cannot be matched "
                          "to the model; start a new run from these weights)");
    yolo_status st;
    yv *r = yv_new_dict(doc), *groups = yv_new_list(doc), *ns = yv_new_dict(doc);
    if (!r || !groups || !ns) return nomem();
    if ((st = put(doc, r, "optimizer", yv_new_str(doc, name)))) return st;
    static const char *const order[3] = {"weight", "bn", "bias"};
    for (int g = 0; g < 3; g++) {
        const yv *pg = NULL;
        for (size_t i = 0; i < pgs->seq.n && !pg; i++) {
            const char *label = yv_as_str(yv_dict_get(pgs->seq.items[i], "param_group"));
            if (label ? !strcmp(label, order[g]) : (int)i == g) pg = pgs->seq.items[i];
        }
        if (!pg) return yolo_error(YOLO_ERR_FORMAT, "optimizer state: no %s parameter group", order[g]);
        yv *d = yv_new_dict(doc);
        if (!d) return nomem();
        double lr = arg_num(pg, "lr", 0), mom = arg_num(pg, "momentum", NAN), beta2 = 0.999;
        const yv *betas = yv_dict_get(pg, "betas");
        if (betas && (betas->kind == YV_LIST || betas->kind == YV_TUPLE) && betas->seq.n == 2) {
            yv_as_double(betas->seq.items[0], &mom);
            yv_as_double(betas->seq.items[1], &beta2);
        }
        if ((st = put(doc, d, "lr", yv_new_float(doc, lr))) ||
            (st = put(doc, d, "initial_lr", yv_new_float(doc, arg_num(pg, "initial_lr", lr)))) ||
            (st = put(doc, d, "momentum", yv_new_float(doc, isnan(mom) ? 0 : mom))) ||
            (st = put(doc, d, "beta2", yv_new_float(doc, beta2))) ||
            (st = put(doc, d, "eps", yv_new_float(doc, arg_num(pg, "eps", 1e-8)))) ||
            (st = put(doc, d, "weight_decay", yv_new_float(doc, arg_num(pg, "weight_decay", 0)))) ||
            (st = put(doc, d, "nesterov", yv_new_bool(doc, yv_is_truthy(yv_dict_get(pg, "nesterov"))))) ||
            (st = put(doc, d, "params", (yv *)yv_dict_get(pg, "params"))) || (st = yv_seq_push(doc, groups, d)))
            return st;
    }
    for (size_t i = 0; i < state->dict.n; i++) {
        const yv *ps = state->dict.vals[i];
        const char *pn = yv_as_str(state->dict.keys[i]);
        if (!pn || !ps || ps->kind != YV_DICT) continue;
        yv *d = yv_new_dict(doc);
        if (!d) return nomem();
        for (size_t j = 0; j < ps->dict.n; j++) {
            const char *k = yv_as_str(ps->dict.keys[j]);
            if (!k) continue;
            double step;
            if (!strcmp(k, "step") && yv_as_double(ps->dict.vals[j], &step)) st = put(doc, d, "step", yv_new_float(doc, step));
            else st = put(doc, d, k, ps->dict.vals[j]);
            if (st) return st;
        }
        if ((st = put(doc, ns, pn, d))) return st;
    }
    if ((st = put(doc, r, "groups", groups)) || (st = put(doc, r, "state", ns))) return st;
    *out = r;
    return YOLO_OK;
}

yolo_status train_open(const char *path, const train_opts *o, trainer **out) {
    trainer *t = trainer_alloc(o);
    if (!t) return nomem();
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st;
    char why[256];
    TRY(ckpt_read(path, NULL, &doc, &root));
    if (!yv_dict_get(root, CKPTFMT_KEY_FORMAT)) {
        ckptfmt_kind_t kind = ckptfmt_kind(root);
        TRY(yolo_error(YOLO_ERR_FORMAT, "%s: %s, not one of ours (convert it with 'yolo-ckpt import', or start a new "
                       "run from it with model=%s)", path, ckptfmt_kind_describe(kind), path));
    }
    if (!ckptfmt_resumable(root, why, sizeof why))
        TRY(yolo_error(YOLO_ERR_USAGE, "%s: cannot continue: %s (start a new run with model=%s to train on from "
                       "these weights)", path, why, path));
    lock_run_dir(path, t->run_dir, sizeof t->run_dir);
    t->args = copy_plain(t->doc, yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS), 0);
    if (!t->args || t->args->kind != YV_DICT) TRY(yolo_error(YOLO_ERR_FORMAT, "%s: no train_args", path));
    const yv *res = yv_dict_get(root, CKPTFMT_KEY_TRAIN_RESULTS);
    t->results = res && res->kind == YV_DICT ? copy_plain(t->doc, res, 0) : yv_new_dict(t->doc);
    const yv *met = yv_dict_get(root, CKPTFMT_KEY_TRAIN_METRICS);
    t->metrics = met && met->kind == YV_DICT ? copy_plain(t->doc, met, 0) : yv_new_dict(t->doc);
    if (!t->results || !t->metrics) TRY(nomem());
    const yv *table = yv_dict_get(root, CKPTFMT_KEY_VAL_TABLE);
    if (yv_as_str(table)) t->val_table = copy_plain(t->doc, table, 0);
    TRY(args_defaults(t->doc, t->args));
    TRY(load_settings(t));
    struct stat dsb;
    if (stat(t->data, &dsb) != 0)
        TRY(yolo_error(YOLO_ERR_NOTFOUND, "%s: the run's dataset %s is not there (put it back, or set the path with "
                       "'yolo-ckpt set %s data=PATH')", path, t->data, path));
    int64_t v;
    if (arg_int(root, CKPTFMT_KEY_THREADS, &v) && v > 0) t->threads = (int)v;
    int batch_before = t->batch;
    TRY(apply_process_opts(t));

    /* architecture and classes */
    const yv *names = yv_dict_get(root, CKPTFMT_KEY_NAMES);
    int64_t nc = 0;
    if (!arg_int(root, CKPTFMT_KEY_NC, &nc) || nc < 1 || !names || names->kind != YV_DICT)
        TRY(yolo_error(YOLO_ERR_FORMAT, "%s: nc or names missing", path));
    char **nm = calloc((size_t)nc, sizeof *nm);
    if (!nm) TRY(nomem());
    for (size_t i = 0; i < names->dict.n; i++) {
        int64_t k;
        if (yv_as_int(names->dict.keys[i], &k) && k >= 0 && k < nc) nm[k] = (char *)yv_as_str(names->dict.vals[i]);
    }
    st = set_names(t, (const char *const *)nm, (int)nc);
    free(nm);
    if (st != YOLO_OK) goto done;
    const char *yf = yv_as_str(yv_path(root, "yaml.yaml_file"));
    if (!yf) yf = arg_str(t->args, "model");
    if (!yf) TRY(yolo_error(YOLO_ERR_FORMAT, "%s: does not name its model YAML", path));
    TRY(build_model(t, yf, (int)nc, true));
    int n_loaded = 0;
    const yv *msd = yv_dict_get(root, CKPTFMT_KEY_MODEL);
    TRY(model_load_state_dict(t->m, msd, &n_loaded, NULL, 0));
    if (n_loaded != model_param_count(t->m))
        TRY(yolo_error(YOLO_ERR_FORMAT, "%s: model holds %d of the %d tensors of %s", path, n_loaded,
                       model_param_count(t->m), yf));
    TRY(build_ema(t));
    const yv *esd = yv_dict_get(root, CKPTFMT_KEY_EMA);
    if (esd && esd->kind == YV_DICT)
        for (int i = 0; i < ema_count(t->ema); i++)
            TRY(tensor_from_yv(yv_dict_get(esd, ema_name(t->ema, i)), ema_tensor(t->ema, i), ema_name(t->ema, i)));
    if (arg_int(root, CKPTFMT_KEY_UPDATES, &v)) ema_set_updates(t->ema, v);

    const yv *os = NULL;
    TRY(optim_state_adapt(doc, yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER), &os));
    const char *okind = yv_as_str(yv_dict_get(os, "optimizer"));
    optim_kind kind;
    if (!okind) TRY(yolo_error(YOLO_ERR_FORMAT, "%s: optimizer state has no kind", path));
    TRY(optim_parse_kind(okind, &kind));
    TRY(build_optimizer(t, kind, 0, 0, 0));
    TRY(optim_state_load(t->opt, os));

    t->epoch_done = arg_int(root, CKPTFMT_KEY_EPOCH, &v) ? (int)v : -1;
    const yv *bf = yv_dict_get(root, CKPTFMT_KEY_BEST_FITNESS);
    t->have_best = bf && yv_as_double(bf, &t->best_fitness);
    const yv *stp = yv_dict_get(root, CKPTFMT_KEY_STOPPER);
    t->st_best_fitness = arg_num(stp, "best_fitness", 0);
    t->st_best_epoch = arg_int(stp, "best_epoch", &v) ? (int)v : 0;
    t->st_possible_stop = yv_is_truthy(yv_dict_get(stp, "possible_stop"));
    t->st_stopped = yv_is_truthy(yv_dict_get(stp, "stopped"));
    const yv *acc = yv_dict_get(root, CKPTFMT_KEY_ACCUMULATE);
    t->accumulate = arg_int(acc, "accumulate", &v) && v >= 1 ? (int)v : sched_accumulate(t->nbs, t->batch);
    /* a new batch size starts from its own accumulation count; warmup recomputes it anyway */
    if (t->batch != batch_before) t->accumulate = sched_accumulate(t->nbs, t->batch);
    /* an imported file has no step history: the first batch steps, as Ultralytics' resume does */
    t->last_opt_step = arg_int(acc, "last_opt_step", &v) ? v : -1;
    t->iteration = arg_int(acc, "iteration", &v) ? v : -1;
    TRY(restore_grads(t, yv_dict_get(acc, "grads")));
    const yv *pos = yv_dict_get(root, CKPTFMT_KEY_POSITION);
    if (pos && pos->kind == YV_DICT) {
        int64_t pe = -1;
        arg_int(pos, "epoch", &pe);
        if (pe != t->epoch_done + 1) TRY(yolo_error(YOLO_ERR_FORMAT, "%s: position is in epoch %" PRId64 " but epoch %d is the next", path, pe, t->epoch_done + 2));
        arg_int(pos, "batch", &t->pos_batch);
        arg_int(pos, "seen", &t->pos_seen);
        arg_int(pos, "nb", &t->pos_nb);
        const yv *tl = yv_dict_get(pos, "tloss");
        for (size_t i = 0; tl && tl->kind == YV_LIST && i < tl->seq.n && i < 5; i++) {
            double d = 0;
            yv_as_double(tl->seq.items[i], &d);
            t->tloss[i] = (float)d;
        }
        if (t->batch != batch_before && t->pos_seen % t->batch)
            TRY(yolo_error(YOLO_ERR_USAGE, "%s: saved %" PRId64 " samples into epoch %d, which is not a whole number of "
                           "batches of %d (change batch= at an epoch boundary, or resume with batch=%d)",
                           path, t->pos_seen, t->epoch_done + 2, t->batch, batch_before));
        t->pos_batch = t->pos_seen / t->batch;
    }
    t->time_total = 0;
    const yv *tcol = yv_dict_get(t->results, "time");
    if (tcol && tcol->kind == YV_LIST && tcol->seq.n) yv_as_double(tcol->seq.items[tcol->seq.n - 1], &t->time_total);
    if (pos && pos->kind == YV_DICT) {
        double el = 0;
        if (yv_as_double(yv_dict_get(pos, "time"), &el)) t->time_total = el;
    }
    yv_doc_free(doc);
    *out = t;
    return YOLO_OK;
done:
    yv_doc_free(doc);
    train_free(t);
    return st;
}

/* ------------------------------------------------------------------ expectations */

void train_expected(const trainer *t, train_expect *e) {
    e->epoch = t->epoch_done + 1;
    e->epochs = t->epochs;
    e->from = t->pos_seen;
    e->seed = t->seed;
    e->imgsz = t->imgsz;
    e->task = t->task;
    e->data = t->data;
}

yolo_status train_check_header(const trainer *t, const stream_header *h) {
    train_expect e;
    train_expected(t, &e);
    char want[512];
    snprintf(want, sizeof want, "yolo-data %.300s --split train --epoch %d --epochs %d --seed %" PRIu64 " --imgsz %d",
             e.data, e.epoch, e.epochs, e.seed, e.imgsz);
    char fromarg[48] = "";
    if (e.from) snprintf(fromarg, sizeof fromarg, " --from %" PRId64, e.from);
#define BAD(...)                                                                                                       \
    do {                                                                                                               \
        char what[256];                                                                                                \
        snprintf(what, sizeof what, __VA_ARGS__);                                                                      \
        return yolo_error(YOLO_ERR_FORMAT, "stdin: %s (expected the stream of: %s%s)", what, want, fromarg);            \
    } while (0)
    if (strcmp(h->split, "train")) BAD("a %s stream, not a train stream", h->split);
    if (strcmp(h->task, t->task)) BAD("a %s stream for a %s model", h->task, t->task);
    if (h->epoch != e.epoch) BAD("stream of epoch %d, the checkpoint is at epoch %d", h->epoch, e.epoch);
    if (h->seed != e.seed) BAD("stream seed %" PRIu64 ", the run's seed is %" PRIu64, h->seed, e.seed);
    if (h->imgsz != e.imgsz) BAD("stream imgsz %d, the run's imgsz is %d", h->imgsz, e.imgsz);
    if (h->from != e.from) BAD("stream starts at sample %" PRId64 ", the checkpoint continues at %" PRId64, h->from, e.from);
    if (h->shard_n > 1) BAD("a shard (%d/%d); merge the shards first", h->shard_k, h->shard_n);
    if (h->epochs && h->epochs != e.epochs) BAD("stream made for %d epochs, the run has %d", h->epochs, e.epochs);
    if (h->nc != t->nc) BAD("stream has %d classes, the model %d", h->nc, t->nc);
    if (h->count != h->total - h->from) BAD("stream holds %" PRId64 " of the %" PRId64 " samples after %" PRId64, h->count, h->total, h->from);
#undef BAD
    return YOLO_OK;
}

/* ------------------------------------------------------------------ batches */

typedef struct {
    torch_tensor *img, *batch_idx, *cls, *bboxes, *masks, *labels;
    int n, n_inst, h, w;
} batch_t;

static void batch_free(batch_t *b) {
    torch_freep(&b->img), torch_freep(&b->batch_idx), torch_freep(&b->cls), torch_freep(&b->bboxes);
    torch_freep(&b->masks), torch_freep(&b->labels);
}

/* Stacks samples into NCHW float images in [0,1] (uint8 / 255 as the reference divides) and the
 * concatenated targets. */
static yolo_status make_batch(const trainer *t, stream_sample *v, int n, batch_t *b) {
    yolo_status st = YOLO_OK;
    int h = v[0].s.img.h, w = v[0].s.img.w;
    for (int k = 0; k < n; k++)
        if (v[k].s.img.h != h || v[k].s.img.w != w || v[k].s.img.c != 3)
            return yolo_error(YOLO_ERR_FORMAT, "stream sample %" PRId64 " is %dx%d, the batch is %dx%d", v[k].i,
                              v[k].s.img.w, v[k].s.img.h, w, h);
    size_t plane = (size_t)h * w;
    uint8_t *px = malloc(plane * 3 * (size_t)n);
    if (!px) return nomem();
    int ninst = 0;
    for (int k = 0; k < n; k++) {
        const uint8_t *src = v[k].s.img.px;
        uint8_t *dst = px + plane * 3 * (size_t)k;
        for (size_t p = 0; p < plane; p++) {
            dst[p] = src[3 * p];
            dst[plane + p] = src[3 * p + 1];
            dst[2 * plane + p] = src[3 * p + 2];
        }
        ninst += v[k].s.n;
    }
    int64_t shape[4] = {n, 3, h, w};
    torch_tensor *u8 = NULL;
    st = torch_from_data(px, TORCH_U8, 4, shape, &u8);
    free(px);
    if (st == YOLO_OK) st = torch_to(u8, TORCH_F32, t->dev, &b->img);
    torch_free(u8);
    if (st == YOLO_OK) st = tt_div_scalar(b->img, 255.0, &b->img);
    if (st != YOLO_OK) return st;
    b->n = n, b->h = h, b->w = w, b->n_inst = ninst;
    if (!strcmp(t->task, "classify")) {
        int64_t *lab = malloc(sizeof *lab * (size_t)n);
        if (!lab) return nomem();
        for (int k = 0; k < n; k++) lab[k] = v[k].s.label;
        int64_t ls[1] = {n};
        st = torch_from_data(lab, TORCH_I64, 1, ls, &b->labels);
        free(lab);
        if (st == YOLO_OK && t->dev != TORCH_CPU) st = torch_to(b->labels, TORCH_I64, t->dev, &b->labels);
        b->n_inst = n;
        return st;
    }
    size_t N = (size_t)ninst;
    float *bi = malloc(sizeof(float) * (N ? N : 1)), *cl = malloc(sizeof(float) * (N ? N : 1)),
          *bx = malloc(sizeof(float) * 4 * (N ? N : 1));
    if (!bi || !cl || !bx) st = nomem();
    size_t j = 0;
    for (int k = 0; st == YOLO_OK && k < n; k++)
        for (int q = 0; q < v[k].s.n; q++, j++) {
            bi[j] = (float)k;
            cl[j] = (float)v[k].s.cls[q];
            memcpy(bx + 4 * j, v[k].s.boxes + 4 * (size_t)q, 4 * sizeof(float));
        }
    int64_t s1[1] = {(int64_t)N}, s2[2] = {(int64_t)N, 1}, s4[2] = {(int64_t)N, 4};
    if (st == YOLO_OK) st = torch_from_data(bi, TORCH_F32, 1, s1, &b->batch_idx);
    if (st == YOLO_OK) st = torch_from_data(cl, TORCH_F32, 2, s2, &b->cls);
    if (st == YOLO_OK) st = torch_from_data(bx, TORCH_F32, 2, s4, &b->bboxes);
    free(bi), free(cl), free(bx);
    if (st == YOLO_OK && t->dev != TORCH_CPU) {
        st = torch_to(b->batch_idx, TORCH_F32, t->dev, &b->batch_idx);
        if (st == YOLO_OK) st = torch_to(b->cls, TORCH_F32, t->dev, &b->cls);
        if (st == YOLO_OK) st = torch_to(b->bboxes, TORCH_F32, t->dev, &b->bboxes);
    }
    if (st == YOLO_OK && !strcmp(t->task, "segment")) {
        int mh = v[0].mask_h, mw = v[0].mask_w;
        for (int k = 0; k < n; k++)
            if (!v[k].mask || v[k].mask_h != mh || v[k].mask_w != mw)
                return yolo_error(YOLO_ERR_FORMAT, "stream sample %" PRId64 " has no %dx%d mask (a segment stream "
                                  "needs overlap masks)", v[k].i, mw, mh);
        float *mk = malloc(sizeof(float) * (size_t)n * mh * mw);
        if (!mk) return nomem();
        for (size_t p = 0; p < (size_t)n * mh * mw; p++) mk[p] = v[p / ((size_t)mh * mw)].mask[p % ((size_t)mh * mw)];
        int64_t ms[3] = {n, mh, mw};
        st = torch_from_data(mk, TORCH_F32, 3, ms, &b->masks);
        free(mk);
        if (st == YOLO_OK && t->dev != TORCH_CPU) st = torch_to(b->masks, TORCH_F32, t->dev, &b->masks);
    }
    return st;
}

static void loss_setup(const trainer *t, loss_cfg *lc) {
    int nl = 0;
    const double *strides = model_strides(t->m, &nl);
    loss_cfg_default(lc, t->nc, strides, nl);
    lc->box = t->box, lc->cls = t->cls, lc->dfl = t->dfl;
}

/* Forward and loss of one batch with model m (train or eval mode as set). */
static yolo_status output_loss(const trainer *t, const batch_t *b, model_output *mo, loss_output *lo) {
    if (!strcmp(t->task, "classify")) return loss_classify(mo->logits, b->labels, lo);
    loss_cfg lc;
    loss_setup(t, &lc);
    loss_targets tg = {b->batch_idx, b->cls, b->bboxes};
    if (!strcmp(t->task, "segment"))
        return loss_segment(&lc, mo->boxes, mo->scores, (const int64_t(*)[2])mo->level_hw, mo->mask_coeffs, mo->proto,
                            b->masks, &tg, lo);
    return loss_detect_flat(&lc, mo->boxes, mo->scores, (const int64_t(*)[2])mo->level_hw, &tg, lo);
}

static yolo_status batch_loss(const trainer *t, model *m, const batch_t *b, model_output *mo, loss_output *lo) {
    yolo_status st = model_forward(m, b->img, mo);
    return st == YOLO_OK ? output_loss(t, b, mo, lo) : st;
}

static bool is_oom(yolo_status st) {
    if (st == YOLO_ERR_NOMEM) return true;
    const char *m = yolo_last_error();
    return strstr(m, "out of memory") || strstr(m, "can't allocate memory") || strstr(m, "CUDA out of memory");
}

static yolo_status model_state_update_ema(trainer *t) {
    int n = model_param_count(t->m);
    const torch_tensor **s = calloc((size_t)n, sizeof *s);
    if (!s) return nomem();
    for (int i = 0; i < n; i++) s[i] = model_tensor(t->m, i);
    yolo_status st = ema_update(t->ema, s, n);
    free(s);
    return st;
}

/* One training batch at global iteration ni. */
static yolo_status train_step(trainer *t, const batch_t *b, int epoch, int64_t ni, int64_t nw, float *items, int *nitems) {
    if (nw >= 0 && ni <= nw) {
        sched_warmup_accumulate(&t->sc, ni, nw, &t->accumulate);
        for (int g = 0; g < OPTIM_NGROUPS; g++) {
            double lr;
            sched_warmup_lr(&t->sc, ni, nw, epoch, optim_get_initial_lr(t->opt, g), g == OPTIM_GROUP_BIAS, &lr);
            optim_set_lr(t->opt, g, lr);
            double mom;
            if (optim_get_kind(t->opt) == OPTIM_SGD && sched_warmup_momentum(&t->sc, ni, nw, &mom))
                optim_set_momentum(t->opt, g, mom);
        }
    }
    model_output mo;
    memset(&mo, 0, sizeof mo);
    loss_output lo;
    memset(&lo, 0, sizeof lo);
    model_set_training(t->m, true);
    double c0 = now_s();
    yolo_status st = model_forward(t->m, b->img, &mo);
    double c1 = now_s();
    if (st == YOLO_OK) st = output_loss(t, b, &mo, &lo);
    double c2 = now_s();
    t->prof[PROF_FORWARD] += c1 - c0;
    t->prof[PROF_LOSS] += c2 - c1;
    if (st == YOLO_OK) {
        *nitems = lo.n_items;
        memcpy(items, lo.items, sizeof lo.items);
        double tot = 0;
        st = torch_item(lo.total, &tot);
        if (st == YOLO_OK && !isfinite(tot))
            st = yolo_error(YOLO_ERR_FORMAT, "the loss is %s at epoch %d, batch %" PRId64 " (lower lr0, or check the "
                            "labels; the checkpoint was not changed)", isnan(tot) ? "NaN" : "infinite", epoch + 1,
                            ni - (int64_t)t->pos_nb * epoch + 1);
    }
    /* the training scale is what backward sees: items x batch size for detect/segment */
    if (st == YOLO_OK) st = torch_backward(lo.total, NULL, false);
    loss_output_free(&lo);
    model_output_free(&mo);
    double c3 = now_s();
    t->prof[PROF_BACKWARD] += c3 - c2;
    if (st != YOLO_OK) return st;
    if (sched_should_step(ni, t->last_opt_step, t->accumulate)) {
        double norm;
        if ((st = optim_clip_step_zero(t->opt, 10.0, &norm)) != YOLO_OK) return st;
        double c4 = now_s();
        if ((st = model_state_update_ema(t)) != YOLO_OK) return st;
        t->prof[PROF_OPTIM] += c4 - c3;
        t->prof[PROF_EMA] += now_s() - c4;
        t->last_opt_step = ni;
    }
    t->iteration = ni;
    return YOLO_OK;
}

/* ------------------------------------------------------------------ validation */

typedef struct {
    bool done;
    int n;
    const char *keys[12];
    double vals[12];
    double fitness;
    double vloss[5];
} val_result;

static yolo_status prepare_val_model(trainer *t) {
    yolo_status st;
    if (!t->vm && (st = model_build_blank(t->cfg, t->dev, &t->vm)) != YOLO_OK) return st;
    bool was = torch_set_grad_enabled(false);
    st = YOLO_OK;
    for (int i = 0; i < ema_count(t->ema) && st == YOLO_OK; i++) st = torch_copy_(model_tensor(t->vm, i), ema_tensor(t->ema, i));
    torch_set_grad_enabled(was);
    model_set_training(t->vm, false);
    return st;
}

typedef struct {
    metrics_det *det, *mask;
    metrics_cls cls;
    double vloss[5];
    int64_t nbatches;
} val_acc;

/* Mask metrics of one image: predicted masks from the prototypes (at proto resolution, as the
 * validator in training), GT instances from the overlap map, matched by mask IoU. */
static yolo_status val_masks(const stream_sample *v, const float *proto, int nm, int64_t mh, int64_t mw,
                             const nms_dets *d, const float *gc, metrics_det *acc) {
    const sample *s = &v->s;
    int64_t npix = mh * mw;
    if (!v->mask || v->mask_h != mh || v->mask_w != mw)
        return yolo_error(YOLO_ERR_FORMAT, "val sample %" PRId64 ": no %" PRId64 "x%" PRId64 " mask for the %" PRId64
                          "x%" PRId64 " prototypes", v->i, mw, mh, mw, mh);
    uint8_t *ov = malloc((size_t)npix), *gm = malloc((size_t)npix * (s->n + 1)), *pm = malloc((size_t)npix * (d->n + 1));
    float *iou = malloc(sizeof(float) * (size_t)(s->n + 1) * (d->n + 1));
    yolo_status st = ov && gm && pm && iou ? YOLO_OK : nomem();
    if (st == YOLO_OK) {
        for (int64_t p = 0; p < npix; p++) ov[p] = v->mask[p] > 255 ? 255 : (uint8_t)v->mask[p];
        metrics_masks_from_overlap(ov, npix, s->n, gm);
        if (d->n)
            st = metrics_process_mask(proto, nm, (int)mh, (int)mw, d->rows + 6, d->cols, d->rows, d->cols, d->n,
                                      s->img.h, s->img.w, pm);
    }
    if (st == YOLO_OK) {
        metrics_mask_iou(gm, s->n, pm, d->n, npix, iou);
        st = metrics_det_add_iou(acc, iou, d->rows ? d->rows + 4 : NULL, d->cols, d->rows ? d->rows + 5 : NULL, d->cols,
                                 d->n, gc, s->n);
    }
    free(ov), free(gm), free(pm), free(iou);
    return st;
}

static yolo_status val_batch(trainer *t, stream_sample *v, int n, val_acc *acc) {
    batch_t b;
    memset(&b, 0, sizeof b);
    model_output mo;
    memset(&mo, 0, sizeof mo);
    loss_output lo;
    memset(&lo, 0, sizeof lo);
    float *pred = NULL, *gt = NULL, *gc = NULL, *proto = NULL;
    yolo_status st = make_batch(t, v, n, &b);
    if (st == YOLO_OK) st = batch_loss(t, t->vm, &b, &mo, &lo);
    if (st != YOLO_OK) goto done;
    for (int k = 0; k < lo.n_items && k < 5; k++) acc->vloss[k] += lo.items[k];
    acc->nbatches++;
    if (!strcmp(t->task, "classify")) {
        int64_t cnt = (int64_t)n * t->nc;
        pred = malloc(sizeof(float) * (size_t)cnt);
        int64_t *lab = malloc(sizeof *lab * (size_t)n);
        if (!pred || !lab) st = nomem();
        if (st == YOLO_OK) st = torch_copy_out(mo.pred, TORCH_F32, pred, cnt);
        for (int k = 0; k < n && lab; k++) lab[k] = v[k].s.label;
        if (st == YOLO_OK) st = metrics_cls_add(&acc->cls, pred, n, t->nc, lab);
        free(lab);
        goto done;
    }
    int64_t rows = torch_size(mo.pred, 1), A = torch_size(mo.pred, 2);
    int nm = (int)(rows - 4 - t->nc);
    pred = malloc(sizeof(float) * (size_t)(n * rows * A));
    if (!pred) TRY(nomem());
    TRY(torch_copy_out(mo.pred, TORCH_F32, pred, n * rows * A));
    nms_opts no;
    nms_opts_default(&no);
    int64_t mh = 0, mw = 0, npix = 0;
    if (acc->mask) {
        mh = torch_size(mo.proto, 2), mw = torch_size(mo.proto, 3), npix = mh * mw;
        proto = malloc(sizeof(float) * (size_t)(n * nm * npix));
        if (!proto) TRY(nomem());
        TRY(torch_copy_out(mo.proto, TORCH_F32, proto, n * nm * npix));
    }
    for (int k = 0; k < n; k++) {
        nms_dets d;
        memset(&d, 0, sizeof d);
        st = nms_run(pred + (size_t)k * rows * A, t->nc, nm, (int)A, &no, &d);
        const sample *s = &v[k].s;
        float *g1 = realloc(gt, sizeof(float) * 4 * (size_t)(s->n + 1)), *g2 = g1 ? realloc(gc, sizeof(float) * (size_t)(s->n + 1)) : NULL;
        if (g1) gt = g1;
        if (g2) gc = g2;
        if (st == YOLO_OK && (!g1 || !g2)) st = nomem();
        /* matching happens in the letterboxed input, where the labels are normalised */
        for (int q = 0; st == YOLO_OK && q < s->n; q++) {
            const float *bx = s->boxes + 4 * (size_t)q;
            float W = (float)s->img.w, H = (float)s->img.h;
            gt[4 * q] = (bx[0] - bx[2] / 2) * W, gt[4 * q + 1] = (bx[1] - bx[3] / 2) * H;
            gt[4 * q + 2] = (bx[0] + bx[2] / 2) * W, gt[4 * q + 3] = (bx[1] + bx[3] / 2) * H;
            gc[q] = (float)s->cls[q];
        }
        if (st == YOLO_OK)
            st = metrics_det_add(acc->det, d.rows, d.cols, d.rows ? d.rows + 4 : NULL, d.cols, d.rows ? d.rows + 5 : NULL,
                                 d.cols, d.n, gt, gc, s->n);
        if (st == YOLO_OK && acc->mask) st = val_masks(v + k, proto + (size_t)k * nm * npix, nm, mh, mw, &d, gc, acc->mask);
        nms_dets_free(&d);
        if (st != YOLO_OK) break;
    }
done:
    free(pred), free(gt), free(gc), free(proto);
    loss_output_free(&lo);
    model_output_free(&mo);
    batch_free(&b);
    return st;
}

/* Samples of a rect val split in batches of equal shape (at most bs). */
static yolo_status val_run_samples(trainer *t, int64_t total, int bs, yolo_status (*next)(void *, stream_sample *, int *),
                                   void *ctx, val_acc *acc) {
    stream_sample *v = calloc((size_t)bs, sizeof *v);
    if (!v) return nomem();
    for (int k = 0; k < bs; k++) stream_sample_init(&v[k]);
    yolo_status st = YOLO_OK;
    int have = 0;
    stream_sample pending;
    stream_sample_init(&pending);
    bool has_pending = false;
    for (int64_t i = 0; i <= total && st == YOLO_OK; i++) {
        int got = 0;
        if (i < total) {
            st = next(ctx, &pending, &got);
            if (st != YOLO_OK) break;
            has_pending = got;
        } else {
            has_pending = false;
        }
        bool flush = have && (!has_pending || have == bs || pending.s.img.h != v[0].s.img.h || pending.s.img.w != v[0].s.img.w);
        if (flush) {
            st = val_batch(t, v, have, acc);
            have = 0;
        }
        if (has_pending && st == YOLO_OK) {
            stream_sample_free(&v[have]);
            v[have] = pending;
            stream_sample_init(&pending);
            have++;
        }
        if (i < total && !got) break;
    }
    if (st == YOLO_OK && have) st = val_batch(t, v, have, acc);
    stream_sample_free(&pending);
    for (int k = 0; k < bs; k++) stream_sample_free(&v[k]);
    free(v);
    return st;
}

typedef struct {
    pipeline *p;
    int64_t i;
    stream_reader *r;
} val_src;

static yolo_status next_from_pipeline(void *ctx, stream_sample *s, int *got) {
    val_src *vs = ctx;
    yolo_status st = pipeline_make(vs->p, vs->i++, s);
    *got = st == YOLO_OK;
    return st;
}

static yolo_status next_from_stream(void *ctx, stream_sample *s, int *got) {
    val_src *vs = ctx;
    return stream_reader_next(vs->r, s, got);
}

/* The per-class table of this validation, kept in the checkpoint: `yolo` prints best.pt's at the end,
 * as Ultralytics does, without validating it again (it would give the same numbers). */
static yolo_status keep_val_table(trainer *t, const metrics_ap *box, const metrics_ap *mask) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return nomem();
    metrics_print_table(f, box, mask, (const char *const *)t->names, true);
    bool ok = fclose(f) == 0;
    yv *v = ok ? yv_new_strn(t->doc, text, len) : NULL;
    free(text);
    if (!v) return nomem();
    t->val_table = v;
    return YOLO_OK;
}

static yolo_status validate(trainer *t, int epoch, val_result *vr) {
    memset(vr, 0, sizeof *vr);
    vr->fitness = NAN;
    yolo_status st;
    dataset *ds = NULL;
    dataset_split *sp = NULL;
    pipeline *p = NULL;
    FILE *vf = NULL;
    val_acc acc;
    memset(&acc, 0, sizeof acc);
    bool cls = !strcmp(t->task, "classify");
    bool was = torch_set_grad_enabled(false);
#ifdef M_MMAP_THRESHOLD
    /* The training steps' freed activations stay in the heap (keep_freed_memory), resident; and
     * validation's blocks (twice the batch, other shapes) mostly miss their holes, so the peak RSS
     * would grow by another 66 MB. Handing the free pages back first (8 ms) and mapping validation's
     * blocks over 4 MiB on their own, given back on free, keeps the peak at the training's
     * (fashion_det256, 128 px: 427-430 MiB at 1 and 2 threads instead of 467-480), for ~60k page
     * faults (~0.05 s). It stays in force: after validation only the save follows. */
    malloc_trim(0);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
    val_src src = {0};
    int64_t total = 0;
    int bs = 2 * t->batch;
    TRY(prepare_val_model(t));
    if (!cls) TRY(metrics_det_init(&acc.det, t->nc));
    if (!strcmp(t->task, "segment")) TRY(metrics_det_init(&acc.mask, t->nc));
    if (t->o.val_stream) {
        vf = fopen(t->o.val_stream, "rb");
        if (!vf) TRY(yolo_error(YOLO_ERR_IO, "%s: cannot open (%s)", t->o.val_stream, strerror(errno)));
        TRY(stream_reader_open(vf, t->o.val_stream, &src.r));
        const stream_header *h = stream_reader_header(src.r);
        if (strcmp(h->task, t->task) || h->nc != t->nc)
            TRY(yolo_error(YOLO_ERR_USAGE, "%s: a %s stream with %d classes, the model is %s with %d", t->o.val_stream,
                           h->task, h->nc, t->task, t->nc));
        total = h->count;
        TRY(val_run_samples(t, total, bs, next_from_stream, &src, &acc));
    } else {
        TRY(dataset_open(t->data, &ds));
        const char *split = dataset_has_split(ds, "val") ? "val" : dataset_has_split(ds, "test") ? "test" : NULL;
        if (!split) {
            note(t, "no val split in %s: validation skipped", t->data);
            goto done;
        }
        dataset_load_opts lo = {.workers = t->threads, .no_cache = false};
        TRY(dataset_split_load(ds, split, &lo, &sp));
        pipeline_opts po;
        pipeline_opts_default(&po);
        po.task = t->task;
        po.split = split;
        po.augment = false;
        po.seed = t->seed;
        po.epoch = epoch;
        po.epochs = t->epochs;
        po.workers = t->threads;
        po.rect = !cls;
        po.batch = bs;
        po.aug.imgsz = t->imgsz;
        int64_t mr;
        if (arg_int(t->args, "mask_ratio", &mr)) po.aug.mask_ratio = (int)mr;
        po.aug.overlap_mask = yv_is_truthy(yv_dict_get(t->args, "overlap_mask"));
        TRY(pipeline_open(ds, sp, &po, &p));
        src.p = p;
        total = pipeline_total(p);
        TRY(val_run_samples(t, total, bs, next_from_pipeline, &src, &acc));
    }
    int nl = n_losses(t);
    for (int k = 0; k < nl; k++) vr->vloss[k] = acc.nbatches ? acc.vloss[k] / (double)acc.nbatches : 0;
    if (cls) {
        metrics_kv kv[3];
        int n = metrics_cls_results(&acc.cls, kv);
        for (int k = 0; k < n; k++) {
            if (!strcmp(kv[k].key, "fitness")) vr->fitness = kv[k].value;
            else vr->keys[vr->n] = kv[k].key, vr->vals[vr->n++] = results_round5(kv[k].value);
        }
    } else {
        metrics_ap box, mask;
        memset(&box, 0, sizeof box);
        memset(&mask, 0, sizeof mask);
        st = metrics_det_finalize(acc.det, &box);
        if (st == YOLO_OK && acc.mask) st = metrics_det_finalize(acc.mask, &mask);
        if (st == YOLO_OK) {
            metrics_kv kv[9];
            int n = metrics_det_results(&box, acc.mask ? &mask : NULL, kv);
            for (int k = 0; k < n; k++) {
                if (!strcmp(kv[k].key, "fitness")) vr->fitness = kv[k].value;
                else vr->keys[vr->n] = kv[k].key, vr->vals[vr->n++] = results_round5(kv[k].value);
            }
            if (t->o.log)
                metrics_print_table(t->o.log, &box, acc.mask ? &mask : NULL, (const char *const *)t->names, false);
            st = keep_val_table(t, &box, acc.mask ? &mask : NULL);
        }
        metrics_ap_free(&box);
        metrics_ap_free(&mask);
        if (st != YOLO_OK) goto done;
    }
    vr->done = true;
done:
    torch_set_grad_enabled(was);
    metrics_det_free(acc.det);
    metrics_det_free(acc.mask);
    stream_reader_free(src.r);
    if (vf) fclose(vf);
    pipeline_free(p);
    dataset_split_free(sp);
    dataset_free(ds);
    return st;
}

/* ------------------------------------------------------------------ saving */

/* Storages of a value tree whose bytes are the trainer's own tensor memory rather than copies: a
 * save streams the weights from where they are. They must be given back (lent_return) before the
 * doc is freed, and the tensors must not change while the tree is in use. */
typedef struct {
    yv_storage **s;
    size_t n, cap;
} lent;

static void lent_return(lent *l) {
    for (size_t i = 0; l && i < l->n; i++) l->s[i]->data = NULL;
    if (l) free(l->s), memset(l, 0, sizeof *l);
}

/* The tensor as a value: its memory lent when l is given and the tensor is a plain row-major CPU
 * float32 or int64 one, else a copy (other layouts, devices and dtypes go through torch_copy_out). */
static yolo_status tensor_value(yv_doc *doc, const torch_tensor *t, lent *l, yv **out) {
    int64_t shape[8];
    int nd = torch_shape(t, shape, 8);
    torch_dtype dt = torch_dtype_of(t);
    bool i64 = dt == TORCH_I64;
    void *mem = l && (dt == TORCH_F32 || i64) ? torch_data_ptr(t) : NULL;
    if (mem && l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        yv_storage **ns = realloc(l->s, cap * sizeof *ns);
        if (!ns) return nomem();
        l->s = ns, l->cap = cap;
    }
    if (mem) {
        int64_t stride[8], step = 1;
        for (int d = nd - 1; d >= 0; d--) stride[d] = step, step *= shape[d] ? shape[d] : 1;
        yv_storage *sto = yv_new_storage(doc, i64 ? YDT_I64 : YDT_F32, torch_numel(t), false);
        yv *v = sto ? yv_new_tensor_view(doc, sto, i64 ? YDT_I64 : YDT_F32, nd, shape, stride, 0) : NULL;
        if (!v) return nomem();
        sto->data = mem;
        l->s[l->n++] = sto;
        *out = v;
        return YOLO_OK;
    }
    yv *v = yv_new_tensor(doc, i64 ? YDT_I64 : YDT_F32, nd, shape);
    if (!v) return nomem();
    yolo_status st = torch_copy_out(t, i64 ? TORCH_I64 : TORCH_F32, yv_tensor_data(&v->tensor), torch_numel(t));
    if (st == YOLO_OK) *out = v;
    return st;
}

static yolo_status save_as_(trainer *t, const char *path, bool mid_epoch);

static yolo_status lend_value(void *l, yv_doc *doc, const torch_tensor *t, yv **out) { return tensor_value(doc, t, l, out); }

/* optim_state_save's dict in the layout yolo-checkpoint(5) documents (name, keyed_by, param_groups with
 * torch's option names, state with a 0-dim step tensor), which optim_state_adapt reads back. */
static yolo_status optim_state_documented(yv_doc *doc, const yv *os, yv **out) {
    const char *name = yv_as_str(yv_dict_get(os, "optimizer"));
    const yv *groups = yv_dict_get(os, "groups"), *state = yv_dict_get(os, "state");
    if (!name || !groups || groups->kind != YV_LIST || !state || state->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: unexpected layout");
    bool sgd = !strcmp(name, "SGD");
    yolo_status st;
    yv *r = yv_new_dict(doc), *pgs = yv_new_list(doc), *ns = yv_new_dict(doc);
    if (!r || !pgs || !ns) return nomem();
    if ((st = put(doc, r, "name", yv_new_str(doc, name))) || (st = put(doc, r, "keyed_by", yv_new_str(doc, "name"))))
        return st;
    for (size_t g = 0; g < groups->seq.n; g++) {
        const yv *G = groups->seq.items[g];
        yv *d = yv_new_dict(doc);
        if (!d) return nomem();
        double lr = arg_num(G, "lr", 0), mom = arg_num(G, "momentum", 0), wd = arg_num(G, "weight_decay", 0);
        if ((st = put(doc, d, "param_group", copy_plain(doc, yv_dict_get(G, "name"), 0))) ||
            (st = put(doc, d, "lr", yv_new_float(doc, lr))) ||
            (st = put(doc, d, "initial_lr", yv_new_float(doc, arg_num(G, "initial_lr", lr)))))
            return st;
        if (sgd) {
            if ((st = put(doc, d, "momentum", yv_new_float(doc, mom))) ||
                (st = put(doc, d, "dampening", yv_new_int(doc, 0))) ||
                (st = put(doc, d, "nesterov", yv_new_bool(doc, yv_is_truthy(yv_dict_get(G, "nesterov"))))))
                return st;
        } else {
            yv *b = yv_new_tuple(doc);
            if (!b || yv_seq_push(doc, b, yv_new_float(doc, mom)) ||
                yv_seq_push(doc, b, yv_new_float(doc, arg_num(G, "beta2", 0.999))))
                return nomem();
            if ((st = put(doc, d, "betas", b)) || (st = put(doc, d, "eps", yv_new_float(doc, arg_num(G, "eps", 1e-8)))) ||
                (st = put(doc, d, "amsgrad", yv_new_bool(doc, false))))
                return st;
        }
        if ((st = put(doc, d, "weight_decay", yv_new_float(doc, wd))) ||
            (st = put(doc, d, "params", (yv *)yv_dict_get(G, "params"))) || (st = yv_seq_push(doc, pgs, d)))
            return st;
    }
    for (size_t i = 0; i < state->dict.n; i++) {
        const yv *ps = state->dict.vals[i];
        yv *d = yv_new_dict(doc);
        if (!d || !ps || ps->kind != YV_DICT) return nomem();
        for (size_t j = 0; j < ps->dict.n; j++) {
            const char *k = yv_as_str(ps->dict.keys[j]);
            if (!k) continue;
            yv *v = ps->dict.vals[j];
            double step;
            if (!strcmp(k, "step") && v->kind != YV_TENSOR && yv_as_double(v, &step)) {
                /* torch keeps Adam's step as a 0-dim float32 tensor; counts stay exact below 2^24 */
                int64_t none[1] = {0};
                v = yv_new_tensor(doc, YDT_F32, 0, none);
                if (!v) return nomem();
                *(float *)yv_tensor_data(&v->tensor) = (float)step;
            }
            if ((st = put(doc, d, k, v))) return st;
        }
        if ((st = yv_dict_put(doc, ns, state->dict.keys[i], d))) return st;
    }
    if ((st = put(doc, r, "param_groups", pgs)) || (st = put(doc, r, "state", ns))) return st;
    *out = r;
    return YOLO_OK;
}

static yolo_status build_root(trainer *t, yv_doc *doc, bool mid_epoch, lent *l, yv **out) {
    yolo_status st;
    yv *r = yv_new_dict(doc);
    if (!r) return nomem();
    char date[40];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    TRY(put(doc, r, CKPTFMT_KEY_FORMAT, yv_new_int(doc, CKPTFMT_FORMAT_VERSION)));
    TRY(put(doc, r, CKPTFMT_KEY_WRITER, yv_new_str(doc, CKPTFMT_WRITER_VERSION)));
    TRY(put(doc, r, CKPTFMT_KEY_EPOCH, yv_new_int(doc, t->epoch_done)));
    TRY(put(doc, r, CKPTFMT_KEY_BEST_FITNESS, t->have_best ? yv_new_float(doc, t->best_fitness) : yv_new_none(doc)));
    yv *msd = yv_new_dict(doc), *esd = yv_new_dict(doc), *opt = NULL;
    if (!msd || !esd) TRY(nomem());
    /* model_export_state_dict's dict, with the weights lent instead of copied */
    msd->dict.ordered = true;
    for (int i = 0; i < model_param_count(t->m); i++) {
        yv *tv = NULL;
        TRY(tensor_value(doc, model_tensor(t->m, i), l, &tv));
        TRY(put(doc, msd, model_param_name(t->m, i), tv));
    }
    TRY(put(doc, r, CKPTFMT_KEY_MODEL, msd));
    esd->dict.ordered = true;
    for (int i = 0; i < ema_count(t->ema); i++) {
        yv *tv = NULL;
        TRY(tensor_value(doc, ema_tensor(t->ema, i), l, &tv));
        TRY(put(doc, esd, ema_name(t->ema, i), tv));
    }
    TRY(put(doc, r, CKPTFMT_KEY_EMA, esd));
    TRY(put(doc, r, CKPTFMT_KEY_UPDATES, yv_new_int(doc, ema_updates(t->ema))));
    TRY(optim_state_save_with(t->opt, doc, lend_value, l, &opt));
    TRY(optim_state_documented(doc, opt, &opt));
    TRY(put(doc, r, CKPTFMT_KEY_OPTIMIZER, opt));
    TRY(put(doc, r, CKPTFMT_KEY_TRAIN_ARGS, copy_plain(doc, t->args, 0)));
    TRY(put(doc, r, CKPTFMT_KEY_TRAIN_METRICS, copy_plain(doc, t->metrics, 0)));
    if (t->val_table) TRY(put(doc, r, CKPTFMT_KEY_VAL_TABLE, copy_plain(doc, t->val_table, 0)));
    TRY(put(doc, r, CKPTFMT_KEY_TRAIN_RESULTS, copy_plain(doc, t->results, 0)));
    TRY(put(doc, r, CKPTFMT_KEY_DATE, yv_new_str(doc, date)));
    char ver[64];
    snprintf(ver, sizeof ver, "yolo-tools %s", CKPTFMT_WRITER_VERSION);
    TRY(put(doc, r, CKPTFMT_KEY_VERSION, yv_new_str(doc, ver)));
    TRY(put(doc, r, CKPTFMT_KEY_TASK, yv_new_str(doc, t->task)));
    yv *y = yv_new_dict(doc);
    if (!y) TRY(nomem());
    const char *base = strrchr(t->yaml_file, '/');
    TRY(put(doc, y, "yaml_file", yv_new_str(doc, base ? base + 1 : t->yaml_file)));
    char sc[2] = {modelcfg_scale(t->cfg), 0};
    TRY(put(doc, y, "scale", yv_new_str(doc, sc)));
    TRY(put(doc, y, "nc", yv_new_int(doc, t->nc)));
    TRY(put(doc, r, CKPTFMT_KEY_YAML, y));
    TRY(put(doc, r, CKPTFMT_KEY_NC, yv_new_int(doc, t->nc)));
    yv *names = yv_new_dict(doc), *strides = yv_new_list(doc);
    if (!names || !strides) TRY(nomem());
    for (int i = 0; i < t->nc; i++) TRY(yv_dict_put(doc, names, yv_new_int(doc, i), yv_new_str(doc, t->names[i])));
    TRY(put(doc, r, CKPTFMT_KEY_NAMES, names));
    int nl = 0;
    const double *s = model_strides(t->m, &nl);
    for (int i = 0; i < nl; i++) TRY(yv_seq_push(doc, strides, yv_new_float(doc, s[i])));
    TRY(put(doc, r, CKPTFMT_KEY_STRIDE, strides));
    yv *rng = yv_new_dict(doc);
    if (!rng) TRY(nomem());
    TRY(put(doc, rng, "seed", yv_new_int(doc, (int64_t)t->seed)));
    TRY(put(doc, r, CKPTFMT_KEY_RNG, rng));
    if (mid_epoch) {
        yv *p = yv_new_dict(doc), *tl = yv_new_list(doc);
        if (!p || !tl) TRY(nomem());
        TRY(put(doc, p, "epoch", yv_new_int(doc, t->epoch_done + 1)));
        TRY(put(doc, p, "batch", yv_new_int(doc, t->pos_batch)));
        TRY(put(doc, p, "nb", yv_new_int(doc, t->pos_nb)));
        TRY(put(doc, p, "seen", yv_new_int(doc, t->pos_seen)));
        for (int k = 0; k < n_losses(t); k++) TRY(yv_seq_push(doc, tl, yv_new_float(doc, t->tloss[k])));
        TRY(put(doc, p, "tloss", tl));
        TRY(put(doc, p, "time", yv_new_float(doc, t->time_total)));
        TRY(put(doc, r, CKPTFMT_KEY_POSITION, p));
    } else {
        TRY(put(doc, r, CKPTFMT_KEY_POSITION, yv_new_none(doc)));
    }
    yv *stp = yv_new_dict(doc);
    if (!stp) TRY(nomem());
    TRY(put(doc, stp, "best_fitness", yv_new_float(doc, t->st_best_fitness)));
    TRY(put(doc, stp, "best_epoch", yv_new_int(doc, t->st_best_epoch)));
    TRY(put(doc, stp, "patience", yv_new_int(doc, t->patience)));
    TRY(put(doc, stp, "possible_stop", yv_new_bool(doc, t->st_possible_stop)));
    TRY(put(doc, stp, "stopped", yv_new_bool(doc, t->st_stopped)));
    TRY(put(doc, r, CKPTFMT_KEY_STOPPER, stp));
    yv *acc = yv_new_dict(doc);
    if (!acc) TRY(nomem());
    TRY(put(doc, acc, "accumulate", yv_new_int(doc, t->accumulate)));
    TRY(put(doc, acc, "last_opt_step", yv_new_int(doc, t->last_opt_step)));
    TRY(put(doc, acc, "iteration", yv_new_int(doc, t->iteration)));
    if (t->iteration > t->last_opt_step) {
        /* batches since the last step left gradients that the next step must still see */
        yv *g = yv_new_dict(doc);
        if (!g) TRY(nomem());
        for (int i = 0; i < model_param_count(t->m); i++) {
            torch_tensor *p = model_tensor(t->m, i), *gr = NULL;
            if (model_param_is_buffer(t->m, i) || !torch_has_grad(p)) continue;
            yv *tv = NULL;
            st = torch_grad(p, &gr);
            if (st == YOLO_OK) st = tensor_value(doc, gr, NULL, &tv);
            torch_free(gr);
            if (st != YOLO_OK) goto done;
            TRY(put(doc, g, model_param_name(t->m, i), tv));
        }
        TRY(put(doc, acc, "grads", g));
    } else {
        TRY(put(doc, acc, "grads", yv_new_none(doc)));
    }
    TRY(put(doc, r, CKPTFMT_KEY_ACCUMULATE, acc));
    TRY(put(doc, r, CKPTFMT_KEY_THREADS, yv_new_int(doc, t->threads)));
    yv *sch = yv_new_dict(doc);
    if (!sch) TRY(nomem());
    TRY(put(doc, sch, "last_epoch", yv_new_int(doc, mid_epoch ? t->epoch_done + 1 : t->epoch_done)));
    TRY(put(doc, r, CKPTFMT_KEY_SCHEDULER, sch));
    *out = r;
done:
    return st;
}

static yolo_status save_as(trainer *t, const char *path, bool mid_epoch) {
    double t0 = now_s();
    yolo_status st = save_as_(t, path, mid_epoch);
    t->prof[PROF_SAVE] += now_s() - t0;
    return st;
}

static yolo_status save_as_(trainer *t, const char *path, bool mid_epoch) {
    yv_doc *doc = yv_doc_new();
    if (!doc) return nomem();
    yv *root = NULL;
    lent l = {0};
    yolo_status st = build_root(t, doc, mid_epoch, &l, &root);
    if (st == YOLO_OK) st = ckpt_write(path, root);
    lent_return(&l);
    yv_doc_free(doc);
    return st;
}

yolo_status train_save(trainer *t, const char *path) { return save_as(t, path, t->pos_batch > 0); }

/* ------------------------------------------------------------------ the epoch */

static void print_profile(const trainer *t, double total) {
    if (!t->o.profile || !t->o.log) return;
    double sum = 0;
    fprintf(t->o.log, "profile:");
    for (int k = 0; k < PROF_N; k++) {
        fprintf(t->o.log, " %s %.3f s,", prof_names[k], t->prof[k]);
        sum += t->prof[k];
    }
    fprintf(t->o.log, " other %.3f s, total %.3f s (threads %d)\n", total - sum, total, t->threads);
}

static void progress_header(const trainer *t) {
    if (!t->o.log) return;
    const char *n[5];
    int k = train_loss_names(t->task, n);
    fprintf(t->o.log, "%11s", "Epoch");
    for (int i = 0; i < k; i++) fprintf(t->o.log, "%11s", n[i]);
    fprintf(t->o.log, "%11s%11s\n", "Instances", "Size");
}

static void progress_line(const trainer *t, int epoch, int64_t i, int64_t nb, const batch_t *b, bool last) {
    if (!t->o.log) return;
    char e[32];
    snprintf(e, sizeof e, "%d/%d", epoch + 1, t->epochs);
    if (t->o.bar) fputc('\r', t->o.log);
    fprintf(t->o.log, "%11s", e);
    for (int k = 0; k < n_losses(t); k++) fprintf(t->o.log, "%11.4g", (double)t->tloss[k]);
    fprintf(t->o.log, "%11d%11d", b->n_inst, b->w);
    int pct = nb ? (int)(100 * (i + 1) / nb) : 100;
    if (t->o.bar) {
        char bar[21];
        int fill = pct / 5;
        for (int k = 0; k < 20; k++) bar[k] = k < fill ? '#' : '-';
        bar[20] = 0;
        fprintf(t->o.log, " %3d%% %s %" PRId64 "/%" PRId64, pct, bar, i + 1, nb);
        if (last) fputc('\n', t->o.log);
    } else {
        fprintf(t->o.log, " %" PRId64 "/%" PRId64 "\n", i + 1, nb);
    }
    fflush(t->o.log);
}

static void sibling(const char *path, const char *name, char *out, size_t cap) {
    const char *s = strrchr(path, '/');
    if (s) snprintf(out, cap, "%.*s/%s", (int)(s - path), path, name);
    else snprintf(out, cap, "%s", name);
}


static void fill_summary(const trainer *t, train_summary *s, int epoch) {
    s->epoch = epoch;
    s->epochs = t->epochs;
    s->n_loss = train_loss_names(t->task, s->loss_names);
    for (int k = 0; k < s->n_loss; k++) s->loss[k] = results_round5(t->tloss[k]);
    s->best_fitness = t->have_best ? t->best_fitness : NAN;
}

yolo_status train_run(trainer *t, stream_reader *r, const char *out_path, train_summary *s) {
    memset(s, 0, sizeof *s);
    s->fitness = NAN;
    s->position = -1;
    double t0 = now_s();
    yolo_status st = train_check_header(t, stream_reader_header(r));
    if (st != YOLO_OK) return st;
    const stream_header *h = stream_reader_header(r);
    int epoch = t->epoch_done + 1;
    int64_t nb = (h->total + t->batch - 1) / t->batch;
    int64_t nw = sched_warmup_iters(t->sc.warmup_epochs, nb);
    t->pos_nb = nb;
    int64_t i = t->pos_batch;
    if (i == 0) {
        /* the LR scheduler's step at the start of each epoch */
        for (int g = 0; g < OPTIM_NGROUPS; g++)
            optim_set_lr(t->opt, g, sched_epoch_lr(&t->sc, optim_get_initial_lr(t->opt, g), epoch));
        memset(t->tloss, 0, sizeof t->tloss);
    }
    fill_summary(t, s, epoch);
    progress_header(t);
    stream_sample *v = calloc((size_t)t->batch, sizeof *v);
    if (!v) return nomem();
    for (int k = 0; k < t->batch; k++) stream_sample_init(&v[k]);
    batch_t b;
    memset(&b, 0, sizeof b);
    double time_base = t->time_total;
    for (;;) {
        int got = 0;
        double d0 = now_s();
        st = stream_reader_batch(r, v, t->batch, &got);
        if (st == YOLO_OK && got) {
            batch_free(&b);
            st = make_batch(t, v, got, &b);
        }
        t->prof[PROF_DATA] += now_s() - d0;
        if (st != YOLO_OK) {
            /* Ctrl+C also stops the producer, so the stream breaks off: the state after the last whole
             * batch is still consistent and worth saving */
            if (t->o.interrupt && *t->o.interrupt && s->batches > 0 && i < nb) {
                s->interrupted = true;
                st = save_as(t, out_path, true);
                fill_summary(t, s, epoch);
                s->position = t->pos_seen;
                s->seconds = now_s() - t0;
                goto out;
            }
            break;
        }
        if (!got) break;
        int64_t ni = i + nb * epoch;
        float items[5] = {0};
        int nitems = 0;
        if ((st = train_step(t, &b, epoch, ni, nw, items, &nitems)) != YOLO_OK) {
            if (is_oom(st))
                st = yolo_error(YOLO_ERR_NOMEM, "out of memory in epoch %d, batch %" PRId64 " with batch=%d (resume with "
                                "a smaller batch=, e.g. batch=%d; the checkpoint was not changed)", epoch + 1, i + 1,
                                t->batch, t->batch > 1 ? t->batch / 2 : 1);
            break;
        }
        for (int k = 0; k < nitems && k < 5; k++) t->tloss[k] = (t->tloss[k] * (float)i + items[k]) / (float)(i + 1);
        i++;
        s->batches++;
        t->pos_batch = i;
        t->pos_seen += got;
        t->time_total = time_base + (now_s() - t0);
        progress_line(t, epoch, i - 1, nb, &b, i >= nb);
        bool more = i < nb;
        bool interrupted = t->o.interrupt && *t->o.interrupt;
        if (more && (interrupted || (t->o.stop_after > 0 && s->batches >= t->o.stop_after))) {
            s->interrupted = interrupted;
            st = save_as(t, out_path, true);
            fill_summary(t, s, epoch);
            s->position = t->pos_seen;
            s->seconds = now_s() - t0;
            goto out;
        }
        if (more && t->o.save_every > 0 && i % t->o.save_every == 0 && (st = save_as(t, out_path, true)) != YOLO_OK) break;
    }
    if (st == YOLO_OK && i < nb)
        st = yolo_error(YOLO_ERR_FORMAT, "stdin: the stream ended after %" PRId64 " of %" PRId64 " batches", i, nb);
    if (st != YOLO_OK) goto out;

    /* end of epoch (spec §3.5) */
    double lr_pg[3];
    for (int g = 0; g < 3; g++) lr_pg[g] = optim_get_lr(t->opt, g);
    bool final_epoch = epoch + 1 >= t->epochs;
    val_result vr;
    memset(&vr, 0, sizeof vr);
    vr.fitness = NAN;
    if (t->val || final_epoch || t->st_possible_stop) {
        double v0 = now_s();
        st = validate(t, epoch, &vr);
        t->prof[PROF_VAL] += now_s() - v0;
        if (st != YOLO_OK) {
            if (is_oom(st))
                st = yolo_error(YOLO_ERR_NOMEM, "out of memory validating epoch %d (resume with a smaller batch=, "
                                "validation uses 2x batch)", epoch + 1);
            goto out;
        }
    }
    double fitness = vr.done ? vr.fitness : NAN;
    if (vr.done && (!t->have_best || t->best_fitness == 0 || t->best_fitness < fitness)) {
        t->best_fitness = fitness;
        t->have_best = true;
    }
    bool is_best = vr.done && t->have_best && t->best_fitness == fitness;
    /* early stopping, called with the 1-based epoch as the reference does */
    if (vr.done) {
        int e1 = epoch + 1;
        if (fitness > t->st_best_fitness || t->st_best_fitness == 0) {
            t->st_best_epoch = e1;
            t->st_best_fitness = fitness;
        }
        int delta = e1 - t->st_best_epoch;
        /* patience=0 means never stop, as Ultralytics reads it (patience or inf) */
        t->st_possible_stop = t->patience > 0 && delta >= t->patience - 1;
        t->st_stopped = t->patience > 0 && delta >= t->patience;
    }
    t->time_total = time_base + (now_s() - t0);
    /* the results row and train_metrics */
    int nc = 0;
    results_columns(t->task, &nc);
    double row[RESULTS_MAX_COLUMNS];
    int c = 0;
    row[c++] = epoch + 1;
    row[c++] = results_round5(t->time_total);
    int nl = n_losses(t);
    for (int k = 0; k < nl; k++) row[c++] = results_round5(t->tloss[k]);
    int nmet = !strcmp(t->task, "segment") ? 8 : !strcmp(t->task, "classify") ? 2 : 4;
    const char *const *cols = results_columns(t->task, &nc);
    for (int k = 0; k < nmet; k++, c++) {
        row[c] = NAN;
        for (int q = 0; vr.done && q < vr.n; q++)
            if (!strcmp(vr.keys[q], cols[c])) row[c] = vr.vals[q];
    }
    for (int k = 0; k < nl; k++) row[c++] = vr.done ? results_round5(vr.vloss[k]) : NAN;
    for (int g = 0; g < 3; g++) row[c++] = lr_pg[g];
    if (c != nc) {
        st = yolo_error(YOLO_ERR_USAGE, "results: %d values for %d columns", c, nc);
        goto out;
    }
    if ((st = results_add_row(t->doc, t->results, t->task, row, nc)) != YOLO_OK) goto out;
    if (vr.done) {
        yv *m = yv_new_dict(t->doc);
        if (!m) st = nomem();
        /* train_metrics: the validation dict (val losses and metrics) plus fitness */
        for (int k = 0; st == YOLO_OK && k < nl; k++) st = put(t->doc, m, cols[2 + nl + nmet + k], yv_new_float(t->doc, row[2 + nl + nmet + k]));
        for (int k = 0; st == YOLO_OK && k < vr.n; k++) st = put(t->doc, m, vr.keys[k], yv_new_float(t->doc, vr.vals[k]));
        if (st == YOLO_OK) st = put(t->doc, m, "fitness", yv_new_float(t->doc, results_round5(fitness)));
        if (st != YOLO_OK) goto out;
        t->metrics = m;
    }
    t->epoch_done = epoch;
    t->pos_batch = 0;
    t->pos_seen = 0;
    s->validated = vr.done;
    s->fitness = fitness;
    s->n_metrics = vr.n;
    for (int k = 0; k < vr.n; k++) s->metric_keys[k] = vr.keys[k], s->metrics[k] = vr.vals[k];
    s->epoch_done = true;
    s->stopped_early = t->st_stopped;
    s->finished = final_epoch || t->st_stopped;
    s->best = is_best;
    fill_summary(t, s, epoch);
    /* best.pt before last.pt: a crash in between re-runs this epoch, which rewrites both */
    char path[4200];
    {
        /* one value tree for every file of this epoch: they hold the same state */
        double w0 = now_s();
        yv_doc *doc = yv_doc_new();
        yv *root = NULL;
        lent l = {0};
        st = doc ? build_root(t, doc, false, &l, &root) : nomem();
        char epath[sizeof path];
        const char *paths[3];
        size_t np = 0;
        if (is_best) {
            sibling(out_path, "best.pt", path, sizeof path);
            paths[np++] = path;
        }
        if (t->save_period > 0 && epoch % t->save_period == 0) {
            char name[64];
            snprintf(name, sizeof name, "epoch%d.pt", epoch);
            sibling(out_path, name, epath, sizeof epath);
            paths[np++] = epath;
        }
        paths[np++] = out_path;
        if (st == YOLO_OK) st = ckpt_write_many(paths, np, root);
        lent_return(&l);
        yv_doc_free(doc);
        t->prof[PROF_SAVE] += now_s() - w0;
        if (st != YOLO_OK) goto out;
    }
    char rd[4096];
    lock_run_dir(out_path, rd, sizeof rd);
    snprintf(path, sizeof path, "%s/results.csv", rd);
    st = results_write_csv(path, t->results);
    s->seconds = now_s() - t0;
out:
    if (st == YOLO_OK) print_profile(t, now_s() - t0);
    batch_free(&b);
    for (int k = 0; k < t->batch; k++) stream_sample_free(&v[k]);
    free(v);
    return st;
}
