/* The epoch engine's setup (see include/yolo/train.h): a trainer from args.yaml or from a checkpoint's
 * parts, the network, optimizer and EMA it trains, and what the next train stream must be. The other
 * jobs live beside it: train_args.c (settings), train_restore.c, train_ckpt.c, train_step.c,
 * train_val.c, train_progress.c, train_loop.c; what they share is in train_internal.h. */
#include "train_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yolo/args.h"
#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/dataset.h"
#include "yolo/dist.h"
#include "yolo/microsplit.h"
#include "yolo/serve.h"
#include "yolo/text.h"

double train_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

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

int train_n_losses(const trainer *t) {
    const char *n[5];
    return train_loss_names(t->task, n);
}

yolo_status train_set_names(trainer *t, const char *const *names, int nc) {
    t->names = calloc((size_t)(nc ? nc : 1), sizeof *t->names);
    if (!t->names) return yolo_nomem();
    t->nc = nc;
    for (int i = 0; i < nc; i++)
        if (!(t->names[i] = strdup(names && names[i] ? names[i] : "?"))) return yolo_nomem();
    return YOLO_OK;
}

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
    if (!f || f->kind == YV_NONE || (fs && (!strcmp(fs, "none") || !strcmp(fs, "None") || !*fs)))
        return YOLO_OK;
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
    if (frozen) train_note(t, "freeze: %d parameter tensors of the named layers take no gradients", frozen);
    return YOLO_OK;
}

yolo_status train_build_optimizer(trainer *t, optim_kind kind, double lr, double momentum, double wd) {
    yolo_status fst = apply_freeze(t);
    if (fst != YOLO_OK) return fst;
    int n = model_param_count(t->m);
    optim_param *ps = calloc((size_t)n, sizeof *ps);
    if (!ps) return yolo_nomem();
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

yolo_status train_build_ema(trainer *t) {
    int n = model_param_count(t->m);
    const char **names = calloc((size_t)n, sizeof *names);
    const torch_tensor **ts = calloc((size_t)n, sizeof *ts);
    yolo_status st = names && ts ? YOLO_OK : yolo_nomem();
    for (int i = 0; st == YOLO_OK && i < n; i++)
        names[i] = model_param_name(t->m, i), ts[i] = model_tensor(t->m, i);
    if (st == YOLO_OK) st = ema_new(names, ts, n, &t->ema);
    free(names);
    free(ts);
    return st;
}

/* blank: the weights come from a checkpoint next, so none are drawn. stored: a checkpoint's "yaml"
 * entry to build from (modelcfg_load_stored), whose yaml_file is yaml; NULL: the file yaml names. */
yolo_status train_build_model(trainer *t, const char *yaml, const yv *stored, int nc, bool blank) {
    yolo_status st = stored ? modelcfg_load_stored(stored, nc, &t->cfg) : modelcfg_load(yaml, nc, &t->cfg);
    if (st != YOLO_OK) return st;
    snprintf(t->yaml_file, sizeof t->yaml_file, "%s", yaml);
    snprintf(t->task, sizeof t->task, "%s", modelcfg_task(t->cfg));
    st = blank ? model_build_blank(t->cfg, t->dev, &t->m) : model_build(t->cfg, t->dev, &t->m);
    /* Ultralytics applies dropout= to the classifier head only */
    if (st == YOLO_OK && !strcmp(t->task, "classify") && t->args)
        st = model_set_dropout(t->m, yv_get_num(t->args, "dropout", args_default_num("dropout")));
    return st;
}

trainer *train_alloc(const train_opts *o) {
    /* a training process allocates the same tensors at every step: memory freed by one step is kept for
     * the next, and a served one's pages for the next epoch (without the pool, which failed to allocate
     * itself, training is only slower) */
    (void)torch_memory_reuse(serve_memory_fd());
    trainer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (o)
        t->o = *o;
    else
        train_opts_default(&t->o);
    t->doc = yv_doc_new();
    if (!t->doc) {
        free(t);
        return NULL;
    }
    t->epoch_done = -1;
    t->last_opt_step = -1;
    t->iteration = -1;
    t->dev = TORCH_CPU;
    t->world = t->o.group ? dist_world(t->o.group) : 1;
    t->rank = t->o.group ? dist_rank(t->o.group) : 0;
    return t;
}

void train_note(const trainer *t, const char *fmt, ...) {
    if (!t->o.log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->o.log, fmt, ap);
    va_end(ap);
    fputc('\n', t->o.log);
}

/* Weights and architecture of a .pt to fine-tune from (ours or Ultralytics'). */
static yolo_status load_pretrained(trainer *t, const char *path, int nc) {
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st = ckpt_read(path, NULL, &doc, &root);
    if (st != YOLO_OK) return st;
    const yv *sd = ckptfmt_weights(doc, root, NULL);
    const yv *stored = yv_dict_get(root, CKPTFMT_KEY_YAML);
    const char *yf = yv_as_str(yv_dict_get(stored, "yaml_file"));
    if (!yf) {
        stored = NULL;
        const yv *net = yv_dict_get(root, "ema");
        if (!net || net->kind != YV_OBJECT) net = yv_dict_get(root, "model");
        if (net && net->kind == YV_OBJECT && net->obj.state)
            yf = yv_as_str(yv_path(net->obj.state, "yaml.yaml_file"));
    }
    if (!sd) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: holds no weights to start from", path);
    } else if (!yf) {
        st = yolo_error(YOLO_ERR_FORMAT,
                        "%s: does not say which model YAML it was built from (give model=NAME.yaml "
                        "and pretrained=%s)",
                        path, path);
    } else if ((st = train_build_model(t, yf, stored, nc, false)) == YOLO_OK) {
        char msg[160];
        int n = 0;
        if ((st = model_load_state_dict(t->m, sd, &n, msg, sizeof msg)) == YOLO_OK) train_note(t, "%s", msg);
    }
    yv_doc_free(doc);
    return st;
}

