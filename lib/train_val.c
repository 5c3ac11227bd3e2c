/* The trainer's validation of the EMA weights after an epoch, through the one validator (val.h):
 * over the dataset's val split or a given val stream, with the validation loss added. */
#include "train_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/args.h"
#include "yolo/dataset.h"
#include "yolo/val.h"

static yolo_status prepare_val_model(trainer *t) {
    yolo_status st;
    if (!t->vm && (st = model_build_blank(t->cfg, t->dev, &t->vm)) != YOLO_OK) return st;
    bool was = torch_set_grad_enabled(false);
    st = YOLO_OK;
    for (int i = 0; i < ema_count(t->ema) && st == YOLO_OK; i++)
        st = torch_copy_(model_tensor(t->vm, i), ema_tensor(t->ema, i));
    torch_set_grad_enabled(was);
    model_set_training(t->vm, false);
    return st;
}

/* The validation loss items of each batch, in batch order (summed at the end, in that order, whichever
 * ranks validated which batches). */
typedef struct {
    const trainer *t;
    double (*items)[5];
    int64_t nbatches, cap;
} val_loss;

static yolo_status val_loss_grow(val_loss *vl, int64_t n) {
    if (n <= vl->cap) return YOLO_OK;
    int64_t cap = vl->cap ? 2 * vl->cap : 16;
    while (cap < n)
        cap *= 2;
    void *p = realloc(vl->items, (size_t)cap * sizeof *vl->items);
    if (!p) return yolo_nomem();
    vl->items = p, vl->cap = cap;
    return YOLO_OK;
}

static yolo_status add_val_loss(void *ctx, stream_sample *v, int n, const model_output *mo) {
    val_loss *vl = ctx;
    batch_t b;
    memset(&b, 0, sizeof b);
    loss_output lo;
    memset(&lo, 0, sizeof lo);
    yolo_status st = val_loss_grow(vl, vl->nbatches + 1);
    if (st == YOLO_OK) st = train_make_targets(vl->t, v, n, &b);
    if (st == YOLO_OK) st = train_output_loss(vl->t, &b, mo, &lo);
    if (st == YOLO_OK) {
        double *it = vl->items[vl->nbatches++];
        for (int k = 0; k < 5; k++)
            it[k] = k < lo.n_items ? lo.items[k] : 0;
    }
    loss_output_free(&lo);
    batch_free(&b);
    return st;
}

/* The per-class table of this validation, kept in the checkpoint: `yolo` prints best.pt's at the end,
 * as Ultralytics does, without validating it again (it would give the same numbers). */
static yolo_status keep_val_table(trainer *t, const val *v) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return yolo_nomem();
    val_print_table(v, f, true);
    bool ok = fclose(f) == 0;
    yv *tv = ok ? yv_new_strn(t->doc, text, len) : NULL;
    free(text);
    if (!tv) return yolo_nomem();
    t->val_table = tv;
    return YOLO_OK;
}

/* The source of validation samples: the val stream given, or the dataset's val (else test) split
 * through the pipeline. *total 0 and no source: there is nothing to validate on. */
typedef struct {
    FILE *f;
    dataset *ds;
    dataset_split *sp;
    val_source src;
} val_input;

static yolo_status open_val_stream(const trainer *t, val_input *in, int64_t *total) {
    in->f = fopen(t->o.val_stream, "rb");
    if (!in->f) return yolo_error(YOLO_ERR_IO, "%s: cannot open (%s)", t->o.val_stream, strerror(errno));
    yolo_status st = stream_reader_open(in->f, t->o.val_stream, &in->src.r);
    if (st != YOLO_OK) return st;
    const stream_header *h = stream_reader_header(in->src.r);
    if (strcmp(h->task, t->task) || h->nc != t->nc)
        return yolo_error(YOLO_ERR_USAGE, "%s: a %s stream with %d classes, the model is %s with %d",
                          t->o.val_stream, h->task, h->nc, t->task, t->nc);
    *total = h->count;
    return YOLO_OK;
}

