/* Validation of the EMA weights after an epoch: losses, box/mask mAP or top-1/top-5, the per-class
 * table, over the dataset's val split or a given val stream. */
#include "train_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/dataset.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"
#include "yolo/pipeline.h"
#include "yolo/results.h"

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
        return yolo_error(YOLO_ERR_FORMAT,
                          "val sample %" PRId64 ": no %" PRId64 "x%" PRId64 " mask for the %" PRId64
                          "x%" PRId64 " prototypes",
                          v->i, mw, mh, mw, mh);
    uint8_t *ov = malloc((size_t)npix), *gm = malloc((size_t)npix * (s->n + 1)),
            *pm = malloc((size_t)npix * (d->n + 1));
    float *iou = malloc(sizeof(float) * (size_t)(s->n + 1) * (d->n + 1));
    yolo_status st = ov && gm && pm && iou ? YOLO_OK : yolo_nomem();
    if (st == YOLO_OK) {
        for (int64_t p = 0; p < npix; p++)
            ov[p] = v->mask[p] > 255 ? 255 : (uint8_t)v->mask[p];
        metrics_masks_from_overlap(ov, npix, s->n, gm);
        if (d->n)
            st = metrics_process_mask(proto, nm, (int)mh, (int)mw, d->rows + 6, d->cols, d->rows, d->cols,
                                      d->n, s->img.h, s->img.w, pm);
    }
    if (st == YOLO_OK) {
        metrics_mask_iou(gm, s->n, pm, d->n, npix, iou);
        st = metrics_det_add_iou(acc, iou, d->rows ? d->rows + 4 : NULL, d->cols,
                                 d->rows ? d->rows + 5 : NULL, d->cols, d->n, gc, s->n);
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
    yolo_status st = train_make_batch(t, v, n, &b);
    if (st == YOLO_OK) st = train_batch_loss(t, t->vm, &b, &mo, &lo);
    if (st != YOLO_OK) goto done;
    for (int k = 0; k < lo.n_items && k < 5; k++)
        acc->vloss[k] += lo.items[k];
    acc->nbatches++;
    if (!strcmp(t->task, "classify")) {
        int64_t cnt = (int64_t)n * t->nc;
        pred = malloc(sizeof(float) * (size_t)cnt);
        int64_t *lab = malloc(sizeof *lab * (size_t)n);
        if (!pred || !lab) st = yolo_nomem();
        if (st == YOLO_OK) st = torch_copy_out(mo.pred, TORCH_F32, pred, cnt);
        for (int k = 0; k < n && lab; k++)
            lab[k] = v[k].s.label;
        if (st == YOLO_OK) st = metrics_cls_add(&acc->cls, pred, n, t->nc, lab);
        free(lab);
        goto done;
    }
    int64_t rows = torch_size(mo.pred, 1), A = torch_size(mo.pred, 2);
    int nm = (int)(rows - 4 - t->nc);
    pred = malloc(sizeof(float) * (size_t)(n * rows * A));
    if (!pred) TRY(yolo_nomem());
    TRY(torch_copy_out(mo.pred, TORCH_F32, pred, n * rows * A));
    nms_opts no;
    nms_opts_default(&no);
    int64_t mh = 0, mw = 0, npix = 0;
    if (acc->mask) {
        mh = torch_size(mo.proto, 2), mw = torch_size(mo.proto, 3), npix = mh * mw;
        proto = malloc(sizeof(float) * (size_t)(n * nm * npix));
        if (!proto) TRY(yolo_nomem());
        TRY(torch_copy_out(mo.proto, TORCH_F32, proto, n * nm * npix));
    }
    for (int k = 0; k < n; k++) {
        nms_dets d;
        memset(&d, 0, sizeof d);
        st = nms_run(pred + (size_t)k * rows * A, t->nc, nm, (int)A, &no, &d);
        const sample *s = &v[k].s;
        float *g1 = realloc(gt, sizeof(float) * 4 * (size_t)(s->n + 1)),
              *g2 = g1 ? realloc(gc, sizeof(float) * (size_t)(s->n + 1)) : NULL;
        if (g1) gt = g1;
        if (g2) gc = g2;
        if (st == YOLO_OK && (!g1 || !g2)) st = yolo_nomem();
        /* matching happens in the letterboxed input, where the labels are normalised */
        for (int q = 0; st == YOLO_OK && q < s->n; q++) {
            const float *bx = s->boxes + 4 * (size_t)q;
            float W = (float)s->img.w, H = (float)s->img.h;
            gt[4 * q] = (bx[0] - bx[2] / 2) * W, gt[4 * q + 1] = (bx[1] - bx[3] / 2) * H;
            gt[4 * q + 2] = (bx[0] + bx[2] / 2) * W, gt[4 * q + 3] = (bx[1] + bx[3] / 2) * H;
            gc[q] = (float)s->cls[q];
        }
        if (st == YOLO_OK)
            st = metrics_det_add(acc->det, d.rows, d.cols, d.rows ? d.rows + 4 : NULL, d.cols,
                                 d.rows ? d.rows + 5 : NULL, d.cols, d.n, gt, gc, s->n);
        if (st == YOLO_OK && acc->mask)
            st = val_masks(v + k, proto + (size_t)k * nm * npix, nm, mh, mw, &d, gc, acc->mask);
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
static yolo_status val_run_samples(trainer *t, int64_t total, int bs,
                                   yolo_status (*next)(void *, stream_sample *, int *), void *ctx,
                                   val_acc *acc) {
    stream_sample *v = calloc((size_t)bs, sizeof *v);
    if (!v) return yolo_nomem();
    for (int k = 0; k < bs; k++)
        stream_sample_init(&v[k]);
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
        bool flush = have && (!has_pending || have == bs || pending.s.img.h != v[0].s.img.h ||
                              pending.s.img.w != v[0].s.img.w);
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
    for (int k = 0; k < bs; k++)
        stream_sample_free(&v[k]);
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
    if (!f) return yolo_nomem();
    metrics_print_table(f, box, mask, (const char *const *)t->names, true);
    bool ok = fclose(f) == 0;
    yv *v = ok ? yv_new_strn(t->doc, text, len) : NULL;
    free(text);
    if (!v) return yolo_nomem();
    t->val_table = v;
    return YOLO_OK;
}

/* The losses, metrics and fitness of an accumulated validation (and its table, printed and kept). */
static yolo_status val_results(trainer *t, val_acc *acc, val_result *vr) {
    yolo_status st = YOLO_OK;
    bool cls = !strcmp(t->task, "classify");
    int nl = train_n_losses(t);
    for (int k = 0; k < nl; k++)
        vr->vloss[k] = acc->nbatches ? acc->vloss[k] / (double)acc->nbatches : 0;
    if (cls) {
        metrics_kv kv[3];
        int n = metrics_cls_results(&acc->cls, kv);
        for (int k = 0; k < n; k++) {
            if (!strcmp(kv[k].key, "fitness"))
                vr->fitness = kv[k].value;
            else
                vr->keys[vr->n] = kv[k].key, vr->vals[vr->n++] = results_round5(kv[k].value);
        }
    } else {
        metrics_ap box, mask;
        memset(&box, 0, sizeof box);
        memset(&mask, 0, sizeof mask);
        st = metrics_det_finalize(acc->det, &box);
        if (st == YOLO_OK && acc->mask) st = metrics_det_finalize(acc->mask, &mask);
        if (st == YOLO_OK) {
            metrics_kv kv[9];
            int n = metrics_det_results(&box, acc->mask ? &mask : NULL, kv);
            for (int k = 0; k < n; k++) {
                if (!strcmp(kv[k].key, "fitness"))
                    vr->fitness = kv[k].value;
                else
                    vr->keys[vr->n] = kv[k].key, vr->vals[vr->n++] = results_round5(kv[k].value);
            }
            if (t->o.log)
                metrics_print_table(t->o.log, &box, acc->mask ? &mask : NULL, (const char *const *)t->names,
                                    false);
            st = keep_val_table(t, &box, acc->mask ? &mask : NULL);
        }
        metrics_ap_free(&box);
        metrics_ap_free(&mask);
    }
    return st;
}

yolo_status train_validate(trainer *t, int epoch, val_result *vr) {
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
            TRY(yolo_error(YOLO_ERR_USAGE, "%s: a %s stream with %d classes, the model is %s with %d",
                           t->o.val_stream, h->task, h->nc, t->task, t->nc));
        total = h->count;
        TRY(val_run_samples(t, total, bs, next_from_stream, &src, &acc));
    } else {
        TRY(dataset_open(t->data, &ds));
        const char *split = dataset_has_split(ds, "val")    ? "val"
                            : dataset_has_split(ds, "test") ? "test"
                                                            : NULL;
        if (!split) {
            train_note(t, "no val split in %s: validation skipped", t->data);
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
        if (yv_get_int(t->args, "mask_ratio", &mr)) po.aug.mask_ratio = (int)mr;
        po.aug.overlap_mask = yv_is_truthy(yv_dict_get(t->args, "overlap_mask"));
        TRY(pipeline_open(ds, sp, &po, &p));
        src.p = p;
        total = pipeline_total(p);
        TRY(val_run_samples(t, total, bs, next_from_pipeline, &src, &acc));
    }
    TRY(val_results(t, &acc, vr));
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