yolo_status train_new(const char *args_yaml, const stream_header *hdr, const train_opts *o, trainer **out) {
    trainer *t = train_alloc(o);
    if (!t) return yolo_nomem();
    yolo_status st;
    dataset *ds = NULL;
    void *shared = NULL; /* rank 0's args.yaml, on every rank */
    size_t shared_len = 0;
    if (t->world > 1) YOLO_TRY(train_dist_share_file(t, args_yaml, &shared, &shared_len));
    YOLO_TRY(args_read_yaml(t->doc, args_yaml, shared, shared_len, &t->args));
    t->results = yv_new_dict(t->doc);
    t->metrics = yv_new_dict(t->doc);
    if (!t->results || !t->metrics) YOLO_TRY(yolo_nomem());
    const char *model_name = yv_get_str(t->args, "model");
    if (!model_name)
        YOLO_TRY(yolo_error(YOLO_ERR_USAGE, "%s: no model= (a model YAML such as yolov8n.yaml, or a .pt)",
                            args_yaml));
    /* the run folder is where the weights go; data paths in args are taken as given */
    YOLO_TRY(train_args_defaults(t->doc, t->args));
    /* the run folder is wherever the checkpoint lives; an absolute save_dir would pin it */
    yv_dict_del(t->args, "save_dir");
    YOLO_TRY(train_load_settings(t));
    YOLO_TRY(train_apply_process_opts(t));
    int64_t micro =
        t->o.micro_batch; /* the option, else args.yaml's micro_batch (ours), else batch / world */
    if (!micro && yv_get_int(t->args, "micro_batch", &micro) && (micro < 1 || micro > t->batch))
        YOLO_TRY(yolo_error(YOLO_ERR_USAGE, "%s: micro_batch=%" PRId64 " must be 1..batch (%d)", args_yaml,
                            micro, t->batch));
    YOLO_TRY(microsplit_resolve(t->batch, t->world, (int)micro, 0, args_yaml, &t->micro));
    YOLO_TRY(dataset_open_at(t->data, NULL, &ds));
    YOLO_TRY(train_set_data(t, t->data, ds));
    if (yv_is_truthy(yv_dict_get(t->args, "single_cls"))) dataset_set_single_cls(ds);
    YOLO_TRY(train_set_names(t, dataset_names(ds), dataset_nc(ds)));
    YOLO_TRY(torch_manual_seed(t->seed));
    if (text_ends_with(model_name, ".pt")) {
        YOLO_TRY(load_pretrained(t, model_name, t->nc));
    } else {
        YOLO_TRY(train_build_model(t, model_name, NULL, t->nc, false));
        const char *pre = yv_get_str(t->args, "pretrained");
        if (pre && text_ends_with(pre, ".pt")) {
            yv_doc *pd = NULL;
            yv *root = NULL;
            YOLO_TRY(ckpt_read(pre, NULL, &pd, &root));
            const yv *sd = ckptfmt_weights(pd, root, NULL);
            char msg[160];
            st = sd ? model_load_state_dict(t->m, sd, NULL, msg, sizeof msg)
                    : yolo_error(YOLO_ERR_FORMAT, "%s: holds no weights", pre);
            yv_doc_free(pd);
            if (st != YOLO_OK) goto done;
            train_note(t, "%s", msg);
        }
    }
    YOLO_TRY(yv_dict_set_new(t->doc, t->args, "task", yv_new_str(t->doc, t->task)));
    /* (the stream is segment only where the labels have polygons: Ultralytics' error for a segment model
     * on a detect dataset, said as a way out) */
    if (hdr && !strcmp(hdr->task, "detect") && !strcmp(t->task, "segment"))
        YOLO_TRY(yolo_error(YOLO_ERR_USAGE,
                            "the dataset's labels are boxes only, and model %s is a segment model, which "
                            "trains on polygons (a segment dataset, as coco8-seg); train a detect model "
                            "on it (model=yolov8n.yaml)",
                            model_name));
    if (hdr && strcmp(hdr->task, t->task))
        YOLO_TRY(yolo_error(YOLO_ERR_USAGE, "the stream is for %s but model %s is a %s model", hdr->task,
                            model_name, t->task));

    /* optimizer (spec §3.3): decay scaled by accumulation; auto from the run's iteration count */
    int64_t n_train = hdr ? hdr->total : 0;
    t->accumulate = sched_accumulate(t->nbs, t->batch);
    double wd =
        optim_scaled_weight_decay(yv_get_num(t->args, "weight_decay", args_default_num("weight_decay")),
                                  t->batch, t->accumulate, t->nbs);
    const char *oname = yv_get_str(t->args, "optimizer");
    optim_kind kind;
    double lr = yv_get_num(t->args, "lr0", args_default_num("lr0")),
           mom = yv_get_num(t->args, "momentum", args_default_num("momentum"));
    if (!oname || !strcasecmp(oname, "auto")) {
        int64_t iters = sched_auto_iterations(n_train, t->batch, t->nbs, t->epochs);
        optim_resolve_auto(t->nc, iters, &kind, &lr, &mom);
        train_note(t,
                   "optimizer: 'optimizer=auto' found, determining best 'optimizer', 'lr0' and 'momentum' "
                   "automatically... %s(lr=%g, momentum=%g)",
                   optim_kind_name(kind), lr, mom);
    } else {
        YOLO_TRY(optim_parse_kind(oname, &kind));
    }
    YOLO_TRY(train_build_optimizer(t, kind, lr, mom, wd));
    YOLO_TRY(train_build_ema(t));
    t->threads = t->threads > 0 ? t->threads : train_all_cores();
    dataset_free(ds);
    free(shared);
    *out = t;
    return YOLO_OK;
done:
    dataset_free(ds);
    free(shared);
    train_free(t);
    return st;
}