static yolo_status open_val_split(const trainer *t, int epoch, int bs, val_input *in, int64_t *total) {
    yolo_status st = dataset_open_at(t->data, t->data_root[0] ? t->data_root : NULL, &in->ds);
    if (st != YOLO_OK) return st;
    if (yv_is_truthy(yv_dict_get(t->args, "single_cls"))) dataset_set_single_cls(in->ds);
    const char *split = dataset_has_split(in->ds, "val")    ? "val"
                        : dataset_has_split(in->ds, "test") ? "test"
                                                            : NULL;
    if (!split) {
        train_note(t, "no val split in %s: validation skipped", t->data);
        return YOLO_OK;
    }
    dataset_load_opts lo = {.workers = t->threads, .no_cache = false};
    if ((st = dataset_split_load(in->ds, split, &lo, &in->sp)) != YOLO_OK) return st;
    /* the files it skips, as yolo-data names those of the train split (once: rank 0; the yolo loop's
     * later epochs only those changed since the first) */
    const dataset_report *rep = dataset_split_report(in->sp);
    if (t->o.log && t->rank == 0 && !(t->o.quiet_known && dataset_report_known(rep)))
        dataset_report_warn(rep, t->o.log, "yolo-train-epoch", split);
    pipeline_opts po;
    pipeline_opts_default(&po);
    po.task = t->task;
    po.split = split;
    po.augment = false;
    po.seed = t->seed;
    po.epoch = epoch;
    po.epochs = t->epochs;
    po.workers = t->threads;
    po.rect = strcmp(t->task, "classify") != 0;
    po.batch = bs;
    po.aug.imgsz = t->imgsz;
    int64_t mr;
    if (yv_get_int(t->args, "mask_ratio", &mr)) po.aug.mask_ratio = (int)mr;
    po.aug.overlap_mask = yv_is_truthy(yv_dict_get(t->args, "overlap_mask"));
    if ((st = pipeline_open(in->ds, in->sp, &po, &in->src.p)) != YOLO_OK) return st;
    *total = pipeline_total(in->src.p);
    return YOLO_OK;
}

static void val_input_close(val_input *in) {
    stream_reader_free(in->src.r);
    if (in->f) fclose(in->f);
    pipeline_free(in->src.p);
    dataset_split_free(in->sp);
    dataset_free(in->ds);
}

/* The validator's results, the mean losses and the table (printed, and kept for the checkpoint). */
static yolo_status val_results(trainer *t, val *v, const val_loss *vl, val_result *vr) {
    val_metrics vm;
    yolo_status st = val_finish(v, &vm);
    if (st != YOLO_OK) return st;
    for (int k = 0; k < train_n_losses(t); k++) {
        double sum = 0;
        for (int64_t b = 0; b < vl->nbatches; b++)
            sum += vl->items[b][k];
        vr->vloss[k] = vl->nbatches ? sum / (double)vl->nbatches : 0;
    }
    vr->n = vm.n;
    for (int k = 0; k < vm.n; k++)
        vr->keys[k] = vm.keys[k], vr->vals[k] = vm.vals[k];
    vr->fitness = vm.fitness;
    if (t->o.log) val_print_table(v, t->o.log, false);
    return keep_val_table(t, v);
}

/* This rank's share of the batches when the ranks split the validation (of the dataset's split; a val
 * stream given is rank 0's alone): whole batches, consecutive, so that every batch holds the images it
 * holds in one process; *lo..*hi the samples. */
static void val_share(const trainer *t, int64_t total, int bs, int64_t *lo, int64_t *hi) {
    int64_t nb = (total + bs - 1) / bs;
    *lo = nb * t->rank / t->world * bs;
    *hi = nb * (t->rank + 1) / t->world * bs;
    if (*lo > total) *lo = total;
    if (*hi > total) *hi = total;
}

/* A rank's part as bytes: its batches' loss items (a count, then 5 doubles each), then val_pack's. */
static yolo_status pack_share(const val *v, const val_loss *vl, unsigned char **out, size_t *len) {
    unsigned char *vp = NULL;
    size_t vlen = 0;
    *out = NULL, *len = 0;
    yolo_status st = val_pack(v, &vp, &vlen);
    if (st != YOLO_OK) return st;
    size_t ll = sizeof(int64_t) + (size_t)vl->nbatches * sizeof *vl->items;
    unsigned char *b = malloc(ll + vlen);
    if (!b) {
        free(vp);
        return yolo_nomem();
    }
    memcpy(b, &vl->nbatches, sizeof(int64_t));
    if (vl->nbatches) memcpy(b + sizeof(int64_t), vl->items, (size_t)vl->nbatches * sizeof *vl->items);
    memcpy(b + ll, vp, vlen);
    free(vp);
    *out = b, *len = ll + vlen;
    return YOLO_OK;
}

