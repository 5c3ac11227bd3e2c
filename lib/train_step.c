/* One training batch: samples stacked into tensors, forward, loss, backward, and when enough batches
 * have accumulated, clip, step and EMA update, in Ultralytics 8.4.52's order. */
#include "train_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/torch_train.h"
#include "yolo/val.h"

void batch_free(batch_t *b) {
    torch_freep(&b->img), torch_freep(&b->batch_idx), torch_freep(&b->cls), torch_freep(&b->bboxes);
    torch_freep(&b->masks), torch_freep(&b->labels);
}

/* The targets of a batch's samples: class labels (classify) or the concatenated instances (batch
 * index, class, xywhn box) and the overlap masks (segment). */
yolo_status train_make_targets(const trainer *t, stream_sample *v, int n, batch_t *b) {
    yolo_status st = YOLO_OK;
    int ninst = 0;
    for (int k = 0; k < n; k++)
        ninst += v[k].s.n;
    b->n = n, b->h = v[0].s.img.h, b->w = v[0].s.img.w, b->n_inst = ninst;
    if (!strcmp(t->task, "classify")) {
        int64_t *lab = malloc(sizeof *lab * (size_t)n);
        if (!lab) return yolo_nomem();
        for (int k = 0; k < n; k++)
            lab[k] = v[k].s.label;
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
    if (!bi || !cl || !bx) st = yolo_nomem();
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
                return yolo_error(YOLO_ERR_FORMAT,
                                  "stream sample %" PRId64 " has no %dx%d mask (a segment stream "
                                  "needs overlap masks)",
                                  v[k].i, mw, mh);
        float *mk = malloc(sizeof(float) * (size_t)n * mh * mw);
        if (!mk) return yolo_nomem();
        for (size_t p = 0; p < (size_t)n * mh * mw; p++)
            mk[p] = v[p / ((size_t)mh * mw)].mask[p % ((size_t)mh * mw)];
        int64_t ms[3] = {n, mh, mw};
        st = torch_from_data(mk, TORCH_F32, 3, ms, &b->masks);
        free(mk);
        if (st == YOLO_OK && t->dev != TORCH_CPU) st = torch_to(b->masks, TORCH_F32, t->dev, &b->masks);
    }
    return st;
}

/* NCHW float images in [0,1] and the targets of a training batch. */
yolo_status train_make_batch(const trainer *t, stream_sample *v, int n, batch_t *b) {
    yolo_status st = val_image_batch(v, n, t->dev, &b->img);
    return st == YOLO_OK ? train_make_targets(t, v, n, b) : st;
}

static void loss_setup(const trainer *t, loss_cfg *lc) {
    int nl = 0;
    const double *strides = model_strides(t->m, &nl);
    loss_cfg_default(lc, t->nc, strides, nl);
    lc->box = t->box, lc->cls = t->cls, lc->dfl = t->dfl;
}

/* The loss of a batch from the model's outputs (train or eval mode). */
yolo_status train_output_loss(const trainer *t, const batch_t *b, const model_output *mo, loss_output *lo) {
    if (!strcmp(t->task, "classify")) return loss_classify(mo->logits, b->labels, lo);
    loss_cfg lc;
    loss_setup(t, &lc);
    loss_targets tg = {b->batch_idx, b->cls, b->bboxes};
    if (!strcmp(t->task, "segment"))
        return loss_segment(&lc, mo->boxes, mo->scores, (const int64_t(*)[2])mo->level_hw, mo->mask_coeffs,
                            mo->proto, b->masks, &tg, lo);
    return loss_detect_flat(&lc, mo->boxes, mo->scores, (const int64_t(*)[2])mo->level_hw, &tg, lo);
}

bool train_is_oom(yolo_status st) {
    if (st == YOLO_ERR_NOMEM) return true;
    const char *m = yolo_last_error();
    return strstr(m, "out of memory") || strstr(m, "can't allocate memory") ||
           strstr(m, "CUDA out of memory");
}

static yolo_status model_state_update_ema(trainer *t) {
    int n = model_param_count(t->m);
    const torch_tensor **s = calloc((size_t)n, sizeof *s);
    if (!s) return yolo_nomem();
    for (int i = 0; i < n; i++)
        s[i] = model_tensor(t->m, i);
    yolo_status st = ema_update(t->ema, s, n);
    free(s);
    return st;
}

/* The warmup of learning rates, momentum and accumulation before batch ni (spec §3.4). */
void train_warmup(trainer *t, int epoch, int64_t ni, int64_t nw) {
    if (nw < 0 || ni > nw) return;
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

/* The loss items of a batch, refusing a loss that is not finite (nothing has changed yet). */
yolo_status train_loss_items(const trainer *t, const loss_output *lo, int epoch, int64_t ni, float *items,
                             int *nitems) {
    *nitems = lo->n_items;
    memcpy(items, lo->items, sizeof lo->items);
    double tot = 0;
    yolo_status st = torch_item(lo->total, &tot);
    if (st == YOLO_OK && !isfinite(tot))
        st = yolo_error(YOLO_ERR_FORMAT,
                        "the loss is %s at epoch %d, batch %" PRId64 " (lower lr0, or check the "
                        "labels; the checkpoint was not changed)",
                        isnan(tot) ? "NaN" : "infinite", epoch + 1, ni - (int64_t)t->pos_nb * epoch + 1);
    return st;
}

/* After the gradients of batch ni are in: clip, step, zero_grad and the EMA when enough batches have
 * accumulated. since: when the step's timing started. */
yolo_status train_optimizer_step(trainer *t, int64_t ni, double since) {
    if (sched_should_step(ni, t->last_opt_step, t->accumulate)) {
        double norm;
        yolo_status st;
        if ((st = optim_clip_step_zero(t->opt, 10.0, &norm)) != YOLO_OK) return st;
        double c4 = train_clock();
        if ((st = model_state_update_ema(t)) != YOLO_OK) return st;
        t->prof[PROF_OPTIM] += c4 - since;
        t->prof[PROF_EMA] += train_clock() - c4;
        t->last_opt_step = ni;
    }
    t->iteration = ni;
    return YOLO_OK;
}

/* One training batch at global iteration ni. */
yolo_status train_step(trainer *t, const batch_t *b, int epoch, int64_t ni, int64_t nw, float *items,
                       int *nitems) {
    train_warmup(t, epoch, ni, nw);
    model_output mo;
    memset(&mo, 0, sizeof mo);
    loss_output lo;
    memset(&lo, 0, sizeof lo);
    model_set_training(t->m, true);
    double c0 = train_clock();
    yolo_status st = model_forward(t->m, b->img, &mo);
    double c1 = train_clock();
    if (st == YOLO_OK) st = train_output_loss(t, b, &mo, &lo);
    double c2 = train_clock();
    t->prof[PROF_FORWARD] += c1 - c0;
    t->prof[PROF_LOSS] += c2 - c1;
    if (st == YOLO_OK) st = train_loss_items(t, &lo, epoch, ni, items, nitems);
    /* the training scale is what backward sees: items x batch size for detect/segment */
    if (st == YOLO_OK) st = torch_backward(lo.total, NULL, false);
    loss_output_free(&lo);
    model_output_free(&mo);
    double c3 = train_clock();
    t->prof[PROF_BACKWARD] += c3 - c2;
    if (st != YOLO_OK) return st;
    return train_optimizer_step(t, ni, c3);
}