torch_device train_device(const trainer *t) {
    return t->dev;
}

void train_free(trainer *t) {
    if (!t) return;
    train_micro_free(t->mb);
    optim_free(t->opt);
    ema_free(t->ema);
    model_free(t->m);
    model_free(t->vm);
    modelcfg_free(t->cfg);
    if (t->names)
        for (int i = 0; i < t->nc; i++)
            free(t->names[i]);
    free(t->names);
    yv_doc_free(t->doc);
    free(t);
}

/* ------------------------------------------------------------------ expectations */

void train_expected(const trainer *t, train_expect *e) {
    e->epoch = t->epoch_done + 1;
    e->epochs = t->epochs;
    e->from = t->pos_seen;
    e->shard_k = t->rank, e->shard_n = t->world;
    e->shard_block = t->world > 1 ? t->batch / t->world : 1;
    e->seed = t->seed;
    e->imgsz = t->imgsz;
    e->task = t->task;
    e->data = t->data;
    /* classification has no rect batches, as in Ultralytics */
    e->rect_batch = t->rect && strcmp(t->task, "classify") ? t->batch : 0;
}

yolo_status train_check_header(const trainer *t, const stream_header *h) {
    train_expect e;
    train_expected(t, &e);
    char want[512];
    snprintf(want, sizeof want,
             "yolo-data %.300s --split train --epoch %d --epochs %d --seed %" PRIu64 " --imgsz %d", e.data,
             e.epoch, e.epochs, e.seed, e.imgsz);
    char fromarg[160] = "";
    int used = e.from ? snprintf(fromarg, sizeof fromarg, " --from %" PRId64, e.from) : 0;
    if (e.shard_n > 1)
        used += snprintf(fromarg + used, sizeof fromarg - (size_t)used,
                         " --shard %d/%d --shard-block %" PRId64, e.shard_k, e.shard_n, e.shard_block);
    if (e.rect_batch)
        snprintf(fromarg + used, sizeof fromarg - (size_t)used, " rect=true --batch %d", e.rect_batch);
#define BAD(...)                                                                                             \
    do {                                                                                                     \
        char what[256];                                                                                      \
        snprintf(what, sizeof what, __VA_ARGS__);                                                            \
        return yolo_error(YOLO_ERR_FORMAT, "stdin: %s (expected the stream of: %s%s)", what, want, fromarg); \
    } while (0)
    if (strcmp(h->split, "train")) BAD("a %s stream, not a train stream", h->split);
    if (strcmp(h->task, t->task)) BAD("a %s stream for a %s model", h->task, t->task);
    if (h->epoch != e.epoch) BAD("stream of epoch %d, the checkpoint is at epoch %d", h->epoch, e.epoch);
    if (h->seed != e.seed) BAD("stream seed %" PRIu64 ", the run's seed is %" PRIu64, h->seed, e.seed);
    if (h->imgsz != e.imgsz) BAD("stream imgsz %d, the run's imgsz is %d", h->imgsz, e.imgsz);
    if (h->from != e.from)
        BAD("stream starts at sample %" PRId64 ", the checkpoint continues at %" PRId64, h->from, e.from);
    if (e.shard_n == 1 && h->shard_n > 1)
        BAD("a shard (%d/%d); merge the shards first", h->shard_k, h->shard_n);
    if (e.shard_n > 1 &&
        (h->shard_k != e.shard_k || h->shard_n != e.shard_n || h->shard_block != e.shard_block))
        BAD("rank %d of %d reads shard %d/%d in blocks of %" PRId64 ", not %d/%d in blocks of %" PRId64,
            e.shard_k, e.shard_n, e.shard_k, e.shard_n, e.shard_block, h->shard_k, h->shard_n,
            h->shard_block);
    if (h->epochs && h->epochs != e.epochs)
        BAD("stream made for %d epochs, the run has %d", h->epochs, e.epochs);
    if (h->nc != t->nc) BAD("stream has %d classes, the model %d", h->nc, t->nc);
    if (h->rect != (e.rect_batch > 0))
        BAD("a %s stream, the run has rect=%s", h->rect ? "rect" : "shuffled",
            e.rect_batch ? "true" : "false");
    if (h->rect && h->batch != e.rect_batch)
        BAD("rect batches of %d, the trainer's batch is %d", h->batch, e.rect_batch);
    int64_t count = stream_shard_count(e.shard_k, e.shard_n, e.shard_block, e.from, h->total);
    if (h->count != count)
        BAD("stream holds %" PRId64 " of the %" PRId64 " samples after %" PRId64, h->count, count, h->from);
#undef BAD
    return YOLO_OK;
}