static yolo_status merge_share(val *v, val_loss *vl, const unsigned char *p, int64_t len, int rank) {
    int64_t nb;
    if (len < (int64_t)sizeof nb) return yolo_error(YOLO_ERR_FORMAT, "rank %d's validation: cut short", rank);
    memcpy(&nb, p, sizeof nb);
    size_t ll = sizeof nb + (size_t)nb * sizeof *vl->items;
    if (nb < 0 || nb > len / (int64_t)sizeof *vl->items || (int64_t)ll > len)
        return yolo_error(YOLO_ERR_FORMAT, "rank %d's validation: %lld loss rows do not fit", rank,
                          (long long)nb);
    yolo_status st = val_loss_grow(vl, vl->nbatches + nb);
    if (st != YOLO_OK) return st;
    if (nb) memcpy(vl->items + vl->nbatches, p + sizeof nb, (size_t)nb * sizeof *vl->items);
    vl->nbatches += nb;
    return val_merge(v, p + ll, (size_t)len - ll);
}

/* The ranks' parts to every rank (-1 for this rank's failure), and rank 0 adds the others', in rank order
 * (the batches' order). */
static yolo_status join_shares(trainer *t, val *v, val_loss *vl, yolo_status mine) {
    unsigned char *buf = NULL, **all = NULL;
    size_t len = 0;
    int64_t *lens = NULL;
    if (mine == YOLO_OK) mine = pack_share(v, vl, &buf, &len);
    char why[600] = "";
    if (mine != YOLO_OK) snprintf(why, sizeof why, "%s", yolo_last_error());
    yolo_status st = train_dist_gather(t, buf, mine == YOLO_OK ? (int64_t)len : -1, &all, &lens);
    free(buf);
    if (mine != YOLO_OK) return yolo_error(mine, "%s", why);
    for (int r = 1; st == YOLO_OK && r < t->world; r++)
        if (t->rank == 0) st = merge_share(v, vl, all[r], lens[r], r);
    for (int r = 0; all && r < t->world; r++)
        free(all[r]);
    free(all);
    free(lens);
    return st;
}

yolo_status train_validate(trainer *t, int epoch, val_result *vr) {
    memset(vr, 0, sizeof *vr);
    vr->fitness = NAN;
    int bs = 2 * t->batch;
    /* with several ranks each validates a share of the dataset's val split, and rank 0 the results */
    bool split = t->world > 1 && !t->o.val_stream;
    if (t->rank != 0 && !split) return YOLO_OK;
    val_input in;
    memset(&in, 0, sizeof in);
    val *v = NULL;
    val_loss vl = {.t = t};
    int64_t total = 0, lo = 0, hi = 0;
    yolo_status st = prepare_val_model(t);
    if (st == YOLO_OK)
        st = t->o.val_stream ? open_val_stream(t, &in, &total) : open_val_split(t, epoch, bs, &in, &total);
    /* no val split: the same on every rank */
    bool none = st == YOLO_OK && !in.src.r && !in.src.p;
    if (!none) {
        val_opts vo;
        val_opts_default(&vo);
        vo.task = t->task;
        vo.nc = t->nc;
        vo.names = (const char *const *)t->names;
        vo.dev = t->dev;
        /* the validator's thresholds: conf, iou, max_det and agnostic_nms of the run */
        vo.nms.conf_thres = yv_get_num(t->args, "conf", VAL_CONF);
        vo.nms.iou_thres = yv_get_num(t->args, "iou", vo.nms.iou_thres);
        vo.nms.max_det = (int)yv_get_num(t->args, "max_det", vo.nms.max_det);
        vo.nms.agnostic = yv_is_truthy(yv_dict_get(t->args, "agnostic_nms"));
        vo.on_batch = add_val_loss;
        vo.on_batch_ctx = &vl;
        hi = total;
        if (split) val_share(t, total, bs, &lo, &hi);
        in.src.next = lo;
        if (st == YOLO_OK) st = val_new(&vo, &v);
        if (st == YOLO_OK) st = val_run(v, t->vm, &in.src, hi - lo, bs);
        if (split) st = join_shares(t, v, &vl, st);
        if (st == YOLO_OK && t->rank == 0) st = val_results(t, v, &vl, vr);
        vr->done = st == YOLO_OK && t->rank == 0;
    }
    val_free(v);
    val_input_close(&in);
    free(vl.items);
    return st;
}
